/**
 * MST (McKenna, Miklau & Sheldon 2021): differentially private synthetic data from a private maximum-spanning-tree
 * graphical model.
 *
 * 1. noisy 1-way marginals of every column (discrete Gaussian, ρ/3);
 * 2. compression of rare codes (post-processing);
 * 3. a spanning tree of column pairs picked by d−1 exponential-mechanism draws (ρ/3);
 * 4. noisy 2-way marginals of the tree's edges (discrete Gaussian, ρ/3);
 * 5. exact tree estimation (mirror descent + belief propagation) and randomized-rounding generation.
 *
 * Neighbouring datasets differ by adding or removing one record: every marginal has L2 sensitivity 1 and every
 * selection score L1 sensitivity 1.
 *
 * Order of randomness: every discrete Gaussian of rounds 1 and 3 is drawn before any histogram (`drawMstNoise`); the
 * exponential mechanism's proposals are the only DP randomness drawn after the data is read, because its acceptance
 * probabilities are the scores themselves. Its loop runs an expected ≤ (number of candidates) proposals per draw.
 */
import { CleanRoomError } from "../../core/errors.js";
import { exponentialMechanismRho, planRho } from "./accounting.js";
import { type Compression, compressColumn, decompressCodes, withoutInsignificantUnknown } from "./compress.js";
import type { Domain } from "./domain.js";
import { exponentialMechanism } from "./exponential.js";
import { type MarginalTables, tablesOfColumns } from "./marginal-source.js";
import { compressTable, projectToSimplex } from "./marginals.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { roundedCounts, sampleTreeModel } from "./sample.js";
import { discreteGaussianVector, type Rational, rationalAtLeast, rationalAtMost, rationalValue } from "./samplers.js";
import type { EncodedTable } from "./table.js";
import { estimateTotal, estimateTree, singleColumnModel, type TreeModel, type TwoWayMeasurement } from "./tree-model.js";

/** The noise scales and the privacy cost of one MST run, fixed before the data is read. */
export interface MstPlan {
  readonly epsilon: number;
  readonly delta: number;
  /** ρ allowed by (ε, δ) via `cdpRho`. */
  readonly rho: number;
  /** Exact variance of the discrete Gaussian on each 1-way cell (rounded up). */
  readonly oneWayVariance: Rational;
  /** Exact variance of the discrete Gaussian on each 2-way cell (rounded up); undefined for one column. */
  readonly twoWayVariance?: Rational;
  /** ε of each of the d−1 exponential-mechanism draws (rounded down). */
  readonly selectionEpsilon: number;
  /** ρ actually spent per round, from the exact rounded parameters (never above the plan). */
  readonly rhoSpent: { readonly oneWay: number; readonly selection: number; readonly twoWay: number; readonly total: number };
}

/**
 * Fixes MST's noise scales for a table of `columns` columns at (ε, δ): σ² = 3/(2ρ); the d 1-way cells get σ²·d,
 * the d−1 2-way tables σ²·(d−1), and each selection draw ε_EM = √(8(ρ/3)/(d−1)).
 */
export function planMst(columns: number, epsilon: number, delta: number): MstPlan {
  if (!(columns >= 1)) throw new CleanRoomError("invalid-argument", "MST needs at least one column");
  const rho = planRho(epsilon, delta);
  const d = columns;
  if (d === 1) {
    const v1 = rationalAtLeast(1 / (2 * rho));
    const oneWay = 1 / (2 * rationalValue(v1));
    return { epsilon, delta, rho, oneWayVariance: v1, selectionEpsilon: 0, rhoSpent: { oneWay, selection: 0, twoWay: 0, total: oneWay } };
  }
  const v1 = rationalAtLeast((3 * d) / (2 * rho));
  const v2 = rationalAtLeast((3 * (d - 1)) / (2 * rho));
  const em = rationalValue(rationalAtMost(Math.sqrt((8 * (rho / 3)) / (d - 1))));
  const oneWay = d / (2 * rationalValue(v1));
  const twoWay = (d - 1) / (2 * rationalValue(v2));
  const selection = (d - 1) * exponentialMechanismRho(em);
  return {
    epsilon,
    delta,
    rho,
    oneWayVariance: v1,
    twoWayVariance: v2,
    selectionEpsilon: em,
    rhoSpent: { oneWay, selection, twoWay, total: oneWay + selection + twoWay },
  };
}

/** All of MST's measurement noise, drawn before the data is read. */
export interface MstNoise {
  /** One vector per column, one value per code (round 1). */
  readonly oneWay: readonly Float64Array[];
  /**
   * A pool of iid round-3 draws, as many as the d−1 largest 2-way tables of the *uncompressed* domain hold (an upper
   * bound: compression only shrinks tables). The selected tables take consecutive slices; since every draw is iid
   * the noise of each cell has the planned distribution whichever tree is selected.
   */
  readonly twoWay: Float64Array;
  /** The plan's variances the noise was drawn with (checked by `mst`, so noise of another ε cannot be slipped in). */
  readonly variances: { readonly oneWay: Rational; readonly twoWay?: Rational };
}

/** Number of round-3 draws MST may need for these domain sizes: the cells of the d−1 largest 2-way tables. */
export function twoWayNoiseCount(sizes: readonly number[]): number {
  const products: number[] = [];
  for (let a = 0; a < sizes.length; a++) for (let b = a + 1; b < sizes.length; b++) products.push(sizes[a] * sizes[b]);
  return products
    .sort((x, y) => y - x)
    .slice(0, Math.max(0, sizes.length - 1))
    .reduce((s, v) => s + v, 0);
}

/**
 * Draws every discrete Gaussian MST will add (rounds 1 and 3): call it before reading the data. The rejection
 * samplers' running time depends on the values drawn (Jin et al. 2022), so drawing them while no data is loaded
 * keeps that time independent of the data. Only the exponential mechanism's draws (round 2) must wait for the scores.
 */
export function drawMstNoise(plan: MstPlan, sizes: readonly number[], rng: SecureRng): MstNoise {
  const oneWay = sizes.map((k) => discreteGaussianVector(rng, plan.oneWayVariance, k));
  const twoWay = plan.twoWayVariance ? discreteGaussianVector(rng, plan.twoWayVariance, twoWayNoiseCount(sizes)) : new Float64Array(0);
  return { oneWay, twoWay, variances: { oneWay: plan.oneWayVariance, twoWay: plan.twoWayVariance } };
}

function sameRational(a: Rational | undefined, b: Rational | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.n * b.d === b.n * a.d;
}

/** Options of `mst`. */
export interface MstOptions {
  /** Total ε of the release. */
  readonly epsilon: number;
  /** δ of the release. @default 1e-9 */
  readonly delta?: number;
  /** Number of synthetic rows. @default - the noisy estimate of the number of records */
  readonly rows?: number;
  /** When `rows` is not given: the number of rows for a noisy estimate of the record count (e.g. a cap). */
  readonly rowsFor?: (estimate: number) => number;
  /** Mirror-descent iterations of the estimator. @default 1000 */
  readonly iterations?: number;
  /** Random generator. @default - `rngFromEnvironment()` (the OS CSPRNG) */
  readonly rng?: SecureRng;
  /** The measurement noise, drawn with `drawMstNoise` before the data was read. @default - drawn on entry, before any histogram */
  readonly noise?: MstNoise;
}

/** What an MST run produced. */
export interface MstResult {
  /** Synthetic rows as original domain codes (decode with the domain). */
  readonly table: EncodedTable;
  readonly plan: MstPlan;
  /** The selected tree, as pairs of column names. */
  readonly tree: readonly (readonly [string, string])[];
  /** Domain size of each column after compression. */
  readonly compressedSizes: readonly number[];
  /** The fitted model (on compressed domains). */
  readonly model: TreeModel;
  /** Milliseconds per phase. */
  readonly timings: Readonly<Record<string, number>>;
}

function pairsOf(d: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) out.push([a, b]);
  return out;
}

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[x] !== r) {
      const next = this.parent[x];
      this.parent[x] = r;
      x = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

/** `true` for an in-memory encoded table (as opposed to count tables from a marginal source). */
export function isEncodedTable(x: EncodedTable | MarginalTables): x is EncodedTable {
  return "columns" in x && "rows" in x;
}

/**
 * Runs MST on the true marginals of a table (from a `MarginalSource`, or an in-memory encoded table) and returns
 * synthetic rows (codes of the same domain). It never needs the rows themselves: only 1-way and 2-way counts.
 *
 * The caller is responsible for the privacy ledger; `plan.rhoSpent.total` is what this release costs.
 */
export function mst(data: EncodedTable | MarginalTables, domain: Domain, options: MstOptions): MstResult {
  const rng = options.rng ?? rngFromEnvironment();
  const sizes = domain.columns.map((c) => c.size);
  const d = sizes.length;
  const plan = planMst(d, options.epsilon, options.delta ?? 1e-9);
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (name: string) => {
    const t = performance.now();
    timings[name] = (timings[name] ?? 0) + (t - t0);
    t0 = t;
  };
  const width = isEncodedTable(data) ? data.columns.length : data.sizes.length;
  if (width !== d) throw new CleanRoomError("invalid-argument", "the table's columns do not match the domain");

  // All Gaussian noise exists before any histogram is computed (the rejection samplers' timing is data-independent).
  const noise = options.noise ?? drawMstNoise(plan, sizes, rng);
  if (!sameRational(noise.variances.oneWay, plan.oneWayVariance) || !sameRational(noise.variances.twoWay, plan.twoWayVariance)) {
    throw new CleanRoomError("invalid-argument", "pre-drawn noise was drawn for another plan (other ε, δ or number of columns)");
  }
  const noise1 = noise.oneWay;
  const v1 = rationalValue(plan.oneWayVariance);
  lap("noise");
  const tables = isEncodedTable(data) ? tablesOfColumns(data.columns, sizes) : data;
  const y1 = sizes.map((_, i) => {
    const h = Float64Array.from(tables.oneWay(i));
    const n = noise1[i];
    if (n.length !== h.length) throw new CleanRoomError("invalid-argument", "pre-drawn noise does not match the domain");
    for (let x = 0; x < h.length; x++) h[x] += n[x];
    return h;
  });
  lap("measure-1way");

  if (d === 1) {
    const m = { y: y1[0], variance: new Float64Array(sizes[0]).fill(v1) };
    const total = estimateTotal([m], []);
    const probs = projectToSimplex(m.y, m.variance, total).map((v) => v / total);
    withoutInsignificantUnknown(probs, m.y, v1, domain.columns[0].unknownCode);
    const model = singleColumnModel(sizes[0], probs, total);
    const rows = options.rows ?? (options.rowsFor ? options.rowsFor(total) : Math.round(total));
    const col = roundedCounts(probs, rows, rng);
    const out = new Int32Array(rows);
    let pos = 0;
    for (let v = 0; v < col.length; v++) for (let j = 0; j < col[v]; j++) out[pos++] = v;
    rng.shuffle(out);
    lap("generate");
    return { table: { rows, columns: [out] }, plan, tree: [], compressedSizes: sizes, model, timings };
  }

  const comp: Compression[] = y1.map((y, i) => compressColumn(y, v1, domain.columns[i].unknownCode));
  const kc = comp.map((c) => c.size);
  // True 2-way tables on the compressed domains (what MST's histograms of compressed codes would count).
  const pairTable = new Map<number, Float64Array>();
  const compressedPair = (a: number, b: number) => {
    const key = a * d + b;
    let t = pairTable.get(key);
    if (!t) {
      t = compressTable(tables.twoWay(a, b), sizes[a], sizes[b], comp[a].forward, comp[b].forward, kc[a], kc[b]);
      pairTable.set(key, t);
    }
    return t;
  };
  lap("compress");

  // Selection: score each pair by how badly the (public) independent model from round 1 explains it.
  const oneWay = comp.map((c) => c.measurement);
  const N1 = estimateTotal(oneWay, []);
  const p = oneWay.map((m) => projectToSimplex(m.y, m.variance, N1).map((v) => v / N1));
  const pairs = pairsOf(d);
  const scores = pairs.map(([a, b]) => {
    const h = compressedPair(a, b);
    let l1 = 0;
    for (let i = 0; i < kc[a]; i++) for (let j = 0; j < kc[b]; j++) l1 += Math.abs(h[i * kc[b] + j] - N1 * p[a][i] * p[b][j]);
    return l1;
  });
  lap("score");

  const v2r = plan.twoWayVariance as Rational;
  const noise2 = noise.twoWay;
  if (noise2.length < twoWayNoiseCount(kc)) throw new CleanRoomError("invalid-argument", "pre-drawn 2-way noise is too short for the domain");

  const uf = new UnionFind(d);
  const edges: [number, number][] = [];
  for (let t = 0; t < d - 1; t++) {
    const cand: number[] = [];
    pairs.forEach(([a, b], i) => {
      if (uf.find(a) !== uf.find(b)) cand.push(i);
    });
    const pick = cand[exponentialMechanism(rng, cand.map((i) => scores[i]), plan.selectionEpsilon, 1)];
    const [a, b] = pairs[pick];
    edges.push([a, b]);
    uf.union(a, b);
  }
  lap("select");

  const v2 = rationalValue(v2r);
  let offset = 0;
  const twoWay: TwoWayMeasurement[] = edges.map(([a, b]) => {
    const h = Float64Array.from(compressedPair(a, b));
    for (let x = 0; x < h.length; x++) h[x] += noise2[offset + x];
    offset += h.length;
    return { a, b, y: h, variance: v2 };
  });
  lap("measure-2way");

  const model = estimateTree(kc, oneWay, twoWay, { iterations: options.iterations });
  lap("estimate");

  const rows = options.rows ?? (options.rowsFor ? options.rowsFor(model.total) : Math.max(0, Math.round(model.total)));
  // An "other" code that stands only for the unknown code (noisy count below 3·sd) is not generated.
  const excluded = comp.map((c) => (c.otherIsOnlyUnknown ? c.kept.length : undefined));
  const synth = sampleTreeModel(model, rows, rng, excluded);
  const columns = synth.columns.map((col, i) => decompressCodes(col, comp[i], rng));
  lap("generate");

  return {
    table: { rows, columns },
    plan,
    tree: edges.map(([a, b]) => [domain.columns[a].name, domain.columns[b].name] as const),
    compressedSizes: kc,
    model,
    timings,
  };
}

/**
 * AIM (McKenna, Mullins, Sheldon & Miklau, VLDB 2022): an adaptive, iterative synthesizer. After measuring every
 * 1-way marginal, each round picks the 2-way marginal the current model explains worst (exponential mechanism on
 * ‖M_r(D) − M_r(p̂)‖₁ − √(2/π)·σ·n_r), measures it with Gaussian noise, refits, and halves the noise when a
 * measurement stopped changing the model, until the budget is spent.
 *
 * One restriction keeps estimation exact with this package's tree estimator (`tree-model.ts`): a round may measure a
 * pair that joins two components of the measured graph, or re-measure a measured pair, never one that closes a cycle.
 * The model is therefore a forest, and repeated measurements of a pair are combined by inverse variance.
 *
 * Privacy: ρ-zCDP with ρ = cdpRho(ε, δ). Each round costs 1/(2σ_t²) (one marginal, L2 sensitivity 1) + ε_t²/8
 * (selection, score sensitivity 1); the last round takes exactly what is left, and every scale is rounded so the
 * recorded cost is never below the true one. Unlike MST, the noise of a round is drawn after the data's marginals
 * were counted: σ_t depends on earlier noisy measurements (post-processing), so it cannot be drawn up front.
 */
import { CleanRoomError } from "../../core/errors.js";
import { exponentialMechanismRho, planRho } from "./accounting.js";
import { passesThreshold } from "./compress.js";
import type { Domain } from "./domain.js";
import { exponentialMechanism } from "./exponential.js";
import type { MarginalTables } from "./marginal-source.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { sampleTreeModel } from "./sample.js";
import { discreteGaussianVector, rationalAtLeast, rationalAtMost, rationalValue } from "./samplers.js";
import type { EncodedTable } from "./table.js";
import { estimateTree, type OneWayMeasurement, type TreeModel, type TwoWayMeasurement } from "./tree-model.js";

/** AIM's fixed constants (as in the paper's reference implementation). */
const ALPHA = 0.9;
const ROUNDS_PER_COLUMN = 16;
const ROUND_ITERATIONS = 150;

/**
 * What an AIM release costs: all of ρ(ε, δ).
 *
 * @throws CleanRoomError `invalid-argument` for fewer than two columns, ε not finite and > 0, or δ outside (0, 1)
 */
export function planAim(columns: number, epsilon: number, delta: number): { rho: number; rhoSpent: number; columns: number } {
  if (!(columns >= 2)) throw new CleanRoomError("invalid-argument", "AIM needs at least two columns");
  const rho = planRho(epsilon, delta);
  return { rho, rhoSpent: rho, columns };
}

/** Options of `aim`. */
export interface AimOptions {
  readonly epsilon: number;
  /** @default 1e-9 */
  readonly delta?: number;
  readonly rows?: number;
  readonly rowsFor?: (estimate: number) => number;
  /** Mirror-descent iterations of the final fit. @default 1000 */
  readonly iterations?: number;
  readonly rng?: SecureRng;
}

interface PairMeasurements {
  y: Float64Array;
  /** Σ 1/variance of the measurements combined into `y` (inverse-variance mean). */
  precision: number;
}

/** Runs AIM on the true marginals of a table; returns synthetic rows as codes of the domain. */
export function aim(
  tables: MarginalTables,
  domain: Domain,
  options: AimOptions,
): { table: EncodedTable; tree: [string, string][]; timings: Record<string, number>; rounds: number; rhoUsed: number } {
  const rng = options.rng ?? rngFromEnvironment();
  const sizes = domain.columns.map((c) => c.size);
  const d = sizes.length;
  const { rho } = planAim(d, options.epsilon, options.delta ?? 1e-9);
  const t0 = performance.now();
  const T = ROUNDS_PER_COLUMN * d;
  let sigma2 = T / (2 * ALPHA * rho);
  let eps = Math.sqrt((8 * (1 - ALPHA) * rho) / T);

  // Round 0: every 1-way marginal, all d together for one round's ρ (αρ/T), so each at variance d·σ₀²: √d noisier
  // than the paper's Algorithm 1, which measures each at σ₀ (docs/stage1-dp.md, "Round 0 differs from the paper").
  const v1 = rationalAtLeast(sigma2 * d);
  let used = d / (2 * rationalValue(v1));
  const oneWay: OneWayMeasurement[] = sizes.map((k, i) => {
    const y = Float64Array.from(tables.oneWay(i));
    const n = discreteGaussianVector(rng, v1, k);
    for (let x = 0; x < k; x++) y[x] += n[x];
    return { y, variance: new Float64Array(k).fill(rationalValue(v1)) };
  });
  const measured = new Map<number, PairMeasurements>();
  const key = (a: number, b: number) => a * d + b;
  const component = Int32Array.from({ length: d }, (_, i) => i);
  const find = (x: number): number => {
    let r = x;
    while (component[r] !== r) r = component[r];
    return r;
  };

  const refit = (iterations: number): TreeModel => {
    const twoWay: TwoWayMeasurement[] = [];
    for (const [k, m] of measured) twoWay.push({ a: Math.floor(k / d), b: k % d, y: m.y, variance: 1 / m.precision });
    // Placeholder edges (no information) join the forest's components into the spanning tree the estimator needs.
    const uf = Int32Array.from({ length: d }, (_, i) => i);
    const f = (x: number): number => {
      let r = x;
      while (uf[r] !== r) r = uf[r];
      return r;
    };
    for (const m of twoWay) uf[f(m.a)] = f(m.b);
    for (let c = 1; c < d; c++) {
      if (f(c) !== f(0)) {
        twoWay.push({ a: 0, b: c, y: new Float64Array(sizes[0] * sizes[c]), variance: Number.POSITIVE_INFINITY });
        uf[f(c)] = f(0);
      }
    }
    return estimateTree(sizes, oneWay, twoWay, { iterations });
  };
  const modelPair = (m: TreeModel, a: number, b: number): Float64Array => {
    const out = new Float64Array(sizes[a] * sizes[b]);
    const total = m.total;
    if (m.parent[b] === a && m.edges[b]) {
      const e = m.edges[b] as Float64Array;
      for (let i = 0; i < out.length; i++) out[i] = total * e[i];
    } else if (m.parent[a] === b && m.edges[a]) {
      const e = m.edges[a] as Float64Array;
      for (let i = 0; i < sizes[a]; i++) for (let j = 0; j < sizes[b]; j++) out[i * sizes[b] + j] = total * e[j * sizes[a] + i];
    } else {
      for (let i = 0; i < sizes[a]; i++) for (let j = 0; j < sizes[b]; j++) out[i * sizes[b] + j] = total * m.nodes[a][i] * m.nodes[b][j];
    }
    return out;
  };
  const l1 = (x: Float64Array, y: Float64Array) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
    return s;
  };

  let model = refit(ROUND_ITERATIONS);
  let rounds = 0;
  for (;;) {
    const remaining = rho - used;
    const roundCost = 1 / (2 * sigma2) + (eps * eps) / 8;
    let last = false;
    if (remaining < 2 * roundCost) {
      // Spend everything left in one final round, split as the others are.
      sigma2 = 1 / (2 * ALPHA * remaining);
      eps = Math.sqrt(8 * (1 - ALPHA) * remaining);
      last = true;
    }
    const v = rationalAtLeast(sigma2);
    const e = rationalValue(rationalAtMost(eps));
    const cost = 1 / (2 * rationalValue(v)) + exponentialMechanismRho(e);
    if (!(e > 0) || used + cost > rho * (1 + 1e-12)) break;
    const candidates: [number, number][] = [];
    for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) if (measured.has(key(a, b)) || find(a) !== find(b)) candidates.push([a, b]);
    if (candidates.length === 0) break;
    const sd = Math.sqrt(rationalValue(v));
    const bias = Math.sqrt(2 / Math.PI) * sd;
    const before = candidates.map(([a, b]) => modelPair(model, a, b));
    const scores = candidates.map(([a, b], i) => l1(tables.twoWay(a, b), before[i]) - bias * sizes[a] * sizes[b]);
    const pick = exponentialMechanism(rng, scores, e, 1);
    const [a, b] = candidates[pick];
    const y = Float64Array.from(tables.twoWay(a, b));
    const noise = discreteGaussianVector(rng, v, y.length);
    for (let i = 0; i < y.length; i++) y[i] += noise[i];
    used += cost;
    rounds++;
    const prec = 1 / rationalValue(v);
    const prev = measured.get(key(a, b));
    if (prev) {
      for (let i = 0; i < y.length; i++) prev.y[i] = (prev.y[i] * prev.precision + y[i] * prec) / (prev.precision + prec);
      prev.precision += prec;
    } else {
      measured.set(key(a, b), { y, precision: prec });
      component[find(a)] = find(b);
    }
    const previous = before[pick];
    model = refit(ROUND_ITERATIONS);
    if (last) break;
    // The measurement barely moved the model: the noise is too large to learn more at this scale.
    if (l1(modelPair(model, a, b), previous) <= bias * sizes[a] * sizes[b]) {
      sigma2 /= 4;
      eps *= 2;
    }
  }
  const t1 = performance.now();
  model = refit(options.iterations ?? 1000);
  const rows = options.rows ?? (options.rowsFor ? options.rowsFor(model.total) : Math.max(0, Math.round(model.total)));
  // As MST: a column's unknown code is generated only when its noisy count passes 3 sd (post-processing).
  const excluded = domain.columns.map((c, i) => (passesThreshold(oneWay[i].y[c.unknownCode], oneWay[i].variance[c.unknownCode]) ? undefined : c.unknownCode));
  const table = sampleTreeModel(model, rows, rng, excluded);
  const t2 = performance.now();
  return {
    table,
    tree: [...measured.keys()].map((k) => [domain.columns[Math.floor(k / d)].name, domain.columns[k % d].name]),
    timings: { select: t1 - t0, estimate: t2 - t1 },
    rounds,
    rhoUsed: used,
  };
}

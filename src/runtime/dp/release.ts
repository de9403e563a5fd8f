/**
 * File-level DP releases: CSV in, synthetic CSV or aggregates JSON out, optionally under a privacy ledger.
 *
 * Order of operations (Jin et al. 2022 timing channel): the schema fixes the domain, the plan fixes the noise
 * scales, the noise is drawn, and only then is the CSV read.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { CleanRoomError } from "../../core/errors.js";
import { hashFile } from "../../core/digest.js";
import { cdpRho } from "./accounting.js";
import { ClampedSum, drawNoise, meanOf, type NoiseDraw, releaseSum } from "./aggregates.js";
import { buildDomain, type Domain } from "./domain.js";
import { drawIndependentNoise, planIndependent, productOfMarginals } from "./independent.js";
import { assertWithinBudget, type LedgerBudget, type LedgerEntry, readLedger, recordRelease } from "./ledger.js";
import { drawMstNoise, mst, planMst } from "./mst.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { readEncodedCsv, scanCsv, writeDecodedCsv } from "./table.js";

/** Synthesizers available for a synthetic-data release. */
export const SYNTHESIZERS = ["mst", "product-of-marginals"] as const;

/** Where a release is accounted. */
export interface LedgerTarget {
  /** Path of `ledger.json`. */
  readonly path: string;
  /** Dataset name written into a new ledger. */
  readonly dataset: string;
  /** The dataset's total budget. @default - the budget stored in the existing ledger */
  readonly budget?: LedgerBudget;
}

/** Options common to file-level releases. */
export interface ReleaseOptions {
  /** The CSV to release from (with a header row). */
  readonly input: string;
  /** The public schema (a `DatasetSchema` object; validated here). */
  readonly schema: unknown;
  /** Where to write the artefact. */
  readonly output: string;
  /** ε of this release. */
  readonly epsilon: number;
  /** δ of this release. @default 1e-9 */
  readonly delta?: number;
  /** Account the release in this ledger (refused when over budget). @default - no ledger */
  readonly ledger?: LedgerTarget;
  /** @default - `rngFromEnvironment()` */
  readonly rng?: SecureRng;
}

/** Options of `synthesizeCsv`. */
export interface SynthesizeOptions extends ReleaseOptions {
  /** `mst` (default) or `product-of-marginals` (better for ε ≤ 1 on small tables). */
  readonly method?: string;
  /** Number of synthetic rows. @default - the noisy estimate of the number of records */
  readonly rows?: number;
  /** Mirror-descent iterations of MST's estimator. @default 1000 */
  readonly iterations?: number;
}

/** What a release reports. Nothing in it is computed from the data except through the DP mechanism. */
export interface ReleaseReport {
  readonly method: string;
  readonly output: string;
  /** `sha256:<hex>` of the artefact. */
  readonly digest: string;
  readonly epsilon: number;
  readonly delta: number;
  /** ρ spent (exact, from the rounded noise parameters). */
  readonly rho: number;
  /** Synthetic rows written (synthesis only; a noisy estimate, not the real count). */
  readonly rows?: number;
  /** MST's selected tree (pairs of column names). */
  readonly tree?: readonly (readonly [string, string])[];
  /** Milliseconds per phase. */
  readonly timings: Readonly<Record<string, number>>;
  /** The ledger entry, when a ledger was used. */
  readonly ledgerEntry?: LedgerEntry;
  /** `true` when the seeded test stream was used. */
  readonly testSeeded: boolean;
}

function checkCommon(o: ReleaseOptions): void {
  const problems: string[] = [];
  if (!(o.epsilon > 0) || !Number.isFinite(o.epsilon)) problems.push(`epsilon must be a positive number (got ${o.epsilon})`);
  const delta = o.delta ?? 1e-9;
  if (!(delta > 0 && delta < 1e-3)) problems.push(`delta must be > 0 and < 0.001 (got ${delta}); use about 1/rows²`);
  if (problems.length) throw new CleanRoomError("invalid-argument", `Invalid DP release options: ${problems.join("; ")}`, { problems });
}

async function withArtefact(
  opts: ReleaseOptions,
  mechanism: string,
  rho: number,
  testSeeded: boolean,
  write: (tmpPath: string) => Promise<void>,
): Promise<{ digest: string; entry?: LedgerEntry }> {
  await mkdir(dirname(opts.output), { recursive: true });
  const tmpPath = `${opts.output}.${randomBytes(6).toString("hex")}.tmp`;
  const produce = async () => {
    try {
      await write(tmpPath);
      const { sha256 } = await hashFile(tmpPath);
      return { tmpPath, finalPath: opts.output, digest: `sha256:${sha256}` };
    } catch (err) {
      await rm(tmpPath, { force: true });
      throw err;
    }
  };
  if (!opts.ledger) {
    const r = await produce();
    await rename(tmpPath, opts.output);
    return { digest: r.digest };
  }
  const budget = opts.ledger.budget ?? (await readLedger(opts.ledger.path))?.budget;
  if (!budget) {
    throw new CleanRoomError("invalid-argument", `The ledger ${opts.ledger.path} does not exist yet: give the dataset's total budget (epsilon and delta) to create it`);
  }
  const { entry, result } = await recordRelease(
    {
      ledgerPath: opts.ledger.path,
      dataset: opts.ledger.dataset,
      budget,
      mechanism,
      rho,
      epsilon: opts.epsilon,
      delta: opts.delta ?? 1e-9,
      testSeeded,
    },
    produce,
  );
  return { digest: result.digest, entry };
}

/**
 * Refuses early (before drawing noise or reading data) when a ledger cannot take `rho` more.
 * The same check runs again under the ledger's lock when the release is recorded.
 */
async function precheckLedger(opts: ReleaseOptions, rho: number): Promise<void> {
  if (!opts.ledger) return;
  const existing = await readLedger(opts.ledger.path);
  const budget = opts.ledger.budget ?? existing?.budget;
  if (budget) assertWithinBudget(existing, budget, rho, opts.ledger.path);
}

/**
 * Writes a DP synthetic version of a CSV (MST by default).
 *
 * @example
 * await synthesizeCsv({ input: "insurance.csv", schema, output: "synthetic.csv", epsilon: 4 });
 */
export async function synthesizeCsv(opts: SynthesizeOptions): Promise<ReleaseReport> {
  checkCommon(opts);
  const method = opts.method ?? "mst";
  if (!SYNTHESIZERS.includes(method as never)) {
    throw new CleanRoomError("invalid-argument", `Unknown synthesizer "${method}"; use one of ${SYNTHESIZERS.join(", ")}`);
  }
  if (opts.rows !== undefined && (!Number.isSafeInteger(opts.rows) || opts.rows < 0)) {
    throw new CleanRoomError("invalid-argument", `rows must be a non-negative integer (got ${opts.rows})`);
  }
  const domain = buildDomain(opts.schema);
  const rng = opts.rng ?? rngFromEnvironment();
  const delta = opts.delta ?? 1e-9;
  const sizes = domain.columns.map((c) => c.size);
  const t0 = performance.now();
  if (method === "mst") {
    const plan = planMst(sizes.length, opts.epsilon, delta);
    await precheckLedger(opts, plan.rhoSpent.total);
    const noise = drawMstNoise(plan, sizes, rng);
    const t1 = performance.now();
    const table = await readEncodedCsv(opts.input, domain);
    const t2 = performance.now();
    const res = mst(table, domain, { epsilon: opts.epsilon, delta, rows: opts.rows, iterations: opts.iterations, rng, noise });
    const t3 = performance.now();
    const { digest, entry } = await withArtefact(opts, "mst", plan.rhoSpent.total, rng.deterministic, (p) => writeDecodedCsv(p, domain, res.table, rng));
    const t4 = performance.now();
    return {
      method,
      output: opts.output,
      digest,
      epsilon: opts.epsilon,
      delta,
      rho: plan.rhoSpent.total,
      rows: res.table.rows,
      tree: res.tree,
      timings: { ...res.timings, noise: (res.timings.noise ?? 0) + (t1 - t0), read: t2 - t1, total: t4 - t0, write: t4 - t3 },
      ledgerEntry: entry,
      testSeeded: rng.deterministic,
    };
  }
  const plan = planIndependent(sizes.length, opts.epsilon, delta);
  await precheckLedger(opts, plan.rhoSpent);
  const noise = drawIndependentNoise(plan, sizes, rng);
  const t1 = performance.now();
  const table = await readEncodedCsv(opts.input, domain);
  const t2 = performance.now();
  const res = productOfMarginals(table, domain, { epsilon: opts.epsilon, delta, rows: opts.rows, rng, noise });
  const t3 = performance.now();
  const { digest, entry } = await withArtefact(opts, "product-of-marginals", plan.rhoSpent, rng.deterministic, (p) =>
    writeDecodedCsv(p, domain, res.table, rng),
  );
  const t4 = performance.now();
  return {
    method,
    output: opts.output,
    digest,
    epsilon: opts.epsilon,
    delta,
    rho: plan.rhoSpent,
    rows: res.table.rows,
    timings: { ...res.timings, noise: t1 - t0, read: t2 - t1, total: t4 - t0, write: t4 - t3, synthesize: t3 - t2 },
    ledgerEntry: entry,
    testSeeded: rng.deterministic,
  };
}

/** Format tag of an aggregates artefact. */
export const AGGREGATES_FORMAT = "acr-dp-aggregates-v1";

/** One column of an aggregates artefact. */
export interface ColumnAggregates {
  readonly name: string;
  readonly type: string;
  /** Noisy count per category or bin (last: values outside the schema). Unbiased; can be negative. */
  readonly histogram: readonly { readonly label: string; readonly count: number }[];
  /** Noise standard deviation of each histogram count. */
  readonly histogramSd: number;
  /** Numeric columns: noisy sum of the values clamped to [min, max] (missing values excluded). */
  readonly sum?: number;
  readonly sumSd?: number;
  /** Numeric columns: noisy sum / noisy total count, clamped into [min, max]; null when the count is not positive. */
  readonly mean?: number | null;
}

/** The aggregates artefact (`aggregates.json`). */
export interface AggregatesArtefact {
  readonly format: string;
  readonly mechanism: string;
  readonly neighbouring: string;
  readonly epsilon: number;
  readonly delta: number;
  readonly rho: number;
  /** Noisy number of records. */
  readonly count: number;
  readonly countSd: number;
  readonly columns: readonly ColumnAggregates[];
}

/** Computes the DP aggregates of a CSV in one streaming pass (noise drawn first). */
export async function computeAggregates(
  input: string,
  domain: Domain,
  epsilon: number,
  delta: number,
  rng: SecureRng,
): Promise<{ artefact: AggregatesArtefact; rho: number }> {
  const rho = cdpRho(epsilon, delta);
  const numeric = domain.columns.filter((c) => c.type === "numeric");
  // Queries: the record count, one histogram per column, one clamped sum per numeric column; ρ split evenly.
  const share = { rho: rho / (1 + domain.columns.length + numeric.length) };
  const sums = domain.columns.map((c) => (c.type === "numeric" ? new ClampedSum(c.schema.min as number, c.schema.max as number) : undefined));
  const countNoise = drawNoise(rng, share, 1, 1);
  const histNoise = domain.columns.map((c) => drawNoise(rng, share, c.size, 1));
  const sumNoise: (NoiseDraw | undefined)[] = sums.map((s) => (s ? drawNoise(rng, share, 1, s.sensitivity) : undefined));
  const hists = domain.columns.map((c) => new Float64Array(c.size));
  const cols = domain.columns;
  const rows = await scanCsv(input, domain, (cells) => {
    for (let c = 0; c < cells.length; c++) {
      hists[c][cols[c].encode(cells[c])]++;
      const s = sums[c];
      if (s) {
        const t = cells[c].trim();
        s.add(t === "" ? Number.NaN : Number(t));
      }
    }
  });
  const count = rows + countNoise.values[0];
  let spent = countNoise.rho;
  const columns: ColumnAggregates[] = domain.columns.map((c, i) => {
    const hn = histNoise[i];
    spent += hn.rho;
    const histogram = c.labels.map((label, x) => ({ label, count: hists[i][x] + hn.values[x] }));
    const s = sums[i];
    const sn = sumNoise[i];
    if (!s || !sn) return { name: c.name, type: c.type, histogram, histogramSd: hn.sd };
    spent += sn.rho;
    const released = releaseSum(s, sn);
    return {
      name: c.name,
      type: c.type,
      histogram,
      histogramSd: hn.sd,
      sum: released.value,
      sumSd: released.sd,
      mean: meanOf(released.value, count, s.min, s.max),
    };
  });
  return {
    artefact: {
      format: AGGREGATES_FORMAT,
      mechanism: "discrete-gaussian",
      neighbouring: "add or remove one record",
      epsilon,
      delta,
      rho: spent,
      count,
      countSd: countNoise.sd,
      columns,
    },
    rho: spent,
  };
}

/**
 * Writes DP aggregates of a CSV as JSON: the record count, a histogram of every column on its public domain, and
 * the clamped sum and mean of every numeric column.
 */
export async function aggregateCsv(opts: ReleaseOptions): Promise<ReleaseReport & { artefact: AggregatesArtefact }> {
  checkCommon(opts);
  const domain = buildDomain(opts.schema);
  const rng = opts.rng ?? rngFromEnvironment();
  const delta = opts.delta ?? 1e-9;
  await precheckLedger(opts, cdpRho(opts.epsilon, delta));
  const t0 = performance.now();
  const { artefact, rho } = await computeAggregates(opts.input, domain, opts.epsilon, delta, rng);
  const t1 = performance.now();
  const { digest, entry } = await withArtefact(opts, "aggregates", rho, rng.deterministic, (p) =>
    writeFile(p, `${JSON.stringify(artefact, null, 2)}\n`, { mode: 0o600 }),
  );
  const t2 = performance.now();
  return {
    method: "aggregates",
    output: opts.output,
    digest,
    epsilon: opts.epsilon,
    delta,
    rho,
    timings: { compute: t1 - t0, write: t2 - t1, total: t2 - t0 },
    ledgerEntry: entry,
    testSeeded: rng.deterministic,
    artefact,
  };
}

/**
 * File-level DP releases: CSV (or a DuckDB/BigQuery table) in, synthetic CSV or aggregates JSON out, optionally under
 * the dataset's privacy ledger.
 *
 * Order of operations: the schema fixes the domain, the plan fixes the noise scales, the ledger records the spend (or
 * refuses it: nothing else happens then), the noise is drawn, and only then is the data read (Jin et al. 2022 timing
 * channel). The artefact is written in a private temporary directory beside the output and renamed into place; on
 * SIGINT/SIGTERM/SIGHUP that directory is removed, so an interrupted release leaves no partial artefact (its spend
 * stays recorded: a crash can only over-count).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CleanRoomError } from "../../core/errors.js";
import { hashFile } from "../../core/digest.js";
import { cdpRho } from "./accounting.js";
import { type AggregateSource, csvAggregateSource } from "./aggregate-source.js";
import { ClampedSum, drawNoise, meanOf, type NoiseDraw, releaseSum } from "./aggregates.js";
import { aim, planAim } from "./aim.js";
import { buildDomain, type Domain } from "./domain.js";
import { drawIndependentNoise, planIndependent, productOfMarginals } from "./independent.js";
import { type LedgerTarget, MAX_BUDGET_EPSILON, PrivacyLedger, type SpendEntry } from "./ledger.js";
import { csvSource, type MarginalSource } from "./marginal-source.js";
import { drawMstNoise, mst, planMst } from "./mst.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { writeDecodedCsv } from "./table.js";

/** Synthesizers available for a synthetic-data release. */
export const SYNTHESIZERS = ["mst", "aim", "product-of-marginals"] as const;

/** Synthetic rows written when `rows` is not given: the noisy record count, capped here (a public constant). */
export const DEFAULT_MAX_SYNTHETIC_ROWS = 100_000;
/** The most synthetic rows a release writes even when asked for more. */
export const MAX_SYNTHETIC_ROWS = 10_000_000;

/** Options common to file-level releases. */
export interface ReleaseOptions {
  /** The CSV to release from (with a header row); also the file the DuckDB source reads. */
  readonly input: string;
  /** The public schema (a `DatasetSchema` object; validated here). */
  readonly schema: unknown;
  /** Where to write the artefact (a file; its directory is created). */
  readonly output: string;
  /** ε of this release: > 0 and at most 20, the spec's bound. */
  readonly epsilon: number;
  /** δ of this release. @default 1e-9 */
  readonly delta?: number;
  /** Record the spend in this dataset's ledger (refused when over budget). @default - no ledger */
  readonly ledger?: LedgerTarget;
  /** @default - `rngFromEnvironment()` */
  readonly rng?: SecureRng;
}

/** Options of `synthesizeCsv`. */
export interface SynthesizeOptions extends ReleaseOptions {
  /** `mst` (default), `aim`, or `product-of-marginals` (better for ε ≤ 1 on small tables). */
  readonly method?: string;
  /** Number of synthetic rows (at most 10,000,000). @default - the noisy estimate of the number of records, at most 100,000 */
  readonly rows?: number;
  /** Mirror-descent iterations of MST's estimator. @default 1000 */
  readonly iterations?: number;
  /** Where the marginals are counted. @default - `csvSource(input)`, this process streaming the CSV */
  readonly source?: MarginalSource;
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
  /** `true` when the noisy row count was above the cap and the cap was written instead. */
  readonly rowsCapped?: boolean;
  /** MST's selected tree / AIM's measured pairs (column names). */
  readonly tree?: readonly (readonly [string, string])[];
  /** Where the marginals were counted (`csv`, `duckdb`, `bigquery`). */
  readonly source?: string;
  /** Milliseconds per phase. */
  readonly timings: Readonly<Record<string, number>>;
  /** The ledger's spend entry, when a ledger was used. */
  readonly ledgerEntry?: SpendEntry;
  /** Digest of the ledger's last entry after this release: keep it to detect truncation (`dp ledger verify --head`). */
  readonly ledgerHead?: string;
  /** `true` when the seeded test stream was used. */
  readonly testSeeded: boolean;
}

/**
 * Checks what a release is asked for before anything else happens: ε and δ within the spec's bounds, and paths that
 * are a readable file and a writable file name (not directories).
 *
 * @throws CleanRoomError `invalid-argument` with one line naming the fix
 */
export function checkRelease(o: ReleaseOptions, inputIsFile = true): void {
  const problems: string[] = [];
  if (!(typeof o.epsilon === "number" && o.epsilon > 0 && o.epsilon <= MAX_BUDGET_EPSILON)) {
    problems.push(`epsilon must be > 0 and <= ${MAX_BUDGET_EPSILON}, the spec's bound (got ${o.epsilon})`);
  }
  const delta = o.delta ?? 1e-9;
  if (!(delta > 0 && delta < 1e-3)) problems.push(`delta must be > 0 and < 0.001 (got ${delta}); use about 1/rows²`);
  if (inputIsFile) {
    const st = statOrUndefined(o.input);
    if (!st) problems.push(`the input ${o.input} does not exist`);
    else if (!st.isFile()) problems.push(`the input ${o.input} is a ${st.isDirectory() ? "directory" : "special file"}; give the CSV file`);
  }
  const out = statOrUndefined(o.output);
  if (out?.isDirectory()) problems.push(`the output ${o.output} is a directory; give a file name, e.g. ${join(o.output, "synthetic.csv")}`);
  else if (out && !out.isFile()) problems.push(`the output ${o.output} is not a regular file`);
  const parent = statOrUndefined(dirname(o.output));
  if (parent && !parent.isDirectory()) problems.push(`the output's directory ${dirname(o.output)} is a file`);
  if (problems.length) throw new CleanRoomError("invalid-argument", `Invalid DP release: ${problems.join("; ")}`, { problems });
}

function statOrUndefined(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Writes an artefact through a private (0700) temporary directory beside `output`, then renames it into place.
 * While it runs, SIGINT/SIGTERM/SIGHUP remove the directory and end the process with the signal.
 *
 * @returns the artefact's digest
 */
export async function writeArtefact(output: string, write: (tmpPath: string) => Promise<void>): Promise<string> {
  const dir = dirname(output);
  await import("node:fs/promises").then((f) => f.mkdir(dir, { recursive: true }));
  let privateDir: string | undefined;
  const cleanup = () => {
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
  };
  // The handlers exist before the directory does: a signal in between cannot leave it behind.
  const handlers = SIGNALS.map((sig) => {
    const h = () => {
      cleanup();
      for (const [s, f] of handlers) process.removeListener(s, f);
      // Re-raise so the exit status says which signal ended the release.
      process.kill(process.pid, sig);
    };
    process.once(sig, h);
    return [sig, h] as const;
  });
  privateDir = mkdtempSync(join(dir, ".cleanroom-release-"));
  try {
    await chmod(privateDir, 0o700);
    const tmpPath = join(privateDir, basename(output));
    await write(tmpPath);
    const { sha256 } = await hashFile(tmpPath);
    await rename(tmpPath, output);
    return `sha256:${sha256}`;
  } finally {
    for (const [s, f] of handlers) process.removeListener(s, f);
    await rm(privateDir, { recursive: true, force: true });
  }
}

/** Opens the ledger (if any) and records the spend; returns undefined without a ledger. */
async function spendFirst(o: ReleaseOptions, mechanism: string, rho: number, testSeeded: boolean, detail?: Record<string, string | number | boolean>) {
  if (!o.ledger) return undefined;
  const ledger = await PrivacyLedger.open(o.ledger);
  const r = await ledger.spend({ stage: "stage1", mechanism, rho, epsilon: o.epsilon, delta: o.delta ?? 1e-9, ...(detail ? { detail } : {}), ...(testSeeded ? { testSeeded } : {}) });
  return { ledger, entry: r.entry };
}

async function recordArtefact(spent: Awaited<ReturnType<typeof spendFirst>>, digest: string, output: string): Promise<string | undefined> {
  if (!spent) return undefined;
  await spent.ledger.recordArtefact(spent.entry.seq, digest, basename(output));
  return (await spent.ledger.state()).head;
}

/** The number of synthetic rows: `rows` if given (≤ 10M), else the noisy estimate capped at 100,000. */
function syntheticRows(requested: number | undefined, estimate: number): { rows: number; capped: boolean } {
  if (requested !== undefined) return { rows: requested, capped: false };
  const r = Math.max(0, Math.round(estimate));
  return r > DEFAULT_MAX_SYNTHETIC_ROWS ? { rows: DEFAULT_MAX_SYNTHETIC_ROWS, capped: true } : { rows: r, capped: false };
}

/**
 * Writes a DP synthetic version of a CSV (MST by default), optionally counting its marginals with DuckDB or BigQuery.
 *
 * @example
 * await synthesizeCsv({ input: "insurance.csv", schema, output: "synthetic.csv", epsilon: 4 });
 */
export async function synthesizeCsv(opts: SynthesizeOptions): Promise<ReleaseReport> {
  checkRelease(opts, opts.source === undefined || opts.source.kind !== "bigquery");
  const method = opts.method ?? "mst";
  if (!SYNTHESIZERS.includes(method as never)) {
    throw new CleanRoomError("invalid-argument", `Unknown synthesizer "${method}"; use one of ${SYNTHESIZERS.join(", ")}`);
  }
  if (opts.rows !== undefined && (!Number.isSafeInteger(opts.rows) || opts.rows < 0 || opts.rows > MAX_SYNTHETIC_ROWS)) {
    throw new CleanRoomError("invalid-argument", `rows must be an integer from 0 to ${MAX_SYNTHETIC_ROWS.toLocaleString("en")} (got ${opts.rows})`);
  }
  const domain = buildDomain(opts.schema);
  const rng = opts.rng ?? rngFromEnvironment();
  const delta = opts.delta ?? 1e-9;
  const sizes = domain.columns.map((c) => c.size);
  const source = opts.source ?? csvSource(opts.input);
  const t0 = performance.now();
  const plan =
    method === "mst"
      ? { rho: planMst(sizes.length, opts.epsilon, delta).rhoSpent.total }
      : method === "aim"
        ? { rho: planAim(sizes.length, opts.epsilon, delta).rhoSpent }
        : { rho: planIndependent(sizes.length, opts.epsilon, delta).rhoSpent };
  // The spend is recorded (or refused) before any noise is drawn or any data is read.
  const spent = await spendFirst(opts, method, plan.rho, rng.deterministic, { source: source.kind });
  const tSpend = performance.now();
  let noiseMst: ReturnType<typeof drawMstNoise> | undefined;
  let noisePom: Float64Array[] | undefined;
  if (method === "mst") noiseMst = drawMstNoise(planMst(sizes.length, opts.epsilon, delta), sizes, rng);
  if (method === "product-of-marginals") noisePom = drawIndependentNoise(planIndependent(sizes.length, opts.epsilon, delta), sizes, rng);
  const t1 = performance.now();
  const tables = await source.measure(domain);
  const t2 = performance.now();
  const rowsFor = (estimate: number) => syntheticRows(opts.rows, estimate);
  let rowsInfo = { rows: 0, capped: false };
  const pick = (estimate: number) => {
    rowsInfo = rowsFor(estimate);
    return rowsInfo.rows;
  };
  let res: { table: import("./table.js").EncodedTable; tree?: readonly (readonly [string, string])[]; timings: Record<string, number> };
  if (method === "mst") {
    res = mst(tables, domain, { epsilon: opts.epsilon, delta, rowsFor: pick, iterations: opts.iterations, rng, noise: noiseMst });
  } else if (method === "aim") {
    res = aim(tables, domain, { epsilon: opts.epsilon, delta, rowsFor: pick, iterations: opts.iterations, rng });
  } else {
    res = productOfMarginals(tables, domain, { epsilon: opts.epsilon, delta, rowsFor: pick, rng, noise: noisePom });
  }
  const t3 = performance.now();
  const digest = await writeArtefact(opts.output, (p) => writeDecodedCsv(p, domain, res.table, rng));
  const ledgerHead = await recordArtefact(spent, digest, opts.output);
  const t4 = performance.now();
  return {
    method,
    output: opts.output,
    digest,
    epsilon: opts.epsilon,
    delta,
    rho: plan.rho,
    rows: res.table.rows,
    ...(rowsInfo.capped ? { rowsCapped: true } : {}),
    ...(res.tree ? { tree: res.tree } : {}),
    source: source.kind,
    timings: { ...res.timings, ledger: tSpend - t0, noise: (res.timings.noise ?? 0) + (t1 - tSpend), read: t2 - t1, total: t4 - t0, write: t4 - t3 },
    ...(spent ? { ledgerEntry: spent.entry, ledgerHead } : {}),
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

/** Computes the DP aggregates of a table in one streaming pass (noise drawn first). */
export async function computeAggregates(
  input: string,
  domain: Domain,
  epsilon: number,
  delta: number,
  rng: SecureRng,
  source: AggregateSource = csvAggregateSource(input),
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
  // The data is read only now, after every noise value was drawn.
  const rows = await source.count(domain, hists, sums);
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

/** Options of `aggregateCsv`. */
export interface AggregateOptions extends ReleaseOptions {
  /** Where the counts are taken. @default - `csvAggregateSource(input)`, this process streaming the CSV */
  readonly source?: AggregateSource;
}

/**
 * Writes DP aggregates of a CSV (or, with `duckdbAggregateSource`, a Parquet file) as JSON: the record count, a
 * histogram of every column on its public domain, and the clamped sum and mean of every numeric column.
 */
export async function aggregateCsv(opts: AggregateOptions): Promise<ReleaseReport & { artefact: AggregatesArtefact }> {
  checkRelease(opts);
  const source = opts.source ?? csvAggregateSource(opts.input);
  const domain = buildDomain(opts.schema);
  const rng = opts.rng ?? rngFromEnvironment();
  const delta = opts.delta ?? 1e-9;
  const t0 = performance.now();
  // Recorded at the (ε, δ) bound: the rounded noise scales can only cost less.
  // A CSV read in-process records no source, as before sources existed; any other source is named in the entry.
  const spent = await spendFirst(opts, "aggregates", cdpRho(opts.epsilon, delta), rng.deterministic, source.kind === "csv" ? undefined : { source: source.kind });
  const { artefact, rho } = await computeAggregates(opts.input, domain, opts.epsilon, delta, rng, source);
  const t1 = performance.now();
  const digest = await writeArtefact(opts.output, (p) => writeFile(p, `${JSON.stringify(artefact, null, 2)}\n`, { mode: 0o600 }));
  const ledgerHead = await recordArtefact(spent, digest, opts.output);
  const t2 = performance.now();
  return {
    method: "aggregates",
    output: opts.output,
    digest,
    epsilon: opts.epsilon,
    delta,
    rho,
    ...(source.kind === "csv" ? {} : { source: source.kind }),
    timings: { compute: t1 - t0, write: t2 - t1, total: t2 - t0 },
    ...(spent ? { ledgerEntry: spent.entry, ledgerHead } : {}),
    testSeeded: rng.deterministic,
    artefact,
  };
}

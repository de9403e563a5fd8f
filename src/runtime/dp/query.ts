/**
 * DP queries answered later from the same budget (`cleanroom dp query`): a count, a histogram of one column on its
 * public domain, or a clamped sum or mean of one numeric column. Each query names its own budget (ε, δ, or ρ), is
 * spent from the dataset's ledger before its noise is drawn, and is answered with exact discrete Gaussian noise.
 */
import { CleanRoomError } from "../../core/errors.js";
import { cdpRho } from "./accounting.js";
import { ClampedSum, drawNoise, meanOf, releaseSum } from "./aggregates.js";
import { buildDomain } from "./domain.js";
import { type LedgerTarget, MAX_BUDGET_EPSILON, PrivacyLedger, type SpendEntry } from "./ledger.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { scanCsv } from "./table.js";

/** The query kinds. */
export const QUERY_KINDS = ["count", "histogram", "sum", "mean"] as const;

/** Options of `dpQuery`. */
export interface QueryOptions {
  readonly input: string;
  readonly schema: unknown;
  /** `count`, `histogram`, `sum` or `mean`. */
  readonly kind: string;
  /** The column (histogram: any; sum and mean: a numeric one). */
  readonly column?: string;
  /** The query's budget: ε (with δ), or ρ directly. */
  readonly epsilon?: number;
  /** @default 1e-9 */
  readonly delta?: number;
  readonly rho?: number;
  readonly ledger?: LedgerTarget;
  readonly rng?: SecureRng;
}

/** A query's answer: noisy values and their noise sd. Nothing else depends on the data. */
export interface QueryResult {
  readonly kind: string;
  readonly column?: string;
  /** count, sum, mean (null when the noisy count is not positive): one value; histogram: one per label. */
  readonly value?: number | null;
  readonly histogram?: readonly { readonly label: string; readonly count: number }[];
  readonly sd: number;
  readonly rho: number;
  readonly ledgerEntry?: SpendEntry;
  readonly ledgerHead?: string;
  readonly testSeeded: boolean;
}

/**
 * Answers one DP query on a CSV.
 *
 * @example
 * await dpQuery({ input: "insurance.csv", schema, kind: "mean", column: "charges", epsilon: 0.5, ledger });
 */
export async function dpQuery(o: QueryOptions): Promise<QueryResult> {
  if (!QUERY_KINDS.includes(o.kind as never)) throw new CleanRoomError("invalid-argument", `Unknown query "${o.kind}"; use one of ${QUERY_KINDS.join(", ")}`);
  const domain = buildDomain(o.schema);
  const ci = o.column === undefined ? -1 : domain.columns.findIndex((c) => c.name === o.column);
  if (o.kind !== "count" && ci < 0) {
    throw new CleanRoomError("invalid-argument", `A ${o.kind} query needs a column of the public schema (${domain.columns.map((c) => c.name).join(", ")}); got ${JSON.stringify(o.column)}`);
  }
  const col = ci >= 0 ? domain.columns[ci] : undefined;
  if ((o.kind === "sum" || o.kind === "mean") && col?.type !== "numeric") throw new CleanRoomError("invalid-argument", `A ${o.kind} query needs a numeric column (${o.column} is ${col?.type})`);
  let rho: number;
  if (o.rho !== undefined) {
    if (!(o.rho > 0 && Number.isFinite(o.rho))) throw new CleanRoomError("invalid-argument", `rho must be a positive number (got ${o.rho})`);
    rho = o.rho;
  } else {
    if (!(typeof o.epsilon === "number" && o.epsilon > 0 && o.epsilon <= MAX_BUDGET_EPSILON)) {
      throw new CleanRoomError("invalid-argument", `epsilon must be > 0 and <= ${MAX_BUDGET_EPSILON} (got ${o.epsilon}), or give rho`);
    }
    const delta = o.delta ?? 1e-9;
    if (!(delta > 0 && delta < 1e-3)) throw new CleanRoomError("invalid-argument", `delta must be > 0 and < 0.001 (got ${delta})`);
    rho = cdpRho(o.epsilon, delta);
  }
  const rng = o.rng ?? rngFromEnvironment();
  let spent: { ledger: PrivacyLedger; entry: SpendEntry } | undefined;
  if (o.ledger) {
    const ledger = await PrivacyLedger.open(o.ledger);
    const r = await ledger.spend({
      stage: "query",
      mechanism: o.kind,
      rho,
      ...(o.rho === undefined ? { epsilon: o.epsilon, delta: o.delta ?? 1e-9 } : {}),
      ...(o.column !== undefined ? { detail: { column: o.column } } : {}),
      ...(rng.deterministic ? { testSeeded: true } : {}),
    });
    spent = { ledger, entry: r.entry };
  }
  // Noise first, then the data (the samplers' timing must not depend on it).
  const half = { rho: rho / 2 };
  const sum = col?.type === "numeric" ? new ClampedSum(col.schema.min as number, col.schema.max as number) : undefined;
  const countNoise = drawNoise(rng, o.kind === "mean" ? half : { rho }, o.kind === "histogram" ? (col?.size ?? 1) : 1, 1);
  const sumNoise = sum && (o.kind === "sum" || o.kind === "mean") ? drawNoise(rng, o.kind === "mean" ? half : { rho }, 1, sum.sensitivity) : undefined;
  const hist = new Float64Array(col?.size ?? 1);
  let n = 0;
  await scanCsv(o.input, domain, (cells) => {
    n++;
    if (col && o.kind === "histogram") hist[col.encode(cells[ci])]++;
    if (sum) {
      const t = cells[ci].trim();
      sum.add(t === "" ? Number.NaN : Number(t));
    }
  });
  const head = async () => (spent ? { ledgerEntry: spent.entry, ledgerHead: (await spent.ledger.state()).head } : {});
  const base = { kind: o.kind, ...(o.column !== undefined ? { column: o.column } : {}), rho, testSeeded: rng.deterministic };
  if (o.kind === "count") return { ...base, value: n + countNoise.values[0], sd: countNoise.sd, ...(await head()) };
  if (o.kind === "histogram" && col) {
    return { ...base, histogram: col.labels.map((label, x) => ({ label, count: hist[x] + countNoise.values[x] })), sd: countNoise.sd, ...(await head()) };
  }
  const released = releaseSum(sum as ClampedSum, sumNoise as NonNullable<typeof sumNoise>);
  if (o.kind === "sum") return { ...base, value: released.value, sd: released.sd, ...(await head()) };
  const s = sum as ClampedSum;
  return { ...base, value: meanOf(released.value, n + countNoise.values[0], s.min, s.max), sd: released.sd, ...(await head()) };
}

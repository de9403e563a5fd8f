/**
 * The disclosure policy of a room and of one job: the spec's `output.disclosure` and `datasets[].disclosure` validated
 * and resolved, the effective policy of a job (the room's, tightened by every dataset it reads: the strictest wins),
 * and whether a result may leave quarantine without a provider's release.
 *
 * A dataset can only tighten: a looser value than the room's is not an error (the room may change), it just never
 * takes effect. `off` runs no check, and only when the room is `off` and no dataset the job reads asks for more.
 */
import {
  DISCLOSURE_DEFAULTS,
  DISCLOSURE_MODES,
  type DisclosurePolicy,
  type DisclosureReport,
  type DisclosureThresholds,
} from "./disclosure.js";

/** The keys of `DisclosureThresholds`, in a fixed order. */
export const DISCLOSURE_THRESHOLD_KEYS = ["minCellCount", "dominanceN", "dominanceK", "pPercent", "minResidualDf", "maxTableRows"] as const;

type ThresholdKey = (typeof DISCLOSURE_THRESHOLD_KEYS)[number];

/** For each threshold: its bounds, whether it must be whole, and which direction is stricter. */
const THRESHOLD_RULES: Record<ThresholdKey, { readonly min: number; readonly max: number; readonly integer: boolean; readonly stricter: "larger" | "smaller"; readonly minExclusive?: boolean }> = {
  minCellCount: { min: 1, max: 1_000_000, integer: true, stricter: "larger" },
  dominanceN: { min: 1, max: 100, integer: true, stricter: "larger" },
  dominanceK: { min: 0, max: 100, integer: false, stricter: "smaller", minExclusive: true },
  pPercent: { min: 0, max: 100, integer: false, stricter: "larger", minExclusive: true },
  minResidualDf: { min: 0, max: 1_000_000, integer: true, stricter: "larger" },
  maxTableRows: { min: 1, max: 100_000_000, integer: true, stricter: "smaller" },
};

/** How strict each mode is: a job runs under the strictest mode of its room and the datasets it reads. */
const MODE_RANK: Readonly<Record<string, number>> = { off: 0, review: 1, enforce: 2 };

/** The room's disclosure control as a descriptor carries it (`descriptor.output.disclosure`): every default filled in. */
export interface ResolvedOutputDisclosure {
  /** `review`, `enforce` or `off`. */
  readonly mode: string;
  /** Whether outputs that all pass may leave quarantine without a provider's release. */
  readonly releaseOnPass: boolean;
  readonly thresholds: DisclosureThresholds;
}

/** A dataset's disclosure settings as a descriptor carries them (only what its provider set). */
export interface DatasetDisclosure extends Partial<DisclosureThresholds> {
  readonly mode?: string;
  readonly releaseOnPass?: boolean;
  readonly quasiIdentifiers?: readonly string[];
}

/** The descriptor fields `resolveDisclosurePolicy` reads (a `CleanRoomDescriptor` has them). */
export interface DisclosureRoom {
  readonly output: { readonly requireRelease: boolean; readonly disclosure?: ResolvedOutputDisclosure };
  readonly providers: ReadonlyArray<{ readonly name: string; readonly datasets: ReadonlyArray<{ readonly name: string; readonly disclosure?: DatasetDisclosure }> }>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function thresholdProblems(o: Record<string, unknown>, path: string, out: string[]): void {
  for (const k of DISCLOSURE_THRESHOLD_KEYS) {
    const v = o[k];
    if (v === undefined) continue;
    const r = THRESHOLD_RULES[k];
    const ok = typeof v === "number" && Number.isFinite(v) && (r.integer ? Number.isSafeInteger(v) : true) && (r.minExclusive ? v > r.min : v >= r.min) && v <= r.max;
    if (!ok) {
      out.push(
        `${path}.${k} must be ${r.integer ? "a whole number" : "a number"} ${r.minExclusive ? "greater than" : "from"} ${r.min} ${r.minExclusive ? "and at most" : "to"} ${r.max} (got ${JSON.stringify(v)}); ACRO's default is ${DISCLOSURE_DEFAULTS[k]}`,
      );
    }
  }
}

function modeProblem(v: unknown, path: string, out: string[]): void {
  if (v !== undefined && !DISCLOSURE_MODES.includes(v as never)) {
    out.push(`${path}.mode must be one of ${DISCLOSURE_MODES.join(", ")} (got ${JSON.stringify(v)}); leave it out for "review"`);
  }
}

function boolProblem(o: Record<string, unknown>, key: string, path: string, out: string[]): void {
  if (o[key] !== undefined && typeof o[key] !== "boolean") out.push(`${path}.${key} must be a boolean (got ${JSON.stringify(o[key])})`);
}

function unknownKeys(o: Record<string, unknown>, allowed: readonly string[], path: string, out: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) out.push(`${path}.${k} is not a known field (known: ${allowed.join(", ")})`);
}

/** Collects the problems of a room's `output.disclosure`. Pure; never throws. */
export function outputDisclosureProblems(v: unknown, path: string, out: string[] = []): string[] {
  if (!isObject(v)) {
    out.push(`${path} must be an object, e.g. {"mode": "review"}`);
    return out;
  }
  unknownKeys(v, ["mode", "releaseOnPass", ...DISCLOSURE_THRESHOLD_KEYS], path, out);
  modeProblem(v.mode, path, out);
  boolProblem(v, "releaseOnPass", path, out);
  thresholdProblems(v, path, out);
  return out;
}

/**
 * Collects the problems of a dataset's `disclosure`: its quasi-identifiers must be columns of the dataset's public
 * schema when it has one (a misspelt column would silently protect nothing). Pure; never throws.
 */
export function datasetDisclosureProblems(v: unknown, schema: unknown, path: string, out: string[] = []): string[] {
  if (!isObject(v)) {
    out.push(`${path} must be an object, e.g. {"quasiIdentifiers": ["age", "postcode"]}`);
    return out;
  }
  unknownKeys(v, ["mode", "releaseOnPass", "quasiIdentifiers", ...DISCLOSURE_THRESHOLD_KEYS], path, out);
  modeProblem(v.mode, path, out);
  boolProblem(v, "releaseOnPass", path, out);
  thresholdProblems(v, path, out);
  if (v.quasiIdentifiers !== undefined) {
    const columns = isObject(schema) && Array.isArray(schema.columns) ? schema.columns.map((c: unknown) => (isObject(c) ? c.name : undefined)) : undefined;
    if (!Array.isArray(v.quasiIdentifiers)) out.push(`${path}.quasiIdentifiers must be an array of column names`);
    else {
      const seen = new Set<string>();
      v.quasiIdentifiers.forEach((c: unknown, i: number) => {
        if (typeof c !== "string" || c.length === 0) out.push(`${path}.quasiIdentifiers[${i}] must be a non-empty column name`);
        else if (seen.has(c)) out.push(`${path}.quasiIdentifiers[${i}] "${c}" is listed twice`);
        else {
          seen.add(c);
          if (columns !== undefined && !columns.includes(c)) {
            out.push(`${path}.quasiIdentifiers[${i}] "${c}" is not a column of the dataset's schema (columns: ${columns.filter((x) => typeof x === "string").join(", ")})`);
          }
        }
      });
    }
  }
  return out;
}

/** The room's disclosure control with every default filled in (mode `review`, release on pass, ACRO's thresholds). */
export function resolveOutputDisclosure(v: { readonly mode?: string; readonly releaseOnPass?: boolean } & Partial<Record<ThresholdKey, number>> | undefined): ResolvedOutputDisclosure {
  const thresholds = Object.fromEntries(DISCLOSURE_THRESHOLD_KEYS.map((k) => [k, v?.[k] ?? DISCLOSURE_DEFAULTS[k]])) as unknown as DisclosureThresholds;
  return { mode: v?.mode ?? DISCLOSURE_MODES[0], releaseOnPass: v?.releaseOnPass ?? true, thresholds };
}

/** Collects the problems of a descriptor's `output.disclosure` (every field present). Pure; never throws. */
export function resolvedOutputDisclosureProblems(v: unknown, path: string): string[] {
  const out: string[] = [];
  if (!isObject(v) || !isObject(v.thresholds) || typeof v.mode !== "string" || typeof v.releaseOnPass !== "boolean") {
    return [`${path} must be {mode, releaseOnPass, thresholds}; re-export the descriptor`];
  }
  unknownKeys(v, ["mode", "releaseOnPass", "thresholds"], path, out);
  modeProblem(v.mode, path, out);
  unknownKeys(v.thresholds, DISCLOSURE_THRESHOLD_KEYS, `${path}.thresholds`, out);
  for (const k of DISCLOSURE_THRESHOLD_KEYS) if (v.thresholds[k] === undefined) out.push(`${path}.thresholds.${k} is missing`);
  thresholdProblems(v.thresholds, `${path}.thresholds`, out);
  return out;
}

function stricter(k: ThresholdKey, a: number, b: number): number {
  return THRESHOLD_RULES[k].stricter === "larger" ? Math.max(a, b) : Math.min(a, b);
}

/**
 * The effective disclosure policy of a job reading `inputs` in room `room`: the room's `output.disclosure` (its
 * defaults when the descriptor predates it), tightened by each dataset read. Mode: the strictest (`enforce` > `review` >
 * `off`); each threshold: the strictest; `releaseOnPass`: false when the room requires a release, or the room or any
 * dataset read says false; quasi-identifiers: each dataset's own, under `<provider>/<dataset>`, sorted.
 *
 * @throws Error when an input is not a dataset of the room (the caller checks inputs first)
 */
export function resolveDisclosurePolicy(room: DisclosureRoom, inputs: ReadonlyArray<{ readonly provider: string; readonly dataset: string }>): DisclosurePolicy {
  const base = room.output.disclosure ?? resolveOutputDisclosure(undefined);
  let mode = base.mode;
  let releaseOnPass = base.releaseOnPass && !room.output.requireRelease;
  const thresholds: Record<ThresholdKey, number> = { ...base.thresholds };
  const quasiIdentifiers: Record<string, readonly string[]> = {};
  for (const input of inputs) {
    const ds = room.providers.find((p) => p.name === input.provider)?.datasets.find((d) => d.name === input.dataset);
    if (!ds) throw new Error(`${input.provider}/${input.dataset} is not a dataset of this room`);
    const d = ds.disclosure;
    if (!d) continue;
    if (d.mode !== undefined && (MODE_RANK[d.mode] ?? 0) > (MODE_RANK[mode] ?? 0)) mode = d.mode;
    if (d.releaseOnPass === false) releaseOnPass = false;
    for (const k of DISCLOSURE_THRESHOLD_KEYS) {
      const v = d[k];
      if (v !== undefined) thresholds[k] = stricter(k, thresholds[k], v);
    }
    if (d.quasiIdentifiers && d.quasiIdentifiers.length > 0) quasiIdentifiers[`${input.provider}/${input.dataset}`] = [...d.quasiIdentifiers].sort();
  }
  return { mode, thresholds: thresholds as unknown as DisclosureThresholds, releaseOnPass, quasiIdentifiers };
}

/** Why a result must wait in quarantine for a provider's release, or `undefined` when it may flow to its consumers. */
export function holdReason(report: DisclosureReport | undefined, requireRelease: boolean): string | undefined {
  // The checks' reason first: it says what a reviewer must look at.
  const checked = report !== undefined && report.policy.mode !== "off";
  if (checked && report.withheld) return "the disclosure checks failed in enforce mode: every output was withheld";
  if (checked && report.verdict === "fail") return `an output failed the disclosure checks (${failedRules(report).join(", ")}): a provider must review it`;
  if (checked && report.verdict === "review") return "an output is of a kind no rule can judge (model, other or undeclared): a provider must review it";
  if (requireRelease) return "the room requires a provider's release of every result (output.requireRelease)";
  if (checked && !report.policy.releaseOnPass) return "every output passed, but a provider of the data releases each result (releaseOnPass: false)";
  return undefined;
}

/** The rules that failed on any output of a report, sorted, each once (`unjudgeable` is a review, not a failure). */
export function failedRules(report: DisclosureReport): string[] {
  const rules = new Set<string>();
  for (const o of report.outputs) if (o.verdict === "fail") for (const f of o.findings) if (f.rule !== "unjudgeable") rules.add(f.rule);
  return [...rules].sort();
}

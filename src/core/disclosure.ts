/**
 * Safe outputs: the statistical disclosure checks the executor runs on a job's outputs inside the TEE, before the
 * receipt is written, and the report that travels in the receipt (so the attestation token's nonce covers it).
 *
 * This module holds the shared vocabulary only (rules, thresholds, report shape, policy digest); the checks themselves
 * live in `src/runtime/disclosure/`. Thresholds follow ACRO/SACRO's defaults.
 */
import { canonicalJson, sha256Hex } from "./digest.js";

/**
 * What a failed check means (`output.disclosure.mode`): `review` holds any failed or unjudgeable output in quarantine
 * until a provider releases it; `enforce` withholds every output of a job with any failure; `off` runs no check (and
 * the receipt says so).
 */
export const DISCLOSURE_MODES = ["review", "enforce", "off"] as const;

/** The kinds a job may declare for an output in `$CLEANROOM_OUTPUT/outputs.json`; an undeclared file is `other`. */
export const OUTPUT_KINDS = ["table", "regression", "model", "text", "other"] as const;

/** A verdict on one output, and on the whole job (the worst of its outputs: `fail` > `review` > `pass`). */
export const DISCLOSURE_VERDICTS = ["pass", "review", "fail"] as const;

/** The rules a finding names. `unjudgeable` is the `review` of a kind no rule can judge (`model`, `other`). */
export const DISCLOSURE_RULES = [
  "min-cell-count",
  "dominance",
  "p-percent",
  "zero-cells",
  "residual-df",
  "verbatim-rows",
  "unique-quasi-identifiers",
  "max-table-rows",
  "invalid-declaration",
  "unjudgeable",
] as const;

/** The output manifest's file name, in the job's output directory. It is read by the checker and never released. */
export const OUTPUT_MANIFEST_FILE = "outputs.json";

/** The report's file name beside the outputs in a result (`<result>/outputs.check.json`), equal to `receipt.disclosure`. */
export const DISCLOSURE_REPORT_FILE = "outputs.check.json";

/** The numeric thresholds of the rules. Each is a named spec option; when a job reads several datasets the strictest wins. */
export interface DisclosureThresholds {
  /** Smallest number of records behind any cell of a `table` (ACRO: 10). Stricter = larger. */
  readonly minCellCount: number;
  /** Dominance (n,k): the n largest contributions may not make up k percent or more of a cell's total (ACRO: n = 2). Stricter = larger. */
  readonly dominanceN: number;
  /** Dominance (n,k): k, in percent (ACRO: 90). Stricter = smaller. */
  readonly dominanceK: number;
  /** p% rule: the total minus the two largest contributions must be at least p percent of the largest (ACRO: 10). Stricter = larger. */
  readonly pPercent: number;
  /** Smallest residual degrees of freedom of a `regression` (ACRO: 10). Stricter = larger. */
  readonly minResidualDf: number;
  /** Most data rows a `table` output may have. Stricter = smaller. */
  readonly maxTableRows: number;
}

/** ACRO/SACRO's defaults, and the room's when the spec sets none. */
export const DISCLOSURE_DEFAULTS: DisclosureThresholds = {
  minCellCount: 10,
  dominanceN: 2,
  dominanceK: 90,
  pPercent: 10,
  minResidualDf: 10,
  maxTableRows: 10_000,
};

/** One broken rule on one output. Never holds a disclosive value: only the rule, which cells, and how many. */
export interface DisclosureFinding {
  /** One of `DISCLOSURE_RULES`. */
  readonly rule: string;
  /** 0-based data-row indices of the offending cells (at most 100 listed; `count` says how many in all). */
  readonly cells?: readonly number[];
  /** How many cells (or rows) break the rule. */
  readonly count: number;
  /** For people: what is wrong and how to fix it, with thresholds but never a value from the data or the output. */
  readonly detail: string;
}

/** The checks on one output file (a path of `receipt.outputs`). */
export interface OutputCheck {
  readonly path: string;
  /** The kind the job declared, or `other`. */
  readonly kind: string;
  /** `pass` when no finding, `review` when the only findings are `unjudgeable`, otherwise `fail`. */
  readonly verdict: string;
  readonly findings: readonly DisclosureFinding[];
}

/** The effective disclosure policy of one job: the room's, tightened by every dataset the job reads. */
export interface DisclosurePolicy {
  /** One of `DISCLOSURE_MODES`. */
  readonly mode: string;
  readonly thresholds: DisclosureThresholds;
  /** Whether outputs that all pass may leave quarantine without a provider's release. */
  readonly releaseOnPass: boolean;
  /** The quasi-identifier columns per input, as `<provider>/<dataset>` → column names (sorted). */
  readonly quasiIdentifiers: Readonly<Record<string, readonly string[]>>;
}

/** The report in `receipt.disclosure` and in `outputs.check.json`. */
export interface DisclosureReport {
  readonly version: 1;
  /** `disclosurePolicyDigest(policy)`: a verifier recomputes it from the room's descriptor and the job's inputs. */
  readonly policyDigest: string;
  readonly policy: DisclosurePolicy;
  /** One per output file, in `receipt.outputs` order (empty when mode is `off`). */
  readonly outputs: readonly OutputCheck[];
  /** The worst verdict of `outputs` (`pass` when there are none). */
  readonly verdict: string;
  /** True when the outputs were withheld (enforce mode with a failure): the receipt's `outputs` is then empty. */
  readonly withheld: boolean;
}

/** `sha256:` of a disclosure policy's canonical JSON, as recorded in `DisclosureReport.policyDigest`. */
export function disclosurePolicyDigest(policy: DisclosurePolicy): string {
  return `sha256:${sha256Hex(canonicalJson(policy))}`;
}

/**
 * Validation of a disclosure report (`receipt.disclosure`, `outputs.check.json`): its shape, that every verdict follows
 * from its findings and the job's from its outputs, that its policy digest is its policy's, and that it checks exactly
 * the receipt's outputs. A verifier runs it on the report it holds; `verifyResult` then also compares the policy with
 * the one the room's descriptor gives for the receipt's inputs.
 */
import { DIGEST_PATTERN } from "./patterns.js";
import {
  DISCLOSURE_MODES,
  DISCLOSURE_RULES,
  DISCLOSURE_VERDICTS,
  OUTPUT_KINDS,
  disclosurePolicyDigest,
  type DisclosurePolicy,
} from "./disclosure.js";

/** The receipt's `errorCode` of a job whose outputs were withheld (enforce mode, a failed check). */
export const DISCLOSURE_ERROR_CODE = "disclosure";

/** Most cell indices a finding lists (`count` says how many in all). */
const MAX_CELLS = 100;

/** The path a withheld output has in its report: its place in the job's outputs, never its name (chosen by the job). */
export function withheldPath(index: number): string {
  return `withheld-${index + 1}`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/u;
const THRESHOLD_KEYS = ["minCellCount", "dominanceN", "dominanceK", "pPercent", "minResidualDf", "maxTableRows"];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const RANK: Readonly<Record<string, number>> = { pass: 0, review: 1, fail: 2 };

/** The worst of some verdicts (`fail` > `review` > `pass`); `pass` when there are none. */
export function worstVerdict(verdicts: Iterable<string>): string {
  let worst = "pass";
  for (const v of verdicts) if ((RANK[v] ?? 2) > (RANK[worst] ?? 0)) worst = v;
  return worst;
}

/** The verdict findings give: `pass` when none, `review` when all are `unjudgeable`, otherwise `fail`. */
export function verdictOf(findings: ReadonlyArray<{ readonly rule: string }>): string {
  if (findings.length === 0) return "pass";
  return findings.every((f) => f.rule === "unjudgeable") ? "review" : "fail";
}

function policyProblems(p: unknown, path: string, out: string[]): p is DisclosurePolicy {
  if (!isObject(p)) {
    out.push(`${path} must be an object {mode, thresholds, releaseOnPass, quasiIdentifiers}`);
    return false;
  }
  const before = out.length;
  if (!DISCLOSURE_MODES.includes(p.mode as never)) out.push(`${path}.mode must be one of ${DISCLOSURE_MODES.join(", ")}`);
  if (typeof p.releaseOnPass !== "boolean") out.push(`${path}.releaseOnPass must be a boolean`);
  if (!isObject(p.thresholds) || THRESHOLD_KEYS.some((k) => typeof (p.thresholds as Record<string, unknown>)[k] !== "number")) {
    out.push(`${path}.thresholds must hold ${THRESHOLD_KEYS.join(", ")} as numbers`);
  }
  if (!isObject(p.quasiIdentifiers) || Object.values(p.quasiIdentifiers).some((v) => !Array.isArray(v) || v.some((c) => typeof c !== "string"))) {
    out.push(`${path}.quasiIdentifiers must map <provider>/<dataset> to column names`);
  }
  return out.length === before;
}

/**
 * Collects every problem of a disclosure report, given the receipt's `outputs`, `status` and `errorCode` it belongs to.
 * Pure; never throws.
 */
export function disclosureReportProblems(r: unknown, receiptOutputs: unknown, status: unknown, errorCode: unknown): string[] {
  const out: string[] = [];
  const path = "receipt.disclosure";
  if (!isObject(r)) return [`${path} must be an object (the disclosure report)`];
  if (r.version !== 1) out.push(`${path}.version must be 1`);
  if (typeof r.withheld !== "boolean") out.push(`${path}.withheld must be a boolean`);
  if (!DISCLOSURE_VERDICTS.includes(r.verdict as never)) out.push(`${path}.verdict must be one of ${DISCLOSURE_VERDICTS.join(", ")}`);
  const policyOk = policyProblems(r.policy, `${path}.policy`, out);
  if (typeof r.policyDigest !== "string" || !DIGEST_PATTERN.test(r.policyDigest)) out.push(`${path}.policyDigest must be sha256:<64 hex>`);
  else if (policyOk && r.policyDigest !== disclosurePolicyDigest(r.policy as DisclosurePolicy)) {
    out.push(`${path}.policyDigest is not the digest of ${path}.policy: the report was edited`);
  }
  if (!Array.isArray(r.outputs)) return [...out, `${path}.outputs must be an array`];
  const verdicts: string[] = [];
  r.outputs.forEach((o: unknown, i: number) => {
    const op = `${path}.outputs[${i}]`;
    if (!isObject(o) || typeof o.path !== "string" || o.path.length === 0 || UNPRINTABLE.test(o.path) || !Array.isArray(o.findings)) {
      out.push(`${op} must be {path, kind, verdict, findings}`);
      return;
    }
    if (!OUTPUT_KINDS.includes(o.kind as never)) out.push(`${op}.kind must be one of ${OUTPUT_KINDS.join(", ")}`);
    let findingsOk = true;
    o.findings.forEach((f: unknown, j: number) => {
      const fp = `${op}.findings[${j}]`;
      const cellsOk = !isObject(f) || f.cells === undefined || (Array.isArray(f.cells) && f.cells.length <= MAX_CELLS && f.cells.every((c) => Number.isSafeInteger(c) && (c as number) >= 0));
      if (!isObject(f) || !DISCLOSURE_RULES.includes(f.rule as never) || !Number.isSafeInteger(f.count) || (f.count as number) < 0 || typeof f.detail !== "string" || UNPRINTABLE.test(f.detail) || !cellsOk) {
        out.push(`${fp} must be {rule (one of ${DISCLOSURE_RULES.join(", ")}), cells? (at most ${MAX_CELLS} indices), count, detail (printable)}`);
        findingsOk = false;
      }
    });
    if (findingsOk && o.verdict !== verdictOf(o.findings as { rule: string }[])) {
      out.push(`${op}.verdict is ${JSON.stringify(o.verdict)} but its findings give ${JSON.stringify(verdictOf(o.findings as { rule: string }[]))}`);
    }
    verdicts.push(typeof o.verdict === "string" ? o.verdict : "fail");
  });
  if (DISCLOSURE_VERDICTS.includes(r.verdict as never) && r.verdict !== worstVerdict(verdicts)) {
    out.push(`${path}.verdict is ${JSON.stringify(r.verdict)} but the worst verdict of its outputs is ${JSON.stringify(worstVerdict(verdicts))}`);
  }
  const mode = policyOk ? (r.policy as DisclosurePolicy).mode : undefined;
  if (mode === "off" && (r.outputs.length > 0 || r.withheld === true)) out.push(`${path}: a report of mode "off" checks nothing (no outputs, not withheld)`);
  const mustWithhold = mode === "enforce" && r.verdict === "fail";
  if (r.withheld === true && !mustWithhold) out.push(`${path}.withheld is true but only a failed check in enforce mode withholds outputs`);
  if (r.withheld === false && mustWithhold) out.push(`${path}.withheld must be true: a failed check in enforce mode withholds every output`);
  const receiptPaths = Array.isArray(receiptOutputs) ? receiptOutputs.map((x: unknown) => (isObject(x) ? x.path : undefined)) : [];
  const reportPaths = r.outputs.map((o: unknown) => (isObject(o) ? o.path : undefined));
  if (r.withheld === true) {
    if (status !== "failed" || errorCode !== DISCLOSURE_ERROR_CODE) out.push(`${path}.withheld needs receipt.status "failed" with errorCode "${DISCLOSURE_ERROR_CODE}"`);
    if (receiptPaths.length > 0) out.push("receipt.outputs must be empty when the disclosure checks withheld them");
    if (reportPaths.some((p, i) => p !== withheldPath(i))) out.push(`${path}.outputs of withheld outputs are named by their place (${withheldPath(0)}, …), never by the job's names`);
  } else {
    if (status === "failed") out.push(`${path} is only kept on a failed receipt when the checks withheld the outputs`);
    // Mode off checks nothing; otherwise each output has exactly one check, in the receipt's order.
    if (mode !== "off" && (reportPaths.length !== receiptPaths.length || reportPaths.some((p, i) => p !== receiptPaths[i]))) {
      out.push(`${path}.outputs must check every receipt output exactly once, in the receipt's order`);
    }
  }
  return out;
}

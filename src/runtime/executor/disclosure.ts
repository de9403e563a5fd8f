/**
 * The executor's disclosure step: after the output policy and before the receipt, the job's outputs are checked
 * against the job's effective disclosure policy (`resolveDisclosurePolicy`), with the decrypted inputs at hand for the
 * verbatim-row and quasi-identifier rules. The same code runs on both backends.
 *
 * The job's output manifest (`outputs.json`) is read by the checker and never released. A failure in `enforce` mode
 * withholds every output: the report then names them by their place (`withheld-1`, …), never by the names the job
 * chose after reading the data.
 */
import type { Manifest } from "../../core/digest.js";
import { type DisclosurePolicy, type DisclosureReport, OUTPUT_MANIFEST_FILE, disclosurePolicyDigest } from "../../core/disclosure.js";
import { failedRules } from "../../core/disclosure-policy.js";
import { DISCLOSURE_ERROR_CODE, verdictOf, withheldPath, worstVerdict } from "../../core/disclosure-report.js";
import { CleanRoomError } from "../../core/errors.js";
import { checkDisclosure } from "../disclosure/index.js";

/** A decrypted input, as the checker reads it. */
export interface CheckedInput {
  /** `<provider>/<dataset>`: the key of `policy.quasiIdentifiers`. */
  readonly key: string;
  /** The plaintext file the job read. */
  readonly path: string;
  /** `csv` or `parquet`. */
  readonly format: string;
}

/** What the disclosure step decided. */
export interface DisclosureOutcome {
  /** The outputs to release (the job's output manifest left out); empty when withheld. */
  readonly outputs: Manifest;
  /** The report for the receipt and `outputs.check.json`. */
  readonly report: DisclosureReport;
  /** Set when the outputs were withheld (`enforce` with a failed check): the receipt's failure. */
  readonly failure?: CleanRoomError;
}

/**
 * Adds a `verbatim-rows` finding to every output whose bytes are exactly those of a file of an input tree (a `files`
 * dataset: model weights, images), whatever kind the job declared it: the record-level check reads tables only.
 */
function withCopiedFiles(report: DisclosureReport, outputs: Manifest, inputFileDigests: ReadonlySet<string>): DisclosureReport {
  if (inputFileDigests.size === 0) return report;
  const copies = new Set(outputs.filter((e) => inputFileDigests.has(e.sha256)).map((e) => e.path));
  if (copies.size === 0) return report;
  const checks = report.outputs.map((o) => {
    if (!copies.has(o.path)) return o;
    const findings = [
      ...o.findings,
      { rule: "verbatim-rows", count: 1, detail: "The output is a byte-for-byte copy of a file of an input files dataset; write results computed from it, never the file itself" },
    ];
    return { ...o, findings, verdict: verdictOf(findings) };
  });
  return { ...report, outputs: checks, verdict: worstVerdict(checks.map((o) => o.verdict)) };
}

/**
 * Checks a job's outputs. `inputFileDigests` holds the sha256 of every file of the job's `files` inputs. `outputs` is the output policy's manifest of `outputDir`.
 *
 * @throws CleanRoomError when the checker itself cannot run (the job then fails; nothing is released)
 */
export async function checkJobDisclosure(
  outputDir: string,
  outputs: Manifest,
  inputs: readonly CheckedInput[],
  policy: DisclosurePolicy,
  inputFileDigests: ReadonlySet<string> = new Set(),
): Promise<DisclosureOutcome> {
  // The manifest is the job's declaration to the checker, not an output: it never leaves the room.
  const released = outputs.filter((e) => e.path !== OUTPUT_MANIFEST_FILE);
  if (policy.mode === "off") {
    // Nothing is checked, and the receipt says so.
    return { outputs: released, report: { version: 1, policyDigest: disclosurePolicyDigest(policy), policy, outputs: [], verdict: "pass", withheld: false } };
  }
  const checked = withCopiedFiles(
    await checkDisclosure({ outputDir, outputs: released, inputs: inputs.map((i) => ({ ...i, format: i.format === "parquet" ? "parquet" : "csv" })), policy }),
    released,
    inputFileDigests,
  );
  // The executor decides, not the checker: the digest of the policy it resolved, and withheld exactly when enforce fails.
  const withheld = policy.mode === "enforce" && checked.verdict === "fail";
  const report: DisclosureReport = {
    version: 1,
    policyDigest: disclosurePolicyDigest(policy),
    policy,
    outputs: withheld ? checked.outputs.map((o, i) => ({ ...o, path: withheldPath(i) })) : checked.outputs,
    verdict: checked.verdict,
    withheld,
  };
  if (!withheld) return { outputs: released, report };
  const rules = failedRules(report);
  const failing = report.outputs.filter((o) => o.verdict === "fail").length;
  return {
    outputs: [],
    report,
    failure: new CleanRoomError(
      DISCLOSURE_ERROR_CODE,
      `${failing} of ${report.outputs.length} output(s) failed the disclosure checks (${rules.join(", ")}) and the room enforces them (output.disclosure.mode "enforce"): every output was withheld. ` +
        "The receipt's disclosure report says which rule each broke (`cleanroom job review`); aggregate further and run the job again",
    ),
  };
}

/**
 * A provider's release of a result, the same on both backends: what a release must accept (every rule a `fail` broke,
 * named explicitly) and the record it leaves beside the released result (`release.json`).
 */
import { failedRules, holdReason } from "../../core/disclosure-policy.js";
import { DISCLOSURE_RULES } from "../../core/disclosure.js";
import { CleanRoomError } from "../../core/errors.js";
import type { Receipt } from "../../core/receipt.js";

/** Options of `RoomClient.release`. */
export interface JobReleaseOptions {
  /**
   * The disclosure rules whose failures the provider reviewed and accepts (`--accept-failed-checks`). A result with a
   * failed check is released only when this names every rule that failed; naming a rule that did not fail is refused
   * (a typo would otherwise accept nothing and look like a review).
   * @default [] - a result with any failed check is refused
   */
  readonly acceptFailedChecks?: readonly string[];
}

/** What a release records beside the released result (`release.json`): the provider's record, not attested. */
export interface JobReleaseRecord {
  readonly version: 1;
  readonly jobId: string;
  /** ISO-8601 UTC. */
  readonly releasedAt: string;
  /** The disclosure verdict of the result when released (`pass`, `review`, `fail`), absent for a result without checks. */
  readonly disclosureVerdict?: string;
  /** Why the result was held before this release (absent when it could have flowed without one). */
  readonly held?: string;
  /** The failed rules the provider accepted (sorted); empty when none failed. */
  readonly acceptedFailedChecks: readonly string[];
}

/**
 * Parses `--accept-failed-checks a,b` values (repeatable) into rule names.
 *
 * @throws CleanRoomError `invalid-argument` for a name that is not a disclosure rule
 */
export function parseAcceptedRules(values: readonly string[]): string[] {
  const rules = values.flatMap((v) => v.split(",")).map((r) => r.trim()).filter((r) => r.length > 0);
  const unknown = rules.filter((r) => !DISCLOSURE_RULES.includes(r as never) || r === "unjudgeable");
  if (unknown.length > 0) {
    throw new CleanRoomError(
      "invalid-argument",
      `--accept-failed-checks names ${unknown.length} unknown rule(s); the rules are: ${DISCLOSURE_RULES.filter((r) => r !== "unjudgeable").join(", ")}`,
    );
  }
  return [...new Set(rules)].sort();
}

/**
 * Decides whether a verified result may be released with `options`, and returns the record of the release.
 *
 * @throws CleanRoomError `disclosure` when a check failed and `acceptFailedChecks` does not name every failed rule, or
 *   names one that did not fail; `output-policy` for a failed job (nothing to release)
 */
export function releaseRecordFor(receipt: Pick<Receipt, "jobId" | "status" | "errorCode" | "disclosure">, requireRelease: boolean, options: JobReleaseOptions = {}, now = new Date()): JobReleaseRecord {
  if (receipt.status !== "succeeded") {
    throw new CleanRoomError("output-policy", `Job ${receipt.jobId} failed (${receipt.errorCode ?? "unknown"}): a failed job has no outputs to release; its receipt stays readable in quarantine`);
  }
  const accepted = parseAcceptedRules(options.acceptFailedChecks ?? []);
  const report = receipt.disclosure;
  const failed = report ? failedRules(report) : [];
  const missing = failed.filter((r) => !accepted.includes(r));
  if (missing.length > 0) {
    throw new CleanRoomError(
      "disclosure",
      `Job ${receipt.jobId}'s outputs failed the disclosure checks (${failed.join(", ")}). Review them (\`cleanroom job review ${receipt.jobId}\`, the outputs with \`job fetch --from quarantine\`); ` +
        `to release them anyway, name every failed rule: --accept-failed-checks ${failed.join(",")}`,
    );
  }
  const extra = accepted.filter((r) => !failed.includes(r));
  if (extra.length > 0) {
    throw new CleanRoomError(
      "invalid-argument",
      `--accept-failed-checks names rule(s) that did not fail on job ${receipt.jobId}: ${extra.join(", ")}${failed.length > 0 ? ` (failed: ${failed.join(", ")})` : " (no check failed)"}`,
    );
  }
  const held = holdReason(report, requireRelease);
  return {
    version: 1,
    jobId: receipt.jobId,
    releasedAt: now.toISOString(),
    ...(report ? { disclosureVerdict: report.verdict } : {}),
    ...(held ? { held } : {}),
    acceptedFailedChecks: accepted,
  };
}

/**
 * Why a committed result may not be read from quarantine by its consumers before a provider's release, or `undefined`
 * when it may (a clean pass the room's providers let flow, or a failure receipt of a room with no release step).
 */
export function resultHeld(receipt: Pick<Receipt, "status" | "disclosure">, requireRelease: boolean): string | undefined {
  if (receipt.status !== "succeeded") return requireRelease ? holdReason(undefined, true) : undefined;
  return holdReason(receipt.disclosure, requireRelease);
}

/**
 * The verification report: `verifyResult` (the library, unchanged) run on a result directory, turned into the list of
 * its checks with pass / fail, in the order `verifyResult` makes them, and the claims that matter in plain words.
 *
 * `verifyResult` stops at the first failing check and throws an error whose `code` (and `claim`) say which: the
 * checks before it passed, the ones after it were not reached. A success means every check passed.
 */
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { ROOM_ENV } from "../../core/executor-env.js";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { VERIFY_HINTS } from "../cli/verify.js";
import { AttestationError } from "../verify/errors.js";
import { type ResultSummary, verifyResult } from "../verify/result.js";

/** The outcome of one check. */
export type CheckState = "pass" | "fail" | "not-reached" | "not-applicable";

/** One check of the report. */
export interface ReportCheck {
  readonly id: string;
  /** What is checked, in plain words. */
  readonly title: string;
  /** Why it matters, in plain words. */
  readonly why: string;
  readonly state: CheckState;
  /** The error's message when it failed. */
  readonly detail?: string;
}

/** A verification report. */
export interface VerificationReport {
  readonly verified: boolean;
  readonly checks: readonly ReportCheck[];
  /** The library's summary when every check passed. */
  readonly summary?: ResultSummary;
  /** The error code when a check failed (`nonce`, `digest-mismatch`, …). */
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** What to do about the failure (the hint `cleanroom verify` prints). */
  readonly hint?: string;
}

interface CheckDef {
  readonly id: string;
  readonly title: string;
  readonly why: string;
  /** Does this error mean this check failed? */
  readonly failsOn: (code: string, claim: string | undefined) => boolean;
  readonly gcpOnly?: boolean;
}

/** The checks of `verifyResult`, in the order it makes them. */
export const RESULT_CHECKS: readonly CheckDef[] = [
  {
    id: "files",
    title: "The result has a readable receipt and attestation token",
    why: "Without them nothing about the result can be proven.",
    failsOn: (c) => ["not-found", "invalid-receipt", "invalid-argument", "io-error", "invalid-descriptor"].includes(c),
  },
  {
    id: "format",
    title: "The attestation token is a well-formed signed token",
    why: "A truncated or hand-made token cannot be checked.",
    failsOn: (c) => c === "malformed",
  },
  {
    id: "algorithm",
    title: "The token is signed with the algorithm its issuer uses",
    why: "Stops tokens that claim to need no signature or a shared secret.",
    failsOn: (c) => c === "algorithm",
  },
  {
    id: "chain",
    title: "The token's certificates lead to a trusted root",
    why: "Only the attestation service (Google's, or the local room's) can issue a token that passes.",
    failsOn: (c) => c === "chain" || c === "untrusted-root",
  },
  {
    id: "signature",
    title: "The token's signature is valid",
    why: "Any change to the token after it was issued breaks the signature.",
    failsOn: (c) => c === "signature",
  },
  {
    id: "issuer-audience",
    title: "The token was issued by the attestation service for this room",
    why: "A token meant for another room or service proves nothing here.",
    failsOn: (c) => c === "issuer" || c === "audience",
  },
  {
    id: "time",
    title: "The token was valid at the time it was checked",
    why: "Stops expired or back-dated tokens.",
    failsOn: (c) => c === "expired" || c === "not-yet-valid",
  },
  {
    id: "nonce",
    title: "The token is bound to this exact receipt (its nonce is the receipt's digest)",
    why: "Any edit to the receipt, or a receipt from another run, breaks this link.",
    failsOn: (c) => c === "nonce",
  },
  {
    id: "policy",
    title: "The attested machine satisfies the room's attestation policy",
    why: "The pinned executor image, a production (non-debug) image, the allowed hardware: what providers' keys demand.",
    failsOn: (c, claim) => c === "policy" && claim === "policy",
  },
  {
    id: "timing",
    title: "The token was issued right after the job finished",
    why: "A token issued long after (or before) the receipt is not this run's.",
    failsOn: (c, claim) => c === "policy" && claim === "iat",
  },
  {
    id: "binding",
    title: "The receipt matches the token and the room (job digest, executor image, room, policy, inputs)",
    why: "Proves this job's code, and not another, ran on these inputs in this room.",
    failsOn: (c, claim) => c === "policy" && claim !== "policy" && claim !== "iat" && claim !== `submods.container.env_override.${ROOM_ENV}`,
  },
  {
    id: "attested-room",
    title: "The job ran with this room's descriptor (its output location and limits)",
    why: "Stops a run launched with weaker settings (another output bucket, larger outputs).",
    failsOn: (c, claim) => c === "policy" && claim === `submods.container.env_override.${ROOM_ENV}`,
    gcpOnly: true,
  },
  {
    id: "outputs",
    title: "Every output file matches the receipt (no file changed, missing or added)",
    why: "The files you have are exactly the ones the attested job wrote.",
    failsOn: (c) => c === "digest-mismatch",
  },
  {
    id: "approved",
    title: "The code that produced it was approved by the providers of its data",
    why: "A result that read no input never passed a provider's key release: no provider checked its code.",
    failsOn: (c) => c === "unapproved",
  },
];

/**
 * Verifies `dir` with `verifyResult` and reports every check.
 *
 * @example
 * const report = await verificationReport("./result", descriptor);
 * for (const c of report.checks) console.log(c.state, c.title);
 */
export async function verificationReport(dir: string, descriptor: CleanRoomDescriptor, trustedRoots?: readonly string[]): Promise<VerificationReport> {
  const applicable = (d: CheckDef) => !d.gcpOnly || descriptor.platform === "gcp";
  try {
    const summary = await verifyResult(dir, { descriptor, ...(trustedRoots && trustedRoots.length > 0 ? { trustedRoots } : {}) });
    return {
      verified: true,
      summary,
      checks: RESULT_CHECKS.map((d) => ({ id: d.id, title: d.title, why: d.why, state: applicable(d) ? "pass" : "not-applicable" })),
    };
  } catch (err) {
    const code = err instanceof CleanRoomError ? err.code : "internal";
    const claim = err instanceof AttestationError ? err.claim : undefined;
    const failing = RESULT_CHECKS.findIndex((d) => d.failsOn(code, claim));
    const message = messageOf(err);
    const checks: ReportCheck[] = RESULT_CHECKS.map((d, i) => {
      const base = { id: d.id, title: d.title, why: d.why };
      if (!applicable(d)) return { ...base, state: "not-applicable" };
      if (failing < 0) return { ...base, state: "not-reached" };
      if (i < failing) return { ...base, state: "pass" };
      if (i === failing) return { ...base, state: "fail", detail: message };
      return { ...base, state: "not-reached" };
    });
    if (failing < 0) checks.push({ id: "other", title: "Verification could not complete", why: "An unexpected error stopped it.", state: "fail", detail: message });
    const hint = VERIFY_HINTS[code];
    return { verified: false, checks, errorCode: code, errorMessage: message, ...(hint ? { hint } : {}) };
  }
}

/** A hardware model in plain words. */
export function describeHardware(hwmodel: string | undefined): string {
  switch (hwmodel) {
    case "GCP_AMD_SEV":
      return "AMD SEV confidential VM (memory encrypted by the CPU; the cloud operator cannot read it)";
    case "GCP_AMD_SEV_SNP":
      return "AMD SEV-SNP confidential VM (memory encrypted and integrity-protected by the CPU)";
    case "GCP_INTEL_TDX":
      return "Intel TDX confidential VM (memory encrypted and integrity-protected by the CPU)";
    case "NONE":
    case undefined:
      return "No hardware protection: the local development backend (a sandbox on one machine, not a TEE)";
    default:
      return `${hwmodel} (reported by the attestation service)`;
  }
}

/** A debug status in plain words. */
export function describeDebug(dbgstat: string | undefined): string {
  if (dbgstat === "disabled-since-boot") return "Production image: debugging was disabled from boot, so nobody could look inside the running job";
  if (dbgstat === "enabled") return "Debugging was ENABLED: an operator could have looked inside; do not trust this with real data";
  return `Unknown debug status (${dbgstat ?? "not reported"})`;
}

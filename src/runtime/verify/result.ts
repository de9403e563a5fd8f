/**
 * `verifyResult`: checks a fetched result directory (`outputs/`, `receipt.json`, `attestation.jwt`) against the room
 * that produced it. The token proves the receipt (its nonce is the receipt's digest); the receipt proves the outputs.
 */
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type AttestationClaims, CONFIDENTIAL_SPACE_ISSUER, JOB_DIGEST_ENV, LOCAL_ISSUER, OUTPUT_URI_ENV, evaluateAttestationCondition } from "../../core/attestation.js";
import { type CleanRoomDescriptor, DEBUG_STDERR_MAX_BYTES, loadDescriptor, providerTrust } from "../../core/descriptor.js";
import { canonicalJson, compareManifests, type Manifest, type ManifestDifference, manifestBytes, manifestOf, sha256Hex } from "../../core/digest.js";
import { holdReason, resolveDisclosurePolicy } from "../../core/disclosure-policy.js";
import { type DisclosureReport, disclosurePolicyDigest } from "../../core/disclosure.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { JOB_URI_ENV } from "../../core/executor-env.js";
import { datasetFormat, datasetKind } from "../../core/spec.js";
import {
  nonceForReceipt,
  parseReceipt,
  policyDigest,
  RESULT_FILES,
  type Receipt,
  type ReceiptAdmission,
  type ReceiptInput,
  receiptDigest,
} from "../../core/receipt.js";
import type { TrustStore } from "./chain.js";
import { checkAttestedRoom } from "./attested-room.js";
import { AttestationError } from "./errors.js";
import { decodeTokenTimes, verifyAttestation } from "./token.js";

/** A receipt and its token are written together: a token issued later than this after `finishedAt` is not this job's. */
export const MAX_TOKEN_DELAY_SEC = 3600;
/** Receipts are small JSON; anything larger is not a receipt (and is not read into memory). */
export const MAX_RECEIPT_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 64 * 1024;

/** What `verifyResult` checks a result against. */
export interface VerifyResultOptions {
  /** The room: its descriptor, or the path of its JSON file (`room.json`, `<dir>/descriptor.json`). */
  readonly descriptor: CleanRoomDescriptor | string;
  /** PEM roots for the token's chain. @default - Google's pinned root (gcp); the room's own `attestation.trustedRoots` (local) */
  readonly trustedRoots?: readonly string[];
  /** A `TrustStore` to reuse across many results (instead of `trustedRoots`). */
  readonly trustStore?: TrustStore;
  /**
   * The time to verify the token at. Receipts are checked long after their one-hour token expired, so by default the
   * token is checked as of its own `iat` (which must fall within an hour after the receipt's `finishedAt`); the
   * certificate chain must have been valid then. Pass `new Date()` to demand a still-fresh token.
   * @default - the token's issue time
   */
  readonly currentDate?: Date;
  /** Clock skew allowed, in seconds (max 300). @default 30 */
  readonly clockToleranceSec?: number;
  /**
   * Accept a succeeded result that no provider approved: one that read no input, so no provider's key release ever
   * checked its code. The summary then says `approved: false` and its verdict starts with `VERIFIED, BUT UNAPPROVED`.
   * Only for inspecting such a result: its outputs are not those of approved code.
   * @default false - such a result fails with `unapproved`
   */
  readonly allowUnapproved?: boolean;
}

/** The platform a token attests to. */
export interface ResultHardware {
  /** e.g. `GCP_INTEL_TDX`, `GCP_AMD_SEV`, or `NONE` for the local backend. */
  readonly hwmodel?: string;
  /** `CONFIDENTIAL_SPACE` or `CLEANROOM_LOCAL`. */
  readonly swname?: string;
  readonly swversion?: readonly string[];
  /** `disabled-since-boot` (production) or `enabled` (debug / local). */
  readonly dbgstat?: string;
  readonly secboot?: boolean;
  readonly supportAttributes: readonly string[];
  /** GCP project and zone the VM ran in, when the token says. */
  readonly project?: string;
  readonly zone?: string;
}

/** The disclosure checks a verified result carries (its receipt's report, re-checked against the room's policy). */
export interface ResultDisclosure {
  /** `review`, `enforce` or `off`: the job's effective mode. */
  readonly mode: string;
  /** `pass`, `review` or `fail`: the worst verdict of the outputs. */
  readonly verdict: string;
  /** True when the checks withheld every output (enforce mode). */
  readonly withheld: boolean;
  /** Why the result needs a provider's release before it may flow to its consumers; absent when it may flow. */
  readonly held?: string;
  /** The full report (as in the receipt and `outputs.check.json`). */
  readonly report: DisclosureReport;
}

/** What a verified result proves. Returned only when every check passed. */
export interface ResultSummary {
  /** Always true: a failed check throws instead. */
  readonly verified: true;
  /** One sentence for people. */
  readonly verdict: string;
  readonly room: string;
  readonly jobId: string;
  /** `succeeded`, or `failed` (a verified failure: the receipt proves the job failed, and why). */
  readonly status: string;
  readonly exitCode?: number;
  readonly error?: string;
  readonly errorCode?: string;
  readonly platform: string;
  readonly sandbox: string;
  readonly jobDigest: string;
  readonly executorImageDigest: string;
  /** The executor image reference the token reports (informative; the digest is what is pinned). */
  readonly imageReference?: string;
  readonly policyDigest: string;
  readonly receiptDigest: string;
  readonly inputs: readonly ReceiptInput[];
  readonly outputs: Manifest;
  readonly outputBytes: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Providers of the room whose `approvedJobs` list this job digest. */
  readonly approvedBy: readonly string[];
  /**
   * Whether the providers of the job's data approved it when it ran: the receipt lists at least one input, and the
   * attested executor reads an input only after that provider's key release (Cloud KMS or the local broker, under the
   * room's code policy) admitted the job. False for a result that read nothing, which no provider ever checked: such a
   * succeeded result verifies only with `allowUnapproved`.
   */
  readonly approved: boolean;
  /**
   * Providers of the job's inputs whose `approvedJobs` in the verifier's descriptor do not list its digest (under
   * `approved-jobs`): they approved it when it ran (their key opened) and have revoked it since, or the descriptor is
   * out of date. Empty otherwise.
   */
  readonly approvalWithdrawnBy: readonly string[];
  /** The provider policies that admitted the run (each checked against the token's claims); empty for older receipts. */
  readonly admittedBy: readonly ReceiptAdmission[];
  /** The disclosure checks of the outputs; absent for a receipt of an executor that predates them, or a failure before outputs. */
  readonly disclosure?: ResultDisclosure;
  /**
   * True when the room was started with `cleanroom local up --debug-logs` (its receipt says so, and so does the
   * attested descriptor): failed jobs' stderr reached their submitters unchecked; not a production-grade room.
   */
  readonly debugLogs: boolean;
  /** The failed job's stderr kept in the result (`stderr.txt`, checked against the receipt), in a debug-logs room. */
  readonly stderr?: { readonly file: string; readonly bytes: number; readonly truncated: boolean };
  readonly hardware: ResultHardware;
  readonly token: {
    readonly issuer: string;
    readonly audience: string;
    readonly issuedAt: string;
    readonly expiresAt: string;
    /** The time the token and its certificates were checked at. */
    readonly verifiedAt: string;
  };
}

async function readSmall(path: string, max: number, what: string): Promise<string> {
  let size: number;
  try {
    size = (await lstat(path)).size;
  } catch (err) {
    throw new CleanRoomError("not-found", `${what} ${path} is missing: a result directory holds outputs/, ${RESULT_FILES.receipt} and ${RESULT_FILES.token}`, {
      cause: err,
    });
  }
  if (size > max) throw new CleanRoomError("invalid-argument", `${what} ${path} is ${size} bytes; at most ${max} are expected`);
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read ${path}: ${messageOf(err)}`, { cause: err });
  }
}

async function outputsManifest(dir: string): Promise<Manifest> {
  try {
    await lstat(dir);
  } catch {
    // A failed job has no outputs, and a fetch of it may not create the directory at all.
    return [];
  }
  return manifestOf(dir);
}

function describeDiffs(diffs: readonly ManifestDifference[]): string {
  const what = { changed: "content differs from the receipt", missing: "in the receipt but not on disk", extra: "on disk but not in the receipt" };
  return diffs.map((d) => `outputs/${d.path}: ${what[d.kind]}`).join("; ");
}

function mismatch(claim: string, expected: string, got: unknown, hint: string): AttestationError {
  return new AttestationError("policy", `${claim}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}; ${hint}`, { claim });
}

function crossCheck(receipt: Receipt, descriptor: CleanRoomDescriptor, claims: AttestationClaims): void {
  // receipt.room was compared with the descriptor before the token was verified (verifyResult), and the token's nonce
  // binds it: it is not checked again here.
  if (receipt.platform !== descriptor.platform) {
    throw mismatch("receipt.platform", descriptor.platform, receipt.platform, "the receipt was produced on another backend");
  }
  if ((receipt.debugLogs === true) !== (descriptor.debugLogs === true)) {
    throw mismatch(
      "receipt.debugLogs",
      String(descriptor.debugLogs === true),
      String(receipt.debugLogs === true),
      "the receipt and the room disagree on whether failed jobs' stderr is kept (`local up --debug-logs`): check --room",
    );
  }
  const expectedPolicy = policyDigest(descriptor.attestation.condition);
  if (receipt.policyDigest !== expectedPolicy) {
    throw mismatch("receipt.policyDigest", expectedPolicy, receipt.policyDigest, "the room's attestation policy changed since the job ran, or the descriptor is not this room's");
  }
  const container = claims.submods?.container;
  if (container?.image_digest !== receipt.executorImageDigest) {
    throw mismatch(
      "submods.container.image_digest",
      receipt.executorImageDigest,
      container?.image_digest,
      "the attested image is not the executor the receipt names",
    );
  }
  const envJob = container?.env_override?.[JOB_DIGEST_ENV];
  if (envJob !== receipt.jobDigest) {
    throw mismatch(`submods.container.env_override.${JOB_DIGEST_ENV}`, receipt.jobDigest, envJob, "the attested workload was started for another job");
  }
  for (const input of receipt.inputs) {
    const p = descriptor.providers.find((x) => x.name === input.provider);
    const ds = p?.datasets.find((d) => d.name === input.dataset);
    if (!ds) {
      throw mismatch("receipt.inputs", `a dataset of room ${descriptor.name}`, `${input.provider}/${input.dataset}`, "the receipt names an input this room does not have");
    }
    // The job read the dataset as the kind the room declares (a table receipt has no kind).
    if (datasetKind({ kind: input.kind }) !== datasetKind(ds)) {
      throw mismatch(`receipt.inputs[${input.provider}/${input.dataset}].kind`, datasetKind(ds), datasetKind({ kind: input.kind }), "the job read the dataset as another kind than the room declares");
    }
    // The job read the table in the format the room declares (a CSV receipt has no format).
    if (datasetFormat({ format: input.format }) !== datasetFormat(ds)) {
      throw mismatch(`receipt.inputs[${input.provider}/${input.dataset}].format`, datasetFormat(ds), datasetFormat({ format: input.format }), "the job read the dataset in another table format than the room declares");
    }
    if (receipt.admittedBy !== undefined && !receipt.admittedBy.some((a) => a.provider === input.provider)) {
      throw mismatch("receipt.admittedBy", `an admission by provider ${input.provider}`, receipt.admittedBy, "the receipt names an input whose provider's policy did not admit the run");
    }
  }
  for (const a of receipt.admittedBy ?? []) {
    const p = descriptor.providers.find((x) => x.name === a.provider);
    if (!p) throw mismatch("receipt.admittedBy", `a provider of room ${descriptor.name}`, a.provider, "the receipt names a provider this room does not have");
    // Each admitting policy is the one the provider publishes now, and the attested claims really satisfy it.
    const trust = providerTrust(descriptor, p);
    if (a.policyDigest !== policyDigest(trust.condition) || a.own !== trust.own) {
      throw mismatch(
        `receipt.admittedBy[${a.provider}]`,
        policyDigest(trust.condition),
        a.policyDigest,
        `provider ${a.provider}'s attestation policy changed since the job ran, or the descriptor is not this room's`,
      );
    }
    const verdict = evaluateAttestationCondition(trust.condition, claims);
    if (!verdict.allowed) {
      throw new AttestationError("policy", `The attested claims do not satisfy provider ${a.provider}'s ${trust.own ? "own " : ""}policy: ${verdict.reason ?? "denied"}`, {
        claim: `receipt.admittedBy[${a.provider}]`,
      });
    }
  }
}

/**
 * Whether a result's job was approved when it ran (it read an input: each input's key release admitted it) and which
 * providers of its inputs no longer list it in the verifier's descriptor.
 */
function approvalOf(receipt: Receipt, descriptor: CleanRoomDescriptor): { readonly approved: boolean; readonly withdrawnBy: readonly string[] } {
  const providers = [...new Set(receipt.inputs.map((i) => i.provider))];
  const withdrawnBy =
    descriptor.codePolicy === "approved-jobs" ? providers.filter((p) => !descriptor.providers.find((x) => x.name === p)?.approvedJobs.includes(receipt.jobDigest)) : [];
  return { approved: receipt.inputs.length > 0, withdrawnBy };
}

/** `<prefix>/<jobId>`, as the runtime names a job's objects. */
function entryUri(prefix: string, jobId: string): string {
  return `${prefix.replace(/\/+$/, "")}/${jobId}`;
}

/**
 * The token was issued for one job: its output location and job location (and, locally, its subject) must name the
 * receipt's job. Otherwise anything that can ask a job's launcher socket for a token (the job itself on GCP, any
 * process of the room's owner locally) could attest a receipt for another job.
 */
function checkJobBinding(receipt: Receipt, descriptor: CleanRoomDescriptor, claims: AttestationClaims): void {
  const env = claims.submods?.container?.env_override;
  const hint = "the attestation token was issued for another job's result: do not trust this receipt";
  for (const [name, prefix] of [
    [OUTPUT_URI_ENV, descriptor.storage.quarantine],
    [JOB_URI_ENV, descriptor.storage.jobs],
  ] as const) {
    const expected = entryUri(prefix, receipt.jobId);
    if (env?.[name] !== expected) throw mismatch(`submods.container.env_override.${name}`, expected, env?.[name], hint);
  }
  if (descriptor.platform === "local") {
    const sub = `local://${descriptor.name}/jobs/${receipt.jobId}`;
    if (claims.sub !== sub) throw new AttestationError("policy", `sub: expected ${JSON.stringify(sub)}, got ${JSON.stringify(claims.sub)}; ${hint}`, { claim: "sub" });
  }
}

/**
 * Checks `stderr.txt` of a result against its receipt: the bytes a debug-logs room kept, or no such file at all (one
 * left beside a receipt that lists none did not come from the executor: whoever handed the result over wrote it).
 *
 * @throws CleanRoomError `digest-mismatch`
 */
async function checkStderr(resultDir: string, receipt: Receipt): Promise<ResultSummary["stderr"]> {
  const path = join(resultDir, RESULT_FILES.stderr);
  const st = await lstat(path).catch(() => undefined);
  const present = st !== undefined;
  const expected = receipt.stderr;
  if (!expected) {
    if (!present) return undefined;
    throw new CleanRoomError(
      "digest-mismatch",
      `${RESULT_FILES.stderr} is in the result but its receipt lists no kept stderr: it was added after the job; do not trust it`,
      { problems: [`${RESULT_FILES.stderr}: extra`] },
    );
  }
  if (!present) {
    throw new CleanRoomError("digest-mismatch", `The receipt lists the job's kept stderr but ${RESULT_FILES.stderr} is missing: fetch the result again`, {
      problems: [`${RESULT_FILES.stderr}: missing`],
    });
  }
  // As bytes, not text (a job's stderr need not be UTF-8), and never more than a room keeps.
  let raw: Buffer | undefined;
  if (st.isFile() && st.size <= DEBUG_STDERR_MAX_BYTES) {
    try {
      raw = await readFile(path);
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot read ${path}: ${messageOf(err)}`, { cause: err });
    }
  }
  if (raw === undefined || raw.length !== expected.bytes || sha256Hex(raw) !== expected.sha256) {
    throw new CleanRoomError("digest-mismatch", `${RESULT_FILES.stderr} differs from the attested receipt: it was changed after the job; do not trust it`, {
      problems: [`${RESULT_FILES.stderr}: changed`],
    });
  }
  return { file: RESULT_FILES.stderr, bytes: expected.bytes, truncated: expected.truncated };
}

/**
 * Checks a result's disclosure report: the receipt's (already validated in shape and consistency by `parseReceipt`, and
 * covered by the nonce) must be of the policy the room's descriptor gives for the receipt's inputs, and
 * `outputs.check.json`, when present, must be the receipt's report.
 *
 * @throws AttestationError `policy` when the report's policy is not the room's; CleanRoomError `digest-mismatch` for an
 *   `outputs.check.json` that differs from the receipt (or that a receipt without a report does not list)
 */
async function checkDisclosureOf(resultDir: string, receipt: Receipt, descriptor: CleanRoomDescriptor): Promise<ResultDisclosure | undefined> {
  const path = join(resultDir, RESULT_FILES.check);
  const st = await lstat(path).catch(() => undefined);
  const report = receipt.disclosure;
  if (!report) {
    if (st === undefined) return undefined;
    throw new CleanRoomError("digest-mismatch", `${RESULT_FILES.check} is in the result but its receipt has no disclosure report: it was added after the job; do not trust it`, {
      problems: [`${RESULT_FILES.check}: extra`],
    });
  }
  const expected = resolveDisclosurePolicy(descriptor, receipt.inputs);
  if (report.policyDigest !== disclosurePolicyDigest(expected)) {
    throw new AttestationError(
      "policy",
      `receipt.disclosure.policyDigest: expected ${disclosurePolicyDigest(expected)} (the disclosure policy room ${descriptor.name} gives for this job's inputs), got ${report.policyDigest}: ` +
        "the room's disclosure settings changed since the job ran, or the descriptor is not this room's",
      { claim: "receipt.disclosure.policyDigest" },
    );
  }
  if (st !== undefined) {
    let file: unknown;
    try {
      file = st.isFile() && st.size <= MAX_RECEIPT_BYTES ? JSON.parse(await readFile(path, "utf8")) : undefined;
    } catch {
      // Unreadable, or not JSON: `file` stays undefined, which the check below refuses.
    }
    if (file === undefined || canonicalJson(file) !== canonicalJson(report)) {
      throw new CleanRoomError("digest-mismatch", `${RESULT_FILES.check} differs from the attested receipt's disclosure report: it was changed after the job; read the receipt's instead`, {
        problems: [`${RESULT_FILES.check}: changed`],
      });
    }
  }
  const held = holdReason(report, descriptor.output.requireRelease);
  return { mode: report.policy.mode, verdict: report.verdict, withheld: report.withheld, ...(held ? { held } : {}), report };
}

/**
 * Verifies a job result, offline: the token (chain to the room's pinned roots, signature, audience, the room's
 * attestation policy, nonce = digest of the receipt), the receipt against the token (image digest, job digest) and
 * the room (name, platform, policy digest, inputs), then every output file against the receipt.
 *
 * A receipt with status `failed` verifies too: it proves the job ran and failed; the summary says so. A succeeded result
 * of code no provider approved (it read no input, so no key release ever checked it) does not, unless
 * `allowUnapproved`.
 *
 * @example
 * const summary = await verifyResult("./result-7f3a", { descriptor: "room.json" });
 * console.log(summary.verdict);
 *
 * @throws AttestationError when the token or its binding fails (`nonce` when the receipt was edited, `policy` when the
 *   receipt and the token or room disagree, `unapproved` for a succeeded result of unapproved code, …)
 * @throws CleanRoomError `digest-mismatch` naming every output file that differs (changed, missing, extra);
 *   `invalid-receipt`, `invalid-descriptor`, `not-found`, `io-error` for unreadable input
 */
export async function verifyResult(resultDir: string, options: VerifyResultOptions): Promise<ResultSummary> {
  if (typeof resultDir !== "string" || resultDir.length === 0) throw new CleanRoomError("invalid-argument", "resultDir must be the path of a fetched result directory");
  if (options === null || typeof options !== "object" || options.descriptor === undefined) {
    throw new CleanRoomError("invalid-argument", "options.descriptor is required: the room's descriptor object or the path of its JSON file");
  }
  const descriptor = loadDescriptor(options.descriptor);
  const receipt = parseReceipt(await readSmall(join(resultDir, RESULT_FILES.receipt), MAX_RECEIPT_BYTES, "The receipt"));
  const token = (await readSmall(join(resultDir, RESULT_FILES.token), MAX_TOKEN_BYTES, "The attestation token")).trim();

  const local = descriptor.platform === "local";
  const issuer = local ? LOCAL_ISSUER : CONFIDENTIAL_SPACE_ISSUER;
  const roots = options.trustStore ? undefined : (options.trustedRoots ?? (local ? descriptor.attestation.trustedRoots : undefined));
  if (local && !options.trustStore && roots === undefined) {
    throw new CleanRoomError(
      "invalid-argument",
      "A local room's results need its root: the descriptor has no attestation.trustedRoots; pass --trusted-root <root.pem> from the room's directory",
    );
  }
  // Said first, before the chain: another room's result fails there too (its root is not this room's), and "untrusted
  // root" would send the user after the wrong problem. The receipt is not trusted yet; this only refuses earlier.
  if (receipt.room !== descriptor.name) {
    throw new AttestationError(
      "policy",
      `This result comes from another room: its receipt.room is ${JSON.stringify(receipt.room)}, the descriptor is room ${JSON.stringify(descriptor.name)}. ` +
        `Verify it with room ${JSON.stringify(receipt.room)}'s descriptor (--room).`,
      { claim: "receipt.room" },
    );
  }
  const times = decodeTokenTimes(token);
  const at = options.currentDate ?? new Date(times.iat * 1000);

  const claims = await verifyAttestation(token, {
    audience: descriptor.attestation.audience,
    issuer,
    nonce: nonceForReceipt(receipt),
    policy: descriptor.attestation.policy,
    currentDate: at,
    ...(options.clockToleranceSec !== undefined ? { clockToleranceSec: options.clockToleranceSec } : {}),
    ...(options.trustStore ? { trustStore: options.trustStore } : roots !== undefined ? { trustedRoots: roots } : {}),
  });

  const tol = options.clockToleranceSec ?? 30;
  const finished = Date.parse(receipt.finishedAt) / 1000;
  if (times.iat < finished - tol || times.iat > finished + MAX_TOKEN_DELAY_SEC) {
    throw new AttestationError(
      "policy",
      `iat: expected the token to be issued within ${MAX_TOKEN_DELAY_SEC} s after receipt.finishedAt ${receipt.finishedAt}, got ${new Date(times.iat * 1000).toISOString()}`,
      { claim: "iat" },
    );
  }
  crossCheck(receipt, descriptor, claims);
  checkJobBinding(receipt, descriptor, claims);
  // The descriptor the executor enforced (inlined by the submitter on GCP, by the launcher locally) is in the token: it
  // must be this room's, so a run with e.g. a larger output cap does not verify as a run of this room.
  checkAttestedRoom(claims.submods?.container?.env_override, descriptor);

  const diffs = compareManifests(receipt.outputs, await outputsManifest(join(resultDir, RESULT_FILES.outputs)));
  if (diffs.length > 0) {
    throw new CleanRoomError(
      "digest-mismatch",
      `The outputs do not match the attested receipt (${diffs.length} file(s)): ${describeDiffs(diffs)}. ` +
        "Fetch the result again; do not trust these files.",
      { problems: diffs.map((d) => `outputs/${d.path}: ${d.kind}`) },
    );
  }

  const stderr = await checkStderr(resultDir, receipt);
  const disclosure = await checkDisclosureOf(resultDir, receipt, descriptor);

  const approval = approvalOf(receipt, descriptor);
  const unapproved = "it read no input, so no provider's key release ever checked its code";
  if (!approval.approved && receipt.status === "succeeded" && options.allowUnapproved !== true) {
    throw new AttestationError(
      "unapproved",
      `Job ${receipt.jobDigest} produced this result, but ${unapproved}. It is not the output of code the data's providers approved: do not use it. ` +
        "(To inspect it anyway, pass allowUnapproved / --allow-unapproved.)",
      { claim: "receipt.inputs" },
    );
  }

  const gce = claims.submods?.gce;
  const hardware: ResultHardware = {
    supportAttributes: claims.submods?.confidential_space?.support_attributes ?? [],
    ...(claims.hwmodel !== undefined ? { hwmodel: claims.hwmodel } : {}),
    ...(claims.swname !== undefined ? { swname: claims.swname } : {}),
    ...(claims.swversion !== undefined ? { swversion: claims.swversion } : {}),
    ...(claims.dbgstat !== undefined ? { dbgstat: claims.dbgstat } : {}),
    ...(claims.secboot !== undefined ? { secboot: claims.secboot } : {}),
    ...(gce?.project_id !== undefined ? { project: gce.project_id } : {}),
    ...(gce?.zone !== undefined ? { zone: gce.zone } : {}),
  };
  const where = local
    ? `on the LOCAL backend (sandbox: ${receipt.sandbox}${receipt.debugLogs ? "; DEBUG LOGS: failed jobs' stderr kept" : ""}; no hardware TEE — for development only)`
    : `in Confidential Space on ${hardware.hwmodel ?? "unknown hardware"}`;
  const verdict =
    receipt.status !== "succeeded"
      ? `VERIFIED FAILURE: job ${receipt.jobId} (${receipt.jobDigest}) ran ${where} and FAILED (${receipt.errorCode ?? "error"}${receipt.error ? `: ${receipt.error}` : ""}); no outputs were released.`
      : approval.approved
        ? `VERIFIED: job ${receipt.jobId} (${receipt.jobDigest}) ran ${where} with executor ${receipt.executorImageDigest} and produced these ${receipt.outputs.length} output file(s).`
        : `VERIFIED, BUT UNAPPROVED: job ${receipt.jobId} (${receipt.jobDigest}) ran ${where} and produced these ${receipt.outputs.length} output file(s), but ${unapproved}: they are not the output of approved code.`;
  const checks = disclosure ? ` Disclosure checks (${disclosure.mode}): ${disclosure.mode === "off" ? "none run" : disclosure.verdict}${disclosure.withheld ? ", outputs withheld" : ""}.` : "";
  const imageReference = claims.submods?.container?.image_reference;
  return {
    verified: true,
    verdict: `${verdict}${checks}`,
    room: receipt.room,
    jobId: receipt.jobId,
    status: receipt.status,
    ...(receipt.exitCode !== undefined ? { exitCode: receipt.exitCode } : {}),
    ...(receipt.error !== undefined ? { error: receipt.error } : {}),
    ...(receipt.errorCode !== undefined ? { errorCode: receipt.errorCode } : {}),
    platform: receipt.platform,
    sandbox: receipt.sandbox,
    jobDigest: receipt.jobDigest,
    executorImageDigest: receipt.executorImageDigest,
    ...(imageReference !== undefined ? { imageReference } : {}),
    policyDigest: receipt.policyDigest,
    receiptDigest: receiptDigest(receipt),
    inputs: receipt.inputs,
    outputs: receipt.outputs,
    outputBytes: manifestBytes(receipt.outputs),
    startedAt: receipt.startedAt,
    finishedAt: receipt.finishedAt,
    approvedBy: descriptor.providers.filter((p) => p.approvedJobs.includes(receipt.jobDigest)).map((p) => p.name),
    approved: approval.approved,
    approvalWithdrawnBy: approval.withdrawnBy,
    admittedBy: receipt.admittedBy ?? [],
    ...(disclosure ? { disclosure } : {}),
    debugLogs: receipt.debugLogs === true,
    ...(stderr ? { stderr } : {}),
    hardware,
    token: {
      issuer,
      audience: descriptor.attestation.audience,
      issuedAt: new Date(times.iat * 1000).toISOString(),
      expiresAt: new Date(times.exp * 1000).toISOString(),
      verifiedAt: at.toISOString(),
    },
  };
}

/**
 * Turns what the Google client libraries throw into `CleanRoomError`s that name the GCP cause and the fix.
 *
 * The libraries surface errors differently (storage: `ApiError` with `code` and `errors[]`; compute and kms over
 * REST: `GaxiosError` whose `code` is the HTTP status and whose message is the raw JSON body; compute operations:
 * an `error.errors[]` list inside a finished Operation). `inspectGcpError` normalises all of them, and
 * `gcpError` writes the message a person needs: which role is missing, which API to enable, which quota to raise.
 */
import { CleanRoomError, messageOf } from "../../../core/errors.js";

/** What we could learn from an error thrown by a Google client library. */
export interface GcpErrorInfo {
  /** HTTP status, when known. */
  readonly status?: number;
  /** Google's machine reason (`forbidden`, `accessNotConfigured`, `SERVICE_DISABLED`, `QUOTA_EXCEEDED`, …). */
  readonly reasons: readonly string[];
  /** Google's human message. */
  readonly message: string;
  /** The API service name for SERVICE_DISABLED errors (e.g. `compute.googleapis.com`). */
  readonly service?: string;
  /** The quota name for quota errors (e.g. `N2D_CPUS`). */
  readonly quota?: string;
  /** A Node network error code (`ECONNREFUSED`, `ECONNRESET`, …). */
  readonly netCode?: string;
}

/** What an error means for the caller. */
export type GcpErrorKind =
  | "permission"
  | "attestation-rejected"
  | "api-disabled"
  | "quota"
  | "capacity"
  | "rate-limit"
  | "unavailable"
  | "corrupt"
  | "not-found"
  | "conflict"
  | "unauthenticated"
  | "precondition"
  | "other";

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object";
}

function collectReasons(body: unknown, out: string[]): { message?: string; service?: string; status?: number } {
  if (!isObject(body)) return {};
  const e = isObject(body.error) ? body.error : body;
  const res: { message?: string; service?: string; status?: number } = {};
  if (typeof e.message === "string") res.message = e.message;
  if (typeof e.code === "number") res.status = e.code;
  if (typeof e.status === "string") out.push(e.status);
  if (Array.isArray(e.errors)) {
    for (const x of e.errors) {
      if (!isObject(x)) continue;
      if (typeof x.reason === "string") out.push(x.reason);
      // Compute operation errors carry the reason in `code` (e.g. QUOTA_EXCEEDED).
      if (typeof x.code === "string") out.push(x.code);
      if (res.message === undefined && typeof x.message === "string") res.message = x.message;
    }
  }
  if (Array.isArray(e.details)) {
    for (const d of e.details) {
      if (!isObject(d)) continue;
      if (typeof d.reason === "string") out.push(d.reason);
      if (isObject(d.metadata) && typeof d.metadata.service === "string") res.service = d.metadata.service;
    }
  }
  return res;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Normalises any error from `@google-cloud/*`, `google-auth-library`, or a compute Operation's `error` field. */
export function inspectGcpError(err: unknown): GcpErrorInfo {
  const reasons: string[] = [];
  let status: number | undefined;
  let message = messageOf(err);
  let service: string | undefined;
  let netCode: string | undefined;
  if (isObject(err)) {
    if (typeof err.code === "number") status = err.code;
    else if (typeof err.code === "string" && /^\d{3}$/.test(err.code)) status = Number(err.code);
    else if (typeof err.code === "string" && /^E[A-Z]+$/.test(err.code)) netCode = err.code;
    else if (typeof err.code === "string" && /^[A-Z][A-Z0-9_]+$/.test(err.code)) reasons.push(err.code);
    if (typeof err.status === "number") status ??= err.status;
    const response = isObject(err.response) ? err.response : undefined;
    if (response && typeof response.status === "number") status ??= response.status;
    const bodies: unknown[] = [response?.data, typeof err.message === "string" ? parseJson(err.message) : undefined, err];
    for (const b of bodies) {
      const r = collectReasons(typeof b === "string" ? parseJson(b) : b, reasons);
      if (r.message && (message === messageOf(err) || message.startsWith("{"))) message = r.message;
      service ??= r.service;
      status ??= r.status;
    }
    if (Array.isArray(err.errors)) {
      for (const x of err.errors) if (isObject(x) && typeof x.reason === "string") reasons.push(x.reason);
    }
  }
  // Google's messages name the quota as `Quota 'CPUS' exceeded` and the API as `compute.googleapis.com`.
  const quota = /Quota '([A-Za-z0-9_-]+)' exceeded/.exec(message)?.[1];
  service ??= /\b([a-z0-9-]+\.googleapis\.com)\b/.exec(message)?.[1];
  return {
    reasons: [...new Set(reasons)],
    message,
    ...(status !== undefined ? { status } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(quota !== undefined ? { quota } : {}),
    ...(netCode !== undefined ? { netCode } : {}),
  };
}

/** Classifies an error. */
export function classifyGcpError(info: GcpErrorInfo): GcpErrorKind {
  const r = new Set(info.reasons);
  const m = info.message;
  if (r.has("SERVICE_DISABLED") || r.has("accessNotConfigured") || /has not been used in project|it is disabled|API has not been used/i.test(m)) {
    return "api-disabled";
  }
  // A zone out of capacity for the machine type is not a quota of the project: raising a quota does not help.
  if (r.has("ZONE_RESOURCE_POOL_EXHAUSTED") || r.has("ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS") || /does not have enough resources available/i.test(m)) return "capacity";
  if (info.quota !== undefined || r.has("QUOTA_EXCEEDED") || r.has("quotaExceeded") || (r.has("RESOURCE_EXHAUSTED") && /quota/i.test(m))) {
    return "quota";
  }
  // Integrity checks: storage's client-side CRC32C/MD5 comparison, or GCS refusing declared hashes that do not match.
  if (r.has("FILE_NO_UPLOAD") || r.has("CONTENT_DOWNLOAD_MISMATCH") || r.has("CRC32C_MISMATCH") || /did not match|doesn't match calculated|checksum.*(mismatch|did not match)/i.test(m)) return "corrupt";
  // STS refusing the VM's token under the pool provider's attribute condition: final, not an IAM delay.
  if (/rejected by the attribute condition/i.test(m)) return "attestation-rejected";
  if (info.status === 429 || r.has("rateLimitExceeded") || r.has("userRateLimitExceeded") || r.has("RATE_LIMIT_EXCEEDED")) return "rate-limit";
  if (info.status === 401 || r.has("UNAUTHENTICATED")) return "unauthenticated";
  if (info.status === 403 || r.has("forbidden") || r.has("PERMISSION_DENIED")) return "permission";
  if (info.status === 404 || r.has("notFound") || r.has("NOT_FOUND")) return "not-found";
  if (info.status === 409) return "conflict";
  if (info.status === 412) return "precondition";
  if (info.status !== undefined && info.status >= 500) return "unavailable";
  if (info.netCode && ["ECONNRESET", "ETIMEDOUT", "EAI_AGAIN", "EPIPE", "ECONNREFUSED"].includes(info.netCode)) return "unavailable";
  return "other";
}

/** What the failed call was doing, so the message can name the fix. */
export interface GcpCallContext {
  /** e.g. `upload the job bundle to gs://room-jobs/job-1/bundle.tar`. */
  readonly action: string;
  /** The role that allows it, e.g. `roles/storage.objectCreator on gs://room-jobs`. */
  readonly role?: string;
  /** The API it uses, e.g. `storage.googleapis.com`. */
  readonly api?: string;
  /** The project, when known (for `gcloud` commands in the message). */
  readonly project?: string;
}

/** Stable codes of GCP failures (on top of `not-found`, `denied`, `timeout`). */
export const GCP_ERROR_CODES = {
  apiDisabled: "gcp-api-disabled",
  quota: "gcp-quota",
  capacity: "gcp-capacity",
  unauthenticated: "gcp-unauthenticated",
  corrupt: "gcp-corrupt",
  other: "gcp-error",
} as const;

/** Builds the `CleanRoomError` for a failed Google API call: the GCP cause, then what to do. */
export function gcpError(err: unknown, ctx: GcpCallContext): CleanRoomError {
  if (err instanceof CleanRoomError) return err;
  const info = inspectGcpError(err);
  const kind = classifyGcpError(info);
  const cause = `Cannot ${ctx.action}: ${info.status !== undefined ? `HTTP ${info.status} ` : ""}${info.message}`;
  const projectFlag = ctx.project ? ` --project ${ctx.project}` : "";
  switch (kind) {
    case "api-disabled": {
      const api = info.service ?? ctx.api ?? "the API";
      return new CleanRoomError(
        GCP_ERROR_CODES.apiDisabled,
        `${cause}. The ${api} API is not enabled${ctx.project ? ` in project ${ctx.project}` : ""}: run \`gcloud services enable ${api}${projectFlag}\` (the DataCleanRoom component enables it on \`pulumi up\`), wait a minute, and retry.`,
        { cause: err },
      );
    }
    case "quota":
      return new CleanRoomError(
        GCP_ERROR_CODES.quota,
        `${cause}. ${info.quota ? `Quota ${info.quota}` : "A quota"} is exhausted${ctx.project ? ` in project ${ctx.project}` : ""}: request more at https://console.cloud.google.com/iam-admin/quotas${ctx.project ? `?project=${ctx.project}` : ""}${info.quota ? ` (filter on ${info.quota})` : ""}, delete finished job VMs (\`gcloud compute instances list --filter=labels.cleanroom-job:*${projectFlag}\`), or deploy the room with a smaller machine type or in another zone.`,
        { cause: err },
      );
    case "capacity":
      return new CleanRoomError(
        GCP_ERROR_CODES.capacity,
        `${cause}. The zone has no capacity for this Confidential VM machine type right now (a stock-out, not your quota): retry in a few minutes, or deploy the room in another zone (\`zone\` of the DataCleanRoom) or with another machine type.`,
        { cause: err },
      );
    case "corrupt":
      return new CleanRoomError(
        GCP_ERROR_CODES.corrupt,
        `${cause}. The CRC32C/MD5 check failed: the bytes were corrupted in transit (the upload was refused or removed; nothing partial is kept). Retry the command; if it keeps failing, check the network path (proxies rewriting bodies).`,
        { cause: err },
      );
    case "precondition":
      return new CleanRoomError(
        "already-exists",
        `${cause}. The object already exists and is never overwritten (create-only writes, ifGenerationMatch=0): each job and dataset writes its objects once.`,
        { cause: err },
      );
    case "unauthenticated":
      return new CleanRoomError(
        GCP_ERROR_CODES.unauthenticated,
        `${cause}. Your Google credentials are missing or expired: run \`gcloud auth application-default login\` (or set GOOGLE_APPLICATION_CREDENTIALS), then retry.`,
        { cause: err },
      );
    case "permission":
      return new CleanRoomError(
        "denied",
        `${cause}. The caller lacks the permission${ctx.role ? `: it needs ${ctx.role}` : ""} (grant it with the room's grant* methods, see docs/gcp-runtime.md "Roles"). A role granted in the last few minutes may still be propagating: retry shortly.`,
        { cause: err },
      );
    case "attestation-rejected":
      return new CleanRoomError(
        "denied",
        `${cause}. Google's STS refused this VM's attestation token: it does not satisfy the condition of the pool it was exchanged at ` +
          "(the room's pool for job bundles and quarantine; a provider's own pool for that provider's bucket and key): executor image digest, " +
          "production image, workload service account, project, hardware, and the room's quarantine as the output location. The VM was not " +
          "launched as a run that condition admits: submit with `cleanroom job submit --room <the deployed room.json>`; " +
          "`cleanroom policy test --claims [--provider <name>]` names the failing clause.",
        { cause: err },
      );
    case "not-found":
      return new CleanRoomError("not-found", `${cause}. Check the room descriptor is the deployed one (\`pulumi stack output descriptor --json > room.json\`).`, { cause: err });
    default:
      return new CleanRoomError(GCP_ERROR_CODES.other, `${cause}. ${kind === "unavailable" || kind === "rate-limit" ? "Google Cloud is unavailable or throttling; retry later." : "See docs/gcp-runtime.md \"Errors\"."}`, {
        cause: err,
      });
  }
}

/**
 * Retries Google API calls with capped exponential backoff and full jitter.
 *
 * The client libraries' own retries are switched off (storage) or do not work over REST (compute and kms with gax 5
 * never retry a REST error), so this is the one retry policy of the GCP runtime: 429, 5xx and connection resets are
 * retried, and so is a CRC32C/MD5 mismatch (corruption in transit); a 403 PERMISSION_DENIED is retried a few times too, because an IAM binding made by `pulumi up` minutes ago
 * may still be propagating; API-disabled, quota and not-found errors fail at once (waiting does not fix them).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type GcpCallContext, classifyGcpError, gcpError, inspectGcpError } from "./errors.js";

/** Retry settings. */
export interface RetryPolicy {
  /** Total attempts for transient errors (429, 5xx, resets). @default 6 */
  readonly attempts: number;
  /** Attempts for 403 permission errors (IAM propagation). @default 4 */
  readonly permissionAttempts: number;
  /** First delay in ms. @default 1000 */
  readonly baseDelayMs: number;
  /** Delay cap in ms. @default 30000 */
  readonly maxDelayMs: number;
}

/** The production policy. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, permissionAttempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** The delay before attempt `n + 1` (n ≥ 1): full jitter over a doubling cap. */
export function backoffDelay(policy: RetryPolicy, n: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

/**
 * Runs `fn`, retrying transient failures; throws the `gcpError` of the last failure.
 *
 * @param fn the call; it is invoked again from scratch on each attempt (so streams must be re-created inside it)
 */
export async function withRetry<T>(ctx: GcpCallContext, policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await fn();
    } catch (err) {
      const kind = classifyGcpError(inspectGcpError(err));
      const limit = kind === "permission" ? policy.permissionAttempts : kind === "rate-limit" || kind === "unavailable" || kind === "corrupt" ? policy.attempts : 1;
      if (n >= limit) throw gcpError(err, ctx);
      await sleep(backoffDelay(policy, n));
    }
  }
}

/** Environment variable that shortens the first retry delay (tests; the launcher cannot set it in a VM). */
export const RETRY_BASE_ENV = "CLEANROOM_GCP_RETRY_BASE_MS";

/** `DEFAULT_RETRY`, with the base delay from `CLEANROOM_GCP_RETRY_BASE_MS` when set. */
export function retryFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  const base = Number(env[RETRY_BASE_ENV]);
  if (!Number.isFinite(base) || base <= 0) return DEFAULT_RETRY;
  return { ...DEFAULT_RETRY, baseDelayMs: base, maxDelayMs: Math.max(base, Math.min(DEFAULT_RETRY.maxDelayMs, base * 16)) };
}

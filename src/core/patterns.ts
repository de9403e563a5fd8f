/** Patterns shared by every validator, so a name accepted in one place is accepted everywhere. */

/** A content digest: `sha256:` followed by 64 lowercase hex characters. */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** A provider name: GCP-id style, 1–24 characters, so that derived resource ids (buckets, keys, accounts) fit. */
export const PROVIDER_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$/;
/** A dataset name: 1–48 characters of lowercase letters, digits, `-` and `_`, starting with a letter. */
export const DATASET_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,47}$/;
/** A GCP project id: 6–30 characters, lowercase letters, digits and hyphens, starting with a letter. */
export const PROJECT_ID_PATTERN = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** A job id: what `submitJob` returns and what names a job's objects. */
export const JOB_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** True when `s` is a `sha256:<64 hex>` digest. */
export function isDigest(s: unknown): s is string {
  return typeof s === "string" && DIGEST_PATTERN.test(s);
}

/**
 * Physical names of the room's cloud resources: deterministic (so a plan is reviewable and golden files are
 * stable), within GCP's length limits, and globally unique where GCP requires it (buckets).
 */
import { createHash } from "node:crypto";

/** A room's name prefix: 4–20 characters of `[a-z0-9-]`, starting with a letter, so every derived id fits. */
export const NAME_PREFIX_PATTERN = /^[a-z][a-z0-9-]{2,18}[a-z0-9]$/;

/** Six hex characters derived from a project id: keeps bucket names globally unique without embedding the id. */
export function projectSuffix(project: string): string {
  return createHash("sha256").update(project).digest("hex").slice(0, 6);
}

/** Globally unique bucket name `<prefix>-<role>-<6 hex of project>` (at most 63 characters). */
export function bucketName(prefix: string, role: string, project: string): string {
  return `${prefix}-${role}-${projectSuffix(project)}`.slice(0, 63);
}

/**
 * Default Workload Identity pool id of a provider in its own project: `<prefix>-<provider>`, shortened with a hash
 * when longer than IAM's 32 characters (two rooms' pools in one provider project must not collide).
 */
export function poolIdFor(prefix: string, provider: string): string {
  const id = `${prefix}-${provider}`;
  if (id.length <= 32) return id;
  const h = createHash("sha256").update(id).digest("hex").slice(0, 6);
  return `${id.slice(0, 25).replace(/-+$/, "")}-${h}`;
}

/** Short stable id for a digest, used in logical resource names (`sha256:abcd…` → `abcdef012345`). */
export function digestId(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/** The Artifact Registry host of a region. */
export function registryHost(region: string): string {
  return `${region}-docker.pkg.dev`;
}

/** The parts of an Artifact Registry image reference `<loc>-docker.pkg.dev/<project>/<repo>/<image>@sha256:<hex>`. */
export interface ArtifactRegistryRef {
  /** Repository location, e.g. `europe-west4`. */
  readonly location: string;
  /** Project of the repository. */
  readonly project: string;
  /** Repository id. */
  readonly repository: string;
  /** `sha256:<64 hex>` manifest digest. */
  readonly digest: string;
}

const AR_REFERENCE = /^([a-z0-9-]+)-docker\.pkg\.dev\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/([a-z][a-z0-9-]{0,62})\/[a-z0-9._/-]+@(sha256:[0-9a-f]{64})$/;
const ANY_DIGEST_REFERENCE = /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+@(sha256:[0-9a-f]{64})$/;

/** Parses an Artifact Registry `repository@sha256:` reference, or returns undefined for other registries. */
export function parseArtifactRegistryRef(ref: string): ArtifactRegistryRef | undefined {
  const m = AR_REFERENCE.exec(ref);
  if (!m) return undefined;
  return { location: m[1]!, project: m[2]!, repository: m[3]!, digest: m[4]! };
}

/** The digest of any `registry/path@sha256:<hex>` reference, or undefined when the reference is not pinned. */
export function digestOfReference(ref: string): string | undefined {
  return ANY_DIGEST_REFERENCE.exec(ref)?.[2];
}

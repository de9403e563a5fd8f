/**
 * A Cloud KMS key ring and key for CMEK buckets, plus the Cloud Storage service agent's right to use the key.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BUCKET_ROLE_LABEL, COMPONENT_DEFAULTS, ROLES } from "./defaults.js";

/** What `createCmekKey` needs. */
export interface CmekKeyArgs {
  /** Project of the key ring. */
  readonly project: pulumi.Input<string>;
  /** KMS location; must be the location of the buckets the key encrypts. */
  readonly location: string;
  /**
   * Key ring name prefix. Key rings can never be deleted: a random suffix, kept in the stack's state, makes the name
   * new after `pulumi destroy`, so the next `pulumi up` does not collide with the ring the destroy left behind.
   */
  readonly keyRingName: string;
  /** Key name within the ring. */
  readonly keyName: string;
  /** Rotation period in days (at most 90). @default 90 */
  readonly rotationDays?: number;
  /** Protect the key against deletion. @default true */
  readonly protect?: boolean;
  /** Resources the key ring and the Cloud Storage agent lookup wait for (e.g. the enabled APIs). @default [] */
  readonly dependsOn?: pulumi.Resource[];
}

/** The key and what lets Cloud Storage use it. */
export interface CmekKey {
  /** The key ring. */
  readonly keyRing: gcp.kms.KeyRing;
  /** The (protected) symmetric key. */
  readonly key: gcp.kms.CryptoKey;
  /** `roles/cloudkms.cryptoKeyEncrypterDecrypter` for the project's Cloud Storage service agent: buckets depend on it. */
  readonly storageAgentBinding: gcp.kms.CryptoKeyIAMMember;
}

/**
 * Creates `<name>-keyring`, `<name>-key` and `<name>-gcs-agent` under `parent`.
 *
 * The key is `protect`ed: destroying a CryptoKey destroys its versions, and every object encrypted with it becomes
 * unreadable forever (KMS key rings can never be deleted anyway).
 */
export function createCmekKey(parent: pulumi.Resource, name: string, args: CmekKeyArgs): CmekKey {
  const rotationDays = args.rotationDays ?? COMPONENT_DEFAULTS.keyRotationDays;
  const dependsOn = args.dependsOn ?? [];
  // New only when the stack is recreated: `pulumi up` after `pulumi destroy` gets a ring name GCP has not seen.
  const suffix = new random.RandomId(`${name}-keyring-suffix`, { byteLength: 3 }, { parent });
  const keyRing = new gcp.kms.KeyRing(
    `${name}-keyring`,
    { project: args.project, location: args.location, name: pulumi.interpolate`${args.keyRingName}-${suffix.hex}` },
    { parent, dependsOn },
  );
  const key = new gcp.kms.CryptoKey(
    `${name}-key`,
    {
      keyRing: keyRing.id,
      name: args.keyName,
      purpose: "ENCRYPT_DECRYPT",
      // Rotation bounds how much data one key version protects if it ever leaks.
      rotationPeriod: `${rotationDays * 86400}s`,
      versionTemplate: { algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", protectionLevel: "SOFTWARE" },
    },
    // Stops an accidental `pulumi destroy` (or a rename) from crypto-shredding every provider's data.
    { parent, protect: args.protect ?? true },
  );
  // The agent exists only once the Cloud Storage API is on: the lookup waits for it on a fresh project.
  const agent = gcp.storage.getProjectServiceAccountOutput({ project: args.project }, { parent, dependsOn });
  const storageAgentBinding = new gcp.kms.CryptoKeyIAMMember(
    `${name}-gcs-agent`,
    { cryptoKeyId: key.id, role: ROLES.encrypterDecrypter, member: agent.emailAddress.apply((e) => `serviceAccount:${e}`) },
    { parent },
  );
  return { keyRing, key, storageAgentBinding };
}

/** Secure bucket settings shared by every bucket of a room. */
export function secureBucketArgs(args: {
  project: pulumi.Input<string>;
  location: string;
  name: pulumi.Input<string>;
  /** What the bucket holds (`data` for a provider's data bucket), as the `cleanroom-role` label. */
  role: string;
  kmsKeyName: pulumi.Input<string>;
  forceDestroy?: boolean;
  retentionDays?: number;
  lockRetention?: boolean;
  /** Further labels (e.g. the quarantine's disclosure mode). */
  labels?: Record<string, string>;
}): gcp.storage.BucketArgs {
  return {
    project: args.project,
    location: args.location,
    name: args.name,
    // Says what the bucket holds, so a reviewer (and the policy pack's CMEK rule for data buckets) need not guess from the name.
    labels: { [BUCKET_ROLE_LABEL]: args.role, ...args.labels },
    // Object ACLs are a second, easily forgotten access path: only bucket IAM decides who reads.
    uniformBucketLevelAccess: true,
    // No IAM mistake (allUsers, allAuthenticatedUsers) can ever make room data public.
    publicAccessPrevention: "enforced",
    // An overwritten or deleted object stays recoverable (and visible in the audit trail).
    versioning: { enabled: true },
    // Customer-managed key: the room's owner can revoke access to every object by disabling one key.
    encryption: { defaultKmsKeyName: args.kmsKeyName },
    forceDestroy: args.forceDestroy ?? false,
    ...(args.retentionDays === undefined
      ? {}
      : { retentionPolicy: { retentionPeriod: `${args.retentionDays * 86400}`, isLocked: args.lockRetention ?? false } }),
  };
}

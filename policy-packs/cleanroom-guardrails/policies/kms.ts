/**
 * Rule 3 — Cloud KMS keys rotate at least every 90 days, and no key decrypts for the public or for a whole pool.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { CryptoKey } from "@pulumi/gcp/kms/cryptoKey";
import { CryptoKeyIAMBinding } from "@pulumi/gcp/kms/cryptoKeyIAMBinding";
import { CryptoKeyIAMMember } from "@pulumi/gcp/kms/cryptoKeyIAMMember";
import { CryptoKeyIAMPolicy } from "@pulumi/gcp/kms/cryptoKeyIAMPolicy";
import { KeyRingIAMBinding } from "@pulumi/gcp/kms/keyRingIAMBinding";
import { KeyRingIAMMember } from "@pulumi/gcp/kms/keyRingIAMMember";
import { KeyRingIAMPolicy } from "@pulumi/gcp/kms/keyRingIAMPolicy";
import { DECRYPT_ROLES, grantsOf, isPublicMember, isWholePoolMember } from "../lib/iam.js";
import { UNKNOWN, readProp, show } from "../lib/values.js";

/** 90 days: the longest rotation period the rule accepts by default (`7776000s`). */
export const MAX_ROTATION_SECONDS = 90 * 24 * 60 * 60;

/** Parses a KMS duration (`"7776000s"`, `"86400.5s"`) into seconds; undefined when it is not one. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d+(?:\.\d{1,9})?)s$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

/** Configuration of `kms-key-rotation`. */
export interface KeyRotationConfig {
  /** Longest accepted rotation period in days. @default 90 */
  readonly maxRotationDays?: number;
}

/**
 * Symmetric (`ENCRYPT_DECRYPT`) Cloud KMS keys have a `rotationPeriod` of at most 90 days (configurable), so a
 * leaked key version protects a bounded amount of data.
 */
export const kmsKeyRotation: ResourceValidationPolicy = {
  name: "kms-key-rotation",
  description: "Symmetric Cloud KMS keys rotate automatically at least every 90 days (rotationPeriod <= 7776000s).",
  severity: "medium",
  configSchema: {
    properties: { maxRotationDays: { type: "integer", minimum: 1, default: 90 } },
  },
  validateResource: validateResourceOfType(CryptoKey, (key, args, report) => {
    const purpose = key.purpose ?? "ENCRYPT_DECRYPT";
    if (purpose !== "ENCRYPT_DECRYPT") {
      args.notApplicable(`only ENCRYPT_DECRYPT keys rotate automatically (purpose ${purpose})`);
    }
    const maxDays = args.getConfig<KeyRotationConfig>().maxRotationDays ?? 90;
    const maxSeconds = maxDays * 24 * 60 * 60;
    const period = readProp(key, "rotationPeriod");
    if (period === UNKNOWN) return;
    const seconds = durationSeconds(period);
    if (seconds === undefined || seconds > maxSeconds) {
      report(
        `Cloud KMS key '${args.name}' has rotationPeriod ${show(period)}: keys that protect clean-room data must ` +
          `rotate at least every ${maxDays} days. Set rotationPeriod: "${maxSeconds}s" (or shorter).`,
      );
    }
  }),
};

function checkDecrypters(what: string, args: ResourceValidationArgs, report: ReportViolation): void {
  let grants: ReturnType<typeof grantsOf>;
  try {
    grants = grantsOf(args.type, args.props);
  } catch (err) {
    report(`${what} '${args.name}' has policyData that cannot be read (${(err as Error).message}); write it as JSON.`);
    return;
  }
  for (const { role, member } of grants) {
    if (role === UNKNOWN || member === UNKNOWN || !DECRYPT_ROLES.has(role)) continue;
    // A public decrypter hands every ciphertext of this key to anyone with a Google account (or none).
    if (isPublicMember(member)) {
      report(
        `${what} '${args.name}' grants ${role} to ${member}: anyone could decrypt the providers' data. ` +
          "Grant it only to attestation-gated principalSets (attribute.job_digest / attribute.image_digest).",
      );
    } else if (isWholePoolMember(member)) {
      // A whole pool includes every workload the pool's provider admits, not just the approved job.
      report(
        `${what} '${args.name}' grants ${role} to the whole pool ${member}: any workload the pool admits could ` +
          "decrypt. Grant it to principalSet://…/attribute.job_digest/<approved job digest> (or " +
          "attribute.image_digest/<digest>) instead.",
      );
    }
  }
}

/**
 * No `roles/cloudkms.cryptoKeyDecrypter` (or a role that includes decrypt) on a key or key ring for `allUsers`,
 * `allAuthenticatedUsers` or a whole workload identity pool (`principalSet://…/*`), in any IAM flavour (Member,
 * Binding, Policy).
 */
export const kmsDecrypterScoped: ResourceValidationPolicy = {
  name: "kms-decrypter-scoped",
  description:
    "No Cloud KMS key or key ring lets allUsers, allAuthenticatedUsers or a whole workload identity pool " +
    "(principalSet://…/*) decrypt.",
  severity: "critical",
  validateResource: [
    validateResourceOfType(CryptoKeyIAMMember, (_p, args, report) => checkDecrypters("KMS key IAM member", args, report)),
    validateResourceOfType(CryptoKeyIAMBinding, (_p, args, report) => checkDecrypters("KMS key IAM binding", args, report)),
    validateResourceOfType(CryptoKeyIAMPolicy, (_p, args, report) => checkDecrypters("KMS key IAM policy", args, report)),
    validateResourceOfType(KeyRingIAMMember, (_p, args, report) => checkDecrypters("KMS key ring IAM member", args, report)),
    validateResourceOfType(KeyRingIAMBinding, (_p, args, report) =>
      checkDecrypters("KMS key ring IAM binding", args, report),
    ),
    validateResourceOfType(KeyRingIAMPolicy, (_p, args, report) => checkDecrypters("KMS key ring IAM policy", args, report)),
  ],
};

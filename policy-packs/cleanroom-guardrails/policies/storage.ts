/**
 * Rule 4 — Cloud Storage buckets: uniform access, public access prevention, no public members; data buckets CMEK.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { Bucket } from "@pulumi/gcp/storage/bucket";
import { BucketIAMBinding } from "@pulumi/gcp/storage/bucketIAMBinding";
import { BucketIAMMember } from "@pulumi/gcp/storage/bucketIAMMember";
import { BucketIAMPolicy } from "@pulumi/gcp/storage/bucketIAMPolicy";
import { grantsOf, isPublicMember } from "../lib/iam.js";
import { UNKNOWN, isSetOrUnknown, readProp, show } from "../lib/values.js";

/** The label our components put on buckets to say what they hold; `data` marks a provider's data bucket. */
export const ROLE_LABEL = "cleanroom-role";
/** Label values that mark a data bucket. */
export const DATA_ROLE_VALUES: readonly string[] = ["data"];
/**
 * Bucket names (the Pulumi resource name when the bucket is auto-named) that mark a data bucket in a hand-written program: a `data`, `stage2` /
 * `stage-2` or `raw` word between separators (so `metadata` does not match).
 */
export const DATA_BUCKET_NAME_PATTERN = "(^|[-_.])(data|stage-?2|raw)([-_.]|$)";

/** Configuration of `storage-bucket-hardened`. */
export interface BucketConfig {
  /** Label key that says what a bucket holds. @default "cleanroom-role" */
  readonly dataLabel?: string;
  /** Values of that label that mark a data bucket. @default ["data"] */
  readonly dataLabelValues?: string[];
  /** Regular expression on the bucket name (the resource name when auto-named) that marks a data bucket; "" turns it off. @default DATA_BUCKET_NAME_PATTERN */
  readonly dataNamePattern?: string;
}

/** How the rule decided a bucket holds provider data, or undefined when it does not. */
export function dataBucketReason(
  props: Record<string, unknown>,
  resourceName: string,
  config: BucketConfig = {},
): string | undefined {
  const labelKey = config.dataLabel ?? ROLE_LABEL;
  const values = config.dataLabelValues ?? DATA_ROLE_VALUES;
  const label = readProp(readProp(props, "labels"), labelKey);
  if (typeof label === "string" && values.includes(label)) return `it is labelled ${labelKey}=${label}`;
  const pattern = config.dataNamePattern ?? DATA_BUCKET_NAME_PATTERN;
  if (pattern === "") return undefined;
  const re = new RegExp(pattern, "i");
  // The physical name decides; an auto-named bucket is named after its resource name (plus a random suffix).
  const bucketName = readProp(props, "name");
  if (bucketName === UNKNOWN) return undefined;
  if (typeof bucketName === "string") {
    return re.test(bucketName) ? `its name '${bucketName}' marks it as a data bucket` : undefined;
  }
  return re.test(resourceName) ? `its auto-generated name (from '${resourceName}') marks it as a data bucket` : undefined;
}

/**
 * Every bucket: `uniformBucketLevelAccess: true` and `publicAccessPrevention: "enforced"`. Data buckets (label
 * `cleanroom-role=data`, or a name matching the configurable pattern) also need a customer-managed key
 * (`encryption.defaultKmsKeyName`).
 */
export const storageBucketHardened: ResourceValidationPolicy = {
  name: "storage-bucket-hardened",
  description:
    "Buckets use uniform bucket-level access and enforced public access prevention; data buckets are encrypted " +
    "with a customer-managed KMS key.",
  severity: "high",
  configSchema: {
    properties: {
      dataLabel: { type: "string", default: ROLE_LABEL },
      dataLabelValues: { type: "array", items: { type: "string" }, default: [...DATA_ROLE_VALUES] },
      dataNamePattern: { type: "string", default: DATA_BUCKET_NAME_PATTERN },
    },
  },
  validateResource: validateResourceOfType(Bucket, (bucket, args, report) => {
    const what = `Bucket '${args.name}'`;
    // Per-object ACLs bypass the bucket's IAM policy, so a single object ACL can publish data.
    const ubla = readProp(bucket, "uniformBucketLevelAccess");
    if (ubla !== true && ubla !== UNKNOWN) {
      report(`${what} does not use uniform bucket-level access (${show(ubla)}). Set uniformBucketLevelAccess: true.`);
    }
    // Enforced prevention makes allUsers/allAuthenticatedUsers grants fail even if someone adds one later.
    const pap = readProp(bucket, "publicAccessPrevention");
    if (pap !== "enforced" && pap !== UNKNOWN) {
      report(
        `${what} does not enforce public access prevention (${show(pap)}). Set publicAccessPrevention: "enforced".`,
      );
    }
    const reason = dataBucketReason(bucket as Record<string, unknown>, args.name, args.getConfig<BucketConfig>());
    // With Google-managed keys, whoever can read the objects reads the data; CMEK puts the provider's key in between.
    if (reason !== undefined && !isSetOrUnknown(readProp(bucket, "encryption"), "defaultKmsKeyName")) {
      report(
        `${what} holds provider data (${reason}) but has no customer-managed key. Set ` +
          "encryption.defaultKmsKeyName to the provider's Cloud KMS key (DataProvider does this).",
      );
    }
  }),
};

function checkBucketMembers(what: string, args: ResourceValidationArgs, report: ReportViolation): void {
  let grants: ReturnType<typeof grantsOf>;
  try {
    grants = grantsOf(args.type, args.props);
  } catch (err) {
    report(`${what} '${args.name}' has policyData that cannot be read (${(err as Error).message}); write it as JSON.`);
    return;
  }
  for (const { role, member } of grants) {
    if (member === UNKNOWN || !isPublicMember(member)) continue;
    report(
      `${what} '${args.name}' grants ${role === UNKNOWN ? "a role" : role} to ${member}: the bucket's objects would be ` +
        "public. Remove the member; grant roles to named principals (grant* methods of the components).",
    );
  }
}

/** No bucket IAM Member / Binding / Policy grants anything to `allUsers` or `allAuthenticatedUsers`. */
export const storageBucketIamNotPublic: ResourceValidationPolicy = {
  name: "storage-bucket-iam-not-public",
  description: "No bucket IAM grant goes to allUsers or allAuthenticatedUsers.",
  severity: "critical",
  validateResource: [
    validateResourceOfType(BucketIAMMember, (_p, args, report) => checkBucketMembers("Bucket IAM member", args, report)),
    validateResourceOfType(BucketIAMBinding, (_p, args, report) => checkBucketMembers("Bucket IAM binding", args, report)),
    validateResourceOfType(BucketIAMPolicy, (_p, args, report) => checkBucketMembers("Bucket IAM policy", args, report)),
  ],
};

/**
 * `DataProvider`: one data provider's key and data bucket, and the attestation-conditioned bindings that let only
 * the jobs this provider approved decrypt its data.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { imageDigestPrincipalSet, jobDigestPrincipalSet } from "../core/attestation.js";
import { throwIfProblems } from "../core/errors.js";
import { DIGEST_PATTERN, PROJECT_ID_PATTERN, PROVIDER_NAME_PATTERN } from "../core/patterns.js";
import { CODE_POLICIES } from "../core/spec.js";
import { ROLES } from "./defaults.js";
import { type GrantResult, type GrantSpec, addGrants } from "./grant.js";
import { createCmekKey, secureBucketArgs } from "./kms.js";
import { bucketName, digestId } from "./naming.js";
import { namingProblems, regionProblems } from "./validate.js";

/** Arguments of a `DataProvider`. */
export interface DataProviderArgs {
  /** The provider's name in the room (1–24 chars of [a-z0-9-]). */
  readonly providerName: string;
  /** Project of the provider's key and bucket (a provider may keep them in its own project). */
  readonly project: string;
  /** Region of the key and bucket. */
  readonly region: string;
  /** Prefix of the room's resource names. @default - the resource name */
  readonly namePrefix?: string;
  /** Full name of the room's Workload Identity Pool (`projects/<number>/locations/global/workloadIdentityPools/<id>`). */
  readonly poolName: pulumi.Input<string>;
  /** `"approved-jobs"` (key opens for approved job digests only) or `"any-job"` (for any run of the executor image). @default "approved-jobs" */
  readonly codePolicy?: string;
  /** Job digests (`sha256:<64 hex>`) this provider approves. @default [] */
  readonly approvedJobs?: string[];
  /** Executor image digest; required under `"any-job"`. @default - none */
  readonly imageDigest?: pulumi.Input<string>;
  /** Key rotation period in days (1–90). @default 90 */
  readonly keyRotationDays?: number;
  /** The room's stage-1 bucket name, for `grantProvision` (stage-1 artefacts go under `<provider>/`). @default - no stage-1 grant */
  readonly stage1Bucket?: pulumi.Input<string>;
  /** The room's quarantine bucket name, for `grantRelease`. @default - no release grant */
  readonly quarantineBucket?: pulumi.Input<string>;
  /** The room's results bucket name, for `grantRelease`. @default - no release grant */
  readonly resultsBucket?: pulumi.Input<string>;
  /** Let `pulumi destroy` delete the data bucket while it holds objects. @default false */
  readonly forceDestroy?: boolean;
}

interface Internals {
  readonly key: gcp.kms.CryptoKey;
  readonly bucket: gcp.storage.Bucket;
  readonly name: string;
  readonly args: DataProviderArgs;
}
const INTERNALS = new WeakMap<DataProvider, Internals>();

/** Problems of `DataProviderArgs`. Pure. */
export function dataProviderProblems(name: string, args: DataProviderArgs): string[] {
  if (args === null || typeof args !== "object") return ["args must be an object"];
  const out: string[] = [];
  if (typeof args.providerName !== "string" || !PROVIDER_NAME_PATTERN.test(args.providerName)) {
    out.push(`providerName must be 1-24 chars of [a-z0-9-], starting with a letter (got ${JSON.stringify(args.providerName)})`);
  }
  if (typeof args.project !== "string" || !PROJECT_ID_PATTERN.test(args.project)) {
    out.push(`project must be a GCP project id (got ${JSON.stringify(args.project)})`);
  }
  out.push(...regionProblems(args.region));
  out.push(...namingProblems(args.namePrefix ?? name, undefined, args.namePrefix === undefined));
  const policy = args.codePolicy ?? "approved-jobs";
  if (!CODE_POLICIES.includes(policy as never)) out.push(`codePolicy must be one of ${CODE_POLICIES.join(", ")} (got ${JSON.stringify(policy)})`);
  const jobs = args.approvedJobs ?? [];
  if (!Array.isArray(jobs)) out.push("approvedJobs must be an array of sha256:<64 hex> digests");
  else {
    jobs.forEach((d, i) => {
      if (typeof d !== "string" || !DIGEST_PATTERN.test(d)) out.push(`approvedJobs[${i}] must be sha256:<64 lowercase hex> (got ${JSON.stringify(d)})`);
    });
    if (new Set(jobs).size !== jobs.length) out.push("approvedJobs lists a digest twice");
  }
  if (policy === "any-job" && args.imageDigest === undefined) out.push('imageDigest is required under codePolicy "any-job"');
  if (typeof args.imageDigest === "string" && !DIGEST_PATTERN.test(args.imageDigest)) {
    out.push(`imageDigest must be sha256:<64 lowercase hex> (got ${JSON.stringify(args.imageDigest)})`);
  }
  const days = args.keyRotationDays;
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 90)) {
    out.push(`keyRotationDays must be an integer from 1 to 90 (got ${JSON.stringify(days)})`);
  }
  return out;
}

/**
 * One provider's KMS key ring and key (rotated at least every 90 days, `protect`ed) and its data bucket (CMEK with
 * that key, uniform access, public access prevention enforced, versioning).
 *
 * Key release is conditioned on attestation: `roles/cloudkms.cryptoKeyDecrypter` on the key and object read on the
 * bucket go to `principalSet://…/attribute.job_digest/<digest>` for each approved job — or, under `any-job`, to the
 * `attribute.image_digest` set of the executor image. Never to the whole pool: a job that this provider did not
 * approve gets nothing, even when it runs in the same attested executor.
 */
export class DataProvider extends pulumi.ComponentResource {
  /** `gs://` URI of the provider's data bucket. */
  readonly dataUri: pulumi.Output<string>;
  /** CryptoKey resource name that wraps the provider's data keys. */
  readonly keyName: pulumi.Output<string>;
  /** The members that may decrypt this provider's data (one principalSet per approved job). */
  readonly decrypterMembers: pulumi.Output<string[]>;

  constructor(name: string, args: DataProviderArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `DataProvider "${name}" arguments`, dataProviderProblems(name, args));
    super("cleanroom:index:DataProvider", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const { key, storageAgentBinding } = createCmekKey(this, name, {
      project: args.project,
      location: args.region,
      keyRingName: `${prefix}-${args.providerName}`,
      keyName: "data",
      ...(args.keyRotationDays === undefined ? {} : { rotationDays: args.keyRotationDays }),
    });
    const bucket = new gcp.storage.Bucket(
      `${name}-data`,
      secureBucketArgs({
        project: args.project,
        location: args.region,
        name: bucketName(prefix, `${args.providerName}-data`, args.project),
        role: "data",
        kmsKeyName: key.id,
        forceDestroy: args.forceDestroy,
      }),
      { parent: this, dependsOn: [storageAgentBinding] },
    );

    const members = decrypterMemberList(args);
    // One binding pair per approved job: revoking a job is removing one digest from the config and `pulumi up`.
    members.forEach(({ id, member }) => {
      new gcp.kms.CryptoKeyIAMMember(`${name}-decrypt-${id}`, { cryptoKeyId: key.id, role: ROLES.decrypter, member }, { parent: this });
      new gcp.storage.BucketIAMMember(`${name}-read-${id}`, { bucket: bucket.name, role: ROLES.objectViewer, member }, { parent: this });
    });

    INTERNALS.set(this, { key, bucket, name, args });
    this.dataUri = pulumi.interpolate`gs://${bucket.name}`;
    this.keyName = key.id;
    this.decrypterMembers = pulumi.all(members.map((m) => m.member));
    this.registerOutputs({ dataUri: this.dataUri, keyName: this.keyName, decrypterMembers: this.decrypterMembers });
  }

  /** The provider's CryptoKey. */
  get key(): gcp.kms.CryptoKey {
    return INTERNALS.get(this)!.key;
  }
  /** The provider's data bucket. */
  get bucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.bucket;
  }

  /**
   * Lets `member` provision data: write the data bucket, read it back (manifests), wrap data keys with the
   * provider key (`cryptoKeyEncrypter` only: provisioning staff cannot unwrap), and write stage-1 artefacts under
   * `<provider>/` in the room's stage-1 bucket.
   */
  grantProvision(member: string): GrantResult {
    const { bucket, key, args } = INTERNALS.get(this)!;
    return this.grant("provision", member, {
      buckets: [
        { bucket: bucket.name, role: ROLES.objectCreator },
        { bucket: bucket.name, role: ROLES.objectViewer },
        ...(args.stage1Bucket === undefined
          ? []
          : [{ bucket: args.stage1Bucket, role: ROLES.objectCreator, objectPrefix: `${args.providerName}/` }]),
      ],
      keys: [{ key: key.id, role: ROLES.encrypter }],
    });
  }

  /** Lets `member` review outputs in quarantine and release them to the results bucket. */
  grantRelease(member: string): GrantResult {
    const { args } = INTERNALS.get(this)!;
    const buckets = [
      ...(args.quarantineBucket === undefined ? [] : [{ bucket: args.quarantineBucket, role: ROLES.objectViewer }]),
      ...(args.resultsBucket === undefined ? [] : [{ bucket: args.resultsBucket, role: ROLES.objectCreator }]),
    ];
    if (buckets.length === 0) {
      throw new pulumi.ResourceError("grantRelease needs quarantineBucket and resultsBucket in the DataProvider arguments", this);
    }
    return this.grant("release", member, { buckets });
  }

  /** The single place provider grants are made: bucket roles and key roles together, as `*IAMMember` resources. */
  private grant(purpose: string, member: string, spec: GrantSpec): GrantResult {
    return addGrants(this, INTERNALS.get(this)!.name, purpose, member, spec);
  }
}

/** The members that may decrypt: one principalSet per approved job, or the image's set under `any-job`. */
function decrypterMemberList(args: DataProviderArgs): Array<{ id: string; member: pulumi.Output<string> }> {
  if ((args.codePolicy ?? "approved-jobs") === "any-job") {
    return [
      {
        id: "any-job",
        member: pulumi.all([args.poolName, args.imageDigest!]).apply(([pool, digest]) => imageDigestPrincipalSet(pool, digest)),
      },
    ];
  }
  return (args.approvedJobs ?? []).map((digest) => ({
    id: digestId(digest),
    member: pulumi.output(args.poolName).apply((pool) => jobDigestPrincipalSet(pool, digest)),
  }));
}

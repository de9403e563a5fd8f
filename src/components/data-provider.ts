/**
 * `DataProvider`: one data provider's own trust, deployable from the provider's own stack in its own project: a
 * Workload Identity pool and Confidential Space OIDC provider with **the provider's own** attribute condition (built
 * by core's `buildAttestationCondition` from the provider's own attestation policy), its KMS key and data bucket, and
 * the per-approved-job decrypt bindings on principal sets of its own pool.
 *
 * A room references a provider only through what this component publishes (`published` / `publishedJson`), so whoever
 * runs the room stack never needs IAM in a provider's project and cannot loosen a provider's condition.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import {
  type AttestationPolicyInput,
  CONFIDENTIAL_SPACE_PROVIDER_ISSUER_URI,
  attributeMapping,
  buildAttestationCondition,
  imageDigestPrincipalSet,
  jobDigestPrincipalSet,
  providerAttestationPolicy,
} from "../core/attestation.js";
import { type DescriptorDataset, type DescriptorProvider, LEDGER_FOLDER } from "../core/descriptor.js";
import { messageOf, throwIfProblems } from "../core/errors.js";
import { DIGEST_PATTERN, PROJECT_ID_PATTERN, PROVIDER_NAME_PATTERN } from "../core/patterns.js";
import { CODE_POLICIES, DATASET_FORMATS, DATASET_KINDS, type DatasetSpec, type ProviderAttestationSpec, SPEC_DEFAULTS, STAND_INS, datasetFormat, datasetKind, datasetStandIn, specProblems } from "../core/spec.js";
import { COMPONENT_DEFAULTS, PROVIDER_APIS, ROLES, TEE_TYPES } from "./defaults.js";
import { type GrantResult, type GrantSpec, addGrants } from "./grant.js";
import { createCmekKey, secureBucketArgs } from "./kms.js";
import { NAME_PREFIX_PATTERN, bucketName, digestId, poolIdFor } from "./naming.js";
import { enableServices } from "./apis.js";
import { namingProblems, regionProblems } from "./validate.js";

/**
 * The room a provider joins, as the room's operator announces it. Each value may be a plain string or another stack's
 * output. Give `namePrefix` (with `project`, it names the room's quarantine and workload account the way
 * `DataCleanRoom` does), or `quarantineUri` and `workloadServiceAccount` themselves.
 */
export interface ProviderRoomArgs {
  /** The executor image digest (`sha256:<64 hex>`) this provider reviewed: its condition pins it. */
  readonly executorImageDigest: pulumi.Input<string>;
  /** The room's project, where the job VMs run (pinned in the condition). */
  readonly project: pulumi.Input<string>;
  /** The room's `namePrefix`. @default - none: give quarantineUri and workloadServiceAccount */
  readonly namePrefix?: string;
  /** The room's quarantine (`gs://<bucket>`): every job must write there, where the release review sees it. @default - `gs://<namePrefix>-quarantine-<6 hex of project>` */
  readonly quarantineUri?: pulumi.Input<string>;
  /** Email of the room's workload service account, which the job VMs run as. @default - `<namePrefix>-workload@<project>.iam.gserviceaccount.com` */
  readonly workloadServiceAccount?: pulumi.Input<string>;
  /** Hardware of the room's job VMs. @default ["GCP_INTEL_TDX"] (the room's default TDX template) */
  readonly hwModels?: string[];
}

/** Arguments of a `DataProvider`. */
export interface DataProviderArgs {
  /** The provider's name in the room (1–24 chars of [a-z0-9-]). */
  readonly providerName: string;
  /** The provider's own project: its pool, key and bucket live there. */
  readonly project: pulumi.Input<string>;
  /** Region of the key and bucket. */
  readonly region: string;
  /** Prefix of resource names (the room's, in a one-stack room). @default - the resource name */
  readonly namePrefix?: string;
  /** The datasets this provider contributes (published to the room's descriptor). At least one. */
  readonly datasets: DatasetSpec[];
  /** `"approved-jobs"` (key opens for approved job digests only) or `"any-job"` (for any run of the pinned executor). @default "approved-jobs" */
  readonly codePolicy?: string;
  /** Job digests (`sha256:<64 hex>`) this provider approves. @default [] */
  readonly approvedJobs?: string[];
  /** The room this provider joins: executor digest, quarantine, workload account, project, hardware. */
  readonly room: ProviderRoomArgs;
  /**
   * This provider's own attestation requirements. Fields left out take the secure default (production image, STABLE,
   * the room's executor digest and hardware), never a looser value of the room's.
   * @default - production images only, STABLE, the room's executor digest and hardware
   */
  readonly attestation?: ProviderAttestationSpec;
  /** Workload Identity pool id in the provider's project (deleted ids stay reserved for 30 days). @default "<namePrefix>-<providerName>" (shortened to 32 characters) */
  readonly poolId?: string;
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
  /** Protect the key from deletion (a deleted key makes every object it encrypted unreadable forever). @default true */
  readonly protectKey?: boolean;
  /** Enable the APIs the provider's project needs (IAM, STS, Cloud KMS, Cloud Storage). @default true */
  readonly enableApis?: boolean;
}

interface Internals {
  readonly key: gcp.kms.CryptoKey;
  readonly bucket: gcp.storage.Bucket;
  readonly pool: gcp.iam.WorkloadIdentityPool;
  readonly poolProvider: gcp.iam.WorkloadIdentityPoolProvider;
  readonly name: string;
  readonly args: DataProviderArgs;
}
const INTERNALS = new WeakMap<DataProvider, Internals>();

const POOL_ID_PATTERN = /^(?!gcp-)[a-z0-9-]{4,32}$/;

/** Problems of `DataProviderArgs`. Pure: values that are outputs of other resources are checked when known. */
export function dataProviderProblems(name: string, args: DataProviderArgs): string[] {
  if (args === null || typeof args !== "object") return ["args must be an object"];
  const out: string[] = [];
  if (typeof args.providerName !== "string" || !PROVIDER_NAME_PATTERN.test(args.providerName)) {
    out.push(`providerName must be 1-24 chars of [a-z0-9-], starting with a letter (got ${JSON.stringify(args.providerName)})`);
  }
  if (typeof args.project === "string" && !PROJECT_ID_PATTERN.test(args.project)) out.push(`project must be a GCP project id (got ${JSON.stringify(args.project)})`);
  if (args.project === undefined) out.push("project is required: the provider's own project");
  out.push(...regionProblems(args.region));
  out.push(...namingProblems(args.namePrefix ?? name, undefined, args.namePrefix === undefined));
  if (args.poolId !== undefined && (typeof args.poolId !== "string" || !POOL_ID_PATTERN.test(args.poolId))) {
    out.push(`poolId must be 4-32 chars of [a-z0-9-] and not start with "gcp-" (got ${JSON.stringify(args.poolId)})`);
  }
  const policy = args.codePolicy ?? "approved-jobs";
  if (!CODE_POLICIES.includes(policy as never)) out.push(`codePolicy must be one of ${CODE_POLICIES.join(", ")} (got ${JSON.stringify(policy)})`);
  // The datasets, approvals and own attestation follow the spec's rules exactly (the local backend accepts the same).
  const spec = {
    providers: [
      {
        name: typeof args.providerName === "string" && PROVIDER_NAME_PATTERN.test(args.providerName) ? args.providerName : "provider",
        datasets: args.datasets,
        ...(args.approvedJobs === undefined ? {} : { approvedJobs: args.approvedJobs }),
        ...(args.attestation === undefined ? {} : { attestation: args.attestation }),
      },
    ],
  };
  out.push(...specProblems(spec).map((p) => p.replace(/^providers\[0\]\./, "")));
  const room = args.room as ProviderRoomArgs | undefined;
  if (room === null || typeof room !== "object") {
    out.push("room is required: the executor digest and quarantine of the room this provider joins");
  } else {
    if (room.executorImageDigest === undefined) out.push("room.executorImageDigest is required: the executor this provider reviewed");
    if (typeof room.executorImageDigest === "string" && !DIGEST_PATTERN.test(room.executorImageDigest)) {
      out.push(`room.executorImageDigest must be sha256:<64 lowercase hex> (got ${JSON.stringify(room.executorImageDigest)})`);
    }
    if (room.project === undefined) out.push("room.project is required: the project the room's job VMs run in");
    if (room.namePrefix !== undefined && (typeof room.namePrefix !== "string" || !NAME_PREFIX_PATTERN.test(room.namePrefix))) {
      out.push(`room.namePrefix must be the room's namePrefix (4-20 chars of [a-z0-9-]) (got ${JSON.stringify(room.namePrefix)})`);
    }
    if (room.namePrefix === undefined && (room.quarantineUri === undefined || room.workloadServiceAccount === undefined)) {
      out.push("room.namePrefix is required unless room.quarantineUri and room.workloadServiceAccount are both given");
    }
    if (typeof room.quarantineUri === "string" && !/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/?$/.test(room.quarantineUri)) {
      out.push(`room.quarantineUri must be gs://<bucket> (got ${JSON.stringify(room.quarantineUri)})`);
    }
    if (typeof room.project === "string" && !PROJECT_ID_PATTERN.test(room.project)) out.push(`room.project must be a GCP project id (got ${JSON.stringify(room.project)})`);
    if (room.hwModels !== undefined && (!Array.isArray(room.hwModels) || room.hwModels.length === 0)) out.push("room.hwModels must list at least one hardware model");
  }
  const days = args.keyRotationDays;
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 90)) {
    out.push(`keyRotationDays must be an integer from 1 to 90 (got ${JSON.stringify(days)})`);
  }
  return out;
}

/** The datasets as the descriptor records them (every default filled in). Pure. */
export function publishedDatasets(datasets: readonly DatasetSpec[]): DescriptorDataset[] {
  return datasets.map((d) => ({
    name: d.name,
    // Only a non-default kind or format is published, so the descriptors of table (and CSV) rooms stay as they were.
    ...(datasetKind(d) === DATASET_KINDS[0] ? {} : { kind: d.kind }),
    // Only a non-default format is published, so the descriptors of CSV rooms stay as they were.
    ...(datasetFormat(d) === DATASET_FORMATS[0] ? {} : { format: d.format }),
    stage1Method: d.stage1Method ?? (d.schema ? "mst" : "none"),
    // Only a provided stand-in is published, so the descriptors of rooms without stand-ins stay as they were.
    ...(datasetStandIn(d) === STAND_INS[0] ? {} : { standIn: d.standIn }),
    epsilon: d.epsilon ?? SPEC_DEFAULTS.epsilon,
    delta: d.delta ?? SPEC_DEFAULTS.delta,
    ...(d.schema === undefined ? {} : { schema: d.schema }),
    ...(d.disclosure === undefined ? {} : { disclosure: d.disclosure }),
  }));
}

/**
 * One data provider's own trust on Google Cloud, in the provider's own project:
 *
 * - a Workload Identity pool and an OIDC provider for `https://confidentialcomputing.googleapis.com/` whose attribute
 *   condition is **the provider's own** (production image, STABLE, the executor digest it reviewed, hardware, the
 *   room's quarantine as output location), with core's attribute mapping (`attribute.job_digest`);
 * - a KMS key ring and key (rotated at least every 90 days, protected unless `protectKey: false`);
 * - a data bucket (CMEK with that key, uniform access, public access prevention enforced, versioning);
 * - `roles/cloudkms.cryptoKeyDecrypter` on the key, object read on the bucket, and object creation under the
 *   bucket's `.dp-ledger/` prefix only (stage-2 DP spends, IAM-conditioned) for
 *   `principalSet://…/<its own pool>/attribute.job_digest/<digest>`, once per approved job (under `any-job`, the
 *   pinned executor's `attribute.image_digest` set). Never the whole pool, and never a principal of the room's pool.
 *
 * Deploy it from the provider's own stack and export `publishedJson`; the room takes it as an `externalProviders`
 * entry (a `StackReference` output or the plain text).
 *
 * @example
 * const hospital = new DataProvider("hospital", {
 *   providerName: "hospital", project: "hospital-data-eu", region: "europe-west4", namePrefix: "consortium",
 *   datasets: [{ name: "admissions" }],
 *   approvedJobs: ["sha256:…"],
 *   room: { executorImageDigest: "sha256:…", project: "consortium-room", namePrefix: "consortium" },
 * });
 * export const provider = hospital.publishedJson;
 */
export class DataProvider extends pulumi.ComponentResource {
  /** `gs://` URI of the provider's data bucket. */
  readonly dataUri: pulumi.Output<string>;
  /** CryptoKey resource name that wraps the provider's data keys. */
  readonly keyName: pulumi.Output<string>;
  /** The members that may decrypt this provider's data (one principalSet of its own pool per approved job). */
  readonly decrypterMembers: pulumi.Output<string[]>;
  /** Full name of the provider's own pool. */
  readonly poolName: pulumi.Output<string>;
  /** Full name of the provider's own pool provider (the STS audience for its key). */
  readonly poolProviderName: pulumi.Output<string>;
  /** The provider's own attribute condition (CEL): exactly `buildAttestationCondition(policy)`. */
  readonly condition: pulumi.Output<string>;
  /** What the room's descriptor lists for this provider, as JSON text: export it for the room's stack. */
  readonly publishedJson: pulumi.Output<string>;

  constructor(name: string, args: DataProviderArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `DataProvider "${name}" arguments`, dataProviderProblems(name, args));
    super("cleanroom:index:DataProvider", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const project = pulumi.output(args.project).apply((p) => {
      if (!PROJECT_ID_PATTERN.test(p)) throw new pulumi.ResourceError(`project must be a GCP project id (got ${JSON.stringify(p)})`, this);
      return p;
    });
    const apis = args.enableApis === false ? [] : enableServices(this, name, project, PROVIDER_APIS);
    const childOpts = { parent: this, dependsOn: apis };

    // The provider's own pool: the room operator cannot change its condition or its mapping.
    const pool = new gcp.iam.WorkloadIdentityPool(
      `${name}-pool`,
      {
        project,
        workloadIdentityPoolId: args.poolId ?? poolIdFor(prefix, args.providerName),
        displayName: `${args.providerName} clean room key`.slice(0, 32),
        description: `Attested clean room runs that may use ${args.providerName}'s key, by ${args.providerName}'s own condition`,
      },
      childOpts,
    );
    const policy = this.policyOf(args);
    const condition = policy.apply((p) => {
      try {
        return buildAttestationCondition(p);
      } catch (err) {
        throw new pulumi.ResourceError(`cannot build ${args.providerName}'s attestation condition: ${messageOf(err)}`, this);
      }
    });
    const poolProvider = new gcp.iam.WorkloadIdentityPoolProvider(
      `${name}-attestation`,
      {
        project,
        workloadIdentityPoolId: pool.workloadIdentityPoolId,
        workloadIdentityPoolProviderId: "attestation-verifier",
        displayName: "Confidential Space attestation",
        attributeMapping: attributeMapping(),
        // Written once in core: the same CEL text the runtime and verifiers evaluate, from this provider's own policy.
        attributeCondition: condition,
        oidc: { issuerUri: CONFIDENTIAL_SPACE_PROVIDER_ISSUER_URI, allowedAudiences: ["https://sts.googleapis.com"] },
      },
      { parent: this },
    );

    const { key, storageAgentBinding } = createCmekKey(this, name, {
      project,
      location: args.region,
      keyRingName: `${prefix}-${args.providerName}`,
      keyName: "data",
      ...(args.keyRotationDays === undefined ? {} : { rotationDays: args.keyRotationDays }),
      ...(args.protectKey === undefined ? {} : { protect: args.protectKey }),
      dependsOn: apis,
    });
    const dataBucketName = project.apply((p) => bucketName(prefix, `${args.providerName}-data`, p));
    const bucket = new gcp.storage.Bucket(
      `${name}-data`,
      secureBucketArgs({
        project,
        location: args.region,
        name: dataBucketName,
        role: "data",
        kmsKeyName: key.id,
        forceDestroy: args.forceDestroy,
      }),
      { parent: this, dependsOn: [storageAgentBinding] },
    );

    const members = decrypterMemberList(args, pool.name, policy);
    // One binding set per approved job: revoking a job is removing one digest from the config and `pulumi up`.
    members.forEach(({ id, member }) => {
      new gcp.kms.CryptoKeyIAMMember(`${name}-decrypt-${id}`, { cryptoKeyId: key.id, role: ROLES.decrypter, member }, { parent: this });
      new gcp.storage.BucketIAMMember(`${name}-read-${id}`, { bucket: bucket.name, role: ROLES.objectViewer, member }, { parent: this });
      // Stage-2 DP spends append to the datasets' ledgers, create-only and nowhere else in the bucket: an approved job
      // cannot overwrite or delete an entry (objectCreator has no delete), nor plant objects beside the data. Granted to
      // this pool's attested principals, not to the room's workload service account: submitters may attach that
      // account to VMs of their own (`grantSubmit`), which could then forge ledger entries.
      new gcp.storage.BucketIAMMember(
        `${name}-ledger-${id}`,
        { bucket: bucket.name, role: ROLES.objectCreator, member, condition: ledgerCondition(dataBucketName) },
        { parent: this },
      );
    });

    INTERNALS.set(this, { key, bucket, pool, poolProvider, name, args });
    this.dataUri = pulumi.interpolate`gs://${bucket.name}`;
    this.keyName = key.id;
    this.decrypterMembers = pulumi.all(members.map((m) => m.member));
    this.poolName = pool.name;
    this.poolProviderName = poolProvider.name;
    this.condition = condition;
    const datasets = publishedDatasets(args.datasets);
    this.publishedJson = pulumi
      .all([project, this.dataUri, this.keyName, policy, condition, poolProvider.name])
      .apply(([proj, dataUri, keyName, p, c, providerName]) => {
        const published: DescriptorProvider = {
          name: args.providerName,
          project: proj,
          approvedJobs: [...(args.approvedJobs ?? [])],
          datasets,
          dataUri,
          keyName,
          attestation: { policy: p, condition: c, poolProviderName: providerName },
        };
        return JSON.stringify(published);
      });
    this.registerOutputs({
      dataUri: this.dataUri,
      keyName: this.keyName,
      decrypterMembers: this.decrypterMembers,
      poolName: this.poolName,
      poolProviderName: this.poolProviderName,
      condition: this.condition,
      publishedJson: this.publishedJson,
    });
  }

  /** The provider's own attestation policy (what its condition is built from). */
  private policyOf(args: DataProviderArgs): pulumi.Output<AttestationPolicyInput> {
    const r = args.room;
    return pulumi.all([r.executorImageDigest, r.quarantineUri, r.workloadServiceAccount, r.project]).apply(([digest, quarantineGiven, saGiven, roomProject]) => {
      if (!DIGEST_PATTERN.test(digest)) throw new pulumi.ResourceError(`room.executorImageDigest must be sha256:<64 lowercase hex> (got ${JSON.stringify(digest)})`, this);
      if (!PROJECT_ID_PATTERN.test(roomProject)) throw new pulumi.ResourceError(`room.project must be a GCP project id (got ${JSON.stringify(roomProject)})`, this);
      // DataCleanRoom names them this way (pure functions of its namePrefix and project).
      const quarantine = quarantineGiven ?? `gs://${bucketName(r.namePrefix!, "quarantine", roomProject)}`;
      const sa = saGiven ?? `${r.namePrefix!}-workload@${roomProject}.iam.gserviceaccount.com`;
      const base: AttestationPolicyInput = {
        imageDigests: [digest],
        serviceAccounts: [sa],
        projectIds: [roomProject],
        hwModels: [...(r.hwModels ?? [TEE_TYPES[COMPONENT_DEFAULTS.teeType]!])],
        platform: "gcp",
        outputUriPrefix: `${quarantine.replace(/\/+$/, "")}/`,
      };
      // The provider's own requirements; whatever it leaves out takes the secure default, not the room's value.
      return providerAttestationPolicy(base, args.attestation ?? {});
    });
  }

  /** What the room's descriptor lists for this provider (parsed `publishedJson`). */
  get published(): pulumi.Output<DescriptorProvider> {
    return this.publishedJson.apply((j) => JSON.parse(j) as DescriptorProvider);
  }
  /** The provider's CryptoKey. */
  get key(): gcp.kms.CryptoKey {
    return INTERNALS.get(this)!.key;
  }
  /** The provider's data bucket. */
  get bucket(): gcp.storage.Bucket {
    return INTERNALS.get(this)!.bucket;
  }
  /** The provider's own Workload Identity pool. */
  get pool(): gcp.iam.WorkloadIdentityPool {
    return INTERNALS.get(this)!.pool;
  }
  /** The provider's own pool provider (its condition). */
  get poolProvider(): gcp.iam.WorkloadIdentityPoolProvider {
    return INTERNALS.get(this)!.poolProvider;
  }

  /**
   * Lets `member` provision data: write the data bucket, read it back (manifests), wrap data keys with the
   * provider key (`cryptoKeyEncrypter` only: provisioning staff cannot unwrap), and write stage-1 artefacts under
   * `<provider>/` in the room's stage-1 bucket (when `stage1Bucket` is given; otherwise the room grants that).
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

  /** Lets `member` review outputs in quarantine and release them to the results bucket (one-stack rooms). */
  grantRelease(member: string): GrantResult {
    const { args } = INTERNALS.get(this)!;
    const buckets = [
      ...(args.quarantineBucket === undefined ? [] : [{ bucket: args.quarantineBucket, role: ROLES.objectViewer }]),
      ...(args.resultsBucket === undefined ? [] : [{ bucket: args.resultsBucket, role: ROLES.objectCreator }]),
    ];
    if (buckets.length === 0) {
      throw new pulumi.ResourceError("grantRelease needs quarantineBucket and resultsBucket; in a provider's own stack the room grants release (DataCleanRoom.grantRelease)", this);
    }
    return this.grant("release", member, { buckets });
  }

  /** The single place provider grants are made: bucket roles and key roles together, as `*IAMMember` resources. */
  private grant(purpose: string, member: string, spec: GrantSpec): GrantResult {
    return addGrants(this, INTERNALS.get(this)!.name, purpose, member, spec);
  }
}

/**
 * The IAM condition that limits a data-bucket role to the privacy ledgers, `<bucket>/.dp-ledger/…` (storage conditions
 * need uniform bucket-level access, which every data bucket has). Pure.
 */
function ledgerPrefixCondition(bucket: string): { title: string; description: string; expression: string } {
  return {
    title: `${LEDGER_FOLDER}/ only`,
    description: "Stage-2 DP spends: create ledger entries, nothing else in the data bucket",
    expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${LEDGER_FOLDER}/")`,
  };
}

function ledgerCondition(bucket: pulumi.Output<string>): pulumi.Output<{ title: string; description: string; expression: string }> {
  return bucket.apply(ledgerPrefixCondition);
}

/** The members that may decrypt: one principalSet of the provider's own pool per approved job, or the pinned images' sets under `any-job`. */
function decrypterMemberList(
  args: DataProviderArgs,
  poolName: pulumi.Output<string>,
  policy: pulumi.Output<AttestationPolicyInput>,
): Array<{ id: string; member: pulumi.Output<string> }> {
  if ((args.codePolicy ?? "approved-jobs") === "any-job") {
    const digests = args.attestation?.executorImageDigests;
    if (digests !== undefined) {
      return digests.map((d) => ({ id: `any-job-${digestId(d)}`, member: poolName.apply((pool) => imageDigestPrincipalSet(pool, d)) }));
    }
    return [{ id: "any-job", member: pulumi.all([poolName, policy]).apply(([pool, p]) => imageDigestPrincipalSet(pool, p.imageDigests[0]!)) }];
  }
  return (args.approvedJobs ?? []).map((digest) => ({
    id: digestId(digest),
    member: poolName.apply((pool) => jobDigestPrincipalSet(pool, digest)),
  }));
}

/**
 * `DataCleanRoom`: the whole two-stage clean room on Google Cloud, from one `CleanRoomSpec` plus GCP options.
 *
 * Two forms:
 * - **providers of their own** (`externalProviders`): each provider deploys a `DataProvider` from its own stack, in
 *   its own project, with its own pool and condition, and publishes `publishedJson`; the room only references those
 *   outputs and needs no IAM in any provider's project. A room operator who loosens the room's own condition changes
 *   nothing for a provider's key. This is the form for several organisations.
 * - **one stack** (`providers`): the room deploys each provider's `DataProvider` itself. Each still has its own pool,
 *   but the room operator writes every condition and binding: **the operator is trusted**. For one organisation.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { type AttestationPolicyInput, imageDigestPrincipalSet } from "../core/attestation.js";
import { type CleanRoomDescriptor, DESCRIPTOR_VERSION, type DescriptorProvider, descriptorProblems, roomAudience } from "../core/descriptor.js";
import { messageOf, throwIfProblems } from "../core/errors.js";
import { type AttestationSpec, type CleanRoomSpec, type JobsSpec, type OutputSpec, type ProviderSpec, type ResolvedSpec, resolveSpec } from "../core/spec.js";
import { enableServices } from "./apis.js";
import { DataProvider } from "./data-provider.js";
import { COMPONENT_DEFAULTS, JOB_OPERATION_PERMISSIONS, REQUIRED_APIS, ROLES, SANDBOX_APIS, SUBNET_USE_PERMISSIONS, TEE_TYPES } from "./defaults.js";
import { type GrantResult, addGrants, memberId, memberProblems } from "./grant.js";
import { bucketName, parseArtifactRegistryRef } from "./naming.js";
import { CleanRoomNetwork } from "./network.js";
import type { ConfidentialVmOptions, ExecutorImageOptions, NetworkOptions, SandboxOptions, StorageOptions, VpcServiceControlsOptions } from "./options.js";
import { ResultStore } from "./result-store.js";
import { SandboxCluster } from "./sandbox-cluster.js";
import { dataCleanRoomProblems } from "./validate.js";
import { createServicePerimeter } from "./vpc-sc.js";
import { WorkloadImage } from "./workload-image.js";
import { ConfidentialWorkloadPool } from "./workload-pool.js";

/** A provider deployed from its own stack, referenced by what it publishes. */
export interface ExternalProviderArgs {
  /** The provider's name (must equal the name it published). */
  readonly name: string;
  /**
   * The provider stack's `publishedJson` output (`new pulumi.StackReference(...).getOutput("provider")`) or its JSON
   * text: its pool provider, key, bucket, datasets, approvals and its own attestation policy and condition.
   */
  readonly published: pulumi.Input<string>;
}

/** Arguments of a `DataCleanRoom`: the fields of a `CleanRoomSpec` plus where and how to deploy it on GCP. */
export interface DataCleanRoomArgs {
  /**
   * Providers this stack deploys itself (one organisation: the room operator writes their conditions and bindings,
   * so the operator is trusted). Each gets its own pool, KMS key and data bucket, in `project` unless it names its own.
   * @default [] (then `externalProviders` must list at least one)
   */
  readonly providers?: ProviderSpec[];
  /** Providers deployed from their own stacks (`DataProvider`), referenced by their published outputs. @default [] */
  readonly externalProviders?: ExternalProviderArgs[];
  /** `"approved-jobs"` or `"any-job"` (for the providers this stack deploys). @default "approved-jobs" */
  readonly codePolicy?: string;
  /** What the attested workload must prove to the room's own pool (job bundles, quarantine). @default - production images only, STABLE required, the template's hardware */
  readonly attestation?: AttestationSpec;
  /** Output policy. @default - 100 MiB cap, no release step */
  readonly output?: OutputSpec;
  /**
   * Limits of every job: `timeoutSeconds` stops a job (the executor commits a `timeout` receipt) and, with a grace for
   * boot and upload, deletes its VM (`scheduling.maxRunDuration` of the instance template).
   * @default - a 6-hour limit
   */
  readonly jobs?: JobsSpec;
  /** GCP project of the room (network, pool, buckets, sandbox); may be another resource's output. */
  readonly project: pulumi.Input<string>;
  /** GCP region, e.g. `europe-west4`. */
  readonly region: string;
  /** Zone of the job VMs (must be in `region`). @default "<region>-a" */
  readonly zone?: string;
  /** Prefix of every cloud resource id (4–20 chars of [a-z0-9-]). @default - the resource name */
  readonly namePrefix?: string;
  /** Subnet ranges and Google API access. @default - see `NetworkOptions` */
  readonly network?: NetworkOptions;
  /** The executor image: build it from a context, or pin an existing `repository@sha256:` reference. */
  readonly executor: ExecutorImageOptions;
  /** The Confidential Space VMs. @default - TDX, c3-standard-4, 30 GB, standard provisioning */
  readonly confidentialVm?: ConfidentialVmOptions;
  /** The stage-1 JupyterHub sandbox. Required: configure an authenticator and `authorizedNetworks`, or set `enabled: false`. @default - none: leaving it out is an error, so no room gets an open notebook server by accident */
  readonly sandbox?: SandboxOptions;
  /** Retention and destroy behaviour of the buckets. @default - 30-day retention on quarantine and results */
  readonly storage?: StorageOptions;
  /** Workload Identity Pool id (deleted ids stay reserved for 30 days: change it to recreate a room). @default "<namePrefix>-pool" */
  readonly poolId?: string;
  /** Enable the Google APIs the room needs in every project it deploys to. @default true */
  readonly enableApis?: boolean;
  /** A VPC Service Controls perimeter around the room's project (and the one-stack providers' projects). @default - none: the restricted VIP and IAM only */
  readonly vpcServiceControls?: VpcServiceControlsOptions;
  /** Protect the KMS keys against deletion (`pulumi destroy` then stops at them). @default true */
  readonly protectKeys?: boolean;
}

/** Resource options of a `DataCleanRoom`: the usual ones plus a `gcp.Provider` per one-stack provider project. */
export interface DataCleanRoomOptions extends pulumi.ComponentResourceOptions {
  /**
   * The `gcp.Provider` (credentials, project) for each one-stack provider, by provider name. The room's own resources
   * use `provider` / `providers` as usual.
   * @default - the room's provider for every project
   */
  readonly providerGcp?: Readonly<Record<string, gcp.Provider>>;
}

/** What `grantSubmit` created. */
export interface SubmitGrantResult extends GrantResult {
  /** Template, service-account, subnetwork, operations and (name-conditioned) instance-creation bindings. */
  readonly computeMembers: pulumi.CustomResource[];
}

interface Internals {
  readonly name: string;
  readonly prefix: string;
  readonly args: DataCleanRoomArgs;
  readonly spec: ResolvedSpec;
  readonly project: pulumi.Output<string>;
  readonly network: CleanRoomNetwork;
  readonly image: WorkloadImage;
  readonly workloadAccount: gcp.serviceaccount.Account;
  readonly pool: ConfidentialWorkloadPool;
  readonly store: ResultStore;
  readonly providers: ReadonlyMap<string, DataProvider>;
  readonly externalNames: readonly string[];
  readonly sandbox?: SandboxCluster;
  readonly descriptor: pulumi.Output<CleanRoomDescriptor>;
  readonly jobRoles: { subnetUse: gcp.projects.IAMCustomRole; operations: gcp.projects.IAMCustomRole };
}
const INTERNALS = new WeakMap<DataCleanRoom, Internals>();

/**
 * Whether the room's submitters may read quarantine directly (`grantSubmit`): only when the room needs no release step
 * at all, that is no `output.requireRelease`, disclosure mode `off` and no dataset asking for checks, and no provider
 * deployed from its own stack (whose datasets' disclosure settings this stack cannot see). Otherwise a result the
 * checks hold, or anything a job wrote to quarantine beside its result (on GCP a job shares the executor's identity),
 * would be readable before a provider's release. Pure.
 */
export function submittersReadQuarantine(spec: ResolvedSpec, externalProviders: number): boolean {
  const datasetModes = spec.providers.flatMap((p) => p.datasets.map((d) => d.disclosure?.mode ?? "off"));
  return !spec.output.requireRelease && spec.output.disclosure.mode === "off" && datasetModes.every((m) => m === "off") && externalProviders === 0;
}

/** The spec part of the args (what `resolveSpec` and the local backend understand). */
export function specOf(args: DataCleanRoomArgs): CleanRoomSpec {
  return {
    providers: args.providers ?? [],
    ...(args.codePolicy === undefined ? {} : { codePolicy: args.codePolicy }),
    ...(args.attestation === undefined ? {} : { attestation: args.attestation }),
    ...(args.output === undefined ? {} : { output: args.output }),
    ...(args.jobs === undefined ? {} : { jobs: args.jobs }),
  };
}

/**
 * Problems of a provider's published policy against the room it joins: a policy that can never admit this room's
 * jobs (another executor, another output location, another workload account) would fail every job at the key. Pure.
 */
export function publishedProviderProblems(p: DescriptorProvider, room: AttestationPolicyInput, expectedName: string): string[] {
  const out: string[] = [];
  const where = `provider "${expectedName}"`;
  if (p.name !== expectedName) out.push(`${where} published the name ${JSON.stringify(p.name)}: externalProviders[].name must match it`);
  const own = p.attestation?.policy;
  if (own === undefined) {
    out.push(`${where} published no attestation policy of its own: deploy it with DataProvider (a room never decides for another organisation's key)`);
    return out;
  }
  const digest = room.imageDigests[0]!;
  if (!own.imageDigests.includes(digest)) {
    out.push(`${where} does not accept this room's executor ${digest} (it accepts ${own.imageDigests.join(", ")}): it must review and pin it, or the room must run an executor it accepts`);
  }
  if (own.outputUriPrefix !== room.outputUriPrefix) {
    out.push(`${where} pins outputs to ${JSON.stringify(own.outputUriPrefix)}, but this room's quarantine is ${JSON.stringify(room.outputUriPrefix)}`);
  }
  for (const sa of own.serviceAccounts ?? []) {
    if (!(room.serviceAccounts ?? []).includes(sa)) out.push(`${where} pins the workload account ${sa}, but this room's VMs run as ${(room.serviceAccounts ?? []).join(", ")}`);
  }
  for (const proj of own.projectIds ?? []) {
    if (!(room.projectIds ?? []).includes(proj)) out.push(`${where} pins the project ${proj}, but this room's VMs run in ${(room.projectIds ?? []).join(", ")}`);
  }
  if (own.hwModels !== undefined && !(room.hwModels ?? []).some((h) => own.hwModels!.includes(h))) {
    out.push(`${where} accepts only ${own.hwModels.join(", ")}, but this room's VMs are ${(room.hwModels ?? []).join(", ")}`);
  }
  return out;
}

/**
 * A two-stage data clean room on Google Cloud Confidential Space.
 *
 * Composes `CleanRoomNetwork`, `WorkloadImage`, `ConfidentialWorkloadPool`, `ResultStore`, a `DataProvider` per
 * one-stack provider, references to the external providers, and (unless disabled) a `SandboxCluster`, and exports
 * `descriptor`: what the runtime (`cleanroom …`) reads. Every argument is validated before any resource is
 * registered; all problems are reported together.
 *
 * @example
 * const hospital = new pulumi.StackReference("acme-hospital/cleanroom-hospital/prod");
 * const room = new DataCleanRoom("research", {
 *   project: "acme-cleanroom", region: "europe-west4",
 *   externalProviders: [{ name: "hospital", published: hospital.getOutput("provider") }],
 *   executor: { imageReference: "europe-west4-docker.pkg.dev/acme-cleanroom/cleanroom/executor@sha256:…" },
 *   sandbox: { enabled: false },
 * });
 * export const descriptor = room.descriptor;
 */
export class DataCleanRoom extends pulumi.ComponentResource {
  /** The descriptor as canonical JSON text (for languages that read the schema; TypeScript users use `descriptor`). */
  readonly descriptorJson: pulumi.Output<string>;
  /** The executor image digest pinned by the attestation conditions. */
  readonly imageDigest: pulumi.Output<string>;
  /** The room pool provider's attribute condition (CEL): what reads job bundles and writes quarantine. */
  readonly condition: pulumi.Output<string>;
  /** Email of the workload service account the job VMs run as (providers pin it). */
  readonly workloadServiceAccount: pulumi.Output<string>;
  /** `gs://` URI of the quarantine every job writes to (providers pin it). */
  readonly quarantineUri: pulumi.Output<string>;

  constructor(name: string, args: DataCleanRoomArgs, opts?: DataCleanRoomOptions) {
    throwIfProblems("invalid-argument", `DataCleanRoom "${name}" arguments`, dataCleanRoomProblems(name, args));
    const external = args.externalProviders ?? [];
    const spec = resolveSpec(specOf(args), { allowNoProviders: external.length > 0 });
    const { providerGcp, ...componentOpts } = opts ?? {};
    super("cleanroom:index:DataCleanRoom", name, {}, componentOpts);
    const prefix = args.namePrefix ?? name;
    const project = pulumi.output(args.project);
    const region = args.region;
    const zone = args.zone ?? `${region}-a`;
    const sandboxEnabled = args.sandbox?.enabled !== false;

    // The room's own project only: providers enable what their projects need (DataProvider).
    const apis = args.enableApis === false ? [] : enableServices(this, name, project, [...REQUIRED_APIS, ...(sandboxEnabled ? SANDBOX_APIS : [])]);
    const childOpts: pulumi.ComponentResourceOptions = { parent: this, dependsOn: apis };

    // Created first so the network's firewall can target it (a tag could be left off a VM; the account cannot).
    const workloadAccount = new gcp.serviceaccount.Account(
      `${name}-workload`,
      { project, accountId: `${prefix}-workload`, displayName: "Clean room workload (Confidential Space VMs)" },
      childOpts,
    );
    const network = new CleanRoomNetwork(
      `${name}-network`,
      { project, region, namePrefix: prefix, sandbox: sandboxEnabled, workloadServiceAccount: workloadAccount.email, ...(args.network ? { network: args.network } : {}) },
      childOpts,
    );
    const image = new WorkloadImage(`${name}-executor`, { project, region, namePrefix: prefix, executor: args.executor }, childOpts);
    const externalRef = args.executor.imageReference;
    // A reference given as another resource's output is taken to be in Artifact Registry (checked when known).
    const pullFromRepository = externalRef === undefined || typeof externalRef !== "string" || parseArtifactRegistryRef(externalRef) !== undefined;
    const quarantineUri = project.apply((p) => `gs://${bucketName(prefix, "quarantine", p)}`);
    const pool = new ConfidentialWorkloadPool(
      `${name}-pool`,
      {
        project,
        region,
        zone,
        namePrefix: prefix,
        ...(args.poolId === undefined ? {} : { poolId: args.poolId }),
        imageDigest: image.digest,
        imageReference: image.imageReference,
        ...(pullFromRepository ? { repositoryId: image.repositoryId } : {}),
        ...(args.attestation === undefined ? {} : { attestation: args.attestation }),
        ...(args.confidentialVm === undefined ? {} : { confidentialVm: args.confidentialVm }),
        subnetwork: network.teeSubnetId,
        serviceAccountEmail: workloadAccount.email,
        // The ResultStore below names its quarantine bucket the same way (a pure function: no dependency cycle).
        outputUriPrefix: pulumi.interpolate`${quarantineUri}/`,
        jobTimeoutSeconds: spec.jobs.timeoutSeconds,
      },
      childOpts,
    );
    // Any attested run of this executor image may read bundles and write its outputs; nothing else may write.
    const workloadMember = pulumi.all([pool.poolName, image.digest]).apply(([p, d]) => imageDigestPrincipalSet(p, d));
    const store = new ResultStore(
      `${name}-storage`,
      {
        project,
        region,
        namePrefix: prefix,
        workloadMembers: [workloadMember],
        disclosureMode: spec.output.disclosure.mode,
        ...(args.storage ? { storage: args.storage } : {}),
        ...(args.protectKeys === undefined ? {} : { protectKey: args.protectKeys }),
        dependsOn: apis,
      },
      childOpts,
    );
    const tee = args.confidentialVm?.teeType ?? COMPONENT_DEFAULTS.teeType;
    const providers = new Map<string, DataProvider>();
    for (const p of spec.providers) {
      const gcpProvider = providerGcp?.[p.name];
      providers.set(
        p.name,
        new DataProvider(
          `${name}-${p.name}`,
          {
            providerName: p.name,
            project: p.project ?? project,
            region,
            namePrefix: prefix,
            datasets: p.datasets.map((d) => ({ ...d })),
            codePolicy: spec.codePolicy,
            approvedJobs: [...p.approvedJobs],
            room: {
              executorImageDigest: image.digest,
              quarantineUri: store.quarantineUri,
              workloadServiceAccount: workloadAccount.email,
              project,
              hwModels: [...(spec.attestation.hwModels ?? [TEE_TYPES[tee]!])],
            },
            // One organisation: a provider that states nothing inherits the room's attestation (the operator is trusted).
            attestation: p.attestation ?? {
              allowDebug: spec.attestation.allowDebug,
              requireStable: spec.attestation.requireStable,
              ...(spec.attestation.hwModels === undefined ? {} : { hwModels: [...spec.attestation.hwModels] }),
              ...(spec.attestation.minImageVersion === undefined ? {} : { minImageVersion: spec.attestation.minImageVersion }),
            },
            stage1Bucket: store.stage1Bucket.name,
            quarantineBucket: store.quarantineBucket.name,
            resultsBucket: store.resultsBucket.name,
            ...(args.storage?.forceDestroy === undefined ? {} : { forceDestroy: args.storage.forceDestroy }),
            ...(args.protectKeys === undefined ? {} : { protectKey: args.protectKeys }),
            ...(args.enableApis === undefined ? {} : { enableApis: args.enableApis }),
          },
          { parent: this, ...(gcpProvider ? { providers: { gcp: gcpProvider } } : {}) },
        ),
      );
    }
    const descriptor = this.buildDescriptor(name, { project, region, zone, spec, image, pool, store, providers, external });
    const sandbox = sandboxEnabled
      ? new SandboxCluster(
          `${name}-sandbox`,
          {
            project,
            region,
            namePrefix: prefix,
            network: network.networkId,
            subnetwork: network.sandboxSubnetId,
            stage1Bucket: store.stage1Bucket.name,
            sandbox: args.sandbox!,
            googleApisAccess: args.network?.googleApisAccess ?? COMPONENT_DEFAULTS.googleApisAccess,
            // The console in each user's server reads the room (only with the console image).
            ...(args.sandbox?.singleUserImage ? { roomDescriptor: descriptor.apply((d) => JSON.stringify(d)) } : {}),
          },
          childOpts,
        )
      : undefined;
    if (args.vpcServiceControls !== undefined) {
      const projects = [project, ...spec.providers.filter((p) => p.project !== undefined).map((p) => pulumi.output(p.project!))];
      createServicePerimeter(this, name, prefix, args.vpcServiceControls, projects, childOpts);
    }
    const jobRoles = this.jobRoles(name, prefix, project, childOpts);

    INTERNALS.set(this, {
      name,
      prefix,
      args,
      spec,
      project,
      network,
      image,
      workloadAccount,
      pool,
      store,
      providers,
      externalNames: external.map((e) => e.name),
      descriptor,
      jobRoles,
      ...(sandbox ? { sandbox } : {}),
    });
    this.descriptorJson = descriptor.apply((d) => JSON.stringify(d));
    this.imageDigest = image.digest;
    this.condition = pool.condition;
    this.workloadServiceAccount = workloadAccount.email;
    this.quarantineUri = store.quarantineUri;
    this.registerOutputs({
      descriptorJson: this.descriptorJson,
      imageDigest: this.imageDigest,
      condition: this.condition,
      workloadServiceAccount: this.workloadServiceAccount,
      quarantineUri: this.quarantineUri,
    });
  }

  /** What the runtime reads (`pulumi stack output descriptor --json > room.json`); passes `loadDescriptor`. */
  get descriptor(): pulumi.Output<CleanRoomDescriptor> {
    return INTERNALS.get(this)!.descriptor;
  }
  /** The network. */
  get network(): CleanRoomNetwork {
    return INTERNALS.get(this)!.network;
  }
  /** The executor image. */
  get executorImage(): WorkloadImage {
    return INTERNALS.get(this)!.image;
  }
  /** The attested workload pool and instance template of the room (job bundles, quarantine). */
  get pool(): ConfidentialWorkloadPool {
    return INTERNALS.get(this)!.pool;
  }
  /** The room's buckets. */
  get storage(): ResultStore {
    return INTERNALS.get(this)!.store;
  }
  /** The stage-1 sandbox, unless disabled. */
  get sandbox(): SandboxCluster | undefined {
    return INTERNALS.get(this)!.sandbox;
  }
  /** Every provider this stack deploys (one-stack form), by name. */
  get providers(): ReadonlyMap<string, DataProvider> {
    return INTERNALS.get(this)!.providers;
  }

  /** The one-stack provider named `name`, or a `ResourceError` listing the room's providers. */
  provider(name: string): DataProvider {
    const s = INTERNALS.get(this)!;
    const p = s.providers.get(name);
    if (!p) {
      const hint = s.externalNames.includes(name) ? ` ("${name}" is deployed from its own stack: grant there, or use grantRelease / grantStage1Upload here)` : "";
      throw new pulumi.ResourceError(`no provider "${name}" in this stack (providers: ${[...this.providers.keys()].join(", ") || "none"})${hint}`, this);
    }
    return p;
  }

  /**
   * Lets `member` submit jobs: upload bundles to the jobs bucket and read them back, read released results (and
   * quarantine when the room needs no release step: `submittersReadQuarantine`), create VMs from the room's template acting as the workload
   * service account. Compute creation is limited by an IAM condition to instances and disks named
   * `<namePrefix>-job-*` in the room's zone; on the TEE subnet the member may only attach interfaces
   * (`compute.subnetworks.use`, never `useExternalIp`), so no VM it creates can have an external IP.
   */
  grantSubmit(member: string): SubmitGrantResult {
    const s = INTERNALS.get(this)!;
    const buckets = [
      { bucket: s.store.jobsBucket.name, role: ROLES.objectCreator },
      { bucket: s.store.jobsBucket.name, role: ROLES.objectViewer },
      { bucket: s.store.resultsBucket.name, role: ROLES.objectViewer },
      ...(submittersReadQuarantine(s.spec, s.externalNames.length) ? [{ bucket: s.store.quarantineBucket.name, role: ROLES.objectViewer }] : []),
    ];
    const result = this.grant("submit", member, buckets);
    const mid = memberId(member);
    const project = s.project;
    const zone = s.args.zone ?? `${s.args.region}-a`;
    const opts = { parent: this };
    const computeMembers: pulumi.CustomResource[] = [
      new gcp.compute.InstanceTemplateIamMember(
        `${s.name}-submit-template-${mid}`,
        { project, name: s.pool.template.name, role: ROLES.instanceAdmin, member },
        opts,
      ),
      new gcp.serviceaccount.IAMMember(
        `${s.name}-submit-actas-${mid}`,
        { serviceAccountId: s.workloadAccount.name, role: ROLES.serviceAccountUser, member },
        opts,
      ),
      // Attach to the subnet, nothing more: roles/compute.networkUser would also allow external IPs on it.
      new gcp.compute.SubnetworkIAMMember(
        `${s.name}-submit-subnet-${mid}`,
        { project, region: s.args.region, subnetwork: s.network.teeSubnet.name, role: s.jobRoles.subnetUse.name, member },
        opts,
      ),
      new gcp.projects.IAMMember(
        `${s.name}-submit-instances-${mid}`,
        {
          project,
          role: ROLES.instanceAdmin,
          member,
          // Only the room's own job VMs and their disks, in the room's zone.
          condition: {
            title: `${s.prefix} job VMs only`,
            expression: pulumi.interpolate`resource.name.startsWith("projects/${project}/zones/${zone}/instances/${s.prefix}-job-") || resource.name.startsWith("projects/${project}/zones/${zone}/disks/${s.prefix}-job-")`,
          },
        },
        opts,
      ),
      // The runtime waits on the zone operations of its inserts and deletes, which the name condition above cannot match.
      new gcp.projects.IAMMember(`${s.name}-submit-operations-${mid}`, { project, role: s.jobRoles.operations.name, member }, opts),
    ];
    return { ...result, computeMembers };
  }

  /** Lets `member` read stage-1 (DP) data — never provider data. */
  grantExplore(member: string): GrantResult {
    const s = INTERNALS.get(this)!;
    return this.grant("explore", member, [{ bucket: s.store.stage1Bucket.name, role: ROLES.objectViewer }]);
  }

  /** Lets `member` (a provider's stewards) review outputs in quarantine and release them to the results bucket. */
  grantRelease(member: string): GrantResult {
    const s = INTERNALS.get(this)!;
    return this.grant("release", member, [
      { bucket: s.store.quarantineBucket.name, role: ROLES.objectViewer },
      { bucket: s.store.resultsBucket.name, role: ROLES.objectCreator },
    ]);
  }

  /** Lets `member` write `provider`'s stage-1 artefacts, under `<provider>/` of the stage-1 bucket only. */
  grantStage1Upload(provider: string, member: string): GrantResult {
    const s = INTERNALS.get(this)!;
    if (!s.providers.has(provider) && !s.externalNames.includes(provider)) {
      throw new pulumi.ResourceError(`no provider "${provider}" in this room`, this);
    }
    return addGrants(this, s.name, `stage1-${provider}`, member, {
      buckets: [{ bucket: s.store.stage1Bucket.name, role: ROLES.objectCreator, objectPrefix: `${provider}/` }],
    });
  }

  /** The single place room grants are made (bucket roles as `BucketIAMMember`; CMEK needs no key role for users). */
  private grant(purpose: string, member: string, buckets: Array<{ bucket: pulumi.Input<string>; role: string; objectPrefix?: string }>): GrantResult {
    throwIfProblems("invalid-argument", `grant ${purpose}`, memberProblems(member));
    return addGrants(this, INTERNALS.get(this)!.name, purpose, member, { buckets });
  }

  /** The two custom roles submitters get instead of broad predefined ones. */
  private jobRoles(name: string, prefix: string, project: pulumi.Output<string>, opts: pulumi.ComponentResourceOptions) {
    const roleId = prefix.replace(/-/g, "_");
    const subnetUse = new gcp.projects.IAMCustomRole(
      `${name}-role-subnet-use`,
      {
        project,
        roleId: `${roleId}_subnet_use`,
        title: `${prefix} job VM subnet use`,
        description: "Attach a job VM to the TEE subnet; no external IPs (compute.subnetworks.useExternalIp is left out on purpose)",
        permissions: [...SUBNET_USE_PERMISSIONS],
      },
      opts,
    );
    const operations = new gcp.projects.IAMCustomRole(
      `${name}-role-job-operations`,
      {
        project,
        roleId: `${roleId}_job_operations`,
        title: `${prefix} job VM operations`,
        description: "Wait on the zone operations of job VM inserts and deletes",
        permissions: [...JOB_OPERATION_PERMISSIONS],
      },
      opts,
    );
    return { subnetUse, operations };
  }

  private buildDescriptor(
    name: string,
    r: {
      project: pulumi.Output<string>;
      region: string;
      zone: string;
      spec: ResolvedSpec;
      image: WorkloadImage;
      pool: ConfidentialWorkloadPool;
      store: ResultStore;
      providers: ReadonlyMap<string, DataProvider>;
      external: readonly ExternalProviderArgs[];
    },
  ): pulumi.Output<CleanRoomDescriptor> {
    const own = r.spec.providers.map((p) => r.providers.get(p.name)!.published);
    const external = r.external.map((e) =>
      pulumi.output(e.published).apply((v): DescriptorProvider => {
        try {
          return (typeof v === "string" ? JSON.parse(v) : v) as DescriptorProvider;
        } catch (err) {
          throw new pulumi.ResourceError(`externalProviders "${e.name}": published is not the provider's publishedJson (${messageOf(err)})`, this);
        }
      }),
    );
    const pool = pulumi.all([r.pool.policy, r.pool.condition, r.pool.poolName, r.pool.poolProviderName, r.pool.serviceAccountEmail, r.pool.instanceTemplate]);
    const storage = pulumi.all([r.store.jobsUri, r.store.quarantineUri, r.store.resultsUri, r.store.stage1Uri]);
    return pulumi
      .all([r.project, r.image.digest, r.image.imageReference, pool, storage, pulumi.all(own), pulumi.all(external)])
      .apply(([project, digest, ref, [policy, condition, poolName, providerName, sa, template], [jobs, quarantine, results, stage1], mine, theirs]) => {
        // A provider whose published policy can never admit this room's jobs is a deployment error, not a failed job.
        const problems = theirs.flatMap((p, i) => publishedProviderProblems(p, policy, r.external[i]!.name));
        if (problems.length > 0) throw new pulumi.ResourceError(`the external providers do not fit this room:\n  - ${problems.join("\n  - ")}`, this);
        const projectNumber = /^projects\/([^/]+)\//.exec(poolName)?.[1] ?? "";
        const d: CleanRoomDescriptor = {
          version: DESCRIPTOR_VERSION,
          name,
          platform: "gcp",
          codePolicy: r.spec.codePolicy,
          executor: { imageDigest: digest, imageReference: ref },
          attestation: { policy, condition, audience: roomAudience(name) },
          output: { ...r.spec.output },
          jobs: { ...r.spec.jobs },
          providers: [...mine, ...theirs],
          storage: { jobs, quarantine, results, stage1 },
          gcp: {
            project,
            projectNumber,
            region: r.region,
            zone: r.zone,
            instanceTemplate: template,
            workloadServiceAccount: sa,
            poolName,
            poolProviderName: providerName,
          },
        };
        // Self-check: a descriptor the runtime would refuse must fail the deployment, not the first job.
        const invalid = descriptorProblems(d);
        if (invalid.length > 0) throw new pulumi.ResourceError(`the room descriptor is invalid:\n  - ${invalid.join("\n  - ")}`, this);
        return d;
      });
  }
}

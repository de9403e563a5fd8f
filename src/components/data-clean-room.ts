/**
 * `DataCleanRoom`: the whole two-stage clean room on Google Cloud, from one `CleanRoomSpec` plus GCP options.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { imageDigestPrincipalSet } from "../core/attestation.js";
import { type CleanRoomDescriptor, DESCRIPTOR_VERSION, descriptorProblems, roomAudience } from "../core/descriptor.js";
import { throwIfProblems } from "../core/errors.js";
import { type AttestationSpec, type CleanRoomSpec, type OutputSpec, type ProviderSpec, type ResolvedSpec, resolveSpec } from "../core/spec.js";
import { DataProvider } from "./data-provider.js";
import { COMPONENT_DEFAULTS, REQUIRED_APIS, ROLES, SANDBOX_APIS } from "./defaults.js";
import { type GrantResult, addGrants, memberId, memberProblems } from "./grant.js";
import { bucketName, parseArtifactRegistryRef } from "./naming.js";
import { CleanRoomNetwork } from "./network.js";
import type { ConfidentialVmOptions, ExecutorImageOptions, NetworkOptions, SandboxOptions, StorageOptions } from "./options.js";
import { ResultStore } from "./result-store.js";
import { SandboxCluster } from "./sandbox-cluster.js";
import { dataCleanRoomProblems } from "./validate.js";
import { WorkloadImage } from "./workload-image.js";
import { ConfidentialWorkloadPool } from "./workload-pool.js";

/** Arguments of a `DataCleanRoom`: the fields of a `CleanRoomSpec` plus where and how to deploy it on GCP. */
export interface DataCleanRoomArgs {
  /** The data providers (at least one). Each gets a KMS key and a data bucket, in `project` unless it names its own. */
  readonly providers: ProviderSpec[];
  /** `"approved-jobs"` or `"any-job"`. @default "approved-jobs" */
  readonly codePolicy?: string;
  /** What the attested workload must prove. @default - production images only, STABLE required, the template's hardware */
  readonly attestation?: AttestationSpec;
  /** Output policy. @default - 100 MiB cap, no release step */
  readonly output?: OutputSpec;
  /** GCP project of the room (network, pool, buckets, sandbox). */
  readonly project: string;
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
  /** Enable the Google APIs the room needs in every project it uses. @default true */
  readonly enableApis?: boolean;
}

/** What `grantSubmit` created. */
export interface SubmitGrantResult extends GrantResult {
  /** Template, service-account, subnetwork and (name-conditioned) instance-creation bindings. */
  readonly computeMembers: pulumi.CustomResource[];
}

interface Internals {
  readonly name: string;
  readonly prefix: string;
  readonly args: DataCleanRoomArgs;
  readonly spec: ResolvedSpec;
  readonly network: CleanRoomNetwork;
  readonly image: WorkloadImage;
  readonly pool: ConfidentialWorkloadPool;
  readonly store: ResultStore;
  readonly providers: ReadonlyMap<string, DataProvider>;
  readonly sandbox?: SandboxCluster;
  readonly descriptor: pulumi.Output<CleanRoomDescriptor>;
}
const INTERNALS = new WeakMap<DataCleanRoom, Internals>();

/** The spec part of the args (what `resolveSpec` and the local backend understand). */
export function specOf(args: DataCleanRoomArgs): CleanRoomSpec {
  return {
    providers: args.providers,
    ...(args.codePolicy === undefined ? {} : { codePolicy: args.codePolicy }),
    ...(args.attestation === undefined ? {} : { attestation: args.attestation }),
    ...(args.output === undefined ? {} : { output: args.output }),
  };
}

/**
 * A two-stage data clean room on Google Cloud Confidential Space.
 *
 * Composes `CleanRoomNetwork`, `WorkloadImage`, `ConfidentialWorkloadPool`, `ResultStore`, one `DataProvider` per
 * provider and (unless disabled) a `SandboxCluster`, and exports `descriptor`: what the runtime (`cleanroom …`)
 * reads. Every argument is validated before any resource is registered; all problems are reported together.
 *
 * @example
 * const room = new DataCleanRoom("research", {
 *   project: "acme-cleanroom", region: "europe-west4",
 *   providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: ["sha256:…"] }],
 *   executor: { context: "../..", dockerfile: "../../src/runtime/executor/Dockerfile" },
 *   sandbox: { enabled: false },
 * });
 * export const descriptor = room.descriptor;
 */
export class DataCleanRoom extends pulumi.ComponentResource {
  /** The descriptor as canonical JSON text (for languages that read the schema; TypeScript users use `descriptor`). */
  readonly descriptorJson: pulumi.Output<string>;
  /** The executor image digest pinned by the attestation condition. */
  readonly imageDigest: pulumi.Output<string>;
  /** The pool provider's attribute condition (CEL). */
  readonly condition: pulumi.Output<string>;

  constructor(name: string, args: DataCleanRoomArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `DataCleanRoom "${name}" arguments`, dataCleanRoomProblems(name, args));
    const spec = resolveSpec(specOf(args));
    super("cleanroom:index:DataCleanRoom", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const project = args.project;
    const region = args.region;
    const zone = args.zone ?? `${region}-a`;
    const sandboxEnabled = args.sandbox?.enabled !== false;

    const apis = args.enableApis === false ? [] : this.enableApis(name, project, spec, sandboxEnabled);
    const childOpts: pulumi.ComponentResourceOptions = { parent: this, dependsOn: apis };

    const network = new CleanRoomNetwork(
      `${name}-network`,
      { project, region, namePrefix: prefix, sandbox: sandboxEnabled, ...(args.network ? { network: args.network } : {}) },
      childOpts,
    );
    const image = new WorkloadImage(`${name}-executor`, { project, region, namePrefix: prefix, executor: args.executor }, childOpts);
    const externalRef = args.executor.imageReference;
    const pullFromRepository = externalRef === undefined || parseArtifactRegistryRef(externalRef) !== undefined;
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
        // The ResultStore below names its quarantine bucket the same way (a pure function: no dependency cycle).
        outputUriPrefix: `gs://${bucketName(prefix, "quarantine", project)}/`,
      },
      childOpts,
    );
    // Any attested run of this executor image may read bundles and write its outputs; nothing else may write.
    const workloadMember = pulumi.all([pool.poolName, image.digest]).apply(([p, d]) => imageDigestPrincipalSet(p, d));
    const store = new ResultStore(
      `${name}-storage`,
      { project, region, namePrefix: prefix, workloadMembers: [workloadMember], ...(args.storage ? { storage: args.storage } : {}) },
      childOpts,
    );
    const providers = new Map<string, DataProvider>();
    for (const p of spec.providers) {
      providers.set(
        p.name,
        new DataProvider(
          `${name}-${p.name}`,
          {
            providerName: p.name,
            project: p.project ?? project,
            region,
            namePrefix: prefix,
            poolName: pool.poolName,
            codePolicy: spec.codePolicy,
            approvedJobs: [...p.approvedJobs],
            imageDigest: image.digest,
            stage1Bucket: store.stage1Bucket.name,
            quarantineBucket: store.quarantineBucket.name,
            resultsBucket: store.resultsBucket.name,
            ...(args.storage?.forceDestroy === undefined ? {} : { forceDestroy: args.storage.forceDestroy }),
          },
          childOpts,
        ),
      );
    }
    const descriptor = this.buildDescriptor(name, { project, region, zone, spec, image, pool, store, providers });
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

    INTERNALS.set(this, {
      name,
      prefix,
      args,
      spec,
      network,
      image,
      pool,
      store,
      providers,
      descriptor,
      ...(sandbox ? { sandbox } : {}),
    });
    this.descriptorJson = descriptor.apply((d) => JSON.stringify(d));
    this.imageDigest = image.digest;
    this.condition = pool.condition;
    this.registerOutputs({ descriptorJson: this.descriptorJson, imageDigest: this.imageDigest, condition: this.condition });
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
  /** The attested workload pool, service account and instance template. */
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
  /** Every provider, by name. */
  get providers(): ReadonlyMap<string, DataProvider> {
    return INTERNALS.get(this)!.providers;
  }

  /** The provider named `name`, or a `ResourceError` listing the room's providers. */
  provider(name: string): DataProvider {
    const p = INTERNALS.get(this)!.providers.get(name);
    if (!p) throw new pulumi.ResourceError(`no provider "${name}" in this room (providers: ${[...this.providers.keys()].join(", ")})`, this);
    return p;
  }

  /**
   * Lets `member` submit jobs: upload bundles to the jobs bucket and read them back, read released results (and
   * quarantine when the room needs no release step), create VMs from the room's template acting as the workload
   * service account. Compute creation is limited by an IAM condition to instances and disks named
   * `<namePrefix>-job-*` in the room's zone — nothing project-wide.
   */
  grantSubmit(member: string): SubmitGrantResult {
    const s = INTERNALS.get(this)!;
    const buckets = [
      { bucket: s.store.jobsBucket.name, role: ROLES.objectCreator },
      { bucket: s.store.jobsBucket.name, role: ROLES.objectViewer },
      { bucket: s.store.resultsBucket.name, role: ROLES.objectViewer },
      ...(s.spec.output.requireRelease ? [] : [{ bucket: s.store.quarantineBucket.name, role: ROLES.objectViewer }]),
    ];
    const result = this.grant("submit", member, buckets);
    const mid = memberId(member);
    const project = s.args.project;
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
        { serviceAccountId: s.pool.serviceAccount.name, role: ROLES.serviceAccountUser, member },
        opts,
      ),
      new gcp.compute.SubnetworkIAMMember(
        `${s.name}-submit-subnet-${mid}`,
        { project, region: s.args.region, subnetwork: s.network.teeSubnet.name, role: ROLES.networkUser, member },
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
            expression:
              `resource.name.startsWith("projects/${project}/zones/${zone}/instances/${s.prefix}-job-") || ` +
              `resource.name.startsWith("projects/${project}/zones/${zone}/disks/${s.prefix}-job-")`,
          },
        },
        opts,
      ),
    ];
    return { ...result, computeMembers };
  }

  /** Lets `member` read stage-1 (DP) data — never provider data. */
  grantExplore(member: string): GrantResult {
    const s = INTERNALS.get(this)!;
    return this.grant("explore", member, [{ bucket: s.store.stage1Bucket.name, role: ROLES.objectViewer }]);
  }

  /** The single place room grants are made (bucket roles as `BucketIAMMember`; CMEK needs no key role for users). */
  private grant(purpose: string, member: string, buckets: Array<{ bucket: pulumi.Input<string>; role: string }>): GrantResult {
    throwIfProblems("invalid-argument", `grant ${purpose}`, memberProblems(member));
    return addGrants(this, INTERNALS.get(this)!.name, purpose, member, { buckets });
  }

  private enableApis(name: string, project: string, spec: ResolvedSpec, sandbox: boolean): gcp.projects.Service[] {
    const wanted = new Map<string, Set<string>>([[project, new Set([...REQUIRED_APIS, ...(sandbox ? SANDBOX_APIS : [])])]]);
    for (const p of spec.providers) {
      if (p.project === undefined || p.project === project) continue;
      wanted.set(p.project, new Set(["cloudkms.googleapis.com", "storage.googleapis.com"]));
    }
    const services: gcp.projects.Service[] = [];
    for (const [proj, apis] of wanted) {
      for (const api of [...apis].sort()) {
        const short = api.replace(".googleapis.com", "");
        services.push(
          new gcp.projects.Service(
            `${name}-api-${proj === project ? "" : `${proj}-`}${short}`,
            // Never disable an API on destroy: other workloads in the project may use it.
            { project: proj, service: api, disableOnDestroy: false, disableDependentServices: false },
            { parent: this },
          ),
        );
      }
    }
    return services;
  }

  private buildDescriptor(
    name: string,
    r: {
      project: string;
      region: string;
      zone: string;
      spec: ResolvedSpec;
      image: WorkloadImage;
      pool: ConfidentialWorkloadPool;
      store: ResultStore;
      providers: ReadonlyMap<string, DataProvider>;
    },
  ): pulumi.Output<CleanRoomDescriptor> {
    const providerOutputs = r.spec.providers.map((p) => {
      const dp = r.providers.get(p.name)!;
      return pulumi.all([dp.dataUri, dp.keyName]).apply(([dataUri, keyName]) => ({
        name: p.name,
        ...(p.project === undefined ? { project: r.project } : { project: p.project }),
        approvedJobs: [...p.approvedJobs],
        datasets: p.datasets.map((d) => ({
          name: d.name,
          stage1Method: d.stage1Method,
          epsilon: d.epsilon,
          delta: d.delta,
          ...(d.schema === undefined ? {} : { schema: d.schema }),
        })),
        dataUri,
        keyName,
      }));
    });
    const pool = pulumi.all([r.pool.policy, r.pool.condition, r.pool.poolName, r.pool.poolProviderName, r.pool.serviceAccountEmail, r.pool.instanceTemplate]);
    const storage = pulumi.all([r.store.jobsUri, r.store.quarantineUri, r.store.resultsUri, r.store.stage1Uri]);
    return pulumi
      .all([r.image.digest, r.image.imageReference, pool, storage, pulumi.all(providerOutputs)])
      .apply(([digest, ref, [policy, condition, poolName, providerName, sa, template], [jobs, quarantine, results, stage1], providers]) => {
        const projectNumber = /^projects\/([^/]+)\//.exec(poolName)?.[1] ?? "";
        const d: CleanRoomDescriptor = {
          version: DESCRIPTOR_VERSION,
          name,
          platform: "gcp",
          codePolicy: r.spec.codePolicy,
          executor: { imageDigest: digest, imageReference: ref },
          attestation: { policy, condition, audience: roomAudience(name) },
          output: { ...r.spec.output },
          providers,
          storage: { jobs, quarantine, results, stage1 },
          gcp: {
            project: r.project,
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
        const problems = descriptorProblems(d);
        if (problems.length > 0) throw new pulumi.ResourceError(`the room descriptor is invalid:\n  - ${problems.join("\n  - ")}`, this);
        return d;
      });
  }
}

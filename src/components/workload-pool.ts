/**
 * `ConfidentialWorkloadPool`: the Workload Identity Pool whose provider admits only attested executor runs, the
 * workload service account, and the Confidential Space instance template jobs are launched from.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import {
  type AttestationPolicyInput,
  CONFIDENTIAL_SPACE_PROVIDER_ISSUER_URI,
  attestationPolicyProblems,
  attributeMapping,
  buildAttestationCondition,
} from "../core/attestation.js";
import { throwIfProblems } from "../core/errors.js";
import { type AttestationSpec, JOB_VM_GRACE_SECONDS, SPEC_DEFAULTS, jobTimeoutProblem } from "../core/spec.js";
import { ALLOW_DEBUG_LABEL, COMPONENT_DEFAULTS, CS_IMAGE_FAMILIES, CS_IMAGE_PROJECT, ROLES, TEE_TYPES } from "./defaults.js";
import type { ConfidentialVmOptions } from "./options.js";
import { confidentialVmProblems, locationProblems, namingProblems } from "./validate.js";

/** Arguments of a `ConfidentialWorkloadPool`. */
export interface ConfidentialWorkloadPoolArgs {
  /** Project of the pool, service account and instance template (may be another resource's output). */
  readonly project: pulumi.Input<string>;
  /** Region (for the zone check). */
  readonly region: string;
  /** Zone where job VMs run. @default "<region>-a" */
  readonly zone?: string;
  /** Prefix of the resource ids. @default - the resource name */
  readonly namePrefix?: string;
  /** Workload Identity Pool id (4–32 chars; deleted ids stay reserved for 30 days). @default "<namePrefix>-pool" */
  readonly poolId?: string;
  /** Executor image digest (`sha256:<64 hex>`), pinned in the condition. */
  readonly imageDigest: pulumi.Input<string>;
  /** Executor image reference `repository@sha256:…`, launched by the VMs. */
  readonly imageReference: pulumi.Input<string>;
  /** Artifact Registry repository id (`projects/<p>/locations/<l>/repositories/<r>`) the workload account may pull from. @default - no pull grant (public or external registry) */
  readonly repositoryId?: pulumi.Input<string>;
  /** Attestation requirements. @default - production images only, STABLE required, hardware of `confidentialVm.teeType` */
  readonly attestation?: AttestationSpec;
  /** The VM shape. @default - TDX on c3-standard-4, 30 GB, standard provisioning */
  readonly confidentialVm?: ConfidentialVmOptions;
  /** Subnetwork (self link or id) of the VMs; they get no external IP. */
  readonly subnetwork: pulumi.Input<string>;
  /**
   * Email of an existing workload service account the VMs run as (the room creates it first, so the network's
   * firewall can target it).
   * @default - a new account `<namePrefix>-workload`
   */
  readonly serviceAccountEmail?: pulumi.Input<string>;
  /**
   * The quarantine every job must write to (`gs://<bucket>/`), pinned in the condition: a submitter who launches an
   * approved job with an output location of their own gets no token exchange, hence no keys. `DataCleanRoom` passes its
   * `ResultStore`'s quarantine.
   * @default - not pinned
   */
  readonly outputUriPrefix?: pulumi.Input<string>;
  /**
   * The room's `jobs.timeoutSeconds`: a job VM is deleted by Compute Engine once it has run this long plus
   * `JOB_VM_GRACE_SECONDS` (`scheduling.maxRunDuration`, `instanceTerminationAction: DELETE`), even when nobody
   * waits for the job. The executor itself stops the job at the limit and commits a `timeout` receipt first.
   * @default 21600 (6 hours)
   */
  readonly jobTimeoutSeconds?: number;
}

/**
 * How long a job VM may run: the job's limit plus the grace for boot, image pull, decryption and the result's upload,
 * and no longer than a FLEX_START reservation. Pure.
 */
export function jobVmMaxRunSeconds(jobTimeoutSeconds: number, flexStartHours?: number): number {
  const limit = jobTimeoutSeconds + JOB_VM_GRACE_SECONDS;
  return flexStartHours === undefined ? limit : Math.min(limit, flexStartHours * 3600);
}

interface Internals {
  readonly serviceAccount?: gcp.serviceaccount.Account;
  readonly pool: gcp.iam.WorkloadIdentityPool;
  readonly provider: gcp.iam.WorkloadIdentityPoolProvider;
  readonly template: gcp.compute.InstanceTemplate;
  readonly policy: pulumi.Output<AttestationPolicyInput>;
}
const INTERNALS = new WeakMap<ConfidentialWorkloadPool, Internals>();

/** Problems of `ConfidentialWorkloadPoolArgs`. Pure. */
export function workloadPoolProblems(name: string, args: ConfidentialWorkloadPoolArgs): string[] {
  if (args === null || typeof args !== "object") return ["args must be an object"];
  const allowDebug = args.attestation?.allowDebug === true;
  const out = [
    ...locationProblems(args.project, args.region, args.zone),
    ...namingProblems(args.namePrefix ?? name, args.poolId, args.namePrefix === undefined),
    ...confidentialVmProblems(args.confidentialVm, allowDebug),
  ];
  if (args.attestation !== undefined) {
    out.push(
      ...attestationPolicyProblems(
        { imageDigests: [`sha256:${"0".repeat(64)}`], ...(args.attestation as Omit<AttestationPolicyInput, "imageDigests">) },
        "attestation",
      ),
    );
  }
  if (typeof args.imageDigest === "string" && !/^sha256:[0-9a-f]{64}$/.test(args.imageDigest)) {
    out.push(`imageDigest must be sha256:<64 lowercase hex> (got ${JSON.stringify(args.imageDigest)})`);
  }
  if (typeof args.outputUriPrefix === "string") {
    out.push(...attestationPolicyProblems({ imageDigests: [`sha256:${"0".repeat(64)}`], outputUriPrefix: args.outputUriPrefix }, "args"));
  }
  if (args.jobTimeoutSeconds !== undefined) {
    const p = jobTimeoutProblem(args.jobTimeoutSeconds, "jobTimeoutSeconds");
    if (p) out.push(p);
  }
  if (args.imageDigest === undefined) out.push("imageDigest is required");
  if (args.imageReference === undefined) out.push("imageReference is required");
  if (args.subnetwork === undefined) out.push("subnetwork is required");
  return out;
}

/** The attestation policy a pool enforces (also what the descriptor records). Pure. */
export function poolPolicy(
  attestation: AttestationSpec | undefined,
  vm: ConfidentialVmOptions | undefined,
  imageDigest: string,
  serviceAccount: string,
  project: string,
  outputUriPrefix?: string,
): AttestationPolicyInput {
  const allowDebug = attestation?.allowDebug ?? false;
  const tee = vm?.teeType ?? COMPONENT_DEFAULTS.teeType;
  return {
    imageDigests: [imageDigest],
    // The VM must run as the room's workload account: a VM someone else launched with the same image gets nothing.
    serviceAccounts: [serviceAccount],
    // ... and in the room's project.
    projectIds: [project],
    allowDebug,
    requireStable: allowDebug ? false : (attestation?.requireStable ?? true),
    // Pin the hardware the template launches, so a token from weaker hardware is refused.
    hwModels: [...(attestation?.hwModels ?? [TEE_TYPES[tee]!])],
    ...(attestation?.minImageVersion === undefined ? {} : { minImageVersion: attestation.minImageVersion }),
    // ... and only while it writes into the room's quarantine, where the provider's release review sees it.
    ...(outputUriPrefix === undefined ? {} : { outputUriPrefix }),
    platform: "gcp",
  };
}

/** The Confidential Space image family for a VM shape. */
export function imageFamily(allowDebug: boolean, gpu: boolean): string {
  if (gpu) return allowDebug ? CS_IMAGE_FAMILIES.gpuDebug : CS_IMAGE_FAMILIES.gpuProduction;
  return allowDebug ? CS_IMAGE_FAMILIES.debug : CS_IMAGE_FAMILIES.production;
}

/**
 * The pool, its OIDC provider for `https://confidentialcomputing.googleapis.com/` with core's attribute mapping and
 * attestation condition, the workload service account, and the instance template.
 *
 * The workload account holds only `roles/confidentialcomputing.workloadUser` at project level
 * (`roles/logging.logWriter` too when debug log redirect is on) and `roles/artifactregistry.reader` on the image
 * repository. Data access never goes to this account: it goes to attested principal sets of the pool.
 */
export class ConfidentialWorkloadPool extends pulumi.ComponentResource {
  /** Full pool name `projects/<number>/locations/global/workloadIdentityPools/<id>`. */
  readonly poolName: pulumi.Output<string>;
  /** Full provider name (the STS audience is `//iam.googleapis.com/<this>`). */
  readonly poolProviderName: pulumi.Output<string>;
  /** The CEL attribute condition (exactly `buildAttestationCondition(policy)`). */
  readonly condition: pulumi.Output<string>;
  /** Email of the workload service account. */
  readonly serviceAccountEmail: pulumi.Output<string>;
  /** Self link of the instance template. */
  readonly instanceTemplate: pulumi.Output<string>;

  constructor(name: string, args: ConfidentialWorkloadPoolArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `ConfidentialWorkloadPool "${name}" arguments`, workloadPoolProblems(name, args));
    super("cleanroom:index:ConfidentialWorkloadPool", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const project = args.project;
    const allowDebug = args.attestation?.allowDebug ?? false;
    const vm = args.confidentialVm ?? {};
    const gpu = vm.gpu ?? false;
    const tee = vm.teeType ?? COMPONENT_DEFAULTS.teeType;
    const logRedirect = allowDebug && vm.debugLogRedirect === true;

    const serviceAccount =
      args.serviceAccountEmail === undefined
        ? new gcp.serviceaccount.Account(
            `${name}-workload`,
            { project, accountId: `${prefix}-workload`, displayName: "Clean room workload (Confidential Space VMs)" },
            { parent: this },
          )
        : undefined;
    const email = serviceAccount ? serviceAccount.email : pulumi.output(args.serviceAccountEmail!);
    const member = pulumi.interpolate`serviceAccount:${email}`;
    // The only project-level roles: generating attestation tokens, and writing logs when debug redirect is on.
    new gcp.projects.IAMMember(`${name}-workload-user`, { project, role: ROLES.workloadUser, member }, { parent: this });
    if (logRedirect) {
      new gcp.projects.IAMMember(`${name}-log-writer`, { project, role: ROLES.logWriter, member }, { parent: this });
    }
    if (args.repositoryId !== undefined) {
      const repo = pulumi.output(args.repositoryId).apply(parseRepositoryId);
      // Pull access on this one repository, not the project: the account cannot read other images.
      new gcp.artifactregistry.RepositoryIamMember(
        `${name}-pull`,
        { project: repo.project, location: repo.location, repository: repo.repository, role: ROLES.artifactReader, member },
        { parent: this },
      );
    }

    const pool = new gcp.iam.WorkloadIdentityPool(
      `${name}-pool`,
      {
        project,
        workloadIdentityPoolId: args.poolId ?? `${prefix}-pool`,
        displayName: `${prefix} clean room`.slice(0, 32),
        description: "Attested Confidential Space executor runs of the clean room",
      },
      { parent: this },
    );
    const policy = pulumi
      .all([args.imageDigest, email, project, args.outputUriPrefix])
      .apply(([digest, sa, proj, prefixUri]) => poolPolicy(args.attestation, vm, digest, sa, proj, prefixUri));
    const condition = policy.apply((p) => {
      try {
        return buildAttestationCondition(p);
      } catch (err) {
        throw new pulumi.ResourceError(`cannot build the attestation condition: ${(err as Error).message}`, this);
      }
    });
    const provider = new gcp.iam.WorkloadIdentityPoolProvider(
      `${name}-attestation`,
      {
        project,
        workloadIdentityPoolId: pool.workloadIdentityPoolId,
        workloadIdentityPoolProviderId: "attestation-verifier",
        displayName: "Confidential Space attestation",
        attributeMapping: attributeMapping(),
        // Written once in core: the same CEL text the local broker and `cleanroom policy test` evaluate.
        attributeCondition: condition,
        oidc: { issuerUri: CONFIDENTIAL_SPACE_PROVIDER_ISSUER_URI, allowedAudiences: ["https://sts.googleapis.com"] },
      },
      { parent: this },
    );

    const family = imageFamily(allowDebug, gpu);
    const provisioningModel = vm.provisioningModel ?? (gpu ? "SPOT" : "STANDARD");
    const metadata: Record<string, pulumi.Input<string>> = {
      // Launch by digest: a moved tag cannot change what runs.
      "tee-image-reference": args.imageReference,
      // A job runs once: a restart would run it again and write a second receipt.
      "tee-restart-policy": "Never",
      ...(logRedirect ? { "tee-container-log-redirect": "true" } : {}),
      ...(gpu ? { "tee-install-gpu-driver": "true" } : {}),
    };
    const template = new gcp.compute.InstanceTemplate(
      `${name}-template`,
      {
        project,
        namePrefix: `${prefix}-job-`,
        description: `Confidential Space (${family}) executor VM of the clean room`,
        machineType: vm.machineType ?? COMPONENT_DEFAULTS.machineType[gpu ? "GPU" : tee]!,
        disks: [
          {
            boot: true,
            autoDelete: true,
            // Production family unless debug is explicitly allowed: debug images give the operator root.
            sourceImage: `projects/${CS_IMAGE_PROJECT}/global/images/family/${family}`,
            diskSizeGb: vm.bootDiskSizeGb ?? COMPONENT_DEFAULTS.bootDiskSizeGb,
            diskType: "pd-balanced",
          },
        ],
        confidentialInstanceConfig: { confidentialInstanceType: tee },
        // Secure boot + vTPM + integrity monitoring: the measured boot chain the attestation relies on.
        shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
        scheduling: {
          // Confidential VMs cannot live-migrate with their memory keys; TERMINATE is required.
          onHostMaintenance: "TERMINATE",
          automaticRestart: false,
          provisioningModel,
          // A job that spins forever (or an executor that hangs) must not keep a VM, and the data it decrypted, alive:
          // Compute Engine deletes the VM after the room's job limit plus the grace, whoever waits for it.
          instanceTerminationAction: "DELETE",
          maxRunDuration: {
            seconds: jobVmMaxRunSeconds(
              args.jobTimeoutSeconds ?? SPEC_DEFAULTS.jobTimeoutSeconds,
              provisioningModel === "FLEX_START" ? (vm.maxRunDurationHours ?? COMPONENT_DEFAULTS.maxRunDurationHours) : undefined,
            ),
          },
          ...(provisioningModel === "SPOT" ? { preemptible: true } : {}),
        },
        ...(provisioningModel === "FLEX_START" ? { reservationAffinity: { type: "NO_RESERVATION" } } : {}),
        serviceAccount: { email, scopes: ["https://www.googleapis.com/auth/cloud-platform"] },
        // No accessConfigs: the VM gets no external IP (and submitters cannot add one: they may only use the subnet,
        // not its external IPs). Egress is limited by the network's firewall, which targets this service account.
        networkInterfaces: [{ subnetwork: args.subnetwork }],
        metadata,
        // The policy pack's confidential-space-vm-hardened rule refuses a debug image unless the resource says so: a
        // debug room declares itself, so a reviewer sees it in the plan and nobody boots one by accident.
        labels: { "cleanroom-room": prefix, "cleanroom-role": "executor", ...(allowDebug ? { [ALLOW_DEBUG_LABEL]: "true" } : {}) },
      },
      { parent: this },
    );

    INTERNALS.set(this, { ...(serviceAccount ? { serviceAccount } : {}), pool, provider, template, policy });
    this.poolName = pool.name;
    this.poolProviderName = provider.name;
    this.condition = condition;
    this.serviceAccountEmail = email;
    this.instanceTemplate = template.selfLink;
    this.registerOutputs({
      poolName: this.poolName,
      poolProviderName: this.poolProviderName,
      condition: this.condition,
      serviceAccountEmail: this.serviceAccountEmail,
      instanceTemplate: this.instanceTemplate,
    });
  }

  /** The attestation policy the condition was built from. */
  get policy(): pulumi.Output<AttestationPolicyInput> {
    return INTERNALS.get(this)!.policy;
  }
  /** The workload service account, when this pool created it (not when `serviceAccountEmail` was given). */
  get serviceAccount(): gcp.serviceaccount.Account | undefined {
    return INTERNALS.get(this)!.serviceAccount;
  }
  /** The Workload Identity Pool. */
  get pool(): gcp.iam.WorkloadIdentityPool {
    return INTERNALS.get(this)!.pool;
  }
  /** The pool's OIDC provider. */
  get provider(): gcp.iam.WorkloadIdentityPoolProvider {
    return INTERNALS.get(this)!.provider;
  }
  /** The instance template of job VMs. */
  get template(): gcp.compute.InstanceTemplate {
    return INTERNALS.get(this)!.template;
  }
}

function parseRepositoryId(id: string): { project: string; location: string; repository: string } {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/repositories\/([^/]+)$/.exec(id);
  if (!m) throw new Error(`repositoryId must be projects/<p>/locations/<l>/repositories/<r> (got ${JSON.stringify(id)})`);
  return { project: m[1]!, location: m[2]!, repository: m[3]! };
}

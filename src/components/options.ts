/**
 * The GCP options of a clean room. Plain interfaces of strings, numbers, booleans and arrays, so Pulumi's component
 * schema analyzer can infer them (enumerations are `string`, validated in `validate.ts`).
 */
import type * as pulumi from "@pulumi/pulumi";

/** The room's network. */
export interface NetworkOptions {
  /** CIDR of the subnet the Confidential Space VMs use (Private Google Access on, no NAT). @default "10.10.0.0/24" */
  readonly teeSubnetCidr?: string;
  /** CIDR of the stage-1 sandbox (GKE nodes) subnet. @default "10.20.0.0/22" */
  readonly sandboxSubnetCidr?: string;
  /** Secondary range for GKE pods. @default "10.64.0.0/14" */
  readonly podsCidr?: string;
  /** Secondary range for GKE services. @default "10.68.0.0/20" */
  readonly servicesCidr?: string;
  /**
   * How VMs without external IPs reach Google APIs: `"restricted"` (restricted.googleapis.com, only APIs that
   * VPC Service Controls can guard) or `"private"` (private.googleapis.com).
   * @default "restricted"
   */
  readonly googleApisAccess?: string;
}

/**
 * The executor image. Give exactly one of `imageReference` (an image already pushed, pinned by digest) or
 * `context` (build it here with Docker and push it to a repository this component creates).
 */
export interface ExecutorImageOptions {
  /** An existing image pinned by digest: `<registry>/<path>@sha256:<64 hex>` (may be another resource's output). Mutually exclusive with `context`. @default - build from `context` */
  readonly imageReference?: pulumi.Input<string>;
  /** Docker build context (a directory). Mutually exclusive with `imageReference`. @default - none */
  readonly context?: string;
  /** Dockerfile path; it must carry the launch-policy labels (`allow_env_override`, `log_redirect=debugonly`). @default "<context>/Dockerfile" */
  readonly dockerfile?: string;
  /**
   * Tag pushed next to the digest. Tags are immutable in the repository, so the default changes whenever the build
   * context does: a changed executor is pushed under a new tag instead of failing on the old one.
   * @default - "ctx-" and 16 hex characters of the build context's content hash (Dockerfile and every file not in .dockerignore)
   */
  readonly tag?: string;
  /** Build platform. Confidential Space VMs are x86-64. @default "linux/amd64" */
  readonly platform?: string;
}

/** The Confidential Space VMs that run stage-2 jobs. */
export interface ConfidentialVmOptions {
  /** Confidential computing technology: `"TDX"` (Intel) or `"SEV"` (AMD). @default "TDX" */
  readonly teeType?: string;
  /** Run on an H100 in confidential mode (TDX only, Preview image family, spot or flex-start capacity). @default false */
  readonly gpu?: boolean;
  /** Machine type. @default "c3-standard-4" for TDX, "n2d-standard-2" for SEV, "a3-highgpu-1g" with `gpu` */
  readonly machineType?: string;
  /** Boot disk size in GB (at least 30 with `gpu`). @default 30 */
  readonly bootDiskSizeGb?: number;
  /** `"STANDARD"`, `"SPOT"` or `"FLEX_START"` (the last two only with `gpu`). @default "STANDARD", or "SPOT" with `gpu` */
  readonly provisioningModel?: string;
  /** Run limit of a flex-start VM, in hours (1–168). @default 24 */
  readonly maxRunDurationHours?: number;
  /** Send container logs to Cloud Logging. Only with `attestation.allowDebug` (production images refuse it). @default false */
  readonly debugLogRedirect?: boolean;
}

/** GitHub OAuth login for JupyterHub. */
export interface GitHubAuthOptions {
  /** OAuth app client id. */
  readonly clientId: string;
  /** OAuth app client secret (pass a Pulumi secret: `config.requireSecret(...)`). */
  readonly clientSecret: pulumi.Input<string>;
  /** GitHub organizations whose members may log in. @default [] */
  readonly allowedOrganizations?: string[];
  /** GitHub users who may log in. @default [] */
  readonly allowedUsers?: string[];
  /** OAuth callback URL. @default "http://localhost:8080/hub/oauth_callback" (through `kubectl port-forward`) */
  readonly callbackUrl?: string;
}

/** Google OAuth login for JupyterHub. */
export interface GoogleAuthOptions {
  /** OAuth client id. */
  readonly clientId: string;
  /** OAuth client secret (pass a Pulumi secret). */
  readonly clientSecret: pulumi.Input<string>;
  /** Google Workspace domains whose users may log in. @default [] */
  readonly hostedDomains?: string[];
  /** Individual users (emails) who may log in. @default [] */
  readonly allowedUsers?: string[];
  /** OAuth callback URL. @default "http://localhost:8080/hub/oauth_callback" (through `kubectl port-forward`) */
  readonly callbackUrl?: string;
}

/** The stage-1 sandbox: JupyterHub on a private GKE Autopilot cluster. */
export interface SandboxOptions {
  /** Deploy the sandbox. @default true */
  readonly enabled?: boolean;
  /** CIDRs allowed to reach the GKE control plane (where `pulumi up` and `kubectl` run). Required when enabled. @default - none: you must list them */
  readonly authorizedNetworks?: string[];
  /** JupyterHub Helm chart version. @default "4.2.0" */
  readonly chartVersion?: string;
  /** Log in with GitHub. Exactly one authenticator must be configured. @default - none */
  readonly github?: GitHubAuthOptions;
  /** Log in with Google. Exactly one authenticator must be configured. @default - none */
  readonly google?: GoogleAuthOptions;
  /** Anyone who can reach the hub logs in with any name and no password. Demos only. @default false */
  readonly insecureDummyAuthenticator?: boolean;
  /**
   * Give the GKE control plane only a private endpoint (no public IP at all). Then `pulumi up` (which installs the
   * JupyterHub chart) and `kubectl` must run from inside the VPC or over a VPN/interconnect. When false, the public
   * endpoint answers only `authorizedNetworks` (and no other Google Cloud customer's address).
   * @default false
   */
  readonly privateEndpoint?: boolean;
  /** Run the sandbox nodes as Confidential GKE nodes. @default false */
  readonly confidentialNodes?: boolean;
  /** Kubernetes namespace of JupyterHub. @default "jupyterhub" */
  readonly namespace?: string;
  /**
   * The single-user image with the `cleanroom` CLI and the room console (built from `sandbox/Dockerfile`), pinned as
   * `<repository>:<tag>@sha256:<digest>`. Each user's JupyterLab then has a "Clean room" launcher tile (the console,
   * through jupyter-server-proxy, with their home as its workspace) and the room's descriptor at
   * `/etc/cleanroom/room.json`. The console acts with the sandbox's credentials (stage-1 data only).
   * @default - the chart's sample image: JupyterLab without the CLI or the console
   */
  readonly singleUserImage?: string;
}

/**
 * A VPC Service Controls perimeter around the room's project and the providers' projects. It adds what the restricted
 * VIP alone cannot: data in the perimeter's services (Cloud Storage, Cloud KMS, …) cannot be copied to a project
 * outside it, even by a principal who holds the roles, and requests from outside the perimeter are refused.
 */
export interface VpcServiceControlsOptions {
  /** The organization's access policy, `accessPolicies/<number>` or the number alone. */
  readonly accessPolicy: string;
  /** Perimeter name (letters, digits and underscores). @default "<namePrefix>_cleanroom" with hyphens as underscores */
  readonly perimeterName?: string;
  /** Put the providers' projects in the perimeter too (each provider must agree: it is their project). @default true */
  readonly includeProviderProjects?: boolean;
  /** Extra project numbers to include (e.g. the provider projects of external providers). @default [] */
  readonly extraProjectNumbers?: string[];
  /** Run the perimeter in dry-run mode first (violations are logged, not blocked). @default false */
  readonly dryRun?: boolean;
}

/** The room's buckets. */
export interface StorageOptions {
  /** Days during which receipts, outputs and bundles cannot be deleted or overwritten. @default 30 */
  readonly retentionDays?: number;
  /** Lock the retention policy (irreversible: nobody, not even the owner, can shorten it). @default false */
  readonly lockRetention?: boolean;
  /** Let `pulumi destroy` delete buckets that still hold objects. @default false */
  readonly forceDestroy?: boolean;
}

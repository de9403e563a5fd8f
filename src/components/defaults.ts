/**
 * Secure defaults of the GCP components, in one place. Each security-relevant value says which threat it stops;
 * weakening any of them is an explicit, named option of a component.
 */

/** Project that publishes the Confidential Space images. */
export const CS_IMAGE_PROJECT = "confidential-space-images";

/** Confidential Space image families (D-deploy). */
export const CS_IMAGE_FAMILIES = {
  /** Hardened image: no SSH, no operator root, the VM powers off after the workload. */
  production: "confidential-space",
  /** Debug image: SSH and operator root. Only with `attestation.allowDebug`. */
  debug: "confidential-space-debug",
  /** Preview image family for H100 GPUs in confidential mode. */
  gpuProduction: "confidential-space-preview-cgpu",
  /** Debug variant of the GPU preview family. */
  gpuDebug: "confidential-space-debug-preview-cgpu",
} as const;

/** Confidential VM technologies Confidential Space supports, and the `hwmodel` claim each one produces. */
export const TEE_TYPES: Readonly<Record<string, string>> = { TDX: "GCP_INTEL_TDX", SEV: "GCP_AMD_SEV" };

/** VM provisioning models accepted by `confidentialVm.provisioningModel`. */
export const PROVISIONING_MODELS = ["STANDARD", "SPOT", "FLEX_START"] as const;

/** Ways the VMs reach Google APIs without external IPs. */
export const GOOGLE_APIS_ACCESS = ["restricted", "private"] as const;

/** The address ranges of `restricted.googleapis.com` and `private.googleapis.com`. */
export const GOOGLE_APIS_VIP: Readonly<Record<string, string>> = {
  restricted: "199.36.153.4/30",
  private: "199.36.153.8/30",
};

/** Label of a VM template that boots a debug image on purpose (the policy pack's rule 1 reads it). */
export const ALLOW_DEBUG_LABEL = "cleanroom-allow-debug";

/** Label that says what a bucket holds (`data`, `jobs`, `quarantine`, `results`, `stage1`); the policy pack's rule 4 reads it. */
export const BUCKET_ROLE_LABEL = "cleanroom-role";
/**
 * Label of a room's quarantine bucket: the room's disclosure mode (`output.disclosure.mode`: `review`, `enforce` or
 * `off`), so the policy pack can flag a room whose outputs leave unchecked.
 */
export const DISCLOSURE_MODE_LABEL = "cleanroom-disclosure";


/** The pinned JupyterHub Helm chart (z2jh). A floating version would change the sandbox without review. */
export const JUPYTERHUB_CHART = { name: "jupyterhub", repo: "https://hub.jupyter.org/helm-chart/", version: "4.2.0" } as const;

/** Numbers used when an option is left out. */
export const COMPONENT_DEFAULTS = {
  teeType: "TDX",
  machineType: { TDX: "c3-standard-4", SEV: "n2d-standard-2", GPU: "a3-highgpu-1g" } as Readonly<Record<string, string>>,
  /** Boot disk of the TEE VM; the GPU image needs at least 30 GB for the driver. */
  bootDiskSizeGb: 30,
  /** Flex-start GPU VMs must have a run limit; 24 h is enough for one job and bounds a stuck VM's cost. */
  maxRunDurationHours: 24,
  /** KMS key rotation: 90 days bounds how much data one key version protects. */
  keyRotationDays: 90,
  /** Receipts and outputs cannot be deleted for this long (audit trail). */
  retentionDays: 30,
  teeSubnetCidr: "10.10.0.0/24",
  sandboxSubnetCidr: "10.20.0.0/22",
  podsCidr: "10.64.0.0/14",
  servicesCidr: "10.68.0.0/20",
  googleApisAccess: "restricted",
  jupyterNamespace: "jupyterhub",
  platform: "linux/amd64",
} as const;

/** IAM roles the components grant, by purpose. */
export const ROLES = {
  workloadUser: "roles/confidentialcomputing.workloadUser",
  logWriter: "roles/logging.logWriter",
  artifactReader: "roles/artifactregistry.reader",
  decrypter: "roles/cloudkms.cryptoKeyDecrypter",
  encrypter: "roles/cloudkms.cryptoKeyEncrypter",
  encrypterDecrypter: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
  objectViewer: "roles/storage.objectViewer",
  objectCreator: "roles/storage.objectCreator",
  serviceAccountUser: "roles/iam.serviceAccountUser",
  workloadIdentityUser: "roles/iam.workloadIdentityUser",
  instanceAdmin: "roles/compute.instanceAdmin.v1",
  networkUser: "roles/compute.networkUser",
  /** The least-privileged role of a GKE node's own service account (logs, metrics, image pulls). */
  gkeNode: "roles/container.defaultNodeServiceAccount",
} as const;

/**
 * What a submitter may do on the TEE subnet: attach a VM's interface, and nothing else. Not `roles/compute.networkUser`,
 * which also carries `compute.subnetworks.useExternalIp`: without it no VM on the subnet can get an external IP, whoever
 * creates it (job VMs cannot be given a path around the egress firewall's VIP-only rule).
 */
export const SUBNET_USE_PERMISSIONS: readonly string[] = ["compute.subnetworks.use"];

/**
 * What a submitter needs besides the name-conditioned instance role: polling the zone operations of its own inserts and
 * deletes. Operations carry no data (a type, a status, a target link).
 */
export const JOB_OPERATION_PERMISSIONS: readonly string[] = ["compute.zoneOperations.get"];

/** The only project-level roles the room ever grants to its workload service account. */
export const PROJECT_LEVEL_WORKLOAD_ROLES: readonly string[] = [ROLES.workloadUser, ROLES.logWriter];

/** APIs a room needs. */
export const REQUIRED_APIS: readonly string[] = [
  "artifactregistry.googleapis.com",
  "cloudkms.googleapis.com",
  "compute.googleapis.com",
  "confidentialcomputing.googleapis.com",
  "dns.googleapis.com",
  "iam.googleapis.com",
  "iamcredentials.googleapis.com",
  "logging.googleapis.com",
  "storage.googleapis.com",
  "sts.googleapis.com",
];

/** APIs a provider's own project needs: its pool (IAM, STS), its key and its bucket. */
export const PROVIDER_APIS: readonly string[] = ["cloudkms.googleapis.com", "iam.googleapis.com", "storage.googleapis.com", "sts.googleapis.com"];

/** Extra API of the stage-1 sandbox. */
export const SANDBOX_APIS: readonly string[] = ["container.googleapis.com"];

/**
 * The job VM: created from the room's Confidential Space instance template, told what to run only through
 * `tee-*` metadata, and deleted when the job is over.
 */
import type { InstancesClient, ZoneOperationsClient, protos } from "@google-cloud/compute";
import { CleanRoomError } from "../../../core/errors.js";
import { type GcpCallContext, gcpError, inspectGcpError } from "./errors.js";
import { type RetryPolicy, withRetry } from "./retry.js";

/** Metadata key of the workload image (must be `repo@sha256:…`: a tag could move under the VM). */
export const IMAGE_REFERENCE_KEY = "tee-image-reference";
/** Prefix of the metadata keys that become the workload's environment (each name must be in `allow_env_override`). */
export const TEE_ENV_PREFIX = "tee-env-";
/** Label keys of a job VM. */
export const LABELS = { job: "cleanroom-job", room: "cleanroom-room" } as const;

/** What to launch. */
export interface JobVmSpec {
  readonly project: string;
  readonly zone: string;
  /** `projects/…/global/instanceTemplates/…`, or a selfLink. */
  readonly instanceTemplate: string;
  readonly name: string;
  /** `repo@sha256:<64 hex>` */
  readonly imageReference: string;
  /** Becomes `tee-env-<NAME>` metadata. */
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Idempotency key: a retried insert with the same id creates one VM. */
  readonly requestId: string;
}

/** The `Instance` body sent to `instances.insert`: name, metadata and labels only — everything else is the template's. */
export function jobInstanceResource(spec: JobVmSpec): protos.google.cloud.compute.v1.IInstance {
  if (!/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(spec.imageReference)) {
    throw new CleanRoomError(
      "invalid-descriptor",
      `descriptor.executor.imageReference must be repository@sha256:<64 hex> (got ${JSON.stringify(spec.imageReference)}); re-export the descriptor of a deployed room`,
    );
  }
  const items = [
    { key: IMAGE_REFERENCE_KEY, value: spec.imageReference },
    ...Object.entries(spec.env).map(([k, v]) => ({ key: `${TEE_ENV_PREFIX}${k}`, value: v })),
  ];
  // No networkInterfaces / accessConfigs here: the template's private-only network (no external IP) is what applies.
  return { name: spec.name, metadata: { items }, labels: { ...spec.labels } };
}

type Operation = protos.google.cloud.compute.v1.IOperation;

async function waitOperation(zoneOps: ZoneOperationsClient, project: string, zone: string, first: Operation, retry: RetryPolicy, ctx: GcpCallContext): Promise<void> {
  let op = first;
  // The REST LRO wrapper never reports done: poll the zone operation ourselves (operations.wait blocks ≤ 2 min).
  while (String(op.status) !== "DONE" && op.status !== 2104194 && op.name) {
    const name = op.name;
    [op] = await withRetry(ctx, retry, () => zoneOps.wait({ project, zone, operation: name }));
  }
  const errors = op.error?.errors ?? [];
  if (errors.length > 0) {
    // A finished operation carries its failure (e.g. QUOTA_EXCEEDED) instead of throwing it.
    throw gcpError({ code: Number(op.httpErrorStatusCode ?? 0) || undefined, errors: errors.map((e) => ({ reason: e.code, message: e.message })), message: errors.map((e) => e.message).join("; ") }, ctx);
  }
}

/** Creates a job VM and waits for the insert operation to finish. */
export async function createJobVm(instances: InstancesClient, zoneOps: ZoneOperationsClient, spec: JobVmSpec, retry: RetryPolicy): Promise<void> {
  const ctx: GcpCallContext = {
    action: `create the Confidential Space VM ${spec.name} in ${spec.zone} from ${spec.instanceTemplate}`,
    role: `roles/compute.instanceAdmin.v1 on project ${spec.project} and roles/iam.serviceAccountUser on the room's workload service account`,
    api: "compute.googleapis.com",
    project: spec.project,
  };
  const instanceResource = jobInstanceResource(spec);
  const [lro] = await withRetry(ctx, retry, () =>
    instances.insert({ project: spec.project, zone: spec.zone, sourceInstanceTemplate: spec.instanceTemplate, requestId: spec.requestId, instanceResource }),
  );
  const first = (lro as unknown as { latestResponse?: Operation }).latestResponse ?? {};
  await waitOperation(zoneOps, spec.project, spec.zone, first, retry, ctx);
}

/** The VM's status (`PROVISIONING`, `STAGING`, `RUNNING`, `STOPPING`, `TERMINATED`, …), or `undefined` when it does not exist. */
export async function jobVmStatus(instances: InstancesClient, project: string, zone: string, name: string, retry: RetryPolicy): Promise<string | undefined> {
  const ctx: GcpCallContext = { action: `read the state of VM ${name}`, role: `roles/compute.viewer on project ${project}`, api: "compute.googleapis.com", project };
  try {
    const [vm] = await withRetry(ctx, retry, () => instances.get({ project, zone, instance: name }));
    return String(vm.status ?? "PROVISIONING");
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "not-found") return undefined;
    throw err;
  }
}

/** Deletes a job VM (a VM that is already gone is fine) and waits for the operation. */
export async function deleteJobVm(instances: InstancesClient, zoneOps: ZoneOperationsClient, project: string, zone: string, name: string, retry: RetryPolicy): Promise<void> {
  const ctx: GcpCallContext = {
    action: `delete the job VM ${name} (delete it by hand with \`gcloud compute instances delete ${name} --zone ${zone} --project ${project}\`)`,
    role: `roles/compute.instanceAdmin.v1 on project ${project}`,
    api: "compute.googleapis.com",
    project,
  };
  try {
    const [lro] = await withRetry(ctx, retry, () => instances.delete({ project, zone, instance: name }));
    const first = (lro as unknown as { latestResponse?: Operation }).latestResponse ?? {};
    await waitOperation(zoneOps, project, zone, first, retry, ctx);
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "not-found") return;
    if (inspectGcpError(err).status === 404) return;
    throw err;
  }
}

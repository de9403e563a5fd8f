/**
 * Approving a job digest. On GCP the approval stays policy-as-code: the console prints the `pulumi config set` line
 * for the provider to run (and review, and `pulumi up`). A local room is restarted with the digest added to the
 * provider's `approvedJobs`, exactly as the README's walkthrough and the demo do (`local down`, then `local up` with
 * the changed spec); provisioned data, keys and results are kept.
 */
import { readFile } from "node:fs/promises";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { roomLayout } from "../platforms/local/layout.js";
import { localDown, localStatus, localUp } from "../platforms/local/room.js";

/** The command a provider runs on GCP to approve a digest (then `pulumi up`). */
export function pulumiApprovalCommand(descriptor: CleanRoomDescriptor, provider: string, digest: string): string {
  const p = descriptor.providers.find((x) => x.name === provider);
  const index = p?.approvedJobs.length ?? 0;
  return `pulumi config set --path 'approvedJobs[${index}]' ${digest}`;
}

interface StartedSpec {
  readonly spec: { providers: Array<{ name: string; approvedJobs?: string[] }> };
  readonly name: string;
  readonly insecureNoSandbox: boolean;
}

/** The spec and options a local room was started with (what `local up` recorded to stay idempotent). */
async function startedSpec(dir: string): Promise<StartedSpec> {
  const path = roomLayout(dir).spec;
  try {
    const v = JSON.parse(await readFile(path, "utf8")) as Partial<StartedSpec>;
    if (!v.spec || !Array.isArray(v.spec.providers) || typeof v.name !== "string") throw new Error("unexpected content");
    return { spec: v.spec, name: v.name, insecureNoSandbox: v.insecureNoSandbox === true };
  } catch (err) {
    throw new CleanRoomError(
      "io-error",
      `Cannot read the spec the room was started with (${path}: ${messageOf(err)}). Approve by hand: add the digest to approvedJobs in your spec, then \`cleanroom local down --dir ${dir}\` and \`cleanroom local up --spec <spec> --dir ${dir}\``,
    );
  }
}

/**
 * Restarts a local room with `digest` added to `provider`'s approved jobs. Refused while jobs run (a restart would
 * lose them). Returns the new descriptor.
 *
 * @throws CleanRoomError `invalid-argument` (not a local room, unknown provider), `already-exists` (jobs running)
 */
export async function approveLocally(descriptor: CleanRoomDescriptor, provider: string, digest: string): Promise<CleanRoomDescriptor> {
  if (descriptor.platform !== "local" || !descriptor.local) {
    throw new CleanRoomError("invalid-argument", `Room ${descriptor.name} runs on ${descriptor.platform}: approve with \`${pulumiApprovalCommand(descriptor, provider, digest)}\` and \`pulumi up\``);
  }
  const dir = descriptor.local.dir;
  const started = await startedSpec(dir);
  const p = started.spec.providers.find((x) => x.name === provider);
  if (!p) throw new CleanRoomError("invalid-argument", `Provider ${provider} is not in room ${descriptor.name}`);
  if ((p.approvedJobs ?? []).includes(digest)) return descriptor;
  const status = await localStatus(dir);
  if (status.running && (status.runningJobs ?? 0) > 0) {
    throw new CleanRoomError("already-exists", `${status.runningJobs} job(s) are running in the room; approving restarts it. Wait until they finish, then approve again.`);
  }
  p.approvedJobs = [...(p.approvedJobs ?? []), digest];
  await localDown(dir);
  const r = await localUp({ spec: started.spec, dir, name: started.name, insecureNoSandbox: started.insecureNoSandbox });
  return r.descriptor;
}

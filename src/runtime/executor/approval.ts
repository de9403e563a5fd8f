/**
 * Whether a job may run at all: checked by the executor (both platforms) before any key is requested or any of the
 * job's code runs, and by the local launcher before it starts an executor.
 */
import { type CleanRoomDescriptor, findProvider } from "../../core/descriptor.js";
import type { JobInput } from "../../core/digest.js";
import { CleanRoomError } from "../../core/errors.js";

/**
 * Refuses, before any key is requested or any of the job's code runs, a job that would run without every provider's
 * approval: one that declares no inputs (it would need no key, so no provider's key release would ever check it),
 * and, under `approved-jobs`, one that a provider of its inputs has not approved in the room the executor was started
 * with. The key release (broker, Cloud KMS) checks approval again for each key.
 *
 * @throws CleanRoomError `denied`
 */
export function checkApproval(descriptor: CleanRoomDescriptor, jobDigestValue: string, inputs: readonly JobInput[]): void {
  if (inputs.length === 0) {
    throw new CleanRoomError(
      "denied",
      `Job ${jobDigestValue} declares no inputs: a job runs only after each provider whose data it reads has released its key for it, so a job must read at least one dataset. None of its code ran; pack it with --input <provider>/<dataset>.`,
    );
  }
  if (descriptor.codePolicy !== "approved-jobs") return;
  const refusing = [...new Set(inputs.map((i) => i.provider))].filter((p) => !findProvider(descriptor, p).approvedJobs.includes(jobDigestValue));
  if (refusing.length > 0) {
    throw new CleanRoomError(
      "denied",
      refusing
        .map(
          (p) =>
            `provider "${p}" refused: the job is not in its approvedJobs. To approve it, add "${jobDigestValue}" to ` +
            `providers[name=${p}].approvedJobs in the spec and restart the room (local), or to its approvedJobs and \`pulumi up\` (GCP)`,
        )
        .join("; ") + ". None of the job's code ran.",
    );
  }
}

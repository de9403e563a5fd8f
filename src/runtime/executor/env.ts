/**
 * The executor's environment: the variables the launcher (local launcher, or Confidential Space through `tee-env-*`
 * metadata) sets, and the ones the executor gives the job.
 */
import { JOB_DIGEST_ENV } from "../../core/attestation.js";
import { CleanRoomError } from "../../core/errors.js";

/** The job bundle digest the operator launched (appears in the token's `submods.container.env_override`). */
export const ENV_JOB_DIGEST = JOB_DIGEST_ENV;
/** `<storage.jobs>/<jobId>`: where `bundle.tar` and `job.json` are. */
export const ENV_JOB_URI = "CLEANROOM_JOB_URI";
/** `<storage.quarantine>/<jobId>`: where the result is written. */
export const ENV_OUTPUT_URI = "CLEANROOM_OUTPUT_URI";
/**
 * The room descriptor: a file path (local) or a `gs://` URI / `file://` URI of `descriptor.json`. On GCP the
 * runtime sets it through `tee-env-CLEANROOM_ROOM` (the descriptor is only known after the image is built).
 */
export const ENV_ROOM = "CLEANROOM_ROOM";
/** Local only: the launcher socket path when it is not at the Confidential Space path (`--insecure-no-sandbox`). */
export const ENV_LAUNCHER_SOCKET = "CLEANROOM_LAUNCHER_SOCKET";
/** Local only: the key broker socket path. */
export const ENV_BROKER_SOCKET = "CLEANROOM_BROKER_SOCKET";
/** Local only: `bubblewrap` or `none`, as the launcher ran the executor (recorded in the receipt). */
export const ENV_SANDBOX = "CLEANROOM_SANDBOX";
/** What the job sees: the directory of its read-only inputs (`<provider>/<dataset>.csv`, or `.parquet` for a Parquet table). */
export const ENV_INPUTS = "CLEANROOM_INPUTS";
/** What the job sees: the only directory it may write outputs to. */
export const ENV_OUTPUT = "CLEANROOM_OUTPUT";

/**
 * Exactly the variables an operator may override on the executor image: the Dockerfile's
 * `tee.launch_policy.allow_env_override` label and the GCP runtime's `tee-env-*` metadata use this list.
 * Anything else an operator tries to set is refused by the Confidential Space launcher.
 */
// Defined in core so the WorkloadImage component (which may not import runtime/) reads the same list.
export { EXECUTOR_ENV_OVERRIDES } from "../../core/executor-env.js";

/** The launcher socket path inside a Confidential Space container (and inside the local sandbox). */
export const CONTAINER_LAUNCHER_SOCKET = "/run/container_launcher/teeserver.sock";

/** The executor's configuration, read from its environment. */
export interface ExecutorEnv {
  readonly jobDigest: string;
  readonly jobUri: string;
  readonly outputUri: string;
  readonly room: string;
}

/**
 * Reads the executor's configuration from an environment.
 *
 * @throws CleanRoomError `invalid-argument` naming every missing variable
 */
export function readExecutorEnv(env: NodeJS.ProcessEnv = process.env): ExecutorEnv {
  const missing = [ENV_JOB_DIGEST, ENV_JOB_URI, ENV_OUTPUT_URI, ENV_ROOM].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new CleanRoomError(
      "invalid-argument",
      `The executor needs ${missing.join(", ")} in its environment; it is started by the launcher (\`cleanroom job submit\`), not by hand.`,
    );
  }
  return {
    jobDigest: env[ENV_JOB_DIGEST]!,
    jobUri: env[ENV_JOB_URI]!,
    outputUri: env[ENV_OUTPUT_URI]!,
    room: env[ENV_ROOM]!,
  };
}

/**
 * The environment contract between whoever launches the executor and the executor itself.
 *
 * On GCP these variables reach the Confidential Space workload as `tee-env-<NAME>` metadata, and the launcher only
 * accepts names listed in the image label `tee.launch_policy.allow_env_override`. The label (written by the
 * executor's Dockerfile and checked by the `WorkloadImage` component) and the runtime that sets the metadata both
 * read this one list, so they cannot drift apart. It lives in `core/` because `components/` and `runtime/` may not
 * import each other (DESIGN.md).
 */
import { JOB_DIGEST_ENV, OUTPUT_URI_ENV } from "./attestation.js";

export { OUTPUT_URI_ENV };

/** `<jobs>/<jobId>`: where the executor reads the job bundle and manifest. */
export const JOB_URI_ENV = "CLEANROOM_JOB_URI";
/** The room descriptor (`gs://…/descriptor.json` on GCP, a path or `file://` URI locally). */
export const ROOM_ENV = "CLEANROOM_ROOM";

/**
 * Exactly the `CLEANROOM_*` variables an operator may set on a Confidential Space VM (`tee-env-*`).
 *
 * Every name here is operator-controlled and therefore recorded in the attestation token's
 * `submods.container.env_override`; nothing secret and nothing that weakens verification may ever be added.
 */
export const EXECUTOR_ENV_OVERRIDES: readonly string[] = Object.freeze([JOB_DIGEST_ENV, JOB_URI_ENV, OUTPUT_URI_ENV, ROOM_ENV]);

/** The launch-policy label that lists the overridable variables. */
export const ALLOW_ENV_OVERRIDE_LABEL = "tee.launch_policy.allow_env_override";
/** The launch-policy label that decides when container logs may leave the VM. */
export const LOG_REDIRECT_LABEL = "tee.launch_policy.log_redirect";
/** The only accepted value of `LOG_REDIRECT_LABEL`: logs leave the VM only on debug images. */
export const LOG_REDIRECT_POLICY = "debugonly";

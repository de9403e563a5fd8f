/**
 * What the GCP runtime tests share about the demo room of `gcpDescriptor()` (tests/core/fixtures.ts): the executor's
 * Dockerfile, a retry policy fast enough for loopback fakes, hospital-a's Cloud KMS key and the job VMs' name prefix.
 */
import { join } from "node:path";

/** The executor image's Dockerfile (its digest is what the room pins). */
export const DOCKERFILE = join(__dirname, "..", "..", "executor", "Dockerfile");
/** Retries in milliseconds, not seconds: the fakes answer at once. */
export const FAST = { attempts: 4, permissionAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
/** hospital-a's Cloud KMS key in `gcpDescriptor()`. */
export const KEY = "projects/hospital-a-prod/locations/europe-west4/keyRings/demo/cryptoKeys/hospital-a";
/** The prefix of the job VMs' names in `gcpDescriptor()`. */
export const VM_PREFIX = "demo-job-";

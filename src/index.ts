/**
 * attested-cleanroom: declare, run and verify two-stage TEE-based data clean rooms.
 *
 * - `core`: the spec, the attestation condition, descriptors, digests and receipts.
 * - `components`: Pulumi components (`DataCleanRoom` and its family) for Google Cloud.
 * - `runtime`: verification, jobs, the executor, platforms, provisioning and DP.
 */
export * from "./core/index.js";
export * from "./runtime/verify/index.js";

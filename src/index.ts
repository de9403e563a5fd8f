/**
 * attested-cleanroom: declare, run and verify two-stage TEE-based data clean rooms.
 *
 * - `core`: the spec, the attestation condition, descriptors, digests and receipts.
 * - `components`: Pulumi components (`DataCleanRoom` and its family) for Google Cloud.
 * - `runtime`: verification, jobs, the executor, platforms, provisioning and DP.
 */
export * from "./core/index.js";
export * from "./runtime/verify/index.js";
export * from "./runtime/dp/index.js";
// Components load @pulumi/* (about as much code again as the rest of the package), so their values live at the
// `attested-cleanroom/components` subpath; the types are re-exported here so Pulumi's component analyzer (which
// starts from this file) finds them, at no runtime cost.
export type * from "./components/index.js";
// Jobs (pack/submit/wait/fetch/release), the platform interface and the local backend.
export * from "./runtime/jobs/index.js";
export * from "./runtime/platforms/platform.js";
export { executorPlatformFor, roomClientFor } from "./runtime/platforms/index.js";
export { type LocalStatus, type LocalUpOptions, type LocalUpResult, localDown, localStatus, localUp } from "./runtime/platforms/local/room.js";
// The room console (`cleanroom console`): a web page per role over the same calls.
export { type ConsoleOptions, type ReportCheck, RESULT_CHECKS, type RunningConsole, startConsole, type VerificationReport, verificationReport } from "./runtime/console/index.js";

/**
 * The Google Cloud platform: `createGcpRoomClient` (providers and consumers) and `createGcpExecutorPlatform` (inside
 * the Confidential Space VM). Loaded lazily by `platforms/index.ts`. See docs/gcp-runtime.md.
 */
export { createGcpExecutorPlatform, GcpExecutorPlatform, type GcpExecutorOptions, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV } from "./executor-platform.js";
export { createGcpRoomClient, GcpRoomClient, type GcpRoomClientOptions, vmNameFor, vmNamePrefix, labelValue, POLL_INTERVAL_ENV, AWAITING_RELEASE } from "./room-client.js";
export { GCP_API_ENDPOINT_ENV, endpointOverrideFromEnv, parseEndpointOverride, type GcpEndpointOverride } from "./endpoints.js";
export { gcpError, inspectGcpError, classifyGcpError, GCP_ERROR_CODES, type GcpCallContext } from "./errors.js";
export { DEFAULT_RETRY, RETRY_BASE_ENV, type RetryPolicy, retryFromEnv, withRetry } from "./retry.js";
export { createGcpClients, type GcpClients, TEST_TOKEN_ENV } from "./clients.js";
export { jobInstanceResource, IMAGE_REFERENCE_KEY, TEE_ENV_PREFIX, LABELS } from "./compute.js";
export { inlineRoom } from "./attested-room.js";
export { type StagedStage1Release, type StagedStandIn, uploadStage1Release, uploadStage1StandIn } from "./stage1-upload.js";
export { gcsLedgerStore } from "./ledger-store.js";

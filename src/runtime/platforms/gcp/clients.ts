/**
 * Construction of the Google client libraries, in one place.
 *
 * - Compute and KMS use the REST transport (`fallback: true`): one HTTP/1.1 JSON protocol for production and tests,
 *   and no gRPC channel to keep alive in short CLI runs.
 * - Storage's own retries are off; `retry.ts` is the single retry policy.
 * - With an endpoint override (tests, see `endpoints.ts`) every client talks plain HTTP to the loopback fake; the
 *   consumer side then uses a fixed bearer token so no credential lookup leaves the machine.
 */
import { Storage, type StorageOptions } from "@google-cloud/storage";
import type { InstancesClient, ZoneOperationsClient } from "@google-cloud/compute";
import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { type AuthClient, OAuth2Client } from "google-auth-library";
import type { GcpEndpointOverride } from "./endpoints.js";
import { storageCrc32cGenerator } from "./crc32c.js";

/** Test only (with an endpoint override): the bearer token the consumer-side clients send. */
export const TEST_TOKEN_ENV = "CLEANROOM_GCP_TEST_TOKEN";

/** The clients a room client or an executor uses. */
export interface GcpClients {
  readonly storage: Storage;
  instances(): InstancesClient;
  zoneOperations(): ZoneOperationsClient;
  kms(): KeyManagementServiceClient;
}

/** How to authenticate. */
export interface GcpAuth {
  /** Storage: an `external_account` credential config (storage builds its own v9 auth client from it). */
  readonly storageCredentials?: Record<string, unknown>;
  /** Compute/KMS: an auth client (e.g. `ExternalAccountClient`). @default - Application Default Credentials */
  readonly authClient?: AuthClient;
  readonly projectId?: string;
}

/** Creates the clients; compute and KMS are loaded lazily (compute's protos take ~1 s to load). */
export function createGcpClients(override: GcpEndpointOverride | undefined, auth: GcpAuth = {}): GcpClients {
  let authClient = auth.authClient;
  // Tests: a fixed token that never refreshes, so nothing looks for credentials or a metadata server.
  // CLEANROOM_GCP_TEST_TOKEN lets a test act as different principals (consumer, provider); it only ever reaches the
  // loopback server the override names.
  const testToken = override && !authClient ? process.env[TEST_TOKEN_ENV] || "cleanroom-test-token" : undefined;
  if (testToken) {
    const c = new OAuth2Client();
    c.setCredentials({ access_token: testToken });
    authClient = c;
  }
  const crc32cGenerator = storageCrc32cGenerator();
  const storageOptions: StorageOptions = {
    ...(auth.projectId ? { projectId: auth.projectId } : {}),
    ...(auth.storageCredentials ? { credentials: auth.storageCredentials as StorageOptions["credentials"] } : {}),
    // One retry policy (retry.ts); storage's own would triple every failing call's latency.
    retryOptions: { autoRetry: false },
    // Upload and download CRC32C in native code (crc32c.ts), not the client's JavaScript table.
    ...(crc32cGenerator ? { crc32cGenerator } : {}),
    ...(override
      ? { apiEndpoint: override.baseUrl, ...(auth.storageCredentials ? { useAuthWithCustomEndpoint: true } : {}) }
      : {}),
  };
  const storage = new Storage(storageOptions);
  if (testToken && !auth.storageCredentials) {
    // Storage skips auth for a custom endpoint; send the test principal's bearer anyway, as ADC would to Google, so
    // the fake's bucket IAM can tell a consumer from a provider.
    type Interceptor = (typeof storage.interceptors)[number];
    const request = (o: { headers?: object }) => Object.assign(o, { headers: { ...o.headers, authorization: `Bearer ${testToken}` } });
    storage.interceptors.push({ request } as unknown as Interceptor);
  }
  const gaxOptions = {
    fallback: true as const,
    ...(auth.projectId ? { projectId: auth.projectId } : {}),
    ...(authClient ? { authClient } : {}),
    ...(override ? { apiEndpoint: override.host, port: override.port, protocol: override.protocol } : {}),
  };
  let instances: InstancesClient | undefined;
  let zoneOps: ZoneOperationsClient | undefined;
  let kms: KeyManagementServiceClient | undefined;
  return {
    storage,
    instances() {
      // The per-service module loads in ~0.3 s instead of ~1.4 s for the package root.
      const m = require("@google-cloud/compute/build/src/v1/instances_client") as { InstancesClient: new (o: object) => InstancesClient };
      instances ??= new m.InstancesClient(gaxOptions);
      return instances;
    },
    zoneOperations() {
      const m = require("@google-cloud/compute/build/src/v1/zone_operations_client") as {
        ZoneOperationsClient: new (o: object) => ZoneOperationsClient;
      };
      zoneOps ??= new m.ZoneOperationsClient(gaxOptions);
      return zoneOps;
    },
    kms() {
      const m = require("@google-cloud/kms") as { KeyManagementServiceClient: new (o: object) => KeyManagementServiceClient };
      kms ??= new m.KeyManagementServiceClient(gaxOptions);
      return kms;
    },
  };
}

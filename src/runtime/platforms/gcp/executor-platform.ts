/**
 * `ExecutorPlatform` inside a Confidential Space VM.
 *
 * - Credentials: Workload Identity Federation with the launcher's attestation token (`credentials.ts`); the same
 *   federated identity reads the job bundle and the providers' data and writes to quarantine.
 * - Keys: each dataset's data key is unwrapped with the provider's Cloud KMS key; the provider's IAM binding admits
 *   only the principal set of the job digests it approved, so a denied unwrap names that provider.
 * - Tokens: custom PKI tokens from the launcher socket, for receipts.
 * - Isolation: the Confidential Space VM and container; the job runs as the executor's non-root user.
 */
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { ExternalAccountClient } from "google-auth-library";
import type { CleanRoomDescriptor, DescriptorProvider } from "../../../core/descriptor.js";
import { CleanRoomError } from "../../../core/errors.js";
import { ENV_INPUTS, ENV_OUTPUT, type ExecutorEnv } from "../../executor/env.js";
import type { ExecutorPlatform, JobProcessCommand, JobProcessPlan, ResultWriter } from "../platform.js";
import { type GcpClients, createGcpClients } from "./clients.js";
import { externalAccountConfig } from "./credentials.js";
import { type GcpEndpointOverride, endpointOverrideFromEnv } from "./endpoints.js";
import { kmsUnwrap } from "./kms.js";
import { GcsResultWriter } from "./result-writer.js";
import { DEFAULT_RETRY, type RetryPolicy, retryFromEnv } from "./retry.js";
import { GcsStore } from "./storage.js";
import { joinUri } from "./uri.js";
import { ATTESTATION_TOKEN_FILE, TEESERVER_SOCKET, decodeJwtPayload, requestCustomToken } from "./teeserver.js";

/** Test-only environment variables for the launcher paths (the launcher cannot set them: not in allow_env_override). */
export const TEESERVER_SOCKET_ENV = "CLEANROOM_GCP_TEESERVER_SOCKET";
export const TOKEN_FILE_ENV = "CLEANROOM_GCP_TOKEN_FILE";

/** Options of the GCP executor platform. */
export interface GcpExecutorOptions {
  /** @default /run/container_launcher/teeserver.sock */
  readonly teeserverSocket?: string;
  /** @default /run/container_launcher/attestation_verifier_claims_token */
  readonly tokenFile?: string;
  readonly retry?: RetryPolicy;
  readonly override?: GcpEndpointOverride;
  /** Pre-built clients (tests). */
  readonly clients?: GcpClients;
}

/** The GCP executor platform. */
export class GcpExecutorPlatform implements ExecutorPlatform {
  readonly name = "gcp";
  readonly sandbox = "confidential-space";
  private readonly store: GcsStore;
  private readonly clients: GcpClients;
  private readonly retry: RetryPolicy;
  private readonly socket: string;
  private readonly tokenFile: string;

  constructor(
    readonly descriptor: CleanRoomDescriptor,
    private readonly env: ExecutorEnv,
    options: GcpExecutorOptions = {},
  ) {
    if (descriptor.platform !== "gcp" || !descriptor.gcp) {
      throw new CleanRoomError("invalid-descriptor", `The GCP executor needs a GCP room descriptor (got platform ${descriptor.platform})`);
    }
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.socket = options.teeserverSocket ?? TEESERVER_SOCKET;
    this.tokenFile = options.tokenFile ?? ATTESTATION_TOKEN_FILE;
    const override = options.override;
    const config = externalAccountConfig(descriptor.gcp.poolProviderName, this.tokenFile, override);
    const authClient = ExternalAccountClient.fromJSON({ ...config, scopes: ["https://www.googleapis.com/auth/cloud-platform"] } as Parameters<typeof ExternalAccountClient.fromJSON>[0]);
    if (!authClient) throw new CleanRoomError("invalid-descriptor", "Cannot build the Workload Identity Federation credential from the descriptor's poolProviderName");
    this.clients = options.clients ?? createGcpClients(override, { storageCredentials: config, authClient, projectId: descriptor.gcp.project });
    this.store = new GcsStore(this.clients.storage, this.retry, descriptor.gcp.project);
  }

  async readObject(uri: string): Promise<Readable> {
    return this.store.open(uri, "roles/storage.objectViewer for the room's workload principals (jobs bucket) or the provider's approval (data bucket)");
  }

  async openResult(outputUri: string): Promise<ResultWriter> {
    // Only this job's result: a confused executor cannot write into another job's quarantine entry.
    if (outputUri !== this.env.outputUri) {
      throw new CleanRoomError("invalid-argument", `This executor may only write its own result (${this.env.outputUri}), not ${outputUri}`);
    }
    // CLEANROOM_OUTPUT_URI is operator-set metadata: it must name this job's entry in the room's quarantine bucket,
    // or an operator could send an approved job's outputs to a bucket of their own, past the release review.
    const jobId = this.env.jobUri.replace(/\/+$/, "").split("/").pop() ?? "";
    const expected = joinUri(this.descriptor.storage.quarantine, jobId);
    if (outputUri !== expected || this.env.jobUri !== joinUri(this.descriptor.storage.jobs, jobId)) {
      throw new CleanRoomError(
        "invalid-argument",
        `The job's output URI ${outputUri} is not its quarantine entry ${expected} (job URI ${this.env.jobUri}, jobs bucket ${this.descriptor.storage.jobs}); refusing to write the result anywhere else`,
      );
    }
    return new GcsResultWriter(this.store, outputUri);
  }

  async unwrapDataKey(provider: DescriptorProvider, dataset: string, wrapped: Buffer): Promise<Buffer> {
    try {
      return await kmsUnwrap(this.clients.kms(), provider.keyName, wrapped, this.retry, {
        action: `unwrap the data key of ${provider.name}/${dataset} with ${provider.keyName}`,
        role: `roles/cloudkms.cryptoKeyDecrypter on ${provider.keyName} for this job's digest ${this.env.jobDigest} (provider "${provider.name}" must approve the job: approvedJobs)`,
        api: "cloudkms.googleapis.com",
        ...(provider.project ? { project: provider.project } : {}),
      });
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "denied") {
        throw new CleanRoomError(
          "denied",
          `Provider "${provider.name}" did not release the key of ${dataset}: Cloud KMS refused this workload. Either the provider has not approved job ${this.env.jobDigest}, or the attestation (image, debug mode, service account) does not satisfy the room's condition. ${err.message}`,
          { cause: err },
        );
      }
      if (err instanceof CleanRoomError && /STS|token exchange|invalid_grant|invalid_target|unauthorized_client/i.test(err.message)) {
        throw new CleanRoomError("denied", `The Workload Identity pool refused this VM's attestation token (the room's condition rejected its claims): ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  requestToken(audience: string, nonces: readonly string[]): Promise<string> {
    return requestCustomToken(this.socket, { audience, nonces, token_type: "PKI" });
  }

  async imageDigest(): Promise<string> {
    // The launcher's own token says which image it verified and started: that is the digest to record.
    let token: string;
    try {
      token = await readFile(this.tokenFile, "utf8");
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot read the attestation token ${this.tokenFile}: the executor only runs inside a Confidential Space VM`, { cause: err });
    }
    const claims = decodeJwtPayload(token) as { submods?: { container?: { image_digest?: unknown } } };
    const digest = claims.submods?.container?.image_digest;
    if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new CleanRoomError("invalid-argument", "The attestation token has no submods.container.image_digest");
    }
    return digest;
  }

  jobCommand(plan: JobProcessPlan): JobProcessCommand {
    const [command, ...args] = plan.argv;
    if (!command) throw new CleanRoomError("invalid-argument", "The job has an empty entrypoint");
    return {
      command,
      args,
      cwd: plan.workDir,
      env: { ...plan.env, PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", [ENV_INPUTS]: plan.inputsDir, [ENV_OUTPUT]: plan.outputDir },
    };
  }
}

/** Creates the GCP executor platform (used by `platforms/index.ts`); launcher paths may be overridden for tests. */
export function createGcpExecutorPlatform(descriptor: CleanRoomDescriptor, env: ExecutorEnv, options: GcpExecutorOptions = {}): ExecutorPlatform {
  return new GcpExecutorPlatform(descriptor, env, {
    ...(process.env[TEESERVER_SOCKET_ENV] ? { teeserverSocket: process.env[TEESERVER_SOCKET_ENV] } : {}),
    ...(process.env[TOKEN_FILE_ENV] ? { tokenFile: process.env[TOKEN_FILE_ENV] } : {}),
    ...(endpointOverrideFromEnv() ? { override: endpointOverrideFromEnv() } : {}),
    retry: retryFromEnv(),
    ...options,
  });
}

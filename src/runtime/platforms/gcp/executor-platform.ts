/**
 * `ExecutorPlatform` inside a Confidential Space VM.
 *
 * - Credentials: Workload Identity Federation with the launcher's attestation token (`credentials.ts`). The room's
 *   pool gives the identity that reads the job bundle and writes to quarantine; a provider that owns its trust has a
 *   pool of its own, and the same attestation token is exchanged there, separately, for that provider's identity,
 *   which reads its data bucket and unwraps with its key. Each provider's own condition is evaluated by its own STS
 *   exchange, so a room operator who loosens the room's pool gains nothing on a provider's key.
 * - Keys: each dataset's data key is unwrapped with the provider's Cloud KMS key; the provider's IAM binding admits
 *   only the principal set (of its own pool) of the job digests it approved, so a denied unwrap names that provider.
 * - Tokens: custom PKI tokens from the launcher socket, for receipts.
 * - Isolation: the Confidential Space VM and container; the job runs as the executor's non-root user.
 */
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { ExternalAccountClient } from "google-auth-library";
import { type CleanRoomDescriptor, type DescriptorProvider, GCP_DEBUG_LOGS_REFUSAL, providerTrust } from "../../../core/descriptor.js";
import { CleanRoomError } from "../../../core/errors.js";
import type { LedgerStore } from "../../dp/ledger-store.js";
import { ledgerUri } from "../../dp/room-ledger.js";
import { ENV_INPUTS, ENV_OUTPUT, type ExecutorEnv } from "../../executor/env.js";
import type { ExecutorPlatform, JobProcessCommand, JobProcessPlan, ResultWriter } from "../platform.js";
import { type GcpClients, createGcpClients } from "./clients.js";
import { externalAccountConfig } from "./credentials.js";
import { type GcpEndpointOverride, endpointOverrideFromEnv } from "./endpoints.js";
import { kmsUnwrap } from "./kms.js";
import { gcsLedgerStore } from "./ledger-store.js";
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
  private readonly override?: GcpEndpointOverride;
  /** Pre-built clients (tests): used for the room and every provider alike. */
  private readonly fixedClients?: GcpClients;
  /** One federated identity per provider that owns its trust, from its own pool (built on first use). */
  private readonly providerAccess = new Map<string, { clients: GcpClients; store: GcsStore }>();

  constructor(
    readonly descriptor: CleanRoomDescriptor,
    private readonly env: ExecutorEnv,
    options: GcpExecutorOptions = {},
  ) {
    if (descriptor.platform !== "gcp" || !descriptor.gcp) {
      throw new CleanRoomError("invalid-descriptor", `The GCP executor needs a GCP room descriptor (got platform ${descriptor.platform})`);
    }
    // Checked here too, not only by loadDescriptor: a job's strings never leave a Confidential Space VM unchecked.
    if (descriptor.debugLogs !== undefined) throw new CleanRoomError("invalid-descriptor", GCP_DEBUG_LOGS_REFUSAL);
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.socket = options.teeserverSocket ?? TEESERVER_SOCKET;
    this.tokenFile = options.tokenFile ?? ATTESTATION_TOKEN_FILE;
    const override = options.override;
    if (override) this.override = override;
    if (options.clients) this.fixedClients = options.clients;
    this.clients = options.clients ?? this.federatedClients(descriptor.gcp.poolProviderName, descriptor.gcp.project);
    this.store = new GcsStore(this.clients.storage, this.retry, descriptor.gcp.project);
  }

  /** Clients acting as the federated identity that `poolProviderName` grants to this VM's attestation token. */
  private federatedClients(poolProviderName: string, project: string): GcpClients {
    const config = externalAccountConfig(poolProviderName, this.tokenFile, this.override);
    const authClient = ExternalAccountClient.fromJSON({ ...config, scopes: ["https://www.googleapis.com/auth/cloud-platform"] } as Parameters<typeof ExternalAccountClient.fromJSON>[0]);
    if (!authClient) throw new CleanRoomError("invalid-descriptor", `Cannot build the Workload Identity Federation credential for ${poolProviderName}`);
    return createGcpClients(this.override, { storageCredentials: config, authClient, projectId: project });
  }

  /** The identity to use for a provider's bucket and key: its own pool's, or the room's when it has no pool of its own. */
  private accessFor(provider: DescriptorProvider): { clients: GcpClients; store: GcsStore } {
    const trust = providerTrust(this.descriptor, provider);
    const pool = trust.poolProviderName;
    if (!trust.own || pool === undefined || pool === this.descriptor.gcp!.poolProviderName) return { clients: this.clients, store: this.store };
    let access = this.providerAccess.get(provider.name);
    if (!access) {
      const project = provider.project ?? this.descriptor.gcp!.project;
      const clients = this.fixedClients ?? this.federatedClients(pool, project);
      access = { clients, store: new GcsStore(clients.storage, this.retry, project) };
      this.providerAccess.set(provider.name, access);
    }
    return access;
  }

  async readObject(uri: string): Promise<Readable> {
    // A provider's objects are read as that provider's federated identity (its own pool admitted this VM).
    const provider = this.descriptor.providers.find((p) => uri.startsWith(`${p.dataUri.replace(/\/+$/, "")}/`));
    if (provider) {
      try {
        return await this.accessFor(provider).store.open(uri, `roles/storage.objectViewer on ${provider.dataUri} for this job's digest in provider "${provider.name}"'s pool (the provider must approve the job)`);
      } catch (err) {
        if (err instanceof CleanRoomError && err.code === "denied") {
          const trust = providerTrust(this.descriptor, provider);
          const whose = trust.own ? `provider "${provider.name}"'s own condition` : "the room's condition";
          throw new CleanRoomError("denied", `Provider "${provider.name}" did not admit this run (${whose} rejected its claims, or it has not approved job ${this.env.jobDigest}): ${err.message}`, { cause: err });
        }
        throw err;
      }
    }
    return this.store.open(uri, "roles/storage.objectViewer for the room's workload principals (jobs bucket)");
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
    const trust = providerTrust(this.descriptor, provider);
    const whose = trust.own ? `provider "${provider.name}"'s own condition` : "the room's condition";
    try {
      return await kmsUnwrap(this.accessFor(provider).clients.kms(), provider.keyName, wrapped, this.retry, {
        action: `unwrap the data key of ${provider.name}/${dataset} with ${provider.keyName}`,
        role: `roles/cloudkms.cryptoKeyDecrypter on ${provider.keyName} for this job's digest ${this.env.jobDigest} (provider "${provider.name}" must approve the job: approvedJobs)`,
        api: "cloudkms.googleapis.com",
        ...(provider.project ? { project: provider.project } : {}),
      });
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "denied") {
        throw new CleanRoomError(
          "denied",
          `Provider "${provider.name}" did not release the key of ${dataset}: Cloud KMS refused this workload. Either the provider has not approved job ${this.env.jobDigest}, or the attestation (image, debug mode, service account) does not satisfy ${whose}. ${err.message}`,
          { cause: err },
        );
      }
      if (err instanceof CleanRoomError && /STS|token exchange|invalid_grant|invalid_target|unauthorized_client/i.test(err.message)) {
        throw new CleanRoomError(
          "denied",
          `Provider "${provider.name}" did not release the key of ${dataset}: the Workload Identity pool ${trust.poolProviderName ?? ""} refused this VM's attestation token (${whose} rejected its claims): ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * A provider's privacy ledger, written as that provider's own pool identity: its `DataProvider` lets the principal
   * sets of the jobs it approved create objects under `<dataUri>/.dp-ledger/` and nothing else of its bucket. Not ADC:
   * that is the VM's service account, which every submitter may attach to a VM of their own (`grantSubmit`).
   */
  ledgerStore(provider: DescriptorProvider, dataset: string): LedgerStore {
    const access = this.accessFor(provider);
    return gcsLedgerStore(ledgerUri(this.descriptor, provider.name, dataset), provider.project ?? this.descriptor.gcp!.project, access.store);
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

/**
 * What the GCP runtime tests share about the demo room of `gcpDescriptor()` (tests/core/fixtures.ts): the executor's
 * Dockerfile, a retry policy fast enough for loopback fakes, hospital-a's Cloud KMS key, the job VMs' name prefix, and
 * the loopback world the tests run against.
 */
import { join } from "node:path";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor, DescriptorDataset } from "../../src/core/descriptor.js";
import { POLL_INTERVAL_ENV, RETRY_BASE_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV, GCP_API_ENDPOINT_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { EXECUTOR_DIGEST, WORKLOAD_SA, gcpDescriptor } from "../core/fixtures.js";
import { testChains } from "../verify/pki.js";
import { FakeTeeServer, FakeVm } from "./fakes/confidential-space.js";
import { GcpFake } from "./fakes/gcp-fake.js";

/** The executor image's Dockerfile (its digest is what the room pins). */
export const DOCKERFILE = join(__dirname, "..", "..", "executor", "Dockerfile");
/** Retries in milliseconds, not seconds: the fakes answer at once. */
export const FAST = { attempts: 4, permissionAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
/** hospital-a's Cloud KMS key in `gcpDescriptor()`. */
export const KEY = "projects/hospital-a-prod/locations/europe-west4/keyRings/demo/cryptoKeys/hospital-a";
/** The prefix of the job VMs' names in `gcpDescriptor()`. */
export const VM_PREFIX = "demo-job-";

/** The loopback Google APIs, the TEE server and a VM running the executor image, with the runtime's env pointed at them. */
export interface LoopbackWorld {
  readonly fake: GcpFake;
  readonly tee: FakeTeeServer;
  readonly vm: FakeVm;
  /** PEM of the root the fake TEE server's tokens chain to (the verifier's trusted root). */
  readonly root: string;
  /** Stops the servers and restores every environment variable `start` set. */
  stop(): Promise<void>;
}

/**
 * Starts the GCP runtime tests' world: `GcpFake`, a `FakeTeeServer` on the good test chain and a `FakeVm` running the
 * executor image as the room's workload account, with the API endpoint, TEE socket, token file, fast retries and fast
 * polls set in `process.env` (and `alsoRestore`, which the tests set themselves, saved too).
 */
export async function startLoopbackWorld(alsoRestore: readonly string[] = []): Promise<LoopbackWorld> {
  const chains = await testChains();
  const fake = await new GcpFake().start();
  const tee = await new FakeTeeServer(chains.good).start();
  const vm = new FakeVm(fake, tee, { dockerfile: DOCKERFILE, imageDigest: EXECUTOR_DIGEST, serviceAccount: WORKLOAD_SA, project: "my-proj" });
  const saved = new Map<string, string | undefined>();
  for (const k of [GCP_API_ENDPOINT_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV, RETRY_BASE_ENV, POLL_INTERVAL_ENV, ...alsoRestore]) saved.set(k, process.env[k]);
  process.env[POLL_INTERVAL_ENV] = "20";
  process.env[GCP_API_ENDPOINT_ENV] = fake.url;
  process.env[TEESERVER_SOCKET_ENV] = tee.socket;
  process.env[TOKEN_FILE_ENV] = tee.tokenFile;
  process.env[RETRY_BASE_ENV] = "5";
  return {
    fake,
    tee,
    vm,
    root: chains.good.root.pem,
    async stop() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await fake.stop();
      await tee.stop();
    },
  };
}

/** What a test changes in `loopbackRoom`'s room. */
export interface LoopbackRoomShape {
  /** Every provider's approved job digests; hospital-a's key opens for them at the fake KMS. @default - none, and the fake's KMS approvals are left as they are */
  readonly approved?: readonly string[];
  /** @default false */
  readonly requireRelease?: boolean;
  readonly jobs?: CleanRoomDescriptor["jobs"];
  /** Replaces each provider's datasets. @default - gcpDescriptor()'s */
  readonly datasets?: (d: DescriptorDataset) => DescriptorDataset;
}

/**
 * `gcpDescriptor()`'s room as `DataCleanRoom` deploys it for the loopback world: keys open only for executors writing
 * into the room's quarantine, job VMs from a template named as the component names it (`VM_PREFIX` plus a generated
 * suffix), outputs capped at 1 MiB. The fake is set to judge it as Google would: STS evaluates its condition on every
 * exchange, compute names VMs with `VM_PREFIX`, and KMS opens hospital-a's key for the `approved` digests.
 */
export function loopbackRoom(fake: GcpFake, shape: LoopbackRoomShape = {}): CleanRoomDescriptor {
  const base = gcpDescriptor();
  const policy = { ...base.attestation.policy, outputUriPrefix: `${base.storage.quarantine}/` };
  const approved = shape.approved;
  const datasets = shape.datasets;
  const descriptor: CleanRoomDescriptor = {
    ...base,
    attestation: { ...base.attestation, policy, condition: buildAttestationCondition(policy) },
    gcp: { ...base.gcp!, instanceTemplate: `projects/my-proj/global/instanceTemplates/${VM_PREFIX}20261201061500123400000001` },
    output: { maxBytes: 1024 * 1024, requireRelease: shape.requireRelease ?? false },
    ...(shape.jobs ? { jobs: shape.jobs } : {}),
    providers: base.providers.map((p) => ({
      ...p,
      ...(approved ? { approvedJobs: [...approved] } : {}),
      ...(datasets ? { datasets: p.datasets.map(datasets) } : {}),
    })),
  };
  fake.attributeCondition = descriptor.attestation.condition;
  fake.instanceNamePrefix = VM_PREFIX;
  if (approved) fake.kmsApprovals.set(KEY, new Set(approved));
  return descriptor;
}

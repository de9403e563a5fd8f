/**
 * An in-process stand-in for the executor's platform (the `ExecutorPlatform` boundary of runtime/executor/run.ts):
 * objects in memory, a key release that hands back the data keys it was given (or refuses), a token that names its
 * nonce, a result writer that records what was written, committed or aborted, and job commands run as plain child
 * processes (no sandbox: tests/executor/job-process.test.ts runs the real one). Everything the executor does between
 * those calls (bundle, digest, approval, decryption, job, output policy, receipt) is the real code.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor, DescriptorProvider } from "../../src/core/descriptor.js";
import type { JobInput, JobManifest } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import type { ExecutorPlatform, JobProcessCommand, JobProcessPlan, ResultWriter } from "../../src/runtime/platforms/platform.js";
import type { ExecutorEnv } from "../../src/runtime/executor/env.js";
import type { LedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { createEncryptStream } from "../../src/runtime/provision/envelope.js";

export const IMAGE = `sha256:${"a".repeat(64)}`;
export const AUDIENCE = "urn:attested-cleanroom:room:exec-test";
/** The job's PATH: the system Python (a pyenv shim would add a shell script to every start). */
export const JOB_PATH = "/usr/bin:/bin";

/** A room with providers `acme` (datasets claims, prices) and `beta` (visits), both approving `approved`. */
export function room(approved: readonly string[], overrides: Partial<CleanRoomDescriptor> = {}): CleanRoomDescriptor {
  const policy = { imageDigests: [IMAGE], platform: "local" };
  const base = "mem://room";
  return {
    version: 1,
    name: "exec-test",
    platform: "local",
    codePolicy: "approved-jobs",
    executor: { imageDigest: IMAGE },
    attestation: { policy, condition: buildAttestationCondition(policy), audience: AUDIENCE },
    output: { maxBytes: 1_000_000, requireRelease: true },
    providers: [
      { name: "acme", approvedJobs: [...approved], dataUri: `${base}/acme//`, keyName: "local:acme", datasets: [{ name: "claims", stage1Method: "none" }, { name: "prices", stage1Method: "none" }] },
      { name: "beta", approvedJobs: [...approved], dataUri: `${base}/beta`, keyName: "local:beta", datasets: [{ name: "visits", stage1Method: "none" }] },
    ],
    storage: { jobs: `${base}/jobs`, quarantine: `${base}/q`, results: `${base}/r`, stage1: `${base}/s1` },
    ...overrides,
  } as CleanRoomDescriptor;
}

/** What a result writer saw. */
export interface WrittenResult {
  readonly files: Map<string, Buffer>;
  committed: boolean;
  aborted: number;
}

/** The fake platform; every field is there for tests to inspect or change. */
export class FakePlatform implements ExecutorPlatform {
  readonly sandbox = "none";
  readonly objects = new Map<string, Buffer>();
  /** wrapped key (base64) → data key. */
  readonly keys = new Map<string, Buffer>();
  /** Data keys handed out, as the executor received them (it must wipe each after use). */
  readonly released: Buffer[] = [];
  readonly unwrapCalls: string[] = [];
  readonly tokenRequests: { audience: string; nonces: readonly string[] }[] = [];
  readonly commands: JobProcessPlan[] = [];
  readonly results: WrittenResult[] = [];
  /** Providers whose key release refuses. */
  readonly refusing = new Set<string>();
  /** Set to make the named call fail. */
  fail: { imageDigest?: Error; openResult?: Error; requestToken?: Error; commit?: Error; write?: Error } = {};
  /** Replaces the argv of the job (not of the runtime probe) when set. */
  jobArgv?: string[];
  /** Where DP spends go, when a test sets it (the executor's default is the room's own ledger). */
  ledgerStore?: (provider: DescriptorProvider, dataset: string) => LedgerStore;
  /** PATH of every command (the runtime probe fails without `python3` on it). */
  path = JOB_PATH;

  /**
   * @param outputUri the job's result URI
   * @param name the platform's name: `"local"` for what only a local room does (a debug-logs room keeps stderr)
   */
  constructor(
    readonly outputUri: string,
    readonly name: string = "fake",
  ) {}

  async readObject(uri: string): Promise<Readable> {
    const b = this.objects.get(uri);
    if (!b) throw new CleanRoomError("not-found", `no object ${uri}`);
    // Several chunks, as a real store streams them.
    const chunks: Buffer[] = [];
    for (let i = 0; i < b.length; i += 4096) chunks.push(b.subarray(i, i + 4096));
    return Readable.from(chunks);
  }

  async openResult(outputUri: string): Promise<ResultWriter> {
    if (this.fail.openResult) throw this.fail.openResult;
    if (outputUri !== this.outputUri) throw new CleanRoomError("invalid-argument", `not this job's result: ${outputUri}`);
    const result: WrittenResult = { files: new Map(), committed: false, aborted: 0 };
    this.results.push(result);
    const fail = this.fail;
    return {
      async write(path: string, from: Readable | Buffer): Promise<void> {
        if (fail.write) throw fail.write;
        if (Buffer.isBuffer(from)) result.files.set(path, from);
        else {
          const chunks: Buffer[] = [];
          for await (const c of from) chunks.push(c as Buffer);
          result.files.set(path, Buffer.concat(chunks));
        }
      },
      async commit(): Promise<void> {
        if (fail.commit) throw fail.commit;
        result.committed = true;
      },
      async abort(): Promise<void> {
        result.aborted++;
        result.files.clear();
      },
    };
  }

  async unwrapDataKey(provider: DescriptorProvider, dataset: string, wrapped: Buffer): Promise<Buffer> {
    this.unwrapCalls.push(`${provider.name}/${dataset}`);
    if (this.refusing.has(provider.name)) throw new CleanRoomError("denied", `provider "${provider.name}" refused`);
    const key = this.keys.get(wrapped.toString("base64"));
    if (!key) throw new CleanRoomError("denied", "unknown wrapped key");
    const copy = Buffer.from(key);
    this.released.push(copy);
    return copy;
  }

  async requestToken(audience: string, nonces: readonly string[]): Promise<string> {
    if (this.fail.requestToken) throw this.fail.requestToken;
    this.tokenRequests.push({ audience, nonces: [...nonces] });
    return `token.${nonces.join(".")}`;
  }

  async imageDigest(): Promise<string> {
    if (this.fail.imageDigest) throw this.fail.imageDigest;
    return IMAGE;
  }

  jobCommand(plan: JobProcessPlan): JobProcessCommand {
    this.commands.push(plan);
    const isProbe = plan.argv[0] === "sh" && plan.argv[2]?.startsWith("command -v");
    const [command, ...args] = !isProbe && this.jobArgv ? this.jobArgv : plan.argv;
    return { command: command!, args, cwd: plan.workDir, env: { ...plan.env, PATH: this.path, CLEANROOM_INPUTS: plan.inputsDir, CLEANROOM_OUTPUT: plan.outputDir } };
  }

  /** The one committed result (fails the test when there is none, or more than one). */
  committed(): WrittenResult {
    const done = this.results.filter((r) => r.committed);
    if (done.length !== 1) throw new Error(`expected one committed result, found ${done.length}`);
    return done[0]!;
  }
}

/** Encrypts `csv` as `<provider dataUri>/<dataset>/data.enc` with a fresh key whose wrapped form the fake unwraps. */
export async function provision(platform: FakePlatform, d: CleanRoomDescriptor, provider: string, dataset: string, csv: string | Buffer): Promise<void> {
  const p = d.providers.find((x) => x.name === provider)!;
  const base = `${p.dataUri.replace(/\/+$/, "")}/${dataset}`;
  const key = randomBytes(32);
  const wrapped = randomBytes(48);
  const chunks: Buffer[] = [];
  const enc = createEncryptStream(key, { segmentSize: 64 });
  enc.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => enc.on("end", r));
  enc.end(Buffer.from(csv));
  await done;
  platform.objects.set(`${base}/data.enc`, Buffer.concat(chunks));
  platform.objects.set(`${base}/key.wrapped`, wrapped);
  platform.keys.set(wrapped.toString("base64"), key);
}

/** A staged job: what the launcher passes the executor, and its manifest. */
export interface StagedJob {
  readonly env: ExecutorEnv;
  readonly manifest: JobManifest;
  readonly jobUri: string;
}

/**
 * Packs `files` (name → source) as a job and stores `bundle.tar` and `job.json` where the executor reads them.
 * `jobJson` replaces the stored job.json (to tamper with it after packing).
 */
export async function stageJob(
  platform: FakePlatform,
  d: CleanRoomDescriptor,
  files: Record<string, string>,
  opts: { entrypoint?: string | string[]; inputs?: (JobInput | string)[]; jobId?: string; jobJson?: string | Buffer } = {},
): Promise<StagedJob> {
  const dir = await mkdtemp(join(tmpdir(), "exec-job-src-"));
  const { writeFile, mkdir } = await import("node:fs/promises");
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  const out = await mkdtemp(join(tmpdir(), "exec-job-packed-"));
  const packed = await packJob(dir, { entrypoint: opts.entrypoint ?? "main.py", inputs: opts.inputs ?? ["acme/claims"], outDir: out });
  const jobId = opts.jobId ?? "job-1";
  const jobUri = `${d.storage.jobs}/${jobId}`;
  platform.objects.set(`${jobUri}/bundle.tar`, await readFile(packed.bundlePath));
  platform.objects.set(`${jobUri}/job.json`, opts.jobJson !== undefined ? Buffer.from(opts.jobJson) : await readFile(join(out, "job.json")));
  return { env: { jobDigest: packed.jobDigest, jobUri, outputUri: platform.outputUri, room: "inline" }, manifest: packed.manifest, jobUri };
}

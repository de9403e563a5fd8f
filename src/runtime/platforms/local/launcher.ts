/**
 * The local launcher: starts one executor per job, in a bubblewrap sandbox, with a per-job attestation endpoint that
 * carries that job's digest. Plays the role of the Confidential Space launcher plus the VM the GCP runtime creates.
 *
 * Every job it accepts ends with a receipt in quarantine: the executor's, or, when the launcher refuses to start the
 * job or the executor dies without committing one, a failure receipt the launcher signs through the job's own
 * attestation binding (the room's signer is the local stand-in for the hardware, so it attests exactly what it saw).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CleanRoomDescriptor, debugLogsOn, jobTimeoutSeconds } from "../../../core/descriptor.js";
import { canonicalJson, jobDigest, jobManifestProblems, type JobManifest } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { DIGEST_PATTERN, JOB_ID_PATTERN } from "../../../core/patterns.js";
import { RECEIPT_VERSION, RESULT_FILES, type Receipt, nonceForReceipt, policyDigest } from "../../../core/receipt.js";
import { checkApproval } from "../../executor/approval.js";
import {
  CONTAINER_LAUNCHER_SOCKET,
  ENV_BROKER_SOCKET,
  ENV_JOB_DIGEST,
  ENV_JOB_URI,
  ENV_LAUNCHER_SOCKET,
  ENV_OUTPUT_URI,
  ENV_ROOM,
  ENV_SANDBOX,
} from "../../executor/env.js";
import { sortInputs } from "../../jobs/pack.js";
import { type AttestationEndpoint, type JobAttestationBinding, type LocalTokenSigner, startAttestationService } from "./attestation-service.js";
import type { RoomLayout } from "./layout.js";
import { fileUri } from "./layout.js";
import { ENV_LOCAL_RUNTIME } from "./platform.js";
import { type RuntimeDirs, executorSandboxArgs } from "./sandbox.js";
import { LocalResultWriter, sealedResultDir, stagingDirOf } from "./store.js";

/** What `local up` decided about how jobs run (`<dir>/launcher.json`). */
export interface LauncherConfig {
  /** bwrap binary, or null under `--insecure-no-sandbox`. */
  readonly bwrap: string | null;
  readonly runtimes: RuntimeDirs;
  readonly executor: { readonly dir: string; readonly entry: string; readonly digest: string; readonly nodeModules: string };
  readonly nodeExe: string;
}

/** How long an executor may take beyond its job's time limit (decrypting inputs, hashing outputs) before it is killed. */
export const EXECUTOR_GRACE_MS = 600_000;

/** Largest `job.json` the launcher reads. */
const MAX_JOB_JSON_BYTES = 16 * 1024 * 1024;

/** A job's state file (`<dir>/state/jobs/<jobId>.json`). */
export interface JobStateFile {
  readonly jobId: string;
  readonly jobDigest: string;
  /** `queued`, `running`, `exited` (a result was committed) or `lost` (not even a failure receipt could be written). */
  readonly state: string;
  readonly submittedAt: string;
  readonly finishedAt?: string;
  /** Process id of the sandbox (or executor) while running. */
  readonly pid?: number;
  /** The executor build the job was started with (what its attestation binding names). */
  readonly executorDigest?: string;
  readonly detail?: string;
}

/** Path of a job's state file. */
export function jobStatePath(layout: RoomLayout, jobId: string): string {
  return join(layout.stateDir, "jobs", `${jobId}.json`);
}

/** Reads a job's state file, or undefined. */
export async function readJobState(layout: RoomLayout, jobId: string): Promise<JobStateFile | undefined> {
  try {
    return JSON.parse(await readFile(jobStatePath(layout, jobId), "utf8")) as JobStateFile;
  } catch {
    return undefined;
  }
}

async function writeJobState(layout: RoomLayout, s: JobStateFile): Promise<void> {
  const p = jobStatePath(layout, s.jobId);
  await mkdir(join(layout.stateDir, "jobs"), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`);
  await rename(tmp, p);
}

/** Each provider's `.dp-ledger` directory that exists (bound writable into the executor's sandbox). */
function ledgerDirs(layout: RoomLayout, descriptor: CleanRoomDescriptor): string[] {
  return descriptor.providers.map((p) => join(layout.providersDir, p.name, ".dp-ledger")).filter((d) => existsSync(d));
}

/** What the executor of one job is given: its sockets, environment and the room's directories. */
export interface ExecutorSandboxJob {
  readonly jobId: string;
  /** The job's attestation socket on the host. */
  readonly launcherSocket: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The bwrap arguments of one job's executor sandbox: read-only its build, its own job directory and the providers'
 * (encrypted) data; writable only its own staging directory in quarantine; the room's directory hidden when a bound
 * prefix contains it; its two sockets.
 */
export function executorSandboxFor(layout: RoomLayout, config: LauncherConfig, descriptor: CleanRoomDescriptor, job: ExecutorSandboxJob): string[] {
  return executorSandboxArgs({
    runtimes: config.runtimes,
    readOnly: [config.executor.dir, join(layout.jobsDir, job.jobId), layout.providersDir],
    // The providers' DP ledgers: a stage-2 DP release appends its (attested) spend there.
    writable: [stagingDirOf(layout.quarantineDir, job.jobId), ...ledgerDirs(layout, descriptor)],
    hide: [layout.dir],
    launcherSocket: job.launcherSocket,
    launcherSocketInside: CONTAINER_LAUNCHER_SOCKET,
    brokerSocket: layout.brokerSocket,
    env: job.env,
  });
}

/** Why the launcher records a failure for a job whose executor did not commit one. */
interface LauncherFailure {
  readonly code: string;
  readonly message: string;
  /** When the job was accepted (the receipt's `startedAt`). */
  readonly startedAt: string;
}

/** Starts and tracks executors. */
export class Launcher {
  private readonly running = new Map<string, ChildProcess>();
  /** Each running job's end: its result published or its failure receipt committed (what `stopAll` waits for). */
  private readonly ending = new Map<string, Promise<void>>();
  /** Why the room is stopping its jobs (`stopAll`), recorded in their failure receipts. */
  private stopping: LauncherFailure | undefined;

  constructor(
    private readonly layout: RoomLayout,
    private readonly descriptor: CleanRoomDescriptor,
    private readonly config: LauncherConfig,
    private readonly signer: LocalTokenSigner,
    private readonly log: (line: string) => void,
  ) {}

  /** Number of executors running now. */
  get active(): number {
    return this.running.size;
  }

  /** The ids of the jobs whose executors run now. */
  get activeJobs(): string[] {
    return [...this.running.keys()].sort();
  }

  /** The attestation binding of a job: what its tokens (and any failure receipt the launcher writes) attest. */
  private binding(jobId: string, digest: string, executorDigest = this.config.executor.digest): JobAttestationBinding {
    return {
      roomName: this.descriptor.name,
      jobId,
      imageDigest: executorDigest,
      envOverride: {
        [ENV_JOB_DIGEST]: digest,
        [ENV_JOB_URI]: fileUri(join(this.layout.jobsDir, jobId)),
        [ENV_OUTPUT_URI]: fileUri(join(this.layout.quarantineDir, jobId)),
        // The descriptor itself, as the room started with it (not a path to a file anyone may edit): the executor
        // enforces what the token attests, and a verifier compares it with its own.
        [ENV_ROOM]: canonicalJson(this.descriptor),
      },
      args: [this.config.nodeExe, this.config.executor.entry],
    };
  }

  /** Reads and checks `job.json` before anything starts: it must be the manifest of `digest`, and approved. */
  private async admit(jobId: string, digest: string): Promise<void> {
    const path = join(this.layout.jobsDir, jobId, "job.json");
    const text = await readFile(path, "utf8");
    if (Buffer.byteLength(text) > MAX_JOB_JSON_BYTES) throw new CleanRoomError("invalid-manifest", `job.json is larger than ${MAX_JOB_JSON_BYTES} bytes`);
    let manifest: unknown;
    try {
      manifest = JSON.parse(text);
    } catch {
      throw new CleanRoomError("invalid-manifest", "job.json is not valid JSON");
    }
    const problems = jobManifestProblems(manifest);
    if (problems.length > 0) throw new CleanRoomError("invalid-manifest", `job.json is not a job manifest: ${problems.join("; ")}`, { problems });
    const m = manifest as JobManifest;
    // The digest the executor recomputes (from the unpacked bundle's files) before anything runs.
    if (jobDigest({ version: 1, entrypoint: [...m.entrypoint], inputs: sortInputs(m.inputs), files: m.files }) !== digest) {
      throw new CleanRoomError("digest-mismatch", `job.json is not the manifest of ${digest}: it was changed after submission; the job was not started`);
    }
    // The approval the key release would check, checked before the job gets a process at all.
    checkApproval(this.descriptor, digest, sortInputs(m.inputs));
  }

  /**
   * Starts a job the consumer uploaded to `<jobs>/<jobId>`, as the operator who launched it claims: `jobDigest` becomes
   * `CLEANROOM_JOB_DIGEST` (and the token's `env_override`); the executor refuses the bundle if it differs. A job that
   * is not the manifest of `jobDigest`, declares no inputs or lacks an approval (under `approved-jobs`) is not started:
   * it ends at once with a failure receipt.
   *
   * @throws CleanRoomError `invalid-argument`, `not-found`, `already-exists`
   */
  async start(jobId: string, jobDigestValue: string): Promise<JobStateFile> {
    if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `jobId ${JSON.stringify(jobId)} is malformed`);
    if (!DIGEST_PATTERN.test(jobDigestValue)) throw new CleanRoomError("invalid-argument", `jobDigest ${JSON.stringify(jobDigestValue)} must be sha256:<64 hex>`);
    const jobDir = join(this.layout.jobsDir, jobId);
    for (const f of ["bundle.tar", "job.json"]) {
      if (!existsSync(join(jobDir, f))) throw new CleanRoomError("not-found", `${jobId}/${f} was not uploaded to ${this.layout.jobsDir}`);
    }
    if (this.running.has(jobId) || (await readJobState(this.layout, jobId)) || existsSync(join(this.layout.quarantineDir, jobId))) {
      throw new CleanRoomError("already-exists", `Job ${jobId} was already started; a job runs once (submit again for a new job id)`);
    }
    const submittedAt = new Date().toISOString();
    const executorDigest = this.config.executor.digest;
    await writeJobState(this.layout, { jobId, jobDigest: jobDigestValue, state: "queued", submittedAt, executorDigest });

    try {
      await this.admit(jobId, jobDigestValue);
    } catch (err) {
      const e = err instanceof CleanRoomError ? err : new CleanRoomError("invalid-manifest", `job.json cannot be read: ${messageOf(err)}`);
      this.log(`job ${jobId} refused before start (${e.code})`);
      const state = await this.end(jobId, jobDigestValue, submittedAt, executorDigest, { code: e.code, message: `The room's launcher did not start this job: ${e.message}`, startedAt: submittedAt });
      return state;
    }

    const sockDir = join(this.layout.jobSocketsDir, jobId);
    await mkdir(sockDir, { recursive: true, mode: 0o700 });
    const hostSocket = join(sockDir, "teeserver.sock");
    await rm(stagingDirOf(this.layout.quarantineDir, jobId), { recursive: true, force: true });
    await mkdir(stagingDirOf(this.layout.quarantineDir, jobId), { recursive: true, mode: 0o700 });
    const binding = this.binding(jobId, jobDigestValue);
    let endpoint: AttestationEndpoint;
    try {
      endpoint = await startAttestationService(hostSocket, this.signer, binding);
    } catch (err) {
      return this.end(jobId, jobDigestValue, submittedAt, executorDigest, { code: "io-error", message: `The room could not start this job's attestation service: ${messageOf(err)}`, startedAt: submittedAt });
    }
    const env: Record<string, string> = {
      ...binding.envOverride,
      PATH: this.config.runtimes.path,
      HOME: "/tmp",
      NODE_PATH: this.config.executor.nodeModules,
      [ENV_SANDBOX]: this.config.bwrap ? "bubblewrap" : "none",
      [ENV_BROKER_SOCKET]: this.layout.brokerSocket,
      [ENV_LOCAL_RUNTIME]: JSON.stringify(this.config.runtimes),
    };
    const argv = [...binding.args];
    const logFd = openSync(join(this.layout.stateDir, "jobs", `${jobId}.log`), "a", 0o600);
    let child: ChildProcess;
    try {
      if (this.config.bwrap) {
        const args = executorSandboxFor(this.layout, this.config, this.descriptor, { jobId, launcherSocket: hostSocket, env });
        child = spawn(this.config.bwrap, [...args, "--", ...argv], { stdio: ["ignore", logFd, logFd], env: {} });
      } else {
        child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", logFd, logFd], env: { ...env, [ENV_LAUNCHER_SOCKET]: hostSocket }, cwd: "/tmp" });
      }
    } finally {
      closeSync(logFd);
    }
    this.running.set(jobId, child);
    const state: JobStateFile = { jobId, jobDigest: jobDigestValue, state: "running", submittedAt, pid: child.pid, executorDigest };
    await writeJobState(this.layout, state).catch((err: unknown) => this.log(`job ${jobId}: cannot record its state: ${messageOf(err)}`));
    this.log(`job ${jobId} started (${jobDigestValue}, sandbox ${this.config.bwrap ? "bubblewrap" : "none"})`);
    let overran = false;
    // A backstop: the executor stops the job itself at the room's jobs.timeoutSeconds and commits a `timeout` receipt.
    const backstopMs = jobTimeoutSeconds(this.descriptor) * 1000 + EXECUTOR_GRACE_MS;
    const timer = setTimeout(() => {
      overran = true;
      child.kill("SIGKILL");
    }, backstopMs);
    timer.unref();
    const exited = new Promise<{ code: number | null; signal: string | null; error?: string }>((resolveP) => {
      child.once("error", (err) => resolveP({ code: null, signal: null, error: messageOf(err) }));
      child.once("exit", (code, signal) => resolveP({ code, signal }));
    });
    const ended = exited
      .then(async (ex) => {
        clearTimeout(timer);
        this.running.delete(jobId);
        await endpoint.close().catch((err: unknown) => this.log(`job ${jobId}: closing its attestation service: ${messageOf(err)}`));
        await rm(sockDir, { recursive: true, force: true }).catch(() => undefined);
        const how = ex.error ?? (ex.signal ? `was killed by ${ex.signal}` : `exited with code ${ex.code}`);
        const failure: LauncherFailure = this.stopping
          ? { ...this.stopping, startedAt: submittedAt }
          : overran
          ? { code: "timeout", message: `The executor did not finish within ${Math.round(backstopMs / 1000)} s (the room's jobs.timeoutSeconds plus ${EXECUTOR_GRACE_MS / 1000} s) and was killed; nothing was released`, startedAt: submittedAt }
          : { code: "executor-died", message: `The executor ${how} before committing a result; the room recorded this failure and nothing was released (executor log: state/jobs/${jobId}.log)`, startedAt: submittedAt };
        const st = await this.end(jobId, jobDigestValue, submittedAt, executorDigest, failure);
        this.log(`job ${jobId} ${st.state === "exited" ? "finished" : "lost"}${ex.code === 0 ? "" : `: executor ${how}`}`);
      })
      // The room must outlive anything that goes wrong after a job (a full disk, a vanished directory).
      .catch((err: unknown) => this.log(`job ${jobId}: after-exit handling failed: ${messageOf(err)}`))
      .finally(() => this.ending.delete(jobId));
    this.ending.set(jobId, ended);
    return state;
  }

  /**
   * Ends a job: publishes its sealed result, or, when there is none, commits a failure receipt signed through the job's
   * attestation binding; then removes its staging directory and records the final state. Never throws.
   */
  private async end(jobId: string, digest: string, submittedAt: string, executorDigest: string, failure: LauncherFailure): Promise<JobStateFile> {
    const final = join(this.layout.quarantineDir, jobId);
    const committed = () => existsSync(join(final, RESULT_FILES.receipt));
    try {
      const sealed = sealedResultDir(this.layout.quarantineDir, jobId);
      if (!existsSync(final) && existsSync(join(sealed, RESULT_FILES.receipt))) await rename(sealed, final);
    } catch (err) {
      this.log(`job ${jobId}: cannot publish its result: ${messageOf(err)}`);
    }
    if (!committed()) {
      try {
        await this.commitFailure(jobId, digest, executorDigest, failure);
      } catch (err) {
        this.log(`job ${jobId}: cannot record its failure receipt: ${messageOf(err)}`);
      }
    }
    await rm(stagingDirOf(this.layout.quarantineDir, jobId), { recursive: true, force: true }).catch((err: unknown) =>
      this.log(`job ${jobId}: cannot remove its staging directory: ${messageOf(err)}`),
    );
    const ok = committed();
    const state: JobStateFile = {
      jobId,
      jobDigest: digest,
      submittedAt,
      executorDigest,
      state: ok ? "exited" : "lost",
      finishedAt: new Date().toISOString(),
      ...(ok ? {} : { detail: `${failure.message}; not even a failure receipt could be written (room log: room.log)` }),
    };
    await writeJobState(this.layout, state).catch((err: unknown) => this.log(`job ${jobId}: cannot record its state: ${messageOf(err)}`));
    return state;
  }

  /** Commits a failure receipt for a job no executor committed one for (no outputs, no inputs read by it). */
  private async commitFailure(jobId: string, digest: string, executorDigest: string, failure: LauncherFailure): Promise<void> {
    const receipt: Receipt = {
      version: RECEIPT_VERSION,
      room: this.descriptor.name,
      jobId,
      jobDigest: digest,
      executorImageDigest: executorDigest,
      policyDigest: policyDigest(this.descriptor.attestation.condition),
      platform: "local",
      sandbox: this.config.bwrap ? "bubblewrap" : "none",
      inputs: [],
      outputs: [],
      startedAt: failure.startedAt,
      finishedAt: new Date().toISOString(),
      status: "failed",
      error: failure.message,
      errorCode: failure.code,
      // Every receipt of a debug-logs room says so, the launcher's too (no stderr: no job process ended here).
      ...(debugLogsOn(this.descriptor) ? { debugLogs: true as const } : {}),
    };
    const token = await this.signer.sign(this.binding(jobId, digest, executorDigest), this.descriptor.attestation.audience, [nonceForReceipt(receipt)]);
    const writer = new LocalResultWriter(join(this.layout.quarantineDir, jobId));
    try {
      await writer.write(RESULT_FILES.token, Buffer.from(`${token}\n`));
      await writer.write(RESULT_FILES.receipt, Buffer.from(`${JSON.stringify(receipt, null, 2)}\n`));
      await writer.commit();
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * On start: every job a previous run of the room left unfinished (its executor died with the room, e.g. after
   * `kill -9`) gets its result published or a failure receipt, so that `job wait` ends for all of them.
   */
  async recover(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(join(this.layout.stateDir, "jobs"));
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^(.+)\.json$/.exec(name);
      if (!m || !JOB_ID_PATTERN.test(m[1]!) || this.running.has(m[1]!)) continue;
      const s = await readJobState(this.layout, m[1]!);
      if (!s || s.jobId !== m[1] || !DIGEST_PATTERN.test(s.jobDigest)) continue;
      if (s.state === "exited" && existsSync(join(this.layout.quarantineDir, s.jobId, RESULT_FILES.receipt))) continue;
      this.stopOrphan(s);
      await this.end(s.jobId, s.jobDigest, s.submittedAt, s.executorDigest ?? this.config.executor.digest, {
        code: "executor-died",
        message: "The room stopped while this job ran, and its executor with it; the room recorded this failure when it started again. Nothing was released",
        startedAt: s.submittedAt,
      });
      await rm(join(this.layout.jobSocketsDir, s.jobId), { recursive: true, force: true }).catch(() => undefined);
      this.log(`job ${s.jobId} was left unfinished by the room's previous run: recorded as failed`);
    }
  }

  /** Kills an executor a previous run left behind (only without a sandbox does one outlive the room), if it is ours. */
  private stopOrphan(s: JobStateFile): void {
    if (s.pid === undefined) return;
    try {
      const cmdline = readFileSync(`/proc/${s.pid}/cmdline`, "utf8");
      if (cmdline.includes(this.config.executor.entry)) process.kill(s.pid, "SIGKILL");
    } catch {
      // gone, or not ours
    }
  }

  /**
   * Room shutdown: kills every running executor and waits until each of its jobs has ended with a failure receipt
   * (`errorCode: "stopped"`) that says why, so that no job is left `running` or `lost` behind a stopped room.
   */
  async stopAll(why = "The room was stopped (`cleanroom local down --force`) while this job ran: its executor was killed and nothing was released"): Promise<string[]> {
    this.stopping = { code: "stopped", message: why, startedAt: "" };
    const ids = this.activeJobs;
    for (const c of this.running.values()) c.kill("SIGKILL");
    await Promise.all([...this.ending.values()]);
    return ids;
  }
}

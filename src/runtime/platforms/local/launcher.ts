/**
 * The local launcher: starts one executor per job, in a bubblewrap sandbox, with a per-job attestation endpoint that
 * carries that job's digest. Plays the role of the Confidential Space launcher plus the VM the GCP runtime creates.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { DIGEST_PATTERN, JOB_ID_PATTERN } from "../../../core/patterns.js";
import { RESULT_FILES } from "../../../core/receipt.js";
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
import { type AttestationEndpoint, type LocalTokenSigner, startAttestationService } from "./attestation-service.js";
import type { RoomLayout } from "./layout.js";
import { fileUri } from "./layout.js";
import { ENV_LOCAL_RUNTIME } from "./platform.js";
import { type RuntimeDirs, executorSandboxArgs } from "./sandbox.js";

/** What `local up` decided about how jobs run (`<dir>/launcher.json`). */
export interface LauncherConfig {
  /** bwrap binary, or null under `--insecure-no-sandbox`. */
  readonly bwrap: string | null;
  readonly runtimes: RuntimeDirs;
  readonly executor: { readonly dir: string; readonly entry: string; readonly digest: string; readonly nodeModules: string };
  readonly nodeExe: string;
  /** Jobs running longer are killed (and marked lost). @default 3600000 */
  readonly maxRuntimeMs: number;
}

/** A job's state file (`<dir>/state/jobs/<jobId>.json`). */
export interface JobStateFile {
  readonly jobId: string;
  readonly jobDigest: string;
  /** `queued`, `running`, `exited` (a result was committed) or `lost`. */
  readonly state: string;
  readonly submittedAt: string;
  readonly finishedAt?: string;
  /** Process id of the sandbox (or executor) while running. */
  readonly pid?: number;
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

/** Starts and tracks executors. */
export class Launcher {
  private readonly running = new Map<string, ChildProcess>();

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

  /**
   * Starts a job the consumer uploaded to `<jobs>/<jobId>`, as the operator who launched it claims: `jobDigest` becomes
   * `CLEANROOM_JOB_DIGEST` (and the token's `env_override`); the executor refuses the bundle if it differs.
   *
   * @throws CleanRoomError `invalid-argument`, `not-found`, `already-exists`
   */
  async start(jobId: string, jobDigest: string): Promise<JobStateFile> {
    if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `jobId ${JSON.stringify(jobId)} is malformed`);
    if (!DIGEST_PATTERN.test(jobDigest)) throw new CleanRoomError("invalid-argument", `jobDigest ${JSON.stringify(jobDigest)} must be sha256:<64 hex>`);
    const jobDir = join(this.layout.jobsDir, jobId);
    for (const f of ["bundle.tar", "job.json"]) {
      if (!existsSync(join(jobDir, f))) throw new CleanRoomError("not-found", `${jobId}/${f} was not uploaded to ${this.layout.jobsDir}`);
    }
    if (this.running.has(jobId) || (await readJobState(this.layout, jobId)) || existsSync(join(this.layout.quarantineDir, jobId))) {
      throw new CleanRoomError("already-exists", `Job ${jobId} was already started; a job runs once (submit again for a new job id)`);
    }
    const submittedAt = new Date().toISOString();
    await writeJobState(this.layout, { jobId, jobDigest, state: "queued", submittedAt });

    const sockDir = join(this.layout.jobSocketsDir, jobId);
    await mkdir(sockDir, { recursive: true, mode: 0o700 });
    const hostSocket = join(sockDir, "teeserver.sock");
    const outputUri = fileUri(join(this.layout.quarantineDir, jobId));
    const envOverride: Record<string, string> = {
      [ENV_JOB_DIGEST]: jobDigest,
      [ENV_JOB_URI]: fileUri(jobDir),
      [ENV_OUTPUT_URI]: outputUri,
      [ENV_ROOM]: this.layout.descriptor,
    };
    const argv = [this.config.nodeExe, this.config.executor.entry];
    let endpoint: AttestationEndpoint;
    try {
      endpoint = await startAttestationService(hostSocket, this.signer, {
        roomName: this.descriptor.name,
        jobId,
        imageDigest: this.config.executor.digest,
        envOverride,
        args: argv,
      });
    } catch (err) {
      await writeJobState(this.layout, { jobId, jobDigest, state: "lost", submittedAt, finishedAt: new Date().toISOString(), detail: messageOf(err) });
      throw err;
    }
    const env: Record<string, string> = {
      ...envOverride,
      PATH: this.config.runtimes.path,
      HOME: "/tmp",
      NODE_PATH: this.config.executor.nodeModules,
      [ENV_SANDBOX]: this.config.bwrap ? "bubblewrap" : "none",
      [ENV_BROKER_SOCKET]: this.layout.brokerSocket,
      [ENV_LOCAL_RUNTIME]: JSON.stringify(this.config.runtimes),
    };
    const logFd = openSync(join(this.layout.stateDir, "jobs", `${jobId}.log`), "a", 0o600);
    let child: ChildProcess;
    if (this.config.bwrap) {
      const args = executorSandboxArgs({
        runtimes: this.config.runtimes,
        readOnly: [this.config.executor.dir, this.config.executor.nodeModules, jobDir, this.layout.providersDir, this.layout.descriptor],
        // The providers' DP ledgers: a stage-2 DP release appends its (attested) spend there.
        writable: [this.layout.quarantineDir, ...ledgerDirs(this.layout, this.descriptor)],
        launcherSocket: hostSocket,
        launcherSocketInside: CONTAINER_LAUNCHER_SOCKET,
        brokerSocket: this.layout.brokerSocket,
        env,
      });
      child = spawn(this.config.bwrap, [...args, "--", ...argv], { stdio: ["ignore", logFd, logFd], env: {} });
    } else {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", logFd, logFd], env: { ...env, [ENV_LAUNCHER_SOCKET]: hostSocket }, cwd: "/tmp" });
    }
    closeSync(logFd);
    this.running.set(jobId, child);
    const state: JobStateFile = { jobId, jobDigest, state: "running", submittedAt, pid: child.pid };
    await writeJobState(this.layout, state);
    this.log(`job ${jobId} started (${jobDigest}, sandbox ${this.config.bwrap ? "bubblewrap" : "none"})`);
    const timer = setTimeout(() => child.kill("SIGKILL"), this.config.maxRuntimeMs);
    timer.unref();
    const exited = new Promise<{ code: number | null; signal: string | null; error?: string }>((resolveP) => {
      child.once("error", (err) => resolveP({ code: null, signal: null, error: messageOf(err) }));
      child.once("exit", (code, signal) => resolveP({ code, signal }));
    });
    void exited.then(async (ex) => {
      clearTimeout(timer);
      this.running.delete(jobId);
      await endpoint.close().catch(() => undefined);
      await rm(sockDir, { recursive: true, force: true }).catch(() => undefined);
      await this.cleanStaging(jobId);
      const committed = existsSync(join(this.layout.quarantineDir, jobId, RESULT_FILES.receipt));
      const how = ex.error ?? (ex.signal ? `was killed by ${ex.signal}` : `exited with code ${ex.code}`);
      await writeJobState(this.layout, {
        jobId,
        jobDigest,
        submittedAt,
        state: committed ? "exited" : "lost",
        finishedAt: new Date().toISOString(),
        detail: committed ? undefined : `the executor ${how} without committing a result; nothing was released (log: state/jobs/${jobId}.log)`,
      });
      this.log(`job ${jobId} ${committed ? "finished" : `lost: executor ${how}`}`);
    });
    return state;
  }

  /** Removes what a dead executor left half-written: readers never look at staging directories. */
  private async cleanStaging(jobId: string): Promise<void> {
    for (const name of await readdir(this.layout.quarantineDir).catch(() => [] as string[])) {
      if (name.startsWith(`.staging-${jobId}-`)) await rm(join(this.layout.quarantineDir, name), { recursive: true, force: true });
    }
  }

  /** Kills every running executor (room shutdown). */
  stopAll(): void {
    for (const c of this.running.values()) c.kill("SIGKILL");
  }
}

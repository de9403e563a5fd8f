/**
 * `cleanroom local up|down|status`: start, stop and inspect a local room.
 */
import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { makeDirectory } from "../../directory.js";
import { basename, join, resolve } from "node:path";
import { buildAttestationCondition, providerAttestationPolicy } from "../../../core/attestation.js";
import { type CleanRoomDescriptor, DESCRIPTOR_VERSION, type LocalJobLimits, localJobLimitsProblems, roomAudience } from "../../../core/descriptor.js";
import { canonicalJson } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { type ResolvedSpec, jobTimeoutProblem, resolveSpec } from "../../../core/spec.js";
import { ensureBrokerKeys } from "./broker.js";
import { buildClosure, buildExecutor, packageRoot } from "./executor-build.js";
import { socketInUse, unixRequest } from "./http.js";
import type { LauncherConfig } from "./launcher.js";
import { type RoomLayout, fileUri, roomLayout } from "./layout.js";
import { createLocalPki, loadLocalPki } from "./pki.js";
import { cpus, totalmem } from "node:os";
import { detectRuntimes, findBwrap, findPrlimit } from "./sandbox.js";

/** Options of `localUp`. */
export interface LocalUpOptions {
  /** Path of the spec JSON, or the spec itself. */
  readonly spec: string | unknown;
  /** The room directory (created). */
  readonly dir: string;
  /** Room name (audience, token subjects). @default "local-<basename of dir>" */
  readonly name?: string;
  /** Run jobs without bubblewrap. Every receipt then says `sandbox: "none"`. Never for real data. @default false */
  readonly insecureNoSandbox?: boolean;
  /**
   * Keep a failed job's stderr (its last 64 KiB) as `stderr.txt` beside its failure receipt, so a newcomer sees the
   * traceback. The job's strings then reach its submitter unchecked: throwaway data only. Recorded in the descriptor
   * (`debugLogs: true`) and in every receipt of the room. Local rooms only: a GCP room refuses it.
   * @default false - a job's stderr never leaves the sandbox
   */
  readonly debugLogs?: boolean;
  /** How long to wait for the services. @default 30000 */
  readonly timeoutMs?: number;
  /**
   * Overrides the spec's `jobs.timeoutSeconds` for this room: how long a job may run before the executor stops it and
   * the job fails with `timeout` (its receipt says so). Recorded in the descriptor.
   * @default - the spec's `jobs.timeoutSeconds` (6 hours when it sets none)
   */
  readonly jobTimeoutSeconds?: number;
  /**
   * Resource limits of every job process (set with rlimits inside its sandbox), each overriding its default:
   * `memoryMiB` half of this machine's memory, `processes` 512, `cpuSeconds` the job time limit times the CPUs (it
   * then never stops a job before the wall-clock limit unless lowered). Recorded in the descriptor.
   * @default - the defaults above
   */
  readonly jobLimits?: Partial<LocalJobLimits>;
  readonly onProgress?: (message: string) => void;
}

/** What `localUp` did. */
export interface LocalUpResult {
  readonly descriptor: CleanRoomDescriptor;
  readonly descriptorPath: string;
  readonly alreadyRunning: boolean;
  readonly pid: number;
}

/** What `localStatus` reports. */
export interface LocalStatus {
  readonly dir: string;
  readonly running: boolean;
  readonly pid?: number;
  readonly room?: string;
  readonly runningJobs?: number;
  /** The ids of the jobs running now. */
  readonly runningJobIds?: readonly string[];
  readonly executorDigest?: string;
  readonly insecureNoSandbox?: boolean;
  /** Whether the room keeps failed jobs' stderr (`local up --debug-logs`). */
  readonly debugLogs?: boolean;
  readonly detail?: string;
}

function readSpec(spec: string | unknown): unknown {
  if (typeof spec !== "string") return spec;
  let text: string;
  try {
    text = readFileSync(spec, "utf8");
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read the spec ${spec}: ${messageOf(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CleanRoomError("invalid-spec", `The spec ${spec} is not valid JSON: ${messageOf(err)}`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readPid(layout: RoomLayout): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(layout.pidFile, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a directory that holds no local room (no `descriptor.json`, spec or pid file from `local up`).
 *
 * @throws CleanRoomError `not-found` saying how to start one
 */
function requireRoom(layout: RoomLayout, dir: string): void {
  if ([layout.descriptor, layout.spec, layout.pidFile].some((p) => existsSync(p))) return;
  throw new CleanRoomError(
    "not-found",
    `${dir} holds no local room (no descriptor.json). Pass the --dir you gave \`cleanroom local up\`, or start a room there with \`cleanroom local up --spec <spec.json> --dir ${dir}\``,
  );
}

/**
 * Reports whether the room in `dir` is running, and what it runs.
 *
 * @throws CleanRoomError `not-found` when `dir` holds no room
 */
export async function localStatus(dir: string): Promise<LocalStatus> {
  const layout = roomLayout(dir);
  requireRoom(layout, dir);
  return statusOf(layout, dir);
}

async function statusOf(layout: RoomLayout, dir: string): Promise<LocalStatus> {
  const pid = await readPid(layout);
  if (pid === undefined || !pidAlive(pid)) {
    return { dir: layout.dir, running: false, detail: `stopped (start it with \`cleanroom local up --spec <spec.json> --dir ${dir}\`)` };
  }
  try {
    const h = await health(layout);
    const d = JSON.parse(await readFile(layout.descriptor, "utf8")) as CleanRoomDescriptor;
    return {
      dir: layout.dir,
      running: true,
      pid,
      room: h.room,
      runningJobs: h.running,
      runningJobIds: h.runningJobs ?? [],
      executorDigest: h.imageDigest,
      insecureNoSandbox: d.local?.insecureNoSandbox ?? false,
      debugLogs: d.debugLogs === true,
    };
  } catch (err) {
    return { dir: layout.dir, running: false, pid, detail: `process ${pid} exists but does not answer: ${messageOf(err)}` };
  }
}

/** What the room's control socket says about itself. */
async function health(layout: RoomLayout): Promise<{ room: string; running: number; runningJobs?: string[]; imageDigest: string }> {
  const res = await unixRequest(layout.controlSocket, "GET", "/v1/health", undefined, 5000);
  return JSON.parse(res.body) as { room: string; running: number; runningJobs?: string[]; imageDigest: string };
}

function roomName(dir: string, name?: string): string {
  const n = name ?? `local-${basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "room"}`;
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(n)) throw new CleanRoomError("invalid-argument", `Room name ${JSON.stringify(n)} must be lowercase letters, digits and hyphens, starting with a letter`);
  return n;
}

/** Default processes (and threads) of one job. */
export const DEFAULT_JOB_PROCESSES = 512;

/**
 * A room's job limits: the defaults (half this machine's memory, 512 processes, the time limit times the CPUs of CPU
 * time) with the caller's overrides. Pure but for the machine's size.
 *
 * @throws CleanRoomError `invalid-argument` naming every bad limit
 */
export function resolveJobLimits(overrides: Partial<LocalJobLimits> | undefined, timeoutSeconds: number): LocalJobLimits {
  const limits: LocalJobLimits = {
    memoryMiB: overrides?.memoryMiB ?? Math.max(256, Math.floor(totalmem() / (2 * 1024 * 1024))),
    processes: overrides?.processes ?? DEFAULT_JOB_PROCESSES,
    cpuSeconds: overrides?.cpuSeconds ?? timeoutSeconds * Math.max(1, cpus().length),
  };
  const problems = localJobLimitsProblems(limits, "jobLimits");
  if (problems.length > 0) throw new CleanRoomError("invalid-argument", `Invalid job limits: ${problems.join("; ")}`, { problems });
  return limits;
}

function buildDescriptor(name: string, spec: ResolvedSpec, layout: RoomLayout, digest: string, rootPem: string, insecure: boolean, jobLimits: LocalJobLimits, debugLogs: boolean): CleanRoomDescriptor {
  // Keys open only for executors writing into this room's quarantine (the same clause the GCP pool enforces).
  const policy = { imageDigests: [digest], platform: "local", outputUriPrefix: `${fileUri(layout.quarantineDir)}/` };
  return {
    version: DESCRIPTOR_VERSION,
    name,
    platform: "local",
    codePolicy: spec.codePolicy,
    executor: { imageDigest: digest },
    attestation: { policy, condition: buildAttestationCondition(policy), audience: roomAudience(name), trustedRoots: [rootPem] },
    output: { ...spec.output },
    jobs: { ...spec.jobs },
    providers: spec.providers.map((p) => {
      // A provider with requirements of its own gets its own condition: the broker checks it for this provider's key.
      const own = p.attestation === undefined ? undefined : providerAttestationPolicy(policy, p.attestation);
      return {
        name: p.name,
        approvedJobs: [...p.approvedJobs],
        datasets: p.datasets.map((d) => ({ ...d })),
        dataUri: fileUri(join(layout.providersDir, p.name)),
        keyName: `local:${p.name}`,
        ...(own === undefined ? {} : { attestation: { policy: own, condition: buildAttestationCondition(own) } }),
      };
    }),
    storage: {
      jobs: fileUri(layout.jobsDir),
      quarantine: fileUri(layout.quarantineDir),
      results: fileUri(layout.resultsDir),
      stage1: fileUri(layout.stage1Dir),
    },
    local: {
      dir: layout.dir,
      attestationSocket: join(layout.jobSocketsDir, "<jobId>", "teeserver.sock"),
      brokerSocket: layout.brokerSocket,
      insecureNoSandbox: insecure,
      jobLimits,
    },
    // Omitted when off, so the descriptor of a room without it is what it always was.
    ...(debugLogs ? { debugLogs: true } : {}),
  };
}

/**
 * Starts a local room in `dir`: validates the spec, creates the chain, broker keys and buckets, builds the executor,
 * writes `<dir>/descriptor.json` and starts the services in the background. Idempotent: the same spec on a running room
 * returns `alreadyRunning`; a different spec is refused with how to restart.
 *
 * @throws CleanRoomError `invalid-spec`, `sandbox-unavailable`, `already-exists`, `io-error`
 */
export async function localUp(options: LocalUpOptions): Promise<LocalUpResult> {
  const progress = options.onProgress ?? (() => undefined);
  const raw = readSpec(options.spec);
  const resolved = resolveSpec(raw);
  if (options.jobTimeoutSeconds !== undefined) {
    const problem = jobTimeoutProblem(options.jobTimeoutSeconds, "jobTimeoutSeconds (--job-timeout)");
    if (problem) throw new CleanRoomError("invalid-argument", problem);
  }
  const spec: ResolvedSpec = options.jobTimeoutSeconds === undefined ? resolved : { ...resolved, jobs: { timeoutSeconds: options.jobTimeoutSeconds } };
  const layout = roomLayout(options.dir);
  const name = roomName(options.dir, options.name);
  const insecure = options.insecureNoSandbox === true;
  const jobLimits = resolveJobLimits(options.jobLimits, spec.jobs.timeoutSeconds);
  const debugLogs = options.debugLogs === true;
  // `up --debug-logs` on a room running without it (or the reverse) is a different room: refused, not silently reused.
  const fingerprint = canonicalJson({ spec: raw, name, insecureNoSandbox: insecure, jobTimeoutSeconds: spec.jobs.timeoutSeconds, jobLimits, ...(debugLogs ? { debugLogs } : {}) });

  const status = await statusOf(layout, options.dir);
  if (status.running) {
    const previous = await readFile(layout.spec, "utf8").catch(() => "");
    if (previous.trim() === fingerprint) {
      return { descriptor: JSON.parse(await readFile(layout.descriptor, "utf8")) as CleanRoomDescriptor, descriptorPath: layout.descriptor, alreadyRunning: true, pid: status.pid! };
    }
    throw new CleanRoomError(
      "already-exists",
      `A room is already running in ${layout.dir} with a different spec or options. To apply the new spec: \`cleanroom local down --dir ${options.dir}\` then \`cleanroom local up --spec <spec> --dir ${options.dir}\` (provisioned data and results are kept).`,
    );
  }
  const bwrap = findBwrap();
  if (!bwrap && !insecure) {
    throw new CleanRoomError(
      "sandbox-unavailable",
      "bubblewrap (bwrap) is not installed, so jobs cannot be sandboxed (no network, read-only code and inputs). Install it (`apt-get install bubblewrap`), or pass --insecure-no-sandbox for throwaway data only: every receipt will then say sandbox \"none\".",
    );
  }
  if (!insecure && !findPrlimit()) {
    throw new CleanRoomError(
      "sandbox-unavailable",
      "prlimit (util-linux) is not installed, so jobs cannot run under the room's memory, CPU and process limits. Install it (`apt-get install util-linux`).",
    );
  }
  for (const s of [layout.controlSocket, layout.brokerSocket]) {
    if (await socketInUse(s)) {
      throw new CleanRoomError("already-exists", `The socket ${s} is in use by another process; stop it or choose another --dir`);
    }
  }

  const created = !existsSync(layout.dir);
  await makeDirectory(layout.dir, "--dir", 0o755);
  try {
    progress(`Preparing room ${name} in ${layout.dir}`);
    await mkdir(layout.privateDir, { recursive: true, mode: 0o700 });
    await chmod(layout.privateDir, 0o700);
    for (const d of [layout.providersDir, layout.jobsDir, layout.quarantineDir, layout.resultsDir, layout.stage1Dir, layout.jobSocketsDir, join(layout.stateDir, "jobs")]) {
      await mkdir(d, { recursive: true, mode: 0o755 });
    }
    await chmod(layout.runDir, 0o700);
    // Quarantine holds results no provider has reviewed yet: only the room's owner (every local role) reads it.
    await chmod(layout.quarantineDir, 0o700);
    for (const p of spec.providers) await mkdir(join(layout.providersDir, p.name), { recursive: true });
    const pki = existsSync(join(layout.pkiDir, "leaf.pk8")) ? await loadLocalPki(layout.pkiDir) : await createLocalPki(layout.pkiDir, name);
    await ensureBrokerKeys(layout.brokerKeysDir, spec.providers.map((p) => p.name));
    progress("Building the executor");
    const build = await buildExecutor(layout.executorDir);
    const config: LauncherConfig = {
      bwrap: insecure ? null : (bwrap ?? null),
      runtimes: detectRuntimes(),
      executor: { dir: build.dir, entry: build.entry, digest: build.digest, nodeModules: build.nodeModules },
      nodeExe: process.execPath,
    };
    const descriptor = buildDescriptor(name, spec, layout, build.digest, pki.rootPem, insecure, jobLimits, debugLogs);
    await writeFile(layout.descriptor, `${JSON.stringify(descriptor, null, 2)}\n`);
    await writeFile(layout.config, `${JSON.stringify(config, null, 2)}\n`);
    await writeFile(layout.spec, `${fingerprint}\n`);
    await rm(layout.pidFile, { force: true });

    progress("Starting the attestation service, key broker and launcher");
    // The services run from a transpiled build too: no ts-node start-up, and what runs is what is on disk.
    const daemon = await buildClosure(layout.servicesDir, "runtime/platforms/local/daemon");
    const logFd = openSync(layout.logFile, "a", 0o600);
    const child = spawn(process.execPath, [daemon, layout.dir], {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      cwd: layout.dir,
      env: { ...process.env, NODE_PATH: join(packageRoot(), "node_modules") },
    });
    closeSync(logFd);
    child.unref();
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let exited: number | null = null;
    child.once("exit", (code) => {
      exited = code ?? 1;
    });
    while (Date.now() < deadline) {
      if (exited !== null) break;
      const pid = await readPid(layout);
      if (pid !== undefined && (await socketInUse(layout.controlSocket))) return { descriptor, descriptorPath: layout.descriptor, alreadyRunning: false, pid };
      await new Promise((r) => setTimeout(r, 50));
    }
    if (exited === null) child.kill("SIGKILL");
    const tail = (await readFile(layout.logFile, "utf8").catch(() => "")).trim().split("\n").slice(-5).join("\n");
    throw new CleanRoomError("io-error", `The room's services did not start${exited !== null ? ` (exit code ${exited})` : " in time"}. Last log lines:\n${tail}`);
  } catch (err) {
    // Nothing half-started: a failed first `up` removes the directory it created.
    if (created) await rm(layout.dir, { recursive: true, force: true }).catch(() => undefined);
    else await rm(layout.pidFile, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Options of `localDown`. */
export interface LocalDownOptions {
  /**
   * Stop the room even while jobs run: each running job is killed and ends `failed` with a failure receipt
   * (`errorCode: "stopped"`). Without it, `localDown` refuses while any job runs. @default false
   */
  readonly force?: boolean;
  /** How long to wait for the room's process to exit before killing it. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * Stops the room in `dir`. Returns false when it was not running.
 *
 * @throws CleanRoomError `not-found` when `dir` holds no room; `busy` when jobs run and `force` is not set
 */
export async function localDown(dir: string, options: LocalDownOptions = {}): Promise<boolean> {
  const layout = roomLayout(dir);
  requireRoom(layout, dir);
  const pid = await readPid(layout);
  if (pid === undefined || !pidAlive(pid)) {
    await rm(layout.pidFile, { force: true });
    return false;
  }
  if (options.force !== true) {
    const running = await health(layout).then(
      (h) => h.runningJobs ?? [],
      () => [] as string[],
    );
    if (running.length > 0) {
      const descriptor = join(dir, "descriptor.json");
      throw new CleanRoomError(
        "busy",
        `${running.length} job(s) still running in this room: ${running.join(", ")}. Wait for them (\`cleanroom job wait ${running[0]} --room ${descriptor}\`), ` +
          `or stop them with \`cleanroom local down --dir ${dir} --force\`: each then ends failed [stopped] with a failure receipt.`,
        { problems: running.map((j) => `${j} is running`) },
      );
    }
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (pidAlive(pid)) process.kill(pid, "SIGKILL");
  await rm(layout.pidFile, { force: true });
  for (const s of [layout.controlSocket, layout.brokerSocket]) await rm(s, { force: true });
  return true;
}

/**
 * Running the job's process: started in a process group of its own, stopped at the room's time limit, and not
 * considered finished until every process it started is gone. A process left behind could otherwise keep writing
 * outputs after they were checked and hashed, and a committed result would then fail verification.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { JobProcessCommand } from "../platforms/platform.js";

/** How long the executor waits for a finished job's processes to disappear before it gives up on the job. */
export const DRAIN_TIMEOUT_MS = 10_000;

/**
 * How long the executor waits for the sandbox's report (`sandboxInfoFd`: the first process of the job's PID namespace)
 * when it stops the job (`onStop`), and again once the job has exited (`afterExit`): a report that never comes costs
 * at most their sum.
 */
export const REPORT_WAIT_MS: { readonly onStop: number; readonly afterExit: number } = { onStop: 1_000, afterExit: 2_000 };

/** How a job process ended. */
export interface JobProcessExit {
  /** The exit code (128 + signal number style: 128 when killed by a signal). */
  readonly code: number;
  /** True when the executor stopped it at the time limit. */
  readonly timedOut: boolean;
  /** With `keepStderrTail`: the last bytes the job wrote to stderr, and whether earlier ones were dropped. */
  readonly stderrTail?: { readonly bytes: Buffer; readonly truncated: boolean };
}

/** Options of `runJobProcess`. */
export interface JobProcessOptions {
  /** Stop the process (and its namespace) after this long. @default - no limit */
  readonly timeoutMs?: number;
  /** Where the process's stderr goes: only for the executor's own commands (runtime probes), never for job code. */
  readonly onStderr?: (chunk: Buffer) => void;
  /**
   * Keep the last this-many bytes of the process's stderr (`stderrTail`), in memory. Only for a debug-logs room
   * (`cleanroom local up --debug-logs`), which shows a failed job's stderr to its submitter.
   * @default - the stderr is discarded
   */
  readonly keepStderrTail?: number;
  /**
   * How long to wait, once the job has exited, for the first process of its PID namespace to be gone before giving
   * up on the job (`internal`). Only tests set it, to exercise that path without waiting the full default.
   * @default DRAIN_TIMEOUT_MS
   */
  readonly drainTimeoutMs?: number;
  /**
   * How long to wait for the sandbox's report (see `REPORT_WAIT_MS`). Only tests set it, to exercise a report that
   * never comes without waiting the full default.
   * @default REPORT_WAIT_MS
   */
  readonly reportWaitMs?: { readonly onStop: number; readonly afterExit: number };
}

/** The last `max` bytes of a stream, in bounded memory whatever the job writes. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max) {
      const first = this.chunks[0]!;
      const over = this.size - this.max;
      this.truncated = true;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
      }
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Whether the process `pid` is still running. A zombie (exited, not yet reaped) is not: bubblewrap's outer process
 * leaves the PID namespace's first process to be reaped by PID 1, which some inits do only every few seconds and a
 * container whose PID 1 is not an init never does. A namespace's first process becomes a zombie only once the kernel
 * has ended every other process of its namespace, so its zombie means the job's processes are all gone.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user (the job's); ESRCH: it is gone.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return !exited(pid);
}

/**
 * Whether `/proc/<pid>/stat` says the process has exited and waits to be reaped (state Z, zombie). False where it
 * cannot be read (no procfs): the process is then waited for until it is gone, as before. (State X, a task being
 * released, is gone from /proc by the time anyone could read it.)
 */
function exited(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return false;
  }
  // "pid (comm) S …": the state follows the command name, which may itself contain ") ".
  return stat[stat.lastIndexOf(")") + 2] === "Z";
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Reads bubblewrap's `--info-fd` JSON (`{"child-pid": N, …}`) from the child's fd 3, as soon as it is complete. */
function sandboxPid(child: ChildProcess): Promise<number | undefined> {
  const stream = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
  if (!stream) return Promise.resolve(undefined);
  return new Promise((resolveP) => {
    let text = "";
    const done = (pid: number | undefined) => {
      stream.removeAllListeners("data");
      resolveP(pid);
    };
    stream.on("data", (c: Buffer) => {
      text += c.toString("utf8");
      try {
        const pid = (JSON.parse(text) as { "child-pid"?: unknown })["child-pid"];
        done(typeof pid === "number" && Number.isSafeInteger(pid) && pid > 1 ? pid : undefined);
      } catch {
        // incomplete: wait for more
      }
    });
    stream.on("end", () => done(undefined));
    stream.on("error", () => done(undefined));
  });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Runs a job command to completion: resolves once the process has exited **and** nothing it started is left (its
 * process group is killed; with `sandboxInfoFd`, the first process of its PID namespace, whose end takes every other
 * process of the namespace with it, must be gone).
 *
 * @throws CleanRoomError `job-failed` when the command cannot be started, `internal` when its processes do not stop
 */
export function runJobProcess(cmd: JobProcessCommand, options: JobProcessOptions = {}): Promise<JobProcessExit> {
  const tail = options.keepStderrTail !== undefined ? new Tail(options.keepStderrTail) : undefined;
  const { drainTimeoutMs = DRAIN_TIMEOUT_MS, reportWaitMs = REPORT_WAIT_MS } = options;
  return new Promise((resolveP, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd.command, [...cmd.args], {
        cwd: cmd.cwd,
        env: { ...cmd.env },
        // The job's stdout/stderr are not kept: they could carry raw rows past the output policy and the release review.
        // (A debug-logs room keeps the tail of a failed job's stderr: its owner opted in, and every receipt says so.)
        stdio: ["ignore", "ignore", options.onStderr || tail ? "pipe" : "ignore", ...(cmd.sandboxInfoFd ? ["pipe" as const] : [])],
        // A process group of its own, so that whatever the job starts can be killed with it.
        detached: true,
        ...(cmd.uid !== undefined ? { uid: cmd.uid } : {}),
        ...(cmd.gid !== undefined ? { gid: cmd.gid } : {}),
      });
    } catch (err) {
      reject(new CleanRoomError("job-failed", `Cannot start the job (${cmd.command}): ${messageOf(err)}`, { cause: err }));
      return;
    }
    if (options.onStderr) child.stderr?.on("data", options.onStderr);
    if (tail) child.stderr?.on("data", (c: Buffer) => tail.push(c));
    // Everything the job wrote is read once its pipe closes (every process holding it is gone by then).
    const stderrClosed = tail && child.stderr ? new Promise<void>((r) => child.stderr!.once("close", () => r())) : Promise.resolve();
    const nsPid = cmd.sandboxInfoFd ? sandboxPid(child) : Promise.resolve(undefined);
    let timedOut = false;
    const stop = async () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already empty
        }
      }
      // The PID namespace's first process: killing it kills every process of the namespace.
      const pid = await Promise.race([nsPid, new Promise<undefined>((r) => setTimeout(() => r(undefined), reportWaitMs.onStop))]);
      if (pid !== undefined) killQuietly(pid);
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            void stop();
          }, options.timeoutMs)
        : undefined;
    child.once("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(new CleanRoomError("job-failed", `Cannot start the job (${cmd.command}): ${messageOf(err)}`, { cause: err }));
    });
    child.once("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      void (async () => {
        await stop();
        const pid = await Promise.race([nsPid, new Promise<undefined>((r) => setTimeout(() => r(undefined), reportWaitMs.afterExit))]);
        if (pid !== undefined && !(await waitGone(pid, drainTimeoutMs))) {
          reject(new CleanRoomError("internal", `The job's processes did not stop within ${drainTimeoutMs} ms after it exited; nothing it wrote is used`));
          return;
        }
        child.stdio[3]?.destroy();
        if (tail) {
          await Promise.race([stderrClosed, new Promise((r) => setTimeout(r, 2000))]);
          child.stderr?.destroy();
        }
        resolveP({ code: code ?? (signal ? 128 : 1), timedOut, ...(tail ? { stderrTail: { bytes: tail.bytes(), truncated: tail.truncated } } : {}) });
      })();
    });
  });
}

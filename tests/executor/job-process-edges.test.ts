/**
 * runJobProcess at its edges, on real processes and real pipes: a namespace process the executor may not signal (it
 * belongs to another user) still counts as alive; a sandbox report pipe that fails ends the wait for the report at
 * once; and a job started without any stderr option leaves nothing behind (no rejection no one handles, which would
 * stop the executor under Node's default `--unhandled-rejections=throw`).
 *
 * The first test makes the kernel's answer for one pid EPERM at the OS boundary (`process.kill`, which job-process
 * calls at call time), for that pid only: the real EPERM needs a non-root executor, and lowering the whole process's
 * effective uid instead (as this test first did) made any other work of the process fail while it ran (under Stryker,
 * a previous run's leftover spawn failed with EPERM and was charged to this test: kills that were not kills).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readlinkSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { DRAIN_TIMEOUT_MS, runJobProcess } from "../../src/runtime/executor/job-process.js";
import type { JobProcessCommand } from "../../src/runtime/platforms/platform.js";

/** `sh -c <script>` in `/`. */
const sh = (script: string, extra: Partial<JobProcessCommand> = {}): JobProcessCommand => ({
  command: "/bin/sh",
  args: ["-c", script],
  cwd: "/",
  env: { PATH: "/usr/bin:/bin" },
  ...extra,
});

/** The socket file descriptors this process holds now. */
function socketFds(): Set<number> {
  const fds = new Set<number>();
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith("socket:")) fds.add(Number(name));
    } catch {
      // closed meanwhile (the directory's own descriptor among them)
    }
  }
  return fds;
}

/** A `sleep 30` standing for the namespace's first process (the test's `helpers` list kills it afterwards). */
async function sleeper(helpers: ChildProcess[]): Promise<number> {
  const other = spawn("sleep", ["30"], { stdio: "ignore" });
  helpers.push(other);
  await new Promise<void>((r, j) => other.once("spawn", r).once("error", j));
  return other.pid as number;
}

/**
 * Runs a job reporting `target` as its namespace's first process while kill(2) answers EPERM for that pid only (what
 * a non-root executor gets for another user's process; signal 0 and SIGKILL alike), restored afterwards.
 * @returns the job's rejection (undefined if it resolved) and the signals asked for `target`
 */
async function runWithKillRefused(target: number, drainTimeoutMs: number): Promise<{ err: unknown; asked: (string | number | undefined)[] }> {
  const realKill = process.kill;
  const asked: (string | number | undefined)[] = [];
  process.kill = ((pid: number, signal?: string | number) => {
    if (pid !== target) return realKill.call(process, pid, signal);
    asked.push(signal);
    throw Object.assign(new Error("kill EPERM"), { code: "EPERM", errno: -1, syscall: "kill" });
  }) as typeof process.kill;
  try {
    const err = await runJobProcess(sh(`echo '{"child-pid": ${target}}' >&3`, { sandboxInfoFd: 3 }), { drainTimeoutMs }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, asked };
  } finally {
    process.kill = realKill;
  }
}

describe("executor/job-process: edges (a namespace process of another user, a failing report pipe, no stderr option)", function () {
  // Each test takes well under a second: a hang (a wait that never ends) shows as this timeout.
  this.timeout(4_000);
  const helpers: ChildProcess[] = [];
  afterEach(() => {
    for (const h of helpers.splice(0)) h.kill("SIGKILL");
  });

  it("GIVEN sandboxInfoFd WHEN the reported process belongs to another user (signalling it is refused: EPERM) THEN it counts as alive: internal after the drain time, not a result", async () => {
    // The namespace's first process: in a room it runs as the job's user, and a non-root executor may not signal it.
    const target = await sleeper(helpers);
    const other = helpers[helpers.length - 1] as ChildProcess;
    const drainTimeoutMs = 300;
    const started = Date.now();
    const { err, asked } = await runWithKillRefused(target, drainTimeoutMs);
    expect(asked, "the executor asked whether the process is there").to.include(0);
    expect(err, "a process that is still there is not gone").to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("internal");
    expect((err as CleanRoomError).message).to.include(`within ${drainTimeoutMs} ms`);
    const waited = Date.now() - started;
    expect(waited, "waited for as long as it was given").to.be.at.least(drainTimeoutMs);
    expect(waited, "the drain time given, not the default").to.be.below(DRAIN_TIMEOUT_MS);
    expect(other.exitCode === null && other.signalCode === null, "the other user's process was out of reach").to.equal(true);
  });

  it("GIVEN sandboxInfoFd WHEN the reported process has exited but is not reaped (a zombie) THEN it counts as gone: a result at once, not internal after the drain time", async () => {
    // A zombie whose parent never reaps it, as the namespace's first process is when bubblewrap leaves it to a PID 1
    // that reaps late (or, in a container whose PID 1 is not an init, never): `sleep 0` exits, `sleep 30` is its parent.
    const parent = spawn("/bin/sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    helpers.push(parent);
    const zombie = await new Promise<number>((r, j) => {
      parent.stdout!.once("data", (c: Buffer) => r(Number(c.toString("utf8").trim())));
      parent.once("error", j);
    });
    const state = async () => {
      const stat = await readFile(`/proc/${zombie}/stat`, "latin1");
      return stat[stat.lastIndexOf(")") + 2];
    };
    for (let i = 0; i < 200 && (await state()) !== "Z"; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await state(), "the reported process is a zombie").to.equal("Z");
    const drainTimeoutMs = 2_000;
    const started = Date.now();
    const exit = await runJobProcess(sh(`echo '{"child-pid": ${zombie}}' >&3`, { sandboxInfoFd: 3 }), { drainTimeoutMs });
    expect(exit.code).to.equal(0);
    expect(Date.now() - started, "no drain wait for a process that has exited").to.be.below(drainTimeoutMs);
    expect(await state(), "still unreaped: the executor did not wait for its reaping").to.equal("Z");
  });

  it("GIVEN sandboxInfoFd WHEN the reported process is already gone (exited and reaped) THEN the job is finished at once", async () => {
    const gone = spawn("/bin/true", [], { stdio: "ignore" });
    const pid = gone.pid as number;
    await new Promise<void>((r) => gone.once("exit", () => r()));
    // Reaped by Node on exit: nothing is left under that pid (not even a zombie).
    await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(`/proc/${pid}`), "the process is reaped").to.equal(false);
    const drainTimeoutMs = 2_000;
    const started = Date.now();
    const exit = await runJobProcess(sh(`echo '{"child-pid": ${pid}}' >&3`, { sandboxInfoFd: 3 }), { drainTimeoutMs });
    expect(exit.code).to.equal(0);
    expect(Date.now() - started, "no drain wait for a process that is not there").to.be.below(drainTimeoutMs);
  });

  it("GIVEN sandboxInfoFd WHEN /proc cannot be read (no procfs) THEN a process that is still there is waited for: internal after the drain time", async () => {
    // Running, out of the executor's reach (EPERM, as above), and its /proc/<pid>/stat unreadable (ENOENT): without
    // procfs nothing says it has exited, so it must be treated as running, never as a zombie.
    const target = await sleeper(helpers);
    const fs = require("node:fs") as typeof import("node:fs");
    const realRead = fs.readFileSync;
    const read: string[] = [];
    fs.readFileSync = ((path: unknown, ...rest: unknown[]) => {
      if (path === `/proc/${target}/stat`) {
        read.push(path);
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT", errno: -2, syscall: "open", path });
      }
      return (realRead as (...a: unknown[]) => unknown)(path, ...rest);
    }) as typeof fs.readFileSync;
    const drainTimeoutMs = 300;
    let err: unknown;
    try {
      ({ err } = await runWithKillRefused(target, drainTimeoutMs));
    } finally {
      fs.readFileSync = realRead;
    }
    expect(read.length, "the executor looked for the process's state").to.be.above(0);
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("internal");
    expect((err as CleanRoomError).message).to.include(`within ${drainTimeoutMs} ms`);
  });

  it("GIVEN sandboxInfoFd WHEN the report pipe fails (ECONNRESET) before any report THEN the job is finished at once, not after the report waits", async function () {
    this.timeout(6_000);
    // Waits (1.5 s + 1.5 s) that a wait for a report from a failed pipe outlasts the bound below by far.
    const reportWaitMs = { onStop: 1_500, afterExit: 1_500 };
    const before = socketFds();
    const started = Date.now();
    const ended = runJobProcess(sh("sleep 0.2; exit 4", { sandboxInfoFd: 3 }), { reportWaitMs });
    // The job was spawned synchronously: its report pipe is the one socket this process gained (no stderr option).
    const gained = [...socketFds()].filter((fd) => !before.has(fd));
    expect(gained, "one new socket: the report pipe").to.have.length(1);
    // A byte into the job's end that the job never reads: when the job exits, closing its end with unread data, the
    // kernel fails the executor's read of the pipe with ECONNRESET (an 'error' on the stream, and no 'end').
    writeSync(gained[0]!, "x");
    const r = await ended;
    expect(r).to.deep.equal({ code: 4, timedOut: false });
    expect(Date.now() - started, "finished when the pipe failed").to.be.below(2_500);
  });

  it("GIVEN neither keepStderrTail nor onStderr WHEN the job runs THEN no rejection is left unhandled", async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", listener);
    try {
      expect(await runJobProcess(sh("exit 0"))).to.deep.equal({ code: 0, timedOut: false });
      // Past the turn in which Node reports unhandled rejections.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("unhandledRejection", listener);
    }
    expect(unhandled).to.deep.equal([]);
  });
});

/**
 * runJobProcess on real processes: in the local backend's real bubblewrap sandbox (the command the local platform
 * builds) and as a plain child process. A finished job is finished only when nothing it started is left: a process it
 * left behind could otherwise keep writing outputs after they were checked and hashed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { runJobProcess } from "../../src/runtime/executor/job-process.js";
import type { JobProcessCommand } from "../../src/runtime/platforms/platform.js";
import { LocalExecutorPlatform, ENV_LOCAL_RUNTIME } from "../../src/runtime/platforms/local/platform.js";
import { findBwrap } from "../../src/runtime/platforms/local/sandbox.js";
import { room } from "./fake-platform.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the time `t` (ms since the epoch). A test that checks that a process left behind did not write after it
 * was due to waits until 0.3 s past that moment, counted from the job's start: a finish that took longer (here
 * bubblewrap's namespace process is reaped by the machine's init, up to 2 s) has already waited part of it.
 */
const sleepUntil = (t: number) => sleep(Math.max(0, t - Date.now()));

/**
 * Whether `pid` is still running: it exists and is not a zombie. The processes these tests start are this process's
 * children, and Node reaps a killed one only a moment later, so right after the job is finished it may still be a
 * zombie (dead, unreaped), which is what the executor waits for.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

describe("executor/runJobProcess", function () {
  this.timeout(20_000);
  let work: string;
  let jobDir: string;
  let inputsDir: string;
  let outputDir: string;
  let sandboxed: LocalExecutorPlatform;
  const helpers: ChildProcess[] = [];

  before(async () => {
    // `npm test` installs bubblewrap first (scripts/setup.sh): without it these tests fail, they never skip.
    if (!findBwrap()) throw new Error("bubblewrap (bwrap) is not installed: run `bash scripts/setup.sh test` (it says how to install it)");
    // System directories only: as root the sandbox starts as `nobody`, who cannot reach a runtime under /root (in a
    // room the launcher's own sandbox binds it where the job's can see it).
    sandboxed = new LocalExecutorPlatform(room([]), "mem://room/q/job-1", { CLEANROOM_SANDBOX: "bubblewrap", [ENV_LOCAL_RUNTIME]: JSON.stringify({ bind: [], path: "/usr/bin:/bin" }) });
  });

  beforeEach(async () => {
    // As the executor lays it out: traversable work dir, read-only job and inputs, an output dir the job's user can write.
    work = await mkdtemp(join(tmpdir(), "job-process-"));
    await chmod(work, 0o711);
    jobDir = join(work, "job");
    inputsDir = join(work, "inputs");
    outputDir = join(work, "output");
    await mkdir(jobDir, { mode: 0o755 });
    await mkdir(inputsDir, { mode: 0o755 });
    await mkdir(outputDir);
    await chmod(outputDir, 0o777);
  });
  afterEach(async () => {
    for (const h of helpers.splice(0)) h.kill("SIGKILL");
    await rm(work, { recursive: true, force: true });
  });

  /** The sandboxed command for `sh -c <script>` (the job sees its output directory at $CLEANROOM_OUTPUT). */
  function inSandbox(script: string): JobProcessCommand {
    return sandboxed.jobCommand({ argv: ["sh", "-c", script], workDir: jobDir, inputsDir, outputDir, env: { HOME: "/tmp" } });
  }

  /** A plain child process running `sh -c <script>` in the job directory, with `env`. */
  function plain(script: string, extra: Partial<JobProcessCommand> = {}): JobProcessCommand {
    return { command: "/bin/sh", args: ["-c", script], cwd: jobDir, env: { PATH: "/usr/bin:/bin", OUT: outputDir }, ...extra };
  }

  describe("GIVEN the local bubblewrap sandbox", () => {
    it("WHEN the job exits 7 THEN code 7, not timed out, and the job wrote where it was told", async () => {
      const r = await runJobProcess(inSandbox('echo hi > "$CLEANROOM_OUTPUT/a"; exit 7'));
      expect(r).to.deep.equal({ code: 7, timedOut: false });
      expect(readFileSync(join(outputDir, "a"), "utf8")).to.equal("hi\n");
    });

    it("WHEN the job leaves a process behind in a session of its own THEN that process is gone once the job is finished", async () => {
      const started = Date.now();
      const r = await runJobProcess(inSandbox('setsid sh -c \'sleep 0.7; echo late > "$CLEANROOM_OUTPUT/late"\' & echo $! > "$CLEANROOM_OUTPUT/pid"; exit 0'));
      expect(r.code).to.equal(0);
      await sleepUntil(started + 1000);
      expect(existsSync(join(outputDir, "pid")), "the job ran").to.equal(true);
      expect(existsSync(join(outputDir, "late")), "the left-behind process kept writing").to.equal(false);
    });

    it("WHEN the job runs past its time limit THEN it is stopped at the limit, timedOut", async () => {
      const started = Date.now();
      const r = await runJobProcess(inSandbox('sleep 1; echo late > "$CLEANROOM_OUTPUT/late"; sleep 30'), { timeoutMs: 300 });
      expect(r.timedOut).to.equal(true);
      expect(r.code).to.not.equal(0);
      expect(Date.now() - started).to.be.below(5000);
      await sleepUntil(started + 1300);
      expect(existsSync(join(outputDir, "late"))).to.equal(false);
    });
  });

  describe("GIVEN a plain child process", () => {
    it("WHEN it runs THEN in its working directory, with exactly the command's environment", async () => {
      process.env.CLEANROOM_TEST_LEAK = "executor-secret";
      try {
        await runJobProcess(plain('pwd > "$OUT/pwd"; env > "$OUT/env"'));
      } finally {
        delete process.env.CLEANROOM_TEST_LEAK;
      }
      expect(readFileSync(join(outputDir, "pwd"), "utf8").trim()).to.equal(jobDir);
      const env = readFileSync(join(outputDir, "env"), "utf8");
      expect(env).to.include(`OUT=${outputDir}`);
      expect(env).not.to.include("executor-secret");
    });

    it("WHEN it is given a user and group THEN it runs as them", async () => {
      await runJobProcess(plain('id -u > "$OUT/uid"; id -g > "$OUT/gid"', { uid: 65534, gid: 65533 }));
      expect(readFileSync(join(outputDir, "uid"), "utf8").trim()).to.equal("65534");
      expect(readFileSync(join(outputDir, "gid"), "utf8").trim()).to.equal("65533");
    });

    it("WHEN it leaves a process behind in its process group THEN that process is killed when it exits", async () => {
      // It ignores SIGTERM: only SIGKILL stops it.
      const started = Date.now();
      const r = await runJobProcess(plain('(trap "" TERM; sleep 0.7; echo late > "$OUT/late") & exit 0'));
      expect(r).to.deep.equal({ code: 0, timedOut: false });
      await sleepUntil(started + 1000);
      expect(existsSync(join(outputDir, "late"))).to.equal(false);
    });

    it("WHEN it runs past its time limit THEN its whole group is stopped, timedOut", async () => {
      const started = Date.now();
      const r = await runJobProcess(plain('(trap "" TERM; sleep 1; echo late > "$OUT/late") & sleep 30'), { timeoutMs: 200 });
      expect(r.timedOut).to.equal(true);
      expect(r.code).to.equal(128);
      expect(Date.now() - started).to.be.below(5000);
      await sleepUntil(started + 1300);
      expect(existsSync(join(outputDir, "late"))).to.equal(false);
    });

    it("WHEN it is killed by a signal THEN code 128", async () => {
      expect(await runJobProcess(plain("kill -9 $$"))).to.deep.equal({ code: 128, timedOut: false });
    });

    it("WHEN it exits with a code THEN that code", async () => {
      expect(await runJobProcess(plain("exit 42"))).to.deep.equal({ code: 42, timedOut: false });
    });

    it("WHEN an onStderr is given THEN it receives the process's stderr", async () => {
      const chunks: Buffer[] = [];
      await runJobProcess(plain("echo 'no python3' >&2"), { onStderr: (c) => chunks.push(c) });
      expect(Buffer.concat(chunks).toString()).to.equal("no python3\n");
    });

    it("WHEN the command does not exist THEN job-failed", async () => {
      const err = await runJobProcess({ command: join(work, "missing"), args: [], cwd: jobDir, env: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("job-failed");
    });

    it("WHEN the command cannot even be spawned (invalid argument) THEN job-failed", async () => {
      const err = await runJobProcess({ command: "/bin/sh", args: ["-c", "exit 0"], cwd: jobDir, env: { BAD: "a\u0000b" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("job-failed");
    });
  });

  describe("GIVEN a command that reports its namespace's first process on fd 3 (as bwrap --info-fd 3 does)", () => {
    /** A process of ours standing for the namespace's first process; it ignores SIGTERM, as only SIGKILL is sure. */
    function firstProcess(): number {
      const h = spawn("sh", ["-c", 'trap "" TERM; sleep 30 & wait; sleep 30'], { stdio: "ignore" });
      helpers.push(h);
      return h.pid!;
    }

    it("WHEN it exits THEN that process is killed, and waited for, before the job counts as finished", async () => {
      const pid = firstProcess();
      const r = await runJobProcess(plain(`echo '{"child-pid": ${pid}}' >&3`, { sandboxInfoFd: 3 }));
      expect(r.code).to.equal(0);
      expect(alive(pid), "the namespace's first process is gone").to.equal(false);
    });

    it("WHEN the report arrives in pieces THEN it is still read", async () => {
      const pid = firstProcess();
      await runJobProcess(plain(`printf '{"child-' >&3; sleep 0.2; printf 'pid": ${pid}, "x": 1}' >&3`, { sandboxInfoFd: 3 }));
      expect(alive(pid)).to.equal(false);
    });

    it("WHEN it times out THEN that process is killed too", async () => {
      const pid = firstProcess();
      const r = await runJobProcess(plain(`echo '{"child-pid": ${pid}}' >&3; sleep 30`, { sandboxInfoFd: 3 }), { timeoutMs: 200 });
      expect(r.timedOut).to.equal(true);
      expect(alive(pid)).to.equal(false);
    });

    it("WHEN the report is not JSON, or names no pid THEN the job still finishes (nothing else is killed)", async () => {
      const pid = firstProcess();
      const started = Date.now();
      expect((await runJobProcess(plain("echo 'not json' >&3; exit 3", { sandboxInfoFd: 3 }))).code).to.equal(3);
      // As soon as fd 3 is closed: not after the waits that bound a report that never comes.
      expect(Date.now() - started).to.be.below(900);
      expect((await runJobProcess(plain(`echo '{"pid": ${pid}}' >&3`, { sandboxInfoFd: 3 }))).code).to.equal(0);
      expect(alive(pid), "a pid under another key is not the namespace's").to.equal(true);
      expect((await runJobProcess(plain(`echo '{"child-pid": "${pid}"}' >&3`, { sandboxInfoFd: 3 }))).code).to.equal(0);
      expect(alive(pid), "a pid given as a string is not taken").to.equal(true);
    });
  });
});

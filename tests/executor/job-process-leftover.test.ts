/**
 * runJobProcess against a process the job left behind in a session of its own (out of reach of the process-group
 * kill; in a room the sandbox's PID namespace takes it) that keeps the job's stderr or its fd 3 open. What is bounded:
 * the wait for the stderr a debug-logs room keeps (everything written before the pipe closes, at most 2 s after the
 * exit), the wait for a sandbox report that never comes (1 s + 2 s by default; the test gives shorter ones), and a job that exited before its time limit is
 * never reported as timed out whatever the drain took. A stderr no one reads never blocks the job.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { REPORT_WAIT_MS, runJobProcess } from "../../src/runtime/executor/job-process.js";
import type { JobProcessCommand } from "../../src/runtime/platforms/platform.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("executor/job-process: processes left behind holding the job's stderr or fd 3", function () {
  this.timeout(30_000);
  let out: string;

  beforeEach(async () => {
    out = await mkdtemp(join(tmpdir(), "job-leftover-"));
  });
  afterEach(async () => {
    // The left-behind process wrote its pid.
    try {
      process.kill(Number(readFileSync(join(out, "left"), "utf8").trim()), "SIGKILL");
    } catch {
      // gone already, or never started
    }
    await rm(out, { recursive: true, force: true });
  });

  /**
   * A shell command that starts, in the background, a process that moves to a session of its own, sleeps `seconds`
   * and then runs `then` (shell). The command returns once the move is done (the process wrote its pid to $OUT/left):
   * a job exiting earlier would have it killed with its process group.
   */
  function leftBehind(seconds: number, then = "true"): string {
    const py = `import os, sys, time; os.setsid(); open(os.environ["OUT"] + "/left", "w").write(str(os.getpid())); time.sleep(${seconds}); os.execv("/bin/sh", ["sh", "-c", sys.argv[1]])`;
    return `python3 -c '${py}' '${then}' & while [ ! -s "$OUT/left" ]; do sleep 0.01; done`;
  }

  /** `sh -c <script>` with $OUT set to this test's scratch directory. */
  function sh(script: string, extra: Partial<JobProcessCommand> = {}): JobProcessCommand {
    return { command: "/bin/sh", args: ["-c", script], cwd: "/", env: { PATH: "/usr/bin:/bin", OUT: out }, ...extra };
  }

  it("GIVEN keepStderrTail WHEN a process left behind writes to stderr shortly after the job exited THEN that is kept too, and the job is finished once the pipe closes (not after the 2 s bound)", async () => {
    // Timed from the job's exit (it writes the time), not from its start: python3's start under load is no part of it.
    const ended = await runJobProcess(sh(`echo early >&2; ${leftBehind(0.2, "echo late >&2")}; date +%s%3N > "$OUT/exited"; exit 1`), { keepStderrTail: 1024 });
    const sinceExit = Date.now() - Number(readFileSync(join(out, "exited"), "utf8"));
    expect(ended.code).to.equal(1);
    expect(ended.stderrTail?.bytes.toString("utf8")).to.equal("early\nlate\n");
    expect(sinceExit, "waited for the pipe, not for the bound").to.be.below(1800);
  });

  it("GIVEN keepStderrTail and a time limit WHEN a process left behind holds stderr open THEN the job is finished 2 s after its exit with what was written, not timed out", async () => {
    // A limit the job's exit comes well before (python3 starting under load included), and its drain (2 s) outlasts.
    const ended = await runJobProcess(sh(`echo 'before exit' >&2; ${leftBehind(20)}; date +%s%3N > "$OUT/exited"; exit 0`), { keepStderrTail: 1024, timeoutMs: 1500 });
    const sinceExit = Date.now() - Number(readFileSync(join(out, "exited"), "utf8"));
    expect(ended.code).to.equal(0);
    expect(ended.timedOut, "it exited before its limit").to.equal(false);
    expect(ended.stderrTail?.bytes.toString("utf8")).to.equal("before exit\n");
    expect(sinceExit).to.be.at.least(1900);
    expect(sinceExit).to.be.below(10_000);
  });

  it("GIVEN no stderr option WHEN the job writes a megabyte to stderr THEN it is not blocked on a pipe no one reads", async () => {
    const ended = await runJobProcess(sh("head -c 1048576 /dev/zero >&2; exit 5"), { timeoutMs: 8000 });
    expect(ended).to.deep.equal({ code: 5, timedOut: false });
  });

  it("GIVEN an onStderr (the executor's own probe) WHEN a process left behind writes to stderr after the command exited THEN onStderr still receives it", async () => {
    const chunks: Buffer[] = [];
    await runJobProcess(sh(`echo early >&2; ${leftBehind(0.2, "echo late >&2")}; exit 0`), { onStderr: (c) => chunks.push(c) });
    for (let i = 0; i < 50 && !Buffer.concat(chunks).toString("utf8").includes("late"); i++) await sleep(100);
    expect(Buffer.concat(chunks).toString("utf8")).to.equal("early\nlate\n");
  });

  it("GIVEN sandboxInfoFd WHEN a process left behind holds fd 3 open and no report ever comes THEN the job is finished after the bounded waits (1 s + 2 s), not when fd 3 closes", async () => {
    // Waits of 0.3 s + 0.6 s, not the default 1 s + 2 s (REPORT_WAIT_MS): the same path, bounded by what it is given.
    const reportWaitMs = { onStop: 300, afterExit: 600 };
    const ended = await runJobProcess(sh(`${leftBehind(20)}; date +%s%3N > "$OUT/exited"; exit 0`, { sandboxInfoFd: 3 }), { reportWaitMs });
    const sinceExit = Date.now() - Number(readFileSync(join(out, "exited"), "utf8"));
    expect(ended.code).to.equal(0);
    expect(sinceExit).to.be.at.least(reportWaitMs.onStop + reportWaitMs.afterExit - 100);
    expect(sinceExit, "the waits given, not the defaults").to.be.below(REPORT_WAIT_MS.onStop + REPORT_WAIT_MS.afterExit);
    expect(sinceExit).to.be.below(12_000);
  });
});

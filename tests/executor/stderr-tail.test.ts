/**
 * `runJobProcess` with `keepStderrTail` (a debug-logs room, `cleanroom local up --debug-logs`): the last bytes of what
 * a job wrote to stderr, in bounded memory, also when the job is stopped at its time limit; nothing without the option.
 */
import { expect } from "chai";
import { runJobProcess } from "../../src/runtime/executor/job-process.js";

const sh = (script: string) => ({ command: "/bin/sh", args: ["-c", script], cwd: "/", env: { PATH: "/usr/bin:/bin" } });

describe("executor/job-process: the stderr tail of a debug-logs room", function () {
  this.timeout(30_000);

  it("GIVEN keepStderrTail WHEN the job writes a little and fails THEN all of it is kept, not truncated", async () => {
    const ended = await runJobProcess(sh("echo visible on stdout; echo 'Traceback: boom' >&2; exit 3"), { keepStderrTail: 1024 });
    expect(ended.code).to.equal(3);
    expect(ended.stderrTail?.bytes.toString("utf8")).to.equal("Traceback: boom\n");
    expect(ended.stderrTail?.truncated).to.equal(false);
  });

  it("GIVEN keepStderrTail of 100 bytes WHEN the job writes 10,000 THEN exactly the last 100 are kept and truncated is true", async () => {
    // 1000 lines of "line-NNNN\n" (10 bytes each): the last 100 bytes are lines 0990..0999.
    const ended = await runJobProcess(sh("i=0; while [ $i -lt 1000 ]; do printf 'line-%04d\\n' $i >&2; i=$((i+1)); done; exit 1"), { keepStderrTail: 100 });
    const kept = ended.stderrTail?.bytes.toString("utf8") ?? "";
    expect(kept).to.have.length(100);
    expect(kept.startsWith("line-0990\n")).to.equal(true);
    expect(kept.endsWith("line-0999\n")).to.equal(true);
    expect(ended.stderrTail?.truncated).to.equal(true);
  });

  it("GIVEN keepStderrTail WHEN the job is stopped at its time limit THEN what it wrote before is kept", async () => {
    const ended = await runJobProcess(sh("echo 'stuck in a loop' >&2; sleep 30"), { timeoutMs: 500, keepStderrTail: 1024 });
    expect(ended.timedOut).to.equal(true);
    expect(ended.stderrTail?.bytes.toString("utf8")).to.equal("stuck in a loop\n");
  });

  it("GIVEN no keepStderrTail THEN nothing of the job's stderr is returned", async () => {
    const ended = await runJobProcess(sh("echo 'Traceback: boom' >&2; exit 1"));
    expect(ended.code).to.equal(1);
    expect(ended).not.to.have.property("stderrTail");
  });
});

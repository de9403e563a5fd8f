/**
 * runExecutor in a debug-logs room (`cleanroom local up --debug-logs`), in this process: the tail of a FAILED job's
 * stderr is kept as `stderr.txt` beside its receipt, which names its size and digest and says `debugLogs: true`.
 * Nowhere else does a job's stderr leave the room: not from a succeeded job, not from a room without the flag, and not
 * on any backend but the local one (a GCP descriptor carrying the flag keeps nothing). A job's stderr can carry raw
 * rows, so each of those boundaries is a test.
 */
import { createHash } from "node:crypto";
import { expect } from "chai";
import { type CleanRoomDescriptor, DEBUG_STDERR_MAX_BYTES } from "../../src/core/descriptor.js";
import { type Receipt, receiptProblems } from "../../src/core/receipt.js";
import { runExecutor } from "../../src/runtime/executor/run.js";
import { FakePlatform, provision, room, stageJob } from "./fake-platform.js";

const OUTPUT_URI = "mem://room/q/job-1";
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** A job that writes `text` to stderr (and a file to its outputs), then exits with `code`. */
function job(text: string, code: number): string {
  return `import os, sys\nopen(os.path.join(os.environ["CLEANROOM_OUTPUT"], "out.txt"), "w").write("x")\nsys.stderr.write(${JSON.stringify(text)})\nsys.stderr.flush()\nraise SystemExit(${code})\n`;
}

/** Runs `main.py` in a room (`debugLogs` as given) on a platform named `platformName`; returns the committed result. */
async function run(main: string, debugLogs: boolean, platformName = "local", overrides: Partial<CleanRoomDescriptor> = {}): Promise<{ receipt: Receipt; files: Map<string, Buffer> }> {
  const platform = new FakePlatform(OUTPUT_URI, platformName);
  const staged = await stageJob(platform, room([]), { "main.py": main });
  const d = room([staged.env.jobDigest], { ...(debugLogs ? { debugLogs: true } : {}), ...overrides } as Partial<CleanRoomDescriptor>);
  await provision(platform, d, "acme", "claims", "id,amount\n1,10\n");
  const outcome = await runExecutor(platform, d, staged.env);
  expect(outcome.committed).to.equal(true);
  const files = platform.committed().files;
  const receipt = JSON.parse(files.get("receipt.json")!.toString("utf8")) as Receipt;
  expect(outcome.receipt).to.deep.equal(receipt);
  return { receipt, files };
}

describe("executor/runExecutor: a debug-logs room keeps a failed job's stderr, and nothing else does", function () {
  this.timeout(20_000);

  it("GIVEN a local debug-logs room WHEN the job fails after writing to stderr THEN stderr.txt holds exactly those bytes, and the receipt names them and says debugLogs", async () => {
    const { receipt, files } = await run(job("Traceback: boom at row 7\n", 3), true);
    expect(receipt.status).to.equal("failed");
    expect(receipt.errorCode).to.equal("job-failed");
    expect(receipt.error).to.include("stderr.txt");
    expect(receipt.debugLogs).to.equal(true);
    expect(files.get("stderr.txt")?.toString("utf8")).to.equal("Traceback: boom at row 7\n");
    expect(receipt.stderr).to.deep.equal({ bytes: 25, sha256: sha("Traceback: boom at row 7\n"), truncated: false });
    expect([...files.keys()].sort()).to.deep.equal(["attestation.jwt", "receipt.json", "stderr.txt"]);
    expect(receiptProblems(receipt)).to.deep.equal([]);
  });

  it("GIVEN a local debug-logs room WHEN the failed job wrote more than the kept size THEN only the last DEBUG_STDERR_MAX_BYTES are kept, marked truncated", async () => {
    const main = `import sys\nsys.stderr.write("a" * 1000 + "b" * ${DEBUG_STDERR_MAX_BYTES})\nsys.stderr.flush()\nraise SystemExit(1)\n`;
    const { receipt, files } = await run(main, true);
    const kept = files.get("stderr.txt")!;
    expect(kept.equals(Buffer.alloc(DEBUG_STDERR_MAX_BYTES, "b"))).to.equal(true);
    expect(receipt.stderr).to.deep.equal({ bytes: DEBUG_STDERR_MAX_BYTES, sha256: sha(kept), truncated: true });
  });

  it("GIVEN a local debug-logs room WHEN the job fails without writing to stderr THEN no stderr.txt and no receipt.stderr, but debugLogs", async () => {
    const { receipt, files } = await run(job("", 2), true);
    expect(receipt.status).to.equal("failed");
    expect(receipt.debugLogs).to.equal(true);
    expect(receipt).not.to.have.property("stderr");
    expect(files.has("stderr.txt")).to.equal(false);
  });

  it("GIVEN a local debug-logs room WHEN the job succeeds after writing to stderr THEN its stderr is not kept", async () => {
    const { receipt, files } = await run(job("row 7: secret\n", 0), true);
    expect(receipt.status, receipt.error).to.equal("succeeded");
    expect(receipt.debugLogs).to.equal(true);
    expect(receipt).not.to.have.property("stderr");
    expect(files.has("stderr.txt")).to.equal(false);
  });

  it("GIVEN a local room without debug logs WHEN the job fails after writing to stderr THEN nothing of it is kept, and the receipt has no debugLogs", async () => {
    const { receipt, files } = await run(job("row 7: secret\n", 3), false);
    expect(receipt.status).to.equal("failed");
    expect(receipt.error).to.include("its output is not kept");
    expect(receipt).not.to.have.property("debugLogs");
    expect(receipt).not.to.have.property("stderr");
    expect([...files.keys()].sort()).to.deep.equal(["attestation.jwt", "receipt.json"]);
  });

  it("GIVEN a descriptor with debugLogs on a backend other than the local one WHEN the job fails after writing to stderr THEN nothing of it is kept, and the receipt has no debugLogs", async () => {
    const { receipt, files } = await run(job("row 7: secret\n", 3), true, "gcp");
    expect(receipt.status).to.equal("failed");
    expect(receipt.error).to.include("its output is not kept");
    expect(receipt).not.to.have.property("debugLogs");
    expect(receipt).not.to.have.property("stderr");
    expect([...files.keys()].sort()).to.deep.equal(["attestation.jwt", "receipt.json"]);
  });
});

/**
 * The executor's output policy on a real directory: limits that keep every receipt readable by verifiers, names
 * that can neither be mis-recorded nor repeated in an error, and a manifest of only what was checked while a process
 * the job left behind keeps writing (issue 18, findings 3, 6 and 7).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { sha256Hex } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { type Receipt, parseReceipt } from "../../src/core/receipt.js";
import { MAX_OUTPUT_ENTRIES, MAX_OUTPUT_PATHS_BYTES, MAX_OUTPUT_PATH_BYTES, checkOutputs } from "../../src/runtime/executor/output-policy.js";
import { MAX_RECEIPT_BYTES } from "../../src/runtime/verify/result.js";

describe("executor/output-policy", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "output-policy-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN the most and longest outputs the policy allows THEN their receipt is still one a verifier reads", () => {
    // Worst case: every name as long as allowed, made of `"`, which JSON doubles.
    const perPath = Math.min(MAX_OUTPUT_PATH_BYTES, Math.floor(MAX_OUTPUT_PATHS_BYTES / MAX_OUTPUT_ENTRIES));
    const outputs = Array.from({ length: MAX_OUTPUT_ENTRIES }, (_, i) => ({ path: `${i}`.padEnd(perPath, '"'), bytes: Number.MAX_SAFE_INTEGER, sha256: sha256Hex(`${i}`) }));
    const receipt: Receipt = {
      version: 1,
      room: "r".repeat(63),
      jobId: "job-x",
      jobDigest: `sha256:${"1".repeat(64)}`,
      executorImageDigest: `sha256:${"2".repeat(64)}`,
      policyDigest: `sha256:${"3".repeat(64)}`,
      platform: "local",
      sandbox: "bubblewrap",
      inputs: [],
      outputs,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:00.000Z",
      status: "succeeded",
      exitCode: 0,
    };
    const text = `${JSON.stringify(parseReceipt(receipt), null, 2)}\n`;
    expect(Buffer.byteLength(text)).to.be.below(MAX_RECEIPT_BYTES);
  });

  it("GIVEN an output whose name is not valid UTF-8 THEN output-policy, and the message does not repeat it", async () => {
    await writeFile(Buffer.from(`${dir}/secret-\xff-row`, "latin1"), "x");
    try {
      await checkOutputs(dir, 1000);
      expect.fail("should refuse");
    } catch (err) {
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("output-policy");
      expect((err as Error).message).to.match(/not valid UTF-8/).and.not.match(/secret/);
    }
  });

  it("GIVEN a process that keeps adding output files while they are checked THEN output-policy: no manifest lists a file the checks did not see", async () => {
    // A real process outside the checker (as a job's leftover daemon on GCP): it adds a file every millisecond until it
    // is killed, so it is still adding when the check runs however late a loaded machine schedules it (and stays far
    // below the entry cap, whose error would be another one).
    const adder = spawn(
      process.execPath,
      ["-e", `const fs = require("fs"); const tick = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < 9000; i++) { fs.writeFileSync(process.argv[1] + "/f" + i, "x"); Atomics.wait(tick, 0, 0, 1); }`, dir],
      { stdio: "ignore" },
    );
    try {
      while ((await readdir(dir)).length < 200) await new Promise((r) => setTimeout(r, 5));
      const err = await checkOutputs(dir, 1_000_000).then(
        (m) => expect.fail(`accepted ${m.length} outputs while they changed`),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("output-policy");
      expect((err as Error).message).to.match(/changed after the output policy checked them/);
    } finally {
      adder.kill("SIGKILL");
    }
  });
});

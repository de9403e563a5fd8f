/**
 * `cleanroom local up --debug-logs` (issue 19, last bullet): a newcomer's room that keeps a failed job's stderr (its last
 * 64 KiB) as `stderr.txt` beside the failure receipt. Two real local rooms (bubblewrap, broker, launcher), one with the
 * flag and one without, run the same Python job that raises: only the first lets the traceback out, every receipt of
 * it says `debugLogs: true`, and the kept stderr verifies against the attested receipt.
 */
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, DEBUG_STDERR_MAX_BYTES, loadDescriptor } from "../../src/core/descriptor.js";
import { sha256Hex } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { RESULT_FILES, type Receipt, parseReceipt } from "../../src/core/receipt.js";
import { verificationReport } from "../../src/runtime/console/checks.js";
import { startConsole } from "../../src/runtime/console/server.js";
import { reportSection } from "../../src/runtime/console/views/report.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { cliInProcess } from "../cli-harness.js";
import { raw, signIn } from "../console/http.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

/** What the failing job raises: it must reach the debug room's submitter and nobody else. */
const MARKER = "row-42-secret-value-7f3a";

/** Every file under a directory, read as text (what a submitter holds after `job fetch`). */
function allText(dir: string): string {
  let text = "";
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (statSync(p).isFile()) text += readFileSync(p, "utf8");
  }
  return text;
}

function receiptOf(dir: string): Receipt {
  return parseReceipt(readFileSync(join(dir, RESULT_FILES.receipt), "utf8"));
}

async function verifyError(dir: string, descriptor: CleanRoomDescriptor): Promise<CleanRoomError> {
  try {
    await verifyResult(dir, { descriptor });
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  throw new Error("verifyResult should have failed");
}

describe("local: --debug-logs in the CLI's help", () => {
  for (const [args, says] of [
    [["local", "up", "--help"], "--debug-logs"],
    [["job", "fetch", "--help"], "<out>/stderr.txt"],
    [["verify", "--help"], "<resultDir>/stderr.txt"],
  ] as const) {
    it(`GIVEN \`cleanroom ${args.join(" ")}\` THEN it says where a failed job's stderr is kept (${says})`, async () => {
      const r = await cliInProcess(args);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.contain(says).and.to.contain("debug-logs");
    });
  }
});

describe("local: --debug-logs keeps a failed job's stderr (issue 19)", function () {
  this.timeout(300_000);
  let work: string;
  let debugDir: string;
  let plainDir: string;
  let debugRoom: string;
  let plainRoom: string;
  let debug: CleanRoomDescriptor;
  let plain: CleanRoomDescriptor;
  let debugClient: RoomClient;
  let plainClient: RoomClient;
  let upOutput: { code: number; stdout: string; stderr: string };
  let boom: PackedJob;
  let noisy: PackedJob;
  let fine: PackedJob;
  let unapproved: PackedJob;
  let stuck: PackedJob;
  let n = 0;
  const out = () => join(work, `out-${++n}`);

  before(async () => {
    work = await tempDir("debug-logs");
    const pack = async (name: string, source: string) =>
      packJob(await pythonJob(work, name, source), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed", name) });
    boom = await pack("boom", `${PRELUDE}def explode(row):\n    raise ValueError("bad row: " + row)\n\nexplode("${MARKER}")\n`);
    // 100 KiB of noise first: only the last 64 KiB (with the traceback) is kept.
    noisy = await pack("noisy", `${PRELUDE}import sys\nfor i in range(1600):\n    sys.stderr.write(("noise-%05d " % i).ljust(63, ".") + "\\n")\nraise RuntimeError("after the noise")\n`);
    fine = await pack("fine", `${PRELUDE}import sys\nsys.stderr.write("a warning the job wrote\\n")\nopen(os.path.join(OUT, "ok.txt"), "w").write("ok")\njson.dump({"version": 1, "outputs": [{"path": "ok.txt", "kind": "text"}]}, open(os.path.join(OUT, "outputs.json"), "w"))\n`);
    unapproved = await pack("unapproved", `${PRELUDE}print("never runs")\n`);
    stuck = await pack("stuck", `${PRELUDE}import sys, time\nsys.stderr.write("still thinking about row 17\\n")\nsys.stderr.flush()\ntime.sleep(120)\n`);
    const spec = { providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: [boom.jobDigest, noisy.jobDigest, fine.jobDigest] }] };
    writeFileSync(join(work, "spec.json"), JSON.stringify(spec));
    writeFileSync(join(work, "claims.csv"), "age,sex\n34,F\n51,M\n");

    debugDir = join(work, "debug-room");
    upOutput = await cliInProcess(["local", "up", "--spec", join(work, "spec.json"), "--dir", debugDir, "--debug-logs"]);
    expect(upOutput.code, upOutput.stderr).to.equal(0);
    debugRoom = join(debugDir, "descriptor.json");
    debug = loadDescriptor(debugRoom);
    debugClient = await roomClientFor(debug);
    await debugClient.provision("insurer", "claims", join(work, "claims.csv"));

    plainDir = join(work, "plain-room");
    plainRoom = (await localUp({ spec, dir: plainDir })).descriptorPath;
    plain = loadDescriptor(plainRoom);
    plainClient = await roomClientFor(plain);
    await plainClient.provision("insurer", "claims", join(work, "claims.csv"));
  });

  after(async () => {
    for (const d of [debugDir, plainDir]) if (d) await localDown(d, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN `local up --debug-logs` THEN a loud warning, debugLogs: true in descriptor.json (read back as written), and `local status` says so", async () => {
    expect(upOutput.stderr).to.contain("WARNING: --debug-logs").and.to.contain("ONLY with throwaway data");
    expect((JSON.parse(readFileSync(debugRoom, "utf8")) as { debugLogs?: unknown }).debugLogs).to.equal(true);
    expect(debug.debugLogs).to.equal(true);
    expect(loadDescriptor(JSON.parse(JSON.stringify(debug)))).to.deep.equal(debug);
    const status = await cliInProcess(["local", "status", "--dir", debugDir]);
    expect(status.stdout).to.contain("Debug logs: ON");
    expect((JSON.parse(readFileSync(plainRoom, "utf8")) as Record<string, unknown>).debugLogs, "absent in a room without the flag").to.equal(undefined);
    expect((await cliInProcess(["local", "status", "--dir", plainDir])).stdout).not.to.contain("Debug logs");
  });

  it("GIVEN a room running without the flag WHEN `local up --debug-logs` on it THEN refused (already-exists), not silently reused", async () => {
    const r = await cliInProcess(["local", "up", "--spec", join(work, "spec.json"), "--dir", plainDir, "--debug-logs"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [already-exists]").and.to.contain("different spec or options");
    expect((JSON.parse(readFileSync(plainRoom, "utf8")) as Record<string, unknown>).debugLogs).to.equal(undefined);
  });

  it("GIVEN a debug-logs room WHEN a Python job raises THEN `job status` points to stderr.txt, the fetched result holds the traceback, and it verifies with a warning", async () => {
    const submitted = await cliInProcess(["job", "submit", join(work, "packed", "boom"), "--room", debugRoom, "--wait", "--timeout", "120"]);
    expect(submitted.code, submitted.stderr).to.equal(1);
    const jobId = /^(job-\S+): failed/m.exec(submitted.stdout)?.[1];
    expect(jobId, submitted.stdout).to.be.a("string");
    expect(submitted.stdout).to.contain("Its stderr was kept (debug-logs room)").and.to.contain("stderr.txt");

    const status = await cliInProcess(["job", "status", jobId!, "--room", debugRoom, "--json"]);
    expect(JSON.parse(status.stdout)).to.include({ state: "failed", errorCode: "job-failed", stderrFile: "stderr.txt" });
    const human = await cliInProcess(["job", "status", jobId!, "--room", debugRoom]);
    expect(human.stdout).to.contain(`\`cleanroom job fetch ${jobId} --room ${debugRoom} --out <dir>\`, then read <dir>/stderr.txt`);

    const dir = out();
    const fetched = await cliInProcess(["job", "fetch", jobId!, "--room", debugRoom, "--out", dir]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    expect(fetched.stdout).to.contain(`The failed job's stderr (debug-logs room): ${join(dir, "stderr.txt")}`);
    const stderr = readFileSync(join(dir, "stderr.txt"));
    expect(stderr.toString("utf8")).to.contain("Traceback (most recent call last)").and.to.contain("in explode").and.to.contain(`ValueError: bad row: ${MARKER}`);

    const receipt = receiptOf(dir);
    expect(receipt.debugLogs).to.equal(true);
    expect(receipt.stderr).to.deep.equal({ bytes: stderr.length, sha256: sha256Hex(stderr), truncated: false });
    expect(receipt.error).to.contain("stderr.txt");

    const summary = await verifyResult(dir, { descriptor: debugRoom });
    expect(summary).to.include({ status: "failed", debugLogs: true });
    expect(summary.stderr).to.deep.equal({ file: "stderr.txt", bytes: stderr.length, truncated: false });
    const cli = await cliInProcess(["verify", dir, "--room", debugRoom]);
    expect(cli.code, cli.stderr).to.equal(0);
    expect(cli.stdout).to.contain("VERIFIED FAILURE").and.to.contain("WARNING:         debug-logs room").and.to.contain("Job stderr:      stderr.txt");
    // The console's report of the same result says it too.
    const report = reportSection(await verificationReport(dir, debug), debug).toString();
    expect(report).to.contain("DEBUG LOGS (local up --debug-logs)");
    // And the console's page of the job says where its stderr is, as `job status` does.
    const web = await startConsole({ room: debugRoom, stateDir: out() });
    try {
      const session = await signIn(web);
      const jobPage = await raw({ port: web.port! }, "GET", `/jobs/${jobId}`, { host: session.host, cookie: session.cookie });
      expect(jobPage.status).to.equal(200);
      expect(jobPage.body).to.match(/id="job-stderr">Kept by this debug-logs room/).and.to.contain(`cleanroom job fetch ${jobId} --room`).and.to.contain("stderr.txt");
    } finally {
      await web.close();
    }
  });

  it("GIVEN a kept stderr.txt that was edited, removed, or a receipt whose debugLogs was dropped THEN verification fails", async () => {
    const { jobId } = await debugClient.submit(boom);
    await debugClient.wait(jobId, { timeoutMs: 120_000 });
    const edited = out();
    await debugClient.fetch(jobId, edited);
    writeFileSync(join(edited, "stderr.txt"), "Traceback: something harmless\n");
    expect((await verifyError(edited, debug)).code).to.equal("digest-mismatch");

    const removed = out();
    await debugClient.fetch(jobId, removed);
    rmSync(join(removed, "stderr.txt"));
    expect((await verifyError(removed, debug)).code).to.equal("digest-mismatch");

    const dropped = out();
    await debugClient.fetch(jobId, dropped);
    const r = JSON.parse(readFileSync(join(dropped, RESULT_FILES.receipt), "utf8")) as Record<string, unknown>;
    delete r.debugLogs;
    delete r.stderr;
    rmSync(join(dropped, "stderr.txt"));
    writeFileSync(join(dropped, RESULT_FILES.receipt), JSON.stringify(r));
    // The token's nonce is the digest of the receipt as the executor wrote it, debugLogs and stderr included.
    expect((await verifyError(dropped, debug)).code).to.equal("nonce");
    const { debugLogs: _, ...withoutFlag } = debug;
    expect((await verifyError(dropped, withoutFlag)).code).to.equal("nonce");

    // The intact result, checked with the descriptor of a room without the flag: the receipt says the room had it.
    const intact = out();
    await debugClient.fetch(jobId, intact);
    const e = await verifyError(intact, withoutFlag);
    expect(e.code).to.equal("policy");
    expect(e.message).to.contain("receipt.debugLogs");
  });

  it("GIVEN a failing job that wrote 100 KiB to stderr THEN only its last 64 KiB is kept (ending with the traceback) and the receipt says truncated", async () => {
    const { jobId } = await debugClient.submit(noisy);
    expect((await debugClient.wait(jobId, { timeoutMs: 120_000 })).state).to.equal("failed");
    const dir = out();
    await debugClient.fetch(jobId, dir);
    const stderr = readFileSync(join(dir, "stderr.txt"), "utf8");
    expect(Buffer.byteLength(stderr)).to.equal(DEBUG_STDERR_MAX_BYTES);
    expect(stderr).not.to.contain("noise-00000");
    expect(stderr.trimEnd()).to.match(/RuntimeError: after the noise$/);
    expect(receiptOf(dir).stderr?.truncated).to.equal(true);
    expect((await verifyResult(dir, { descriptor: debug })).stderr?.truncated).to.equal(true);
  });

  it("GIVEN a debug-logs room with a 4 s job limit WHEN a job is stopped at the limit THEN failed [timeout], with what it wrote to stderr kept", async () => {
    const spec = { providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: [stuck.jobDigest] }] };
    const dir = join(work, "timeout-room");
    const room = loadDescriptor((await localUp({ spec, dir, debugLogs: true, jobTimeoutSeconds: 4 })).descriptorPath);
    try {
      const client = await roomClientFor(room);
      await client.provision("insurer", "claims", join(work, "claims.csv"));
      const { jobId } = await client.submit(stuck);
      const done = await client.wait(jobId, { timeoutMs: 120_000 });
      expect(done.errorCode, done.detail).to.equal("timeout");
      expect(done.stderrFile).to.equal("stderr.txt");
      const result = out();
      await client.fetch(jobId, result);
      expect(readFileSync(join(result, "stderr.txt"), "utf8")).to.equal("still thinking about row 17\n");
      expect((await verifyResult(result, { descriptor: room })).stderr).to.deep.equal({ file: "stderr.txt", bytes: 28, truncated: false });
    } finally {
      await localDown(dir, { force: true }).catch(() => undefined);
    }
  });

  it("GIVEN a debug-logs room WHEN a job succeeds (having written to stderr) THEN no stderr.txt, but its receipt still says debugLogs", async () => {
    const { jobId } = await debugClient.submit(fine);
    expect((await debugClient.wait(jobId, { timeoutMs: 120_000 })).state).to.equal("succeeded");
    const dir = out();
    await debugClient.fetch(jobId, dir);
    expect(readdirSync(dir).sort()).to.deep.equal(["attestation.jwt", "outputs", "outputs.check.json", "receipt.json"]);
    const receipt = receiptOf(dir);
    expect(receipt.debugLogs).to.equal(true);
    expect(receipt.stderr).to.equal(undefined);
    expect((await verifyResult(dir, { descriptor: debug })).debugLogs).to.equal(true);
  });

  it("GIVEN a debug-logs room WHEN the launcher refuses a job (not approved) THEN its failure receipt says debugLogs too", async () => {
    const { jobId } = await debugClient.submit(unapproved);
    expect((await debugClient.wait(jobId, { timeoutMs: 60_000 })).errorCode).to.equal("denied");
    const dir = out();
    await debugClient.fetch(jobId, dir);
    expect(receiptOf(dir).debugLogs).to.equal(true);
    expect((await verifyResult(dir, { descriptor: debug })).debugLogs).to.equal(true);
  });

  it("GIVEN a room without the flag WHEN the same job raises THEN no stderr.txt and no trace of the traceback in anything its submitter gets", async () => {
    const submitted = await cliInProcess(["job", "submit", join(work, "packed", "boom"), "--room", plainRoom, "--wait", "--timeout", "120"]);
    expect(submitted.code).to.equal(1);
    const jobId = /^(job-\S+): failed/m.exec(submitted.stdout)?.[1];
    expect(jobId, submitted.stdout).to.be.a("string");
    const status = await cliInProcess(["job", "status", jobId!, "--room", plainRoom, "--json"]);
    const dir = out();
    const fetched = await cliInProcess(["job", "fetch", jobId!, "--room", plainRoom, "--out", dir]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    expect(readdirSync(dir).sort()).to.deep.equal(["attestation.jwt", "receipt.json"]);
    const verified = await cliInProcess(["verify", dir, "--room", plainRoom]);
    expect(verified.code, verified.stderr).to.equal(0);
    const everything = [submitted, status, fetched, verified].map((r) => r.stdout + r.stderr).join("\n") + allText(dir);
    for (const leak of [MARKER, "Traceback", "ValueError", "stderr.txt"]) expect(everything, leak).not.to.contain(leak);
    expect(JSON.parse(status.stdout)).not.to.have.property("stderrFile");
    const receipt = JSON.parse(readFileSync(join(dir, RESULT_FILES.receipt), "utf8")) as Record<string, unknown>;
    expect(receipt).not.to.have.property("debugLogs");
    expect(receipt).not.to.have.property("stderr");
    expect(verified.stdout).not.to.contain("WARNING");
    expect(reportSection(await verificationReport(dir, plain), plain).toString()).not.to.contain("DEBUG LOGS");
  });

  it("GIVEN a stderr.txt planted in a result of a room without the flag THEN verification refuses it (the receipt lists none)", async () => {
    const { jobId } = await plainClient.submit(boom);
    await plainClient.wait(jobId, { timeoutMs: 120_000 });
    const dir = out();
    await plainClient.fetch(jobId, dir);
    writeFileSync(join(dir, "stderr.txt"), `Traceback (most recent call last):\n  forged\n`);
    const e = await verifyError(dir, plain);
    expect(e.code).to.equal("digest-mismatch");
    expect(e.message).to.contain("stderr.txt is in the result but its receipt lists no kept stderr");
  });
});

/**
 * Integration tests of the local clean room: real processes, real unix sockets, real bubblewrap.
 * One room serves the whole file (starting a room costs a few seconds); each test submits its own jobs.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { kill } from "node:process";
import { copyFile, cp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
// The module object itself (not a copy of its bindings): one test interleaves a commit with LocalRoomClient's reads.
import fsPromises = require("node:fs/promises");
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { jobDigest } from "../../src/core/digest.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { unixRequest } from "../../src/runtime/platforms/local/http.js";
import { jobStatePath, readJobState } from "../../src/runtime/platforms/local/launcher.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localStatus, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { PRELUDE, pythonJob, tempDir, testSpec } from "./helpers.js";

const READ_ONE = `${PRELUDE}
files = sorted(glob.glob(os.path.join(IN, "*", "*.csv")))
data = {os.path.relpath(f, IN): open(f).read() for f in files}
json.dump({"inputs": data}, open(os.path.join(OUT, "seen.json"), "w"))
`;

describe("local clean room (bubblewrap, sockets, broker)", function () {
  this.timeout(120_000);
  let work: string;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  const jobs: Record<string, PackedJob> = {};

  async function pack(name: string, source: string, inputs: string[]): Promise<PackedJob> {
    const d = await pythonJob(work, name, source);
    const p = await packJob(d, { entrypoint: "main.py", inputs, outDir: join(work, "packed", name) });
    jobs[name] = p;
    return p;
  }

  async function run(name: string): Promise<{ jobId: string; state: string; errorCode?: string; detail?: string }> {
    const { jobId } = await client.submit(jobs[name]!);
    const s = await client.wait(jobId, { timeoutMs: 60_000 });
    return { jobId, state: s.state, ...(s.errorCode ? { errorCode: s.errorCode } : {}), ...(s.detail ? { detail: s.detail } : {}) };
  }

  function quarantine(jobId: string): string {
    return join(roomLayout(dir).quarantineDir, jobId);
  }

  before(async () => {
    work = await tempDir("local");
    dir = join(work, "room");
    await pack("approved", READ_ONE, ["insurer/claims"]);
    await pack("unapproved", `${READ_ONE}\n# a different job\n`, ["insurer/claims"]);
    await pack("network", `${PRELUDE}
import socket
res = {}
for name, target in [("tcp", ("1.1.1.1", 80)), ("dns", ("example.com", 80))]:
    try:
        socket.create_connection(target, timeout=2); res[name] = "connected"
    except OSError as e:
        res[name] = "blocked: " + str(e)
res["launcher_socket_visible"] = os.path.exists("/run/container_launcher/teeserver.sock")
json.dump(res, open(os.path.join(OUT, "net.json"), "w"))
`, ["insurer/claims"]);
    await pack("escape", `${PRELUDE}
open(os.path.join(OUT, "ok.txt"), "w").write("partial")
open(os.path.join(OUT, "..", "escape.txt"), "w").write("leak")
`, ["insurer/claims"]);
    await pack("symlink", `${PRELUDE}
open(os.path.join(OUT, "ok.txt"), "w").write("fine")
os.symlink(os.path.join(IN, "insurer", "claims.csv"), os.path.join(OUT, "raw.csv"))
`, ["insurer/claims"]);
    await pack("oversize", `${PRELUDE}
open(os.path.join(OUT, "big.bin"), "wb").write(b"x" * 5000)
`, ["insurer/claims"]);
    await pack("slow", `${PRELUDE}
import time
open(os.path.join(OUT, "partial.txt"), "w").write("half")
time.sleep(60)
`, ["insurer/claims"]);
    await pack("both", READ_ONE, ["hospital/visits", "insurer/claims"]);
    for (let i = 0; i < 10; i++) await pack(`multi${i}`, READ_ONE, [`multi/d${i}`]);
    const approvedInsurer = ["approved", "network", "escape", "symlink", "oversize", "slow", "both"].map((n) => jobs[n]!.jobDigest);
    const spec = testSpec({ insurer: approvedInsurer, multi: Array.from({ length: 10 }, (_, i) => jobs[`multi${i}`]!.jobDigest) });
    const up = await localUp({ spec, dir });
    descriptor = loadDescriptor(up.descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "claims.csv"), "id,amount\n1,100\n2,250\n");
    await writeFile(join(work, "visits.csv"), "id,ward\n1,a\n");
    await client.provision("insurer", "claims", join(work, "claims.csv"));
    await client.provision("hospital", "visits", join(work, "visits.csv"));
    for (let i = 0; i < 10; i++) {
      await writeFile(join(work, `d${i}.csv`), `id\nrow-of-dataset-${i}\n`);
      await client.provision("multi", `d${i}`, join(work, `d${i}.csv`));
    }
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  // A failed test shows what the room saw: its log and the logs of the jobs it ran (otherwise lost with the temp dir).
  afterEach(function () {
    if (this.currentTest?.state !== "failed" || !dir) return;
    const layout = roomLayout(dir);
    const tail = (f: string, n: number) => (existsSync(f) ? readFileSync(f, "utf8").trimEnd().split("\n").slice(-n).join("\n") : "(none)");
    const jobLogs = join(layout.stateDir, "jobs");
    const logs = existsSync(jobLogs) ? readdirSync(jobLogs).filter((f) => f.endsWith(".log")).sort() : [];
    process.stderr.write(`\n--- room.log (last 40 lines) ---\n${tail(layout.logFile, 40)}\n`);
    for (const f of logs.slice(-3)) process.stderr.write(`--- state/jobs/${f} (last 20 lines) ---\n${tail(join(jobLogs, f), 20)}\n`);
  });

  it("GIVEN an approved job WHEN it runs THEN the released result verifies and holds exactly its inputs", async () => {
    const r = await run("approved");
    expect(r.state, r.detail).to.equal("succeeded");
    await client.release(r.jobId);
    const out = join(work, "fetched-approved");
    await client.fetch(r.jobId, out);
    const summary = await verifyResult(out, { descriptor });
    expect(summary.status).to.equal("succeeded");
    expect(summary.sandbox).to.equal("bubblewrap");
    expect(summary.jobDigest).to.equal(jobs.approved!.jobDigest);
    const seen = JSON.parse(await readFile(join(out, "outputs", "seen.json"), "utf8"));
    expect(seen.inputs).to.deep.equal({ "insurer/claims.csv": "id,amount\n1,100\n2,250\n" });
  });

  it("GIVEN a job that commits its result between the two reads of status() WHEN polled THEN it is never reported lost", async () => {
    // The race behind an occasional `lost` for a job that succeeded: status() read the receipt (not there yet), the
    // job committed and the launcher wrote "exited", then status() read "exited" without a receipt. Here the commit
    // happens exactly after the first of the two reads, whichever it is.
    const done = await run("approved");
    expect(done.state, done.detail).to.equal("succeeded");
    const layout = roomLayout(dir);
    const jobId = "job-race-1";
    const stateFile = jobStatePath(layout, jobId);
    const state = { jobId, jobDigest: jobs.approved!.jobDigest, submittedAt: new Date().toISOString() };
    await writeFile(stateFile, JSON.stringify({ ...state, state: "running" }));
    const realReadFile = fsPromises.readFile;
    let committed = false;
    const watched = [stateFile, join(quarantine(jobId), "receipt.json")];
    fsPromises.readFile = (async (...args: Parameters<typeof realReadFile>) => {
      try {
        return await realReadFile(...args);
      } finally {
        if (!committed && watched.includes(String(args[0]))) {
          committed = true;
          await cp(quarantine(done.jobId), quarantine(jobId), { recursive: true });
          await writeFile(stateFile, JSON.stringify({ ...state, state: "exited", finishedAt: new Date().toISOString() }));
        }
      }
    }) as typeof realReadFile;
    let s: Awaited<ReturnType<RoomClient["status"]>>;
    try {
      s = await client.status(jobId);
    } finally {
      fsPromises.readFile = realReadFile;
    }
    expect(committed, "the commit was not interleaved").to.equal(true);
    expect(s.state).to.not.equal("lost");
    expect((await client.status(jobId)).state).to.equal("succeeded");
  });

  it("GIVEN a job not in approvedJobs WHEN it runs THEN no key is released, no outputs, a verifiable failure receipt", async () => {
    const r = await run("unapproved");
    expect(r.state).to.equal("failed");
    expect(r.errorCode).to.equal("denied");
    expect(r.detail).to.match(/provider "insurer" refused: the job is not in its approvedJobs. To approve it, add "sha256:[0-9a-f]{64}"/);
    expect(r.detail).to.contain("approvedJobs in the spec");
    expect(existsSync(join(quarantine(r.jobId), "outputs"))).to.equal(false);
    const receipt = parseReceipt(readFileSync(join(quarantine(r.jobId), "receipt.json"), "utf8"));
    expect(receipt.outputs).to.deep.equal([]);
    expect(receipt.inputs).to.deep.equal([]);
    const out = join(work, "fetched-unapproved");
    await client.fetch(r.jobId, out, { from: "quarantine" });
    const s = await verifyResult(out, { descriptor });
    expect(s.status).to.equal("failed");
    expect(s.errorCode).to.equal("denied");
  });

  it("GIVEN a job that opens network connections WHEN it runs THEN they fail inside the sandbox and the launcher socket is absent", async () => {
    const r = await run("network");
    expect(r.state).to.equal("succeeded");
    const net = JSON.parse(await readFile(join(quarantine(r.jobId), "outputs", "net.json"), "utf8"));
    expect(net.tcp).to.match(/^blocked/);
    expect(net.dns).to.match(/^blocked/);
    expect(net.launcher_socket_visible).to.equal(false);
  });

  it("GIVEN a job that writes outside its output dir WHEN it runs THEN it fails and nothing is released", async () => {
    const r = await run("escape");
    expect(r.state).to.equal("failed");
    expect(r.errorCode).to.equal("job-failed");
    expect(existsSync(join(quarantine(r.jobId), "outputs"))).to.equal(false);
    let err: unknown;
    try {
      await client.release(r.jobId);
    } catch (e) {
      err = e;
    }
    expect((err as CleanRoomError | undefined)?.code).to.equal("output-policy");
    expect(existsSync(join(roomLayout(dir).resultsDir, r.jobId))).to.equal(false);
  });

  it("GIVEN a job that leaves a symlink to its input WHEN it runs THEN the output policy rejects every output", async () => {
    const r = await run("symlink");
    expect(r.state).to.equal("failed");
    expect(r.errorCode).to.equal("output-policy");
    expect(r.detail).to.contain("is a symbolic link");
    // The name was chosen by code that read the data: it never reaches a status (issue 18, finding 3).
    expect(r.detail).to.not.contain("raw.csv");
    expect(existsSync(join(quarantine(r.jobId), "outputs"))).to.equal(false);
  });

  it("GIVEN a job whose outputs exceed output.maxBytes WHEN it runs THEN it is rejected with no partial outputs", async () => {
    const r = await run("oversize");
    expect(r.state).to.equal("failed");
    expect(r.errorCode).to.equal("output-policy");
    expect(r.detail).to.contain("4096 bytes");
    expect(existsSync(join(quarantine(r.jobId), "outputs"))).to.equal(false);
  });

  it("GIVEN a running executor WHEN it is killed THEN the job fails with a failure receipt and no partial result is visible", async () => {
    const { jobId } = await client.submit(jobs.slow!);
    const layout = roomLayout(dir);
    // Wait until the job process is inside its sandbox (the broker released its key).
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !readFileSync(layout.logFile, "utf8").includes(`released to job ${jobs.slow!.jobDigest}`)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const st = await readJobState(layout, jobId);
    expect(st?.state).to.equal("running");
    kill(st!.pid!, "SIGKILL");
    const s = await client.wait(jobId, { timeoutMs: 30_000 });
    expect(s.state).to.equal("failed");
    expect(s.errorCode).to.equal("executor-died");
    expect(s.detail).to.contain("before committing a result");
    // The room recorded the failure (a receipt, no outputs); nothing the executor staged is left.
    expect(existsSync(join(quarantine(jobId), "outputs"))).to.equal(false);
    expect(parseReceipt(readFileSync(join(quarantine(jobId), "receipt.json"), "utf8")).outputs).to.deep.equal([]);
    expect((await readdir(layout.quarantineDir)).filter((n) => n.includes(jobId))).to.deep.equal([jobId]);
  });

  it("GIVEN a bundle changed after packing WHEN launched with the approved digest THEN it is refused before anything runs", async () => {
    const layout = roomLayout(dir);
    const jobId = "job-tampered-1";
    const jd = join(layout.jobsDir, jobId);
    await mkdir(jd);
    await copyFile(jobs.approved!.bundlePath, join(jd, "bundle.tar"));
    await writeFile(join(jd, "job.json"), JSON.stringify(jobs.approved!.manifest));
    // Flip bytes inside main.py's tar entry (after the 512-byte header).
    const tar = await readFile(join(jd, "bundle.tar"));
    tar.write("#X", 512 + 2);
    await writeFile(join(jd, "bundle.tar"), tar);
    const res = await unixRequest(layout.controlSocket, "POST", "/v1/jobs", { jobId, jobDigest: jobs.approved!.jobDigest });
    expect(res.status).to.equal(202);
    const s = await client.wait(jobId, { timeoutMs: 60_000 });
    expect(s.state).to.equal("failed");
    expect(s.errorCode).to.equal("digest-mismatch");
    const receipt = parseReceipt(await readFile(join(quarantine(jobId), "receipt.json"), "utf8"));
    expect(receipt.exitCode).to.equal(undefined);
    expect(receipt.inputs).to.deep.equal([]);
  });

  it("GIVEN a job reading two providers' data WHEN only one approved it THEN the other refuses and the job fails", async () => {
    const r = await run("both");
    expect(r.state).to.equal("failed");
    expect(r.errorCode).to.equal("denied");
    expect(r.detail).to.contain('provider "hospital" refused');
  });

  it("GIVEN 10 jobs submitted at once WHEN they run THEN all succeed and each saw only its own input", async () => {
    const subs = await Promise.all(Array.from({ length: 10 }, (_, i) => client.submit(jobs[`multi${i}`]!)));
    const states = await Promise.all(subs.map((s) => client.wait(s.jobId, { timeoutMs: 90_000 })));
    expect(states.map((s) => s.state)).to.deep.equal(Array(10).fill("succeeded"));
    for (let i = 0; i < 10; i++) {
      const seen = JSON.parse(await readFile(join(quarantine(subs[i]!.jobId), "outputs", "seen.json"), "utf8"));
      expect(seen.inputs).to.deep.equal({ [`multi/d${i}.csv`]: `id\nrow-of-dataset-${i}\n` });
    }
  });

  it("GIVEN a running room WHEN `up` runs again THEN the same spec is a no-op and a different spec is refused with how to restart", async () => {
    const spec = JSON.parse(readFileSync(roomLayout(dir).spec, "utf8")).spec;
    const again = await localUp({ spec, dir });
    expect(again.alreadyRunning).to.equal(true);
    let err: unknown;
    try {
      await localUp({ spec: testSpec({}), dir });
    } catch (e) {
      err = e;
    }
    expect((err as CleanRoomError).code).to.equal("already-exists");
    expect((err as Error).message).to.contain("cleanroom local down");
    expect((await localStatus(dir)).running).to.equal(true);
  });

  it("GIVEN the room WHEN provisioning bad input THEN unknown provider, missing dataset and unreadable CSV are clear errors", async () => {
    const codes: string[] = [];
    for (const f of [
      () => client.provision("nobody", "claims", join(work, "claims.csv")),
      () => client.provision("insurer", "missing", join(work, "claims.csv")),
      () => client.provision("hospital", "visits", join(work, "does-not-exist.csv"), { overwrite: true }),
      () => client.provision("insurer", "claims", join(work, "claims.csv")),
    ]) {
      try {
        await f();
        codes.push("ok");
      } catch (e) {
        codes.push((e as CleanRoomError).code);
      }
    }
    expect(codes).to.deep.equal(["not-found", "not-found", "io-error", "already-exists"]);
    const missing = await packJob(join(work, "jobs", "approved"), { entrypoint: "main.py", inputs: ["insurer/nope"], outDir: join(work, "packed", "nope") });
    let err: unknown;
    try {
      await client.submit(missing);
    } catch (e) {
      err = e;
    }
    expect((err as CleanRoomError).code).to.equal("not-found");
    expect(jobDigest(missing.manifest)).to.equal(missing.jobDigest);
  });
});

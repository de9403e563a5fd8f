/**
 * Limits a job cannot escape (issue 19), against a real local room: real processes, real bubblewrap. The room's spec
 * gives every job a few seconds (`jobs.timeoutSeconds`), and the room runs jobs under its memory and process limits.
 */
import { readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { JobStatus, PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { readJobState } from "../../src/runtime/platforms/local/launcher.js";
import { localStatus } from "../../src/runtime/platforms/local/room.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { cliInProcess } from "../cli-harness.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

/** The room's wall-clock limit of every job, from its spec. */
const TIMEOUT_SECONDS = 3;

describe("local room: limits a job cannot escape (issue 19)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  const jobs: Record<string, PackedJob> = {};

  async function pack(name: string, source: string): Promise<PackedJob> {
    const d = await pythonJob(work, name, source);
    jobs[name] = await packJob(d, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed", name) });
    return jobs[name]!;
  }

  async function run(name: string): Promise<{ jobId: string; status: JobStatus; ms: number }> {
    const started = Date.now();
    const { jobId } = await client.submit(jobs[name]!);
    const status = await client.wait(jobId, { timeoutMs: 90_000 });
    return { jobId, status, ms: Date.now() - started };
  }

  async function fetchAndVerify(jobId: string) {
    const out = join(work, `fetched-${jobId}`);
    await client.fetch(jobId, out, { from: "quarantine" });
    return verifyResult(out, { descriptor });
  }

  before(async () => {
    work = await tempDir("limits");
    dir = join(work, "room");
    await pack("spin", `${PRELUDE}
open(os.path.join(OUT, "partial.txt"), "w").write("half")
while True:
    pass
`);
    const spec = {
      providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: Object.values(jobs).map((j) => j.jobDigest) }],
      jobs: { timeoutSeconds: TIMEOUT_SECONDS },
    };
    const up = await localUp({ spec, dir });
    descriptor = loadDescriptor(up.descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "claims.csv"), "id,amount\n1,100\n2,250\n");
    await client.provision("insurer", "claims", join(work, "claims.csv"));
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a spec with jobs.timeoutSeconds THEN the descriptor records it, and the executor enforces it", () => {
    expect(descriptor.jobs).to.deep.equal({ timeoutSeconds: TIMEOUT_SECONDS });
  });

  it("GIVEN a job that spins forever WHEN it outlives jobs.timeoutSeconds THEN it ends failed [timeout] with a verifiable failure receipt and no outputs", async () => {
    const { jobId, status, ms } = await run("spin");
    expect(status.state, status.detail).to.equal("failed");
    expect(status.errorCode).to.equal("timeout");
    expect(status.detail).to.contain(`${TIMEOUT_SECONDS} s (jobs.timeoutSeconds)`);
    // Stopped by the executor at the limit, not by the launcher's backstop minutes later.
    expect(ms).to.be.below(60_000);
    const receipt = parseReceipt(readFileSync(join(roomLayout(dir).quarantineDir, jobId, "receipt.json"), "utf8"));
    expect(receipt.outputs).to.deep.equal([]);
    const summary = await fetchAndVerify(jobId);
    expect(summary.verdict).to.match(/^VERIFIED FAILURE/);
    expect(summary.errorCode).to.equal("timeout");
    void readFile;
  });
});

describe("local room: memory, process and CPU limits, and `local down` while jobs run (issue 19)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  let slow: PackedJob;
  const jobs: Record<string, PackedJob> = {};
  const LIMITS = { memoryMiB: 256, processes: 32, cpuSeconds: 1 };

  async function runJob(name: string): Promise<{ jobId: string; status: JobStatus }> {
    const { jobId } = await client.submit(jobs[name]!);
    return { jobId, status: await client.wait(jobId, { timeoutMs: 90_000 }) };
  }

  /** Runs a job that reports what it could do, and returns its released output. */
  async function report(name: string): Promise<Record<string, unknown>> {
    const { jobId, status } = await runJob(name);
    expect(status.state, status.detail).to.equal("succeeded");
    const out = join(work, `result-${name}`);
    await client.fetch(jobId, out);
    await verifyResult(out, { descriptor });
    return JSON.parse(readFileSync(join(out, "outputs", "report.json"), "utf8")) as Record<string, unknown>;
  }

  before(async () => {
    work = await tempDir("down");
    dir = join(work, "room");
    const src = await pythonJob(work, "slow", `${PRELUDE}
import time
open(os.path.join(OUT, "partial.txt"), "w").write("half")
time.sleep(600)
`);
    slow = await packJob(src, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed") });
    const add = async (name: string, source: string) => {
      const d = await pythonJob(work, name, source);
      jobs[name] = await packJob(d, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed", name) });
    };
    await add("memory", `${PRELUDE}
res = {}
try:
    small = bytearray(64 * 1024 * 1024)
    res["64MiB"] = "allocated"
except MemoryError:
    res["64MiB"] = "refused"
try:
    big = bytearray(1024 * 1024 * 1024)
    res["1GiB"] = "allocated"
except MemoryError:
    res["1GiB"] = "refused"
json.dump(res, open(os.path.join(OUT, "report.json"), "w"))
# Declared to the room's disclosure checks (what the job could do: text), so the result flows without a release.
json.dump({"version": 1, "outputs": [{"path": "report.json", "kind": "text"}]}, open(os.path.join(OUT, "outputs.json"), "w"))
`);
    await add("processes", `${PRELUDE}
import time
children, error = [], None
try:
    for i in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        children.append(pid)
except OSError as e:
    error = e.errno
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
json.dump({"forked": len(children), "errno": error}, open(os.path.join(OUT, "report.json"), "w"))
# Declared to the room's disclosure checks (what the job could do: text), so the result flows without a release.
json.dump({"version": 1, "outputs": [{"path": "report.json", "kind": "text"}]}, open(os.path.join(OUT, "outputs.json"), "w"))
`);
    await add("cpu", `${PRELUDE}
while True:
    pass
`);
    const approved = [slow.jobDigest, ...Object.values(jobs).map((j) => j.jobDigest)];
    const up = await localUp({ spec: { providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: approved }] }, dir, jobLimits: LIMITS });
    descriptor = loadDescriptor(up.descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "claims.csv"), "id,amount\n1,100\n");
    await client.provision("insurer", "claims", join(work, "claims.csv"));
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN --job-memory/--job-processes/--job-cpu-seconds THEN the descriptor records the limits (what the executor enforces)", () => {
    expect(descriptor.local?.jobLimits).to.deep.equal(LIMITS);
  });

  it("GIVEN a memory limit of 256 MiB WHEN a job allocates 1 GiB THEN the allocation fails inside the job (64 MiB still works)", async () => {
    expect(await report("memory")).to.deep.equal({ "64MiB": "allocated", "1GiB": "refused" });
  });

  it("GIVEN a limit of 32 processes WHEN a job forks 200 THEN fork fails with EAGAIN before 32", async () => {
    const r = await report("processes");
    expect(r.errno).to.equal(11);
    expect(r.forked).to.be.above(0).and.below(LIMITS.processes);
  });

  it("GIVEN a CPU limit of 1 s WHEN a job spins THEN it is stopped: failed [cpu-limit] with a verifiable receipt", async () => {
    const { jobId, status } = await runJob("cpu");
    expect(status.state, status.detail).to.equal("failed");
    expect(status.errorCode).to.equal("cpu-limit");
    const out = join(work, "result-cpu");
    await client.fetch(jobId, out, { from: "quarantine" });
    expect((await verifyResult(out, { descriptor })).errorCode).to.equal("cpu-limit");
  });

  it("GIVEN a running job WHEN `local down` runs without --force THEN it refuses, names the job and asks for --force; WITH --force the job ends failed [stopped] with a verifiable receipt", async () => {
    const { jobId } = await client.submit(slow);
    const layout = roomLayout(dir);
    const deadline = Date.now() + 60_000;
    while (!(readFileSync(layout.logFile, "utf8").includes(`released to job ${slow.jobDigest}`) && (await readJobState(layout, jobId))?.state === "running")) {
      if (Date.now() > deadline) throw new Error("the job never started running");
      await new Promise((r) => setTimeout(r, 50));
    }

    const refused = await cliInProcess(["local", "down", "--dir", dir]);
    expect(refused.code, refused.stderr).to.equal(1);
    expect(refused.stderr).to.contain("[busy]").and.to.contain(jobId).and.to.contain(`cleanroom local down --dir ${dir} --force`);
    expect((await localStatus(dir)).running, "the room keeps running").to.equal(true);
    expect((await client.status(jobId)).state).to.equal("running");

    const forced = await cliInProcess(["local", "down", "--dir", dir, "--force"]);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(forced.stdout).to.contain("Room stopped.").and.to.contain(`Stopped 1 running job(s), each failed [stopped] with a receipt: ${jobId}`);
    expect((await localStatus(dir)).running).to.equal(false);

    const st = await client.status(jobId);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("stopped");
    const out = join(work, "stopped-result");
    await client.fetch(jobId, out, { from: "quarantine" });
    const summary = await verifyResult(out, { descriptor });
    expect(summary.verdict).to.match(/^VERIFIED FAILURE/);
    expect(summary.errorCode).to.equal("stopped");
    expect(summary.outputs).to.deep.equal([]);
  });
});

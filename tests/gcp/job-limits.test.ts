/**
 * The job time limit on GCP (issue 19), against the loopback Compute, Storage, KMS and Confidential Space fakes with
 * the real Google clients: the executor in the fake VM stops a job at the room's `jobs.timeoutSeconds` and commits a
 * verifiable `timeout` receipt; a VM that outlives the limit plus the grace is deleted by the runtime.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import {
  GcpRoomClient,
} from "../../src/runtime/platforms/gcp/index.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import type { FakeVm } from "./fakes/confidential-space.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { FAST, VM_PREFIX, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";


describe("gcp/job-limits: jobs.timeoutSeconds on the executor and the runtime (issue 19)", function () {
  this.timeout(60_000);
  let fake: GcpFake;
  let vm: FakeVm;
  let dir: string;
  let root: string;
  let descriptor: CleanRoomDescriptor;
  let spin: PackedJob;
  let world: LoopbackWorld | undefined;

  function client(extra: Partial<ConstructorParameters<typeof GcpRoomClient>[1]> = {}): GcpRoomClient {
    return new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root], ...extra });
  }

  before(async () => {
    world = await startLoopbackWorld();
    ({ fake, vm, root } = world);

    dir = mkdtempSync(join(tmpdir(), "acr-gcp-limits-"));
    writeFileSync(join(dir, "patients.csv"), "id,sex,age\n1,F,34\n2,M,51\n");
    const src = join(dir, "spin");
    mkdirSync(src);
    writeFileSync(join(src, "main.js"), `require("fs").writeFileSync(require("path").join(process.env.CLEANROOM_OUTPUT, "partial.txt"), "half");\nfor (;;) {}\n`);
    spin = await packJob(src, { entrypoint: "main.js", inputs: ["hospital-a/patients"], outDir: join(dir, "packed") });
    descriptor = loopbackRoom(fake, { approved: [spin.jobDigest], jobs: { timeoutSeconds: 1 } });
    await client().provision("hospital-a", "patients", join(dir, "patients.csv"));
  });

  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    vm.behaviour = {};
  });

  it("GIVEN a room with jobs.timeoutSeconds 1 and a job that spins forever WHEN the VM runs it THEN the executor stops it: failed [timeout], a receipt that verifies, no outputs", async () => {
    const c = client();
    const { jobId } = await c.submit(spin);
    const st = await c.wait(jobId, { timeoutMs: 30_000 });
    await vm.running;
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("timeout");
    expect(st.detail).to.contain("1 s (jobs.timeoutSeconds)");
    const out = join(dir, "result-timeout");
    await c.fetch(jobId, out);
    const summary = await verifyResult(out, { descriptor, trustedRoots: [root] });
    expect(summary.verdict).to.match(/^VERIFIED FAILURE/);
    expect(summary.errorCode).to.equal("timeout");
    expect(summary.outputs).to.deep.equal([]);
    // The VM is single-use: gone once the job is over.
    expect([...fake.instances.keys()].filter((n) => n.endsWith(jobId.replace(/^job-/, "")))).to.deep.equal([]);
  });

  it("GIVEN a VM whose executor hangs WHEN it outlives the job limit plus the grace THEN wait deletes the VM and the job is failed [timeout]", async () => {
    vm.behaviour = { hangs: true };
    const c = client({ bootTimeoutMs: 200, overrunGraceMs: 200 });
    const { jobId } = await c.submit(spin);
    const instance = `${VM_PREFIX}${jobId.replace(/^job-/, "")}`;
    expect(fake.instances.get(instance)?.status).to.equal("RUNNING");
    const st = await c.wait(jobId, { timeoutMs: 30_000 });
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("timeout");
    expect(st.detail).to.contain("jobs.timeoutSeconds").and.to.contain("was deleted");
    expect(fake.instances.has(instance), "the runtime deleted the VM").to.equal(false);
    expect(fake.sent(new RegExp(`/instances/${instance}$`), "DELETE")).to.have.length.at.least(1);
    // Anyone asking later sees the same outcome.
    const later = await c.status(jobId);
    expect(later).to.deep.include({ state: "failed", errorCode: "timeout" });
  });

  it("GIVEN Compute Engine deleted the VM at its maxRunDuration WHEN the status is read after the limit THEN the job is failed [timeout], not lost", async () => {
    vm.behaviour = { hangs: true };
    const c = client({ bootTimeoutMs: 100, overrunGraceMs: 100 });
    const { jobId } = await c.submit(spin);
    // What instanceTerminationAction DELETE does at the end of maxRunDuration.
    fake.instances.delete(`${VM_PREFIX}${jobId.replace(/^job-/, "")}`);
    await new Promise((r) => setTimeout(r, 1400));
    const st = await c.status(jobId);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("timeout");
  });
});

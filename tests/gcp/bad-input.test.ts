/**
 * Bad input on a GCP room (issue 19), against the loopback Compute, Storage, KMS and Confidential Space fakes with the
 * real Google clients: a CSV that fails parsing uploads nothing, unparsable numeric cells are reported, an unknown job
 * is not-found (not "awaits release"), and `list` names every job with its state, digest and times.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomError } from "../../src/core/errors.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import {
  GcpRoomClient,
} from "../../src/runtime/platforms/gcp/index.js";
import { type PackedJob, sortJobs } from "../../src/runtime/platforms/platform.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { FAST, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";

const SCHEMA = { columns: [{ name: "sex", type: "categorical", categories: ["F", "M"] }, { name: "age", type: "numeric", min: 0, max: 120, integer: true }] };

describe("gcp/bad-input: provisioning and job lookups on a GCP room (issue 19)", function () {
  this.timeout(60_000);
  let fake: GcpFake;
  let dir: string;
  let root: string;
  let descriptor: CleanRoomDescriptor;
  let hello: PackedJob;
  let world: LoopbackWorld | undefined;

  function client(): GcpRoomClient {
    return new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root] });
  }

  async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
    try {
      await p;
    } catch (err) {
      return err as CleanRoomError;
    }
    return expect.fail("expected a rejection");
  }

  before(async () => {
    world = await startLoopbackWorld();
    ({ fake, root } = world);

    dir = mkdtempSync(join(tmpdir(), "acr-gcp-bad-input-"));
    writeFileSync(join(dir, "good.csv"), "id,sex,age\n1,F,34\n2,M,51\n");
    writeFileSync(join(dir, "broken.csv"), 'id,sex,age\n1,F,34\n2,"M,51\n3,F,40\n');
    writeFileSync(join(dir, "abc.csv"), "id,sex,age\n1,F,34\n2,M,abc\n3,F,n/a\n4,M,\n");
    const src = join(dir, "hello");
    mkdirSync(src);
    writeFileSync(join(src, "main.js"), `require("fs").writeFileSync(require("path").join(process.env.CLEANROOM_OUTPUT, "hello.txt"), "hi");\n`);
    hello = await packJob(src, { entrypoint: "main.js", inputs: ["hospital-a/patients"], outDir: join(dir, "packed") });
    descriptor = loopbackRoom(fake, { approved: [hello.jobDigest], requireRelease: true, datasets: (d) => ({ ...d, schema: SCHEMA }) });
  });

  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("GIVEN a CSV with a quote never closed WHEN provisioning THEN invalid-argument naming line 3, no object uploaded and no key wrapped; the fixed file then provisions", async () => {
    const err = await rejection(client().provision("hospital-a", "patients", join(dir, "broken.csv")));
    expect(err.code, err.message).to.equal("invalid-argument");
    expect(err.message).to.contain("line 3").and.to.contain("nothing was stored");
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-hospital-a-data\/o$/)).to.deep.equal([]);
    expect(fake.sent(/:encrypt$/, "POST")).to.deep.equal([]);
    const ok = await client().provision("hospital-a", "patients", join(dir, "good.csv"));
    expect(ok).to.include({ rows: 2 });
    expect(ok.unparsable).to.deep.equal([]);
  });

  it("GIVEN numeric cells that are not numbers WHEN provisioning THEN they are counted per column with the first line", async () => {
    const r = await client().provision("hospital-a", "patients", join(dir, "abc.csv"), { overwrite: true });
    expect(r.rows).to.equal(4);
    expect(r.unparsable).to.deep.equal([{ column: "age", count: 2, firstLine: 3 }]);
  });

  it("GIVEN a job id the room never saw WHEN fetching it from a requireRelease room THEN not-found pointing to `cleanroom job list` (not: awaits release)", async () => {
    const err = await rejection(client().fetch("job-zzzzzzzz-12345678", join(dir, "nothing")));
    expect(err.code, err.message).to.equal("not-found");
    expect(err.message).to.contain("cleanroom job list --room room.json");
  });

  it("GIVEN a finished job WHEN listing the room's jobs THEN it is there with its state, digest and times", async () => {
    const c = client();
    const { jobId } = await c.submit(hello);
    const st = await c.wait(jobId, { timeoutMs: 30_000 });
    expect(st.state, st.detail).to.equal("succeeded");
    const jobs = await c.list();
    const mine = jobs.find((j) => j.jobId === jobId);
    expect(mine).to.include({ state: "succeeded", jobDigest: hello.jobDigest });
    expect(Date.parse(mine!.finishedAt!)).to.be.at.least(Date.parse(mine!.submittedAt!) - 1000);
  });

  it("GIVEN 20 jobs on a slow network WHEN listing THEN their statuses are read a few at a time (never one by one, never all at once), each listed once, in order", async () => {
    const c = client();
    const { jobId } = await c.submit(hello);
    expect((await c.wait(jobId, { timeoutMs: 30_000 })).state).to.equal("succeeded");
    // 19 more submissions of the same job, as other machines would have written them.
    const jobs = fake.bucket(descriptor.storage.jobs.replace(/^gs:\/\//, ""));
    const submission = jobs.get(`${jobId}/submission.json`)!;
    const ids = Array.from({ length: 19 }, (_, i) => `job-${String(i).padStart(8, "0")}-${jobId.slice(-8)}`);
    for (const id of ids) {
      const record = { ...JSON.parse(submission.data.toString("utf8")), jobId: id };
      jobs.set(`${id}/submission.json`, { ...submission, data: Buffer.from(JSON.stringify(record)) });
    }
    fake.latencyMs = 40;
    fake.maxInFlight = 0;
    try {
      const listed = await c.list();
      for (const id of [jobId, ...ids]) expect(listed.filter((j) => j.jobId === id), id).to.have.length(1);
      expect(listed.map((j) => j.jobId)).to.deep.equal(sortJobs([...listed]).map((j) => j.jobId));
      // At most 8 statuses at once (one more while a finished response's socket is still closing).
      expect(fake.maxInFlight).to.be.within(2, 9);
    } finally {
      fake.latencyMs = 0;
    }
  });
});

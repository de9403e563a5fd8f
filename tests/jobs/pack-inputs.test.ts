/**
 * packJob: the job digest is what a provider approves, so it must name the job, not the order a consumer happened to
 * list its inputs in: the same job with its inputs listed in another order (or one listed twice) is the same job.
 */
import { expect } from "chai";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packJob } from "../../src/runtime/jobs/pack.js";

describe("jobs/packJob: inputs", () => {
  let work: string;
  let src: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "pack-inputs-"));
    src = join(work, "job");
    await mkdir(src);
    await writeFile(join(src, "main.py"), "print('hello')\n");
  });
  after(async () => work && rm(work, { recursive: true, force: true }));

  async function pack(name: string, inputs: string[]) {
    const job = await packJob(src, { entrypoint: "main.py", inputs, outDir: join(work, name) });
    return { ...job, jobJson: await readFile(join(work, name, "job.json"), "utf8") };
  }

  it("GIVEN the same job with its inputs listed in two orders WHEN packed THEN the same digest and the same job.json", async () => {
    const a = await pack("a", ["lab/visits", "insurer/claims", "insurer/bills"]);
    const b = await pack("b", ["insurer/claims", "insurer/bills", "lab/visits"]);
    expect(b.jobDigest).to.equal(a.jobDigest);
    expect(b.jobJson).to.equal(a.jobJson);
  });

  it("GIVEN inputs in any order WHEN packed THEN job.json lists them by provider, then dataset", async () => {
    const a = await pack("sorted", ["lab/visits", "insurer/claims", "insurer/bills"]);
    expect(a.manifest.inputs).to.deep.equal([
      { provider: "insurer", dataset: "bills" },
      { provider: "insurer", dataset: "claims" },
      { provider: "lab", dataset: "visits" },
    ]);
  });

  it("GIVEN an input listed twice WHEN packed THEN it counts once: the same digest as listing it once", async () => {
    const once = await pack("once", ["insurer/claims", "lab/visits"]);
    const twice = await pack("twice", ["insurer/claims", "lab/visits", "insurer/claims"]);
    expect(twice.manifest.inputs).to.have.length(2);
    expect(twice.jobDigest).to.equal(once.jobDigest);
  });

  it("GIVEN different inputs WHEN packed THEN different digests (the inputs are part of what is approved)", async () => {
    const a = await pack("x", ["insurer/claims"]);
    const b = await pack("y", ["insurer/claims", "lab/visits"]);
    expect(b.jobDigest).to.not.equal(a.jobDigest);
  });
});

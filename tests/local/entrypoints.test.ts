/**
 * Entrypoints other than `python3 main.py` on the local backend (real bubblewrap): `node main.js`, `.ipynb` notebooks
 * through `jupyter nbconvert`, and the executor's runtime pre-flight, which runs in the job's own sandbox before any
 * key is requested.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { runtimeProbe } from "../../src/runtime/jobs/entrypoint.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { tempDir } from "./helpers.js";

const NODE_JOB = `const fs = require("fs"), path = require("path");
const csv = fs.readFileSync(path.join(process.env.CLEANROOM_INPUTS, "lab", "rows.csv"), "utf8");
fs.writeFileSync(path.join(process.env.CLEANROOM_OUTPUT, "count.json"), JSON.stringify({ rows: csv.trim().split("\\n").length - 1 }));
`;

/** A one-cell notebook that counts the rows of its input and writes count.json. */
const NOTEBOOK = JSON.stringify({
  cells: [
    {
      cell_type: "code",
      execution_count: null,
      id: "count",
      metadata: {},
      outputs: [],
      source: [
        "import json, os\n",
        "rows = open(os.path.join(os.environ['CLEANROOM_INPUTS'], 'lab', 'rows.csv')).read().strip().split('\\n')\n",
        "json.dump({'rows': len(rows) - 1}, open(os.path.join(os.environ['CLEANROOM_OUTPUT'], 'count.json'), 'w'))\n",
      ],
    },
  ],
  metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" } },
  nbformat: 4,
  nbformat_minor: 5,
});

/** Whether this machine can run notebooks (CI installs Debian's jupyter-nbconvert and python3-ipykernel). */
const HAS_NBCONVERT = spawnSync("sh", ["-c", runtimeProbe(["jupyter", "nbconvert", "--execute", "x.ipynb"]).argv[2]!]).status === 0;

describe("local clean room: node and notebook entrypoints, runtime pre-flight", function () {
  this.timeout(120_000);
  let work: string;
  let dir: string;
  let client: RoomClient;
  const jobs: Record<string, PackedJob> = {};

  async function pack(name: string, file: string, source: string): Promise<PackedJob> {
    const src = join(work, "jobs", name);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, file), source);
    jobs[name] = await packJob(src, { entrypoint: file, inputs: ["lab/rows"], outDir: join(work, "packed", name) });
    return jobs[name]!;
  }

  async function runToEnd(name: string): Promise<{ jobId: string; state: string; errorCode?: string; out: string }> {
    const { jobId } = await client.submit(jobs[name]!);
    const s = await client.wait(jobId, { timeoutMs: 90_000 });
    const out = join(work, "results", jobId);
    await client.fetch(jobId, out, { from: "quarantine" });
    return { jobId, state: s.state, ...(s.errorCode ? { errorCode: s.errorCode } : {}), out };
  }

  before(async () => {
    work = await tempDir("entrypoints");
    dir = join(work, "room");
    await pack("node", "main.js", NODE_JOB);
    await pack("notebook", "analysis.ipynb", NOTEBOOK);
    const spec = {
      providers: [{ name: "lab", datasets: [{ name: "rows" }], approvedJobs: [jobs.node!.jobDigest, jobs.notebook!.jobDigest] }],
      output: { maxBytes: 1024 * 1024, requireRelease: false },
    };
    const up = await localUp({ spec, dir });
    client = await roomClientFor(loadDescriptor(up.descriptorPath));
    await writeFile(join(work, "rows.csv"), "id,value\n1,a\n2,b\n3,c\n");
    await client.provision("lab", "rows", join(work, "rows.csv"));
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a `node main.js` job WHEN it runs THEN it reads its input and the result verifies", async () => {
    const r = await runToEnd("node");
    expect(r.state).to.equal("succeeded");
    expect(JSON.parse(await readFile(join(r.out, "outputs", "count.json"), "utf8"))).to.deep.equal({ rows: 3 });
    const v = await verifyResult(r.out, { descriptor: loadDescriptor(join(dir, "descriptor.json")) });
    expect(v.status).to.equal("succeeded");
    expect(v.jobDigest).to.equal(jobs.node!.jobDigest);
  });

  if (HAS_NBCONVERT) {
    it("GIVEN a notebook job and jupyter nbconvert installed WHEN it runs THEN the executed notebook and its outputs are the result", async () => {
      const r = await runToEnd("notebook");
      expect(r.state, r.errorCode).to.equal("succeeded");
      expect(JSON.parse(await readFile(join(r.out, "outputs", "count.json"), "utf8"))).to.deep.equal({ rows: 3 });
      const executed = JSON.parse(await readFile(join(r.out, "outputs", "analysis.ipynb"), "utf8")) as { cells: { execution_count: number | null }[] };
      expect(executed.cells[0]!.execution_count).to.equal(1);
      await verifyResult(r.out, { descriptor: loadDescriptor(join(dir, "descriptor.json")) });
    });
  } else {
    it("GIVEN a notebook job and no jupyter nbconvert WHEN it runs THEN runtime-missing says what to install, before any input is decrypted", async () => {
      const r = await runToEnd("notebook");
      expect(r.state).to.equal("failed");
      expect(r.errorCode).to.equal("runtime-missing");
      const receipt = parseReceipt(JSON.parse(await readFile(join(r.out, "receipt.json"), "utf8")));
      expect(receipt.error).to.match(/jupyter nbconvert.*apt-get install jupyter-nbconvert python3-ipykernel.*--to script analysis\.ipynb/s);
      expect(receipt.inputs).to.deep.equal([]);
    });
  }

  describe("runtimeProbe (what the executor runs in the job's sandbox)", () => {
    const nodeDir = process.execPath.slice(0, process.execPath.lastIndexOf("/"));
    const run = (argv: readonly string[], path: string) => spawnSync(argv[0]!, argv.slice(1), { env: { PATH: path } }).status;

    it("GIVEN a PATH with node THEN the node probe passes; GIVEN a PATH without it THEN it fails", () => {
      const probe = runtimeProbe(["node", "main.js"]);
      expect(run(probe.argv, `${nodeDir}:/usr/bin:/bin`)).to.equal(0);
      expect(run(probe.argv, "/nonexistent")).to.not.equal(0);
      expect(probe.fix).to.match(/Node\.js/);
    });

    it("GIVEN a PATH without jupyter THEN the notebook probe fails (whatever this machine has installed)", () => {
      const probe = runtimeProbe(["jupyter", "nbconvert", "--execute", "a.ipynb"]);
      // sh itself is found by absolute path; the probe's own lookup of jupyter sees only the empty PATH.
      expect(spawnSync("/bin/sh", probe.argv.slice(1), { env: { PATH: "/nonexistent" } }).status).to.not.equal(0);
      expect(probe.fix).to.include("jupyter nbconvert --to script a.ipynb");
    });

    it("GIVEN an unsupported entrypoint THEN invalid-argument, not a probe", () => {
      expect(() => runtimeProbe(["bash", "run.sh"])).to.throw(/Unsupported entrypoint/);
    });
  });
});

import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { manifestOf } from "../../src/core/digest.js";
import { DISCLOSURE_DEFAULTS, type DisclosureReport } from "../../src/core/disclosure.js";
import { checkDisclosure } from "../../src/runtime/disclosure/index.js";

const run = promisify(execFile);
const HELPERS = resolve(__dirname, "../../src/runtime/disclosure/helpers");

/** The same job in both languages: a clean count table, a small-cell one, a dominated mean, a regression and a model. */
const PYTHON = `
import sys
sys.path.insert(0, ${JSON.stringify(HELPERS)})
import cleanroom_outputs as co
co.write_table("clean.csv", ["age_band", "n"], [["30-39", 120], ["40-49", 85]], counts=[120, 85])
co.write_table("small.csv", ["age_band", "n"], [["30-39", 120], ["90-99", 3]], counts=[120, 3])
co.write_table("means.csv", ["region", "mean"], [["north, east", 5.5]], counts=[12], contributions=[[1000] + [1] * 11])
co.declare("fit.json", "regression", residualDf=5)
co.declare("w.bin", "model")
open(co.output_dir() + "/fit.json", "w").write('{"coef": [1.5]}\\n')
open(co.output_dir() + "/w.bin", "wb").write(bytes([0, 1, 2]))
`;

const NODE = `
const co = require(${JSON.stringify(join(HELPERS, "cleanroom-outputs.js"))});
const fs = require("node:fs");
co.writeTable("clean.csv", { header: ["age_band", "n"], rows: [["30-39", 120], ["40-49", 85]], counts: [120, 85] });
co.writeTable("small.csv", { header: ["age_band", "n"], rows: [["30-39", 120], ["90-99", 3]], counts: [120, 3] });
co.writeTable("means.csv", { header: ["region", "mean"], rows: [["north, east", 5.5]], counts: [12], contributions: [[1000, ...Array(11).fill(1)]] });
co.declare("fit.json", "regression", { residualDf: 5 });
co.declare("w.bin", "model");
fs.writeFileSync(co.outputDir() + "/fit.json", '{"coef": [1.5]}\\n');
fs.writeFileSync(co.outputDir() + "/w.bin", Buffer.from([0, 1, 2]));
`;

describe("runtime/disclosure/helpers: the python3 and node job helpers, run for real and checked", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-disc-helpers-"));
    await mkdir(join(dir, "out"));
    await writeFile(join(dir, "in.csv"), "id,region,income\n1,north,1000\n");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function checked(): Promise<DisclosureReport> {
    const out = join(dir, "out");
    return checkDisclosure({
      outputDir: out,
      outputs: await manifestOf(out),
      inputs: [{ key: "acme/people", path: join(dir, "in.csv"), format: "csv" }],
      policy: { mode: "review", thresholds: DISCLOSURE_DEFAULTS, releaseOnPass: true, quasiIdentifiers: {} },
    });
  }

  for (const [lang, cmd, script] of [
    ["python3", "python3", PYTHON],
    ["node", process.execPath, NODE],
  ] as const) {
    it(`GIVEN the ${lang} helper wrote the outputs THEN each gets the verdict its rules give`, async () => {
      const file = join(dir, lang === "node" ? "job.js" : "job.py");
      await writeFile(file, script);
      await run(cmd, [file], { env: { ...process.env, CLEANROOM_OUTPUT: join(dir, "out") } });
      const manifest = JSON.parse(await readFile(join(dir, "out", "outputs.json"), "utf8"));
      expect(manifest.outputs.map((o: { path: string }) => o.path)).to.deep.equal(["clean.csv", "small.csv", "means.csv", "fit.json", "w.bin"]);
      expect(manifest.outputs[2].cells[0].contributions.total).to.equal(1011);
      const r = await checked();
      const by = Object.fromEntries(r.outputs.map((o) => [o.path, [o.verdict, ...o.findings.map((f) => f.rule)]]));
      expect(by).to.deep.equal({
        "clean.csv": ["pass"],
        "small.csv": ["fail", "min-cell-count"],
        "means.csv": ["fail", "dominance", "p-percent"],
        "fit.json": ["fail", "residual-df"],
        "w.bin": ["review", "unjudgeable"],
      });
      expect(r.verdict).to.equal("fail");
    });

    it(`GIVEN the ${lang} helper is given a count that is not a whole number THEN it refuses with a clear message`, async () => {
      const bad =
        lang === "node"
          ? `require(${JSON.stringify(join(HELPERS, "cleanroom-outputs.js"))}).writeTable("t.csv", { header: ["a"], rows: [["x"]], counts: [1.5] });`
          : `import sys\nsys.path.insert(0, ${JSON.stringify(HELPERS)})\nimport cleanroom_outputs as co\nco.write_table("t.csv", ["a"], [["x"]], counts=[1.5])\n`;
      const file = join(dir, lang === "node" ? "bad.js" : "bad.py");
      await writeFile(file, bad);
      let stderr = "";
      try {
        await run(cmd, [file], { env: { ...process.env, CLEANROOM_OUTPUT: join(dir, "out") } });
      } catch (err) {
        stderr = (err as { stderr: string }).stderr;
      }
      expect(stderr).to.contain("each count must be an integer >= 0");
    });
  }
});

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { manifestOf } from "../../src/core/digest.js";
import { DISCLOSURE_DEFAULTS, type DisclosurePolicy, type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { checkDisclosure, formatReport } from "../../src/runtime/disclosure/index.js";

const INPUT = [
  "id,name,age,zip,income",
  "1,Zebediah Quux,34,10001,51000",
  "2,Bob Stone,45,10002,48000",
  "3,Carol Diaz,34,10001,73000",
  "4,Dan Wu,29,10003,39000",
  "5,Eve Ray,34,10001,66000",
].join("\n");

function policy(mode = "enforce", qi: string[] = []): DisclosurePolicy {
  return { mode, thresholds: DISCLOSURE_DEFAULTS, releaseOnPass: true, quasiIdentifiers: qi.length > 0 ? { "acme/people": qi } : {} };
}

describe("runtime/disclosure/check: checkDisclosure on real output directories", () => {
  let dir: string;
  let out: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-disc-check-"));
    out = join(dir, "out");
    await writeFile(join(dir, "people.csv"), `${INPUT}\n`);
    await mkdir(out);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(files: Record<string, string | Buffer>, manifest?: unknown, p: DisclosurePolicy = policy()): Promise<DisclosureReport> {
    for (const [name, body] of Object.entries(files)) await writeFile(join(out, name), body);
    if (manifest !== undefined) await writeFile(join(out, "outputs.json"), typeof manifest === "string" ? manifest : JSON.stringify(manifest));
    return checkDisclosure({
      outputDir: out,
      outputs: await manifestOf(out),
      inputs: [{ key: "acme/people", path: join(dir, "people.csv"), format: "csv" }],
      policy: p,
    });
  }

  const table = (path: string, cells: unknown[]) => ({ version: 1, outputs: [{ path, kind: "table", cells }] });

  it("GIVEN a clean count table THEN pass, not withheld, and outputs.json is not an output", async () => {
    const r = await check({ "counts.csv": "age,n\n30-39,120\n40-49,85\n" }, table("counts.csv", [{ count: 120 }, { count: 85 }]));
    expect(r.verdict).to.equal("pass");
    expect(r.withheld).to.equal(false);
    expect(r.outputs).to.deep.equal([{ path: "counts.csv", kind: "table", verdict: "pass", findings: [] }]);
    expect(r.policyDigest).to.equal(disclosurePolicyDigest(r.policy));
  });

  it("GIVEN a count table with a cell of 3 THEN fail (min-cell-count), withheld under enforce, held (not withheld) under review", async () => {
    const files = { "counts.csv": "age,n\n30-39,120\n90-99,3\n" };
    const m = table("counts.csv", [{ count: 120 }, { count: 3 }]);
    const enforce = await check(files, m);
    expect(enforce.verdict).to.equal("fail");
    expect(enforce.withheld).to.equal(true);
    expect(enforce.outputs[0].findings.map((f) => [f.rule, f.cells])).to.deep.equal([["min-cell-count", [1]]]);
    const review = await check(files, m, policy("review"));
    expect(review.verdict).to.equal("fail");
    expect(review.withheld).to.equal(false);
  });

  it("GIVEN a regression with 5 residual df THEN fail (residual-df)", async () => {
    const r = await check({ "fit.json": '{"coef":[0.5,1.25]}\n' }, { version: 1, outputs: [{ path: "fit.json", kind: "regression", residualDf: 5 }] });
    expect(r.outputs[0].findings.map((f) => f.rule)).to.deep.equal(["residual-df"]);
    expect(r.verdict).to.equal("fail");
  });

  it("GIVEN a mean dominated by one record THEN fail (dominance, p-percent)", async () => {
    const r = await check(
      { "means.csv": "region,mean_income\nnorth,98765.4321\n" },
      table("means.csv", [{ count: 12, contributions: { top: [1_000_000, 2000], total: 1_020_000 } }]),
    );
    expect(r.outputs[0].findings.map((f) => f.rule)).to.deep.equal(["dominance", "p-percent"]);
  });

  it("GIVEN a text output that copies one input row THEN fail (verbatim-rows) naming its line", async () => {
    const r = await check({ "notes.txt": "summary\n2,Bob Stone,45,10002,48000\n" }, { version: 1, outputs: [{ path: "notes.txt", kind: "text" }] });
    expect(r.outputs[0].findings.map((f) => [f.rule, f.cells, f.count])).to.deep.equal([["verbatim-rows", [1], 1]]);
    expect(r.verdict).to.equal("fail");
  });

  it("GIVEN a line with a quasi-identifier combination unique in the input THEN fail (unique-quasi-identifiers)", async () => {
    const r = await check(
      { "t.csv": "zip,age,n\n10001,34,3\n10003,29,1\n" },
      table("t.csv", [{ count: 30 }, { count: 10 }]),
      policy("enforce", ["age", "zip"]),
    );
    expect(r.outputs[0].findings.map((f) => [f.rule, f.cells])).to.deep.equal([["unique-quasi-identifiers", [2]]]);
  });

  it("GIVEN a model file and an undeclared file THEN review (unjudgeable), not withheld", async () => {
    const r = await check({ "w.bin": Buffer.from([0, 1, 2, 3]), "extra.dat": Buffer.from([0, 9]) }, { version: 1, outputs: [{ path: "w.bin", kind: "model" }] });
    expect(r.outputs.map((o) => [o.path, o.kind, o.verdict])).to.deep.equal([
      ["extra.dat", "other", "review"],
      ["w.bin", "model", "review"],
    ]);
    expect(r.verdict).to.equal("review");
    expect(r.withheld).to.equal(false);
  });

  it("GIVEN a binary file declared text THEN invalid-declaration; a binary regression THEN review (it could not be read for rows)", async () => {
    const r = await check(
      { "t.txt": Buffer.from([0, 1, 2]), "fit.rds": Buffer.from([0x58, 0x0a, 0]) },
      { version: 1, outputs: [{ path: "t.txt", kind: "text" }, { path: "fit.rds", kind: "regression", residualDf: 40 }] },
    );
    expect(r.outputs.map((o) => [o.path, o.verdict, o.findings.map((f) => f.rule)])).to.deep.equal([
      ["fit.rds", "review", ["unjudgeable"]],
      ["t.txt", "fail", ["invalid-declaration"]],
    ]);
  });

  it("GIVEN an output path that leaves the output directory THEN invalid-manifest", async () => {
    let code = "";
    try {
      await checkDisclosure({ outputDir: out, outputs: [{ path: "../people.csv", bytes: 1, sha256: "0".repeat(64) }], inputs: [], policy: policy() });
    } catch (err) {
      code = (err as { code: string }).code;
    }
    expect(code).to.equal("invalid-manifest");
  });

  it("GIVEN an invalid manifest THEN every output fails with invalid-declaration, without a crash", async () => {
    const r = await check({ "counts.csv": "age,n\n30-39,120\n", "notes.txt": "hello\n" }, "{ not json at all");
    expect(r.outputs.map((o) => [o.verdict, o.findings[0].rule])).to.deep.equal([
      ["fail", "invalid-declaration"],
      ["fail", "invalid-declaration"],
    ]);
    expect(r.withheld).to.equal(true);
  });

  it("GIVEN a table whose file has more rows than declared cells THEN fail (invalid-declaration)", async () => {
    const r = await check({ "counts.csv": "age,n\n30-39,120\n40-49,3\n" }, table("counts.csv", [{ count: 120 }]));
    expect(r.outputs[0].findings.map((f) => f.rule)).to.deep.equal(["invalid-declaration"]);
  });

  it("GIVEN mode off THEN nothing is checked and the report says so", async () => {
    const r = await check({ "notes.txt": "2,Bob Stone,45,10002,48000\n" }, undefined, policy("off"));
    expect(r).to.deep.include({ outputs: [], verdict: "pass", withheld: false });
    expect(formatReport(r)).to.contain("policy is off");
  });

  it("GIVEN an unknown mode or input format THEN a clear error", async () => {
    let code = "";
    try {
      await check({}, undefined, policy("strict"));
    } catch (err) {
      code = (err as { code: string }).code;
    }
    expect(code).to.equal("invalid-policy");
    try {
      await checkDisclosure({ outputDir: out, outputs: [], inputs: [{ key: "a/b", path: "x", format: "xlsx" }], policy: policy() });
      code = "";
    } catch (err) {
      code = (err as { code: string }).code;
    }
    expect(code).to.equal("invalid-argument");
  });

  it("GIVEN failing outputs THEN neither the report's JSON nor its table holds the failing cell's value or the copied row", async () => {
    const r = await check(
      {
        "means.csv": "region,mean_income\nnorth,98765.4321\n",
        "dump.csv": "id,name,age,zip,income\n1,Zebediah Quux,34,10001,51000\n",
      },
      {
        version: 1,
        outputs: [
          { path: "means.csv", kind: "table", cells: [{ count: 2, contributions: { top: [197000, 530.8642], total: 197530.8642 } }] },
          { path: "dump.csv", kind: "text" },
        ],
      },
    );
    expect(r.verdict).to.equal("fail");
    const everything = `${JSON.stringify(r)}\n${formatReport(r)}`;
    for (const secret of ["98765", "Zebediah", "Quux", "51000", "197000", "530.86"]) expect(everything).not.to.contain(secret);
    expect(formatReport(r)).to.match(/min-cell-count/).and.match(/verbatim-rows/);
  });

  it("GIVEN an output named with terminal control characters THEN the table prints it quoted", async () => {
    const r = await check(
      { "a\u001b[2Jb.txt": "hello\n", "x\u202eu.txt": "hi\n" },
      { version: 1, outputs: [{ path: "a\u001b[2Jb.txt", kind: "text" }, { path: "x\u202eu.txt", kind: "text" }] },
    );
    expect(formatReport(r)).not.to.contain("\u001b");
    expect(formatReport(r)).not.to.contain("\u202e");
    expect(formatReport(r)).to.contain('"a\\u001b[2Jb.txt"');
  });
});

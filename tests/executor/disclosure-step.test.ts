/**
 * The executor's disclosure step on real output files: an output that copies a file of an input `files` tree byte for
 * byte fails `verbatim-rows` whatever kind the job declared (the record-level check reads tables only), and in
 * `enforce` mode every output is withheld and named by its place.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { DISCLOSURE_DEFAULTS, type DisclosurePolicy, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { manifestOf, sha256Hex } from "../../src/core/digest.js";
import { checkJobDisclosure } from "../../src/runtime/executor/disclosure.js";

describe("executor: the disclosure step against input trees", () => {
  let dir: string;
  const weights = Buffer.from(JSON.stringify({ weights: { age: 0.731, bmi: -1.25 }, bias: 0.5 }));
  const policy = (mode: string): DisclosurePolicy => ({ mode, thresholds: DISCLOSURE_DEFAULTS, releaseOnPass: true, quasiIdentifiers: {} });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-disclosure-step-"));
    writeFileSync(join(dir, "copied.txt"), weights);
    writeFileSync(join(dir, "scores.json"), '{"accuracy": 0.93}\n');
    // The job declares the copy as text, a kind the checker would otherwise pass.
    writeFileSync(join(dir, "outputs.json"), JSON.stringify({ version: 1, outputs: [{ path: "copied.txt", kind: "text" }] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN an output with the bytes of a tree's file WHEN checked in review mode THEN it fails verbatim-rows, the other output is only `review`, and the manifest is not released", async () => {
    const r = await checkJobDisclosure(dir, await manifestOf(dir), [], policy("review"), new Set([sha256Hex(weights)]));
    expect(r.outputs.map((e) => e.path)).to.deep.equal(["copied.txt", "scores.json"]);
    const copied = r.report.outputs.find((o) => o.path === "copied.txt")!;
    expect(copied.verdict).to.equal("fail");
    expect(copied.findings.map((f) => f.rule)).to.deep.equal(["verbatim-rows"]);
    expect(copied.findings[0]!.detail).to.contain("byte-for-byte copy of a file of an input files dataset");
    expect(r.report.outputs.find((o) => o.path === "scores.json")!.verdict).to.equal("review");
    expect(r.report.verdict).to.equal("fail");
    expect(r.failure).to.equal(undefined);
    // The report never carries the copied bytes.
    expect(JSON.stringify(r.report)).to.not.contain("0.731");
  });

  it("GIVEN the same outputs and no input tree WHEN checked THEN the declared text passes", async () => {
    const r = await checkJobDisclosure(dir, await manifestOf(dir), [], policy("review"));
    expect(r.report.outputs.find((o) => o.path === "copied.txt")!.verdict).to.equal("pass");
  });

  it("GIVEN the copy in enforce mode THEN every output is withheld, named by place, with a disclosure failure", async () => {
    const r = await checkJobDisclosure(dir, await manifestOf(dir), [], policy("enforce"), new Set([sha256Hex(weights)]));
    expect(r.outputs).to.deep.equal([]);
    expect(r.report.withheld).to.equal(true);
    expect(r.report.outputs.map((o) => o.path)).to.not.include("copied.txt");
    expect(r.failure?.code).to.equal("disclosure");
    expect(r.failure?.message).to.contain("verbatim-rows");
  });

  it("GIVEN mode off THEN nothing is checked: every output but the manifest released, an empty passing report of that policy", async () => {
    const r = await checkJobDisclosure(dir, await manifestOf(dir), [], policy("off"), new Set([sha256Hex(weights)]));
    expect(r.outputs.map((e) => e.path)).to.deep.equal(["copied.txt", "scores.json"]);
    expect(r.report).to.deep.equal({ version: 1, policyDigest: disclosurePolicyDigest(policy("off")), policy: policy("off"), outputs: [], verdict: "pass", withheld: false });
    expect(r.failure).to.equal(undefined);
  });

  it("GIVEN enforce mode and outputs that are only to review (no copy) THEN nothing is withheld", async () => {
    const r = await checkJobDisclosure(dir, await manifestOf(dir), [], policy("enforce"));
    expect(r.report.verdict).to.equal("review");
    expect(r.report.withheld).to.equal(false);
    expect(r.outputs.map((e) => e.path)).to.deep.equal(["copied.txt", "scores.json"]);
    expect(r.failure).to.equal(undefined);
  });

  it("GIVEN two copies and an output to review in enforce mode THEN the failure counts the failed outputs among all", async () => {
    const three = mkdtempSync(join(tmpdir(), "acr-disclosure-step-3-"));
    try {
      writeFileSync(join(three, "a.txt"), weights);
      writeFileSync(join(three, "b.txt"), weights);
      writeFileSync(join(three, "scores.json"), '{"accuracy": 0.93}\n');
      const r = await checkJobDisclosure(three, await manifestOf(three), [], policy("enforce"), new Set([sha256Hex(weights)]));
      expect(r.report.outputs.map((o) => o.verdict)).to.deep.equal(["fail", "fail", "review"]);
      expect(r.failure?.message).to.match(/^2 of 3 output\(s\) failed the disclosure checks \(verbatim-rows\)/);
    } finally {
      rmSync(three, { recursive: true, force: true });
    }
  });
});

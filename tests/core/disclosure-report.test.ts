/** The disclosure report in a receipt: shape, verdict consistency, policy digest, one check per output, withheld outputs. */
import { expect } from "chai";
import { resolveDisclosurePolicy, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { withheldPath } from "../../src/core/disclosure-report.js";
import { type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { type Receipt, receiptProblems } from "../../src/core/receipt.js";
import { validReceipt } from "./fixtures.js";

function policy(mode = "review") {
  return resolveDisclosurePolicy({ output: { requireRelease: false, disclosure: resolveOutputDisclosure({ mode }) }, providers: [{ name: "hospital-a", datasets: [{ name: "patients" }] }] }, [
    { provider: "hospital-a", dataset: "patients" },
  ]);
}

function report(over: Partial<DisclosureReport> = {}): DisclosureReport {
  const p = over.policy ?? policy();
  return {
    version: 1,
    policyDigest: disclosurePolicyDigest(p),
    policy: p,
    outputs: [
      { path: "model/coef.csv", kind: "regression", verdict: "pass", findings: [] },
      { path: "report.txt", kind: "other", verdict: "review", findings: [{ rule: "unjudgeable", count: 1, detail: "an undeclared file: no rule can judge it" }] },
    ],
    verdict: "review",
    withheld: false,
    ...over,
  };
}

function problems(r: unknown, receipt: Partial<Receipt> = {}): string[] {
  return receiptProblems({ ...validReceipt(), disclosure: r, ...receipt });
}

describe("core/disclosure-report: receipt.disclosure", () => {
  it("GIVEN a consistent report THEN the receipt is valid", () => {
    expect(problems(report())).to.deep.equal([]);
  });

  it("GIVEN an edited verdict THEN the output's and the job's verdicts are said to disagree with the findings", () => {
    const r = report();
    const edited = { ...r, verdict: "pass", outputs: [r.outputs[0]!, { ...r.outputs[1]!, verdict: "pass" }] };
    const p = problems(edited);
    expect(p).to.include('receipt.disclosure.outputs[1].verdict is "pass" but its findings give "review"');
  });

  it("GIVEN a job verdict better than its worst output THEN it is refused", () => {
    expect(problems({ ...report(), verdict: "pass" })).to.deep.equal(['receipt.disclosure.verdict is "pass" but the worst verdict of its outputs is "review"']);
  });

  it("GIVEN a policy edited after the digest THEN the digest no longer matches", () => {
    const r = report();
    expect(problems({ ...r, policy: { ...r.policy, thresholds: { ...r.policy.thresholds, minCellCount: 3 } } })).to.deep.equal([
      "receipt.disclosure.policyDigest is not the digest of receipt.disclosure.policy: the report was edited",
    ]);
  });

  it("GIVEN a receipt output without a check, or checks in another order THEN it is refused", () => {
    const r = report();
    expect(problems({ ...r, outputs: [r.outputs[0]!], verdict: "pass" })).to.deep.equal(["receipt.disclosure.outputs must check every receipt output exactly once, in the receipt's order"]);
    expect(problems({ ...r, outputs: [r.outputs[1]!, r.outputs[0]!] })).to.deep.equal(["receipt.disclosure.outputs must check every receipt output exactly once, in the receipt's order"]);
  });

  it("GIVEN an unknown rule or a finding listing over 100 cells THEN the finding is refused", () => {
    const r = report();
    const bad = { ...r.outputs[1]!, findings: [{ rule: "vibes", count: 1, detail: "x" }] };
    expect(problems({ ...r, outputs: [r.outputs[0]!, bad] })[0]).to.match(/^receipt\.disclosure\.outputs\[1\]\.findings\[0\] must be \{rule/);
    const many = { ...r.outputs[1]!, verdict: "fail", findings: [{ rule: "min-cell-count", cells: Array.from({ length: 101 }, (_, i) => i), count: 101, detail: "x" }] };
    expect(problems({ ...r, verdict: "fail", outputs: [r.outputs[0]!, many] })[0]).to.match(/findings\[0\] must be/);
  });

  it("GIVEN enforce mode with a failure THEN outputs must be withheld, on a failed receipt, named by place", () => {
    const p = policy("enforce");
    const failing = { kind: "table", verdict: "fail", findings: [{ rule: "min-cell-count", cells: [2], count: 1, detail: "a cell counts fewer than 10 records" }] };
    const withheld = report({ policy: p, policyDigest: disclosurePolicyDigest(p), verdict: "fail", withheld: true, outputs: [{ path: withheldPath(0), ...failing }] });
    expect(problems(withheld, { status: "failed", errorCode: "disclosure", error: "withheld", outputs: [] })).to.deep.equal([]);
    expect(problems({ ...withheld, withheld: false }, { status: "failed", errorCode: "disclosure", error: "withheld", outputs: [] })).to.include(
      "receipt.disclosure.withheld must be true: a failed check in enforce mode withholds every output",
    );
    expect(problems({ ...withheld, outputs: [{ path: "secret-row.csv", ...failing }] }, { status: "failed", errorCode: "disclosure", error: "withheld", outputs: [] })).to.deep.equal([
      "receipt.disclosure.outputs of withheld outputs are named by their place (withheld-1, …), never by the job's names",
    ]);
    expect(problems(withheld)).to.include('receipt.disclosure.withheld needs receipt.status "failed" with errorCode "disclosure"');
  });

  it("GIVEN mode off THEN the report checks nothing", () => {
    const p = policy("off");
    const off = { version: 1, policyDigest: disclosurePolicyDigest(p), policy: p, outputs: [], verdict: "pass", withheld: false };
    expect(problems(off)).to.deep.equal([]);
    expect(problems({ ...report({ policy: p, policyDigest: disclosurePolicyDigest(p) }) })).to.include('receipt.disclosure: a report of mode "off" checks nothing (no outputs, not withheld)');
  });
});

/** The disclosure policy: spec validation, the room's defaults, and a job's effective policy (the strictest wins). */
import { expect } from "chai";
import { type DisclosureRoom, holdReason, resolveDisclosurePolicy, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { DISCLOSURE_DEFAULTS, type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { specProblems } from "../../src/core/spec.js";

const schema = { columns: [{ name: "age", type: "numeric", min: 0, max: 120 }, { name: "sex", type: "categorical", categories: ["F", "M"] }] };

function spec(output: unknown, disclosure?: unknown): unknown {
  return { providers: [{ name: "hosp", datasets: [{ name: "patients", schema, ...(disclosure === undefined ? {} : { disclosure }) }] }], ...(output === undefined ? {} : { output }) };
}

function room(over: Partial<DisclosureRoom["output"]> = {}, datasets: Record<string, unknown> = {}): DisclosureRoom {
  return {
    output: { requireRelease: false, disclosure: resolveOutputDisclosure(undefined), ...over },
    providers: [
      { name: "a", datasets: [{ name: "x", ...(datasets.x ? { disclosure: datasets.x } : {}) }] },
      { name: "b", datasets: [{ name: "y", ...(datasets.y ? { disclosure: datasets.y } : {}) }] },
    ],
  } as DisclosureRoom;
}

const BOTH = [
  { provider: "a", dataset: "x" },
  { provider: "b", dataset: "y" },
];

describe("core/disclosure-policy: spec validation", () => {
  it("GIVEN a valid room and dataset disclosure THEN there is no problem", () => {
    expect(specProblems(spec({ disclosure: { mode: "enforce", releaseOnPass: false, minCellCount: 20, dominanceK: 80 } }, { quasiIdentifiers: ["age", "sex"], mode: "review" }))).to.deep.equal([]);
  });

  it("GIVEN a bad mode, a bad threshold and an unknown key THEN each is named with its path and how to fix it", () => {
    const p = specProblems(spec({ disclosure: { mode: "strict", minCellCount: 2.5, dominanceK: 0, colour: 1 } }));
    expect(p).to.have.length(4);
    expect(p.join("\n")).to.include('output.disclosure.mode must be one of review, enforce, off (got "strict")');
    expect(p.join("\n")).to.include("output.disclosure.minCellCount must be a whole number from 1 to 1000000 (got 2.5); ACRO's default is 10");
    expect(p.join("\n")).to.include("output.disclosure.dominanceK must be a number greater than 0 and at most 100 (got 0)");
    expect(p.join("\n")).to.include("output.disclosure.colour is not a known field");
  });

  it("GIVEN a quasi-identifier that is not a schema column THEN the problem lists the columns", () => {
    expect(specProblems(spec(undefined, { quasiIdentifiers: ["age", "postcode"] }))).to.deep.equal([
      'providers[0].datasets[0].disclosure.quasiIdentifiers[1] "postcode" is not a column of the dataset\'s schema (columns: age, sex)',
    ]);
  });

  it("GIVEN releaseOnPass that is not a boolean THEN it is refused", () => {
    expect(specProblems(spec(undefined, { releaseOnPass: "no" }))).to.deep.equal(['providers[0].datasets[0].disclosure.releaseOnPass must be a boolean (got "no")']);
  });
});

describe("core/disclosure-policy: resolveDisclosurePolicy", () => {
  it("GIVEN no settings THEN the policy is review, ACRO's thresholds, release on pass", () => {
    expect(resolveDisclosurePolicy(room(), BOTH)).to.deep.equal({ mode: "review", thresholds: DISCLOSURE_DEFAULTS, releaseOnPass: true, quasiIdentifiers: {} });
  });

  it("GIVEN no thresholds anywhere THEN the room uses ACRO/SACRO's published values (10 records a cell, dominance 2/90 %, p 10 %, 10 residual df) and at most 10,000 table rows", () => {
    // Written out, not read from DISCLOSURE_DEFAULTS: a changed default would silently loosen every room without a spec.
    expect(resolveDisclosurePolicy(room(), BOTH).thresholds).to.deep.equal({
      minCellCount: 10,
      dominanceN: 2,
      dominanceK: 90,
      pPercent: 10,
      minResidualDf: 10,
      maxTableRows: 10_000,
    });
  });

  it("GIVEN a descriptor exported before disclosure existed THEN the defaults apply", () => {
    const r = room();
    const old = { ...r, output: { requireRelease: false } };
    expect(resolveDisclosurePolicy(old, BOTH)).to.deep.equal(resolveDisclosurePolicy(r, BOTH));
  });

  it("GIVEN two datasets with thresholds THEN each threshold is the strictest (larger minimums, smaller maximums and k)", () => {
    const p = resolveDisclosurePolicy(room({}, { x: { minCellCount: 20, dominanceK: 95, maxTableRows: 500 }, y: { minCellCount: 15, dominanceK: 70, minResidualDf: 5, pPercent: 25 } }), BOTH);
    expect(p.thresholds).to.deep.equal({ minCellCount: 20, dominanceN: 2, dominanceK: 70, pPercent: 25, minResidualDf: 10, maxTableRows: 500 });
  });

  it("GIVEN a dataset the job does not read THEN its settings do not apply", () => {
    const p = resolveDisclosurePolicy(room({}, { y: { minCellCount: 50, mode: "enforce" } }), [{ provider: "a", dataset: "x" }]);
    expect(p.thresholds.minCellCount).to.equal(10);
    expect(p.mode).to.equal("review");
  });

  it("GIVEN modes THEN the strictest wins and a dataset's off never loosens the room", () => {
    expect(resolveDisclosurePolicy(room({}, { x: { mode: "enforce" } }), BOTH).mode).to.equal("enforce");
    expect(resolveDisclosurePolicy(room({}, { x: { mode: "off" } }), BOTH).mode).to.equal("review");
    const off = room({ disclosure: { ...resolveOutputDisclosure({ mode: "off" }) } });
    expect(resolveDisclosurePolicy(off, BOTH).mode).to.equal("off");
    expect(resolveDisclosurePolicy(room({ disclosure: resolveOutputDisclosure({ mode: "off" }) }, { y: { mode: "review" } }), BOTH).mode).to.equal("review");
  });

  it("GIVEN requireRelease, or one dataset with releaseOnPass false THEN passing outputs do not flow", () => {
    expect(resolveDisclosurePolicy(room({ requireRelease: true }), BOTH).releaseOnPass).to.equal(false);
    expect(resolveDisclosurePolicy(room({}, { y: { releaseOnPass: false } }), BOTH).releaseOnPass).to.equal(false);
    expect(resolveDisclosurePolicy(room({}, { y: { releaseOnPass: true } }), BOTH).releaseOnPass).to.equal(true);
  });

  it("GIVEN quasi-identifiers THEN they are keyed by provider/dataset and sorted", () => {
    expect(resolveDisclosurePolicy(room({}, { x: { quasiIdentifiers: ["sex", "age"] } }), BOTH).quasiIdentifiers).to.deep.equal({ "a/x": ["age", "sex"] });
  });

  it("GIVEN the same settings in another order THEN the policy digest is the same", () => {
    const a = resolveDisclosurePolicy(room({}, { x: { quasiIdentifiers: ["sex", "age"] } }), BOTH);
    const b = resolveDisclosurePolicy(room({}, { x: { quasiIdentifiers: ["age", "sex"] } }), [...BOTH].reverse());
    expect(disclosurePolicyDigest(a)).to.equal(disclosurePolicyDigest(b));
  });
});

describe("core/disclosure-policy: holdReason", () => {
  const policy = resolveDisclosurePolicy(room(), BOTH);
  function report(verdict: string, over: Partial<DisclosureReport> = {}): DisclosureReport {
    const rule = verdict === "fail" ? "min-cell-count" : "unjudgeable";
    const findings = verdict === "pass" ? [] : [{ rule, count: 1, detail: "d" }];
    return { version: 1, policyDigest: disclosurePolicyDigest(policy), policy, outputs: [{ path: "t.csv", kind: "table", verdict, findings }], verdict, withheld: false, ...over };
  }

  it("GIVEN a clean pass that may flow THEN it is not held; GIVEN fail or review THEN it is, naming the rule", () => {
    expect(holdReason(report("pass"), false)).to.equal(undefined);
    expect(holdReason(report("fail"), false)).to.include("(min-cell-count)");
    expect(holdReason(report("review"), false)).to.include("no rule can judge");
  });

  it("GIVEN a pass with releaseOnPass false, or requireRelease THEN it is held", () => {
    expect(holdReason(report("pass", { policy: { ...policy, releaseOnPass: false } }), false)).to.include("releaseOnPass: false");
    expect(holdReason(report("pass"), true)).to.include("output.requireRelease");
  });

  it("GIVEN mode off or no report THEN only requireRelease holds", () => {
    expect(holdReason(report("pass", { policy: { ...policy, mode: "off" }, outputs: [] }), false)).to.equal(undefined);
    expect(holdReason(undefined, false)).to.equal(undefined);
    expect(holdReason(undefined, true)).to.include("requireRelease");
  });
});

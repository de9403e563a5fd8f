/**
 * disclosureReportProblems, one thing wrong at a time, with the exact problem list: a verifier refuses a report whose
 * shape, policy, verdicts or withholding do not add up, and says which field. Also `worstVerdict` and `verdictOf`,
 * which every verdict check rests on.
 */
import { expect } from "chai";
import { resolveDisclosurePolicy, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { disclosureReportProblems, verdictOf, withheldPath, worstVerdict } from "../../src/core/disclosure-report.js";
import { type DisclosurePolicy, disclosurePolicyDigest } from "../../src/core/disclosure.js";

const P = "receipt.disclosure";
const SHAPE = (i: number) => `${P}.outputs[${i}] must be {path, kind, verdict, findings}`;
const FINDING = (i: number, j: number) =>
  `${P}.outputs[${i}].findings[${j}] must be {rule (one of min-cell-count, dominance, p-percent, zero-cells, residual-df, verbatim-rows, unique-quasi-identifiers, max-table-rows, invalid-declaration, unjudgeable), cells? (at most 100 indices), count, detail (printable)}`;
const EVERY_OUTPUT = `${P}.outputs must check every receipt output exactly once, in the receipt's order`;

function policy(mode = "review"): DisclosurePolicy {
  return resolveDisclosurePolicy({ output: { requireRelease: false, disclosure: resolveOutputDisclosure({ mode }) }, providers: [{ name: "hospital-a", datasets: [{ name: "patients" }] }] }, [
    { provider: "hospital-a", dataset: "patients" },
  ]);
}

const RECEIPT_OUTPUTS = [{ path: "model/coef.csv" }, { path: "report.txt" }];
const PASS = { path: "model/coef.csv", kind: "regression", verdict: "pass", findings: [] };
const REVIEW = { path: "report.txt", kind: "other", verdict: "review", findings: [{ rule: "unjudgeable", count: 1, detail: "an undeclared file" }] };
const FAIL_FINDING = { rule: "min-cell-count", cells: [2], count: 1, detail: "a cell counts fewer than 10 records" };

/** A consistent report of a succeeded job with RECEIPT_OUTPUTS, `over` replacing fields (the digest follows `policy`). */
function report(over: Record<string, unknown> = {}): Record<string, unknown> {
  const p = (over.policy as DisclosurePolicy | undefined) ?? policy();
  return { version: 1, policyDigest: disclosurePolicyDigest(p), policy: p, outputs: [PASS, REVIEW], verdict: "review", withheld: false, ...over };
}

/** The problems of `r` on a succeeded receipt with RECEIPT_OUTPUTS. */
const problems = (r: unknown) => disclosureReportProblems(r, RECEIPT_OUTPUTS, "succeeded", undefined);

/** The report with its second output replaced by `o` (and the job's verdict `verdict`). */
const withSecond = (o: unknown, verdict = "review") => report({ outputs: [PASS, o], verdict });

describe("core/disclosure-report: worstVerdict and verdictOf", () => {
  it("GIVEN verdicts THEN the worst: fail over review over pass, whatever the order; pass when there are none", () => {
    expect(worstVerdict([])).to.equal("pass");
    expect(worstVerdict(["pass", "review", "pass"])).to.equal("review");
    expect(worstVerdict(["fail", "review"])).to.equal("fail");
    expect(worstVerdict(["review", "fail", "pass"])).to.equal("fail");
  });

  it("GIVEN an unknown verdict THEN it ranks as a failure (a report naming one never passes), after a fail already seen", () => {
    expect(worstVerdict(["pass", "bogus"])).to.equal("bogus");
    expect(worstVerdict(["fail", "bogus"])).to.equal("fail");
  });

  it("GIVEN findings THEN pass when none, review when all are unjudgeable, fail as soon as one is not", () => {
    expect(verdictOf([])).to.equal("pass");
    expect(verdictOf([{ rule: "unjudgeable" }, { rule: "unjudgeable" }])).to.equal("review");
    expect(verdictOf([{ rule: "unjudgeable" }, { rule: "min-cell-count" }])).to.equal("fail");
  });
});

describe("core/disclosure-report: the report's own fields", () => {
  it("GIVEN the consistent report THEN no problem", () => {
    expect(problems(report())).to.deep.equal([]);
  });

  for (const [what, r] of [
    ["a string", "report"],
    ["null", null],
    ["an array", [report()]],
  ] as const) {
    it(`GIVEN a report that is ${what} THEN only that problem`, () => {
      expect(problems(r)).to.deep.equal([`${P} must be an object (the disclosure report)`]);
    });
  }

  it("GIVEN version 2 THEN only that problem", () => {
    expect(problems(report({ version: 2 }))).to.deep.equal([`${P}.version must be 1`]);
  });

  it("GIVEN withheld that is not a boolean THEN only that problem", () => {
    expect(problems(report({ withheld: "no" }))).to.deep.equal([`${P}.withheld must be a boolean`]);
  });

  it("GIVEN an unknown job verdict THEN only that problem (not also a disagreement with the outputs)", () => {
    expect(problems(report({ verdict: "fine" }))).to.deep.equal([`${P}.verdict must be one of pass, review, fail`]);
  });

  for (const [what, digest] of [
    ["a number", 5],
    ["not sha256:<64 hex>", "sha256:xyz"],
    ["an array holding the right digest", [disclosurePolicyDigest(policy())]],
  ] as const) {
    it(`GIVEN a policyDigest that is ${what} THEN only that problem`, () => {
      expect(problems(report({ policyDigest: digest }))).to.deep.equal([`${P}.policyDigest must be sha256:<64 hex>`]);
    });
  }

  it("GIVEN outputs that is not an array THEN that problem, after the others found", () => {
    expect(problems(report({ outputs: "all", version: 0 }))).to.deep.equal([`${P}.version must be 1`, `${P}.outputs must be an array`]);
  });
});

describe("core/disclosure-report: the policy", () => {
  const good = policy();

  for (const [what, p] of [
    ["a string", "review"],
    ["an array", [good]],
  ] as const) {
    it(`GIVEN a policy that is ${what} THEN only that problem (no digest comparison with it)`, () => {
      expect(problems(report({ policy: p, policyDigest: disclosurePolicyDigest(good) }))).to.deep.equal([`${P}.policy must be an object {mode, thresholds, releaseOnPass, quasiIdentifiers}`]);
    });
  }

  for (const [what, p, problem] of [
    ["an unknown mode", { ...good, mode: "strict" }, `${P}.policy.mode must be one of review, enforce, off`],
    ["releaseOnPass that is not a boolean", { ...good, releaseOnPass: "yes" }, `${P}.policy.releaseOnPass must be a boolean`],
    ["no thresholds", { ...good, thresholds: undefined }, `${P}.policy.thresholds must hold minCellCount, dominanceN, dominanceK, pPercent, minResidualDf, maxTableRows as numbers`],
    ["thresholds as an array", { ...good, thresholds: [10, 2, 90, 10, 10, 10000] }, `${P}.policy.thresholds must hold minCellCount, dominanceN, dominanceK, pPercent, minResidualDf, maxTableRows as numbers`],
    ["one threshold that is a string", { ...good, thresholds: { ...good.thresholds, pPercent: "10" } }, `${P}.policy.thresholds must hold minCellCount, dominanceN, dominanceK, pPercent, minResidualDf, maxTableRows as numbers`],
    ["quasiIdentifiers as an array", { ...good, quasiIdentifiers: ["age"] }, `${P}.policy.quasiIdentifiers must map <provider>/<dataset> to column names`],
    ["quasiIdentifiers mapping to a string", { ...good, quasiIdentifiers: { "hospital-a/patients": "age" } }, `${P}.policy.quasiIdentifiers must map <provider>/<dataset> to column names`],
    ["quasiIdentifiers listing a number", { ...good, quasiIdentifiers: { "hospital-a/patients": ["age", 5] } }, `${P}.policy.quasiIdentifiers must map <provider>/<dataset> to column names`],
  ] as const) {
    it(`GIVEN a policy with ${what} THEN only that problem (no digest comparison with a malformed policy)`, () => {
      // The digest is of the malformed policy: only the field itself is wrong.
      expect(problems(report({ policy: p, policyDigest: disclosurePolicyDigest(p as DisclosurePolicy) }))).to.deep.equal([problem]);
      // With the good policy's digest, still only the field: a malformed policy is never compared.
      expect(problems(report({ policy: p, policyDigest: disclosurePolicyDigest(good) }))).to.deep.equal([problem]);
    });
  }

  it("GIVEN quasi-identifiers listed for a dataset THEN valid", () => {
    const p = { ...good, quasiIdentifiers: { "hospital-a/patients": ["age", "postcode"] } };
    expect(problems(report({ policy: p }))).to.deep.equal([]);
  });
});

describe("core/disclosure-report: each output and its findings", () => {
  for (const [what, o, pathKept] of [
    ["a string", "report.txt", false],
    ["null", null, false],
    ["a path that is a number", { ...REVIEW, path: 5 }, false],
    ["an empty path", { ...REVIEW, path: "" }, false],
    ["a path with a control character", { ...REVIEW, path: "report\u0007.txt" }, false],
    ["findings that are not a list", { ...REVIEW, findings: "none" }, true],
  ] as const) {
    it(`GIVEN an output check that is ${what} THEN its shape is refused, and it gives the job no verdict`, () => {
      // The job's verdict is the worst of the well-formed outputs only (here: pass).
      expect(problems(withSecond(o, "pass"))).to.deep.equal(pathKept ? [SHAPE(1)] : [SHAPE(1), EVERY_OUTPUT]);
    });
  }

  it("GIVEN an unknown kind THEN only that problem", () => {
    expect(problems(withSecond({ ...REVIEW, kind: "picture" }))).to.deep.equal([`${P}.outputs[1].kind must be one of table, regression, model, text, other`]);
  });

  it("GIVEN findings at the edges (100 cells, cell 0, count 0) THEN valid", () => {
    const f = { ...FAIL_FINDING, cells: Array.from({ length: 100 }, (_, i) => i), count: 0 };
    expect(problems(withSecond({ ...REVIEW, verdict: "fail", findings: [f] }, "fail"))).to.deep.equal([]);
    expect(problems(withSecond({ ...REVIEW, verdict: "fail", findings: [{ ...FAIL_FINDING, cells: [0] }] }, "fail"))).to.deep.equal([]);
  });

  for (const [what, f] of [
    ["a string", "min-cell-count"],
    ["an unknown rule", { ...FAIL_FINDING, rule: "vibes" }],
    ["101 cells", { ...FAIL_FINDING, cells: Array.from({ length: 101 }, (_, i) => i), count: 101 }],
    ["cells that are not a list", { ...FAIL_FINDING, cells: 2 }],
    ["a negative cell", { ...FAIL_FINDING, cells: [-1] }],
    ["a negative cell after a valid one", { ...FAIL_FINDING, cells: [0, -1] }],
    ["a fractional cell", { ...FAIL_FINDING, cells: [1.5] }],
    ["a cell given as text", { ...FAIL_FINDING, cells: ["2"] }],
    ["a negative count", { ...FAIL_FINDING, count: -1 }],
    ["a fractional count", { ...FAIL_FINDING, count: 0.5 }],
    ["a detail that is a number", { ...FAIL_FINDING, detail: 5 }],
    ["a detail with a control character", { ...FAIL_FINDING, detail: "bad\u001b[2J" }],
  ] as const) {
    it(`GIVEN a finding that is ${what} THEN only that finding is refused (its output's verdict is not judged from it)`, () => {
      expect(problems(withSecond({ ...REVIEW, findings: [f] }))).to.deep.equal([FINDING(1, 0)]);
    });
  }

  it("GIVEN an output verdict that is not text THEN it is refused, and counts as a failure for the job's verdict", () => {
    const o = { ...REVIEW, verdict: 5, findings: [FAIL_FINDING] };
    expect(problems(withSecond(o, "fail"))).to.deep.equal([`${P}.outputs[1].verdict is 5 but its findings give "fail"`]);
  });
});

describe("core/disclosure-report: modes and withholding", () => {
  const enforce = policy("enforce");
  const off = policy("off");
  const failing = { kind: "table", verdict: "fail", findings: [FAIL_FINDING] };
  /** A report of `p` with one failed output, withheld or not, named `name`. */
  const failed = (p: DisclosurePolicy, withheld: boolean, name = withheldPath(0)) => report({ policy: p, outputs: [{ path: name, ...failing }], verdict: "fail", withheld });

  it("GIVEN mode off, nothing checked, but withheld THEN refused as off and as a withholding outside enforce mode", () => {
    expect(disclosureReportProblems(report({ policy: off, outputs: [], verdict: "pass", withheld: true }), [], "failed", "disclosure")).to.deep.equal([
      `${P}: a report of mode "off" checks nothing (no outputs, not withheld)`,
      `${P}.withheld is true but only a failed check in enforce mode withholds outputs`,
    ]);
  });

  it("GIVEN review mode and a failed output, not withheld THEN valid (review holds it in quarantine)", () => {
    expect(disclosureReportProblems(failed(policy("review"), false, "model/coef.csv"), [{ path: "model/coef.csv" }], "succeeded", undefined)).to.deep.equal([]);
  });

  it("GIVEN review mode and a failed output, withheld THEN refused: only enforce withholds", () => {
    expect(disclosureReportProblems(failed(policy("review"), true), [], "failed", "disclosure")).to.deep.equal([
      `${P}.withheld is true but only a failed check in enforce mode withholds outputs`,
    ]);
  });

  it("GIVEN enforce mode and a job verdict of review, not withheld THEN valid", () => {
    const r = report({ policy: enforce, outputs: [REVIEW], verdict: "review" });
    expect(disclosureReportProblems(r, [{ path: "report.txt" }], "succeeded", undefined)).to.deep.equal([]);
  });

  it("GIVEN enforce mode, a failure, withheld, on a failed receipt with errorCode disclosure and no outputs THEN valid", () => {
    expect(disclosureReportProblems(failed(enforce, true), [], "failed", "disclosure")).to.deep.equal([]);
  });

  for (const [what, status, code] of [
    ["a succeeded receipt", "succeeded", "disclosure"],
    ["a receipt failed for another reason", "failed", "job-failed"],
  ] as const) {
    it(`GIVEN withheld outputs on ${what} THEN refused`, () => {
      expect(disclosureReportProblems(failed(enforce, true), [], status, code)).to.deep.equal([`${P}.withheld needs receipt.status "failed" with errorCode "disclosure"`]);
    });
  }

  it("GIVEN withheld outputs but a receipt that lists outputs THEN refused", () => {
    expect(disclosureReportProblems(failed(enforce, true), [{ path: "x.csv" }], "failed", "disclosure")).to.deep.equal(["receipt.outputs must be empty when the disclosure checks withheld them"]);
  });

  it("GIVEN withheld outputs named by place for the first but by the job's name for the second THEN refused", () => {
    const r = report({ policy: enforce, outputs: [{ path: withheldPath(0), ...failing }, { path: "secret.csv", ...failing }], verdict: "fail", withheld: true });
    expect(disclosureReportProblems(r, [], "failed", "disclosure")).to.deep.equal([`${P}.outputs of withheld outputs are named by their place (withheld-1, …), never by the job's names`]);
  });

  it("GIVEN a report not withheld on a failed receipt THEN refused: it is only kept when the checks withheld the outputs", () => {
    expect(disclosureReportProblems(report(), RECEIPT_OUTPUTS, "failed", "job-failed")).to.deep.equal([`${P} is only kept on a failed receipt when the checks withheld the outputs`]);
  });

  it("GIVEN checks of the first receipt output and of another file THEN refused", () => {
    expect(problems(withSecond({ ...REVIEW, path: "other.txt" }))).to.deep.equal([EVERY_OUTPUT]);
  });

  it("GIVEN a receipt whose outputs are not a list and a report checking nothing THEN valid here (the receipt's own check refuses the list)", () => {
    expect(disclosureReportProblems(report({ outputs: [], verdict: "pass" }), undefined, "succeeded", undefined)).to.deep.equal([]);
  });
});

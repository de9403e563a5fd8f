/**
 * The disclosure policy at its edges: each validator with one thing wrong (exact problem lists), the bounds of each
 * threshold, a dataset that would loosen the room's mode, quasi-identifiers without a schema, the resolved form a
 * descriptor carries, and `holdReason`/`failedRules` on reports that are withheld or list several rules.
 */
import { expect } from "chai";
import {
  type DisclosureRoom,
  datasetDisclosureProblems,
  failedRules,
  holdReason,
  outputDisclosureProblems,
  resolveDisclosurePolicy,
  resolveOutputDisclosure,
  resolvedOutputDisclosureProblems,
} from "../../src/core/disclosure-policy.js";
import { DISCLOSURE_DEFAULTS, type DisclosureReport, type OutputCheck, disclosurePolicyDigest } from "../../src/core/disclosure.js";

const P = "spec.output.disclosure";
const D = "spec.providers[0].datasets[0].disclosure";
const KNOWN_OUTPUT = "mode, releaseOnPass, minCellCount, dominanceN, dominanceK, pPercent, minResidualDf, maxTableRows";

describe("core/disclosure-policy edges: outputDisclosureProblems and datasetDisclosureProblems", () => {
  for (const [what, v] of [
    ["a string", "review"],
    ["null", null],
    ["an array", [{ mode: "review" }]],
  ] as const) {
    it(`GIVEN a room disclosure that is ${what} THEN only that problem`, () => {
      expect(outputDisclosureProblems(v, P)).to.deep.equal([`${P} must be an object, e.g. {"mode": "review"}`]);
    });

    it(`GIVEN a dataset disclosure that is ${what} THEN only that problem`, () => {
      expect(datasetDisclosureProblems(v, undefined, D)).to.deep.equal([`${D} must be an object, e.g. {"quasiIdentifiers": ["age", "postcode"]}`]);
    });
  }

  it("GIVEN an unknown field THEN it is named, with the known ones listed", () => {
    expect(outputDisclosureProblems({ strict: true }, P)).to.deep.equal([`${P}.strict is not a known field (known: ${KNOWN_OUTPUT})`]);
  });

  it("GIVEN a room releaseOnPass that is not a boolean THEN only that problem", () => {
    expect(outputDisclosureProblems({ releaseOnPass: "yes" }, P)).to.deep.equal([`${P}.releaseOnPass must be a boolean (got "yes")`]);
  });

  it("GIVEN every threshold at its bounds THEN valid", () => {
    const low = { minCellCount: 1, dominanceN: 1, dominanceK: 0.001, pPercent: 0.001, minResidualDf: 0, maxTableRows: 1 };
    const high = { minCellCount: 1_000_000, dominanceN: 100, dominanceK: 100, pPercent: 100, minResidualDf: 1_000_000, maxTableRows: 100_000_000 };
    expect(outputDisclosureProblems(low, P)).to.deep.equal([]);
    expect(outputDisclosureProblems(high, P)).to.deep.equal([]);
  });

  for (const [k, v, bound] of [
    ["minCellCount", 0, "a whole number from 1 to 1000000"],
    ["minCellCount", 1_000_001, "a whole number from 1 to 1000000"],
    ["minCellCount", 10.5, "a whole number from 1 to 1000000"],
    ["maxTableRows", 100_000_001, "a whole number from 1 to 100000000"],
    ["dominanceK", 0, "a number greater than 0 and at most 100"],
    ["dominanceK", 100.5, "a number greater than 0 and at most 100"],
    ["pPercent", "10", "a number greater than 0 and at most 100"],
    ["pPercent", Number.POSITIVE_INFINITY, "a number greater than 0 and at most 100"],
  ] as const) {
    it(`GIVEN ${k}: ${String(v)} THEN only that problem`, () => {
      expect(outputDisclosureProblems({ [k]: v }, P)).to.deep.equal([
        `${P}.${k} must be ${bound} (got ${JSON.stringify(v)}); ACRO's default is ${DISCLOSURE_DEFAULTS[k as keyof typeof DISCLOSURE_DEFAULTS]}`,
      ]);
    });
  }

  it("GIVEN quasi-identifiers and no schema THEN they are not checked against columns", () => {
    expect(datasetDisclosureProblems({ quasiIdentifiers: ["age"] }, undefined, D)).to.deep.equal([]);
    expect(datasetDisclosureProblems({ quasiIdentifiers: ["age"] }, { columns: "age" }, D)).to.deep.equal([]);
  });

  for (const [what, qi, problem] of [
    ["a string", "age", `${D}.quasiIdentifiers must be an array of column names`],
    ["a number in the list", ["age", 5], `${D}.quasiIdentifiers[1] must be a non-empty column name`],
    ["an empty name", [""], `${D}.quasiIdentifiers[0] must be a non-empty column name`],
    ["a name listed twice", ["age", "age"], `${D}.quasiIdentifiers[1] "age" is listed twice`],
  ] as const) {
    it(`GIVEN quasi-identifiers with ${what} THEN only that problem`, () => {
      expect(datasetDisclosureProblems({ quasiIdentifiers: qi }, undefined, D)).to.deep.equal([problem]);
    });
  }

  it("GIVEN a quasi-identifier missing from a schema with a malformed column THEN the named columns are listed", () => {
    expect(datasetDisclosureProblems({ quasiIdentifiers: ["postcode"] }, { columns: [{ name: "age" }, 5, { name: "sex" }] }, D)).to.deep.equal([
      `${D}.quasiIdentifiers[0] "postcode" is not a column of the dataset's schema (columns: age, sex)`,
    ]);
  });
});

describe("core/disclosure-policy edges: resolvedOutputDisclosureProblems (a descriptor's output.disclosure)", () => {
  const R = "descriptor.output.disclosure";
  const good = resolveOutputDisclosure({ mode: "enforce" });
  const SHAPE = `${R} must be {mode, releaseOnPass, thresholds}; re-export the descriptor`;

  it("GIVEN the resolved defaults, or any mode THEN valid", () => {
    expect(resolvedOutputDisclosureProblems(resolveOutputDisclosure(undefined), R)).to.deep.equal([]);
    expect(resolvedOutputDisclosureProblems(good, R)).to.deep.equal([]);
  });

  for (const [what, v] of [
    ["a string", "review"],
    ["an array", [good]],
    ["without thresholds", { mode: "review", releaseOnPass: true }],
    ["with thresholds as an array", { ...good, thresholds: [] }],
    ["with a mode that is not text", { ...good, mode: 1 }],
    ["without releaseOnPass (as a spec gives it)", { mode: "review", thresholds: good.thresholds }],
  ] as const) {
    it(`GIVEN one ${what} THEN only the shape problem`, () => {
      expect(resolvedOutputDisclosureProblems(v, R)).to.deep.equal([SHAPE]);
    });
  }

  it("GIVEN an unknown mode, an unknown field, an unknown threshold, a missing one and one out of range THEN each is named", () => {
    const { maxTableRows: _dropped, ...thresholds } = good.thresholds;
    const v = { ...good, mode: "strict", extra: 1, thresholds: { ...thresholds, minCellCount: 0, kAnonymity: 5 } };
    expect(resolvedOutputDisclosureProblems(v, R)).to.deep.equal([
      `${R}.extra is not a known field (known: mode, releaseOnPass, thresholds)`,
      `${R}.mode must be one of review, enforce, off (got "strict"); leave it out for "review"`,
      `${R}.thresholds.kAnonymity is not a known field (known: minCellCount, dominanceN, dominanceK, pPercent, minResidualDf, maxTableRows)`,
      `${R}.thresholds.maxTableRows is missing`,
      `${R}.thresholds.minCellCount must be a whole number from 1 to 1000000 (got 0); ACRO's default is 10`,
    ]);
  });
});

describe("core/disclosure-policy edges: resolveDisclosurePolicy", () => {
  function room(mode: string, datasets: Record<string, unknown>): DisclosureRoom {
    return {
      output: { requireRelease: false, disclosure: resolveOutputDisclosure({ mode }) },
      providers: [{ name: "a", datasets: [{ name: "x", disclosure: datasets.x }, { name: "y", disclosure: datasets.y }] }],
    } as DisclosureRoom;
  }

  it("GIVEN an enforce room and a dataset asking for review or off THEN enforce: a dataset never loosens the room", () => {
    expect(resolveDisclosurePolicy(room("enforce", { x: { mode: "review" } }), [{ provider: "a", dataset: "x" }]).mode).to.equal("enforce");
    expect(resolveDisclosurePolicy(room("enforce", { x: { mode: "off" } }), [{ provider: "a", dataset: "x" }]).mode).to.equal("enforce");
  });

  it("GIVEN the job reads the provider's second dataset THEN that dataset's settings apply, not the first's", () => {
    const p = resolveDisclosurePolicy(room("review", { x: { mode: "enforce", minCellCount: 50 }, y: { minCellCount: 20 } }), [{ provider: "a", dataset: "y" }]);
    expect(p.mode).to.equal("review");
    expect(p.thresholds.minCellCount).to.equal(20);
  });

  it("GIVEN a dataset listing no quasi-identifiers THEN none are recorded for it", () => {
    expect(resolveDisclosurePolicy(room("review", { x: { quasiIdentifiers: [] } }), [{ provider: "a", dataset: "x" }]).quasiIdentifiers).to.deep.equal({});
  });

  it("GIVEN an input of an unknown provider or dataset THEN an error naming it", () => {
    expect(() => resolveDisclosurePolicy(room("review", {}), [{ provider: "b", dataset: "x" }])).to.throw("b/x is not a dataset of this room");
    expect(() => resolveDisclosurePolicy(room("review", {}), [{ provider: "a", dataset: "z" }])).to.throw("a/z is not a dataset of this room");
  });
});

describe("core/disclosure-policy edges: holdReason and failedRules", () => {
  const policy = resolveDisclosurePolicy({ output: { requireRelease: false, disclosure: resolveOutputDisclosure({ mode: "enforce" }) }, providers: [{ name: "a", datasets: [{ name: "x" }] }] }, [
    { provider: "a", dataset: "x" },
  ]);
  const failed = (path: string, ...rules: string[]): OutputCheck => ({ path, kind: "table", verdict: "fail", findings: rules.map((rule) => ({ rule, count: 1, detail: "d" })) });
  function report(outputs: OutputCheck[], over: Partial<DisclosureReport> = {}): DisclosureReport {
    return { version: 1, policyDigest: disclosurePolicyDigest(policy), policy, outputs, verdict: "fail", withheld: false, ...over };
  }

  it("GIVEN withheld outputs THEN the reason says they were withheld (not that they await review)", () => {
    expect(holdReason(report([failed("withheld-1", "dominance")], { withheld: true }), false)).to.equal("the disclosure checks failed in enforce mode: every output was withheld");
  });

  it("GIVEN several failed rules across outputs THEN each is named once, sorted, and unjudgeable is not a failure", () => {
    const r = report([failed("a.csv", "zero-cells", "unjudgeable", "dominance"), failed("b.csv", "dominance", "min-cell-count")]);
    expect(failedRules(r)).to.deep.equal(["dominance", "min-cell-count", "zero-cells"]);
    expect(holdReason(r, false)).to.equal("an output failed the disclosure checks (dominance, min-cell-count, zero-cells): a provider must review it");
  });

  it("GIVEN an output that did not fail THEN its findings are no failed rules", () => {
    const review: OutputCheck = { path: "m.bin", kind: "model", verdict: "review", findings: [{ rule: "max-table-rows", count: 1, detail: "d" }] };
    expect(failedRules(report([review, failed("b.csv", "p-percent")]))).to.deep.equal(["p-percent"]);
  });

  it("GIVEN a report of mode off with releaseOnPass false THEN not held (off checks nothing; only requireRelease holds)", () => {
    const off = { ...policy, mode: "off", releaseOnPass: false };
    expect(holdReason(report([], { policy: off, verdict: "pass" }), false)).to.equal(undefined);
  });
});

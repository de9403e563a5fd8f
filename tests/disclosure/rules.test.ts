import { expect } from "chai";
import { DISCLOSURE_DEFAULTS, type DisclosureFinding } from "../../src/core/disclosure.js";
import type { CellDeclaration, OutputDeclaration } from "../../src/runtime/disclosure/manifest.js";
import { judgeDeclaration, verdictOf, worstVerdict } from "../../src/runtime/disclosure/rules.js";

const T = DISCLOSURE_DEFAULTS;

function table(cells: CellDeclaration[], extra: Partial<OutputDeclaration> = {}): OutputDeclaration {
  return { path: "t.csv", kind: "table", cells, ...extra };
}

function rules(decl: OutputDeclaration, dataRows = decl.cells?.length): string[] {
  return judgeDeclaration(decl, T, { dataRows }).map((f) => f.rule);
}

describe("runtime/disclosure/rules: tables", () => {
  it("GIVEN every cell counts at least 10 THEN no finding (pass)", () => {
    const f = judgeDeclaration(table([{ count: 10 }, { count: 250 }]), T, { dataRows: 2 });
    expect(f).to.deep.equal([]);
    expect(verdictOf(f)).to.equal("pass");
  });

  it("GIVEN a cell of 3 THEN min-cell-count names that cell and not its value", () => {
    const f = judgeDeclaration(table([{ count: 40 }, { count: 3 }, { count: 12 }]), T, { dataRows: 3 });
    expect(f).to.have.length(1);
    expect(f[0]).to.include({ rule: "min-cell-count", count: 1 });
    expect(f[0].cells).to.deep.equal([1]);
    expect(f[0].detail).to.contain("10").and.not.to.match(/\b3\b/);
    expect(verdictOf(f)).to.equal("fail");
  });

  it("GIVEN a cell of 9 and a cell of 0 THEN only the 9 breaks min-cell-count (an empty cell is the zero-cells rule's)", () => {
    const f = judgeDeclaration(table([{ count: 9 }, { count: 0 }]), T, { dataRows: 2 });
    expect(f.map((x) => [x.rule, x.cells])).to.deep.equal([["min-cell-count", [0]]]);
  });

  it("GIVEN more than 100 small cells THEN 100 are listed and count says how many", () => {
    const cells = Array.from({ length: 150 }, () => ({ count: 1 }));
    const f = judgeDeclaration(table(cells), T, { dataRows: 150 });
    expect(f[0].cells).to.have.length(100);
    expect(f[0].count).to.equal(150);
  });

  it("GIVEN a mean dominated by one record THEN dominance and p-percent", () => {
    // 20 records, one contributes 1000 of 1019.
    const f = rules(table([{ count: 20, contributions: { top: [1000, 1], total: 1019 } }]));
    expect(f).to.deep.equal(["dominance", "p-percent"]);
  });

  it("GIVEN the two largest make up exactly k% THEN dominance (k percent or more fails)", () => {
    expect(rules(table([{ count: 20, contributions: { top: [60, 30], total: 100 } }]))).to.include("dominance");
    expect(rules(table([{ count: 20, contributions: { top: [60, 29.9], total: 100 } }]))).not.to.include("dominance");
  });

  it("GIVEN the rest hides the largest by less than p% THEN p-percent (alone when k is looser)", () => {
    // With ACRO's n = 2, k = 90, p = 10 a p% failure implies a dominance one; k = 99 separates them.
    const t = { ...T, dominanceK: 99 };
    const judge = (total: number) =>
      judgeDeclaration(table([{ count: 20, contributions: { top: [50, 30], total } }]), t, { dataRows: 1 }).map((x) => x.rule);
    // total - x1 - x2 = 4 < 10% of 50 = 5; the top two are 95.2% (under 99%).
    expect(judge(84)).to.deep.equal(["p-percent"]);
    // total - x1 - x2 = 5, not under 5.
    expect(judge(85)).to.deep.equal([]);
  });

  it("GIVEN evenly spread contributions THEN no dominance nor p-percent", () => {
    expect(rules(table([{ count: 100, contributions: { top: [3, 3], total: 300 } }]))).to.deep.equal([]);
  });

  it("GIVEN every contribution is zero THEN no dominance", () => {
    expect(rules(table([{ count: 100, contributions: { top: [0, 0], total: 0 } }]))).to.deep.equal([]);
  });

  it("GIVEN fewer top contributions than the rules need THEN invalid-declaration for that cell", () => {
    const f = judgeDeclaration(table([{ count: 50, contributions: { top: [5], total: 100 } }]), T, { dataRows: 1 });
    expect(f.map((x) => [x.rule, x.cells])).to.deep.equal([["invalid-declaration", [0]]]);
  });

  it("GIVEN a stricter dominanceN THEN the cell must list that many", () => {
    const t = { ...T, dominanceN: 3 };
    const f = judgeDeclaration(table([{ count: 50, contributions: { top: [5, 4], total: 100 } }]), t, { dataRows: 1 });
    expect(f[0].rule).to.equal("invalid-declaration");
  });

  it("GIVEN margins are disclosive THEN empty and full cells are zero-cells; otherwise they pass", () => {
    const cells = [{ count: 0 }, { count: 30, margin: 30 }, { count: 30, margin: 45 }];
    expect(judgeDeclaration(table(cells, { zeroCellsDisclosive: true }), T, { dataRows: 3 }).map((x) => [x.rule, x.cells])).to.deep.equal([
      ["zero-cells", [0, 1]],
    ]);
    expect(rules(table(cells))).to.deep.equal([]);
  });

  it("GIVEN more data rows than maxTableRows THEN max-table-rows", () => {
    const t = { ...T, maxTableRows: 2 };
    const cells = [{ count: 10 }, { count: 10 }, { count: 10 }];
    expect(judgeDeclaration(table(cells), t, { dataRows: 3 }).map((x) => x.rule)).to.deep.equal(["max-table-rows"]);
  });

  it("GIVEN the file has another number of data rows than declared cells THEN only invalid-declaration", () => {
    const f = judgeDeclaration(table([{ count: 1 }]), T, { dataRows: 2 });
    expect(f.map((x) => x.rule)).to.deep.equal(["invalid-declaration"]);
    expect(f[0].detail).to.match(/2 data rows.*1 cell/);
  });

  it("GIVEN a table file that is not text THEN invalid-declaration", () => {
    expect(judgeDeclaration(table([{ count: 10 }]), T, {}).map((x) => x.rule)).to.deep.equal(["invalid-declaration"]);
  });
});

describe("runtime/disclosure/rules: other kinds and verdicts", () => {
  it("GIVEN a regression with 5 residual df THEN residual-df; with 10 THEN pass", () => {
    expect(judgeDeclaration({ path: "r", kind: "regression", residualDf: 5 }, T).map((x) => x.rule)).to.deep.equal(["residual-df"]);
    expect(judgeDeclaration({ path: "r", kind: "regression", residualDf: 10 }, T)).to.deep.equal([]);
  });

  it("GIVEN a model or an undeclared file THEN unjudgeable, verdict review", () => {
    for (const kind of ["model", "other"] as const) {
      const f = judgeDeclaration({ path: "m", kind }, T);
      expect(f.map((x) => x.rule)).to.deep.equal(["unjudgeable"]);
      expect(verdictOf(f)).to.equal("review");
    }
  });

  it("GIVEN text THEN no declaration finding", () => {
    expect(judgeDeclaration({ path: "n", kind: "text" }, T)).to.deep.equal([]);
  });

  it("GIVEN unjudgeable with any other finding THEN fail; the worst verdict wins", () => {
    const mixed: DisclosureFinding[] = [
      { rule: "unjudgeable", count: 1, detail: "" },
      { rule: "verbatim-rows", count: 1, detail: "" },
    ];
    expect(verdictOf(mixed)).to.equal("fail");
    expect(worstVerdict(["pass", "review"])).to.equal("review");
    expect(worstVerdict(["review", "fail", "pass"])).to.equal("fail");
    expect(worstVerdict([])).to.equal("pass");
  });
});

/**
 * The statistical disclosure rules over what a job declared for one output, with ACRO/SACRO's rules as the anchor:
 * minimum cell count, dominance (n,k), p%, zero and full cells, residual degrees of freedom, a cap on table rows, and
 * `unjudgeable` for kinds no rule can judge. Pure functions: a declaration and thresholds in, findings out.
 *
 * A finding lists which cells (0-based data-row indices) break a rule and how many; never a count, a contribution or
 * any other value from the output, so the report can travel in the receipt.
 */
import type { DisclosureFinding, DisclosureThresholds } from "../../core/disclosure.js";
import type { OutputDeclaration } from "./manifest.js";

/** Most cell indices a finding lists; `count` says how many there are in all. */
export const MAX_LISTED_CELLS = 100;

/** A finding for `rule` on the given cells (listing at most `MAX_LISTED_CELLS` of them). */
export function finding(rule: string, cells: readonly number[], detail: string): DisclosureFinding {
  return { rule, cells: cells.slice(0, MAX_LISTED_CELLS), count: cells.length, detail };
}

/** A finding about the output as a whole (no cells), counting one. */
export function wholeOutputFinding(rule: string, detail: string): DisclosureFinding {
  return { rule, count: 1, detail };
}

/** What the checker read from the output file itself, to cross-check the declaration. */
export interface OutputFacts {
  /** Data rows of the file (records after its header line), when it is CSV text. Absent when the file is not text. */
  readonly dataRows?: number;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The table rules: a cross-check of the row count, then each rule over every cell. */
function judgeTable(decl: OutputDeclaration, t: DisclosureThresholds, facts: OutputFacts): DisclosureFinding[] {
  const cells = decl.cells ?? [];
  const out: DisclosureFinding[] = [];
  if (facts.dataRows === undefined) {
    return [wholeOutputFinding("invalid-declaration", "declared a table, but the file is not UTF-8 CSV text; write the table as CSV with a header line")];
  }
  if (facts.dataRows !== cells.length) {
    // The cells cannot be matched to the rows they describe: no rule below could be trusted.
    return [
      wholeOutputFinding(
        "invalid-declaration",
        `the file has ${plural(facts.dataRows, "data row", "data rows")} after its header but the declaration has ${plural(cells.length, "cell", "cells")}; declare one cell per data row, in file order`,
      ),
    ];
  }
  if (cells.length > t.maxTableRows) {
    out.push(wholeOutputFinding("max-table-rows", `the table has more than ${t.maxTableRows} data rows; aggregate to fewer rows (coarser categories)`));
  }
  const small: number[] = [];
  const dominated: number[] = [];
  const pRule: number[] = [];
  const zero: number[] = [];
  const undeclared: number[] = [];
  // The p% rule needs the two largest contributions; dominance needs the n largest.
  const needed = Math.max(t.dominanceN, 2);
  cells.forEach((c, i) => {
    if (c.count > 0 && c.count < t.minCellCount) small.push(i);
    if (decl.zeroCellsDisclosive && (c.count === 0 || (c.margin !== undefined && c.count > 0 && c.count === c.margin))) zero.push(i);
    const k = c.contributions;
    if (!k) return;
    if (k.top.length < Math.min(needed, c.count)) {
      undeclared.push(i);
      return;
    }
    if (k.total <= 0) return; // nothing to dominate: every contribution is zero
    let topN = 0;
    for (let j = 0; j < t.dominanceN && j < k.top.length; j++) topN += k.top[j];
    if (topN >= (t.dominanceK / 100) * k.total) dominated.push(i);
    const x1 = k.top[0];
    const x2 = k.top.length > 1 ? k.top[1] : 0;
    // p%: what the others add (the total less the two largest) must hide the largest to within p percent of it,
    // else the second largest contributor can estimate the largest one's value from the published cell.
    if (k.total - x1 - x2 < (t.pPercent / 100) * x1) pRule.push(i);
  });
  if (undeclared.length > 0) {
    out.push(
      finding(
        "invalid-declaration",
        undeclared,
        `${plural(undeclared.length, "cell lists", "cells list")} fewer than ${needed} top contributions; list the ${needed} largest absolute contributions (or all of them when the cell has fewer records)`,
      ),
    );
  }
  if (small.length > 0) {
    out.push(
      finding(
        "min-cell-count",
        small,
        `${plural(small.length, "cell counts", "cells count")} fewer than ${t.minCellCount} records; suppress them or merge categories so every non-empty cell has at least ${t.minCellCount}`,
      ),
    );
  }
  if (dominated.length > 0) {
    out.push(
      finding(
        "dominance",
        dominated,
        `in ${plural(dominated.length, "cell", "cells")} the ${t.dominanceN} largest contributions make up ${t.dominanceK}% or more of the total; suppress them or merge categories`,
      ),
    );
  }
  if (pRule.length > 0) {
    out.push(
      finding(
        "p-percent",
        pRule,
        `in ${plural(pRule.length, "cell", "cells")} the total less the two largest contributions is under ${t.pPercent}% of the largest, so the second largest contributor could estimate the largest; suppress them or merge categories`,
      ),
    );
  }
  if (zero.length > 0) {
    out.push(
      finding(
        "zero-cells",
        zero,
        `${plural(zero.length, "cell is", "cells are")} empty or hold their whole margin in a table whose margins are published, which tells something about everyone in that group; merge categories or do not publish the margins`,
      ),
    );
  }
  return out;
}

/**
 * The findings of the declaration rules on one output (verbatim rows and quasi-identifiers are judged elsewhere, on the
 * file's text). `text` has none here; `model` and `other` are `unjudgeable`.
 *
 * @param decl what the job declared (an undeclared file is `{ kind: "other" }`)
 * @param thresholds the job's effective thresholds
 * @param facts what was read from the file (its data-row count for a table)
 */
export function judgeDeclaration(decl: OutputDeclaration, thresholds: DisclosureThresholds, facts: OutputFacts = {}): DisclosureFinding[] {
  switch (decl.kind) {
    case "table":
      return judgeTable(decl, thresholds, facts);
    case "regression": {
      const df = decl.residualDf ?? 0;
      return df < thresholds.minResidualDf
        ? [
            wholeOutputFinding(
              "residual-df",
              `the regression has fewer than ${thresholds.minResidualDf} residual degrees of freedom; fit fewer parameters or use more records`,
            ),
          ]
        : [];
    }
    case "text":
      return [];
    case "model":
      return [wholeOutputFinding("unjudgeable", "a model cannot be checked by rule; a data provider must review and release it")];
    default:
      return [wholeOutputFinding("unjudgeable", "an undeclared or `other` file cannot be checked by rule; declare its kind in outputs.json, or a data provider must review and release it")];
  }
}

/** The verdicts findings give, as `parseReceipt` re-checks them: one definition, in core. */
export { verdictOf, worstVerdict } from "../../core/disclosure-report.js";

/**
 * The disclosure report as the table a reviewer reads (`cleanroom job review <job>`): one line per finding, grouped by
 * output, then each finding's advice. Everything in it comes from the report, which holds no disclosive value.
 */
import type { DisclosureReport } from "../../core/disclosure.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;

/**
 * A job-chosen string (an output path) made safe for a terminal: control and bidirectional-override characters would
 * let a file name rewrite the screen or disguise itself, so such a name is printed quoted with them escaped.
 */
function printable(s: string): string {
  UNPRINTABLE.lastIndex = 0;
  if (!UNPRINTABLE.test(s)) return s;
  return `"${s.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}"`;
}

function cellsText(cells: readonly number[] | undefined, count: number): string {
  if (!cells || cells.length === 0) return count === 1 ? "-" : String(count);
  const listed = cells.slice(0, 10).join(",");
  return cells.length < count || cells.length > 10 ? `${count} (${listed},…)` : `${count} (${listed})`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd());
}

/**
 * Renders a disclosure report for people.
 *
 * @example
 * process.stdout.write(`${formatReport(receipt.disclosure)}\n`);
 */
export function formatReport(report: DisclosureReport): string {
  const t = report.policy.thresholds;
  const lines = [
    `Disclosure check: ${report.verdict.toUpperCase()} (mode ${report.policy.mode}${report.withheld ? "; every output withheld" : ""})`,
    `Policy ${report.policyDigest}: min cell count ${t.minCellCount}, dominance (${t.dominanceN}, ${t.dominanceK}%), p% ${t.pPercent}, residual df ${t.minResidualDf}, max table rows ${t.maxTableRows}`,
  ];
  if (report.policy.mode === "off") {
    lines.push("No output was checked: the room's disclosure policy is off.");
    return lines.join("\n");
  }
  if (report.outputs.length === 0) {
    lines.push("The job wrote no output.");
    return lines.join("\n");
  }
  const rows = [["OUTPUT", "KIND", "VERDICT", "RULE", "CELLS"]];
  const advice: string[] = [];
  for (const o of report.outputs) {
    const path = printable(o.path);
    if (o.findings.length === 0) rows.push([path, o.kind, o.verdict, "-", "-"]);
    o.findings.forEach((f, i) => {
      rows.push(i === 0 ? [path, o.kind, o.verdict, f.rule, cellsText(f.cells, f.count)] : ["", "", "", f.rule, cellsText(f.cells, f.count)]);
      advice.push(`  ${path}: ${f.rule}: ${f.detail}`);
    });
  }
  lines.push("", ...table(rows));
  if (advice.length > 0) lines.push("", "What to do:", ...advice);
  return lines.join("\n");
}

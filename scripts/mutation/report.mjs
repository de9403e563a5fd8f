/**
 * Turns Stryker's JSON reports (one per path, reports/mutation/<path>/mutation.json, written by `npm run mutate`) into
 * the committed summary reports/mutation-report.md: the score per file and per named path against its target, and
 * every mutant that survived or had no covering test, except those listed in reports/equivalent-mutants.md.
 *
 * An equivalent mutant is listed as one table row: `| file | mutator | original | replacement | reason |`, where
 * `original` is the mutated source text (whitespace collapsed) and `replacement` Stryker's. Rows match on those four
 * columns, not on line numbers, so they survive edits elsewhere in the file. Each row stands for ONE mutant: two
 * mutants with the same text and replacement in one file need two rows (each read for its own reason), so a new
 * survivor that happens to repeat a listed one's text elsewhere in the file is reported, not hidden. This script prints
 * rows ready to paste.
 *
 * `node scripts/mutation/report.mjs [mutation.json …]`: by default every path's newest result, its JSON report or its
 * committed incremental file (`latestResultOf`; a file in two reports is taken from the later one).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { latestResultOf, PATHS } from "./paths.mjs";

const given = process.argv.slice(2);
const inputs = given.length > 0 ? given : ["reports/mutation/mutation.json", ...PATHS.map((p) => latestResultOf(p.name))].filter((f) => f !== undefined && existsSync(f));
if (inputs.length === 0) {
  console.error("report: no mutation report found; run `npm run mutate` (or `npm run mutate -- --path <name>`) first");
  process.exit(1);
}
const OUTPUT = "reports/mutation-report.md";
const EQUIVALENT = "reports/equivalent-mutants.md";

/** The paths issue 20 names and their targets (percent). */
const TARGETS = [
  ["src/runtime/verify/", 90],
  ["src/core/attestation.ts", 90],
  ["src/core/", 80],
  ["src/runtime/executor/", 80],
  ["src/runtime/platforms/local/broker.ts", 80],
  ["src/runtime/dp/", 80],
  ["policy-packs/cleanroom-guardrails/", 80],
];

/**
 * Whether `file` is mutated by path `p` (its globs are `<dir>/**\/*.ts`, `**\/<name>` exclusions or plain files).
 * @param {import("./paths.mjs").MutationPath} p
 * @param {string} file
 */
function inPath(p, file) {
  const matches = (g) => (g.endsWith("/**/*.ts") ? file.startsWith(g.slice(0, -"**/*.ts".length)) && file.endsWith(".ts") : g.startsWith("**/") ? file.endsWith(`/${g.slice(3)}`) : file === g);
  return p.mutate.some((g) => !g.startsWith("!") && matches(g)) && !p.mutate.some((g) => g.startsWith("!") && matches(g.slice(1)));
}

const squash = (s) => s.replace(/\s+/g, " ").trim();
const cell = (s) => squash(String(s)).replace(/\|/g, "\\|");

function originalText(source, { start, end }) {
  const lines = source.split("\n");
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  const parts = [lines[start.line - 1].slice(start.column - 1)];
  for (let l = start.line; l < end.line - 1; l++) parts.push(lines[l]);
  parts.push(lines[end.line - 1].slice(0, end.column - 1));
  return parts.join("\n");
}

/** @returns {Map<string, number>} how many rows list each file/mutator/original/replacement key */
function loadEquivalents() {
  const rows = new Map();
  if (!existsSync(EQUIVALENT)) return rows;
  for (const line of readFileSync(EQUIVALENT, "utf8").split("\n")) {
    const cols = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim().replace(/^`(.*)`$/, "$1"));
    if (cols.length !== 5 || cols[0] === "file" || /^-+$/.test(cols[0])) continue;
    const key = cols.slice(0, 4).join("\u0000");
    rows.set(key, (rows.get(key) ?? 0) + 1);
  }
  return rows;
}

const report = { framework: undefined, files: {} };
for (const input of inputs) {
  const r = JSON.parse(readFileSync(input, "utf8"));
  report.framework ??= r.framework;
  Object.assign(report.files, r.files);
}
const equivalents = loadEquivalents();
/** Rows matched so far, per key: a key's rows are used up one mutant each. */
const used = new Map();
/** Takes one unused row for `key`, if any is left. */
const takeRow = (key) => {
  const n = used.get(key) ?? 0;
  if (n >= (equivalents.get(key) ?? 0)) return false;
  used.set(key, n + 1);
  return true;
};
const perFile = [];
const open = [];
for (const [file, { source, mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const c = { file, killed: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0 };
  const keyOf = (m) => [file, m.mutatorName, cell(originalText(source, m.location)), cell(m.replacement ?? "")].join("\u0000");
  const isLive = (m) => m.status === "Survived" || m.status === "NoCoverage";
  // Live mutants take their rows first: a timeout with the same text (often a twin that loops forever elsewhere in
  // the file) must not use up the row written for a survivor. A listed equivalent that only makes the code slower can
  // end in a timeout (the fast dp paths' limit is 3 s): it takes a row left over, and stays an equivalent, not a kill.
  const listedSet = new Set(mutants.filter((m) => isLive(m) && takeRow(keyOf(m))));
  for (const m of mutants) if (m.status === "Timeout" && takeRow(keyOf(m))) listedSet.add(m);
  for (const m of mutants) {
    const original = originalText(source, m.location);
    const live = isLive(m);
    const listed = listedSet.has(m);
    if (listed) c.equivalent++;
    else if (m.status === "Killed" || m.status === "Timeout") c.killed++;
    else if (m.status === "Survived") c.survived++;
    else if (m.status === "NoCoverage") c.noCoverage++;
    else c.ignored++;
    if (live && !listed) open.push({ file, line: m.location.start.line, col: m.location.start.column, status: m.status, mutator: m.mutatorName, original, replacement: m.replacement ?? "" });
  }
  perFile.push(c);
}

// Equivalent mutants are left out of the denominator, like Stryker's ignored ones.
const score = (c) => {
  const valid = c.killed + c.survived + c.noCoverage;
  return valid === 0 ? null : (100 * c.killed) / valid;
};
const fmt = (s) => (s === null ? "n/a" : s.toFixed(1));
const sum = (rows) => rows.reduce((t, r) => ({ killed: t.killed + r.killed, survived: t.survived + r.survived, noCoverage: t.noCoverage + r.noCoverage, equivalent: t.equivalent + r.equivalent, ignored: t.ignored + r.ignored }), { killed: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0 });

const out = [];
out.push("# Mutation testing report", "");
out.push(`Generated by \`npm run mutate\` (scripts/mutation/report.mjs) from Stryker ${report.framework?.version ?? ""} results of ${new Date().toISOString().slice(0, 10)}`);
out.push(`(${inputs.map((f) => `\`${f}\``).join(", ")}).`);
out.push("Score = killed / (killed + survived + no coverage); timeouts count as killed; mutants listed in");
out.push("[equivalent-mutants.md](equivalent-mutants.md), static and ignored (error-message text) ones are not counted.", "");
out.push("## Per named path", "", "| path | target | score | killed | survived | no coverage | equivalent | ignored | files in this run |", "|---|---|---|---|---|---|---|---|---|");
const claimed = new Set();
for (const [prefix, target] of TARGETS) {
  // src/core/ excludes attestation.ts, which has its own (higher) target.
  const rows = perFile.filter((r) => r.file.startsWith(prefix) && !claimed.has(r.file));
  for (const r of rows) claimed.add(r.file);
  const t = sum(rows);
  const s = score(t);
  const verdict = s === null ? "not run" : s >= target ? `**${fmt(s)}** ✓` : `**${fmt(s)}** ✗`;
  out.push(`| \`${prefix}\` | ${target} | ${verdict} | ${t.killed} | ${t.survived} | ${t.noCoverage} | ${t.equivalent} | ${t.ignored} | ${rows.length} |`);
}
out.push("", "## Per mutation path (`npm run mutate -- --path <name>`)", "", "| path | score | killed | survived | no coverage | equivalent | files |", "|---|---|---|---|---|---|---|");
for (const p of PATHS) {
  const rows = perFile.filter((r) => inPath(p, r.file));
  if (rows.length === 0) {
    out.push(`| ${p.name} | not in these reports | | | | | 0 |`);
    continue;
  }
  const t = sum(rows);
  out.push(`| ${p.name} | ${fmt(score(t))} | ${t.killed} | ${t.survived} | ${t.noCoverage} | ${t.equivalent} | ${rows.length} |`);
}
out.push("", "## Per file", "", "| file | score | killed | survived | no coverage | equivalent | ignored |", "|---|---|---|---|---|---|---|");
for (const r of perFile) out.push(`| \`${r.file}\` | ${fmt(score(r))} | ${r.killed} | ${r.survived} | ${r.noCoverage} | ${r.equivalent} | ${r.ignored} |`);
out.push("", `## Surviving mutants (${open.length}, not listed as equivalent)`, "");
out.push("Each needs a test that kills it, or a row in equivalent-mutants.md with a one-line reason.", "");
let current = "";
for (const m of open) {
  if (m.file !== current) {
    current = m.file;
    out.push("", `### ${current}`, "", "| line | status | mutator | original | replacement |", "|---|---|---|---|---|");
  }
  out.push(`| ${m.line}:${m.col} | ${m.status} | ${m.mutator} | \`${cell(m.original).slice(0, 120)}\` | \`${cell(m.replacement).slice(0, 120)}\` |`);
}
// A key listed on n rows but matched by fewer mutants has stale rows (one line each here).
const stale = [...equivalents].flatMap(([k, n]) => (Object.hasOwn(report.files, k.split("\u0000")[0]) ? Array(Math.max(0, n - (used.get(k) ?? 0))).fill(k) : []));
if (stale.length > 0) {
  out.push("", `## Stale rows in equivalent-mutants.md (${stale.length})`, "", "These match no surviving mutant of a file in this run: the code changed, or a test now kills them (remove the row), or the kill is not one (Stryker counts an error a test raised after it had finished, mocha's \"done() called multiple times\", as a kill: read its `statusReason` before removing the row).", "");
  for (const k of stale) out.push(`- \`${k.split("\u0000").slice(0, 2).join(" ")}\`: \`${k.split("\u0000")[2]}\``);
}
writeFileSync(OUTPUT, `${out.join("\n")}\n`);
console.log(`wrote ${OUTPUT}: ${perFile.length} file(s), ${open.length} open mutant(s), ${stale.length} stale equivalent row(s)`);

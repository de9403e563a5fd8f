// Job-author helper for safe outputs (node, no dependencies). CommonJS, so `require("./cleanroom-outputs.js")` works
// from any job; copy this file next to your job's entrypoint.
//
// Writes tables of counts or statistics into $CLEANROOM_OUTPUT together with their declaration in
// $CLEANROOM_OUTPUT/outputs.json, which the clean room's output checker reads before anything leaves the TEE
// (docs/disclosure.md).
//
//   const co = require("./cleanroom-outputs.js");
//   co.writeTable("counts.csv", { header: ["age_band", "n"], rows: [["30-39", 120]], counts: [120] });
//   co.writeTable("means.csv", { header: ["region", "mean"], rows: [["north", 51234.5]], counts: [40],
//                                contributions: [incomesOfNorth] }); // every record's value in the cell
//   co.declare("fit.json", "regression", { residualDf: 42 });
//   co.declare("weights.bin", "model");
//
// The manifest is rewritten atomically (a temporary file renamed over it) after each call.

const fs = require("node:fs");
const path = require("node:path");

const MANIFEST = "outputs.json";
const KINDS = ["table", "regression", "model", "text", "other"];
/** More than any room's dominance n is likely to be; the checker needs at least that many (or all of a cell's). */
const DEFAULT_TOP_N = 10;

/** The job's output directory ($CLEANROOM_OUTPUT). */
function outputDir() {
  const d = process.env.CLEANROOM_OUTPUT;
  if (!d) throw new Error("CLEANROOM_OUTPUT is not set: run this inside a clean room job");
  return d;
}

function checkPath(p) {
  if (typeof p !== "string" || p === "" || p.startsWith("/") || p.split("/").includes("..") || p === MANIFEST) {
    throw new Error("output path must be a relative path inside $CLEANROOM_OUTPUT (not outputs.json), with / between folders");
  }
}

function load(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST), "utf8");
  } catch (err) {
    if (err && err.code === "ENOENT") return { version: 1, outputs: [] };
    throw err;
  }
  const m = JSON.parse(text);
  if (m?.version !== 1 || !Array.isArray(m.outputs)) {
    throw new Error("outputs.json exists but is not a version 1 manifest; remove it or write it with this helper only");
  }
  return m;
}

function save(dir, manifest) {
  const tmp = path.join(dir, `.outputs.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, JSON.stringify(manifest), { flag: "wx" });
    fs.renameSync(tmp, path.join(dir, MANIFEST));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Declares (or re-declares) one output file. `kind`: table, regression, model, text or other. `extra`:
 * `{ residualDf }` for a regression; `{ cells, zeroCellsDisclosive }` for a table written by other means.
 */
function declare(p, kind, extra = {}) {
  checkPath(p);
  if (!KINDS.includes(kind)) throw new Error(`kind must be one of ${KINDS.join(", ")}`);
  if (kind === "regression" && !(Number.isInteger(extra.residualDf) && extra.residualDf >= 0)) {
    throw new Error("a regression needs { residualDf: <integer >= 0> } (its residual degrees of freedom)");
  }
  const dir = outputDir();
  const m = load(dir);
  const entry = { ...extra, path: p, kind };
  m.outputs = m.outputs.filter((e) => !(e && e.path === p)).concat([entry]);
  save(dir, m);
  return entry;
}

function cell(count, values, margin, topN) {
  if (!Number.isInteger(count) || count < 0) throw new Error("each count must be an integer >= 0 (the number of records behind the cell)");
  const c = { count };
  if (values !== undefined && values !== null) {
    if (Array.isArray(values)) {
      const abs = values.map((v) => Math.abs(Number(v))).sort((a, b) => b - a);
      if (abs.length !== count) throw new Error("a cell's contributions must hold one value per record of the cell (as many as its count)");
      if (abs.length > 0) c.contributions = { top: abs.slice(0, topN), total: abs.reduce((a, b) => a + b, 0) };
    } else {
      c.contributions = { top: values.top.map((v) => Math.abs(Number(v))).sort((a, b) => b - a), total: Math.abs(Number(values.total)) };
    }
  }
  if (margin !== undefined && margin !== null) c.margin = margin;
  return c;
}

function csvField(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes a CSV table (a header line, then one line per row) and declares it with one cell per row.
 * `counts`: records behind each row. `contributions` (sums and means): per row, every record's value, or
 * `{ top, total }` of absolute values; null for a count. `margins` with `zeroCellsDisclosive` when the margins are
 * published too.
 */
function writeTable(p, { header, rows, counts, contributions, margins, zeroCellsDisclosive = false, topN = DEFAULT_TOP_N }) {
  checkPath(p);
  if (!Array.isArray(counts) || counts.length !== rows.length) throw new Error("counts must have one entry per row");
  if (contributions && contributions.length !== rows.length) throw new Error("contributions must have one entry (or null) per row");
  if (margins && margins.length !== rows.length) throw new Error("margins must have one entry per row");
  const cells = rows.map((_, i) => cell(counts[i], contributions ? contributions[i] : undefined, margins ? margins[i] : undefined, topN));
  const dir = outputDir();
  const target = path.join(dir, ...p.split("/"));
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const lines = [header, ...rows].map((r) => r.map(csvField).join(","));
  fs.writeFileSync(target, `${lines.join("\n")}\n`);
  return declare(p, "table", zeroCellsDisclosive ? { cells, zeroCellsDisclosive: true } : { cells });
}

module.exports = { declare, writeTable, outputDir, MANIFEST, KINDS };

/**
 * The output manifest a job may write as `$CLEANROOM_OUTPUT/outputs.json`: for each output file, its kind and what the
 * rules need to judge it (the cell counts behind a table, the residual degrees of freedom of a regression).
 *
 * The job wrote it, so it is untrusted: it is read with a size bound, its shape is checked strictly, and a bad one
 * never throws; it becomes problems the checker turns into `invalid-declaration` findings. A problem names a field by
 * its position (`outputs[2].cells[7].count`), never by a string the job chose, so a job cannot smuggle a value into
 * the report through its own manifest.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { OUTPUT_KINDS, OUTPUT_MANIFEST_FILE } from "../../core/disclosure.js";

/** The largest `outputs.json` read (4 MiB): past it, the manifest is refused instead of parsed. */
export const MAX_OUTPUT_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Most largest contributions a cell may list (`contributions.top`): the rules need `dominanceN`, at most a few. */
export const MAX_TOP_CONTRIBUTIONS = 100;

/** Most problems kept per output (and for the manifest as a whole): a broken manifest should not make a huge report. */
const MAX_PROBLEMS = 20;

/** One of `OUTPUT_KINDS`. */
export type OutputKind = (typeof OUTPUT_KINDS)[number];

/** The records behind one data row of a `table`. */
export interface CellDeclaration {
  /** How many records the cell counts or aggregates (an integer ≥ 0). */
  readonly count: number;
  /**
   * For a sum or mean: the largest absolute contributions of single records (at least `dominanceN` of them, or all of
   * them when the cell has fewer records) and the sum of all absolute contributions. Absent for a plain count.
   */
  readonly contributions?: { readonly top: readonly number[]; readonly total: number };
  /**
   * The count of the margin (row or column group) the cell belongs to. With `zeroCellsDisclosive`, a cell holding its
   * whole margin (`count === margin`) is a full cell: everyone in that group shares the cell's attribute.
   */
  readonly margin?: number;
}

/** What a job declared for one output file. */
export interface OutputDeclaration {
  readonly path: string;
  readonly kind: OutputKind;
  /** `table` only: one cell per data row of the file (after its header line), in file order. */
  readonly cells?: readonly CellDeclaration[];
  /** `table` only: the table's margins are published too, so a zero or full cell discloses something about a group. */
  readonly zeroCellsDisclosive?: boolean;
  /** `regression` only: residual degrees of freedom of the fit. */
  readonly residualDf?: number;
}

/** The parsed manifest: declarations per output path, and what was wrong with it. */
export interface OutputDeclarations {
  /** Valid declarations, by output path. An output with a problem has none (it is judged `invalid-declaration`). */
  readonly byPath: ReadonlyMap<string, OutputDeclaration>;
  /** Problems of one output's entry, by output path. */
  readonly problemsByPath: ReadonlyMap<string, readonly string[]>;
  /**
   * Problems of the manifest as a whole (not JSON, too large, an entry naming no output, ...): no declaration in it
   * can be trusted, so every output gets an `invalid-declaration` finding.
   */
  readonly manifestProblems: readonly string[];
}

const TOP_KEYS = new Set(["version", "outputs"]);
const ENTRY_KEYS: Record<OutputKind, ReadonlySet<string>> = {
  table: new Set(["path", "kind", "cells", "zeroCellsDisclosive"]),
  regression: new Set(["path", "kind", "residualDf"]),
  model: new Set(["path", "kind"]),
  text: new Set(["path", "kind"]),
  other: new Set(["path", "kind"]),
};
const CELL_KEYS = new Set(["count", "contributions", "margin"]);
const CONTRIBUTION_KEYS = new Set(["top", "total"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isAmount(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

/** Unknown keys, named by position only: a key is a string the job chose. */
function unknownKeys(r: Record<string, unknown>, allowed: ReadonlySet<string>, at: string, what: string): string[] {
  const extra = Object.keys(r).filter((k) => !allowed.has(k)).length;
  return extra === 0 ? [] : [`${at} has ${extra} key(s) a ${what} does not take (allowed: ${[...allowed].join(", ")})`];
}

function cellProblems(c: unknown, at: string): string[] {
  if (!isRecord(c)) return [`${at} must be an object {count, contributions?, margin?}`];
  const out = unknownKeys(c, CELL_KEYS, at, "cell");
  if (!isCount(c.count)) out.push(`${at}.count must be an integer >= 0 (the number of records behind the cell)`);
  if (c.margin !== undefined && (!isCount(c.margin) || (isCount(c.count) && c.margin < c.count))) {
    out.push(`${at}.margin must be an integer >= the cell's count (the count of the row or column group it belongs to)`);
  }
  if (c.contributions !== undefined) {
    const k = c.contributions;
    const kat = `${at}.contributions`;
    if (!isRecord(k)) return [...out, `${kat} must be an object {top: [largest absolute contributions], total}`];
    out.push(...unknownKeys(k, CONTRIBUTION_KEYS, kat, "contributions object"));
    const top = k.top;
    if (!Array.isArray(top) || top.length === 0 || top.length > MAX_TOP_CONTRIBUTIONS || !top.every(isAmount)) {
      out.push(`${kat}.top must be 1 to ${MAX_TOP_CONTRIBUTIONS} finite numbers >= 0 (absolute values of the largest contributions)`);
    } else if (isCount(c.count) && top.length > c.count) {
      out.push(`${kat}.top lists more contributions than the cell's count of records`);
    }
    if (!isAmount(k.total)) {
      out.push(`${kat}.total must be a finite number >= 0 (the sum of every record's absolute contribution)`);
    } else if (Array.isArray(top) && top.every(isAmount)) {
      const sum = (top as number[]).reduce((a, b) => a + b, 0);
      // Float sums of the same values in another order may differ in the last bits: allow that, nothing more.
      if (sum > k.total * (1 + 1e-9) + 1e-9) out.push(`${kat}.total is smaller than the sum of ${kat}.top`);
    }
  }
  return out;
}

function entryProblems(e: Record<string, unknown>, kind: OutputKind, at: string): string[] {
  const out = unknownKeys(e, ENTRY_KEYS[kind], at, `${kind} entry`);
  if (kind === "table") {
    if (!Array.isArray(e.cells)) {
      out.push(`${at}.cells must be an array with one {count, ...} per data row of the table file`);
    } else {
      for (let i = 0; i < e.cells.length && out.length < MAX_PROBLEMS; i++) out.push(...cellProblems(e.cells[i], `${at}.cells[${i}]`));
    }
    if (e.zeroCellsDisclosive !== undefined && typeof e.zeroCellsDisclosive !== "boolean") {
      out.push(`${at}.zeroCellsDisclosive must be true or false`);
    }
  } else if (kind === "regression" && !isCount(e.residualDf)) {
    out.push(`${at}.residualDf must be an integer >= 0 (the residual degrees of freedom of the fit)`);
  }
  return out.slice(0, MAX_PROBLEMS);
}

/**
 * Parses and validates the text of an `outputs.json` against the job's output paths. Pure; never throws.
 *
 * @param text the manifest's bytes or text
 * @param outputPaths the job's output files (the receipt's paths, without `outputs.json` itself)
 */
export function parseOutputDeclarations(text: string | Uint8Array, outputPaths: readonly string[]): OutputDeclarations {
  const byPath = new Map<string, OutputDeclaration>();
  const problemsByPath = new Map<string, string[]>();
  const fail = (problem: string): OutputDeclarations => ({ byPath: new Map(), problemsByPath: new Map(), manifestProblems: [problem] });
  const size = typeof text === "string" ? Buffer.byteLength(text) : text.byteLength;
  if (size > MAX_OUTPUT_MANIFEST_BYTES) {
    return fail(`${OUTPUT_MANIFEST_FILE} is larger than ${MAX_OUTPUT_MANIFEST_BYTES} bytes; declare fewer or smaller tables`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8"));
  } catch {
    // The parser's message quotes the job's text: never pass it on.
    return fail(`${OUTPUT_MANIFEST_FILE} is not valid JSON; write it with the job helpers (docs/disclosure.md)`);
  }
  if (!isRecord(parsed) || parsed.version !== 1 || !Array.isArray(parsed.outputs)) {
    return fail(`${OUTPUT_MANIFEST_FILE} must be {"version": 1, "outputs": [...]}`);
  }
  const top = unknownKeys(parsed, TOP_KEYS, OUTPUT_MANIFEST_FILE, "manifest");
  if (top.length > 0) return fail(top[0]);
  const known = new Set(outputPaths);
  const manifestProblems: string[] = [];
  const seen = new Set<string>();
  parsed.outputs.forEach((e: unknown, i: number) => {
    const at = `outputs[${i}]`;
    if (!isRecord(e) || typeof e.path !== "string") {
      manifestProblems.push(`${at} must be an object with a "path" of one output file`);
      return;
    }
    if (!known.has(e.path)) {
      manifestProblems.push(`${at}.path names no output file of the job (paths are relative to $CLEANROOM_OUTPUT, with /)`);
      return;
    }
    const path = e.path;
    const problems = problemsByPath.get(path) ?? [];
    if (seen.has(path)) {
      problems.push(`${at} declares an output that an earlier entry declared already`);
    } else if (typeof e.kind !== "string" || !(OUTPUT_KINDS as readonly string[]).includes(e.kind)) {
      problems.push(`${at}.kind must be one of ${OUTPUT_KINDS.join(", ")}`);
    } else {
      const kind = e.kind as OutputKind;
      const own = entryProblems(e, kind, at);
      if (own.length > 0) problems.push(...own);
      else byPath.set(path, toDeclaration(e, path, kind));
    }
    seen.add(path);
    if (problems.length > 0) {
      problemsByPath.set(path, problems.slice(0, MAX_PROBLEMS));
      byPath.delete(path);
    }
  });
  return { byPath, problemsByPath, manifestProblems: manifestProblems.slice(0, MAX_PROBLEMS) };
}

/** A validated entry as a declaration, copying only the fields its kind takes. */
function toDeclaration(e: Record<string, unknown>, path: string, kind: OutputKind): OutputDeclaration {
  if (kind === "regression") return { path, kind, residualDf: e.residualDf as number };
  if (kind !== "table") return { path, kind };
  const cells = (e.cells as Record<string, unknown>[]).map((c): CellDeclaration => {
    const k = c.contributions as { top: number[]; total: number } | undefined;
    return {
      count: c.count as number,
      ...(k ? { contributions: { top: [...k.top].sort((a, b) => b - a), total: k.total } } : {}),
      ...(c.margin !== undefined ? { margin: c.margin as number } : {}),
    };
  });
  return { path, kind, cells, ...(e.zeroCellsDisclosive === true ? { zeroCellsDisclosive: true } : {}) };
}

/**
 * Reads `<outputDir>/outputs.json` if there is one, reading at most `MAX_OUTPUT_MANIFEST_BYTES + 1` bytes, and parses it.
 * A manifest that is not a regular file (a link, a directory) is a manifest problem. Never throws for what the job wrote.
 *
 * @param outputPaths the job's output files (without `outputs.json` itself)
 */
export async function readOutputDeclarations(outputDir: string, outputPaths: readonly string[]): Promise<OutputDeclarations> {
  const path = join(outputDir, OUTPUT_MANIFEST_FILE);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NOFOLLOW: a job could point outputs.json at a file outside its output directory.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return { byPath: new Map(), problemsByPath: new Map(), manifestProblems: [] };
    return { byPath: new Map(), problemsByPath: new Map(), manifestProblems: [`${OUTPUT_MANIFEST_FILE} cannot be opened as a regular file (${code ?? "error"})`] };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      return { byPath: new Map(), problemsByPath: new Map(), manifestProblems: [`${OUTPUT_MANIFEST_FILE} must be a regular file`] };
    }
    const buf = Buffer.alloc(MAX_OUTPUT_MANIFEST_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return parseOutputDeclarations(buf.subarray(0, length), outputPaths);
  } finally {
    await handle.close();
  }
}

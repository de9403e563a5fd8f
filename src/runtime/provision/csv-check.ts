/**
 * The check `data provision` makes before anything is stored: the whole CSV parses (with the options every reader of a
 * dataset uses), its header has the public schema's columns, and the numeric cells that are not numbers are counted.
 *
 * Stored ciphertext is only committed once this passed, so a file that fails parsing leaves nothing behind (a retry
 * after the fix is not refused with `already-exists`); the sha256 taken here is compared with the one of what was
 * encrypted, so a file changed in between is refused too.
 */
import { Worker } from "node:worker_threads";
import { CleanRoomError } from "../../core/errors.js";
import type { DatasetSchema } from "../../core/spec.js";
import { CSV_PARSE_OPTIONS, csvErrorMessage } from "../dp/table.js";

/** Numeric cells of one column that are not numbers (they count as "unknown" in DP releases). */
export interface UnparsableCells {
  readonly column: string;
  readonly count: number;
  /**
   * The line of the first such cell (1 = the header). For a Parquet table, the line that row would have in a CSV
   * with a header: its row number, counted from 1, plus 1.
   */
  readonly firstLine: number;
}

/** What `checkDatasetCsv` found. */
export interface CsvCheck {
  /** Data rows (the header excluded). */
  readonly rows: number;
  /** Lowercase hex sha256 of the file's bytes as read. */
  readonly sha256: string;
  /** Per numeric schema column with non-numeric, non-empty cells; empty when there are none. */
  readonly unparsable: readonly UnparsableCells[];
}

/**
 * The fast path of the check, as plain JavaScript (part of the worker's source below): a byte scanner that decides the
 * common case without building a record per row, which is csv-parse's cost (about 10 MiB/s for short rows, most of it
 * the per-record context object and its garbage). It accepts only what it can judge exactly as csv-parse would with
 * the check's options: `\n` line ends (any `\r` in the file: give up), a UTF-8 BOM or none, no quoted field spanning
 * lines, quotes only around whole fields (`""` inside), every record with the header's number of fields, records under
 * the size limit. Anything else, and every error, returns `undefined`: the file is then parsed again by csv-parse from
 * its first byte, which decides and words the refusal. tests/provision/csv-check.test.ts compares both on random files.
 *
 * `fastScan(path, columns, numericColumns, maxRecordBytes)` returns the worker's "done" or "missing" report, or
 * `undefined`.
 */
const FAST_SCAN_SOURCE = `
function fastScan(path, columns, numericColumns, maxRecordBytes) {
  const { openSync, readSync, closeSync } = require("node:fs");
  const { createHash } = require("node:crypto");
  const CHUNK = 4 * 1024 * 1024;
  const NL = 0x0a, CR = 0x0d, QUOTE = 0x22, COMMA = 0x2c;
  const hash = createHash("sha256");
  let fd;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    let header;
    let fields = 0;
    let numeric = [];
    let numericAt = new Int32Array(0);
    let rows = 0;
    let lines = 0;
    let first = true;
    let carry = Buffer.alloc(0);
    // The cells of numeric columns that are not numbers: digits only (up to 15) is a number without decoding.
    const checkCell = (buf, s, e, quoted, n) => {
      let digits = e - s > 0 && e - s <= 15;
      for (let i = s; digits && i < e; i++) digits = buf[i] >= 0x30 && buf[i] <= 0x39;
      if (digits) return;
      let cell = buf.toString("utf8", s, e);
      if (quoted) cell = cell.replace(/""/g, '"');
      cell = cell.trim();
      if (cell !== "" && !Number.isFinite(Number(cell))) {
        if (n.count === 0) n.firstLine = lines;
        n.count++;
      }
    };
    // The first quote at or after p in buf (-1: none), remembered: searching anew for each field would scan to the
    // next quote of the file, megabytes away in a file with few quotes.
    let qBuf, qFrom = 0, qPos = -1;
    const nextQuote = (buf, p) => {
      if (buf !== qBuf || p < qFrom || (qPos !== -1 && qPos < p)) {
        qBuf = buf;
        qFrom = p;
        qPos = buf.indexOf(QUOTE, p);
      }
      return qPos;
    };
    // One line [s, e) holding one whole record: false when it is outside what this scanner judges.
    const record = (buf, s, e) => {
      if (e - s > maxRecordBytes) return false;
      lines++;
      if (e === s) return true; // an empty line: skipped
      const names = header === undefined ? [] : undefined;
      let count = 0;
      let p = s;
      for (;;) {
        let fStart = p, fEnd, quoted = false, after;
        if (p < e && buf[p] === QUOTE) {
          quoted = true;
          let k = p + 1;
          for (;;) {
            k = buf.indexOf(QUOTE, k);
            if (k < 0 || k >= e) return false; // not closed on this line
            if (k + 1 < e && buf[k + 1] === QUOTE) k += 2;
            else break;
          }
          fStart = p + 1;
          fEnd = k;
          after = k + 1;
          if (after < e && buf[after] !== COMMA) return false;
        } else {
          let c = buf.indexOf(COMMA, p);
          if (c < 0 || c > e) c = e;
          const q = nextQuote(buf, p);
          if (q >= 0 && q < c) return false; // a quote inside an unquoted field
          fEnd = c;
          after = c;
        }
        if (names) {
          const v = buf.toString("utf8", fStart, fEnd);
          names.push(quoted ? v.replace(/""/g, '"') : v);
        } else if (count < numericAt.length && numericAt[count] >= 0) {
          checkCell(buf, fStart, fEnd, quoted, numeric[numericAt[count]]);
        }
        count++;
        if (after >= e) break;
        p = after + 1; // after a trailing comma, p === e: one more, empty field
      }
      if (names) {
        header = names;
        fields = count;
        const missing = columns.filter((c) => !names.includes(c));
        if (missing.length > 0) return { kind: "missing", header: names, missing };
        numeric = numericColumns.filter((c) => names.includes(c)).map((c) => ({ column: c, index: names.indexOf(c), count: 0, firstLine: 0 }));
        numericAt = new Int32Array(count).fill(-1);
        numeric.forEach((n, i) => { numericAt[n.index] = i; });
        return true;
      }
      if (count !== fields) return false;
      rows++;
      return true;
    };
    const chunk = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      const got = chunk.subarray(0, n);
      hash.update(got);
      if (got.indexOf(CR) >= 0) return undefined;
      const buf = carry.length > 0 ? Buffer.concat([carry, got]) : got;
      let s = 0;
      if (first) {
        first = false;
        if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) s = 3;
      }
      for (;;) {
        const nl = buf.indexOf(NL, s);
        if (nl < 0) break;
        const r = record(buf, s, nl);
        if (r === false) return undefined;
        if (r !== true) return r;
        s = nl + 1;
      }
      if (buf.length - s > maxRecordBytes) return undefined;
      carry = Buffer.from(buf.subarray(s));
    }
    if (first) return { kind: "done", empty: true, rows: 0, sha256: hash.digest("hex"), unparsable: [] };
    if (carry.length > 0) {
      const r = record(carry, 0, carry.length);
      if (r === false) return undefined;
      if (r !== true) return r;
    }
    return {
      kind: "done",
      empty: header === undefined,
      rows,
      sha256: hash.digest("hex"),
      unparsable: numeric.filter((n) => n.count > 0).map(({ column, count, firstLine }) => ({ column, count, firstLine })),
    };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
`;

/**
 * The parse itself, as plain JavaScript run in a worker thread (it needs only `csv-parse` and `node:` modules, so the
 * same code runs from the TypeScript sources and from `dist/`, with no loader in the worker). It reports facts, not
 * messages: the header, the first missing schema column(s), the counts, or the parser's error with its line. The
 * messages are built in `checkDatasetCsv` below. The fast path above decides first unless `engine` is "csv-parse";
 * with "fast" (tests only) a file it cannot judge is reported as `{ kind: "undecided" }` instead of parsed again.
 */
const WORKER_SOURCE = `${FAST_SCAN_SOURCE}
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { createReadStream } = require("node:fs");
const { path, options, columns, numericColumns, maxRecordBytes, engine } = workerData;
const fast = engine === "csv-parse" ? undefined : fastScan(path, columns, numericColumns, maxRecordBytes);
if (fast !== undefined || engine === "fast") {
  parentPort.postMessage(fast ?? { kind: "undecided" });
} else {
const { parse } = require(workerData.csvParse);
const hash = createHash("sha256");
let header;
let numeric = [];
let rows = 0;
let lastLine = 0;
let missing;
const parser = parse({
  ...options,
  max_record_size: maxRecordBytes,
  // Every record is dropped here (null): nothing is kept or passed on.
  on_record: (record, context) => {
    lastLine = context.lines;
    if (header === undefined) {
      header = record;
      missing = columns.filter((c) => !record.includes(c));
      if (missing.length > 0) throw Object.assign(new Error("missing columns"), { code: "CLEANROOM_MISSING_COLUMNS" });
      numeric = numericColumns.filter((c) => record.includes(c)).map((c) => ({ column: c, index: record.indexOf(c), count: 0, firstLine: 0 }));
      return null;
    }
    rows++;
    for (const n of numeric) {
      const cell = (record[n.index] ?? "").trim();
      if (cell !== "" && !Number.isFinite(Number(cell))) {
        if (n.count === 0) n.firstLine = context.lines;
        n.count++;
      }
    }
    return null;
  },
});
const source = createReadStream(path);
source.on("error", (err) => parser.destroy(err));
source.on("data", (chunk) => hash.update(chunk));
source.pipe(parser);
parser.on("data", () => {});
parser.on("error", (err) => {
  source.destroy();
  if (err.code === "CLEANROOM_MISSING_COLUMNS") parentPort.postMessage({ kind: "missing", header, missing });
  else parentPort.postMessage({ kind: "error", error: { code: err.code, lines: err.lines, message: err.message }, lastLine });
});
parser.on("end", () => {
  parentPort.postMessage({
    kind: "done",
    empty: header === undefined,
    rows,
    sha256: hash.digest("hex"),
    unparsable: numeric.filter((n) => n.count > 0).map(({ column, count, firstLine }) => ({ column, count, firstLine })),
  });
});
}
`;

/** What the worker reports (one message, then it ends). */
type WorkerReport =
  | { kind: "done"; empty: boolean; rows: number; sha256: string; unparsable: UnparsableCells[] }
  | { kind: "missing"; header: string[]; missing: string[] }
  | { kind: "error"; error: { code?: string; lines?: number; message?: string }; lastLine: number }
  | { kind: "undecided" };

/**
 * Which parser decides (tests): `auto` (the default) the fast scanner, then csv-parse for what it cannot judge;
 * `csv-parse` csv-parse alone; `fast` the scanner alone, refusing with `internal` what it cannot judge.
 */
export type CsvCheckEngine = "auto" | "csv-parse" | "fast";

/**
 * The worker's heap limits. A streaming parse of a multi-GiB file allocates a record per line: with an unbounded heap,
 * V8 lets garbage pile up with the allocation rate (well over 100 MiB on a 256 MiB file, on top of everything else the
 * process holds); with these, it collects instead, and the worker's memory is returned when it ends. Its live data is
 * one parser buffer and a few counters.
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } as const;

/**
 * The longest record the check reads (csv-parse's `max_record_size`), well inside the worker's heap: past it, the
 * file is refused naming the record's line. A table's record is far shorter; a longer one is almost always a quote
 * that is never closed, which would otherwise make the parser hold the rest of the file as one field.
 */
export const CSV_CHECK_MAX_RECORD_BYTES = 8 * 1024 * 1024;

function runWorker(data: Record<string, unknown>): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data, resourceLimits: WORKER_LIMITS });
    let report: WorkerReport | undefined;
    worker.once("message", (m: WorkerReport) => {
      report = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (report) resolve(report);
      else reject(new CleanRoomError("internal", `The CSV check's worker ended (exit ${code}) without a result`));
    });
  });
}

/**
 * Parses the whole CSV (streamed, in a worker thread with a bounded heap) and returns its row count, its sha256 and
 * the unparsable numeric cells of the schema's numeric columns.
 *
 * @param engine which parser decides; leave the default outside tests (see {@link CsvCheckEngine})
 * @throws CleanRoomError `invalid-argument` naming the one line to fix (a quote never closed, a row with another number
 *   of fields than the header, a missing schema column, an empty file); `io-error` when the file cannot be read
 * @example
 * const { rows, unparsable } = await checkDatasetCsv("claims.csv", dataset.schema);
 */
export async function checkDatasetCsv(path: string, schema?: DatasetSchema, engine: CsvCheckEngine = "auto"): Promise<CsvCheck> {
  const columns = schema?.columns ?? [];
  const r = await runWorker({
    path,
    engine,
    csvParse: require.resolve("csv-parse"),
    maxRecordBytes: CSV_CHECK_MAX_RECORD_BYTES,
    options: CSV_PARSE_OPTIONS,
    columns: columns.map((c) => c.name),
    numericColumns: columns.filter((c) => c.type === "numeric").map((c) => c.name),
  });
  if (r.kind === "undecided") throw new CleanRoomError("internal", `The CSV check's fast scanner cannot judge ${path} (engine "fast")`);
  if (r.kind === "missing") {
    throw new CleanRoomError(
      "invalid-argument",
      `The CSV ${path} lacks the schema's column(s) ${r.missing.join(", ")} (its header: ${r.header.join(", ")}); fix the header or the schema`,
    );
  }
  if (r.kind === "error") {
    const { code } = r.error;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
      throw new CleanRoomError("io-error", `Cannot read the CSV ${path}: ${r.error.message ?? code}`, { cause: r.error });
    }
    const what =
      code === "CSV_MAX_RECORD_SIZE"
        ? `CSV ${path}, line ${r.lastLine + 1}: a record longer than ${CSV_CHECK_MAX_RECORD_BYTES / (1024 * 1024)} MiB starts here (most often a quoted field that is never closed)`
        : csvErrorMessage(path, r.error, r.lastLine);
    throw new CleanRoomError("invalid-argument", `${what}; fix it and provision again (nothing was stored)`, { cause: r.error });
  }
  if (r.empty) throw new CleanRoomError("invalid-argument", `The CSV ${path} is empty: it needs a header row naming the columns`);
  return { rows: r.rows, sha256: r.sha256, unparsable: r.unparsable };
}

/** One line per column with unparsable numeric cells, for people (a Parquet table's by row, counted from 1). */
export function describeUnparsable(u: readonly UnparsableCells[], format = "csv"): string[] {
  const where = (c: UnparsableCells) => (format === "parquet" ? `row ${c.firstLine - 1}` : `line ${c.firstLine}`);
  return u.map((c) => `column ${c.column}: ${c.count} ${format === "parquet" ? "value(s)" : "cell(s)"} are not numbers (first at ${where(c)}); DP releases count them as unknown`);
}

/** Refuses a file whose bytes changed between the check and the encryption (what was checked is what is stored). */
export function checkUnchanged(path: string, checked: string, encrypted: string): void {
  if (checked !== encrypted) {
    throw new CleanRoomError("digest-mismatch", `The file ${path} changed while it was being provisioned (sha256 ${checked} when checked, ${encrypted} when encrypted); provision it again once nothing writes to it`);
  }
}

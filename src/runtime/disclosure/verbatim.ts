/**
 * No verbatim input rows: an output line that reproduces a whole input record, or that holds a combination of an
 * input's quasi-identifier columns that is unique in that input, is flagged.
 *
 * The outputs are small next to the inputs, so the index is built on the outputs' side: the first field of every line
 * of every text output goes into a Bloom filter (`record-hash.ts` says why 64-bit hashes are enough). A quote-free CSV
 * input without quasi-identifiers is then scanned by first field (`input-scan.ts`, on the WebAssembly kernel of
 * `scan-kernel.ts`) and only the records that pass are hashed whole; a quote-free output is then read once more, and
 * only its lines whose first field such a candidate has are hashed whole and compared. Any other input is streamed
 * once through the quote-aware hasher, each record's hash looked up in a table of every line's hash (a record whose
 * first field starts no output line still skipped by a native newline search). Memory is the filter (a few bytes per
 * output line), plus tens of bytes per output line when a line's hash must be kept (an output with a quote, an input
 * read by the quote-aware hasher), plus, for inputs with quasi-identifiers, the combinations whose values all occur in
 * some output.
 *
 * Only positions and counts leave this module: never a line, a field or a value.
 */
import { isUtf8 } from "node:buffer";
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { withDuckdb } from "../dp/marginal-duckdb.js";
import { DUCKDB } from "../dp/marginal-sql.js";
import { type BloomBits64, HashMap64, IntList } from "./hash-table.js";
import { type Candidates, dataStart, PARALLEL_MIN_BYTES, scanInput } from "./input-scan.js";
import {
  firstFieldsWithKernel,
  hashLinesWithKernel,
  matchLinesWithKernel,
  ScanKernel,
  ScanWorker,
  type Utf8Checker,
  utf8Checker,
  type WorkerResult,
} from "./scan-kernel.js";
import {
  COMBINE_MUL_HI,
  COMBINE_MUL_LO,
  COMBINE_SEED_HI,
  COMBINE_SEED_LO,
  CsvRecordHasher,
  combineFinish,
  combineStep,
} from "./record-hash.js";

/** One input dataset the job read. */
export interface VerbatimInput {
  /** `<provider>/<dataset>`. */
  readonly key: string;
  /** The decrypted file. */
  readonly path: string;
  readonly format: "csv" | "parquet";
  /** Quasi-identifier column names of this input (from the provider's policy); none means no combination check. */
  readonly quasiIdentifiers?: readonly string[];
}

/** One output file to check. */
export interface VerbatimOutput {
  /** The output's path in the receipt (for the result map). */
  readonly path: string;
  /** Where the file is on disk. */
  readonly file: string;
}

/** What was found in one output. Record indices are 0-based over non-blank CSV records (a header is record 0). */
export interface TextFacts {
  /** Whether the file is UTF-8 text without NUL bytes (only such files are checked line by line). */
  readonly text: boolean;
  /** Non-blank CSV records in the file (0 when not text). */
  readonly records: number;
  /** Records that equal a whole input record, ascending (at most `MAX_LISTED` of them). */
  readonly verbatim: readonly number[];
  readonly verbatimCount: number;
  /** Records holding a combination of quasi-identifiers unique in an input, ascending (at most `MAX_LISTED`). */
  readonly quasiIdentifier: readonly number[];
  readonly quasiIdentifierCount: number;
}

/** Most record indices kept per output and rule. */
export const MAX_LISTED = 100;

/** Most combinations of a line's fields tried against one input's quasi-identifiers; past it the line counts as a match. */
export const MAX_COMBINATIONS_PER_LINE = 10_000;

const READ_CHUNK = 1024 * 1024;

/** The file functions the WebAssembly kernel reads with. */
const KERNEL_FS = { openSync, readSync, closeSync };

/** Appends pairs (low half, high half, …) to two lists, one of each half. */
function appendPairs(pairs: Int32Array, lo: IntList, hi: IntList): void {
  const n = pairs.length / 2;
  lo.reserve(n);
  hi.reserve(n);
  const l = lo.data;
  const h = hi.data;
  let at = lo.length;
  for (let p = 0; p < pairs.length; p += 2, at++) {
    l[at] = pairs[p];
    h[at] = pairs[p + 1];
  }
  lo.length = at;
  hi.length = at;
}

async function streamFile(file: string, onChunk: (chunk: Buffer) => void): Promise<void> {
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) onChunk(chunk as Buffer);
}

/** The header names of a CSV file: its first line, parsed by csv-parse. */
async function csvHeader(path: string): Promise<string[]> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(256 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString("utf8");
    const nl = text.indexOf("\n");
    const rows = parse(nl >= 0 ? text.slice(0, nl) : text, { bom: true, relax_column_count: true }) as string[][];
    return (rows[0] ?? []).map((s) => s.trim());
  } finally {
    await handle.close();
  }
}

/** A Parquet input as a temporary CSV (DuckDB writes it), removed by `cleanup`. */
async function parquetAsCsv(path: string): Promise<{ csv: string; cleanup: () => Promise<void> }> {
  // DuckDB expands `*`, `?` and `[…]` in a path: another file than the input could be read.
  if (/[*?[\]{}]/.test(path)) {
    throw new CleanRoomError("invalid-argument", `The Parquet input ${path} has one of * ? [ ] { } in its name, which DuckDB reads as a pattern; rename it`);
  }
  const dir = await mkdtemp(join(tmpdir(), "acr-disclosure-"));
  const csv = join(dir, "input.csv");
  try {
    await withDuckdb({}, async (run) => {
      await run(`COPY (SELECT * FROM read_parquet(${DUCKDB.str(path)})) TO ${DUCKDB.str(csv)} (HEADER, DELIMITER ',')`);
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new CleanRoomError("io-error", `Cannot read the Parquet input ${path} for the verbatim-rows check: ${messageOf(err)}`, { cause: err });
  }
  return { csv, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Per input with quasi-identifiers: the combinations seen, and how often (1, or 2 for "more than once"). */
class Combinations {
  readonly map = new HashMap64(1024);
  fields = new Int32Array(1024);
  counts = new Uint8Array(512);
  size = 0;
  constructor(readonly q: number) {}

  add(lo: number, hi: number, fieldLo: Int32Array, fieldHi: Int32Array, idx: readonly number[]): void {
    const at = this.map.get(lo, hi);
    if (at >= 0) {
      this.counts[at] = 2;
      return;
    }
    const id = this.size++;
    if (id === this.counts.length) {
      const c = new Uint8Array(this.counts.length * 2);
      c.set(this.counts);
      this.counts = c;
    }
    if ((id + 1) * this.q * 2 > this.fields.length) {
      const f = new Int32Array(Math.max(this.fields.length * 2, (id + 1) * this.q * 2));
      f.set(this.fields);
      this.fields = f;
    }
    for (let j = 0; j < this.q; j++) {
      this.fields[(id * this.q + j) * 2] = fieldLo[idx[j]];
      this.fields[(id * this.q + j) * 2 + 1] = fieldHi[idx[j]];
    }
    this.counts[id] = 1;
    this.map.set(lo, hi, id);
  }
}

/** The hash of a combination of field hashes taken in order (the same on both sides). */
function comboHash(lo: Int32Array, hi: Int32Array, idx: ArrayLike<number>, q: number, out: Int32Array): void {
  let a = COMBINE_SEED_LO;
  let b = COMBINE_SEED_HI;
  for (let j = 0; j < q; j++) {
    a = combineStep(a, lo[idx[j]], COMBINE_MUL_LO);
    b = combineStep(b, hi[idx[j]], COMBINE_MUL_HI);
  }
  combineFinish(a, b, q, out);
}

/** The unique combinations of one input, and which of its columns each field value occurs in (a bit mask). */
interface UniqueIndex {
  readonly q: number;
  readonly unique: HashMap64;
  readonly columnsOf: HashMap64;
}

function uniqueIndex(c: Combinations): UniqueIndex | undefined {
  const unique = new HashMap64(c.size);
  const columnsOf = new HashMap64(c.size * c.q);
  const out = new Int32Array(2);
  const idx = Array.from({ length: c.q }, (_, j) => j);
  for (let id = 0; id < c.size; id++) {
    if (c.counts[id] !== 1) continue;
    const lo = new Int32Array(c.q);
    const hi = new Int32Array(c.q);
    for (let j = 0; j < c.q; j++) {
      lo[j] = c.fields[(id * c.q + j) * 2];
      hi[j] = c.fields[(id * c.q + j) * 2 + 1];
      const prev = columnsOf.get(lo[j], hi[j]);
      columnsOf.set(lo[j], hi[j], Math.max(prev, 0) | (1 << j));
    }
    comboHash(lo, hi, idx, c.q, out);
    unique.set(out[0], out[1], 0);
  }
  return unique.size > 0 ? { q: c.q, unique, columnsOf } : undefined;
}

/**
 * Whether a line's fields hold a unique combination: each quasi-identifier column is matched to a distinct field
 * whose value occurs in that column of some unique combination, in every possible way, until one is unique.
 */
function lineHoldsUnique(h: CsvRecordHasher, u: UniqueIndex, out: Int32Array): boolean {
  const n = h.fieldCount;
  const cand: number[][] = Array.from({ length: u.q }, () => []);
  for (let p = 0; p < n; p++) {
    const mask = u.columnsOf.get(h.fieldLo[p], h.fieldHi[p]);
    if (mask <= 0) continue;
    for (let j = 0; j < u.q; j++) if (mask & (1 << j)) cand[j].push(p);
  }
  if (cand.some((c) => c.length === 0)) return false;
  const pick = new Int32Array(u.q);
  let tried = 0;
  const go = (j: number): boolean => {
    if (j === u.q) {
      // Too many ways to try: count the line as holding one (fail closed rather than let a wide line through).
      if (++tried > MAX_COMBINATIONS_PER_LINE) return true;
      comboHash(h.fieldLo, h.fieldHi, pick, u.q, out);
      return u.unique.get(out[0], out[1]) >= 0;
    }
    for (const p of cand[j]) {
      let used = false;
      for (let i = 0; i < j; i++) if (pick[i] === p) used = true;
      if (used) continue;
      pick[j] = p;
      if (go(j + 1)) return true;
    }
    return false;
  };
  return go(0);
}

/**
 * The input's records, after its header, that may equal an output line, by the first-field scan (`input-scan.ts`),
 * each passed to `sink` with its hash and its first field's. False when the input holds a double quote (or its header
 * cannot be told by newlines alone): the caller then reads it with the quote-aware hasher.
 */
async function scanFast(
  csv: string,
  key: string,
  firstFields: BloomBits64,
  kernel: ScanKernel,
  worker: ScanWorker | undefined,
  minParallelBytes: number,
  sink: (lo: number, hi: number, firstLo: number, firstHi: number) => void,
): Promise<boolean> {
  let found: Candidates | undefined;
  try {
    const from = dataStart(csv);
    if (from === undefined) return false;
    found = await scanInput(csv, from, firstFields.words, { kernel, worker, minParallelBytes });
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read the input ${key} for the verbatim-rows check: ${messageOf(err)}`, { cause: err });
  }
  if (found === undefined) return false;
  const { hashes, firsts } = found;
  for (let h = 0; h < hashes.length; h += 2) sink(hashes[h], hashes[h + 1], firsts[h], firsts[h + 1]);
  return true;
}

/** The kernel's first-field pass over one output in this thread, with its check of UTF-8 text. */
function kernelFirstFields(file: string, words: Int32Array, kernel: ScanKernel): WorkerResult {
  const utf8 = utf8Checker(isUtf8);
  const r = firstFieldsWithKernel(
    file,
    words,
    (bytes) => {
      utf8.push(bytes);
      return utf8.ok;
    },
    KERNEL_FS,
    kernel,
  );
  if (r.whole) utf8.end();
  return { whole: r.whole && utf8.ok, text: utf8.ok, records: r.records, quads: new Int32Array(0) };
}

/**
 * Runs a job per output, this thread and the worker (when there is one) each taking the next output as they are
 * free; a job the worker cannot do falls back to this thread. This thread yields between its jobs, so that the
 * worker's answers are taken as they come.
 *
 * @returns each output's result, in output order
 */
async function shareOutputs(
  count: number,
  worker: ScanWorker | undefined,
  here: (f: number) => WorkerResult,
  there: (f: number, worker: ScanWorker) => Promise<WorkerResult>,
): Promise<WorkerResult[]> {
  const results: WorkerResult[] = new Array(count);
  let next = 0;
  // This thread takes the first output: the worker may still be starting.
  const first = next++;
  const viaWorker = (async () => {
    if (!worker) return;
    for (let f = next++; f < count; f = next++) results[f] = await there(f, worker).catch(() => here(f));
  })();
  for (let f = first; f < count; f = next++) {
    results[f] = here(f);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await viaWorker;
  return results;
}

/** Keeps the first `MAX_LISTED` record indices and a count. */
class Hits {
  readonly listed: number[] = [];
  count = 0;
  add(i: number): void {
    this.count++;
    if (this.listed.length < MAX_LISTED) this.listed.push(i);
  }
}

/**
 * Checks every output for verbatim input records and unique quasi-identifier combinations.
 *
 * @returns what was found, per output path
 * @throws CleanRoomError `invalid-policy` when a quasi-identifier column is not in its input's header;
 *   `io-error` when an input cannot be read
 */
export async function checkVerbatim(
  outputs: readonly VerbatimOutput[],
  inputs: readonly VerbatimInput[],
  options: VerbatimOptions = {},
): Promise<Map<string, TextFacts>> {
  const minParallelBytes = options.minParallelBytes ?? PARALLEL_MIN_BYTES;
  // One kernel for every output and input (each call runs to its end before the next); the filter in its memory.
  const kernel = new ScanKernel();
  // With a core to spare and an input large enough, a second thread scans half of each input read by the kernel. It
  // is started now, so that its start overlaps the reading of the outputs.
  const worker = (await wantsWorker(inputs, minParallelBytes)) ? startWorker(kernel) : undefined;
  try {
    return await check(outputs, inputs, kernel, worker, minParallelBytes);
  } finally {
    await worker?.close();
  }
}

/** Options of `checkVerbatim`. */
export interface VerbatimOptions {
  /**
   * Inputs with fewer bytes than this are scanned by one thread (a worker thread's start costs tens of milliseconds).
   * @default PARALLEL_MIN_BYTES (32 MiB)
   */
  readonly minParallelBytes?: number;
}

/** Whether an input the kernel may scan (CSV, no quasi-identifiers) is large enough for two threads, with two cores. */
async function wantsWorker(inputs: readonly VerbatimInput[], minParallelBytes: number): Promise<boolean> {
  if (availableParallelism() < 2) return false;
  for (const i of inputs) {
    if (i.format !== "csv" || (i.quasiIdentifiers?.length ?? 0) > 0) continue;
    const size = await stat(i.path).then(
      (st) => st.size,
      () => -1, // the input's own read reports the error
    );
    if (size >= minParallelBytes) return true;
  }
  return false;
}

/** A scan worker, or none when the thread cannot be started (the scan then runs in this thread alone). */
function startWorker(kernel: ScanKernel): ScanWorker | undefined {
  try {
    return new ScanWorker(kernel);
  } catch {
    return undefined;
  }
}

async function check(
  outputs: readonly VerbatimOutput[],
  inputs: readonly VerbatimInput[],
  kernel: ScanKernel,
  worker: ScanWorker | undefined,
  minParallelBytes: number,
): Promise<Map<string, TextFacts>> {
  const withQi = inputs.filter((i) => (i.quasiIdentifiers?.length ?? 0) > 0);
  if (withQi.some((i) => (i.quasiIdentifiers?.length ?? 0) > 30)) {
    throw new CleanRoomError("invalid-policy", "An input declares more than 30 quasi-identifier columns; declare the few columns that identify people together");
  }
  // 1. Every text output: its lines' first fields in a Bloom filter, and its records counted. A quote-free output
  // (without quasi-identifiers to check) is read by the WebAssembly kernel, which only does that: its lines are
  // hashed whole later, and only those whose first field a candidate input record has (step 3). An output with a
  // quote, or when quasi-identifiers are checked (which needs every field's hash), is hashed by CsvRecordHasher, its
  // lines' hashes kept in line order (`lineLo`/`lineHi`, span `spans[f]`). The filter is sized from the outputs'
  // bytes (at most one line per 24 bytes, for most outputs), so that it is seldom too full; the line lists are only
  // written (memory is only touched) for the outputs that need them.
  let outputBytes = 0;
  for (const o of outputs) outputBytes += (await stat(o.file)).size;
  const expectedLines = Math.min(Math.ceil(outputBytes / 24) + 16, 1 << 26);
  const firstFields = kernel.filter(expectedLines);
  const outputFields = new HashMap64(withQi.length > 0 ? 1 << 12 : 16);
  const lineLo = new IntList(expectedLines);
  const lineHi = new IntList(expectedLines);
  const text: boolean[] = [];
  const records: number[] = [];
  const spans: ({ start: number; end: number } | undefined)[] = outputs.map(() => undefined);
  /**
   * Hashes output `f`'s lines into the lists, by the kernel when it holds no quote (`viaKernel`), else by
   * CsvRecordHasher, which checks that it is UTF-8 text as it reads when given `utf8` (nothing is listed if not).
   */
  const listLines = async (f: number, viaKernel: boolean, utf8?: Utf8Checker): Promise<void> => {
    const start = lineLo.length;
    if (viaKernel && hashLinesWithKernel(outputs[f].file, firstFields.words, () => true, (h) => appendPairs(h, lineLo, lineHi), KERNEL_FS, kernel)) {
      spans[f] = { start, end: lineLo.length };
      return;
    }
    lineLo.length = start;
    lineHi.length = start;
    const hasher = new CsvRecordHasher(
      (lo, hi, h) => {
        lineLo.push(lo);
        lineHi.push(hi);
        firstFields.set(h.firstLo, h.firstHi);
        if (withQi.length > 0) for (let p = 0; p < h.fieldCount; p++) outputFields.set(h.fieldLo[p], h.fieldHi[p], 0);
      },
      withQi.length > 0,
    );
    await streamFile(outputs[f].file, (chunk) => {
      utf8?.push(chunk);
      if (utf8?.ok !== false) hasher.push(chunk);
    });
    utf8?.end();
    if (utf8?.ok === false) {
      lineLo.length = start;
      lineHi.length = start;
      return;
    }
    hasher.end();
    spans[f] = { start, end: lineLo.length };
  };
  // The kernel's pass, this thread and the worker (when there is one) each taking the next output as they are free.
  const passes = withQi.length === 0 ? await shareOutputs(outputs.length, worker, (f) => kernelFirstFields(outputs[f].file, firstFields.words, kernel), (f, w) => w.firstFields(outputs[f].file, firstFields.words)) : [];
  for (let f = 0; f < outputs.length; f++) {
    const r = passes[f];
    if (r && (r.whole || !r.text)) {
      text.push(r.text);
      records.push(r.text ? r.records : 0);
      continue;
    }
    // A quote (or quasi-identifiers): CsvRecordHasher reads it, from its start.
    const utf8 = utf8Checker(isUtf8);
    await listLines(f, false, utf8);
    text.push(utf8.ok);
    const span = spans[f];
    records.push(span ? span.end - span.start : 0);
  }

  // 2. Each input once: mark the output lines equal to one of its records; count its quasi-identifier combinations.
  // Hashes of input records, from the fast scan, that may equal an output line (and their first fields'): compared
  // with the output lines at the end.
  const found = new HashMap64(1024);
  const foundFirsts = new IntList(1024);
  let index: { lines: HashMap64; next: Int32Array; matched: Uint8Array } | undefined;
  // Hash → lines, with equal lines chained through `next`: built once, when a record must be looked up as it is read
  // (every text output's lines are then listed).
  const lineIndex = async (): Promise<{ lines: HashMap64; next: Int32Array; matched: Uint8Array }> => {
    if (index) return index;
    for (let f = 0; f < outputs.length; f++) if (text[f] && !spans[f]) await listLines(f, true);
    const lineCount = lineLo.length;
    const lines = new HashMap64(lineCount);
    const next = new Int32Array(lineCount);
    for (let id = 0; id < lineCount; id++) next[id] = lines.set(lineLo.data[id], lineHi.data[id], id);
    index = { lines, next, matched: new Uint8Array(lineCount) };
    return index;
  };
  const uniques: UniqueIndex[] = [];
  for (const input of inputs) {
    const { csv, cleanup } = input.format === "parquet" ? await parquetAsCsv(input.path) : { csv: input.path, cleanup: async () => {} };
    try {
      const qi = input.quasiIdentifiers ?? [];
      let idx: number[] = [];
      if (qi.length > 0) {
        const header = await csvHeader(csv);
        const missing = qi.filter((c) => !header.includes(c));
        if (missing.length > 0) {
          throw new CleanRoomError(
            "invalid-policy",
            `The quasi-identifier column(s) ${missing.join(", ")} of ${input.key} are not in its header; fix the dataset's quasiIdentifiers`,
          );
        }
        idx = qi.map((c) => header.indexOf(c));
      }
      const combos = qi.length > 0 ? new Combinations(qi.length) : undefined;
      if (
        !combos &&
        (await scanFast(csv, input.key, firstFields, kernel, worker, minParallelBytes, (lo, hi, firstLo, firstHi) => {
          if (found.set(lo, hi, 0) < 0) {
            foundFirsts.push(firstLo);
            foundFirsts.push(firstHi);
          }
        }))
      ) {
        continue;
      }
      const { lines, next, matched } = await lineIndex();
      const widest = Math.max(-1, ...idx);
      const out = new Int32Array(2);
      const hasher = new CsvRecordHasher(
        (lo, hi, h) => {
          if (h.records === 0) return; // the header: column names are public
          for (let id = lines.get(lo, hi); id >= 0; id = next[id]) matched[id] = 1;
          if (combos && h.fieldCount > widest) {
            // Only combinations whose every value occurs in some output can be found there: count those alone.
            for (const p of idx) if (outputFields.get(h.fieldLo[p], h.fieldHi[p]) < 0) return;
            comboHash(h.fieldLo, h.fieldHi, idx, qi.length, out);
            combos.add(out[0], out[1], h.fieldLo, h.fieldHi, idx);
          }
        },
        combos !== undefined,
        combos ? undefined : firstFields,
      );
      let first = true;
      try {
        await streamFile(csv, (chunk) => {
          // A byte-order mark is not part of the first column's name.
          if (first && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
          first = false;
          hasher.push(chunk);
        });
      } catch (err) {
        throw new CleanRoomError("io-error", `Cannot read the input ${input.key} for the verbatim-rows check: ${messageOf(err)}`, { cause: err });
      }
      hasher.end();
      const u = combos ? uniqueIndex(combos) : undefined;
      if (u) uniques.push(u);
    } finally {
      await cleanup();
    }
  }

  // 3. The fast scan's candidates against the output lines: the listed lines by their hashes; the other outputs
  // read again by the kernel, which hashes whole only the lines whose first field a candidate has.
  const verbatimHits = outputs.map(() => new Hits());
  const matched = index?.matched;
  if (found.size > 0) {
    // Most lines match no candidate: a bit per hash's low bits, small enough for the caches, rules them out before
    // the table (larger, one cache miss per lookup) is asked.
    let bits = 1 << 13;
    while (bits < found.size * 16 && bits < 1 << 26) bits *= 2;
    const maybe = new Int32Array(bits >>> 5);
    const mask = bits - 1;
    found.forEach((lo) => {
      maybe[(lo & mask) >>> 5] |= 1 << (lo & 31);
    });
    const isFound = (l: number, h: number): boolean => (maybe[(l & mask) >>> 5] & (1 << (l & 31))) !== 0 && found.get(l, h) >= 0;
    // The outputs whose lines were not listed: read again by the kernel.
    const again: number[] = [];
    for (let f = 0; f < outputs.length; f++) {
      if (!text[f]) continue;
      const span = spans[f];
      if (span) {
        const lo = lineLo.data;
        const hi = lineHi.data;
        for (let id = span.start; id < span.end; id++) if (isFound(lo[id], hi[id]) && matched) matched[id] = 1;
        if (!matched) for (let id = span.start; id < span.end; id++) if (isFound(lo[id], hi[id])) verbatimHits[f].add(id - span.start);
        continue;
      }
      again.push(f);
    }
    if (again.length > 0) {
      // The candidates' first fields, in a filter of their own (small: it stays in the caches).
      const candidateFirsts = kernel.filter(foundFirsts.length / 2);
      const ff = foundFirsts.data;
      for (let c = 0; c < foundFirsts.length; c += 2) candidateFirsts.set(ff[c], ff[c + 1]);
      const words = candidateFirsts.words;
      let passes: WorkerResult[];
      try {
        passes = await shareOutputs(
          again.length,
          worker,
          (a) => {
            const entries = new IntList(1024);
            const r = matchLinesWithKernel(outputs[again[a]].file, words, (e) => entries.append(e), KERNEL_FS, kernel);
            return { whole: r.whole, text: true, records: r.records, quads: entries.values() };
          },
          (a, w) => w.matchLines(outputs[again[a]].file, words),
        );
      } catch (err) {
        throw new CleanRoomError("io-error", `Cannot read an output for the verbatim-rows check: ${messageOf(err)}`, { cause: err });
      }
      for (let a = 0; a < again.length; a++) {
        const f = again[a];
        const r = passes[a];
        // Read twice, the output must be the same both times (a job still writing it would be checked half).
        if (!r.whole || r.records !== records[f]) {
          throw new CleanRoomError("io-error", `The output ${outputs[f].path} changed while the verbatim-rows check read it; check it again when the job has ended`);
        }
        const e = r.quads;
        for (let q = 0; q < e.length; q += 4) if (isFound(e[q], e[q + 1])) verbatimHits[f].add(e[q + 2]);
      }
    }
  }
  if (matched) {
    for (let f = 0; f < outputs.length; f++) {
      const span = spans[f];
      if (span) for (let id = span.start; id < span.end; id++) if (matched[id]) verbatimHits[f].add(id - span.start);
    }
  }

  // 3. With unique combinations to look for, the text outputs once more, field by field.
  const qiHits = outputs.map(() => new Hits());
  if (uniques.length > 0) {
    const out = new Int32Array(2);
    for (let f = 0; f < outputs.length; f++) {
      if (!text[f]) continue;
      const hits = qiHits[f];
      const hasher = new CsvRecordHasher((_lo, _hi, h) => {
        for (const u of uniques) {
          if (lineHoldsUnique(h, u, out)) {
            hits.add(h.records);
            return;
          }
        }
      }, true);
      await streamFile(outputs[f].file, (chunk) => hasher.push(chunk));
      hasher.end();
    }
  }

  const result = new Map<string, TextFacts>();
  for (let f = 0; f < outputs.length; f++) {
    const verbatim = verbatimHits[f];
    result.set(outputs[f].path, {
      text: text[f],
      records: records[f],
      verbatim: verbatim.listed,
      verbatimCount: verbatim.count,
      quasiIdentifier: qiHits[f].listed,
      quasiIdentifierCount: qiHits[f].count,
    });
  }
  return result;
}

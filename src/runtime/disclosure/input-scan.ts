/**
 * The fast input pass of the verbatim-rows check, for a CSV input without quasi-identifiers: only records whose first
 * field may start an output line (a Bloom filter of the outputs' first fields says so) can equal one, so each record's
 * first field is hashed (normalised exactly as `CsvRecordHasher` does) and looked up, and the record is skipped to its
 * end when it is certainly absent. The few records that pass are hashed whole, for the caller to look up.
 *
 * Two engines do it. `wasm` (the default): the WebAssembly kernel of scan-kernel.wat (`scan-kernel.ts`), in this
 * thread, or in two: this one and a `ScanWorker` each take half of the records (cut at a newline), reading one filter.
 * `js`: `scanRange` below, with a native newline search per record, the file cut into byte ranges scanned in parallel
 * (this thread and worker threads). Either way, skipping to a newline is only sound when a newline always ends a
 * record, i.e. when no record is quoted: data that holds a double quote is therefore not scanned (the scan says
 * `quoted`) and the caller falls back to the one-pass, quote-aware `CsvRecordHasher`.
 *
 * `scanRange` is self-contained (no import, no module-level name): its source text is what the worker threads run,
 * so the same code runs under ts-node and from dist/.
 */
import * as fs from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CsvRecordHasher } from "./record-hash.js";
import { type KernelScan, ScanKernel, type ScanWorker, scanWithKernel } from "./scan-kernel.js";

/** What one scan of a byte range found. */
export interface RangeScan {
  /** A double quote was met: nothing else in this result may be used. */
  readonly quoted: boolean;
  /** The records whose first field passed the filter, each ended by a newline. */
  readonly candidates: Uint8Array;
}

/** The records of an input that may equal an output line (their first field passed the filter). */
export interface Candidates {
  /** Each one's whole hash (CsvRecordHasher's): low half, high half, … */
  readonly hashes: Int32Array;
  /** Each one's first field's hash (`CsvRecordHasher.firstLo`, `firstHi`), in the same order. */
  readonly firsts: Int32Array;
}

/** One byte range of an input to scan. */
export interface RangeJob {
  readonly file: string;
  /** Records starting at or after this offset (the first after a newline when it is not the data's start)… */
  readonly start: number;
  /** …and before this one are scanned (the last may end past it). */
  readonly end: number;
  /** Whether `start` is the offset of a record (else the scan begins after the first newline at or after start-1). */
  readonly atRecord: boolean;
  /** The Bloom filter's words (`BloomBits64.words`). */
  readonly words: Int32Array;
}

/** The file functions a scan uses (`node:fs`'s; passed in so that the scan's source text runs in a worker as is). */
export interface ScanFs {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
}

/**
 * Scans one byte range (see the module comment). Synchronous; self-contained (it names nothing outside itself but
 * `Buffer` and `Math`) so that its source text can run in a worker thread.
 *
 * @param block bytes read at once (a record longer than that grows the buffer)
 */
export function scanRange(job: RangeJob, fs: ScanFs, block: number): RangeScan {
  // Kept in step with record-hash.ts: its seeds, multipliers, blank rules and field finish.
  const LF = 0x0a;
  const QUOTE = 0x22;
  const COMMA = 0x2c;
  const SPACE = 0x20;
  const words = job.words;
  const mask = words.length - 1;
  const QUOTED = new Error("quoted");
  // The read buffer and the candidates, in one object: the closures below must not capture the hot loop's locals
  // (a captured, reassigned local lives in a heap context, and every use of it in the loop would load it from there).
  // buf[0, filled) holds the file's bytes from offset pos.
  const st = {
    buf: Buffer.allocUnsafe(block),
    filled: 0,
    pos: job.atRecord ? job.start : job.start - 1,
    out: Buffer.allocUnsafe(1 << 16),
    outLen: 0,
  };
  const fd = fs.openSync(job.file, "r");
  // Drops buf[0, keep), then reads more after what is left; returns the bytes read (0 at the end of the file).
  const refill = (keep: number): number => {
    if (keep > 0) {
      st.buf.copy(st.buf, 0, keep, st.filled);
      st.pos += keep;
      st.filled -= keep;
    }
    if (st.filled === st.buf.length) {
      const bigger = Buffer.allocUnsafe(st.buf.length * 2);
      st.buf.copy(bigger, 0, 0, st.filled);
      st.buf = bigger;
    }
    const n = fs.readSync(fd, st.buf, st.filled, st.buf.length - st.filled, st.pos + st.filled);
    if (n > 0 && st.buf.subarray(st.filled, st.filled + n).indexOf(QUOTE) >= 0) throw QUOTED;
    st.filled += n;
    return n;
  };
  const emit = (from: number, to: number): void => {
    const n = to - from;
    if (st.outLen + n + 1 > st.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(st.out.length * 2, st.outLen + n + 1));
      st.out.copy(bigger, 0, 0, st.outLen);
      st.out = bigger;
    }
    st.buf.copy(st.out, st.outLen, from, to);
    st.outLen += n;
    st.out[st.outLen++] = LF;
  };
  const end = job.end;
  try {
    refill(0);
    let buf = st.buf;
    let filled = st.filled;
    let i = 0;
    if (!job.atRecord) {
      // The first record starting at or after `start` follows the first newline at or after start - 1.
      for (;;) {
        const e = buf.indexOf(LF);
        if (e >= 0 && e < filled) {
          i = e + 1;
          break;
        }
        const got = refill(filled);
        buf = st.buf;
        filled = st.filled;
        if (got === 0) return { quoted: false, candidates: st.out.subarray(0, 0) };
      }
    }
    // One record per turn: it starts at buf[i] (file offset st.pos + i).
    for (;;) {
      if (i >= filled) {
        refill(i);
        buf = st.buf;
        filled = st.filled;
        i = 0;
        if (filled === 0) break;
      }
      if (st.pos + i >= end) break;
      let a = 0x811c9dc5 | 0;
      let b = 0x2545f491 | 0;
      let w = 0;
      let k = 0;
      let len = 0;
      let blank = false;
      let j = i;
      let c = -1;
      for (;;) {
        if (j >= filled) {
          const got = refill(i);
          buf = st.buf;
          filled = st.filled;
          j -= i;
          i = 0;
          if (got === 0) break;
        }
        c = buf[j];
        if (c === COMMA || c === LF) break;
        j++;
        if (c === SPACE || c === 0x09 || c === 0x0d) {
          if (len > 0) blank = true;
          continue;
        }
        if (blank) {
          blank = false;
          w = (w << 8) | SPACE;
          len++;
          if (++k === 4) {
            a = Math.imul(a ^ w, 0x9e3779b1 | 0);
            a = (a << 13) | (a >>> 19);
            b = Math.imul(b ^ w, 0x85ebca77 | 0);
            b = (b << 11) | (b >>> 21);
            w = 0;
            k = 0;
          }
        }
        w = (w << 8) | c;
        len++;
        if (++k === 4) {
          a = Math.imul(a ^ w, 0x9e3779b1 | 0);
          a = (a << 13) | (a >>> 19);
          b = Math.imul(b ^ w, 0x85ebca77 | 0);
          b = (b << 11) | (b >>> 21);
          w = 0;
          k = 0;
        }
      }
      if (j >= filled) {
        // The file ends inside the first field: a candidate whatever its hash (the caller hashes it whole).
        if (j > i) emit(i, j);
        break;
      }
      // The field's hash, finished as CsvRecordHasher's endField does (murmur3's finaliser on each half).
      a = Math.imul(a ^ w, 0x9e3779b1 | 0);
      b = Math.imul(b ^ w, 0x85ebca77 | 0);
      a ^= len;
      b ^= Math.imul(len, 0x27d4eb2f);
      let fa = a ^ Math.imul(b, 0x165667b1);
      fa ^= fa >>> 16;
      fa = Math.imul(fa, 0x85ebca6b | 0);
      fa ^= fa >>> 13;
      fa = Math.imul(fa, 0xc2b2ae35 | 0);
      fa ^= fa >>> 16;
      let fb = b ^ Math.imul(fa, 0x27d4eb2f);
      fb ^= fb >>> 16;
      fb = Math.imul(fb, 0x85ebca6b | 0);
      fb ^= fb >>> 13;
      fb = Math.imul(fb, 0xc2b2ae35 | 0);
      fb ^= fb >>> 16;
      const bits = (1 << (fb & 31)) | (1 << ((fb >>> 5) & 31)) | (1 << ((fb >>> 10) & 31));
      const pass = (words[fa & mask] & bits) === bits;
      // The record's end: its newline, or the end of the file.
      let e = c === LF ? j : -1;
      while (e < 0) {
        e = buf.indexOf(LF, j);
        if (e >= filled) e = -1;
        if (e >= 0) break;
        j = filled;
        const got = refill(i);
        buf = st.buf;
        filled = st.filled;
        j -= i;
        i = 0;
        if (got === 0) e = filled;
      }
      if (pass) emit(i, e);
      if (e >= filled) break; // the end of the file
      i = e + 1;
    }
    return { quoted: false, candidates: st.out.subarray(0, st.outLen) };
  } catch (err) {
    if (err === QUOTED) return { quoted: true, candidates: st.out.subarray(0, 0) };
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/** Inputs smaller than this (bytes after the header) are scanned by this thread alone. */
export const PARALLEL_MIN_BYTES = 32 * 1024 * 1024;

/** Most threads one input is scanned by. */
export const MAX_SCAN_THREADS = 4;

const BLOCK = 8 * 1024 * 1024;

// Plain JS built from scanRange's own source, so it runs the same under ts-node and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const scanRange = ${scanRange.toString()};
const r = scanRange(workerData.job, require("node:fs"), workerData.block);
parentPort.postMessage(r, r.candidates.byteLength > 0 ? [r.candidates.buffer] : []);
`;

/** `a` then `b`, in one array. */
function concat(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The offset of the first record that starts at or after `offset` (the byte after the first newline at or after
 * `offset - 1`), or undefined when no newline follows (then no record starts there). Only sound for quote-free data,
 * which is all the scan reads (a quote stops it).
 */
export function recordAfter(file: string, offset: number): number | undefined {
  if (offset <= 0) return 0;
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let pos = offset - 1; ; pos += buf.length) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return undefined;
      const nl = buf.subarray(0, n).indexOf(0x0a);
      if (nl >= 0) return pos + nl + 1;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where an input's data records start: after its header, the first line with a non-blank byte (a byte-order mark
 * first is skipped). Undefined when that cannot be told by newlines alone (a quote before the header's end, or no
 * newline in the first megabyte): the caller then reads the file with `CsvRecordHasher`.
 */
export function dataStart(file: string): number | undefined {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(1024 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    let i = n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
    let nonBlank = false;
    for (; i < n; i++) {
      const c = buf[i];
      if (c === 0x22) return undefined;
      if (c === 0x0a) {
        if (nonBlank) return i + 1;
      } else if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x2c) nonBlank = true;
    }
    // The header is the whole file (nothing after it), or longer than a megabyte.
    return n < buf.length && nonBlank ? n : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function inWorker(job: RangeJob): Promise<RangeScan> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { job, block: BLOCK } });
    let done = false;
    worker.once("message", (m: { quoted: boolean; candidates: Uint8Array }) => {
      done = true;
      resolve({ quoted: m.quoted, candidates: m.candidates });
    });
    worker.once("error", (err) => {
      done = true;
      reject(err);
    });
    worker.once("exit", (code) => {
      if (!done) reject(new Error(`the scan worker exited with code ${code}`));
    });
  });
}

/**
 * How an input is scanned: `wasm`, the WebAssembly kernel in this thread (`scan-kernel.ts`); `js`, `scanRange` in
 * this thread and worker threads.
 */
export type ScanEngine = "wasm" | "js";

/**
 * Scans an input's records from `from` (a record's offset, after the header) to its end, with the Bloom filter `words`
 * of the outputs' first fields: by the WebAssembly kernel in this thread, or by `scanRange` in parallel across up to
 * `MAX_SCAN_THREADS` threads (this one and workers). Both give the whole hash (`CsvRecordHasher`'s) of every
 * non-blank record whose first field passes the filter, in file order.
 *
 * @param options `engine` (default `wasm`) and, for it, `kernel` (default: a new one), `worker` (a `ScanWorker` on
 *   that kernel: it scans the records from `split`, default the middle, while this thread scans those before); for
 *   `js`, `threads` (default: the cores, at most `MAX_SCAN_THREADS`); for both, `minParallelBytes` (default
 *   `PARALLEL_MIN_BYTES`): smaller inputs are scanned by this thread alone
 * @returns the candidate records' hashes (low half, high half, …) and their first fields' (`firsts`, in the same
 *   order), or undefined when the input holds a double quote (then the caller must read it with the quote-aware
 *   `CsvRecordHasher`)
 * @throws the file system's error when the input cannot be read
 */
export async function scanInput(
  file: string,
  from: number,
  words: Int32Array,
  options: {
    readonly engine?: ScanEngine;
    readonly kernel?: ScanKernel;
    readonly worker?: ScanWorker;
    readonly split?: number;
    readonly threads?: number;
    readonly minParallelBytes?: number;
  } = {},
): Promise<Candidates | undefined> {
  if ((options.engine ?? "wasm") === "wasm") {
    const kernel = options.kernel ?? new ScanKernel();
    const worker = options.worker;
    const size = fs.statSync(file).size;
    const split =
      worker && size - from >= (options.minParallelBytes ?? PARALLEL_MIN_BYTES)
        ? recordAfter(file, Math.max(from, options.split ?? from + Math.floor((size - from) / 2)))
        : undefined;
    if (!worker || split === undefined || split <= from || split >= size) {
      const r = scanWithKernel(file, from, words, fs, kernel);
      return r.quoted ? undefined : { hashes: r.hashes, firsts: r.firsts };
    }
    // Two threads: the worker scans the records from `split` on while this one scans those before it, both reading
    // the one filter in the kernel's shared memory.
    const shared = kernel.adopt(words);
    const theirs = worker.scan(file, split, Number.MAX_SAFE_INTEGER, shared).catch(() => undefined);
    const mine = scanWithKernel(file, from, shared, fs, kernel, split);
    // A worker that could not run: this thread scans its range.
    const rest: KernelScan = (await theirs) ?? scanWithKernel(file, split, shared, fs, kernel);
    if (mine.quoted || rest.quoted) return undefined;
    return { hashes: concat(mine.hashes, rest.hashes), firsts: concat(mine.firsts, rest.firsts) };
  }
  const size = fs.statSync(file).size;
  const wanted = options.threads ?? Math.min(MAX_SCAN_THREADS, availableParallelism());
  const threads = size - from < (options.minParallelBytes ?? PARALLEL_MIN_BYTES) ? 1 : Math.max(1, wanted);
  const cuts = Array.from({ length: threads + 1 }, (_, t) => (t === threads ? size : from + Math.floor(((size - from) * t) / threads)));
  const jobs: RangeJob[] = cuts.slice(0, threads).map((start, t) => ({ file, start, end: cuts[t + 1], atRecord: t === 0, words }));
  // Workers start first so that they run while this thread scans the first range.
  const others = jobs.slice(1).map((job) =>
    inWorker(job).catch(() => scanRange(job, fs, BLOCK)), // a worker that cannot run: this thread scans its range
  );
  const first = scanRange(jobs[0], fs, BLOCK);
  const results = [first, ...(await Promise.all(others))];
  if (results.some((r) => r.quoted)) return undefined;
  // Candidates are whole records, one per line and quote-free: each is hashed in full.
  const hashes: number[] = [];
  const firsts: number[] = [];
  const hasher = new CsvRecordHasher((lo, hi, h) => {
    hashes.push(lo, hi);
    firsts.push(h.firstLo, h.firstHi);
  });
  for (const r of results) hasher.push(r.candidates);
  hasher.end();
  return { hashes: Int32Array.from(hashes), firsts: Int32Array.from(firsts) };
}

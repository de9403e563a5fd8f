/**
 * The verbatim check's WebAssembly kernel (scan-kernel.wat) and its driver: a file is read straight into the kernel's
 * memory, block by block, and the kernel does the per-byte work: for an input (`scanWithKernel`, the default engine of
 * `input-scan.ts`), it hashes each record's first field, looks it up in the Bloom filter, finds the record's newline
 * 16 bytes at a time and hashes the few records that pass whole; for an output, it puts each line's first field in the
 * filter (`firstFieldsWithKernel`), later hashes whole only the lines whose first field a candidate record has
 * (`matchLinesWithKernel`), or hashes every line whole (`hashLinesWithKernel`). This thread only hands over blocks and
 * collects hashes. All give exactly what `scanRange` and `CsvRecordHasher` give (tests compare them).
 *
 * The kernel's memory is shared: the filter lives in it (`ScanKernel.filter`), so that no copy of it is made per file
 * and a worker thread's instance can read it in place. Fresh memory is costly on the virtual machines a room runs on
 * (each new page is a fault the host serves), so a check allocates as little of it as it can: one filter, one block.
 */
import { BloomBits64, IntList } from "./hash-table.js";
import { Worker } from "node:worker_threads";
import type { ScanFs } from "./input-scan.js";
import { SCAN_KERNEL_WASM_BASE64 } from "./scan-kernel-bytes.js";

const PAGE = 65536;
/** Bytes the kernel reads at once: small enough that a block is still in the CPU's caches when the kernel reads it. */
export const KERNEL_BLOCK = 1024 * 1024;

/** The kernel memory's most pages (2 GiB: an address must stay positive as an i32). */
const MAX_PAGES = 32768;

/** Room for the kernel's batch of 128 records (32 bytes each). */
const BATCH_BYTES = 128 * 32;

/** Entries the kernel writes per call (up to 16 bytes each) before this thread drains them. */
const OUT_CAP = 16384;

/** The scan's modes (scan-kernel.wat). */
const PROBE = 0;
const SET = 1;
const PROBE_INDEXED = 2;

// The few WebAssembly names used here (this project's type libraries do not declare the WebAssembly namespace).
/** A WebAssembly memory (shared: its buffer is a SharedArrayBuffer, never detached by growth). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  /** Adds pages; returns the page count before, i.e. where the new pages start (each caller gets its own). */
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: object };
  readonly Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const WASM = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

interface KernelExports {
  readonly count: { readonly value: number };
  readonly records: { value: number };
  scan(from: number, filled: number, limit: number, bloom: number, mask: number, out: number, cap: number, batch: number, mode: number): number;
  lines(from: number, filled: number, bloom: number, mask: number, out: number, cap: number, batch: number): number;
}

/** The compiled kernel (immutable, so shared; each `ScanKernel` has its own instance). */
let compiled: object | undefined;

/** The compiled kernel module (compiled once per thread, on first use). */
export function kernelModule(): object {
  compiled ??= new WASM.Module(Buffer.from(SCAN_KERNEL_WASM_BASE64, "base64"));
  return compiled;
}

/** A new, empty kernel memory (one page, shared). */
export function kernelMemory(): WasmMemory {
  return new WASM.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
}

/** Takes `bytes` (rounded up to pages) at the end of `memory`: returns their address, this caller's alone. */
export function allocate(memory: WasmMemory, bytes: number): number {
  return memory.grow(Math.ceil(bytes / PAGE)) * PAGE;
}

/**
 * One instance of the kernel on a memory (its own by default, or one shared with other threads' instances) and its
 * regions in it: its entries and batch, its block buffer, and the filters it scans with. A check makes one and passes
 * it to each scan and each output's hashing; each call is synchronous, so calls never interleave.
 */
export class ScanKernel {
  /** The instance's exports. */
  readonly k: KernelExports;
  readonly memory: WasmMemory;
  /** Where the entries are written and the batch kept. */
  readonly outBase: number;
  readonly batchBase: number;
  /** The block buffer and its size (a record longer than the block moves it to a larger region). */
  bufBase: number;
  cap: number;
  /** The filter the next call uses: its address and word mask (set by `load`). */
  bloom = 0;
  mask = 0;
  /** The memory's bytes (a new view after a growth, by this thread or another). */
  mem: Uint8Array;
  /** Filters made by `filter`, which `load` uses in place. */
  private readonly own = new Set<Int32Array>();
  /** Where `load` copies a filter made elsewhere (grown as needed). */
  private copy: { at: number; words: number } | undefined;

  /**
   * @param block bytes read at once (a longer record grows the block)
   * @param memory the memory to run on (default: a new one)
   */
  constructor(block: number = KERNEL_BLOCK, memory: WasmMemory = kernelMemory()) {
    this.memory = memory;
    this.k = new WASM.Instance(kernelModule(), { env: { memory } }).exports as KernelExports;
    this.outBase = allocate(memory, OUT_CAP * 16 + BATCH_BYTES);
    this.batchBase = this.outBase + OUT_CAP * 16;
    this.cap = block;
    this.bufBase = allocate(memory, block + 16);
    this.mem = new Uint8Array(memory.buffer);
  }

  /** A Bloom filter for `entries` hashes that lives in the kernel's memory: scans read it in place. */
  filter(entries: number): BloomBits64 {
    return new BloomBits64(entries, (words) => {
      const at = allocate(this.memory, words * 4);
      const view = new Int32Array(this.memory.buffer, at, words);
      this.own.add(view);
      return view;
    });
  }

  /**
   * Makes `words` the filter of the next calls: in place when `filter` made it, else copied into the kernel's memory.
   *
   * @returns whether it was copied (then a call that sets bits must copy them back)
   */
  load(words: Int32Array): boolean {
    this.mask = words.length - 1;
    if (this.own.has(words)) {
      this.bloom = words.byteOffset;
      return false;
    }
    if (!this.copy || this.copy.words < words.length) this.copy = { at: allocate(this.memory, words.length * 4), words: words.length };
    this.bloom = this.copy.at;
    this.view(this.bloom + words.length * 4);
    new Int32Array(this.memory.buffer, this.bloom, words.length).set(words);
    return true;
  }

  /**
   * `words` as a filter in this kernel's memory: itself when `filter` made it, else a copy (in a region of its own),
   * which other threads' instances can read while this one scans.
   */
  adopt(words: Int32Array): Int32Array {
    if (this.own.has(words)) return words;
    const at = allocate(this.memory, words.length * 4);
    const view = new Int32Array(this.memory.buffer, at, words.length);
    view.set(words);
    this.own.add(view);
    return view;
  }

  /** The filter's words as the kernel holds them (after `load`). */
  loaded(): Int32Array {
    return new Int32Array(this.memory.buffer, this.bloom, this.mask + 1);
  }

  /** The memory's bytes, a view that reaches at least `end` (another thread may have grown the memory). */
  view(end: number): Uint8Array {
    if (this.mem.length < end) this.mem = new Uint8Array(this.memory.buffer);
    return this.mem;
  }

  /** The entries the last call wrote, `width` i32 each. */
  entries(width: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.outBase, this.k.count.value * width);
  }
}

/** A block buffer in a kernel memory (`ScanKernel`'s, or a worker's): where it is, its size, a view of the memory. */
export interface BlockLane {
  readonly memory: WasmMemory;
  mem: Uint8Array;
  bufBase: number;
  cap: number;
}

/**
 * Reads `file` from `from` (a record's offset) to `to` (another record's offset, or past the end of the file) into
 * the lane's block buffer, one block at a time, and calls `run` on the bytes held: it returns the address of the first
 * record it did not consume (-1: a quote was met, stop). A record longer than the block moves it to a region twice as
 * large. A last record without a newline is given one. Self-contained (it names nothing outside itself but `Math` and
 * `Uint8Array`): its source text also runs in the scan worker (`ScanWorker`).
 *
 * @param onRead sees each run of bytes read, before `run` does; false stops the reading
 * @returns false when `run` met a quote or `onRead` said stop, else true
 */
export function readBlocks(
  lane: BlockLane,
  fs: ScanFs,
  file: string,
  from: number,
  to: number,
  onRead: (bytes: Uint8Array) => boolean,
  run: (start: number, end: number) => number,
): boolean {
  const LF = 0x0a;
  const PAGE = 65536;
  let base = lane.bufBase;
  // A view that reaches `end` (this thread or another may have grown the memory since the last one was made).
  const view = (end: number): Uint8Array => {
    if (lane.mem.length < end) lane.mem = new Uint8Array(lane.memory.buffer);
    return lane.mem;
  };
  let mem = view(base + lane.cap + 16);
  const fd = fs.openSync(file, "r");
  try {
    // mem[base, base + filled) holds the file's bytes from offset pos.
    let pos = from;
    let filled = 0;
    let eof = false;
    for (;;) {
      while (!eof && filled < lane.cap) {
        const want = Math.min(lane.cap - filled, to - pos - filled);
        const n = want > 0 ? fs.readSync(fd, mem, base + filled, want, pos + filled) : 0;
        if (n > 0) {
          if (!onRead(mem.subarray(base + filled, base + filled + n))) return false;
          filled += n;
        } else {
          eof = true;
          if (filled > 0 && mem[base + filled - 1] !== LF) mem[base + filled++] = LF;
        }
      }
      const end = base + filled;
      const next = run(base, end);
      if (next < 0) return false;
      if (eof && next === end) return true;
      // `next` starts a record that runs past the bytes held, or that did not fit in the output: keep it, read on.
      const keep = next - base;
      if (keep === 0 && filled === lane.cap) {
        // A record longer than the block: a block twice as large, elsewhere (the memory cannot give back the old one).
        lane.cap *= 2;
        lane.bufBase = lane.memory.grow(Math.ceil((lane.cap + 16) / PAGE)) * PAGE;
        mem = view(lane.bufBase + lane.cap + 16);
        mem.copyWithin(lane.bufBase, base, end);
        base = lane.bufBase;
      } else {
        mem.copyWithin(base, next, end);
        pos += keep;
        filled -= keep;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A UTF-8 check fed chunk by chunk: `ok` until a chunk holds a NUL byte or is not UTF-8. */
export interface Utf8Checker {
  readonly ok: boolean;
  push(chunk: Uint8Array): void;
  /** The end of the bytes: a character left unfinished makes them not UTF-8. */
  end(): void;
}

/**
 * A UTF-8 check that carries a character split across chunks. Self-contained (`isUtf8` is `node:buffer`'s): its
 * source text also runs in the scan worker.
 */
export function utf8Checker(isUtf8: (bytes: Uint8Array) => boolean): Utf8Checker {
  let ok = true;
  let carry = new Uint8Array(0);
  // Where a multi-byte character that the chunk does not finish starts (the chunk's length when none).
  const incompleteTail = (b: Uint8Array, from: number): number => {
    const n = b.length;
    for (let i = n - 1; i >= Math.max(from, n - 3); i--) {
      const c = b[i];
      if ((c & 0xc0) === 0x80) continue;
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      return n - i < need ? i : n;
    }
    return n;
  };
  return {
    get ok() {
      return ok;
    },
    push(chunk: Uint8Array): void {
      if (!ok) return;
      if (chunk.indexOf(0) >= 0) {
        ok = false;
        return;
      }
      let head = 0;
      if (carry.length > 0) {
        // Complete the carried character with the chunk's leading continuation bytes.
        while (head < chunk.length && head < 3 && (chunk[head] & 0xc0) === 0x80) head++;
        const joined = new Uint8Array(carry.length + head);
        joined.set(carry);
        joined.set(chunk.subarray(0, head), carry.length);
        if (!isUtf8(joined)) {
          ok = false;
          return;
        }
        carry = new Uint8Array(0);
      }
      const cut = incompleteTail(chunk, head);
      if (!isUtf8(chunk.subarray(head, cut))) ok = false;
      else carry = chunk.slice(cut);
    },
    end(): void {
      if (carry.length > 0) ok = false;
    },
  };
}

/** What `scanWithKernel` found. */
export interface KernelScan {
  /** A double quote was met: `hashes` and `firsts` may not be used. */
  readonly quoted: boolean;
  /** Each non-blank record whose first field passed the filter: its whole hash (CsvRecordHasher's), low half first. */
  readonly hashes: Int32Array;
  /** The same records' first fields' hashes (`CsvRecordHasher.firstLo`, `firstHi`), in the same order. */
  readonly firsts: Int32Array;
}

/** Splits entries of four i32 (a hash, then two more) into two lists of pairs. */
function splitQuads(quads: Int32Array, a: IntList, b: IntList): void {
  const n = quads.length / 2;
  a.reserve(n);
  b.reserve(n);
  for (let q = 0; q < quads.length; q += 4) {
    a.data[a.length++] = quads[q];
    a.data[a.length++] = quads[q + 1];
    b.data[b.length++] = quads[q + 2];
    b.data[b.length++] = quads[q + 3];
  }
}

/**
 * Scans the records of `file` from `from` (a record's offset) to `to` (default: its end) with the kernel: the hashes
 * of the records whose first field may be in the Bloom filter `words`, or `quoted` when the data holds a double quote.
 *
 * @param kernel the kernel to run on (default: a new one)
 * @param to where to stop: the offset of a record (the one after the last scanned), or the file's size
 * @throws the file system's error when the file cannot be read
 */
export function scanWithKernel(
  file: string,
  from: number,
  words: Int32Array,
  fs: ScanFs,
  kernel: ScanKernel = new ScanKernel(),
  to: number = Number.MAX_SAFE_INTEGER,
): KernelScan {
  kernel.load(words);
  const hashes = new IntList(1 << 12);
  const firsts = new IntList(1 << 12);
  const ok = readBlocks(
    kernel,
    fs,
    file,
    from,
    to,
    () => true,
    (start, end) => {
      const next = kernel.k.scan(start, end, end, kernel.bloom, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase, PROBE);
      if (next >= 0) splitQuads(kernel.entries(4), hashes, firsts);
      return next;
    },
  );
  return ok ? { quoted: false, hashes: hashes.values(), firsts: firsts.values() } : { quoted: true, hashes: new Int32Array(0), firsts: new Int32Array(0) };
}

/**
 * Puts the first field of every non-blank record of a quote-free CSV file in the Bloom filter `words` (in place), as
 * CsvRecordHasher's `firstLo`/`firstHi` would, and counts those records.
 *
 * @param check sees every byte of the file, in order; false stops (e.g. the file is not UTF-8 text)
 * @returns `whole`: false when the file held a double quote or `check` said stop (the filter may then hold some of
 *   its first fields: more bits only let more records through the filter); `records`: the non-blank records
 * @throws the file system's error when the file cannot be read
 */
export function firstFieldsWithKernel(
  file: string,
  words: Int32Array,
  check: (bytes: Uint8Array) => boolean,
  fs: ScanFs,
  kernel: ScanKernel = new ScanKernel(),
): { readonly whole: boolean; readonly records: number } {
  const copied = kernel.load(words);
  kernel.k.records.value = 0;
  const whole = readBlocks(kernel, fs, file, 0, Number.MAX_SAFE_INTEGER, check, (start, end) =>
    kernel.k.scan(start, end, end, kernel.bloom, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase, SET),
  );
  if (copied) words.set(kernel.loaded());
  return { whole, records: kernel.k.records.value };
}

/**
 * Hashes whole the records of a quote-free CSV file whose first field may be in the Bloom filter `words` (the
 * candidates' first fields), and gives each one's hash with its index among the file's non-blank records (the index
 * `CsvRecordHasher.records` gives: 0 for the first).
 *
 * @param sink receives entries of four i32 (hash low half, high half, index, 0), a run at a time, in file order (the
 *   array is reused after the call returns)
 * @returns `whole`: false when the file held a double quote; `records`: the non-blank records
 * @throws the file system's error when the file cannot be read
 */
export function matchLinesWithKernel(
  file: string,
  words: Int32Array,
  sink: (entries: Int32Array) => void,
  fs: ScanFs,
  kernel: ScanKernel = new ScanKernel(),
): { readonly whole: boolean; readonly records: number } {
  kernel.load(words);
  kernel.k.records.value = 0;
  const whole = readBlocks(
    kernel,
    fs,
    file,
    0,
    Number.MAX_SAFE_INTEGER,
    () => true,
    (start, end) => {
      const next = kernel.k.scan(start, end, end, kernel.bloom, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase, PROBE_INDEXED);
      if (next >= 0) sink(kernel.entries(4));
      return next;
    },
  );
  return { whole, records: kernel.k.records.value };
}

/**
 * Hashes every non-blank record of a quote-free CSV file whole, as CsvRecordHasher does, and adds each one's first
 * field to the Bloom filter `words` (in place).
 *
 * @param check sees every byte of the file, in order; false stops the hashing (e.g. the file is not UTF-8 text)
 * @param sink receives the records' hashes in order, a run at a time (low half, high half, …; the array is reused
 *   after the call returns)
 * @param kernel the kernel to run on (default: a new one)
 * @returns true when the whole file was hashed; false when it held a double quote or `check` said stop (then what
 *   `sink` received must be dropped, and the filter is unchanged unless `kernel.filter` made it)
 * @throws the file system's error when the file cannot be read
 */
export function hashLinesWithKernel(
  file: string,
  words: Int32Array,
  check: (bytes: Uint8Array) => boolean,
  sink: (hashes: Int32Array) => void,
  fs: ScanFs,
  kernel: ScanKernel = new ScanKernel(),
): boolean {
  const copied = kernel.load(words);
  const ok = readBlocks(kernel, fs, file, 0, Number.MAX_SAFE_INTEGER, check, (start, end) => {
    const next = kernel.k.lines(start, end, kernel.bloom, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase);
    if (next >= 0) sink(kernel.entries(2));
    return next;
  });
  if (ok && copied) words.set(kernel.loaded());
  return ok;
}

/**
 * A job for the scan worker: the records of `file` from `from` to `to`, scanned in `mode` (scan-kernel.wat's) with
 * the filter at `bloom` (`mask`); `utf8`: check that the bytes are UTF-8 text as they are read.
 */
interface WorkerJob {
  readonly file: string;
  readonly from: number;
  readonly to: number;
  readonly bloom: number;
  readonly mask: number;
  readonly mode: number;
  readonly utf8: boolean;
}

/** What the worker found in one job. */
export interface WorkerResult {
  /** Whether the whole range was scanned (false: a quote, or bytes that are not UTF-8 text). */
  readonly whole: boolean;
  /** Whether the bytes read were UTF-8 text (true when not checked). */
  readonly text: boolean;
  /** The non-blank records met (modes 1 and 2). */
  readonly records: number;
  /** The entries written (four i32 each, as `scan` writes them). */
  readonly quads: Int32Array;
}

/** The scan worker's answer: its result, or the error it met. */
type WorkerAnswer = WorkerResult | { readonly error: string };

/** What the scan worker is started with. */
interface WorkerSetup {
  readonly module: object;
  readonly memory: WasmMemory;
  readonly block: number;
  readonly outCap: number;
  readonly batchBytes: number;
}

/**
 * The scan worker's side: an instance of the kernel on the check's shared memory (the filter is read in place), with
 * its own entries, batch and block, scanning each range it is sent in the probe mode. Self-contained (everything
 * comes in as a parameter): its source text is what the worker runs, so the same code runs under ts-node and from
 * dist/.
 */
export function kernelWorkerMain(
  setup: WorkerSetup,
  port: { on(event: "message", fn: (job: WorkerJob) => void): void; postMessage(answer: WorkerAnswer, transfer?: ArrayBuffer[]): void },
  fs: ScanFs,
  read: typeof readBlocks,
  wasm: WasmApi,
  checker: () => Utf8Checker,
): void {
  const PAGE = 65536;
  const memory = setup.memory;
  const k = new wasm.Instance(setup.module, { env: { memory } }).exports as KernelExports;
  const outBase = memory.grow(Math.ceil((setup.outCap * 16 + setup.batchBytes) / PAGE)) * PAGE;
  const batchBase = outBase + setup.outCap * 16;
  const lane = { memory, mem: new Uint8Array(memory.buffer), bufBase: memory.grow(Math.ceil((setup.block + 16) / PAGE)) * PAGE, cap: setup.block };
  port.on("message", (job) => {
    try {
      let quads = new Int32Array(1 << 12);
      let n = 0;
      const utf8 = job.utf8 ? checker() : undefined;
      const onRead = (bytes: Uint8Array): boolean => {
        utf8?.push(bytes);
        return utf8?.ok !== false;
      };
      k.records.value = 0;
      let ok = read(lane, fs, job.file, job.from, job.to, onRead, (start, end) => {
        const next = k.scan(start, end, end, job.bloom, job.mask, outBase, setup.outCap, batchBase, job.mode);
        if (next >= 0 && k.count.value > 0) {
          const got = new Int32Array(memory.buffer, outBase, k.count.value * 4);
          if (n + got.length > quads.length) {
            const bigger = new Int32Array(Math.max(quads.length * 2, n + got.length));
            bigger.set(quads.subarray(0, n));
            quads = bigger;
          }
          quads.set(got, n);
          n += got.length;
        }
        return next;
      });
      if (ok) utf8?.end();
      const text = utf8?.ok !== false;
      ok = ok && text;
      const answer = ok ? quads.slice(0, n) : new Int32Array(0);
      port.postMessage({ whole: ok, text, records: k.records.value, quads: answer }, [answer.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
  });
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { isUtf8 } = require("node:buffer");
const readBlocks = ${readBlocks.toString()};
const utf8Checker = ${utf8Checker.toString()};
const main = ${kernelWorkerMain.toString()};
main(workerData, parentPort, require("node:fs"), readBlocks, WebAssembly, () => utf8Checker(isUtf8));
`;

/**
 * A worker thread running the kernel on a `ScanKernel`'s memory, for the second half of an input (`scanInput`). Its
 * start (a few tens of milliseconds) is best paid while this thread does something else: a check starts it before
 * reading its outputs. One range at a time; `close` ends it.
 */
export class ScanWorker {
  private readonly worker: Worker;
  private pending: { resolve: (a: WorkerResult) => void; reject: (err: Error) => void } | undefined;
  private failed: Error | undefined;
  /** Ranges the worker has scanned. */
  ranges = 0;

  /** @param kernel the kernel whose memory (and filters) the worker reads */
  constructor(kernel: ScanKernel, block: number = KERNEL_BLOCK) {
    const setup: WorkerSetup = { module: kernelModule(), memory: kernel.memory, block, outCap: OUT_CAP, batchBytes: BATCH_BYTES };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: setup });
    this.worker.unref();
    this.worker.on("message", (answer: WorkerAnswer) => {
      const p = this.pending;
      this.pending = undefined;
      if ("error" in answer) p?.reject(new Error(answer.error));
      else {
        this.ranges++;
        p?.resolve(answer);
      }
    });
    const fail = (err: Error): void => {
      this.failed ??= err;
      this.pending?.reject(this.failed);
      this.pending = undefined;
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`the scan worker exited with code ${code}`)));
  }

  /**
   * Scans the records of `file` from `from` to `to` (offsets of records, or `to` past the end) with the filter
   * `words`, which must be in the kernel's memory (`ScanKernel.filter` or `adopt` made it): what `scanWithKernel`
   * gives for that range.
   *
   * @throws when the worker could not run, or met an error reading the file (the caller may scan the range itself)
   */
  async scan(file: string, from: number, to: number, words: Int32Array): Promise<KernelScan> {
    const r = await this.run({ file, from, to, bloom: words.byteOffset, mask: words.length - 1, mode: PROBE, utf8: false });
    const hashes = new IntList(r.quads.length / 2);
    const firsts = new IntList(r.quads.length / 2);
    splitQuads(r.quads, hashes, firsts);
    return { quoted: !r.whole, hashes: hashes.values(), firsts: firsts.values() };
  }

  /**
   * `firstFieldsWithKernel` in the worker, with its check of UTF-8 text: puts the first field of every non-blank
   * record of `file` in the filter `words` (in the kernel's memory; bits are set atomically, so that this thread may
   * fill the same filter from another file meanwhile).
   *
   * @returns `whole`, `records` as `firstFieldsWithKernel`'s, and `text`: false when the file is not UTF-8 text
   */
  firstFields(file: string, words: Int32Array): Promise<WorkerResult> {
    return this.run({ file, from: 0, to: Number.MAX_SAFE_INTEGER, bloom: words.byteOffset, mask: words.length - 1, mode: SET, utf8: true });
  }

  /** `matchLinesWithKernel` in the worker: its entries (`quads`) in one array. */
  matchLines(file: string, words: Int32Array): Promise<WorkerResult> {
    return this.run({ file, from: 0, to: Number.MAX_SAFE_INTEGER, bloom: words.byteOffset, mask: words.length - 1, mode: PROBE_INDEXED, utf8: false });
  }

  private run(job: WorkerJob): Promise<WorkerResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending) return Promise.reject(new Error("the scan worker is busy"));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(job);
    });
  }

  /** Ends the worker thread. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * The verbatim check's WebAssembly kernel (scan-kernel.wat) and its driver: a file is read straight into the kernel's
 * memory, block by block, and the kernel does the per-byte work: for an input (`scanWithKernel`, the default engine of
 * `input-scan.ts`), it hashes each record's first field, looks it up in the Bloom filter, finds the record's newline
 * 16 bytes at a time and hashes the few records that pass whole; for an output (`hashLinesWithKernel`), it hashes
 * every line whole and fills the filter. This thread only hands over blocks and collects hashes. Both give exactly
 * what `scanRange` and `CsvRecordHasher` give (tests compare them), in one thread: on a machine with few cores a worker
 * thread's start and its competition for the cores cost more than the scan it would take over.
 */
import { IntList } from "./hash-table.js";
import type { ScanFs } from "./input-scan.js";
import { SCAN_KERNEL_WASM_BASE64 } from "./scan-kernel-bytes.js";

const LF = 0x0a;
const PAGE = 65536;
/** Bytes the kernel reads at once: small enough that a block is still in the CPU's caches when the kernel reads it. */
export const KERNEL_BLOCK = 1024 * 1024;

/** Room for the kernel's batch of 32 records (16 bytes each). */
const BATCH_BYTES = 32 * 16;

/** Hashes the kernel writes per call (8 bytes each) before this thread drains them. */
const OUT_CAP = 16384;

// The few WebAssembly names used here (this project's type libraries do not declare the WebAssembly namespace).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: object };
}
const WASM = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

interface KernelExports {
  readonly memory: WasmMemory;
  readonly count: { readonly value: number };
  scan(from: number, filled: number, limit: number, bloom: number, mask: number, out: number, cap: number, batch: number): number;
  lines(from: number, filled: number, bloom: number, mask: number, out: number, cap: number, batch: number): number;
}

/** The compiled kernel (immutable, so shared; each `ScanKernel` has its own instance and memory). */
let compiled: object | undefined;

/**
 * One instance of the kernel and its memory: the Bloom filter at address 0, room for `OUT_CAP` entries, then the block
 * buffer. Creating one costs a memory of a few MiB (and, with many, garbage collections), so a check makes one and
 * passes it to each scan and each output's hashing; each call is synchronous, so calls never interleave. Layout: the
 * filter's words at address 0, `OUT_CAP` entries, the kernel's batch, the block buffer.
 */
export class ScanKernel {
  /** The instance's exports. */
  readonly k: KernelExports;
  /** Where the entries are written, the block buffer starts, and the filter's word mask (set by `load`). */
  outBase = 0;
  batchBase = 0;
  bufBase = 0;
  mask = 0;
  /** The block buffer's size. */
  cap: number;
  /** The memory's bytes (a new view after each growth). */
  mem: Uint8Array;

  /** @param block bytes read at once (a longer record grows the block) */
  constructor(block: number = KERNEL_BLOCK) {
    compiled ??= new WASM.Module(Buffer.from(SCAN_KERNEL_WASM_BASE64, "base64"));
    this.k = new WASM.Instance(compiled, {}).exports as KernelExports;
    this.cap = block;
    this.mem = new Uint8Array(this.k.memory.buffer);
  }

  /** Puts the filter's words at address 0 and lays the rest out after them. */
  load(words: Int32Array): void {
    this.outBase = words.length * 4;
    this.batchBase = this.outBase + OUT_CAP * 8;
    this.bufBase = this.batchBase + BATCH_BYTES;
    this.mask = words.length - 1;
    this.grow(this.cap);
    new Int32Array(this.k.memory.buffer, 0, words.length).set(words);
  }

  /** Makes room for a block of `bytes` (plus 16 bytes of slack: room for a newline added after a last record). */
  grow(bytes: number): Uint8Array {
    const have = this.k.memory.buffer.byteLength / PAGE;
    const pages = Math.ceil((this.bufBase + bytes + 16) / PAGE);
    if (pages > have) this.k.memory.grow(pages - have);
    this.mem = new Uint8Array(this.k.memory.buffer);
    return this.mem;
  }

  /** The entries the last call wrote (pairs of i32). */
  entries(): Int32Array {
    return new Int32Array(this.k.memory.buffer, this.outBase, this.k.count.value * 2);
  }

  /**
   * Reads `file` from `from` (a record's offset) into the block buffer, one block at a time, and calls `run` on the
   * bytes held: it returns the address of the first record it did not consume (-1: a quote was met, stop). A record
   * longer than the block grows it. A last record without a newline is given one.
   *
   * @param onRead sees each run of bytes read, before `run` does; false stops the reading
   * @returns false when `run` met a quote or `onRead` said stop, else true
   */
  read(fs: ScanFs, file: string, from: number, onRead: (bytes: Uint8Array) => boolean, run: (start: number, end: number) => number): boolean {
    const base = this.bufBase;
    const fd = fs.openSync(file, "r");
    try {
      // mem[base, base + filled) holds the file's bytes from offset pos.
      let pos = from;
      let filled = 0;
      let eof = false;
      for (;;) {
        while (!eof && filled < this.cap) {
          const n = fs.readSync(fd, this.mem, base + filled, this.cap - filled, pos + filled);
          if (n > 0) {
            if (!onRead(this.mem.subarray(base + filled, base + filled + n))) return false;
            filled += n;
          } else {
            eof = true;
            if (filled > 0 && this.mem[base + filled - 1] !== LF) this.mem[base + filled++] = LF;
          }
        }
        const end = base + filled;
        const next = run(base, end);
        if (next < 0) return false;
        if (eof && next === end) return true;
        // `next` starts a record that runs past the bytes held, or that did not fit in the output: keep it, read on.
        const keep = next - base;
        if (keep === 0 && filled === this.cap) {
          this.cap *= 2;
          this.grow(this.cap);
        } else {
          this.mem.copyWithin(base, next, end);
          pos += keep;
          filled -= keep;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** What `scanWithKernel` found. */
export interface KernelScan {
  /** A double quote was met: `hashes` may not be used. */
  readonly quoted: boolean;
  /** Each non-blank record whose first field passed the filter: its whole hash (CsvRecordHasher's), low half first. */
  readonly hashes: Int32Array;
}

/**
 * Scans the records of `file` from `from` (a record's offset) to its end with the kernel: the hashes of the records
 * whose first field may be in the Bloom filter `words`, or `quoted` when the data holds a double quote.
 *
 * @param kernel the kernel to run on (default: a new one)
 * @throws the file system's error when the file cannot be read
 */
export function scanWithKernel(file: string, from: number, words: Int32Array, fs: ScanFs, kernel: ScanKernel = new ScanKernel()): KernelScan {
  kernel.load(words);
  const hashes = new IntList(1 << 12);
  const ok = kernel.read(
    fs,
    file,
    from,
    () => true,
    (start, end) => {
      const next = kernel.k.scan(start, end, end, 0, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase);
      if (next >= 0) hashes.append(kernel.entries());
      return next;
    },
  );
  return { quoted: !ok, hashes: ok ? hashes.values() : new Int32Array(0) };
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
 *   `sink` received must be dropped, and the filter is unchanged)
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
  kernel.load(words);
  const ok = kernel.read(fs, file, 0, check, (start, end) => {
    const next = kernel.k.lines(start, end, 0, kernel.mask, kernel.outBase, OUT_CAP, kernel.batchBase);
    if (next >= 0) sink(kernel.entries());
    return next;
  });
  if (ok) words.set(new Int32Array(kernel.k.memory.buffer, 0, words.length));
  return ok;
}

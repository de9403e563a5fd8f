/**
 * The input scan (`input-scan.ts`) on the WebAssembly kernel of scan-kernel.wat: the file is read straight into the
 * kernel's memory, block by block, and the kernel hashes each record's first field, looks it up in the Bloom filter and
 * finds its newline 16 bytes at a time; this thread only copies out the few records that pass. It gives the same
 * answer as `scanRange` over the whole data (a test compares them), in one thread: on a machine with few cores a
 * worker thread's start and its competition for the core cost more than the scan it would take over.
 */
import type { RangeScan, ScanFs } from "./input-scan.js";
import { SCAN_KERNEL_WASM_BASE64 } from "./scan-kernel-bytes.js";

const LF = 0x0a;
const PAGE = 65536;
/** Candidates the kernel writes per call (8 bytes each) before this thread drains them. */
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
  scan(from: number, filled: number, limit: number, bloom: number, mask: number, out: number, cap: number): number;
}

/** The compiled kernel (immutable; each scan gets its own instance and memory). */
let compiled: object | undefined;

function kernel(): KernelExports {
  compiled ??= new WASM.Module(Buffer.from(SCAN_KERNEL_WASM_BASE64, "base64"));
  return new WASM.Instance(compiled, {}).exports as KernelExports;
}

/**
 * Scans the records of `file` from `from` (a record's offset) to its end with the kernel: the records whose first
 * field may be in the Bloom filter `words`, each ended by a newline, or `quoted` when the data holds a double quote.
 *
 * @param block bytes read at once (a longer record grows the block)
 * @throws the file system's error when the file cannot be read
 */
export function scanWithKernel(file: string, from: number, words: Int32Array, fs: ScanFs, block: number): RangeScan {
  const k = kernel();
  const bloomBytes = words.length * 4;
  const outBase = bloomBytes;
  const bufBase = outBase + OUT_CAP * 8;
  let cap = block;
  // 16 bytes of slack after the block: room for the newline added after a last record that has none.
  const grow = (bytes: number): void => {
    const pages = Math.ceil((bufBase + bytes + 16) / PAGE);
    if (pages > k.memory.buffer.byteLength / PAGE) k.memory.grow(pages - k.memory.buffer.byteLength / PAGE);
  };
  grow(cap);
  let mem = new Uint8Array(k.memory.buffer);
  new Int32Array(k.memory.buffer, 0, words.length).set(words);
  const mask = words.length - 1;
  let out = Buffer.allocUnsafe(1 << 16);
  let outLen = 0;
  const emit = (s: number, e: number): void => {
    const n = e - s;
    if (outLen + n + 1 > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, outLen + n + 1));
      out.copy(bigger, 0, 0, outLen);
      out = bigger;
    }
    out.set(mem.subarray(s, e), outLen);
    outLen += n;
    out[outLen++] = LF;
  };
  const fd = fs.openSync(file, "r");
  try {
    // mem[bufBase, bufBase + filled) holds the file's bytes from offset pos.
    let pos = from;
    let filled = 0;
    let eof = false;
    for (;;) {
      while (!eof && filled < cap) {
        const n = fs.readSync(fd, mem, bufBase + filled, cap - filled, pos + filled);
        if (n > 0) filled += n;
        else {
          eof = true;
          // The last record need not end with a newline: give it one (the slack after the block has room).
          if (filled > 0 && mem[bufBase + filled - 1] !== LF) mem[bufBase + filled++] = LF;
        }
      }
      const end = bufBase + filled;
      const next = k.scan(bufBase, end, end, 0, mask, outBase, OUT_CAP);
      if (next < 0) return { quoted: true, candidates: out.subarray(0, 0) };
      const count = k.count.value;
      const pairs = new Int32Array(k.memory.buffer, outBase, count * 2);
      for (let c = 0; c < count; c++) emit(pairs[2 * c], pairs[2 * c + 1]);
      if (count === OUT_CAP) {
        // The kernel stopped to be drained: go on from where it stopped.
        const keep = next - bufBase;
        mem.copyWithin(bufBase, next, end);
        pos += keep;
        filled -= keep;
        continue;
      }
      if (eof) break; // with a newline after the last record, the kernel stopped at the data's end
      // `next` starts a record that runs past the bytes read: keep it, and read more after it.
      const keep = next - bufBase;
      if (keep === 0 && filled === cap) {
        cap *= 2;
        grow(cap);
        mem = new Uint8Array(k.memory.buffer);
      } else {
        mem.copyWithin(bufBase, next, end);
        pos += keep;
        filled -= keep;
      }
    }
    return { quoted: false, candidates: out.subarray(0, outLen) };
  } finally {
    fs.closeSync(fd);
  }
}

import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import * as fs from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { KERNEL_BYTES_TS, KERNEL_WAT, kernelBytesSource, loadWabt } from "../../scripts/build-kernel.js";
import { BloomBits64 } from "../../src/runtime/disclosure/hash-table.js";
import { scanInput, scanRange } from "../../src/runtime/disclosure/input-scan.js";
import { CsvRecordHasher } from "../../src/runtime/disclosure/record-hash.js";
import {
  firstFieldsWithKernel,
  hashLinesWithKernel,
  matchLinesWithKernel,
  ScanKernel,
  ScanWorker,
  scanWithKernel,
} from "../../src/runtime/disclosure/scan-kernel.js";

/** A small deterministic generator (mulberry32), so that a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ["a", "b", "ab", "abc", "abcd", "abcde", "1", "22", "", " ", "  x  y ", "\t", "\r", "é", "name with spaces", "0123456789"];

/** Quote-free CSV lines: 1 to 5 fields of random pieces (blank, empty, multi-byte, long), some lines blank. */
function randomLines(next: () => number, count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (next() < 0.05) {
      lines.push(next() < 0.5 ? "" : " \t");
      continue;
    }
    const fields: string[] = [];
    const n = 1 + Math.floor(next() * 5);
    for (let f = 0; f < n; f++) {
      let v = "";
      const parts = Math.floor(next() * 4);
      for (let p = 0; p < parts; p++) v += PIECES[Math.floor(next() * PIECES.length)];
      if (next() < 0.01) v += "z".repeat(3000); // longer than the small blocks the tests read with
      fields.push(v);
    }
    lines.push(fields.join(","));
  }
  return lines;
}

/** The first field's hash of a quote-free line, by the reference hasher (a trailing field keeps a blank line a record). */
function firstFieldHash(line: string): [number, number] {
  let got: [number, number] = [0, 0];
  const h = new CsvRecordHasher((_lo, _hi, r) => {
    got = [r.firstLo, r.firstHi];
  });
  h.push(Buffer.from(`${line},x\n`));
  h.end();
  return got;
}

/** The lines (without their line ending's LF) that a scan must give: those whose first field passes the filter. */
function expected(lines: readonly string[], bloom: BloomBits64): string[] {
  return lines.filter((l) => {
    const [lo, hi] = firstFieldHash(l);
    return bloom.get(lo, hi) === 0;
  });
}

/** hashLinesWithKernel's result: whether it hashed the whole file, and the hashes its sink received. */
function lineHashes(file: string, words: Int32Array, check: (b: Uint8Array) => boolean, kernel?: ScanKernel): { whole: boolean; hashes: number[] } {
  const hashes: number[] = [];
  const whole = hashLinesWithKernel(file, words, check, (h) => hashes.push(...h), fs, kernel);
  return { whole, hashes };
}

/** The hashes (low half, high half, …) of the non-blank records among `lines`, by the reference hasher. */
function recordHashes(lines: readonly string[]): number[] {
  const out: number[] = [];
  const h = new CsvRecordHasher((lo, hi) => out.push(lo, hi));
  h.push(Buffer.from(lines.map((l) => `${l}\n`).join("")));
  h.end();
  return out;
}

/** The first fields' hashes (low half, high half, …) of the non-blank records among `lines`, by the reference hasher. */
function firstHashes(lines: readonly string[]): number[] {
  const out: number[] = [];
  const h = new CsvRecordHasher((_lo, _hi, r) => out.push(r.firstLo, r.firstHi));
  h.push(Buffer.from(lines.map((l) => `${l}\n`).join("")));
  h.end();
  return out;
}

function linesOf(candidates: Uint8Array): string[] {
  const text = Buffer.from(candidates).toString("utf8");
  return text === "" ? [] : text.slice(0, -1).split("\n");
}

describe("runtime/disclosure/scan-kernel", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-scan-kernel-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN scan-kernel.wat THEN rebuilding it gives the committed scan-kernel-bytes.ts", async () => {
    const wabt = await loadWabt();
    if (!wabt) expect.fail("wabt (a devDependency, pinned: the bytes depend on its version) is not installed: run npm install");
    expect(kernelBytesSource(wabt, readFileSync(KERNEL_WAT, "utf8"))).to.equal(readFileSync(KERNEL_BYTES_TS, "utf8"));
  });

  it("GIVEN random quote-free CSVs (blanks, CRLF, empty fields, blank and long lines, a last line with or without a newline) THEN the kernel gives exactly the hashes of the non-blank records whose first field passes the filter, the records scanRange gives", async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = rng(seed);
      const lines = randomLines(next, 200 + Math.floor(next() * 300));
      const crlf = next() < 0.3;
      const lastNewline = next() < 0.5;
      const body = lines.map((l) => (crlf && l !== "" ? `${l}\r` : l));
      const text = body.join("\n") + (lastNewline ? "\n" : "");
      const file = join(dir, `r${seed}.csv`);
      await writeFile(file, text);
      // The filter: the first fields of about a third of the lines (plus a few chance passes, as in any Bloom filter).
      const bloom = new BloomBits64(64);
      for (const l of body) if (next() < 0.33) bloom.set(...firstFieldHash(l));
      // A file ending in a blank line has no last record to give.
      const records = lastNewline || body.length === 0 || body[body.length - 1] !== "" ? body : body.slice(0, -1);
      const want = expected(records, bloom);
      for (const block of [64, 1000, 1 << 20]) {
        const got = scanWithKernel(file, 0, bloom.words, fs, new ScanKernel(block));
        expect(got.quoted, `seed ${seed}`).to.equal(false);
        expect([...got.hashes], `seed ${seed}, block ${block}`).to.deep.equal(recordHashes(want));
        expect([...got.firsts], `seed ${seed}, block ${block}`).to.deep.equal(firstHashes(want));
      }
      // scanRange gives the same records, but for a last record that ends inside its first field (given whatever its hash).
      const js = linesOf(scanRange({ file, start: 0, end: Buffer.byteLength(text), atRecord: true, words: bloom.words }, fs, 4096).candidates);
      const lastInFirstField = !lastNewline && !records[records.length - 1]?.includes(",");
      expect(lastInFirstField ? js.filter((l, i) => i < js.length - 1 || want.includes(l)) : js, `seed ${seed}`).to.deep.equal(want);
    }
  });

  it("GIVEN random quote-free CSVs THEN the kernel hashes every non-blank record and fills the Bloom filter exactly as CsvRecordHasher does (one kernel reused for every file)", async () => {
    const kernels = new Map([64, 1000, 1 << 20].map((block) => [block, new ScanKernel(block)]));
    for (let seed = 1; seed <= 40; seed++) {
      const next = rng(1000 + seed);
      const lines = randomLines(next, 100 + Math.floor(next() * 400));
      const text = lines.map((l) => (next() < 0.2 ? `${l}\r` : l)).join("\n") + (next() < 0.5 ? "\n" : "");
      const file = join(dir, `l${seed}.csv`);
      await writeFile(file, text);
      const want: number[] = [];
      const wantBloom = new BloomBits64(256);
      const h = new CsvRecordHasher((lo, hi, r) => {
        want.push(lo, hi);
        wantBloom.set(r.firstLo, r.firstHi);
      });
      h.push(Buffer.from(text));
      h.end();
      for (const block of [64, 1000, 1 << 20]) {
        const bloom = new BloomBits64(256);
        let seen = 0;
        const got = lineHashes(
          file,
          bloom.words,
          (b) => {
            seen += b.length;
            return true;
          },
          kernels.get(block),
        );
        expect(got.whole, `seed ${seed}`).to.equal(true);
        expect(seen).to.equal(Buffer.byteLength(text));
        expect(got.hashes, `seed ${seed}, block ${block}`).to.deep.equal(want);
        expect([...bloom.words], `seed ${seed}, block ${block}`).to.deep.equal([...wantBloom.words]);
      }
    }
  });

  it("GIVEN random quote-free CSVs THEN the kernel's first-field pass fills the filter and counts the records exactly as CsvRecordHasher does, and its line match gives the hash and index of each record whose first field passes", async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = rng(2000 + seed);
      const lines = randomLines(next, 100 + Math.floor(next() * 400));
      const text = lines.map((l) => (next() < 0.2 ? `${l}\r` : l)).join("\n") + (next() < 0.5 ? "\n" : "");
      const file = join(dir, `f${seed}.csv`);
      await writeFile(file, text);
      // The reference: every non-blank record's hash, first field's hash and index.
      const records: { lo: number; hi: number; firstLo: number; firstHi: number; index: number }[] = [];
      const wantBloom = new BloomBits64(256);
      const h = new CsvRecordHasher((lo, hi, r) => {
        records.push({ lo, hi, firstLo: r.firstLo, firstHi: r.firstHi, index: r.records });
        wantBloom.set(r.firstLo, r.firstHi);
      });
      h.push(Buffer.from(text));
      h.end();
      // A second filter: the first fields of about a third of the records.
      const some = new BloomBits64(64);
      for (const r of records) if (next() < 0.33) some.set(r.firstLo, r.firstHi);
      const want = records.filter((r) => some.get(r.firstLo, r.firstHi) === 0).flatMap((r) => [r.lo, r.hi, r.index, 0]);
      for (const block of [64, 1000, 1 << 20]) {
        // In a filter of the kernel's own (read in place) and in one copied in and out.
        const kernel = new ScanKernel(block);
        for (const bloom of [kernel.filter(256), new BloomBits64(256)]) {
          let seen = 0;
          const got = firstFieldsWithKernel(
            file,
            bloom.words,
            (b) => {
              seen += b.length;
              return true;
            },
            fs,
            kernel,
          );
          expect(got, `seed ${seed}, block ${block}`).to.deep.equal({ whole: true, records: records.length });
          expect(seen).to.equal(Buffer.byteLength(text));
          expect([...bloom.words], `seed ${seed}, block ${block}`).to.deep.equal([...wantBloom.words]);
        }
        for (const bloom of [some, kernel.filter(64)]) {
          if (bloom !== some) bloom.words.set(some.words);
          const entries: number[] = [];
          const got = matchLinesWithKernel(file, bloom.words, (e) => entries.push(...e), fs, kernel);
          expect(got, `seed ${seed}, block ${block}`).to.deep.equal({ whole: true, records: records.length });
          expect(entries, `seed ${seed}, block ${block}`).to.deep.equal(want);
        }
      }
    }
  });

  it("GIVEN a scan worker THEN its first-field pass (with its UTF-8 check) and line match give what this thread's give, on text, quoted, NUL and broken UTF-8 files", async () => {
    const kernel = new ScanKernel(64);
    const worker = new ScanWorker(kernel, 64);
    try {
      const files: [string, Buffer][] = [];
      for (let seed = 1; seed <= 6; seed++) {
        const next = rng(3000 + seed);
        files.push([`w${seed}.csv`, Buffer.from(`${randomLines(next, 200).join("\n")}\n`)]);
      }
      files.push(["wq.csv", Buffer.from('a,b\nc,"d"\n')]);
      files.push(["wnul.csv", Buffer.from("a,b\nc,\u0000\n")]);
      // An é cut after its first byte, at the end (a character left unfinished), and a lone continuation byte.
      files.push(["wcut.csv", Buffer.concat([Buffer.from("a,b\nc,"), Buffer.from([0xc3])])]);
      files.push(["wbad.csv", Buffer.concat([Buffer.from("a,b\nc,"), Buffer.from([0x80]), Buffer.from("\n")])]);
      for (const [name, bytes] of files) {
        const file = join(dir, name);
        await writeFile(file, bytes);
        const mine = kernel.filter(256);
        const theirs = kernel.filter(256);
        // The reference: the whole file at once.
        const text = !bytes.includes(0) && isUtf8(bytes);
        const here = firstFieldsWithKernel(file, mine.words, () => true, fs, kernel);
        const there = await worker.firstFields(file, theirs.words);
        expect(there.text, name).to.equal(text);
        expect(there.whole, name).to.equal(here.whole && text);
        if (there.whole) {
          expect(there.records, name).to.equal(here.records);
          expect([...theirs.words], name).to.deep.equal([...mine.words]);
          // The line match, against the first fields of every record.
          const entries: number[] = [];
          const r = matchLinesWithKernel(file, mine.words, (e) => entries.push(...e), fs, kernel);
          const w = await worker.matchLines(file, mine.words);
          expect({ whole: w.whole, records: w.records }, name).to.deep.equal(r);
          expect([...w.quads], name).to.deep.equal(entries);
        }
      }
      expect(worker.ranges).to.equal(files.length + 6);
    } finally {
      await worker.close();
    }
  });

  it("GIVEN a quote THEN the first-field pass and the line match say the file is not whole", async () => {
    const file = join(dir, "fq.csv");
    for (const text of [`a,b\n${"x,y\n".repeat(100)}c,"d"\n`, `a,b\n${",y\n".repeat(100)},"d"\n`, '"a\n']) {
      await writeFile(file, text);
      const bloom = new BloomBits64(64);
      bloom.set(...firstFieldHash("x"));
      bloom.set(...firstFieldHash(""));
      for (const block of [64, 1 << 20]) {
        expect(firstFieldsWithKernel(file, new BloomBits64(64).words, () => true, fs, new ScanKernel(block)).whole, text).to.equal(false);
        expect(matchLinesWithKernel(file, bloom.words, () => {}, fs, new ScanKernel(block)).whole, text).to.equal(false);
      }
    }
  });

  it("GIVEN a quote, or a check that says stop THEN the kernel's line hashing stops and leaves the filter unchanged", async () => {
    const file = join(dir, "lq.csv");
    await writeFile(file, `a,b\n${"x,y\n".repeat(100)}c,"d"\n`);
    const bloom = new BloomBits64(64);
    expect(lineHashes(file, bloom.words, () => true, new ScanKernel(64)).whole).to.equal(false);
    expect(bloom.words.every((w) => w === 0)).to.equal(true);
    await writeFile(file, "a,b\nc,d\n");
    expect(lineHashes(file, bloom.words, () => false, new ScanKernel(64)).whole).to.equal(false);
    expect(bloom.words.every((w) => w === 0)).to.equal(true);
  });

  it("GIVEN a double quote anywhere (first field, later field, last byte) THEN the kernel says quoted, as scanRange does", async () => {
    const next = rng(99);
    const lines = randomLines(next, 300).filter((l) => l.includes(","));
    const bloom = new BloomBits64(64);
    for (const where of ["first", "later", "last"]) {
      const body = [...lines];
      if (where === "first") body[150] = `"${body[150]}`;
      if (where === "later") body[200] = `${body[200]},"q"`;
      const text = `${body.join("\n")}${where === "last" ? '"' : "\n"}`;
      const file = join(dir, `q-${where}.csv`);
      await writeFile(file, text);
      for (const block of [64, 1 << 20]) expect(scanWithKernel(file, 0, bloom.words, fs, new ScanKernel(block)).quoted, `${where}, block ${block}`).to.equal(true);
      expect(await scanInput(file, 0, bloom.words, { engine: "js", threads: 1 }), where).to.equal(undefined);
      expect(await scanInput(file, 0, bloom.words), where).to.equal(undefined);
    }
  });

  it("GIVEN more passing records or lines than the kernel writes per call THEN every one is given, in order", async () => {
    const lines = Array.from({ length: 40_000 }, (_, i) => `k${i % 7},${i}`);
    const file = join(dir, "many.csv");
    await writeFile(file, `${lines.join("\n")}\n`);
    const bloom = new BloomBits64(64);
    for (let k = 0; k < 7; k++) bloom.set(...firstFieldHash(`k${k}`));
    const kernel = new ScanKernel();
    expect([...scanWithKernel(file, 0, bloom.words, fs, kernel).hashes]).to.deep.equal(recordHashes(lines));
    const want: number[] = [];
    const h = new CsvRecordHasher((lo, hi) => want.push(lo, hi));
    h.push(readFileSync(file));
    h.end();
    // The same kernel, with a filter of another size.
    expect(lineHashes(file, new BloomBits64(1 << 16).words, () => true, kernel).hashes).to.deep.equal(want);
    // The line match: more entries than one call writes, each with its index, none counted twice.
    const entries: number[] = [];
    const got = matchLinesWithKernel(file, bloom.words, (e) => entries.push(...e), fs, kernel);
    expect(got).to.deep.equal({ whole: true, records: lines.length });
    expect(entries).to.deep.equal(lines.flatMap((_, i) => [want[2 * i], want[2 * i + 1], i, 0]));
  });
});

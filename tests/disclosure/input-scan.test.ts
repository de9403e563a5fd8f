import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { BloomBits64 } from "../../src/runtime/disclosure/hash-table.js";
import { dataStart, scanInput } from "../../src/runtime/disclosure/input-scan.js";
import { CsvRecordHasher } from "../../src/runtime/disclosure/record-hash.js";
import { ScanKernel, ScanWorker, scanWithKernel } from "../../src/runtime/disclosure/scan-kernel.js";
import * as fs from "node:fs";

/** A Bloom filter of the first fields of `lines`' records, as the verbatim check builds it from outputs. */
function bloomOf(text: string): BloomBits64 {
  const bloom = new BloomBits64(1024);
  const h = new CsvRecordHasher((_lo, _hi, r) => bloom.set(r.firstLo, r.firstHi));
  h.push(Buffer.from(text));
  h.end();
  return bloom;
}

/** Each record's hash as "lo:hi". */
function hashesOf(text: string): string[] {
  const out: string[] = [];
  const h = new CsvRecordHasher((lo, hi) => out.push(`${lo}:${hi}`));
  h.push(Buffer.from(text));
  h.end();
  return out;
}

describe("runtime/disclosure/input-scan", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-input-scan-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN a header with a byte-order mark and blank lines before it THEN the data starts after the header's newline", async () => {
    const file = join(dir, "h.csv");
    await writeFile(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(" ,\n\nid,x\n1,2\n")]));
    expect(dataStart(file)).to.equal(3 + " ,\n\nid,x\n".length);
    await writeFile(file, '"id",x\n1,2\n');
    expect(dataStart(file)).to.equal(undefined);
  });

  it("GIVEN the kernel, or ranges scanned by 1 to 4 threads THEN the hashes of every record whose first field an output line starts with, each once", async () => {
    const file = join(dir, "in.csv");
    const rows: string[] = ["id,name"];
    for (let i = 0; i < 5000; i++) rows.push(i % 97 === 0 ? ` k${i} ,  row ${i}` : `n${i},row ${i}`);
    await writeFile(file, `${rows.join("\n")}\nk-last`);
    const bloom = bloomOf(`${rows.filter((r) => r.startsWith(" k")).map((r) => `k${r.slice(2, r.indexOf(" ", 2))},other`).join("\n")}\nk-last\n`);
    const from = dataStart(file);
    expect(from).to.equal("id,name\n".length);
    const want = hashesOf([...rows.slice(1).filter((r) => r.startsWith(" k")), "k-last"].join("\n"));
    const runs: [string, Parameters<typeof scanInput>[3]][] = [
      ["kernel", {}],
      ...[1, 2, 3, 4].map((threads): [string, Parameters<typeof scanInput>[3]] => [`${threads} threads`, { engine: "js", threads, minParallelBytes: 0 }]),
    ];
    for (const [name, options] of runs) {
      const found = await scanInput(file, from ?? 0, bloom.words, options);
      expect(found, name).to.not.equal(undefined);
      const hashes = found?.hashes ?? new Int32Array(0);
      const got: string[] = [];
      for (let h = 0; h < hashes.length; h += 2) got.push(`${hashes[h]}:${hashes[h + 1]}`);
      // Each one's first field passes the filter.
      const firsts = found?.firsts ?? new Int32Array(0);
      expect(firsts.length, name).to.equal(hashes.length);
      for (let h = 0; h < firsts.length; h += 2) expect(bloom.get(firsts[h], firsts[h + 1]), name).to.equal(0);
      // A Bloom filter may let a few other records through; every wanted one must be there, each once.
      for (const w of want) expect(got.filter((g) => g === w), `${name}: ${w}`).to.have.length(1);
      expect(got.length).to.be.below(want.length + 50);
    }
  });

  it("GIVEN a scan worker and every split point of random files (a record straddling it, CRLF, blank lines, a last line without a newline, a quote in either half) THEN two threads give exactly what one gives", async () => {
    let s = 11;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    const pieces = ["k1", "k2", "", " ", "ab c", "\t", "é", "0123456789abcdefghij"];
    const kernel = new ScanKernel(64);
    const worker = new ScanWorker(kernel, 64);
    try {
      for (let round = 0; round < 8; round++) {
        const lines = Array.from({ length: 20 }, () =>
          Array.from({ length: 1 + Math.floor(next() * 3) }, () => pieces[Math.floor(next() * pieces.length)]).join(","),
        );
        const crlf = next() < 0.4;
        let text = lines.map((l) => (crlf ? `${l}\r` : l)).join("\n") + (next() < 0.5 ? "\n" : "");
        const quoted = round % 4 === 3;
        if (quoted) {
          const at = Math.floor(next() * text.length);
          text = `${text.slice(0, at)}"${text.slice(at)}`;
        }
        const file = join(dir, `split${round}.csv`);
        await writeFile(file, text);
        const bloom = new BloomBits64(64);
        const h = new CsvRecordHasher((_lo, _hi, r) => {
          if (next() < 0.5) bloom.set(r.firstLo, r.firstHi);
        });
        h.push(Buffer.from(text.replace(/"/g, "")));
        h.end();
        const one = scanWithKernel(file, 0, bloom.words, fs, new ScanKernel());
        expect(one.quoted, `round ${round}`).to.equal(quoted);
        for (let split = 0; split <= Buffer.byteLength(text); split++) {
          const two = await scanInput(file, 0, bloom.words, { kernel, worker, split, minParallelBytes: 0 });
          if (quoted) expect(two, `round ${round}, split ${split}`).to.equal(undefined);
          else {
            expect([...(two?.hashes ?? [])], `round ${round}, split ${split}`).to.deep.equal([...one.hashes]);
            expect([...(two?.firsts ?? [])], `round ${round}, split ${split}`).to.deep.equal([...one.firsts]);
          }
        }
      }
      // The worker did scan (none of its ranges fell back to this thread).
      expect(worker.ranges).to.be.above(100);
    } finally {
      await worker.close();
    }
  });

  it("GIVEN a scan worker that has ended THEN this thread scans its range too, and the result is the same", async () => {
    const file = join(dir, "ended.csv");
    const rows = Array.from({ length: 3000 }, (_, i) => `k${i % 50},${i}`);
    await writeFile(file, `${rows.join("\n")}\n`);
    const bloom = bloomOf("k7,x\nk21,y\n");
    const kernel = new ScanKernel();
    const worker = new ScanWorker(kernel);
    await worker.close();
    const two = await scanInput(file, 0, bloom.words, { kernel, worker, minParallelBytes: 0 });
    const one = scanWithKernel(file, 0, bloom.words, fs, new ScanKernel());
    expect(worker.ranges).to.equal(0);
    expect([...(two?.hashes ?? [])]).to.deep.equal([...one.hashes]);
    expect(two?.hashes.length).to.be.at.least(2 * 120);
  });

  it("GIVEN a quote in any range THEN the scan gives up (the caller reads the file with the quote-aware hasher)", async () => {
    const file = join(dir, "q.csv");
    const rows: string[] = ["id,name"];
    for (let i = 0; i < 3000; i++) rows.push(i === 2500 ? `a${i},"x\ny"` : `a${i},y`);
    await writeFile(file, `${rows.join("\n")}\n`);
    for (const threads of [1, 2]) {
      expect(await scanInput(file, dataStart(file) ?? 0, bloomOf("a1,z\n").words, { engine: "js", threads, minParallelBytes: 0 })).to.equal(undefined);
    }
    expect(await scanInput(file, dataStart(file) ?? 0, bloomOf("a1,z\n").words)).to.equal(undefined);
  });
});

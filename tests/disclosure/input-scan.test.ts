import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { BloomBits64 } from "../../src/runtime/disclosure/hash-table.js";
import { dataStart, scanInput } from "../../src/runtime/disclosure/input-scan.js";
import { CsvRecordHasher } from "../../src/runtime/disclosure/record-hash.js";

/** A Bloom filter of the first fields of `lines`' records, as the verbatim check builds it from outputs. */
function bloomOf(text: string): BloomBits64 {
  const bloom = new BloomBits64(1024);
  const h = new CsvRecordHasher((_lo, _hi, r) => bloom.set(r.firstLo, r.firstHi));
  h.push(Buffer.from(text));
  h.end();
  return bloom;
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

  it("GIVEN ranges scanned by 1 to 4 threads THEN the same candidates: every record whose first field an output line starts with, and no other", async () => {
    const file = join(dir, "in.csv");
    const rows: string[] = ["id,name"];
    for (let i = 0; i < 5000; i++) rows.push(i % 97 === 0 ? ` k${i} ,  row ${i}` : `n${i},row ${i}`);
    await writeFile(file, `${rows.join("\n")}\nk-last`);
    const bloom = bloomOf(`${rows.filter((r) => r.startsWith(" k")).map((r) => `k${r.slice(2, r.indexOf(" ", 2))},other`).join("\n")}\nk-last\n`);
    const from = dataStart(file);
    expect(from).to.equal("id,name\n".length);
    const want = [...rows.slice(1).filter((r) => r.startsWith(" k")), "k-last"];
    for (const threads of [1, 2, 3, 4]) {
      const parts = await scanInput(file, from ?? 0, bloom.words, { threads, minParallelBytes: 0 });
      expect(parts, `${threads} threads`).to.not.equal(undefined);
      const got = (parts ?? []).map((p) => Buffer.from(p).toString()).join("").split("\n").filter((l) => l !== "");
      // A Bloom filter may let a few other records through; every wanted one must be there, each once.
      for (const w of want) expect(got.filter((g) => g === w), `${threads} threads: ${w}`).to.have.length(1);
      expect(got.length).to.be.below(want.length + 50);
    }
  });

  it("GIVEN a quote in any range THEN the scan gives up (the caller reads the file with the quote-aware hasher)", async () => {
    const file = join(dir, "q.csv");
    const rows: string[] = ["id,name"];
    for (let i = 0; i < 3000; i++) rows.push(i === 2500 ? `a${i},"x\ny"` : `a${i},y`);
    await writeFile(file, `${rows.join("\n")}\n`);
    for (const threads of [1, 2]) expect(await scanInput(file, dataStart(file) ?? 0, bloomOf("a1,z\n").words, { threads, minParallelBytes: 0 })).to.equal(undefined);
  });
});

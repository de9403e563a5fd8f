import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { HashMap64 } from "../../src/runtime/disclosure/hash-table.js";
import { CsvRecordHasher } from "../../src/runtime/disclosure/record-hash.js";
import { checkVerbatim, MAX_LISTED, type TextFacts, type VerbatimInput } from "../../src/runtime/disclosure/verbatim.js";
import { withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";

/** Every record's hash as "lo:hi", pushing `text` in chunks cut at the given positions. */
function hashes(text: string, cuts: number[] = [], filter?: HashMap64): string[] {
  const out: string[] = [];
  const h = new CsvRecordHasher((lo, hi) => out.push(`${lo}:${hi}`), false, filter);
  const buf = Buffer.from(text);
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    h.push(buf.subarray(at, c));
    at = c;
  }
  h.end();
  return out;
}

describe("runtime/disclosure/record-hash", () => {
  it("GIVEN one record written several ways (quotes, blanks around fields, CRLF) THEN one hash", () => {
    const ways = ["a,b c,1\n", '"a","b c","1"\n', " a ,  b c , 1\r\n", "a,b   c,1", '"a",b c,"1"  \n'];
    const all = ways.map((w) => hashes(w));
    for (const h of all) expect(h).to.deep.equal(all[0]);
  });

  it("GIVEN records that differ in a field, in field order or in field boundaries THEN different hashes", () => {
    const base = hashes("a,b,c\n")[0];
    for (const other of ["a,b,d\n", "b,a,c\n", "ab,c\n", "a,bc\n", "a,b,c,\n", "a,b\n"]) expect(hashes(other)[0]).not.to.equal(base);
  });

  it("GIVEN a quoted comma and a quoted newline THEN they are content, not separators", () => {
    expect(hashes('"x,y",z\n')).to.have.length(1);
    expect(hashes('"x\ny",z\nq\n')).to.have.length(2);
  });

  it("GIVEN blank lines THEN they are not records", () => {
    expect(hashes("a\n\n   \n\r\nb\n")).to.have.length(2);
  });

  it("GIVEN the same text cut into chunks anywhere THEN the same hashes", () => {
    const text = 'id,name\n1,"Smith, J"\n2, Ann  Lee \r\n3,"say ""hi"""\n4,x';
    const whole = hashes(text);
    expect(whole).to.have.length(5);
    for (let cut = 1; cut < Buffer.byteLength(text); cut++) expect(hashes(text, [cut])).to.deep.equal(whole, `cut at ${cut}`);
  });

  it("GIVEN a first-field filter THEN records it keeps hash as without it and a plain record it rules out is skipped, wherever the chunks are cut", () => {
    const text = 'k1,a,b\nzz,"q\nz",c\nk1,"x\ny"\nno,1,2\nk1,3,4\n';
    const keep = new HashMap64();
    const first = new CsvRecordHasher((_lo, _hi, h) => {
      if (h.records === 0) keep.set(h.firstLo, h.firstHi, 0);
    });
    first.push(Buffer.from("k1,zzz\n"));
    first.end();
    const unfiltered = hashes(text);
    const expected = [unfiltered[0], unfiltered[2], unfiltered[4]];
    for (let cut = 0; cut <= Buffer.byteLength(text); cut++) {
      const filtered = hashes(text, [cut], keep);
      // Skipping is an optimisation: a record that cannot be skipped safely (a quote before its end) still reaches the sink.
      expect(filtered.filter((h) => expected.includes(h))).to.deep.equal(expected, `cut at ${cut}`);
      for (const h of filtered) expect(unfiltered).to.include(h);
      expect(filtered).not.to.include(unfiltered[3], `cut at ${cut}`);
    }
  });
});

describe("runtime/disclosure/verbatim: checkVerbatim (real files)", () => {
  let dir: string;
  const INPUT = "id,name,age,zip\n1,Alice,34,10001\n2,Bob,45,10002\n3, Carol ,34,10001\n4,\"Dan, Jr.\",29,10003\n5,Eve,34,10001\n";

  async function run(files: Record<string, string | Buffer>, qi?: string[], input = INPUT): Promise<Map<string, TextFacts>> {
    await writeFile(join(dir, "in.csv"), input);
    for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), body);
    const inputs: VerbatimInput[] = [{ key: "p/d", path: join(dir, "in.csv"), format: "csv", ...(qi ? { quasiIdentifiers: qi } : {}) }];
    return checkVerbatim(
      Object.keys(files).map((p) => ({ path: p, file: join(dir, p) })),
      inputs,
    );
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-disc-verbatim-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("GIVEN an output that copies one input row (requoted, respaced) THEN that record is flagged, with and without quasi-identifiers", async () => {
    const files = { "out.csv": 'age,count\n34,3\n"4", "Dan, Jr." ,29,10003\n45,1\n' };
    for (const qi of [undefined, ["age", "zip"]]) {
      const f = (await run(files, qi)).get("out.csv");
      expect(f?.verbatim).to.deep.equal([2]);
      expect(f?.verbatimCount).to.equal(1);
      expect(f?.records).to.equal(4);
    }
  });

  it("GIVEN a clean aggregate and an output repeating the input's header THEN nothing is flagged", async () => {
    const f = await run({ "agg.csv": "age,count\n34,3\n45,1\n29,1\n", "hdr.csv": "id,name,age,zip\n" });
    expect(f.get("agg.csv")?.verbatimCount).to.equal(0);
    expect(f.get("hdr.csv")?.verbatimCount).to.equal(0);
  });

  it("GIVEN a line with a combination of quasi-identifiers unique in the input THEN it is flagged, in any column order; a shared one is not", async () => {
    const f = await run({ "qi.csv": "zip,age,n\n10002,45,1\n10001,34,3\n", "rev.csv": "n,age,zip\n1,29,10003\n" }, ["age", "zip"]);
    expect(f.get("qi.csv")?.quasiIdentifier).to.deep.equal([1]);
    expect(f.get("rev.csv")?.quasiIdentifier).to.deep.equal([1]);
    expect(f.get("qi.csv")?.verbatimCount).to.equal(0);
  });

  it("GIVEN a combination whose values occur only apart (in different lines) THEN it is not flagged", async () => {
    const f = await run({ "apart.csv": "v\n45\n10002\n" }, ["age", "zip"]);
    expect(f.get("apart.csv")?.quasiIdentifierCount).to.equal(0);
  });

  it("GIVEN a quasi-identifier column the input lacks THEN invalid-policy naming the column", async () => {
    let code = "";
    let message = "";
    try {
      await run({ "a.csv": "x\n" }, ["age", "postcode"]);
    } catch (err) {
      code = (err as { code?: string }).code ?? "";
      message = (err as Error).message;
    }
    expect(code).to.equal("invalid-policy");
    expect(message).to.contain("postcode");
  });

  it("GIVEN a binary output THEN it is not text and not checked line by line", async () => {
    const bin = Buffer.concat([Buffer.from("2,Bob,45,10002\n"), Buffer.from([0, 1, 2, 0xff])]);
    const f = (await run({ "w.bin": bin })).get("w.bin");
    expect(f).to.include({ text: false, records: 0, verbatimCount: 0 });
  });

  it("GIVEN UTF-8 text whose characters straddle the read chunks THEN it is text", async () => {
    const body = `${"€".repeat(700_000)}\n2,Bob,45,10002\n`;
    const f = (await run({ "euro.txt": body })).get("euro.txt");
    expect(f?.text).to.equal(true);
    expect(f?.verbatim).to.deep.equal([1]);
  });

  it("GIVEN invalid UTF-8 THEN it is not text", async () => {
    expect((await run({ "bad.txt": Buffer.from([0x61, 0xc3, 0x28, 0x0a]) })).get("bad.txt")?.text).to.equal(false);
  });

  it("GIVEN two threads (a scan worker) THEN binary, broken UTF-8, quoted and plain outputs give what one thread gives", async () => {
    const input = `id,name,age,zip\n${Array.from({ length: 2500 }, (_, i) => `${i},n${i},${i % 90},${10000 + i}`).join("\n")}\n`;
    await writeFile(join(dir, "in.csv"), input);
    const files: Record<string, string | Buffer> = {
      "a.csv": "g,n\n7,n7,7,10007\nx,1\n",
      "w.bin": Buffer.concat([Buffer.from("8,n8,8,10008\n"), Buffer.from([0, 1, 2, 0xff])]),
      "b.csv": 'g,n\n"9",n9,9,10009\n12,n12,12,10012\n',
      "bad.txt": Buffer.from([0x61, 0xc3, 0x28, 0x0a]),
      "c.csv": `${Array.from({ length: 3000 }, (_, i) => (i % 1000 === 5 ? `${i},n${i},${i % 90},${10000 + i}` : `h${i},${i}`)).join("\n")}\n`,
      "cut.txt": Buffer.concat([Buffer.from("13,n13,13,10013\n"), Buffer.from([0xc3])]),
    };
    for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), body);
    const outputs = Object.keys(files).map((p) => ({ path: p, file: join(dir, p) }));
    const inputs: VerbatimInput[] = [{ key: "p/d", path: join(dir, "in.csv"), format: "csv" }];
    const one = await checkVerbatim(outputs, inputs);
    const two = await checkVerbatim(outputs, inputs, { minParallelBytes: 0 });
    expect([...two.entries()]).to.deep.equal([...one.entries()]);
    expect(one.get("a.csv")).to.include({ text: true, records: 3, verbatimCount: 1 });
    expect(one.get("b.csv")?.verbatim).to.deep.equal([1, 2]);
    expect(one.get("c.csv")?.verbatim).to.deep.equal([5, 1005, 2005]);
    for (const name of ["w.bin", "bad.txt", "cut.txt"]) expect(one.get(name)?.text, name).to.equal(false);
  });

  it("GIVEN more copied rows than are listed THEN the count says how many", async () => {
    const rows = Array.from({ length: 150 }, (_, i) => `${i},n${i},${i % 90},${10000 + i}`).join("\n");
    const f = (await run({ "dump.csv": `${rows}\n` }, undefined, `id,name,age,zip\n${rows}\n`)).get("dump.csv");
    expect(f?.verbatim).to.have.length(MAX_LISTED);
    expect(f?.verbatimCount).to.equal(150);
  });

  it("GIVEN a long output whose first quote comes after many lines THEN it is hashed again by the quote-aware hasher, each line once", async () => {
    // More lines than the kernel hands over per call, so some were taken before the quote stopped it.
    const body = `${Array.from({ length: 40_000 }, (_, i) => `g${i},${i % 7}`).join("\n")}\n"2",Bob,45,10002\n`;
    const f = (await run({ "long.csv": body })).get("long.csv");
    expect(f?.records).to.equal(40_001);
    expect(f?.verbatim).to.deep.equal([40_000]);
  });

  it("GIVEN a Parquet input THEN its rows are found in the outputs too", async () => {
    const pq = join(dir, "in.parquet");
    await withDuckdb({}, async (sql) => {
      await sql(`COPY (SELECT * FROM (VALUES (1, 'Alice', 34), (2, 'Bob', 45)) t(id, name, age)) TO '${pq}' (FORMAT parquet)`);
    });
    await writeFile(join(dir, "o.csv"), "x\n2,Bob,45\n");
    const f = await checkVerbatim([{ path: "o.csv", file: join(dir, "o.csv") }], [{ key: "p/d", path: pq, format: "parquet" }]);
    expect(f.get("o.csv")?.verbatim).to.deep.equal([1]);
  });
});

/** The records of CSV text, each a list of normalised fields, blank ones dropped: the rules written plainly, as an oracle. */
function oracleRecords(text: string): string[][] {
  const norm = (s: string) => s.replace(/[ \t\r]+/g, " ").replace(/^ | $/g, "");
  const out: string[][] = [];
  let fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ",") {
      fields.push(cur);
      cur = "";
    } else if (!quoted && ch === "\n") {
      fields.push(cur);
      out.push(fields);
      fields = [];
      cur = "";
    } else cur += ch;
  }
  if (cur !== "" || fields.length > 0) out.push([...fields, cur]);
  return out.map((f) => f.map(norm)).filter((f) => f.some((v) => v !== ""));
}

describe("runtime/disclosure/verbatim: checkVerbatim against an oracle (random files)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-disc-oracle-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN random inputs (quote-free or not) and outputs (copied rows rewritten, blanks, CRLF, quotes, empty fields, blank lines) THEN records and verbatim lines are the oracle's", async () => {
    let s = 7;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
    const values = ["1", "22", "ab", "Ann Lee", "x", "", "0123456789abcdef", "é", "10001", "34"];
    for (let round = 0; round < 30; round++) {
      const quotedInput = next() < 0.3;
      const rows: string[][] = [];
      for (let i = 0; i < 200; i++) rows.push(Array.from({ length: 2 + Math.floor(next() * 3) }, () => pick(values) + (next() < 0.5 ? String(i) : "")));
      const field = (v: string, quote: boolean) => {
        const spaced = next() < 0.2 ? `  ${v} ` : v;
        return quote ? `"${spaced.replace(/"/g, '""')}"` : spaced;
      };
      const input = `id,a,b,c,d\n${rows.map((r) => r.map((v) => field(v, quotedInput && next() < 0.3)).join(",")).join("\n")}\n`;
      const outputs: string[] = [];
      for (let f = 0; f < 3; f++) {
        const quotedOutput = next() < 0.4;
        const lines: string[] = ["g,n"];
        for (let i = 0; i < 150; i++) {
          const r = next();
          if (r < 0.1) lines.push(pick(rows).map((v) => field(v, quotedOutput && next() < 0.5)).join(","));
          else if (r < 0.15) lines.push(pick(["", " ", ",,", " \t"]));
          else if (r < 0.2) lines.push(pick(rows).slice(0, 2).join(","));
          else lines.push(Array.from({ length: 1 + Math.floor(next() * 4) }, () => field(pick(values), quotedOutput && next() < 0.3)).join(","));
        }
        const eol = next() < 0.3 ? "\r\n" : "\n";
        outputs.push(lines.join(eol) + (next() < 0.5 ? eol : ""));
      }
      await writeFile(join(dir, "in.csv"), input);
      for (let f = 0; f < outputs.length; f++) await writeFile(join(dir, `o${f}.csv`), outputs[f]);
      // Every fifth round, the input is scanned by two threads (split at its middle).
      const got = await checkVerbatim(
        outputs.map((_, f) => ({ path: `o${f}.csv`, file: join(dir, `o${f}.csv`) })),
        [{ key: "p/d", path: join(dir, "in.csv"), format: "csv" }],
        round % 5 === 1 ? { minParallelBytes: 0 } : {},
      );
      const inputKeys = new Set(oracleRecords(input).slice(1).map((r) => JSON.stringify(r)));
      for (let f = 0; f < outputs.length; f++) {
        const recs = oracleRecords(outputs[f]);
        const verbatim = recs.flatMap((r, i) => (inputKeys.has(JSON.stringify(r)) ? [i] : []));
        const facts = got.get(`o${f}.csv`);
        expect(facts?.records, `round ${round}, output ${f}`).to.equal(recs.length);
        expect(facts?.verbatim, `round ${round}, output ${f}`).to.deep.equal(verbatim.slice(0, MAX_LISTED));
        expect(facts?.verbatimCount, `round ${round}, output ${f}`).to.equal(verbatim.length);
      }
    }
  });
});

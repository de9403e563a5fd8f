/**
 * The CSV check `data provision` runs before anything is stored (src/runtime/provision/csv-check.ts): a worker
 * thread with a bounded heap, so its refusals must still name the line to fix, also for a file the heap could not hold
 * as one record.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { DatasetSchema } from "../../src/core/spec.js";
import { CSV_CHECK_MAX_RECORD_BYTES, type CsvCheckEngine, checkDatasetCsv } from "../../src/runtime/provision/csv-check.js";
import { rejected } from "../thrown.js";

const SCHEMA = { columns: [{ name: "sex", type: "categorical", categories: ["F", "M"] }, { name: "age", type: "numeric", min: 0, max: 120 }] } as DatasetSchema;

describe("provision/csv-check: the whole-file check, in a worker", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-csv-check-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("GIVEN a CSV with a non-number in a numeric column THEN rows, sha256 and the unparsable cells with their first line", async () => {
    const path = join(dir, "ok.csv");
    await writeFile(path, "sex,age\nF,30\nM,abc\nF,\nM,x\n");
    const r = await checkDatasetCsv(path, SCHEMA);
    expect(r.rows).to.equal(4);
    expect(r.sha256).to.match(/^[0-9a-f]{64}$/);
    expect(r.unparsable).to.deep.equal([{ column: "age", count: 2, firstLine: 3 }]);
  });

  it("GIVEN a header without a schema column THEN invalid-argument naming the column", async () => {
    const path = join(dir, "missing.csv");
    await writeFile(path, "sex,years\nF,30\n");
    const err = await rejected(checkDatasetCsv(path, SCHEMA));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.include("lacks the schema's column(s) age");
  });

  it("GIVEN a file that does not exist THEN io-error", async () => {
    const err = await rejected(checkDatasetCsv(join(dir, "nope.csv"), SCHEMA));
    expect(err.code).to.equal("io-error");
  });

  it("GIVEN a quote never closed on line 3 of a 64 MiB file THEN refused naming line 3 (where the record starts, not where the file ends)", async function () {
    this.timeout(120_000);
    const path = join(dir, "open-quote.csv");
    const rows = "M,40\n".repeat(Math.ceil((CSV_CHECK_MAX_RECORD_BYTES * 8) / 5));
    await writeFile(path, `sex,age\nF,30\n"F,31\n${rows}`);
    const err = await rejected(checkDatasetCsv(path, SCHEMA));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.include("line 3:");
    expect(err.message).to.include("never closed");
  });

  it("GIVEN a record longer than the check's limit (a closed quoted field of 9 MiB) THEN refused naming its line and the limit", async () => {
    const path = join(dir, "long-record.csv");
    await writeFile(path, `sex,age\nF,30\n"${"F".repeat(9 * 1024 * 1024)}",31\nM,40\n`);
    const err = await rejected(checkDatasetCsv(path, SCHEMA));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.include(`line 3: a record longer than ${CSV_CHECK_MAX_RECORD_BYTES / (1024 * 1024)} MiB`);
  });

  /** What the check says about a file with one engine: its result, or the refusal's code and message. */
  const verdict = (path: string, engine: CsvCheckEngine): Promise<{ ok?: unknown; code?: string; message?: string }> =>
    checkDatasetCsv(path, SCHEMA, engine).then(
      (r) => ({ ok: r }),
      (e: { code?: string; message?: string }) => ({ code: e.code, message: e.message }),
    );

  it("GIVEN random CSVs (plain, and each with one thing the scanner leaves to csv-parse) WHEN the fast scanner decides THEN exactly what csv-parse decides, and it decides every plain one", async function () {
    this.timeout(120_000);
    // A seeded generator: the same files every run; a failure prints the file.
    let seed = 0x5eed;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    // Cells the scanner judges itself: numbers, non-numbers, quoted fields with commas and doubled quotes.
    const PLAIN = ["12", "0", "-3.5", "1e3", " 7 ", "", "abc", "NA", "F", "M", '"F"', '"4""2"', '"a,b"', '"x""y"', '""', " ", "0x1F", "Infinity", "٣", "é", '" 8"', "123456789012345678"];
    const cell = (): string => (rnd(3) === 0 ? pick(PLAIN) : pick(["F", "M", String(rnd(99))]));
    // What each file may hold once (besides plain rows, empty lines, a BOM, no final newline): each sends the file to
    // csv-parse, and most are refusals a wrong scanner would accept.
    const ODD: Record<string, (width: number) => string> = {
      none: () => "",
      crlf: () => "",
      "newline in quotes": (w) => ['"1\n2"', ...Array.from({ length: w - 1 }, cell)].join(","),
      "quote inside a field": (w) => ['a"b', ...Array.from({ length: w - 1 }, cell)].join(","),
      "text after a closing quote": (w) => ['"q"xy', ...Array.from({ length: w - 2 }, cell)].join(","),
      "quote never closed": (w) => [`"${cell()}`, ...Array.from({ length: w - 1 }, cell)].join(","),
      "one field more": (w) => Array.from({ length: w + 1 }, cell).join(","),
      "one field less": (w) => Array.from({ length: w - 1 }, cell).join(","),
    };
    let plainDecided = 0;
    let oddDecided = 0;
    let refusedAlike = 0;
    let unparsableSeen = 0;
    const FILES = 48;
    for (let f = 0; f < FILES; f++) {
      const cols = pick([["sex", "age"], ["age", "sex", "note"], ["id", "sex", "age"], ["sex", "age", "age"], ["sex", "years"], ['"age"', "sex"]]);
      const odd = f % 2 === 0 ? "none" : pick(Object.keys(ODD).filter((k) => k !== "none"));
      const lines = [cols.join(",")];
      const n = 1 + rnd(25);
      const at = rnd(n);
      for (let r = 0; r < n; r++) {
        if (r === at && odd !== "none" && odd !== "crlf") lines.push((ODD[odd] as (w: number) => string)(cols.length));
        else if (rnd(8) === 0) lines.push("");
        else lines.push(Array.from({ length: cols.length }, cell).join(","));
      }
      const eol = odd === "crlf" ? "\r\n" : "\n";
      const body = (rnd(8) === 0 ? "\ufeff" : "") + lines.join(eol) + (rnd(4) === 0 ? "" : eol);
      const path = join(dir, `random-${f}.csv`);
      await writeFile(path, body);
      const [slow, fast] = await Promise.all([verdict(path, "csv-parse"), verdict(path, "fast")]);
      const what = `file ${f} (${odd}): ${JSON.stringify(body)}`;
      if (fast.code === "internal") {
        expect(odd, `the scanner left a plain file to csv-parse: ${what}`).to.not.equal("none");
        continue;
      }
      expect(fast, what).to.deep.equal(slow);
      if (odd === "none") plainDecided++;
      else oddDecided++;
      if (slow.ok === undefined) refusedAlike++;
      else if ((slow.ok as { unparsable: unknown[] }).unparsable.length > 0) unparsableSeen++;
      // and "auto" gives the same (every fourth file: each check starts a worker)
      if (f % 4 === 0) expect(await verdict(path, "auto"), `auto: ${what}`).to.deep.equal(slow);
    }
    // Not vacuous: every plain file was decided (and compared), some with non-numbers, some refused for a missing
    // column; files with something odd were compared only where the scanner still decided (an odd line that a
    // missing column stopped it before).
    expect(plainDecided, "plain files decided").to.equal(FILES / 2);
    expect(unparsableSeen, "decided files with non-numbers in a numeric column").to.be.greaterThan(FILES / 10);
    expect(refusedAlike, "missing-column refusals the scanner decided").to.be.greaterThan(0);
    expect(oddDecided, "odd files decided (only those refused for their header)").to.be.lessThan(FILES / 4);
  });

  it("GIVEN a file the fast scanner cannot judge (a CRLF file with a quote never closed) WHEN checked THEN csv-parse's refusal, naming its line", async () => {
    const path = join(dir, "crlf-open-quote.csv");
    await writeFile(path, 'sex,age\r\nF,30\r\n"F,31\r\nM,40\r\n');
    expect((await verdict(path, "fast")).code).to.equal("internal");
    const err = await rejected(checkDatasetCsv(path, SCHEMA));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.include("line 3:");
  });
});

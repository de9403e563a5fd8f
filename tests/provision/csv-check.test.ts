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
import { CSV_CHECK_MAX_RECORD_BYTES, checkDatasetCsv } from "../../src/runtime/provision/csv-check.js";
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
});

/**
 * DP aggregates counted by embedded DuckDB (the stage-1 artefact of a Parquet table) equal the in-process CSV reader's:
 * the same seeded noise on the same exact counts gives the same artefact, on a table with blanks, halves, values out of
 * bounds, unlisted categories and non-numbers.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ClampedSum } from "../../src/runtime/dp/aggregates.js";
import { csvAggregateSource, duckdbAggregateSource } from "../../src/runtime/dp/aggregate-source.js";
import { buildDomain } from "../../src/runtime/dp/domain.js";
import { aggregateCsv } from "../../src/runtime/dp/release.js";
import { TEST_SEED_ENV, testRng } from "../../src/runtime/dp/rng.js";
import { cliInProcess } from "../cli-harness.js";
import { WIDE_SCHEMA, writeWideTable } from "./wide-table.js";

/** The exact counts a source returns (no noise). */
async function exactCounts(source: ReturnType<typeof csvAggregateSource>) {
  const domain = buildDomain(WIDE_SCHEMA);
  const hists = domain.columns.map((c) => new Float64Array(c.size));
  const sums = domain.columns.map((c) => (c.type === "numeric" ? new ClampedSum(c.schema.min as number, c.schema.max as number) : undefined));
  const rows = await source.count(domain, hists, sums);
  return { rows, hists: hists.map((h) => [...h]), units: sums.map((s) => s?.units) };
}

describe("dp aggregate sources (in-process CSV, DuckDB on Parquet)", function () {
  this.timeout(120_000);
  let dir: string;
  let files: { csv: string; parquet: string };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-aggsrc-"));
    files = await writeWideTable(dir, 5_000);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN the wide table as CSV and as typed Parquet WHEN each source counts it THEN rows, every histogram and every clamped sum are equal", async () => {
    const csv = await exactCounts(csvAggregateSource(files.csv));
    const parquet = await exactCounts(duckdbAggregateSource(files.parquet));
    // The table really has unknown codes and clamped values (else equality would prove little).
    const age = buildDomain(WIDE_SCHEMA).columns[0];
    expect(csv.hists[0][age.unknownCode]).to.be.greaterThan(10);
    expect(csv.rows).to.equal(5_000);
    expect(parquet).to.deep.equal(csv);
  });

  it("GIVEN numeric cells that are blank, only spaces or padded WHEN each source sums them THEN blanks are missing values (not 0) and padding is ignored, as in DuckDB", async () => {
    // min 2: a blank counted as the number 0 would be clamped to 2 and change the sum.
    const schema = { columns: [{ name: "x", type: "numeric", min: 2, max: 10 }] };
    const domain = buildDomain(schema);
    const file = join(dir, "blanks.csv");
    writeFileSync(file, "x\n   \n 4 \n6\n\"\"\n");
    const expected = new ClampedSum(2, 10);
    expected.add(4);
    expected.add(6);
    for (const source of [csvAggregateSource(file), duckdbAggregateSource(file)]) {
      const hists = [new Float64Array(domain.columns[0].size)];
      const sums = [new ClampedSum(2, 10)];
      expect(await source.count(domain, hists, sums), source.kind).to.equal(4);
      expect(sums[0].units, source.kind).to.equal(expected.units);
      expect(hists[0][domain.columns[0].unknownCode], source.kind).to.equal(2);
    }
  });

  it("GIVEN the same seed WHEN aggregating the CSV in-process and the Parquet with DuckDB THEN the artefacts are identical and the DuckDB release names its source", async () => {
    const common = { schema: WIDE_SCHEMA, epsilon: 1 };
    const a = await aggregateCsv({ ...common, input: files.csv, output: join(dir, "a.json"), rng: testRng("agg-src") });
    const b = await aggregateCsv({ ...common, input: files.parquet, output: join(dir, "b.json"), rng: testRng("agg-src"), source: duckdbAggregateSource(files.parquet) });
    expect(b.artefact).to.deep.equal(a.artefact);
    expect(b.digest).to.equal(a.digest);
    expect(b.source).to.equal("duckdb");
    expect(a.source).to.equal(undefined);
  });

  it("GIVEN `dp aggregate --source duckdb` on the Parquet file WHEN run with the seed of the CSV run THEN the same artefact; bigquery is refused", async () => {
    const schemaFile = join(dir, "schema.json");
    writeFileSync(schemaFile, JSON.stringify(WIDE_SCHEMA));
    process.env[TEST_SEED_ENV] = "cli-agg";
    try {
      const common = ["dp", "aggregate", "--schema", schemaFile, "--epsilon", "1", "--json"];
      const csv = await cliInProcess([...common, "--input", files.csv, "--out", join(dir, "cli-csv.json")]);
      const duck = await cliInProcess([...common, "--input", files.parquet, "--source", "duckdb", "--out", join(dir, "cli-duck.json")]);
      expect(csv.code, csv.stderr).to.equal(0);
      expect(duck.code, duck.stderr).to.equal(0);
      expect((JSON.parse(duck.stdout) as { source: string }).source).to.equal("duckdb");
      expect(readFileSync(join(dir, "cli-duck.json"), "utf8")).to.equal(readFileSync(join(dir, "cli-csv.json"), "utf8"));
      const bq = await cliInProcess([...common, "--input", files.csv, "--source", "bigquery:my-project.ds.table", "--out", join(dir, "cli-bq.json")]);
      expect(bq.code).to.equal(1);
      expect(bq.stdout + bq.stderr).to.contain("dp aggregate counts with --source csv or duckdb");
    } finally {
      delete process.env[TEST_SEED_ENV];
    }
  });

  it("GIVEN a schema column the Parquet file lacks WHEN DuckDB counts aggregates THEN invalid-argument naming the column", async () => {
    const schema = { columns: [...WIDE_SCHEMA.columns.slice(0, 2), { name: "smokes", type: "categorical", categories: ["yes", "no"] }] };
    let err: Error | undefined;
    try {
      await aggregateCsv({ schema, epsilon: 1, input: files.parquet, output: join(dir, "c.json"), rng: testRng("agg-missing"), source: duckdbAggregateSource(files.parquet) });
    } catch (e) {
      err = e as Error;
    }
    expect((err as { code?: string } | undefined)?.code).to.equal("invalid-argument");
    expect(err?.message).to.match(/has no column "smokes" that the public schema declares/);
  });
});

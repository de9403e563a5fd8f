// Marginal sources: the DuckDB and BigQuery counting queries must give exactly the in-process reader's tables (before
// noise), refuse a schema column the data lacks, and send BigQuery nothing but a counting query (checked by the fake).
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { expect } from "chai";
import { OAuth2Client } from "google-auth-library";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildDomain, type Domain } from "../../src/runtime/dp/domain.js";
import { bigquerySource } from "../../src/runtime/dp/marginal-bigquery.js";
import { duckdbAggregateSource } from "../../src/runtime/dp/aggregate-source.js";
import { duckdbSource, withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";
import { csvSource, type MarginalTables } from "../../src/runtime/dp/marginal-source.js";
import { synthesizeCsv } from "../../src/runtime/dp/release.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { BigqueryFake } from "../gcp/fakes/bigquery-fake.js";
import { readCsv } from "./utility.js";
import { WIDE_SCHEMA, writeWideTable } from "./wide-table.js";

function expectSameTables(domain: Domain, a: MarginalTables, b: MarginalTables): void {
  const d = domain.columns.length;
  for (let i = 0; i < d; i++) expect(Array.from(a.oneWay(i)), domain.columns[i].name).to.deep.equal(Array.from(b.oneWay(i)));
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) expect(Array.from(a.twoWay(i, j)), `${domain.columns[i].name}×${domain.columns[j].name}`).to.deep.equal(Array.from(b.twoWay(i, j)));
  }
}

async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

describe("dp marginal sources (in-process, DuckDB, BigQuery)", function () {
  this.timeout(120_000);
  const domain = buildDomain(WIDE_SCHEMA);
  let dir: string;
  let files: { csv: string; parquet: string };
  let inProcess: MarginalTables;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-sources-"));
    files = await writeWideTable(dir, 20_000);
    inProcess = await csvSource(files.csv).measure(domain);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN a 20,000-row, 12-column CSV with blanks, out-of-range values and unlisted categories WHEN DuckDB counts it THEN every 1-way and 2-way table equals the in-process reader's", async () => {
    // The file really has what the encoding must handle (else equality would prove little).
    const unknownAge = inProcess.oneWay(0)[domain.columns[0].unknownCode];
    expect(unknownAge).to.be.greaterThan(100);
    expect(inProcess.oneWay(6)[domain.columns[6].unknownCode]).to.be.greaterThan(100);
    expectSameTables(domain, await duckdbSource(files.csv).measure(domain), inProcess);
  });

  it("GIVEN the same table as Parquet (typed columns) WHEN DuckDB counts it THEN its tables equal the in-process reader's on the CSV", async () => {
    expectSameTables(domain, await duckdbSource(files.parquet).measure(domain), inProcess);
  });

  it("GIVEN a schema column the file lacks WHEN counting with DuckDB THEN it is refused naming the column, as the in-process reader does", async () => {
    const schema = { columns: [...WIDE_SCHEMA.columns.slice(0, 2), { name: "smokes", type: "categorical", categories: ["yes", "no"] }] };
    const err = await rejection(duckdbSource(files.parquet).measure(buildDomain(schema)));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.match(/has no column "smokes" that the public schema declares/);
  });

  it("GIVEN a file whose name has glob characters WHEN a DuckDB source reads it THEN it is refused before DuckDB could read another file the pattern matches", async () => {
    // `t[ab].csv` as a pattern matches `ta.csv`: a file the caller did not name.
    const named = join(dir, "t[ab].csv");
    copyFileSync(files.csv, named);
    copyFileSync(files.csv, join(dir, "ta.csv"));
    const err = await rejection(duckdbSource(named).measure(domain));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.contain("which DuckDB reads as a pattern of file names");
    expect(() => duckdbAggregateSource(named)).to.throw(/which DuckDB reads as a pattern of file names/);
  });

  it("GIVEN a file DuckDB cannot read as the format it is named for WHEN counting THEN invalid-argument naming the file, with DuckDB's error as the cause", async () => {
    const fake = join(dir, "not-really.parquet");
    writeFileSync(fake, "age,sex\n30,female\n");
    const err = await rejection(duckdbSource(fake).measure(domain));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.contain(`DuckDB cannot read ${fake} as parquet`);
    expect((err as Error & { cause?: unknown }).cause).to.be.instanceOf(Error);
  });

  it("GIVEN a DuckDB run THEN it has the memory limit and threads asked for (512MB and 2 by default) and spills only into a private directory of its own, removed afterwards", async () => {
    // A temporary directory of this test's own, so the spill directory is the only thing that can appear in it.
    const tmp = mkdtempSync(join(tmpdir(), "acr-dp-spill-"));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const settings = "SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory')";
      let spill = "";
      const [[memory, threads, temp]] = await withDuckdb({ memoryLimit: "100MB", threads: 1 }, async (run) => {
        const rows = await run(settings);
        spill = String(rows[0][2]);
        expect(readdirSync(tmp)).to.deep.equal([basename(spill)]);
        expect(statSync(spill).mode & 0o777).to.equal(0o700);
        return rows;
      });
      expect([memory, Number(threads)]).to.deep.equal(["95.3 MiB", 1]);
      expect(dirname(String(temp))).to.equal(tmp);
      expect(basename(String(temp))).to.match(/^acr-duckdb-/);
      expect(existsSync(spill)).to.equal(false);
      const [[defaultMemory, defaultThreads]] = await withDuckdb({}, (run) => run(settings));
      expect([defaultMemory, Number(defaultThreads)]).to.deep.equal(["488.2 MiB", 2]);
      expect(readdirSync(tmp)).to.deep.equal([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("GIVEN a column of 300 categories (codes past one byte) and an integer column of nearly 2^53 integers WHEN DuckDB counts them THEN its tables equal the in-process reader's", async () => {
    const cats = Array.from({ length: 300 }, (_, i) => `v${i}`);
    const top = 2 ** 53 - 2;
    const wide = buildDomain({
      columns: [
        { name: "many", type: "categorical", categories: cats },
        { name: "sex", type: "categorical", categories: ["female", "male"] },
        // 2^53 − 1 integers in 5 bins: in doubles the top value's bin computes to 5, and only the clamp to bins − 1
        // keeps it in the last bin (as encode's Math.min does).
        { name: "big", type: "numeric", min: 0, max: top, bins: 5, integer: true },
      ],
    });
    const file = join(dir, "many.csv");
    const lines = ["many,sex,big"];
    const bigs = ["0", String(top), "", String(2 ** 52)];
    for (let i = 0; i < 1_000; i++) lines.push(`v${(i * 7) % 310},${i % 3 === 0 ? "female" : "male"},${bigs[i % bigs.length]}`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const expected = await csvSource(file).measure(wide);
    expect(expected.oneWay(0)[299]).to.be.greaterThan(0);
    // 0 → bin 0, 2^52 → bin 2, the top → bin 4 (the last), blanks unknown.
    expect(Array.from(expected.oneWay(2))).to.deep.equal([250, 0, 250, 0, 250, 250]);
    expectSameTables(wide, await duckdbSource(file).measure(wide), expected);
  });

  it("GIVEN --source duckdb WHEN synthesizing with MST THEN the release reports the source and writes synthetic rows of the schema", async () => {
    const out = join(dir, "synthetic.csv");
    const r = await synthesizeCsv({ input: files.parquet, schema: WIDE_SCHEMA, output: out, epsilon: 2, source: duckdbSource(files.parquet), rng: testRng("duck-mst") });
    expect(r.source).to.equal("duckdb");
    expect(r.tree).to.have.length(11);
    const synth = readCsv(out);
    expect(synth.header).to.deep.equal(WIDE_SCHEMA.columns.map((c) => c.name));
    expect(Math.abs(synth.rows.length - 20_000)).to.be.below(2_000);
  });

  describe("BigQuery at the wire (real @google-cloud/bigquery client, loopback fake)", () => {
    let fake: BigqueryFake;
    const table = "acme-prod.claims.wide";
    const noSchema = "acme-prod.claims.created_empty";
    const client = () => {
      const auth = new OAuth2Client();
      auth.setCredentials({ access_token: "test-token" });
      return { apiEndpoint: fake.url, authClient: auth };
    };
    before(async () => {
      fake = await new BigqueryFake({ [table]: files.csv, [noSchema]: files.csv }, { withoutSchema: [noSchema] }).start();
    });
    after(() => fake?.stop());

    it("GIVEN a table in BigQuery WHEN counting its marginals THEN the only query is a GROUP BY count of public codes, and the tables equal the in-process reader's", async () => {
      const tables = await bigquerySource(table, { clientOptions: client() }).measure(domain);
      expect(fake.refused).to.deep.equal([]);
      expect(fake.queries).to.have.length(1);
      expect(fake.queries[0]).to.match(/^SELECT c0, .* COUNT\(\*\) AS n FROM \(SELECT CASE /);
      expect(fake.queries[0]).to.not.match(/SELECT \*/);
      expect(fake.locations).to.deep.equal([undefined]);
      expectSameTables(domain, tables, inProcess);
    });

    it("GIVEN a job location WHEN counting THEN the query is sent to run in that location", async () => {
      // Two columns keep the query small.
      const two = buildDomain({ columns: WIDE_SCHEMA.columns.slice(6, 8) });
      const tables = await bigquerySource(table, { clientOptions: client(), location: "EU" }).measure(two);
      expect(fake.locations.at(-1)).to.equal("EU");
      expectSameTables(two, tables, await csvSource(files.csv).measure(two));
    });

    it("GIVEN a table BigQuery does not have WHEN counting THEN gcp-error naming the table and the roles, with the API's error as the cause", async () => {
      const err = await rejection(bigquerySource("acme-prod.claims.absent", { clientOptions: client() }).measure(domain));
      expect(err.code).to.equal("gcp-error");
      expect(err.message).to.contain("BigQuery could not count acme-prod.claims.absent");
      expect(err.message).to.contain("Not found: Table acme-prod.claims.absent");
      expect((err as Error & { cause?: unknown }).cause).to.be.instanceOf(Error);
    });

    it("GIVEN a table whose metadata has no schema (no columns) THEN every schema column is refused as missing, before any query", async () => {
      const before = fake.queries.length;
      const err = await rejection(bigquerySource(noSchema, { clientOptions: client() }).measure(domain));
      expect(err.code).to.equal("invalid-argument");
      expect(err.message).to.contain(`BigQuery table ${noSchema} has no column "age"`);
      expect(fake.queries.length).to.equal(before);
    });

    it("GIVEN the fake's check WHEN the same client sends a raw-row SELECT THEN the fake refuses it (the check can fail)", async () => {
      const { BigQuery } = await import("@google-cloud/bigquery");
      const bq = new BigQuery({ projectId: "acme-prod", ...client() });
      for (const sql of [`SELECT * FROM \`${table}\``, `SELECT c0, COUNT(*) AS n FROM (SELECT CASE WHEN \`age\` IS NULL THEN 0 ELSE \`income\` END AS c0 FROM \`${table}\`) GROUP BY GROUPING SETS ((c0))`]) {
        const err = await bq.query({ query: sql }).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(err?.message).to.match(/refused a query that is not a counting query/);
      }
      expect(fake.refused).to.have.length(2);
    });

    it("GIVEN a schema column the BigQuery table lacks THEN it is refused from the table's metadata, before any query", async () => {
      const before = fake.queries.length;
      const schema = { columns: [{ name: "smokes", type: "categorical", categories: ["yes", "no"] }] };
      const err = await rejection(bigquerySource(table, { clientOptions: client() }).measure(buildDomain(schema)));
      expect(err.code).to.equal("invalid-argument");
      expect(err.message).to.contain(`BigQuery table ${table} has no column "smokes"`);
      expect(fake.queries.length).to.equal(before);
      expect(readFileSync(files.csv, "utf8").length).to.be.greaterThan(0);
    });
  });
});

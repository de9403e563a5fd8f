// The SQL sources' pure parts in process (issue 20, dp-sources mutation path): identifier and string quoting in both
// dialects, the grouping sets, the rows an engine returns turned into count tables (and refused when they cannot be
// counts), the DuckDB source's format choice and its error when @duckdb/node-api is missing. No database: the
// DuckDB/BigQuery runs are in sources.test.ts.
// The module loader itself: one test makes `@duckdb/node-api` unloadable, as on a machine that never installed it.
import Module = require("node:module");
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { aggregatesFromGroupingRows } from "../../src/runtime/dp/aggregate-source.js";
import { ClampedSum } from "../../src/runtime/dp/aggregates.js";
import { buildDomain } from "../../src/runtime/dp/domain.js";
import { bigquerySource } from "../../src/runtime/dp/marginal-bigquery.js";
import { codeType, duckdbSource, duckdbTableFunction, formatOf } from "../../src/runtime/dp/marginal-duckdb.js";
import { BIGQUERY, codeExpression, countingQuery, DUCKDB, groupingSets, tablesFromGroupingRows } from "../../src/runtime/dp/marginal-sql.js";

/** Node's CommonJS loader entry (not in @types/node), through which every `require` goes before its cache. */
type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Loader };

const domain = buildDomain({
  columns: [
    { name: "k", type: "categorical", categories: ["a", "b"] },
    { name: "n", type: "numeric", min: 0, max: 10, bins: 2 },
    { name: "i", type: "numeric", min: 0, max: 3, bins: 2, integer: true },
  ],
});

describe("dp SQL sources (pure parts)", () => {
  it("GIVEN names and values with quotes THEN each dialect doubles or escapes them so they stay one token", () => {
    expect(DUCKDB.ident('we"ird')).to.equal('"we""ird"');
    expect(DUCKDB.str("it's")).to.equal("'it''s'");
    expect(BIGQUERY.ident("a`b\\c")).to.equal("`a\\`b\\\\c`");
    expect(BIGQUERY.str("it's a\\b")).to.equal("'it\\'s a\\\\b'");
    expect(BIGQUERY.str("plain")).to.equal("'plain'");
    expect(duckdbTableFunction("/d/x's.parquet", "parquet")).to.equal("read_parquet('/d/x''s.parquet')");
    expect(duckdbTableFunction("/d/x.csv", "csv")).to.equal("read_csv('/d/x.csv', header = true, all_varchar = true, auto_detect = true)");
  });

  it("GIVEN columns THEN a categorical code is a CASE over its categories (else the unknown code) and a query groups every 1- and 2-way set", () => {
    expect(codeExpression(domain, 0, DUCKDB)).to.equal(`CASE CAST("k" AS VARCHAR) WHEN 'a' THEN 0 WHEN 'b' THEN 1 ELSE 2 END`);
    expect(codeExpression(domain, 2, BIGQUERY)).to.match(/^CASE WHEN SAFE_CAST\(TRIM\(CAST\(`i` AS STRING\)\) AS FLOAT64\) IS NULL OR IS_NAN/);
    expect(groupingSets(3)).to.deep.equal([[0], [1], [2], [0, 1], [0, 2], [1, 2]]);
    expect(groupingSets(1)).to.deep.equal([[0]]);
    expect(countingQuery(domain, "t", DUCKDB)).to.match(/GROUP BY GROUPING SETS \(\(c0\), \(c1\), \(c2\), \(c0, c1\), \(c0, c2\), \(c1, c2\)\)$/);
  });

  it("GIVEN grouping rows THEN 1-way and 2-way counts land in their cells; the empty set's total row is ignored", () => {
    const t = tablesFromGroupingRows(domain, [
      [0, null, null, 5],
      [2, null, null, 1n],
      [null, 1, null, 4],
      [1, undefined as unknown as null, 2, 3],
      [null, 0, 1, 2],
      [null, null, null, 0],
    ]);
    expect(Array.from(t.oneWay(0))).to.deep.equal([5, 0, 1]);
    expect(Array.from(t.oneWay(1))).to.deep.equal([0, 4, 0]);
    expect(Array.from(t.twoWay(0, 2))[1 * 3 + 2]).to.equal(3);
    expect(Array.from(t.twoWay(1, 2))[0 * 3 + 1]).to.equal(2);
  });

  it("GIVEN rows an engine could not have meant THEN refused naming the column or the set", () => {
    for (const row of [
      [3, null, null, 1],
      [-1, null, null, 1],
      [0.5, null, null, 1],
      [null, null, 7, 1],
    ]) {
      expect(() => tablesFromGroupingRows(domain, [row]), JSON.stringify(row)).to.throw(/the engine returned code .* for column/);
    }
    expect(() => tablesFromGroupingRows(domain, [[0, 1, 1, 2]])).to.throw(/outside the grouping sets \(3 codes\)/);
    expect(() => tablesFromGroupingRows(domain, [[0, 1, 1, 0]]), "even a count of 0").to.throw(/outside the grouping sets \(3 codes\)/);
    expect(() => tablesFromGroupingRows(domain, [[null, null, null, 9]])).to.throw(/outside the grouping sets \(0 codes\)/);
  });

  it("GIVEN the DuckDB aggregates query's rows THEN one-code rows fill the histograms, the no-code row gives the record count and the numeric columns' sums; NULL or absent values are no value", () => {
    const hists = domain.columns.map((c) => new Float64Array(c.size));
    const sums = [undefined, new ClampedSum(0, 10), new ClampedSum(0, 3)];
    const records = aggregatesFromGroupingRows(
      domain,
      [
        [0, null, null, 4, null, null, null],
        // A short row: the absent codes and sums are no value.
        [null, 2, undefined, 3],
        [null, null, 1, 2n],
        // The whole table: the categorical column has no sum (whatever its position holds), the last sum is absent.
        [null, null, null, 9, 7, 40n],
      ],
      hists,
      sums,
    );
    expect(records).to.equal(9);
    expect(hists.map((h) => Array.from(h))).to.deep.equal([
      [4, 0, 0],
      [0, 0, 3],
      [0, 2, 0],
    ]);
    expect(sums.map((x) => x?.units)).to.deep.equal([undefined, 40, 0]);
  });

  it("GIVEN aggregates rows an engine could not have meant THEN refused naming the column or the set, not counted", () => {
    const fresh = () => domain.columns.map((c) => new Float64Array(c.size));
    for (const row of [
      [3, null, null, 1],
      [-1, null, null, 1],
      [0.5, null, null, 1],
      [null, null, 7, 1],
    ]) {
      expect(() => aggregatesFromGroupingRows(domain, [row], fresh(), []), JSON.stringify(row)).to.throw(/the engine returned code .* for column/);
    }
    const hists = fresh();
    expect(() => aggregatesFromGroupingRows(domain, [[0, 1, null, 5]], hists, [])).to.throw(/outside the grouping sets \(2 codes\)/);
    expect(hists.map((h) => Array.from(h))).to.deep.equal(domain.columns.map((c) => new Array(c.size).fill(0)));
  });

  it("GIVEN column sizes THEN DuckDB's temporary code table uses one byte up to 255 codes, two up to 65,535, else four", () => {
    expect([1, 255, 256, 65_535, 65_536, 1_000_000].map(codeType)).to.deep.equal(["UTINYINT", "UTINYINT", "USMALLINT", "USMALLINT", "INTEGER", "INTEGER"]);
  });

  it("GIVEN a path and options THEN DuckDB reads .parquet and .pq as Parquet, anything else as CSV, unless the format is given", () => {
    expect(formatOf("/d/t.parquet", {})).to.equal("parquet");
    expect(formatOf("/d/T.PQ", {})).to.equal("parquet");
    expect(formatOf("/d/t.csv", {})).to.equal("csv");
    expect(formatOf("/d/t", {})).to.equal("csv");
    expect(formatOf("/d/t.csv", { format: "parquet" })).to.equal("parquet");
    expect(formatOf("/d/t.parquet", { format: "csv" })).to.equal("csv");
  });

  it("GIVEN @duckdb/node-api not installed WHEN a DuckDB source measures THEN runtime-missing saying what to install, the loader's error kept as cause", async () => {
    // The package is an optional runtime (a ~60 MB native binary): without it the source must say how to get it, not
    // fail with a bare "Cannot find module" or a TypeError. Only this request fails; every other module loads as usual.
    const realLoad = loader._load;
    const asked: string[] = [];
    loader._load = function (this: unknown, request, parent, isMain) {
      if (request !== "@duckdb/node-api") return realLoad.call(this, request, parent, isMain);
      asked.push(request);
      throw Object.assign(new Error(`Cannot find module '${request}'`), { code: "MODULE_NOT_FOUND", requireStack: [] });
    };
    let err: unknown;
    try {
      await duckdbSource("/nowhere/t.csv").measure(domain);
    } catch (e) {
      err = e;
    } finally {
      loader._load = realLoad;
    }
    expect(asked).to.deep.equal(["@duckdb/node-api"]);
    expect(err).to.be.instanceOf(CleanRoomError);
    const e = err as CleanRoomError & { cause?: { code?: string } };
    expect(e.code).to.equal("runtime-missing");
    expect(e.message).to.contain("npm install @duckdb/node-api");
    expect(e.cause?.code).to.equal("MODULE_NOT_FOUND");
  });

  it("GIVEN a BigQuery table name THEN the source is made only for <project>.<dataset>.<table>, before any connection", () => {
    expect(bigquerySource("my-proj-1.claims.t_2025").kind).to.equal("bigquery");
    for (const bad of ["claims.t", "my-proj-1.claims", "My-Proj.claims.t", "my-proj-1.claims.t.x", ""]) {
      expect(() => bigquerySource(bad), bad).to.throw(CleanRoomError).with.property("code", "invalid-argument");
    }
  });
});

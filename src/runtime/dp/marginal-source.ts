/**
 * Where MST's (and AIM's) measurements are counted: one interface, three sources.
 *
 * - `csvSource`: this process streams the CSV once and keeps only the 1-way and 2-way count tables (the default).
 * - `duckdbSource` (`marginal-duckdb.ts`): embedded DuckDB counts a large CSV or Parquet file with one
 *   `GROUP BY GROUPING SETS` query.
 * - `bigquerySource` (`marginal-bigquery.ts`): the provider's BigQuery project runs the same counting query on a
 *   table that already lives there; only counts come back.
 *
 * Every source returns **true counts of public codes**: the codes come from the public schema (`domain.ts`), the SQL
 * sources encode values with the same arithmetic as `ColumnDomain.encode`, and no raw value ever leaves the engine.
 * Noise is added by the caller, with the exact samplers, after these counts are back.
 */
import { CleanRoomError } from "../../core/errors.js";
import type { Domain } from "./domain.js";
import { scanCsv } from "./table.js";

/** The true 1-way and 2-way count tables of a table's columns, on the uncompressed public domain. */
export interface MarginalTables {
  /** Domain size of each column. */
  readonly sizes: readonly number[];
  /** Column i's counts, one per code. */
  oneWay(i: number): Float64Array;
  /** Columns a < b: counts row-major, cell `x_a * size_b + x_b`. */
  twoWay(a: number, b: number): Float64Array;
}

/** Counts a table's marginals. */
export interface MarginalSource {
  /** `csv`, `duckdb` or `bigquery` (recorded in the release report and the ledger entry). */
  readonly kind: string;
  /** Counts every 1-way and every 2-way marginal of the domain's columns. */
  measure(domain: Domain): Promise<MarginalTables>;
}

/** Index of pair (a, b), a < b, among the d(d−1)/2 pairs in lexicographic order. */
export function pairIndex(a: number, b: number, d: number): number {
  return a * d - (a * (a + 1)) / 2 + (b - a - 1);
}

/** Tables held in memory (what every source fills). */
export class CountTables implements MarginalTables {
  readonly one: Float64Array[];
  readonly two: Float64Array[];
  constructor(readonly sizes: readonly number[]) {
    const d = sizes.length;
    this.one = sizes.map((k) => new Float64Array(k));
    this.two = [];
    for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) this.two.push(new Float64Array(sizes[a] * sizes[b]));
  }
  oneWay(i: number): Float64Array {
    return this.one[i];
  }
  twoWay(a: number, b: number): Float64Array {
    if (!(a < b)) throw new CleanRoomError("invalid-argument", `twoWay needs a < b (got ${a}, ${b})`);
    return this.two[pairIndex(a, b, this.sizes.length)];
  }
  /** Adds one record's codes. */
  add(codes: ArrayLike<number>): void {
    const d = this.sizes.length;
    let p = 0;
    for (let a = 0; a < d; a++) {
      const xa = codes[a];
      this.one[a][xa]++;
      for (let b = a + 1; b < d; b++) this.two[p++][xa * this.sizes[b] + codes[b]]++;
    }
  }
}

/** Tables of an in-memory encoded table (the `mst()` API, tests). */
export function tablesOfColumns(columns: readonly Int32Array[], sizes: readonly number[]): CountTables {
  const t = new CountTables(sizes);
  const d = sizes.length;
  const rows = columns[0]?.length ?? 0;
  const codes = new Int32Array(d);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < d; c++) codes[c] = columns[c][r];
    t.add(codes);
  }
  return t;
}

/**
 * The in-process source: streams a CSV once (csv-parse), encodes each cell with the public domain and adds it to the
 * count tables. Memory is the tables only (a few thousand cells), whatever the number of rows.
 */
export function csvSource(path: string): MarginalSource {
  return {
    kind: "csv",
    async measure(domain: Domain): Promise<MarginalTables> {
      const cols = domain.columns;
      const t = new CountTables(cols.map((c) => c.size));
      const codes = new Int32Array(cols.length);
      await scanCsv(path, domain, (cells) => {
        for (let c = 0; c < cells.length; c++) codes[c] = cols[c].encode(cells[c]);
        t.add(codes);
      });
      return t;
    },
  };
}

/** Parses `--source`: `csv` (default), `duckdb`, or `bigquery:<project>.<dataset>.<table>`. */
export function parseSourceSpec(spec: string | undefined): { kind: "csv" | "duckdb" | "bigquery"; table?: string } {
  if (spec === undefined || spec === "csv") return { kind: "csv" };
  if (spec === "duckdb") return { kind: "duckdb" };
  const m = /^bigquery:([a-z][a-z0-9-]{4,28}[a-z0-9])\.([A-Za-z0-9_]{1,1024})\.([A-Za-z0-9_-]{1,1024})$/.exec(spec);
  if (m) return { kind: "bigquery", table: `${m[1]}.${m[2]}.${m[3]}` };
  throw new CleanRoomError("invalid-argument", `--source must be csv, duckdb or bigquery:<project>.<dataset>.<table> (got ${JSON.stringify(spec)})`);
}

/**
 * Where the exact counts of a DP aggregates release are taken (noise is drawn by the caller, before, and added after):
 *
 * - `csvAggregateSource`: this process streams the CSV once (the default);
 * - `duckdbAggregateSource`: embedded DuckDB reads a CSV or Parquet file and returns only the per-code histogram
 *   counts, the record count and the clamped sums in grid units, with one `GROUP BY GROUPING SETS` query.
 *
 * Both encode with the public schema only (`domain.ts`, `marginal-sql.ts`) and clamp and round sums exactly as
 * `ClampedSum.add` does, so a table gives the same counts through either source.
 */
import type { ClampedSum } from "./aggregates.js";
import { type Domain, headerIndex } from "./domain.js";
import { type DuckdbSourceOptions, duckdbColumns, duckdbTableFunction, formatOf, withDuckdb } from "./marginal-duckdb.js";
import { codeColumns, DUCKDB } from "./marginal-sql.js";
import { scanCsv } from "./table.js";

/** Counts the exact figures of an aggregates release. */
export interface AggregateSource {
  /** `csv` or `duckdb` (recorded in the ledger entry of a DuckDB release). */
  readonly kind: string;
  /**
   * Fills `histograms[c][code]` with the number of records whose column c has that public code, adds every numeric
   * value to its column's clamped sum (`sums[c]`, undefined for categorical columns), and returns the record count.
   */
  count(domain: Domain, histograms: readonly Float64Array[], sums: readonly (ClampedSum | undefined)[]): Promise<number>;
}

/** The in-process source: one streaming pass of csv-parse over the CSV. */
export function csvAggregateSource(path: string): AggregateSource {
  return {
    kind: "csv",
    count(domain, histograms, sums) {
      const cols = domain.columns;
      return scanCsv(path, domain, (cells) => {
        for (let c = 0; c < cells.length; c++) {
          histograms[c][cols[c].encode(cells[c])]++;
          const s = sums[c];
          if (s) {
            const t = cells[c].trim();
            s.add(t === "" ? Number.NaN : Number(t));
          }
        }
      });
    },
  };
}

/** `Math.round(min(max, max(min, v)) / grid)` in SQL, NULL for a value that is missing or not a number. */
function unitsExpression(column: string, s: ClampedSum): string {
  const v = DUCKDB.double(DUCKDB.ident(column));
  // Math.round is floor(x + 0.5) (halves toward +∞), where SQL's ROUND takes halves away from zero.
  const units = `FLOOR(LEAST(${DUCKDB.dbl(s.max)}, GREATEST(${DUCKDB.dbl(s.min)}, ${v})) / ${DUCKDB.dbl(s.grid)} + ${DUCKDB.dbl(0.5)})`;
  return `CASE WHEN ${v} IS NULL OR ${DUCKDB.isNan(v)} THEN NULL ELSE CAST(${units} AS HUGEINT) END`;
}

/**
 * Adds the rows of the DuckDB aggregates query to `histograms` and `sums` and returns the record count. A row is
 * `c0 … c{d−1}, n, u0 … u{d−1}`: a row with one code (the others NULL or absent) is a histogram cell of n records, the
 * row with none is the whole table (n records; each numeric column's clamped sum in grid units, NULL when every
 * value is missing). Any other row is refused: an engine answer that cannot be a count is never added to a release.
 *
 * @throws Error naming the column of a code outside its domain, or a row with more than one code
 * @internal exported for tests (the engine only ever returns the query's grouping sets)
 */
export function aggregatesFromGroupingRows(
  domain: Domain,
  rows: Iterable<readonly unknown[]>,
  histograms: readonly Float64Array[],
  sums: readonly (ClampedSum | undefined)[],
): number {
  const d = domain.columns.length;
  let records = 0;
  for (const r of rows) {
    const present = [];
    for (let i = 0; i < d; i++) if (r[i] !== null && r[i] !== undefined) present.push(i);
    const n = Number(r[d]);
    if (present.length === 0) {
      records = n;
      sums.forEach((s, i) => {
        const u = r[d + 1 + i];
        if (s && u !== null && u !== undefined) s.addUnits(Number(u));
      });
    } else if (present.length === 1) {
      const i = present[0]!;
      const code = Number(r[i]);
      if (!Number.isInteger(code) || code < 0 || code >= histograms[i].length) throw new Error(`the engine returned code ${r[i]} for column ${domain.columns[i].name}`);
      histograms[i][code] += n;
    } else {
      throw new Error(`the engine returned a row outside the grouping sets (${present.length} codes)`);
    }
  }
  return records;
}

/**
 * The DuckDB source: counts a CSV or Parquet file (`format`, or from its extension) inside embedded DuckDB, in
 * bounded memory; only counts and sums come back.
 *
 * @example
 * await aggregateCsv({ input: "claims.parquet", schema, output, epsilon: 1, source: duckdbAggregateSource("claims.parquet") });
 */
export function duckdbAggregateSource(path: string, options: DuckdbSourceOptions = {}): AggregateSource {
  const format = formatOf(path, options);
  const from = duckdbTableFunction(path, format);
  return {
    kind: "duckdb",
    count(domain, histograms, sums) {
      return withDuckdb(options, async (run) => {
        headerIndex(domain, await duckdbColumns(run, path, format), path);
        const units = domain.columns.map((c, i) => (sums[i] ? `${unitsExpression(c.name, sums[i]!)} AS u${i}` : `NULL AS u${i}`));
        const codes = domain.columns.map((_, i) => `c${i}`).join(", ");
        const sumCols = domain.columns.map((_, i) => `SUM(u${i})`).join(", ");
        // The empty grouping set () is the whole table: its row carries the record count and every clamped sum.
        const sets = [...domain.columns.map((_, i) => `(c${i})`), "()"].join(", ");
        const rows = await run(
          `SELECT ${codes}, COUNT(*) AS n, ${sumCols} FROM (SELECT ${codeColumns(domain, DUCKDB)}, ${units.join(", ")} FROM ${from}) GROUP BY GROUPING SETS (${sets})`,
        );
        return aggregatesFromGroupingRows(domain, rows, histograms, sums);
      });
    },
  };
}

/**
 * The counting query the SQL sources run: public codes computed in SQL with exactly the arithmetic of
 * `ColumnDomain.encode` (`domain.ts`), then `COUNT(*)` over `GROUP BY GROUPING SETS` of every column and every pair.
 *
 * The query selects nothing but codes and counts: each code is a `CASE` over the public schema (categories, bounds,
 * bins), so even a distinct raw value never appears in a result row. Engines differ from csv-parse + `Number()` only
 * on exotic numerals (hex, `inf`, digit separators); ordinary decimal CSV and typed Parquet values encode identically,
 * which `tests/dp/sources.test.ts` checks cell by cell.
 */
import { SPEC_DEFAULTS } from "../../core/spec.js";
import type { Domain } from "./domain.js";
import { CountTables, type MarginalTables } from "./marginal-source.js";

/** What differs between DuckDB and BigQuery. */
export interface SqlDialect {
  ident(name: string): string;
  str(value: string): string;
  /** A double literal that parses to exactly `x`. */
  dbl(x: number): string;
  text(expr: string): string;
  double(expr: string): string;
  isNan(expr: string): string;
}

/** DuckDB's dialect. */
export const DUCKDB: SqlDialect = {
  ident: (n) => `"${n.replace(/"/g, '""')}"`,
  str: (v) => `'${v.replace(/'/g, "''")}'`,
  dbl: (x) => `CAST('${String(x)}' AS DOUBLE)`,
  text: (e) => `CAST(${e} AS VARCHAR)`,
  double: (e) => `TRY_CAST(trim(CAST(${e} AS VARCHAR)) AS DOUBLE)`,
  isNan: (e) => `isnan(${e})`,
};

/** BigQuery's (GoogleSQL) dialect. */
export const BIGQUERY: SqlDialect = {
  ident: (n) => `\`${n.replace(/[`\\]/g, (c) => `\\${c}`)}\``,
  str: (v) => `'${v.replace(/[\\']/g, (c) => `\\${c}`)}'`,
  dbl: (x) => `CAST('${String(x)}' AS FLOAT64)`,
  text: (e) => `CAST(${e} AS STRING)`,
  double: (e) => `SAFE_CAST(TRIM(CAST(${e} AS STRING)) AS FLOAT64)`,
  isNan: (e) => `IS_NAN(${e})`,
};

/** The SQL expression of column i's code. */
export function codeExpression(domain: Domain, i: number, q: SqlDialect): string {
  const c = domain.columns[i];
  const s = c.schema;
  const col = q.ident(c.name);
  const unknown = c.unknownCode;
  if (c.type === "categorical") {
    const cats = s.categories ?? [];
    if (cats.length === 0) return `${unknown}`;
    return `CASE ${q.text(col)} ${cats.map((v, k) => `WHEN ${q.str(v)} THEN ${k}`).join(" ")} ELSE ${unknown} END`;
  }
  const v = q.double(col);
  const bins = s.bins ?? SPEC_DEFAULTS.bins;
  const min = s.min as number;
  const max = s.max as number;
  if (s.integer) {
    const lo = Math.ceil(min);
    const hi = Math.floor(max);
    const span = hi + 1 - lo;
    // Math.round(x) = floor(x + 0.5); then clamp and bin as numericDomain's binOf.
    const r = `LEAST(${q.dbl(hi)}, GREATEST(${q.dbl(lo)}, FLOOR(${v} + ${q.dbl(0.5)})))`;
    return `CASE WHEN ${v} IS NULL OR ${q.isNan(v)} THEN ${unknown} ELSE CAST(LEAST(${bins - 1}, FLOOR(((${r} - ${q.dbl(lo)}) * ${q.dbl(bins)}) / ${q.dbl(span)})) AS INT64) END`;
  }
  const width = (max - min) / bins;
  const clamped = `LEAST(${q.dbl(max)}, GREATEST(${q.dbl(min)}, ${v}))`;
  return `CASE WHEN ${v} IS NULL OR ${q.isNan(v)} THEN ${unknown} ELSE CAST(LEAST(${bins - 1}, FLOOR((${clamped} - ${q.dbl(min)}) / ${q.dbl(width)})) AS INT64) END`;
}

/** Every 1-way and 2-way grouping set, in the order `readGroupingRows` expects. */
export function groupingSets(d: number): number[][] {
  const sets: number[][] = [];
  for (let a = 0; a < d; a++) sets.push([a]);
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) sets.push([a, b]);
  return sets;
}

/** `<code expression> AS c0, …` for every column. */
export function codeColumns(domain: Domain, q: SqlDialect): string {
  return domain.columns.map((_, i) => `${codeExpression(domain, i, q)} AS c${i}`).join(", ");
}

/**
 * The counting query over `from` (a table reference or a table function such as `read_parquet('…')`).
 * Output columns: `c0 … c{d−1}` (a code, or NULL where the row's grouping set leaves the column out) and `n`.
 */
export function countingQuery(domain: Domain, from: string, q: SqlDialect): string {
  const d = domain.columns.length;
  const inner = codeColumns(domain, q);
  const outer = domain.columns.map((_, i) => `c${i}`).join(", ");
  const sets = groupingSets(d)
    .map((s) => `(${s.map((i) => `c${i}`).join(", ")})`)
    .join(", ");
  return `SELECT ${outer}, COUNT(*) AS n FROM (SELECT ${inner} FROM ${from}) GROUP BY GROUPING SETS (${sets})`;
}

/**
 * Fills count tables from the rows of `countingQuery`: a row whose non-NULL codes are {a} is a 1-way cell, {a, b} a
 * 2-way cell (codes are never NULL inside their grouping set).
 */
export function tablesFromGroupingRows(domain: Domain, rows: Iterable<readonly (number | bigint | null)[]>): MarginalTables {
  const sizes = domain.columns.map((c) => c.size);
  const t = new CountTables(sizes);
  const d = sizes.length;
  for (const row of rows) {
    const present: number[] = [];
    for (let i = 0; i < d; i++) if (row[i] !== null && row[i] !== undefined) present.push(i);
    const n = Number(row[d]);
    const code = (i: number) => {
      const x = Number(row[i]);
      if (!Number.isInteger(x) || x < 0 || x >= sizes[i]) throw new Error(`the engine returned code ${row[i]} for column ${domain.columns[i].name}`);
      return x;
    };
    if (present.length === 1) t.oneWay(present[0])[code(present[0])] += n;
    else if (present.length === 2) {
      const [a, b] = present;
      t.twoWay(a, b)[code(a) * sizes[b] + code(b)] += n;
    } else if (present.length !== 0 || n !== 0) throw new Error(`the engine returned a row outside the grouping sets (${present.length} codes)`);
  }
  return t;
}

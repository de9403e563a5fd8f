// A generated 12-column table (written by DuckDB itself) for the marginal-source tests and the bench.
import { join } from "node:path";
import { withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";

/** 12 columns: integer, continuous and categorical, with public bounds the generated values sometimes leave. */
export const WIDE_SCHEMA = {
  columns: [
    { name: "age", type: "numeric", min: 18, max: 80, bins: 16, integer: true },
    { name: "income", type: "numeric", min: 0, max: 200000, bins: 16 },
    { name: "spend", type: "numeric", min: 0, max: 20000, bins: 16 },
    { name: "visits", type: "numeric", min: 0, max: 50, bins: 10, integer: true },
    { name: "tenure", type: "numeric", min: 0, max: 40, bins: 8, integer: true },
    { name: "score", type: "numeric", min: 300, max: 850, bins: 11 },
    { name: "region", type: "categorical", categories: ["r0", "r1", "r2", "r3", "r4", "r5"] },
    { name: "segment", type: "categorical", categories: ["s0", "s1", "s2", "s3"] },
    { name: "channel", type: "categorical", categories: ["c0", "c1", "c2", "c3", "c4"] },
    { name: "plan", type: "categorical", categories: ["p0", "p1", "p2"] },
    { name: "device", type: "categorical", categories: ["d0", "d1", "d2", "d3"] },
    { name: "status", type: "categorical", categories: ["active", "churned"] },
  ],
};

/**
 * DuckDB SQL generating `n` rows of the wide table: correlated columns, values outside the bounds, halves on integer
 * columns, blanks, unlisted categories and non-numbers, so every branch of the encoding is exercised.
 */
export function wideTableSql(n: number): string {
  return `SELECT
    CASE WHEN i % 97 = 0 THEN NULL WHEN i % 89 = 0 THEN (10 + (i % 5))::VARCHAR ELSE (18 + (hash(i) % 63) + CASE WHEN i % 7 = 0 THEN 0.5 ELSE 0 END)::VARCHAR END AS age,
    round(15000 + (hash(i) % 63) * 2100 + (hash(i * 7) % 60000) - 5000, 2) AS income,
    CASE WHEN i % 53 = 0 THEN 'n/a' ELSE round((hash(i * 3) % 2300000) / 100.0, 2)::VARCHAR END AS spend,
    (hash(i * 5) % 55)::INT AS visits,
    (hash(i * 11) % 45)::INT AS tenure,
    round(280 + (hash(i * 13) % 600) + (hash(i) % 63), 1) AS score,
    CASE WHEN i % 61 = 0 THEN 'r9' ELSE 'r' || (hash(i * 17) % 6) END AS region,
    CASE WHEN (hash(i) % 63) > 40 THEN 's3' ELSE 's' || (hash(i * 19) % 3) END AS segment,
    'c' || (hash(i * 23) % 5) AS channel,
    'p' || (hash(i * 29) % 3) AS plan,
    CASE WHEN (hash(i) % 63) < 17 THEN 'd' || (hash(i * 31) % 2) ELSE 'd' || (2 + hash(i * 31) % 2) END AS device,
    CASE WHEN i % 71 = 0 THEN '' WHEN hash(i * 37) % 3 = 0 THEN 'churned' ELSE 'active' END AS status
  FROM range(${n}) t(i)`;
}

/** Writes the wide table as CSV and Parquet (DuckDB itself, fast). */
export async function writeWideTable(dir: string, n: number): Promise<{ csv: string; parquet: string }> {
  const csv = join(dir, `wide-${n}.csv`);
  const parquet = join(dir, `wide-${n}.parquet`);
  await withDuckdb({}, async (run) => {
    await run(`CREATE TABLE w AS ${wideTableSql(n)}`);
    await run(`COPY w TO '${csv}' (HEADER, DELIMITER ',')`);
    await run(`COPY w TO '${parquet}' (FORMAT parquet)`);
  });
  return { csv, parquet };
}


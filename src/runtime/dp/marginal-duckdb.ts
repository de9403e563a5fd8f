/**
 * The DuckDB source: an embedded, in-process DuckDB counts the marginals of a large CSV or Parquet file on this
 * machine, with one `GROUP BY GROUPING SETS` query (`marginal-sql.ts`). Only count tables come back to JavaScript.
 *
 * DuckDB spills to a private temporary directory and is capped at `memoryLimit`, so a file of any size is counted
 * in bounded memory. The reader takes a path, so other callers (Parquet/`files` datasets) can reuse it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { Domain } from "./domain.js";
import { headerIndex } from "./domain.js";
import type { MarginalSource, MarginalTables } from "./marginal-source.js";
import { codeColumns, DUCKDB, groupingSets, tablesFromGroupingRows } from "./marginal-sql.js";

/** Options of the DuckDB source. */
export interface DuckdbSourceOptions {
  /** `csv` or `parquet`. @default - from the file extension (`.parquet`/`.pq` → parquet, else csv) */
  readonly format?: "csv" | "parquet";
  /** DuckDB's memory limit. @default "512MB" */
  readonly memoryLimit?: string;
  /** DuckDB worker threads. @default 2 */
  readonly threads?: number;
}

/**
 * The column names DuckDB reads from `path` as `format`, with `run` from `withDuckdb`.
 *
 * @throws CleanRoomError `invalid-argument` when DuckDB cannot read the file as that format
 */
export async function duckdbColumns(run: (sql: string) => Promise<unknown[][]>, path: string, format: "csv" | "parquet"): Promise<string[]> {
  try {
    return (await run(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${duckdbTableFunction(path, format)})`)).map((r) => String(r[0]));
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `DuckDB cannot read ${path} as ${format}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * The absolute path DuckDB is given for a file. DuckDB expands `*`, `?`, `[…]` and `{…}` in a path (and `~`, and reads
 * URLs), so it could read other files than the one named: such names are refused, and the absolute path keeps `~` and
 * URLs out.
 *
 * @throws CleanRoomError `invalid-argument` naming the file and the fix
 */
export function duckdbFilePath(path: string): string {
  if (/[*?[\]{}]/.test(path)) {
    throw new CleanRoomError(
      "invalid-argument",
      `The file name ${path} has one of * ? [ ] { }, which DuckDB reads as a pattern of file names; rename the file (or link to it under a plain name) and try again`,
    );
  }
  return resolve(path);
}

/** `read_csv(…)` / `read_parquet(…)` of one file (`duckdbFilePath`), with every CSV column read as text (as the in-process reader does). */
export function duckdbTableFunction(path: string, format: "csv" | "parquet"): string {
  const p = DUCKDB.str(duckdbFilePath(path));
  return format === "parquet" ? `read_parquet(${p})` : `read_csv(${p}, header = true, all_varchar = true, auto_detect = true)`;
}

/** The format a DuckDB source reads `path` as: `options.format`, else from the extension (`.parquet`/`.pq`, else csv). */
export function formatOf(path: string, o: DuckdbSourceOptions): "csv" | "parquet" {
  if (o.format) return o.format;
  const ext = extname(path).toLowerCase();
  return ext === ".parquet" || ext === ".pq" ? "parquet" : "csv";
}

type DuckdbModule = typeof import("@duckdb/node-api");

/** Loads DuckDB on first use (its native binary is ~60 MB; nothing else pays for it). */
function loadDuckdb(): DuckdbModule {
  try {
    return require("@duckdb/node-api") as DuckdbModule;
  } catch (err) {
    throw new CleanRoomError("runtime-missing", `The duckdb source needs @duckdb/node-api (npm install @duckdb/node-api): ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Runs `fn` with a fresh in-memory DuckDB connection whose spill directory is private and removed afterwards.
 * @internal exported for the bench and tests that generate data with DuckDB
 */
export async function withDuckdb<T>(o: DuckdbSourceOptions, fn: (run: (sql: string) => Promise<unknown[][]>) => Promise<T>): Promise<T> {
  const { DuckDBInstance } = loadDuckdb();
  const spill = await mkdtemp(join(tmpdir(), "acr-duckdb-"));
  const instance = await DuckDBInstance.create(":memory:", {
    memory_limit: o.memoryLimit ?? "512MB",
    threads: String(o.threads ?? 2),
    temp_directory: spill,
  });
  const conn = await instance.connect();
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRows() as unknown[][]);
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(spill, { recursive: true, force: true });
  }
}

/**
 * The DuckDB type of a column's codes (0 … size − 1) in the temporary table: one byte up to 255 codes, two up to
 * 65,535, else four.
 * @internal exported for tests
 */
export function codeType(size: number): "UTINYINT" | "USMALLINT" | "INTEGER" {
  return size <= 255 ? "UTINYINT" : size <= 65535 ? "USMALLINT" : "INTEGER";
}

/**
 * Counts the marginals of a CSV or Parquet file with embedded DuckDB.
 *
 * @example
 * const tables = await duckdbSource("events.parquet").measure(buildDomain(schema));
 */
export function duckdbSource(path: string, options: DuckdbSourceOptions = {}): MarginalSource {
  return {
    kind: "duckdb",
    async measure(domain: Domain): Promise<MarginalTables> {
      const format = formatOf(path, options);
      const from = duckdbTableFunction(path, format);
      return withDuckdb(options, async (run) => {
        // A column the public schema names but the file lacks is refused, as the in-process reader does.
        headerIndex(domain, await duckdbColumns(run, path, format), path);
        // One pass encodes every row into a temporary table of codes (compressed, spilled to disk past the memory
        // limit); each marginal is then a small GROUP BY over one or two of its columns.
        // Codes fit one byte for every ordinary schema (≤ 255 codes): 20M rows × 12 columns is then 240 MB.
        const narrow = domain.columns.map((c, i) => `CAST(c${i} AS ${codeType(c.size)}) AS c${i}`).join(", ");
        await run(`CREATE TEMP TABLE codes AS SELECT ${narrow} FROM (SELECT ${codeColumns(domain, DUCKDB)} FROM ${from})`);
        const d = domain.columns.length;
        const rows: (number | bigint | null)[][] = [];
        for (const set of groupingSets(d)) {
          const cols = set.map((i) => `c${i}`).join(", ");
          for (const r of await run(`SELECT ${cols}, COUNT(*) AS n FROM codes GROUP BY ${cols}`)) {
            const full: (number | bigint | null)[] = new Array(d + 1).fill(null);
            set.forEach((c, k) => {
              full[c] = r[k] as number;
            });
            full[d] = r[set.length] as bigint;
            rows.push(full);
          }
        }
        return tablesFromGroupingRows(domain, rows);
      });
    },
  };
}

/**
 * The check `data provision --parquet` makes before anything is stored: DuckDB reads the file's Parquet schema, whose
 * columns must be exactly the dataset's public schema (no column outside it, none missing, no nested type), then counts
 * the rows and, per numeric schema column, the values that are not finite numbers — what the CSV check counts as
 * unparsable cells. Only counts come back from DuckDB; it streams the file within its memory limit.
 *
 * The file's sha256 is taken from its bytes while DuckDB reads it, and compared with the one of what was encrypted
 * (`checkUnchanged`): what was checked is what is stored.
 */
import { stat } from "node:fs/promises";
import { hashFile } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { DatasetSchema } from "../../core/spec.js";
import { duckdbFilePath, duckdbTableFunction, withDuckdb } from "../dp/marginal-duckdb.js";
import { DUCKDB } from "../dp/marginal-sql.js";
import type { CsvCheck } from "./csv-check.js";

/** A Parquet column DuckDB reads as a nested value (list, array, struct, map, union): no public domain can describe it. */
const NESTED_TYPE = /\[|^(STRUCT|MAP|UNION)\(/i;

/** The problems of a Parquet file's columns against the public schema, each naming the column and the fix. Pure. */
export function parquetColumnProblems(path: string, columns: readonly { name: string; type: string }[], schema: DatasetSchema): string[] {
  const declared = new Set(schema.columns.map((c) => c.name));
  const present = new Set(columns.map((c) => c.name));
  const out: string[] = [];
  const extra = columns.filter((c) => !declared.has(c.name)).map((c) => JSON.stringify(c.name));
  if (extra.length > 0) {
    // A column the schema does not declare would reach the job without the providers having published its domain.
    out.push(`column(s) ${extra.join(", ")} are outside the dataset's public schema: drop them from the file or declare them in the spec's schema`);
  }
  const missing = schema.columns.filter((c) => !present.has(c.name)).map((c) => JSON.stringify(c.name));
  if (missing.length > 0) out.push(`the schema's column(s) ${missing.join(", ")} are missing: add them to the file or remove them from the schema`);
  for (const c of columns) {
    if (declared.has(c.name) && NESTED_TYPE.test(c.type)) out.push(`column "${c.name}" has the nested type ${c.type}: store it as a plain value (text or number)`);
  }
  return out.length === 0 ? [] : [`The Parquet file ${path} does not match the public schema: ${out.join("; ")}; nothing was stored`];
}

/**
 * Reads a Parquet file's schema and counts with embedded DuckDB, and hashes its bytes.
 *
 * @throws CleanRoomError `invalid-argument` for a file DuckDB cannot read as Parquet, or whose columns are not exactly
 *   the schema's (naming each column and the fix); `io-error` when the file cannot be read
 * @example
 * const { rows, unparsable } = await checkDatasetParquet("claims.parquet", dataset.schema);
 */
export async function checkDatasetParquet(path: string, schema?: DatasetSchema): Promise<CsvCheck> {
  // Refused before anything is read: DuckDB would expand a pattern in the name (`duckdbFilePath`).
  const file = duckdbFilePath(path);
  const st = await stat(path).catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read the Parquet file ${path}: ${messageOf(err)}`, { cause: err });
  });
  if (!st.isFile()) throw new CleanRoomError("io-error", `Cannot read the Parquet file ${path}: it is not a file`);
  const from = `read_parquet(${DUCKDB.str(file)}, file_row_number = true)`;
  const counted = withDuckdb({}, async (run) => {
    let columns: { name: string; type: string }[];
    try {
      columns = (await run(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${duckdbTableFunction(file, "parquet")})`)).map((r) => ({
        name: String(r[0]),
        type: String(r[1]),
      }));
    } catch (err) {
      throw new CleanRoomError("invalid-argument", `DuckDB cannot read ${path} as Parquet (${messageOf(err).split("\n")[0]}); give a Parquet file, or provision a CSV table with --csv; nothing was stored`, { cause: err });
    }
    if (schema !== undefined) {
      const problems = parquetColumnProblems(path, columns, schema);
      if (problems.length > 0) throw new CleanRoomError("invalid-argument", problems[0]!, { problems });
    }
    // Per numeric column: values that are not finite numbers (the CSV check's `!Number.isFinite(Number(cell))` on a
    // non-blank cell), and the first such row. Only these counts leave DuckDB.
    const numeric = (schema?.columns ?? []).filter((c) => c.type === "numeric");
    const selects = ["COUNT(*)"];
    for (const c of numeric) {
      const text = `trim(${DUCKDB.text(DUCKDB.ident(c.name))})`;
      const bad = `(${DUCKDB.ident(c.name)} IS NOT NULL AND ${text} <> '' AND NOT coalesce(isfinite(TRY_CAST(${text} AS DOUBLE)), false))`;
      selects.push(`COUNT(*) FILTER (WHERE ${bad})`, `MIN(file_row_number) FILTER (WHERE ${bad})`);
    }
    let row: unknown[];
    try {
      [row] = (await run(`SELECT ${selects.join(", ")} FROM ${from}`)) as [unknown[]];
    } catch (err) {
      throw new CleanRoomError("invalid-argument", `DuckDB cannot read every row of ${path} (${messageOf(err).split("\n")[0]}); fix the file and provision again (nothing was stored)`, { cause: err });
    }
    const unparsable = numeric
      .map((c, i) => ({ column: c.name, count: Number(row[1 + 2 * i]), firstRow: row[2 + 2 * i] }))
      .filter((u) => u.count > 0)
      // `firstLine` counts like a CSV with its header: data row r (0-based in the file) is line r + 2.
      .map((u) => ({ column: u.column, count: u.count, firstLine: Number(u.firstRow) + 2 }));
    return { rows: Number(row[0]), unparsable };
  });
  const [checked, hashed] = await Promise.all([counted, hashFile(path)]);
  return { ...checked, sha256: hashed.sha256 };
}

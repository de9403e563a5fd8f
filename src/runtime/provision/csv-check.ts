/**
 * The check `data provision` makes before anything is stored: the whole CSV parses (with the options every reader of a
 * dataset uses), its header has the public schema's columns, and the numeric cells that are not numbers are counted.
 *
 * Stored ciphertext is only committed once this passed, so a file that fails parsing leaves nothing behind (a retry
 * after the fix is not refused with `already-exists`); the sha256 taken here is compared with the one of what was
 * encrypted, so a file changed in between is refused too.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import { parse } from "csv-parse";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { DatasetSchema } from "../../core/spec.js";
import { CSV_PARSE_OPTIONS, csvErrorMessage } from "../dp/table.js";

/** Numeric cells of one column that are not numbers (they count as "unknown" in DP releases). */
export interface UnparsableCells {
  readonly column: string;
  readonly count: number;
  /**
   * The line of the first such cell (1 = the header). For a Parquet table, the line that row would have in a CSV
   * with a header: its row number, counted from 1, plus 1.
   */
  readonly firstLine: number;
}

/** What `checkDatasetCsv` found. */
export interface CsvCheck {
  /** Data rows (the header excluded). */
  readonly rows: number;
  /** Lowercase hex sha256 of the file's bytes as read. */
  readonly sha256: string;
  /** Per numeric schema column with non-numeric, non-empty cells; empty when there are none. */
  readonly unparsable: readonly UnparsableCells[];
}

class HashTap extends Transform {
  private readonly hash = createHash("sha256");
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}

/**
 * Parses the whole CSV (streamed) and returns its row count, its sha256 and the unparsable numeric cells of the
 * schema's numeric columns.
 *
 * @throws CleanRoomError `invalid-argument` naming the one line to fix (a quote never closed, a row with another number
 *   of fields than the header, a missing schema column, an empty file); `io-error` when the file cannot be read
 * @example
 * const { rows, unparsable } = await checkDatasetCsv("claims.csv", dataset.schema);
 */
export async function checkDatasetCsv(path: string, schema?: DatasetSchema): Promise<CsvCheck> {
  const tap = new HashTap();
  let header: string[] | undefined;
  let numeric: { column: string; index: number; count: number; firstLine: number }[] = [];
  let rows = 0;
  let lastLine = 0;
  // on_record runs as the parser reads each record, so its line is exact (the consumer below lags behind the parser).
  const parser = parse({
    ...CSV_PARSE_OPTIONS,
    on_record: (record: string[], context: { lines: number }) => {
      lastLine = context.lines;
      if (header === undefined) {
        header = record;
        numeric = (schema?.columns ?? [])
          .filter((c) => c.type === "numeric" && record.includes(c.name))
          .map((c) => ({ column: c.name, index: record.indexOf(c.name), count: 0, firstLine: 0 }));
        return record;
      }
      rows++;
      for (const n of numeric) {
        const cell = (record[n.index] ?? "").trim();
        if (cell !== "" && !Number.isFinite(Number(cell))) {
          if (n.count === 0) n.firstLine = context.lines;
          n.count++;
        }
      }
      return record;
    },
  });
  const source = createReadStream(path);
  source.on("error", (err) => parser.destroy(err));
  source.pipe(tap).pipe(parser);
  let first = true;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!first) continue;
      first = false;
      const missing = (schema?.columns ?? []).filter((c) => !record.includes(c.name)).map((c) => c.name);
      if (missing.length > 0) {
        parser.destroy();
        throw new CleanRoomError(
          "invalid-argument",
          `The CSV ${path} lacks the schema's column(s) ${missing.join(", ")} (its header: ${record.join(", ")}); fix the header or the schema`,
        );
      }
    }
  } catch (err) {
    if (err instanceof CleanRoomError) throw err;
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
      throw new CleanRoomError("io-error", `Cannot read the CSV ${path}: ${messageOf(err)}`, { cause: err });
    }
    throw new CleanRoomError("invalid-argument", `${csvErrorMessage(path, err, lastLine)}; fix it and provision again (nothing was stored)`, { cause: err });
  }
  if (header === undefined) throw new CleanRoomError("invalid-argument", `The CSV ${path} is empty: it needs a header row naming the columns`);
  return { rows, sha256: tap.digest(), unparsable: numeric.filter((n) => n.count > 0).map(({ column, count, firstLine }) => ({ column, count, firstLine })) };
}

/** One line per column with unparsable numeric cells, for people (a Parquet table's by row, counted from 1). */
export function describeUnparsable(u: readonly UnparsableCells[], format = "csv"): string[] {
  const where = (c: UnparsableCells) => (format === "parquet" ? `row ${c.firstLine - 1}` : `line ${c.firstLine}`);
  return u.map((c) => `column ${c.column}: ${c.count} ${format === "parquet" ? "value(s)" : "cell(s)"} are not numbers (first at ${where(c)}); DP releases count them as unknown`);
}

/** Refuses a file whose bytes changed between the check and the encryption (what was checked is what is stored). */
export function checkUnchanged(path: string, checked: string, encrypted: string): void {
  if (checked !== encrypted) {
    throw new CleanRoomError("digest-mismatch", `The file ${path} changed while it was being provisioned (sha256 ${checked} when checked, ${encrypted} when encrypted); provision it again once nothing writes to it`);
  }
}

/**
 * Reading a CSV into the encoded (discretized) table the mechanisms work on, and writing synthetic rows back.
 *
 * The CSV is streamed through csv-parse; only the integer codes are kept (4 bytes per cell), never the raw rows.
 */

import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { parse } from "csv-parse";
import { stringify } from "csv-stringify";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { type Domain, headerIndex } from "./domain.js";
import type { SecureRng } from "./rng.js";

/** A discretized table: one code column per schema column, all of length `rows`. */
export interface EncodedTable {
  readonly rows: number;
  readonly columns: readonly Int32Array[];
}

class Int32Builder {
  buf = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  finish(): Int32Array {
    return this.buf.slice(0, this.length);
  }
}

/** The csv-parse options every reader of a dataset CSV uses (provisioning checks the file with the same ones). */
export const CSV_PARSE_OPTIONS = { bom: true, skip_empty_lines: true, relax_column_count: false } as const;

/**
 * One line for a CSV that csv-parse refused, naming one line number: the line of the offending record (for a quote
 * that is never closed, the line where that record starts, not the end of the file where the parser noticed).
 *
 * @param lastRecordEnd the line the last record read before the error ended on (0 when none was read)
 */
export function csvErrorMessage(path: string, err: unknown, lastRecordEnd: number): string {
  const e = err as { code?: string; lines?: number; message?: string };
  const start = lastRecordEnd + 1;
  const line = typeof e.lines === "number" && e.lines > 0 ? e.lines : start;
  switch (e.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return `CSV ${path}, line ${start}: a quoted field that starts in this record is never closed`;
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH": {
      const m = /expect (\d+), got (\d+)/.exec(e.message ?? "");
      return `CSV ${path}, line ${line}: ${m ? `${m[2]} fields where the header has ${m[1]}` : "another number of fields than the header"}`;
    }
    case "CSV_INVALID_CLOSING_QUOTE":
      return `CSV ${path}, line ${line}: a closing quote is followed by more text (quote the whole field and double any quote inside it)`;
    default:
      return `CSV ${path}, line ${line}: ${(e.message ?? messageOf(err)).replace(/\s*(?:at|on) line \d+/g, "")}`;
  }
}

/**
 * Streams a CSV file (with a header row) and calls `visit` with the cells of the schema's columns, in schema order,
 * for every data row. Columns of the CSV that the schema does not declare are never looked at (never released).
 *
 * @throws CleanRoomError `invalid-argument` naming a schema column missing from the header, `io-error` otherwise
 */
export async function scanCsv(path: string, domain: Domain, visit: (cells: readonly string[]) => void): Promise<number> {
  let index: number[] | undefined;
  let rows = 0;
  let lastLine = 0;
  const cells = new Array<string>(domain.columns.length);
  // on_record runs as the parser reads each record: its line is exact, where the consumer below lags behind the parser.
  const source = createReadStream(path);
  const parser = source.pipe(
    parse({
      ...CSV_PARSE_OPTIONS,
      on_record: (record: string[], context: { lines: number }) => {
        lastLine = context.lines;
        return record;
      },
    }),
  );
  // pipe() does not forward the file's errors: without this a missing or unreadable file is an uncaught exception
  // that ends the process instead of the io-error below.
  source.once("error", (err) => parser.destroy(err));
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (index === undefined) {
        index = headerIndex(domain, record, path);
        continue;
      }
      rows++;
      for (let c = 0; c < index.length; c++) cells[c] = record[index[c]] ?? "";
      visit(cells);
    }
  } catch (err) {
    if (err instanceof CleanRoomError) throw err;
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
      throw new CleanRoomError("io-error", `Cannot read CSV ${path}: ${messageOf(err)}`, { cause: err });
    }
    throw new CleanRoomError("invalid-argument", `Cannot read ${csvErrorMessage(path, err, lastLine)}`, { cause: err });
  }
  if (index === undefined) throw new CleanRoomError("invalid-argument", `CSV ${path} is empty: it needs a header row naming the columns`);
  return rows;
}

/** Streams a CSV and keeps only the codes of the schema's columns (4 bytes per cell). */
export async function readEncodedCsv(path: string, domain: Domain): Promise<EncodedTable> {
  const builders = domain.columns.map(() => new Int32Builder());
  const cols = domain.columns;
  const rows = await scanCsv(path, domain, (cells) => {
    for (let c = 0; c < cells.length; c++) builders[c].push(cols[c].encode(cells[c]));
  });
  return { rows, columns: builders.map((b) => b.finish()) };
}

/** Builds an encoded table from in-memory records (header + rows), e.g. for tests and small API uses. */
export function encodeRecords(domain: Domain, header: readonly string[], rows: readonly (readonly string[])[]): EncodedTable {
  const index = headerIndex(domain, header, "the records");
  const columns = domain.columns.map((col, c) => {
    const out = new Int32Array(rows.length);
    for (let r = 0; r < rows.length; r++) out[r] = col.encode(rows[r][index[c]] ?? "");
    return out;
  });
  return { rows: rows.length, columns };
}

/**
 * Decodes synthetic code columns and streams them to a CSV file with the schema's header.
 * Values are drawn inside their bins here (post-processing: it never reads the real data).
 */
export async function writeDecodedCsv(path: string, domain: Domain, table: EncodedTable, rng: SecureRng): Promise<void> {
  const out = createWriteStream(path, { mode: 0o600 });
  const stringifier = stringify({ header: true, columns: domain.columns.map((c) => c.name) });
  stringifier.pipe(out);
  const d = domain.columns.length;
  try {
    for (let r = 0; r < table.rows; r++) {
      const row = new Array<string>(d);
      for (let c = 0; c < d; c++) row[c] = domain.columns[c].decode(table.columns[c][r], rng);
      if (!stringifier.write(row)) await once(stringifier, "drain");
    }
    stringifier.end();
    await once(out, "finish");
  } catch (err) {
    out.destroy();
    throw new CleanRoomError("io-error", `Cannot write ${path}: ${messageOf(err)}`, { cause: err });
  }
}

/** Decodes synthetic code columns to string rows in memory (small tables, tests). */
export function decodeRows(domain: Domain, table: EncodedTable, rng: SecureRng): string[][] {
  const rows: string[][] = [];
  for (let r = 0; r < table.rows; r++) rows.push(domain.columns.map((c, i) => c.decode(table.columns[i][r], rng)));
  return rows;
}

// The CSV check `data provision` runs on a table before anything is stored (provision/csv-check.ts): the byte scanner
// that decides plain files against csv-parse alone (the check before the scanner, and what still decides every other
// file), on the same file in the same run, best of 3, interleaved. A 256 MiB CSV (CLEANROOM_BENCH_CSV_MIB overrides)
// of 70-byte rows: an id, two categorical columns, a numeric column with one non-number in 1,000 cells, a free-text
// column with a quoted field every 100,000 rows (a file with few quotes is where a scanner that searches
// for the next quote per field would be slow). Both must report the same rows and unparsable cells.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatasetSchema } from "../src/core/spec.js";
import { type CsvCheck, type CsvCheckEngine, checkDatasetCsv } from "../src/runtime/provision/csv-check.js";
import type { Bench, BenchResult } from "./types.js";

const MIB = 1024 * 1024;
const CSV_MIB = Number(process.env.CLEANROOM_BENCH_CSV_MIB ?? 256);
const ROUNDS = 3;
const TARGET = 0.25;
const SCHEMA = {
  columns: [
    { name: "sex", type: "categorical", categories: ["F", "M"] },
    { name: "region", type: "categorical", categories: ["north", "south", "east", "west"] },
    { name: "charges", type: "numeric", min: 0, max: 100000 },
  ],
} as DatasetSchema;

/** Writes about `mib` MiB of rows in 1 MiB blocks. */
function makeCsv(path: string, mib: number): void {
  const fd = openSync(path, "w");
  writeSync(fd, "id,sex,region,charges,note\n");
  const regions = ["north", "south", "east", "west"];
  let row = 0;
  for (let written = 0; written < mib * MIB; ) {
    const lines: string[] = [];
    for (let size = 0; size < MIB; row++) {
      const charges = row % 1000 === 7 ? "n/a" : `${(row * 7919) % 60000}.${row % 100}`;
      const note = row % 100_000 === 0 ? `"seen, twice ""late"" and rebooked"` : `visit ${row % 997} ok nothing to add`;
      const line = `${row},${row % 2 ? "F" : "M"},${regions[row % 4]},${charges},${note}\n`;
      lines.push(line);
      size += line.length;
    }
    written += writeSync(fd, lines.join(""));
  }
  closeSync(fd);
}

async function timed(path: string, engine: CsvCheckEngine): Promise<{ ms: number; result: CsvCheck }> {
  const t0 = process.hrtime.bigint();
  const result = await checkDatasetCsv(path, SCHEMA, engine);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

export const benches: Bench[] = [
  {
    name: "provision: CSV check, byte scanner vs csv-parse",
    async run(): Promise<BenchResult[]> {
      const dir = mkdtempSync(join(tmpdir(), "acr-bench-csv-check-"));
      try {
        const path = join(dir, "table.csv");
        process.stderr.write(`[bench] provision: writing a ${CSV_MIB} MiB CSV in ${dir}\n`);
        makeCsv(path, CSV_MIB);
        let fast = Number.POSITIVE_INFINITY;
        let slow = Number.POSITIVE_INFINITY;
        let same = true;
        for (let r = 0; r < ROUNDS; r++) {
          const a = await timed(path, "fast");
          const b = await timed(path, "csv-parse");
          fast = Math.min(fast, a.ms);
          slow = Math.min(slow, b.ms);
          same &&= JSON.stringify(a.result) === JSON.stringify(b.result);
        }
        const ratio = fast / slow;
        return [
          {
            name: `provision: CSV check of ${CSV_MIB} MiB (70-byte rows)`,
            figure: `byte scanner ${fast.toFixed(0)} ms (${(CSV_MIB / (fast / 1000)).toFixed(0)} MiB/s)${same ? "" : ", RESULTS DIFFER"}`,
            baseline: `csv-parse ${slow.toFixed(0)} ms (${(CSV_MIB / (slow / 1000)).toFixed(0)} MiB/s)`,
            ratio,
            target: `<= ${TARGET}x`,
            ok: ratio <= TARGET && same,
          },
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

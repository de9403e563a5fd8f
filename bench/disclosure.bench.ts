// Disclosure benchmark (issue 14): the verbatim-rows check of 100 MiB of CSV outputs against a 1 GiB CSV input
// (`checkVerbatim`), against a plain streaming read of the same bytes (input and outputs, 1 MiB chunks) in the same
// run, with the load average. Target: at most 3x (docs/disclosure.md says what was measured). The data is generated in a temporary directory (person records in; aggregate-like rows
// out, with three input records copied into one output, which the check must find). The page cache is warmed first;
// each figure is the best of 2, interleaved.
// CLEANROOM_BENCH_DISCLOSURE_MIB sets the input's size in MiB (default 1024; the outputs are a tenth of it).
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { checkVerbatim } from "../src/runtime/disclosure/verbatim.js";
import type { Bench, BenchResult } from "./types.js";

const MIB = 1024 * 1024;
const INPUT_MIB = Number(process.env.CLEANROOM_BENCH_DISCLOSURE_MIB ?? 1024);
const OUTPUT_FILES = 4;
const ROUNDS = 2;
const TARGET = 3;
const READ_CHUNK = MIB;
const COPIED = 3;

const CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Greenville", "Madison", "Georgetown", "Salem"];

/** Writes `bytes` of text made by `line(i)` to `path`, in 4 MiB blocks; returns the lines written. */
async function writeLines(path: string, bytes: number, header: string, line: (i: number) => string): Promise<number> {
  const fh = await open(path, "w");
  let written = 0;
  let i = 0;
  try {
    await fh.write(`${header}\n`);
    written += header.length + 1;
    while (written < bytes) {
      const parts: string[] = [];
      let size = 0;
      while (size < 4 * MIB && written + size < bytes) {
        const l = line(i++);
        parts.push(l);
        size += l.length + 1;
      }
      parts.push("");
      await fh.write(parts.join("\n"));
      written += size;
    }
  } finally {
    await fh.close();
  }
  return i;
}

function person(i: number): string {
  const zip = 10000 + ((i * 7919) % 89999);
  return `${i + 1000000},Person ${(i * 2654435761) % 1000003},${18 + (i % 70)},${zip},${i % 2 ? "F" : "M"},${20000 + ((i * 37) % 180000)}.${i % 100},${CITIES[i % CITIES.length]}`;
}

async function makeData(dir: string): Promise<{ input: string; outputs: string[] }> {
  const input = join(dir, "people.csv");
  const rows = await writeLines(input, INPUT_MIB * MIB, "id,name,age,zip,sex,income,city", person);
  const outputs: string[] = [];
  for (let f = 0; f < OUTPUT_FILES; f++) {
    const path = join(dir, `out-${f}.csv`);
    await writeLines(path, (INPUT_MIB * MIB) / 10 / OUTPUT_FILES, "group,n,mean_income,sd_income", (i) => {
      // Three input records copied into the first output, spread through it.
      if (f === 0 && i % 1000 === 7 && i / 1000 < COPIED) return person(((i + 1) * 104729) % rows);
      return `g${f}-${i % 5000}-${Math.floor(i / 5000)},${10 + (i % 900)},${40000 + (i % 9973)}.${i % 97},${(i * 13) % 20000}.5`;
    });
    outputs.push(path);
  }
  return { input, outputs };
}

async function plainRead(files: readonly string[]): Promise<number> {
  let bytes = 0;
  for (const f of files) for await (const chunk of createReadStream(f, { highWaterMark: READ_CHUNK })) bytes += (chunk as Buffer).length;
  return bytes;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const benches: Bench[] = [
  {
    name: "disclosure/verbatim-rows",
    async run(): Promise<BenchResult[]> {
      const dir = await mkdtemp(join(tmpdir(), "acr-bench-disclosure-"));
      try {
        process.stderr.write(`[bench] disclosure/verbatim-rows: generating ${INPUT_MIB} MiB of input and ${INPUT_MIB / 10} MiB of outputs in ${dir}\n`);
        const { input, outputs } = await makeData(dir);
        const files = [input, ...outputs];
        let found = -1;
        const check = async () => {
          const r = await checkVerbatim(
            outputs.map((file, i) => ({ path: `out-${i}.csv`, file })),
            [{ key: "bench/people", path: input, format: "csv" }],
          );
          found = [...r.values()].reduce((n, f) => n + f.verbatimCount, 0);
        };
        await plainRead(files); // warm the page cache
        let bestPlain = Number.POSITIVE_INFINITY;
        let bestCheck = Number.POSITIVE_INFINITY;
        let bytes = 0;
        for (let r = 0; r < ROUNDS; r++) {
          bestPlain = Math.min(bestPlain, await timed(async () => (bytes = await plainRead(files))));
          bestCheck = Math.min(bestCheck, await timed(check));
        }
        const ratio = bestCheck / bestPlain;
        const mib = bytes / MIB;
        return [
          {
            name: `disclosure/verbatim-rows (${INPUT_MIB} MiB in, ${INPUT_MIB / 10} MiB out)`,
            // The load average goes with the figure: on a shared machine it moves the ratio more than the code does.
            figure: `${bestCheck.toFixed(0)} ms (${(mib / (bestCheck / 1000)).toFixed(0)} MiB/s), ${found} of ${COPIED} copied rows found, load average ${loadavg()[0].toFixed(1)}`,
            baseline: `plain read ${bestPlain.toFixed(0)} ms (${(mib / (bestPlain / 1000)).toFixed(0)} MiB/s)`,
            ratio,
            target: `<= ${TARGET}x`,
            ok: ratio <= TARGET && found === COPIED,
          },
        ];
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];

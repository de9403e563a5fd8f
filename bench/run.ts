// Benchmark runner: `npm run bench [name-substring]`.
// Loads every bench/*.bench.ts, runs each Bench (optionally only those whose name contains argv[2]) and prints ONE
// table. Every figure is printed next to a baseline measured in the same run, as a ratio — never a bare time.
// Progress goes to stderr so stdout is only the table. Exits non-zero if any result has ok === false or a bench throws.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Bench, BenchResult } from "./types.js";

function isBench(value: unknown): value is Bench {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.run === "function";
}

/**
 * Loads `benches` from every `*.bench.ts` next to this file, in file-name order. A file that fails to load becomes a
 * bench that throws, so one broken file is reported in the table instead of hiding every other result.
 */
export function loadBenches(dir: string = __dirname): Bench[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".bench.ts") || f.endsWith(".bench.js"))
    .sort();
  const out: Bench[] = [];
  for (const file of files) {
    try {
      // require (not import()) so ts-node's CommonJS hook compiles the TypeScript bench file.
      const mod: unknown = require(join(dir, file));
      const benches = (mod as { benches?: unknown }).benches;
      if (!Array.isArray(benches)) throw new Error("it must export `benches: Bench[]` (see bench/types.ts)");
      for (const b of benches) {
        if (!isBench(b)) throw new Error("every entry of `benches` needs a name and a run() function");
        out.push(b);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      out.push({
        name: file.replace(/\.bench\.[jt]s$/, ""),
        run: () => Promise.reject(new Error(`cannot load bench/${file}: ${message}`)),
      });
    }
  }
  return out;
}

function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}x`;
}

function okCell(ok: boolean | undefined): string {
  if (ok === undefined) return "-";
  return ok ? "yes" : "NO";
}

/** Renders results as one aligned text table. */
export function renderTable(results: BenchResult[]): string {
  const header = ["name", "figure", "baseline (same run)", "ratio", "target", "ok"];
  const rows = results.map((r) => [r.name, r.figure, r.baseline, formatRatio(r.ratio), r.target ?? "-", okCell(r.ok)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}

async function main(): Promise<number> {
  const filter = process.argv[2];
  const all = loadBenches();
  const selected = filter ? all.filter((b) => b.name.includes(filter)) : all;
  if (all.length === 0) {
    process.stderr.write("[bench] no bench/*.bench.ts files export any benches\n");
    return 0;
  }
  if (selected.length === 0) {
    process.stderr.write(
      `no bench matches ${JSON.stringify(filter ?? "")}; available: ${all.map((b) => b.name).join(", ") || "(none)"}\n`,
    );
    return 2;
  }
  const results: BenchResult[] = [];
  let failures = 0;
  for (const bench of selected) {
    const started = Date.now();
    process.stderr.write(`[bench] ${bench.name} ...\n`);
    try {
      const rs = await bench.run();
      results.push(...rs);
      process.stderr.write(`[bench] ${bench.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      failures++;
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`[bench] ${bench.name} FAILED: ${message}\n`);
      results.push({ name: bench.name, figure: "error", baseline: "-", ratio: Number.NaN, target: "-", ok: false });
    }
  }
  process.stdout.write(`${renderTable(results)}\n`);
  const notOk = results.filter((r) => r.ok === false).length;
  if (notOk > 0) process.stderr.write(`[bench] ${notOk} result(s) below target${failures ? `, ${failures} bench(es) threw` : ""}\n`);
  return notOk > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`[bench] runner failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

// Child process of the 20M-row bench: one MST release through the DuckDB source, then its own peak RSS (which
// includes DuckDB's native memory). Prints one JSON line.
import { readFileSync } from "node:fs";
import { duckdbSource } from "../src/runtime/dp/marginal-duckdb.js";
import { synthesizeCsv } from "../src/runtime/dp/release.js";

async function main(): Promise<void> {
  const [input, schemaPath, output, method] = process.argv.slice(2);
  const t = performance.now();
  const r = await synthesizeCsv({ input, schema: JSON.parse(readFileSync(schemaPath, "utf8")), output, epsilon: 2, method: method ?? "mst", source: duckdbSource(input) });
  const ms = performance.now() - t;
  process.stdout.write(`${JSON.stringify({ ms, read: r.timings.read, rows: r.rows, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}
void main();

/**
 * Counts the mutants `npm run mutate` would test, per file and per mutator, without running a test: a quick way to
 * see what an ignorer or a scope change does. `node scripts/mutation/count.mjs [--by-mutator] [glob…]`.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Instrumenter } from "@stryker-mutator/instrumenter";
import config, { MUTATE } from "../../stryker.config.mjs";
import { strykerPlugins } from "./ignorers.mjs";

const args = process.argv.slice(2);
const byMutator = args.includes("--by-mutator");
const patterns = args.filter((a) => !a.startsWith("--"));
const include = patterns.length > 0 ? patterns : MUTATE.filter((p) => !p.startsWith("!"));
const exclude = MUTATE.filter((p) => p.startsWith("!")).map((p) => p.slice(1));

// The globs used here are "<dir>/**/*.ts", "**/<name>" or plain paths (Node 20 has no fs.glob).
async function expand(pattern) {
  const m = pattern.match(/^(.*)\/\*\*\/\*\.ts$/);
  if (!m) return [pattern];
  const entries = await readdir(m[1], { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => join(e.parentPath ?? e.path, e.name));
}
const excluded = (f) => exclude.some((x) => (x.startsWith("**/") ? basename(f) === x.slice(3) : f === x));
const names = [...new Set((await Promise.all(include.map(expand))).flat())].filter((f) => !excluded(f)).sort();
const files = await Promise.all(names.map(async (name) => ({ name, content: await readFile(name, "utf8"), mutate: true })));
const quiet = { isTraceEnabled: () => false, isDebugEnabled: () => false, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const ignorers = strykerPlugins.filter((p) => config.ignorers.includes(p.name)).map((p) => p.value);
const result = await new Instrumenter(quiet).instrument(files, { ...config.mutator, excludedMutations: config.mutator?.excludedMutations ?? [], ignorers, plugins: null });
const counts = new Map();
for (const m of result.mutants) {
  if (m.status === "Ignored") continue;
  const key = byMutator ? m.mutatorName : m.fileName;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
const rows = [...counts].sort((a, b) => b[1] - a[1]);
for (const [k, n] of rows) console.log(`${String(n).padStart(6)}  ${k}`);
console.log(`${String(rows.reduce((s, r) => s + r[1], 0)).padStart(6)}  total (ignored: ${result.mutants.filter((m) => m.status === "Ignored").length})`);

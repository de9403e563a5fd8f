/**
 * `npm run mutate`: one Stryker run per path of scripts/mutation/paths.mjs (its mutate globs, its in-process test
 * files, its own incremental file), at `nice -n 19`, then the merged summary reports/mutation-report.md.
 *
 *   npm run mutate                          every path, incremental
 *   npm run mutate -- --path executor       one path (repeat --path, or give a comma-separated list, for several)
 *   npm run mutate -- --force               ignore the incremental files: a cold run
 *   npm run mutate -- --list                the paths, their globs and test files; runs nothing
 *   npm run mutate -- --path core --concurrency 1 --mutate src/core/digest.ts   any other option goes to Stryker
 *
 * A path whose run fails does not stop the others; the exit code is 1 when any failed. The time of each run is
 * printed at the end (write the cold ones into reports/README.md).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { incrementalFileOf, latestResultOf, PATHS, pathNamed, testFilesOf } from "./paths.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const STRYKER = join(ROOT, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");

/** @param {string[]} argv */
function parse(argv) {
  const names = [];
  const passed = [];
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--list") list = true;
    else if (a === "--path") {
      const v = argv[++i];
      if (!v) throw new Error("--path needs a name (`npm run mutate -- --list` shows them)");
      names.push(...v.split(","));
    } else if (a.startsWith("--path=")) names.push(...a.slice("--path=".length).split(","));
    else passed.push(a);
  }
  // Stryker reads `file:75` as a file literally named so: it mutates nothing after a full dry run. Say so at once.
  for (let i = 0; i < passed.length; i++) {
    const value = passed[i] === "--mutate" ? passed[i + 1] : passed[i].startsWith("--mutate=") ? passed[i].slice("--mutate=".length) : undefined;
    const single = value?.split(",").find((g) => /:\d+(:\d+)?$/.test(g));
    if (single !== undefined) throw new Error(`--mutate "${single}": give lines as a range, e.g. "${single.replace(/:(\d+)(:\d+)?$/, ":$1-$1")}" (a single line matches no file)`);
  }
  // Validate every name before anything runs.
  const paths = names.length > 0 ? [...new Set(names)].map((n) => pathNamed(n.trim())) : [...PATHS];
  return { list, paths, passed };
}

/** @param {number} ms */
const minutes = (ms) => {
  // Round to whole seconds first: 119.6 s is "2 min 00 s", not "1 min 60 s".
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
};

/** `nice -n 19` where `nice` exists: the runs are long and must not starve the machine's other work. */
function niced(command, args) {
  return spawnSync("nice", ["--version"], { stdio: "ignore" }).status === 0 ? ["nice", ["-n", "19", command, ...args]] : [command, args];
}

/**
 * @param {import("./paths.mjs").MutationPath} path
 * @param {string[]} passed
 * @returns {Promise<number>} the exit code
 */
function runPath(path, passed) {
  const [command, args] = niced(process.execPath, [STRYKER, "run", ...passed]);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, CLEANROOM_MUTATE_PATH: path.name } });
    child.once("error", (err) => {
      console.error(`mutate: cannot start Stryker: ${err.message}`);
      resolve(1);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (err) {
  console.error(`mutate: ${err.message}`);
  process.exit(2);
}

if (options.list) {
  for (const p of PATHS) {
    console.log(`${p.name}: ${p.title}`);
    console.log(`  mutate: ${p.mutate.join(" ")}`);
    console.log(`  tests:  ${testFilesOf(p, ROOT).join(" ")}`);
    console.log(`  incremental: ${incrementalFileOf(p.name)}${existsSync(join(ROOT, incrementalFileOf(p.name))) ? "" : " (none yet: the first run is cold)"}`);
  }
  process.exit(0);
}

const times = [];
for (const path of options.paths) {
  console.log(`\nmutate: path "${path.name}" (${path.title})\n`);
  const started = Date.now();
  const code = await runPath(path, options.passed);
  times.push({ name: path.name, ms: Date.now() - started, code });
}

// The summary covers every path with a result (its JSON report or committed incremental file), so a one-path run
// still shows the whole picture.
const reports = PATHS.map((p) => latestResultOf(p.name, ROOT)).filter((f) => f !== undefined);
const report = spawnSync(process.execPath, [join(ROOT, "scripts", "mutation", "report.mjs"), ...reports], { cwd: ROOT, stdio: "inherit" });

console.log(`\nmutate: time per path${options.passed.includes("--force") ? " (cold, --force)" : " (incremental)"}`);
for (const t of times) console.log(`  ${t.name.padEnd(10)} ${minutes(t.ms).padStart(14)}${t.code === 0 ? "" : `  FAILED (exit ${t.code})`}`);
process.exit(times.some((t) => t.code !== 0) || report.status !== 0 ? 1 : 0);

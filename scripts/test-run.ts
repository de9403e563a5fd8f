/**
 * Runs the mocha suite (`npm test`) or only the named files (`npm run test:file -- <files>`), with .mocharc.json's
 * options, under an overall time limit that names what was running when it ran out.
 *
 * Named files need this script: mocha 12 appends positional files to .mocharc's `spec`, so `npx mocha <file>` runs the
 * whole suite. Here the config is read and passed with `--no-config`, `spec` replaced by the files.
 *
 * Usage:   node -r ts-node/register/transpile-only scripts/test-run.ts [file ...] [-- mocha options]
 * Example: npm run test:file -- tests/verify/token.test.ts tests/core/spec.test.ts
 * Environment: CLEANROOM_TEST_TIMEOUT  the overall limit in seconds (default 1800); the run is stopped after it,
 *              printing the test or hook that was running and since when.
 *              CLEANROOM_TEST_SLOWEST  how many of the slowest files to list at the end (default 5, 0 for none).
 *
 * Order: the whole suite runs its files longest first, so that mocha's two parallel workers do not end with one of them
 * alone on a long file started last. Each file's time comes from the last whole run on this machine
 * (node_modules/.cache/attested-cleanroom/test-durations.json, written at the end of every whole run), else from the
 * committed seed tests/durations.json (what a fresh clone and CI use; refresh it by copying the cache file over it);
 * a file in neither runs first, as it may be long.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { type ProcessState, type RunningState, STATE_ENV } from "./test-state.js";

const ROOT = resolve(__dirname, "..");
const DEFAULT_LIMIT_S = 1800;
const DEFAULT_SLOWEST = 5;
/** Each file's time (ms) in the last whole run here: written by this script, read to order the next run. */
export const DURATIONS_CACHE = join(ROOT, "node_modules", ".cache", "attested-cleanroom", "test-durations.json");
/** The committed seed of the order, for a machine that has not run the whole suite yet (a fresh clone, CI). */
export const DURATIONS_SEED = join(ROOT, "tests", "durations.json");

export type Config = Record<string, string | number | boolean | readonly string[]>;

/** .mocharc.json as command-line options, `spec` replaced by `files` when any are given. */
export function mochaArgs(config: Config, files: readonly string[], extra: readonly string[] = []): string[] {
  const args = ["--no-config"];
  for (const [key, value] of Object.entries(config)) {
    if (key === "spec") continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (value === true) args.push(flag);
    else if (value === false) args.push(`--no-${flag.slice(2)}`);
    else if (Array.isArray(value)) for (const v of value) args.push(flag, String(v));
    else args.push(flag, String(value));
  }
  const spec = files.length > 0 ? files : ((config.spec as readonly string[] | undefined) ?? []);
  return [...args, ...extra, ...spec];
}

/** The message printed when the suite runs out of time: what each mocha process was running. */
export function timeoutMessage(limitS: number, running: readonly RunningState[], now: number): string {
  const what =
    running.length > 0
      ? running.map((r) => `the ${r.kind} "${r.title}"${r.file ? ` of ${r.file}` : ""}, for ${Math.round((now - r.since) / 1000)} s`).join("; and ")
      : "no test or hook was running (loading the test files, or between them)";
  return `test-run: the suite did not finish within ${limitS} s (CLEANROOM_TEST_TIMEOUT): it was running ${what}. Stopping it.`;
}

/** The `n` files that took longest (tests and hooks, summed over every mocha process), as printed at the end. */
export function slowestFiles(states: readonly ProcessState[], n = DEFAULT_SLOWEST): string {
  const rows = [...fileDurations(states)].sort((a, b) => b[1] - a[1]).slice(0, n);
  return rows.map(([f, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}`).join("\n");
}

/** Milliseconds per file (tests and hooks), summed over every mocha process. */
export function fileDurations(states: readonly ProcessState[]): Map<string, number> {
  const total = new Map<string, number>();
  for (const s of states) for (const [f, ms] of Object.entries(s.files)) total.set(f, (total.get(f) ?? 0) + ms);
  return total;
}

/**
 * The files a `spec` pattern names when it is a directory, then any depth, then any name with a suffix (.mocharc's
 * `tests/` + `**` + `/` + `*.test.ts`): repo-relative and sorted. `undefined` for any other form (the pattern then
 * goes to mocha unexpanded, in mocha's order).
 */
export function expandSpec(root: string, pattern: string): string[] | undefined {
  const m = /^([^*?[\]{}]+)\/\*\*\/\*([^*?[\]{}/]+)$/.exec(pattern);
  if (!m) return undefined;
  const [, dir, suffix] = m as unknown as [string, string, string];
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(suffix)) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/**
 * `files` longest first by `durations` (ms per repo-relative file); files without a duration come first, in their
 * given order (a new file may be long, and starting it early costs nothing if it is not).
 */
export function longestFirst(files: readonly string[], durations: Readonly<Record<string, number>>): string[] {
  const known = (f: string) => typeof durations[f] === "number" && Number.isFinite(durations[f]);
  return [...files.filter((f) => !known(f)), ...files.filter(known).sort((a, b) => (durations[b] as number) - (durations[a] as number))];
}

/** A durations file (`{ "<file>": ms }`), or undefined when it is missing or not such an object. */
function readDurations(path: string): Record<string, number> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => typeof e[1] === "number"));
  } catch {
    return undefined;
  }
}

/**
 * The whole suite's files (`config.spec` expanded under `root`) longest first by the first durations file of
 * `durationFiles` that can be read; undefined to leave `spec` to mocha (a pattern `expandSpec` does not take).
 */
export function orderedSpec(root: string, config: Config, durationFiles: readonly string[]): string[] | undefined {
  const spec = (config.spec as readonly string[] | undefined) ?? [];
  const expanded = spec.map((p) => expandSpec(root, p));
  if (expanded.some((e) => e === undefined)) return undefined;
  const files = [...new Set(expanded.flat() as string[])];
  const durations = durationFiles.map(readDurations).find((d) => d !== undefined);
  return longestFirst(files, durations ?? {});
}

/** Writes this run's file times as the next run's order (atomically; a cache that cannot be written is skipped). */
function saveDurations(durations: Map<string, number>): void {
  try {
    mkdirSync(dirname(DURATIONS_CACHE), { recursive: true });
    const tmp = `${DURATIONS_CACHE}.${process.pid}`;
    const sorted = [...durations].sort((a, b) => a[0].localeCompare(b[0]));
    writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(sorted.map(([f, ms]) => [f, Math.round(ms)])), null, 1)}\n`);
    renameSync(tmp, DURATIONS_CACHE);
  } catch {
    // read-only node_modules: the next run keeps the seed's order
  }
}

function readStates(dir: string): ProcessState[] {
  const out: ProcessState[] = [];
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, f), "utf8")) as ProcessState);
    } catch {
      // being rewritten right now: skip it
    }
  }
  return out;
}

function main(argv: readonly string[]): void {
  const dash = argv.indexOf("--");
  const files = dash < 0 ? [...argv] : argv.slice(0, dash);
  const extra = dash < 0 ? [] : argv.slice(dash + 1);
  const missing = files.filter((f) => !existsSync(resolve(f)));
  if (missing.length > 0) {
    process.stderr.write(`test-run: no such test file: ${missing.join(", ")} (give paths such as tests/verify/token.test.ts)\n`);
    process.exit(2);
  }
  const raw = process.env.CLEANROOM_TEST_TIMEOUT;
  const limitS = raw === undefined || raw === "" ? DEFAULT_LIMIT_S : Number(raw);
  if (!Number.isFinite(limitS) || limitS <= 0) {
    process.stderr.write(`test-run: CLEANROOM_TEST_TIMEOUT must be a positive number of seconds, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  const rawSlowest = process.env.CLEANROOM_TEST_SLOWEST;
  const slowestN = rawSlowest === undefined || rawSlowest === "" ? DEFAULT_SLOWEST : Number(rawSlowest);
  if (!Number.isSafeInteger(slowestN) || slowestN < 0) {
    process.stderr.write(`test-run: CLEANROOM_TEST_SLOWEST must be a whole number of files (0 for none), got ${JSON.stringify(rawSlowest)}\n`);
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(join(ROOT, ".mocharc.json"), "utf8")) as Config;
  const whole = files.length === 0;
  const order = whole ? orderedSpec(ROOT, config, [DURATIONS_CACHE, DURATIONS_SEED]) : undefined;
  const stateDir = mkdtempSync(join(tmpdir(), "acr-test-run-"));
  const mocha = require.resolve("mocha/bin/mocha.js", { paths: [ROOT] });
  // Its own process group, so that the limit stops mocha and everything it started.
  const child = spawn(process.execPath, [mocha, ...mochaArgs(config, order ?? files, extra)], {
    cwd: ROOT,
    stdio: "inherit",
    detached: true,
    env: { ...process.env, [STATE_ENV]: stateDir },
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    const running = readStates(stateDir).flatMap((st) => (st.running ? [st.running] : []));
    process.stderr.write(`\n${timeoutMessage(limitS, running, Date.now())}\n`);
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), 5_000).unref();
  }, limitS * 1000);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => killGroup(signal));
  child.on("close", (code, signal) => {
    clearTimeout(limit);
    const states = readStates(stateDir);
    const slowest = slowestFiles(states, slowestN);
    if (slowest && !timedOut) process.stdout.write(`  slowest files:\n${slowest}\n`);
    // Only a whole run that was not cut short knows every file's time (a --grep run would record parts of files).
    if (whole && !timedOut && extra.length === 0) saveDurations(fileDurations(states));
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(timedOut ? 124 : (code ?? (signal ? 128 + 15 : 1)));
  });
}

if (require.main === module) main(process.argv.slice(2));

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
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type ProcessState, type RunningState, STATE_ENV } from "./test-state.js";

const ROOT = resolve(__dirname, "..");
const DEFAULT_LIMIT_S = 1800;

type Config = Record<string, string | number | boolean | readonly string[]>;

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
export function slowestFiles(states: readonly ProcessState[], n = 5): string {
  const total = new Map<string, number>();
  for (const s of states) for (const [f, ms] of Object.entries(s.files)) total.set(f, (total.get(f) ?? 0) + ms);
  const rows = [...total].sort((a, b) => b[1] - a[1]).slice(0, n);
  return rows.map(([f, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}`).join("\n");
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
  const config = JSON.parse(readFileSync(join(ROOT, ".mocharc.json"), "utf8")) as Config;
  const stateDir = mkdtempSync(join(tmpdir(), "acr-test-run-"));
  const mocha = require.resolve("mocha/bin/mocha.js", { paths: [ROOT] });
  // Its own process group, so that the limit stops mocha and everything it started.
  const child = spawn(process.execPath, [mocha, ...mochaArgs(config, files, extra)], {
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
    const slowest = slowestFiles(readStates(stateDir));
    if (slowest && !timedOut) process.stdout.write(`  slowest files:\n${slowest}\n`);
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(timedOut ? 124 : (code ?? (signal ? 128 + 15 : 1)));
  });
}

if (require.main === module) main(process.argv.slice(2));

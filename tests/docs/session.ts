/**
 * Runs the doctest blocks of one markdown file as one bash session, the way a reader pastes them into one terminal:
 * in a scratch copy of the file's directory, `set -euo pipefail`, every local room the session starts stopped by an
 * EXIT trap, and a failure mapped back to the markdown line that failed.
 *
 * `cleanroom` (and `npx cleanroom`, as the README writes it) is this checkout's CLI: in a local session one process
 * per command of the package bin, built once per test process (tests/cli-build.ts); in a gcp session it (and
 * `pulumi`) is forwarded to the test process, where the loopback Google APIs and the fake Confidential Space VM live
 * (tests/docs/gcp-world.ts). `npm` runs only the harmless scripts; `pulumi` outside a gcp session fails.
 *
 * Every top-level line is timed (a DEBUG trap writes `line time` to a trace file): a session that runs out of time
 * names the line it was on, and every result lists its slowest lines.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { localDown, localStatus } from "../../src/runtime/platforms/local/room.js";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "../components/harness.js";
import { builtPackage } from "../cli-build.js";
import { type BashBlock, logicalLines } from "./markdown.js";

/** Result of a session. */
export interface SessionResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `file:line` of the markdown line whose command failed, when bash reported one. */
  readonly failedAt?: string;
  /** The session's scratch directory (the markdown file's directory copy). */
  readonly cwd: string;
  /** Each top-level line the session reached, with how long it ran, in order. */
  readonly steps: readonly SessionStep[];
  /** Set when the session was killed for running out of time: the line it was on. */
  readonly killedAt?: SessionStep;
}

/** One timed line of a session. */
export interface SessionStep {
  /** `file:line` of the markdown line. */
  readonly at: string;
  /** The (logical) shell line. */
  readonly text: string;
  readonly ms: number;
}

/** The `n` slowest steps, for messages: `12.3 s README.md:140 cleanroom job submit …`. */
export function slowest(steps: readonly SessionStep[], n = 3): string {
  return [...steps]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .map((s) => `${(s.ms / 1000).toFixed(1)} s ${s.at} ${s.text.length > 100 ? `${s.text.slice(0, 100)}…` : s.text}`)
    .join("\n");
}

/** npm scripts a doctest may run for real (never `test`/`bench`: the suite would recurse or hog the machine). */
const RUNNABLE_NPM = ["demo", "build", "docs:cli", "golden"];

/**
 * Copies what a markdown file's commands refer to into a scratch directory: the file's own directory (an example),
 * or, for the repository's README and docs/*.md (whose commands run from the repository root), `examples/` (so
 * `examples/quickstart/spec.json` resolves). Returns the directory the session starts in (`cwd`) and the scratch
 * directory that stands for the repository root (`root`).
 */
export function scratchCopy(file: string): { root: string; cwd: string } {
  const root = mkdtempSync(join(tmpdir(), "acr-doctest-"));
  const dir = dirname(file);
  if (dir === "." || dir === "docs") {
    cpSync(join(REPO_ROOT, "examples"), join(root, "examples"), { recursive: true });
    return { root, cwd: root };
  }
  cpSync(join(REPO_ROOT, dir), join(root, dir), { recursive: true });
  return { root, cwd: join(root, dir) };
}

/**
 * A bash function body that forwards `<tool> "$@"` to the test process (tests/docs/gcp-world.ts) over /dev/tcp, in
 * bash alone: NUL-terminated word count, cwd, tool and args out; `<code> <stdout file> <stderr file>` back.
 */
function forward(tool: string): string {
  return `  local __fd __code __out __err
  exec {__fd}<>"/dev/tcp/127.0.0.1/$DOCTEST_CONTROL_PORT"
  printf '%s\\0' "$(($# + 1))" "$PWD" ${tool} "$@" >&"$__fd"
  IFS=' ' read -r __code __out __err <&"$__fd" || { exec {__fd}>&-; echo "doctest: no answer from the test process" >&2; return 98; }
  exec {__fd}>&-
  cat -- "$__out"; cat -- "$__err" >&2; rm -f -- "$__out" "$__err"
  return "$__code"`;
}

/**
 * The bash prelude: strict mode, the `cleanroom`/`npm`/`pulumi` functions, the EXIT trap. With `controlPort` (a gcp
 * session) `cleanroom` and `pulumi` are forwarded to the test process, where the loopback fakes and the fake VM run.
 */
export function prelude(opts: { controlPort?: number }): string {
  const bin = opts.controlPort ? "" : JSON.stringify(join(builtPackage(), "bin", "cleanroom.js"));
  const cleanroom = opts.controlPort ? forward("cleanroom") : `  node ${bin} "$@"`;
  return `set -euo pipefail
__doctest_rooms=()
cleanroom() {
  if [ "\${1:-}" = local ] && [ "\${2:-}" = up ]; then
    local prev="" a
    for a in "$@"; do
      if [ "$prev" = --dir ]; then __doctest_rooms+=("$a"); fi
      case "$a" in --dir=*) __doctest_rooms+=("\${a#--dir=}");; esac
      prev="$a"
    done
  fi
${cleanroom}
}
__doctest_down() {
  local d
  for d in "\${__doctest_rooms[@]+"\${__doctest_rooms[@]}"}"; do
    ${opts.controlPort ? "cleanroom" : `node ${bin}`} local down --dir "$d" >/dev/null 2>&1 || true
  done
}
trap __doctest_down EXIT
npx() {
  if [ "\${1:-}" = cleanroom ]; then shift; cleanroom "$@"; return; fi
  echo "doctest: \\\`npx $*\\\` is not run in a doctest (only npx cleanroom)" >&2; return 97
}
npm() {
  if [ "\${1:-}" = run ] && [[ " ${RUNNABLE_NPM.join(" ")} " == *" \${2:-} "* ]]; then (cd ${JSON.stringify(REPO_ROOT)} && command npm "$@"); return; fi
  echo "doctest: \\\`npm $*\\\` is not run in a doctest (only npm run ${RUNNABLE_NPM.join("|")})" >&2; return 97
}
pulumi() {
${opts.controlPort ? forward("pulumi") : `  echo "doctest: pulumi is only emulated in <!-- doctest: gcp --> blocks" >&2; return 97`}
}
`;
}

/** Builds the session script and the map from script line to markdown line. */
export function sessionScript(blocks: readonly BashBlock[], opts: { controlPort?: number }): { script: string; lineMap: Map<number, string> } {
  const head = prelude(opts);
  const lines = head.split("\n");
  lines.pop();
  const lineMap = new Map<number, string>();
  for (const b of blocks) {
    lines.push(`# ---- ${b.file}:${b.line} ----`);
    b.lines.forEach((l, i) => {
      lines.push(l.replace(/^(\s*)\$ /, "$1"));
      lineMap.set(lines.length, `${b.file}:${b.line + i}`);
    });
  }
  return { script: `${lines.join("\n")}\n`, lineMap };
}

/**
 * Markdown `file:line` of every physical line → the logical shell line it belongs to (bash reports a command continued
 * with `\\` at one of its physical lines), for step messages.
 */
function logicalOf(blocks: readonly BashBlock[]): Map<string, { at: string; text: string }> {
  const out = new Map<string, { at: string; text: string }>();
  for (const b of blocks) {
    const logical = logicalLines(b.lines);
    logical.forEach(({ index, text }, k) => {
      const step = { at: `${b.file}:${b.line + index}`, text: text.trim() };
      for (let i = index; i < (logical[k + 1]?.index ?? b.lines.length); i++) out.set(`${b.file}:${b.line + i}`, step);
    });
  }
  return out;
}

/** Turns the DEBUG trap's `scriptLine epochSeconds` records into steps (consecutive records of one line merged). */
function stepsOf(trace: string, lineMap: Map<number, string>, logical: Map<string, { at: string; text: string }>, endSec: number): { steps: SessionStep[]; last?: SessionStep } {
  const marks: Array<{ at: string; text: string; t: number }> = [];
  for (const rec of trace.split("\n")) {
    const [n, t] = rec.split(" ");
    const physical = lineMap.get(Number(n));
    const step = physical === undefined ? undefined : (logical.get(physical) ?? { at: physical, text: "" });
    if (step === undefined || t === undefined) continue;
    if (marks.at(-1)?.at !== step.at) marks.push({ ...step, t: Number(t) });
  }
  const steps = marks.map((m, i) => ({ at: m.at, text: m.text, ms: Math.round(((marks[i + 1]?.t ?? endSec) - m.t) * 1000) }));
  return { steps, ...(steps.length > 0 ? { last: steps.at(-1)! } : {}) };
}

/**
 * Runs blocks as one bash session in `cwd` with extra environment; kills it after `timeoutMs` (an upper bound for a
 * session that hangs, not a performance target: the result's `steps` say how long each line took).
 */
export async function runSession(
  blocks: readonly BashBlock[],
  cwd: string,
  opts: { env?: Record<string, string>; controlPort?: number; timeoutMs?: number } = {},
): Promise<SessionResult> {
  const { script, lineMap } = sessionScript(blocks, opts);
  const traceDir = mkdtempSync(join(tmpdir(), "acr-doctest-trace-"));
  const traceFile = join(traceDir, "trace");
  // -E: the ERR trap also fires inside the `cleanroom` function; BASH_LINENO then holds the block line that called it.
  // The DEBUG trap (not inherited by functions or $( … ) without -T) records each top-level line as it starts.
  const withTrap = script
    .replace("set -euo pipefail\n", "set -Eeuo pipefail\n")
    .replace(
      "trap __doctest_down EXIT\n",
      `trap __doctest_down EXIT\ntrap 'echo "__doctest_failed_line $LINENO \${BASH_LINENO[*]}" >&2' ERR\ntrap 'printf "%s %s\\n" "$LINENO" "$EPOCHREALTIME" >> ${JSON.stringify(traceFile)}' DEBUG\n`,
    );
  // The two traps add two lines above every block line.
  const shifted = new Map([...lineMap].map(([k, v]) => [k + 2, v]));
  const logical = logicalOf(blocks);
  const child = spawn("bash", ["-c", withTrap, "doctest"], {
    cwd,
    env: { ...process.env, ...(opts.env ?? {}), ...(opts.controlPort ? { DOCTEST_CONTROL_PORT: String(opts.controlPort) } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const readTrace = () => (existsSync(traceFile) ? readFileSync(traceFile, "utf8") : "");
  const timeoutMs = opts.timeoutMs ?? 90_000;
  let killedAt: SessionStep | undefined;
  const timer = setTimeout(() => {
    killedAt = stepsOf(readTrace(), shifted, logical, Date.now() / 1000).last;
    stderr += `\ndoctest: session killed after ${timeoutMs} ms${killedAt ? ` while running ${killedAt.at} (for ${(killedAt.ms / 1000).toFixed(1)} s): ${killedAt.text}` : ""}`;
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  }, timeoutMs);
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  clearTimeout(timer);
  const { steps } = stepsOf(readTrace(), shifted, logical, Date.now() / 1000);
  rmSync(traceDir, { recursive: true, force: true });
  // The last report is the outermost frame; its first line number that is a block line is the one that failed.
  const reports = [...stderr.matchAll(/__doctest_failed_line ([\d ]+)/g)].map((m) => m[1]!.trim().split(" ").map(Number));
  const failedAt = reports
    .reverse()
    .map((nums) => nums.map((n) => shifted.get(n)).find((x) => x !== undefined))
    .find((x) => x !== undefined);
  return { code, stdout, stderr, cwd, steps, ...(failedAt ? { failedAt } : {}), ...(killedAt ? { killedAt } : {}) };
}

/** Directories under `root` that still hold a local room's pid file (a session that did not clean up). */
export function leftoverRooms(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4 || !existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name);
      if (existsSync(join(p, "room.pid"))) out.push(p);
      else walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

/** Stops the local rooms a session left running under `root`; returns their directories. */
export async function stopLeftovers(root: string): Promise<string[]> {
  const running: string[] = [];
  for (const d of leftoverRooms(root)) {
    if ((await localStatus(d)).running) {
      running.push(d);
      await localDown(d, { force: true });
    }
  }
  return running;
}

/** A failed session, for an assertion message: where, the slowest lines, the output tails. */
export function sessionMessage(file: string, r: SessionResult): string {
  const where = r.killedAt ? `${r.killedAt.at}: the session ran out of time on this line (${(r.killedAt.ms / 1000).toFixed(1)} s): ${r.killedAt.text}` : `${r.failedAt ?? file}: the session exited ${r.code}`;
  return `${where}\n--- slowest lines ---\n${slowest(r.steps)}\n--- stdout (tail) ---\n${r.stdout.slice(-2000)}\n--- stderr (tail) ---\n${r.stderr.slice(-3000)}`;
}

/** Every file under `dir` (relative paths, sorted): what a session must leave as it found it. */
export function filesUnder(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, base, out);
    else out.push(p.slice(base.length + 1));
  }
  return out.sort();
}

/**
 * Upper bounds for a whole session: generous (a loaded 2-core machine runs the slowest in ~2 min), only there to end
 * a hang with a message naming the line. How long each line took is in the failure message, not in an assertion.
 */
export const LOCAL_SESSION_LIMIT_MS = 300_000;
export const GCP_SESSION_LIMIT_MS = 300_000;

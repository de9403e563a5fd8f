/**
 * Runs the doctest blocks of one markdown file as one bash session, the way a reader pastes them into one terminal:
 * in a scratch copy of the file's directory, `set -euo pipefail`, every local room the session starts stopped by an
 * EXIT trap, and a failure mapped back to the markdown line that failed.
 *
 * `cleanroom` is this checkout's CLI: a `node -r ts-node/register/transpile-only src/runtime/cli.ts` process per
 * command in a local session; in a gcp session it (and `pulumi`) is forwarded to the test process, where the
 * loopback Google APIs and the fake Confidential Space VM live (tests/docs/gcp-world.ts). `npm` runs only the
 * harmless scripts; `pulumi` outside a gcp session fails.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "../components/harness.js";
import type { BashBlock } from "./markdown.js";

/** Result of a session. */
export interface SessionResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `file:line` of the markdown line whose command failed, when bash reported one. */
  readonly failedAt?: string;
  /** The session's scratch directory (the markdown file's directory copy). */
  readonly cwd: string;
}

const TS_NODE = join(REPO_ROOT, "node_modules", "ts-node", "register", "transpile-only");
const CLI = join(REPO_ROOT, "src", "runtime", "cli.ts");

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

/** A bash function body that forwards `<tool> "$@"` to the session's control endpoint (tests/docs/gcp-world.ts). */
function forward(tool: string): string {
  return `  node -e 'fetch(process.env.DOCTEST_CONTROL_URL,{method:"POST",body:JSON.stringify({tool:process.argv[1],args:process.argv.slice(2),cwd:process.cwd()})}).then(async(r)=>{const b=await r.json();process.stdout.write(b.stdout);process.stderr.write(b.stderr);process.exit(b.code)},(e)=>{console.error(String(e));process.exit(98)})' -- ${tool} "$@"`;
}

/**
 * The bash prelude: strict mode, the `cleanroom`/`npm`/`pulumi` functions, the EXIT trap. With `controlUrl` (a gcp
 * session) `cleanroom` and `pulumi` are forwarded to the test process, where the loopback fakes and the fake VM run.
 */
export function prelude(opts: { controlUrl?: string }): string {
  const cleanroom = opts.controlUrl ? forward("cleanroom") : `  node -r ${JSON.stringify(TS_NODE)} ${JSON.stringify(CLI)} "$@"`;
  return `set -euo pipefail
export TS_NODE_PROJECT=${JSON.stringify(join(REPO_ROOT, "tsconfig.json"))}
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
    node -r ${JSON.stringify(TS_NODE)} ${JSON.stringify(CLI)} local down --dir "$d" >/dev/null 2>&1 || true
  done
}
trap __doctest_down EXIT
npm() {
  if [ "\${1:-}" = run ] && [[ " ${RUNNABLE_NPM.join(" ")} " == *" \${2:-} "* ]]; then (cd ${JSON.stringify(REPO_ROOT)} && command npm "$@"); return; fi
  echo "doctest: \\\`npm $*\\\` is not run in a doctest (only npm run ${RUNNABLE_NPM.join("|")})" >&2; return 97
}
pulumi() {
${opts.controlUrl ? forward("pulumi") : `  echo "doctest: pulumi is only emulated in <!-- doctest: gcp --> blocks" >&2; return 97`}
}
`;
}

/** Builds the session script and the map from script line to markdown line. */
export function sessionScript(blocks: readonly BashBlock[], opts: { controlUrl?: string }): { script: string; lineMap: Map<number, string> } {
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

/** Runs blocks as one bash session in `cwd` with extra environment; kills it after `timeoutMs`. */
export async function runSession(
  blocks: readonly BashBlock[],
  cwd: string,
  opts: { env?: Record<string, string>; controlUrl?: string; timeoutMs?: number } = {},
): Promise<SessionResult> {
  const { script, lineMap } = sessionScript(blocks, opts);
  // -E: the ERR trap also fires inside the `cleanroom` function; BASH_LINENO then holds the block line that called it.
  const withTrap = script
    .replace("set -euo pipefail\n", "set -Eeuo pipefail\n")
    .replace("trap __doctest_down EXIT\n", `trap __doctest_down EXIT\ntrap 'echo "__doctest_failed_line $LINENO \${BASH_LINENO[*]}" >&2' ERR\n`);
  // The ERR trap adds one line above every block line.
  const shifted = new Map([...lineMap].map(([k, v]) => [k + 1, v]));
  const child = spawn("bash", ["-c", withTrap, "doctest"], {
    cwd,
    env: { ...process.env, ...(opts.env ?? {}), ...(opts.controlUrl ? { DOCTEST_CONTROL_URL: opts.controlUrl } : {}) },
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
  const timer = setTimeout(() => {
    stderr += `\ndoctest: session killed after ${opts.timeoutMs} ms`;
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  }, opts.timeoutMs ?? 90_000);
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  clearTimeout(timer);
  // The last report is the outermost frame; its first line number that is a block line is the one that failed.
  const reports = [...stderr.matchAll(/__doctest_failed_line ([\d ]+)/g)].map((m) => m[1]!.trim().split(" ").map(Number));
  const failedAt = reports
    .reverse()
    .map((nums) => nums.map((n) => shifted.get(n)).find((x) => x !== undefined))
    .find((x) => x !== undefined);
  return { code, stdout, stderr, cwd, ...(failedAt ? { failedAt } : {}) };
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

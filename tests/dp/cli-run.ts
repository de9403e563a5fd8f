// Runs the real `cleanroom` command (src/runtime/cli.ts under ts-node) in a child process.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const REPO = join(__dirname, "..", "..");
const ARGS = ["-r", "ts-node/register/transpile-only", join(REPO, "src", "runtime", "cli.ts")];

/** Runs the command to completion; the environment is this process's (without a DP test seed) plus `env`. */
export function runCleanroom(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...ARGS, ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts the command and returns the child (for tests that signal it). */
export function startCleanroom(args: string[]): ChildProcess {
  return spawn(process.execPath, [...ARGS, ...args], { cwd: REPO, env: { ...process.env, CLEANROOM_TEST_DP_SEED: "" }, stdio: ["ignore", "pipe", "pipe"] });
}

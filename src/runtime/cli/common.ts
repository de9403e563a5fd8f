/** Shared plumbing of the `cleanroom` command: error reporting, JSON output, progress. */
import type { Command } from "commander";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { printable, printableJson } from "./escape.js";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Prints a value as JSON (for `--json`, control characters escaped) or calls `human` to print it for people. */
export function output(json: boolean | undefined, value: unknown, human: () => void): void {
  if (json) process.stdout.write(`${printableJson(value)}\n`);
  else human();
}

/**
 * Parses a whole number of seconds given on the command line (`--timeout abc` must not mean "no timeout").
 *
 * @throws CleanRoomError `invalid-argument`
 * @example
 * wholeSeconds("600", "--timeout"); // 600
 */
export function wholeSeconds(text: string, option: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new CleanRoomError("invalid-argument", `${option} must be a whole number of seconds, at least 1 (got ${JSON.stringify(text)})`);
  return n;
}

/** A path or word as it can be pasted into a shell: as is when it is plain, single-quoted otherwise. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** Progress lines go to stderr so that `--json` stdout stays machine-readable. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs the program and turns errors into one clear line (plus the list of problems) and a non-zero exit code.
 * A `CleanRoomError` prints its code and message; anything else is reported as an internal error.
 */
export async function runCli(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    const json = argv.includes("--json");
    if (err instanceof CleanRoomError) {
      if (json) process.stdout.write(`${printableJson({ error: { code: err.code, message: err.message } })}\n`);
      else process.stderr.write(`cleanroom: error [${printable(err.code)}]: ${printable(err.message)}\n`);
    } else {
      process.stderr.write(`cleanroom: internal error: ${messageOf(err)}\n`);
      if (process.env.CLEANROOM_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ""}\n`);
    }
    process.exitCode = EXIT.failed;
  }
}

/**
 * Runs `cleanroom …` inside this process through the real program (`buildProgram()` + `runCli`), in a given working
 * directory, capturing stdout, stderr and the exit code. Shared by every test that drives the CLI in-process.
 *
 * Commander's own exits (usage errors, `--help`) are turned into exit codes on EVERY command of the tree: an
 * override on the root alone is not inherited by subcommands built before it, and their `process.exit` would end
 * the test run.
 */
import type { Command, CommanderError } from "commander";
import { buildProgram } from "../src/runtime/cli.js";
import { runCli } from "../src/runtime/cli/common.js";

function overrideExits(cmd: Command, onExit: (e: CommanderError) => never): void {
  cmd.exitOverride(onExit);
  for (const sub of cmd.commands) overrideExits(sub, onExit);
}

let busy = false;

/** Runs one command; calls must not overlap (stdout, stderr and the cwd are process-wide). */
export async function cliInProcess(args: readonly string[], cwd: string = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  if (busy) throw new Error("cliInProcess is not re-entrant");
  busy = true;
  let stdout = "";
  let stderr = "";
  let commanderExit: number | undefined;
  const out = process.stdout.write;
  const err = process.stderr.write;
  const savedCode = process.exitCode;
  const savedCwd = process.cwd();
  const program = buildProgram();
  overrideExits(program, (e) => {
    commanderExit = e.exitCode;
    throw e;
  });
  process.exitCode = undefined;
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    process.chdir(cwd);
    await runCli(program, ["node", "cleanroom", ...args]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.chdir(savedCwd);
    busy = false;
  }
  let code = typeof process.exitCode === "number" ? process.exitCode : 0;
  process.exitCode = savedCode;
  if (commanderExit !== undefined) {
    // Commander already printed its message (or the help); runCli's "internal error" line is this harness's artefact.
    code = commanderExit;
    stderr = stderr.replace(/^cleanroom: internal error: .*\n/m, "");
  }
  return { code, stdout, stderr };
}

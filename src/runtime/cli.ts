#!/usr/bin/env node
/**
 * The `cleanroom` command. Each command group lives in `cli/<group>.ts` and registers itself here.
 */
import { Command } from "commander";
import { runCli } from "./cli/common.js";
import { registerConsoleCommands } from "./cli/console.js";
import { registerDataCommands } from "./cli/data.js";
import { registerDpCommands } from "./cli/dp.js";
import { registerJobCommands } from "./cli/job.js";
import { registerLocalCommands } from "./cli/local.js";
import { registerPolicyCommands } from "./cli/policy.js";
import { registerVerifyCommands } from "./cli/verify.js";

/** Builds the whole `cleanroom` command tree (also used to generate the README's CLI reference). */
export function buildProgram(): Command {
  const program = new Command("cleanroom")
    .description(
      "Attested Clean Room: provision data, submit jobs and verify results against a deployed clean room\n" +
        "(GCP Confidential Space, or the local backend started with `cleanroom local up`).",
    )
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)");
  registerLocalCommands(program);
  registerDataCommands(program);
  registerDpCommands(program);
  registerJobCommands(program);
  registerPolicyCommands(program);
  registerVerifyCommands(program);
  registerConsoleCommands(program);
  return program;
}

if (require.main === module) {
  // `cleanroom verify … | head`: a reader that stops reading is not an error of ours; end quietly, no stack trace.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  });
  void runCli(buildProgram(), process.argv);
}

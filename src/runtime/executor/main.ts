/**
 * The executor's entry point (the workload image's command): reads its environment, loads the room descriptor,
 * builds the platform for `descriptor.platform` and runs the job. Exit code 0 when a result (success or failure
 * receipt) was committed, 1 when nothing could be committed.
 */
import { readFile } from "node:fs/promises";
import { loadDescriptor } from "../../core/descriptor.js";
import { messageOf } from "../../core/errors.js";
import { executorPlatformFor } from "../platforms/index.js";
import { readExecutorEnv } from "./env.js";
import { runExecutor } from "./run.js";

async function loadRoom(room: string): Promise<unknown> {
  const trimmed = room.trim();
  if (trimmed.startsWith("{")) return JSON.parse(trimmed);
  const path = trimmed.startsWith("file://") ? new URL(trimmed) : trimmed;
  return JSON.parse(await readFile(path, "utf8"));
}

/** Runs the executor once with `process.env`. */
export async function main(): Promise<number> {
  try {
    const env = readExecutorEnv();
    const descriptor = loadDescriptor(await loadRoom(env.room));
    const platform = await executorPlatformFor(descriptor, env);
    const outcome = await runExecutor(platform, descriptor, env);
    process.stderr.write(`executor: job ${outcome.receipt.jobId} ${outcome.receipt.status}${outcome.receipt.errorCode ? ` (${outcome.receipt.errorCode})` : ""}\n`);
    return outcome.committed ? 0 : 1;
  } catch (err) {
    process.stderr.write(`executor: ${messageOf(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}

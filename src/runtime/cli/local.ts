/** `cleanroom local up|down|status`: the embedded local backend. */
import type { Command } from "commander";
import { CleanRoomError } from "../../core/errors.js";
import { localDown, localStatus, localUp } from "../platforms/local/room.js";
import { output, progress, wholeSeconds } from "./common.js";

/** Parses a whole number given on the command line. @throws CleanRoomError `invalid-argument` */
function wholeNumber(text: string, option: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new CleanRoomError("invalid-argument", `${option} must be a whole number (got ${JSON.stringify(text)})`);
  return n;
}

/** What `local up --debug-logs` prints: the opt-in lets a job's own strings out of the sandbox. */
export const DEBUG_LOGS_WARNING = [
  "WARNING: --debug-logs: a FAILED job's stderr (its last 64 KiB) is kept as stderr.txt beside its failure receipt",
  "WARNING: and shown to whoever submits or fetches the job, unchecked by any provider: it can carry raw data.",
  "WARNING: Use this room ONLY with throwaway data. Every receipt of this room says debugLogs: true.",
].join("\n");

/** Registers the `local` command group. */
export function registerLocalCommands(program: Command): void {
  const local = program
    .command("local")
    .description("Run a clean room on this machine: local attestation service, key broker, directory buckets, bubblewrap sandbox")
    .addHelpText(
      "after",
      `
Examples:
  $ cleanroom local up --spec examples/quickstart/spec.json --dir ./room
  $ cleanroom local status --dir ./room
  $ cleanroom local down --dir ./room`,
    );

  local
    .command("up")
    .description("Start a local room in the background and write <dir>/descriptor.json (idempotent)")
    .requiredOption("--spec <spec.json>", "the clean room spec (providers, datasets, approvedJobs, output policy)")
    .requiredOption("--dir <dir>", "the room's directory (buckets, keys, sockets, logs)")
    .option("--name <name>", "room name (token audience, receipts)", undefined)
    .option("--insecure-no-sandbox", "run jobs WITHOUT bubblewrap (throwaway data only; every receipt says sandbox \"none\")")
    .option("--job-timeout <seconds>", "override the spec's jobs.timeoutSeconds (default 6 h): a job that runs longer fails with `timeout` and a receipt")
    .option("--job-memory <MiB>", "memory each job process may allocate (default: half of this machine's)")
    .option("--job-processes <n>", "processes and threads a job may have at once (default: 512)")
    .option("--job-cpu-seconds <s>", "CPU time each job process may use (default: the job time limit times the CPUs)")
    .option(
      "--debug-logs",
      "keep a FAILED job's stderr (last 64 KiB) as stderr.txt beside its failure receipt, for its submitter to read (throwaway data only; the descriptor and every receipt say debugLogs: true)",
    )
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
Running \`up\` again with the same spec reports that the room is already running. To apply a changed spec
(e.g. a newly approved job digest), run \`cleanroom local down --dir <dir>\` and \`up\` again: provisioned data,
keys and results are kept.

--debug-logs is for learning on throwaway data: a failed job's stderr (e.g. a Python traceback) reaches whoever
fetches its result, unchecked by any provider. It is local only (a GCP room refuses it), and every receipt of the
room records debugLogs: true, so \`cleanroom verify\` shows the result did not come from a production-grade room.

Examples:
  $ cleanroom local up --spec spec.json --dir ./room
  $ cleanroom local up --spec spec.json --dir ./room --job-timeout 600
  $ cleanroom local up --spec spec.json --dir ./sandbox-room --debug-logs   # throwaway data: see tracebacks
  $ cleanroom local up --spec spec.json --dir ./room --json | jq -r .descriptorPath`,
    )
    .action(async (o: { spec: string; dir: string; name?: string; insecureNoSandbox?: boolean; jobTimeout?: string; jobMemory?: string; jobProcesses?: string; jobCpuSeconds?: string; debugLogs?: boolean; json?: boolean }) => {
      const jobLimits = {
        ...(o.jobMemory === undefined ? {} : { memoryMiB: wholeNumber(o.jobMemory, "--job-memory") }),
        ...(o.jobProcesses === undefined ? {} : { processes: wholeNumber(o.jobProcesses, "--job-processes") }),
        ...(o.jobCpuSeconds === undefined ? {} : { cpuSeconds: wholeNumber(o.jobCpuSeconds, "--job-cpu-seconds") }),
      };
      const r = await localUp({
        spec: o.spec,
        dir: o.dir,
        ...(o.name ? { name: o.name } : {}),
        insecureNoSandbox: o.insecureNoSandbox === true,
        debugLogs: o.debugLogs === true,
        ...(o.jobTimeout === undefined ? {} : { jobTimeoutSeconds: wholeSeconds(o.jobTimeout, "--job-timeout") }),
        jobLimits,
        onProgress: progress,
      });
      // On stderr, so that it shows with --json too.
      if (r.descriptor.debugLogs === true) progress(DEBUG_LOGS_WARNING);
      output(o.json, { alreadyRunning: r.alreadyRunning, pid: r.pid, descriptorPath: r.descriptorPath, room: r.descriptor.name, executorDigest: r.descriptor.executor.imageDigest, debugLogs: r.descriptor.debugLogs === true }, () => {
        if (r.alreadyRunning) process.stdout.write(`Room ${r.descriptor.name} is already running (pid ${r.pid}) with this spec.\n`);
        else process.stdout.write(`Room ${r.descriptor.name} is running (pid ${r.pid}).\n`);
        process.stdout.write(`Descriptor: ${r.descriptorPath}\nExecutor:   ${r.descriptor.executor.imageDigest}\n`);
        if (r.descriptor.local?.insecureNoSandbox) process.stdout.write("WARNING: jobs run WITHOUT a sandbox (--insecure-no-sandbox).\n");
      });
    });

  local
    .command("down")
    .description("Stop the local room's services (data, keys and results stay in the directory)")
    .requiredOption("--dir <dir>", "the room's directory")
    .option("--force", "stop it even while jobs run: each running job ends failed [stopped], with a failure receipt")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
While jobs run, \`down\` refuses and names them: wait for them, or pass --force.

Examples:
  $ cleanroom local down --dir ./room
  $ cleanroom local down --dir ./room --force`,
    )
    .action(async (o: { dir: string; force?: boolean; json?: boolean }) => {
      const running = o.force ? await localStatus(o.dir).then((s) => s.runningJobIds ?? []) : [];
      const stopped = await localDown(o.dir, { force: o.force === true });
      output(o.json, { stopped, ...(o.force ? { stoppedJobs: running } : {}) }, () => {
        process.stdout.write(stopped ? "Room stopped.\n" : "The room was not running.\n");
        if (running.length > 0) process.stdout.write(`Stopped ${running.length} running job(s), each failed [stopped] with a receipt: ${running.join(", ")}\n`);
      });
    });

  local
    .command("status")
    .description("Show whether the local room is running and what it runs")
    .requiredOption("--dir <dir>", "the room's directory")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom local status --dir ./room --json")
    .action(async (o: { dir: string; json?: boolean }) => {
      const s = await localStatus(o.dir);
      output(o.json, s, () => {
        if (!s.running) process.stdout.write(`Not running: ${s.detail ?? ""}\n`);
        else
          process.stdout.write(
            `Room ${s.room} is running (pid ${s.pid}), ${s.runningJobs} job(s) running${(s.runningJobIds ?? []).length > 0 ? `: ${(s.runningJobIds ?? []).join(", ")}` : ""}.\nExecutor: ${s.executorDigest}\nSandbox:  ${s.insecureNoSandbox ? "NONE (--insecure-no-sandbox)" : "bubblewrap"}\n`,
          );
        if (s.running && s.debugLogs) process.stdout.write("Debug logs: ON (--debug-logs): failed jobs' stderr is kept and shown to their submitters\n");
      });
    });
}

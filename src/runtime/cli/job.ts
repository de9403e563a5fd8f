/** `cleanroom job pack|submit|status|wait|fetch|review|release`: the consumer's job lifecycle, and the provider's review. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import type { JobManifest } from "../../core/digest.js";
import { jobDigest } from "../../core/digest.js";
import { RESULT_FILES } from "../../core/receipt.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { fetchResult, jobStatus, openRoom, releaseResult, submitJob, waitForJob } from "../jobs/client.js";
import { packJob } from "../jobs/pack.js";
import { parseAcceptedRules } from "../jobs/release.js";
import { type JobReview, reviewJob } from "../jobs/review.js";
import { formatReport } from "../disclosure/index.js";
import type { JobStatus, PackedJob } from "../platforms/platform.js";
import { output, progress, shellWord, wholeSeconds } from "./common.js";
import { printable } from "./escape.js";
import { readPemCertificates } from "./verify.js";

function roomOf(o: { room?: string }): string {
  const r = o.room ?? process.env.CLEANROOM_ROOM_DESCRIPTOR;
  if (!r) throw new CleanRoomError("invalid-argument", "Which room? Pass --room <descriptor.json> (e.g. ./room/descriptor.json) or set CLEANROOM_ROOM_DESCRIPTOR");
  return r;
}

/** Loads a job packed by `cleanroom job pack` (a directory with bundle.tar and job.json). */
export async function loadPackedJob(dir: string): Promise<PackedJob> {
  let manifest: JobManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, "job.json"), "utf8")) as JobManifest;
  } catch (err) {
    throw new CleanRoomError("not-found", `${dir} is not a packed job (no readable job.json): run \`cleanroom job pack\` first (${messageOf(err)})`);
  }
  return { bundlePath: resolve(dir, "bundle.tar"), manifest, jobDigest: jobDigest(manifest) };
}

/** One line for people (two when a debug-logs room kept the job's stderr); escaped, since a detail may quote what a job or a receipt said. */
function describe(s: JobStatus, room: string): string {
  const checks = s.disclosure ? ` (disclosure checks: ${s.disclosure})` : "";
  const held = s.held ? `\n  held in quarantine: ${s.held}; a provider reviews it with \`cleanroom job review ${s.jobId} --room ${shellWord(room)}\`` : "";
  const line = printable(`${s.jobId}: ${s.state}${s.released ? " (released)" : ""}${checks}${s.errorCode ? ` [${s.errorCode}]` : ""}${s.detail ? ` — ${s.detail}` : ""}`) + held;
  if (!s.stderrFile) return line;
  return `${line}\n${printable(`Its stderr was kept (debug-logs room): \`cleanroom job fetch ${s.jobId} --room ${shellWord(room)} --out <dir>\`, then read <dir>/${s.stderrFile}`)}`;
}

/**
 * States after which `--wait`/`wait` exit 0: success, and GCP's `awaiting-release` (the VM finished, and a consumer of
 * a room with output.requireRelease cannot see the outcome before a provider releases it).
 */
const WAIT_OK: readonly string[] = ["succeeded", "awaiting-release"];

const ROOM_OPT = ["--room <descriptor.json>", "the room descriptor (<dir>/descriptor.json locally, `pulumi stack output descriptor` on GCP)"] as const;

/** Registers the `job` command group. */
export function registerJobCommands(program: Command): void {
  const job = program
    .command("job")
    .description("Pack, submit, wait for, fetch and release stage-2 jobs")
    .addHelpText(
      "after",
      `
Examples:
  $ cleanroom job pack jobs/regression --entrypoint main.py --input insurer/claims --out ./packed
  $ cleanroom job submit ./packed --room ./room/descriptor.json --wait
  $ cleanroom job fetch <jobId> --room ./room/descriptor.json --out ./result
  $ cleanroom verify ./result --room ./room/descriptor.json`,
    );

  job
    .command("pack <dir>")
    .description("Pack a job directory into a deterministic bundle and print its digest (what providers approve)")
    .requiredOption("--entrypoint <file>", "main.py, main.js or a notebook .ipynb")
    .requiredOption("--input <provider/dataset...>", "datasets the job reads (repeatable)")
    .option("--out <dir>", "where to write bundle.tar and job.json", "./packed-job")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom job pack jobs/regression --entrypoint main.py --input insurer/claims --out ./packed")
    .action(async (dir: string, o: { entrypoint: string; input: string[]; out: string; json?: boolean }) => {
      const p = await packJob(dir, { entrypoint: o.entrypoint, inputs: o.input, outDir: o.out });
      output(o.json, { jobDigest: p.jobDigest, bundlePath: p.bundlePath, entrypoint: p.manifest.entrypoint, inputs: p.manifest.inputs, files: p.manifest.files.length }, () => {
        process.stdout.write(`Job digest: ${p.jobDigest}\nBundle:     ${p.bundlePath} (${p.manifest.files.length} files)\n`);
        process.stdout.write(`Providers approve it by adding the digest to approvedJobs in the spec.\n`);
      });
    });

  job
    .command("submit <packedDir>")
    .description("Submit a packed job to the room")
    .requiredOption(...ROOM_OPT)
    .option("--wait", "wait until the job finishes")
    .option("--timeout <seconds>", "with --wait: give up after this long", "600")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom job submit ./packed --room ./room/descriptor.json --wait")
    .action(async (packedDir: string, o: { room?: string; wait?: boolean; timeout: string; json?: boolean }) => {
      const timeoutMs = wholeSeconds(o.timeout, "--timeout") * 1000;
      const room = roomOf(o);
      const sub = await submitJob(room, await loadPackedJob(packedDir));
      progress(`Submitted ${sub.jobId} (${sub.jobDigest})`);
      const st = o.wait ? await waitForJob(room, sub.jobId, { timeoutMs, onProgress: (s) => progress(`  ${s.state}`) }) : undefined;
      output(o.json, { ...sub, ...(st ? { status: st } : {}) }, () => process.stdout.write(st ? `${describe(st, room)}\n` : `${sub.jobId}\n`));
      if (st && !WAIT_OK.includes(st.state)) process.exitCode = 1;
    });

  job
    .command("status <jobId>")
    .description("Show a job's state")
    .requiredOption(...ROOM_OPT)
    .option("--json", "print the result as JSON")
    .action(async (jobId: string, o: { room?: string; json?: boolean }) => {
      const s = await jobStatus(roomOf(o), jobId);
      output(o.json, s, () => process.stdout.write(`${describe(s, roomOf(o))}\n`));
    });

  job
    .command("list")
    .description("List the room's jobs, oldest first: id, state, digest, submitted and finished times")
    .requiredOption(...ROOM_OPT)
    .option("--json", "print the jobs as a JSON array")
    .addHelpText("after", "\nExamples:\n  $ cleanroom job list --room ./room/descriptor.json\n  $ cleanroom job list --room ./room/descriptor.json --json | jq -r '.[].jobId'")
    .action(async (o: { room?: string; json?: boolean }) => {
      const jobs = await (await openRoom(roomOf(o))).list();
      output(o.json, jobs, () => {
        if (jobs.length === 0) process.stdout.write("No jobs in this room yet.\n");
        for (const s of jobs) {
          const times = `submitted ${s.submittedAt ?? "?"}${s.finishedAt ? `, finished ${s.finishedAt}` : ""}`;
          process.stdout.write(`${printable(`${s.jobId}  ${s.state}${s.released ? " (released)" : ""}${s.errorCode ? ` [${s.errorCode}]` : ""}  ${s.jobDigest || "?"}  ${times}`)}\n`);
        }
      });
    });

  job
    .command("wait <jobId>")
    .description("Wait until a job succeeds, fails or is lost (progress on stderr)")
    .requiredOption(...ROOM_OPT)
    .option("--timeout <seconds>", "give up after this long", "600")
    .option("--json", "print the result as JSON")
    .action(async (jobId: string, o: { room?: string; timeout: string; json?: boolean }) => {
      const timeoutMs = wholeSeconds(o.timeout, "--timeout") * 1000;
      const s = await waitForJob(roomOf(o), jobId, { timeoutMs, onProgress: (x) => progress(`${jobId}: ${x.state}`) });
      output(o.json, s, () => process.stdout.write(`${describe(s, roomOf(o))}\n`));
      if (!WAIT_OK.includes(s.state)) process.exitCode = 1;
    });

  job
    .command("fetch <jobId>")
    .description("Copy a job's result (outputs/, receipt.json, attestation.jwt; stderr.txt of a failed job in a debug-logs room) into a new directory")
    .requiredOption(...ROOM_OPT)
    .requiredOption("--out <dir>", "destination directory (must be new or empty)")
    .option("--from <where>", "results (after release) or quarantine (the provider's review copy)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
--from quarantine reads a result no provider has released yet: it is for the providers' review (on GCP only members
granted grantRelease can read quarantine; locally the room's owner holds every role and quarantine/ is 0700), and
for reading a failure receipt.

A failed job of a room started with \`cleanroom local up --debug-logs\` also has its stderr (its last 64 KiB, e.g. a
Python traceback) in <out>/stderr.txt, listed in the receipt; other rooms never keep a job's stderr.

Example:
  $ cleanroom job fetch job-abc --room ./room/descriptor.json --out ./result && cleanroom verify ./result --room ./room/descriptor.json`,
    )
    .action(async (jobId: string, o: { room?: string; out: string; from?: string; json?: boolean }) => {
      if (o.from === "quarantine") progress(`Reading ${jobId}'s unreleased result from quarantine: the providers' review copy, not a released result.`);
      const room = roomOf(o);
      const dir = await fetchResult(room, jobId, o.out, o.from ? { from: o.from } : {});
      const stderr = existsSync(join(dir, RESULT_FILES.stderr)) ? join(dir, RESULT_FILES.stderr) : undefined;
      output(o.json, { jobId, dir, ...(stderr ? { stderr } : {}) }, () => {
        process.stdout.write(`Fetched ${jobId} into ${dir}; verify it with \`cleanroom verify ${shellWord(dir)} --room ${shellWord(room)}\`\n`);
        if (stderr) process.stdout.write(`The failed job's stderr (debug-logs room): ${stderr}\n`);
      });
    });

  job
    .command("review <jobId>")
    .description("Show the disclosure checks of a job's outputs (verified from its receipt): a table a reviewer reads")
    .requiredOption(...ROOM_OPT)
    .option("--trusted-root <pem>", "a PEM root to verify the result against (repeatable; GCP, after Google rotated its root)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--json", "print the review (with the full report) as JSON")
    .addHelpText(
      "after",
      `
The executor checked every output inside the TEE before writing the receipt (output.disclosure): each output has a
verdict (pass, review, fail), the rule it broke and which cells, never a value. The report shown is the attested one:
the result is fetched (from quarantine until released) and verified first.

Example:
  $ cleanroom job review job-abc --room ./room/descriptor.json
  $ cleanroom job release job-abc --room ./room/descriptor.json --accept-failed-checks min-cell-count`,
    )
    .action(async (jobId: string, o: { room?: string; trustedRoot: string[]; json?: boolean }) => {
      const roots = o.trustedRoot.flatMap((f) => readPemCertificates(f));
      const r = await reviewJob(roomOf(o), jobId, roots.length > 0 ? { trustedRoots: roots } : {});
      output(o.json, r, () => process.stdout.write(reviewText(r, roomOf(o))));
    });

  job
    .command("release <jobId>")
    .description("Provider side: verify a job's quarantined result, show its disclosure checks, then release it to the results location")
    .requiredOption(...ROOM_OPT)
    .option(
      "--trusted-root <pem>",
      "a PEM root to verify the result against (repeatable; GCP, after Google rotated its root); default: Google's pinned root",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      "--accept-failed-checks <rules>",
      "release outputs that failed these disclosure rules (comma-separated, repeatable): every failed rule must be named",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
A result whose outputs failed a disclosure check is refused unless --accept-failed-checks names every rule that
failed (e.g. --accept-failed-checks min-cell-count,dominance); the accepted rules are recorded in release.json beside
the released result. Outputs of kinds no rule can judge (model, other) need this release, but no flag.

Example:
  $ cleanroom job release job-abc --room ./room/descriptor.json`,
    )
    .action(async (jobId: string, o: { room?: string; trustedRoot: string[]; acceptFailedChecks: string[]; json?: boolean }) => {
      const roots = o.trustedRoot.flatMap((f) => readPemCertificates(f));
      const accept = parseAcceptedRules(o.acceptFailedChecks);
      const roomOptions = roots.length > 0 ? { trustedRoots: roots } : {};
      // The reviewer sees the checks before anything is released (on stderr with --json, so stdout stays one document).
      const review = await reviewJob(roomOf(o), jobId, roomOptions);
      if (o.json) progress(reviewText(review, roomOf(o)).trimEnd());
      else process.stdout.write(reviewText(review, roomOf(o)));
      const record = await releaseResult(roomOf(o), jobId, { ...roomOptions, acceptFailedChecks: accept });
      output(o.json, { jobId, released: true, record }, () =>
        process.stdout.write(`Released ${jobId}${record.acceptedFailedChecks.length > 0 ? `, accepting the failed checks ${record.acceptedFailedChecks.join(", ")}` : ""}.\n`),
      );
    });
}

/** The review for people: the checks table, then whether the result is held and what a release needs. Escaped. */
function reviewText(r: JobReview, room: string): string {
  const lines: string[] = [];
  if (!r.report) lines.push(`${r.jobId}: ${r.status}; its receipt carries no disclosure checks (an executor older than safe outputs, or a failure before the job's outputs existed).`);
  else {
    lines.push(...formatReport(r.report).trimEnd().split("\n").map(printable));
    if (r.report.withheld) lines.push(`Every output of ${r.jobId} was withheld (enforce mode): nothing can be released.`);
  }
  if (r.released) lines.push(`${r.jobId} is released.`);
  else if (r.held && !r.report?.withheld) lines.push(`Held in quarantine: ${r.held}.`);
  if (!r.released && !r.report?.withheld && r.status === "succeeded") {
    const accept = r.failedRules.length > 0 ? ` --accept-failed-checks ${r.failedRules.join(",")}` : "";
    lines.push(`Release it with: cleanroom job release ${r.jobId} --room ${shellWord(room)}${accept}`);
  }
  return `${lines.join("\n")}\n`;
}

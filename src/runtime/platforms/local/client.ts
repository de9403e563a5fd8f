/**
 * `RoomClient` of the local backend: providers provision into directory buckets through the key broker; consumers
 * submit jobs to the launcher's control socket and read results from the quarantine/results directories.
 */
import { randomBytes } from "node:crypto";
import { constants, existsSync, readFileSync } from "node:fs";
import { access, copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CleanRoomDescriptor, findDataset, findProvider } from "../../../core/descriptor.js";
import { canonicalJson, jobDigest } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { JOB_ID_PATTERN } from "../../../core/patterns.js";
import type { DisclosureReport } from "../../../core/disclosure.js";
import { RESULT_FILES, parseReceipt } from "../../../core/receipt.js";
import { type JobReleaseOptions, type JobReleaseRecord, releaseRecordFor, resultHeld } from "../../jobs/release.js";
import { type EncryptStep, tableStep, treeStep } from "../../provision/encrypt-step.js";
import { generateDataKey } from "../../provision/envelope.js";
import { checkDatasetTable, provisionFormat } from "../../provision/table-check.js";
import { provisionsTree, } from "../../provision/tree.js";
import {
  FINAL_JOB_STATES,
  type FetchOptions,
  type JobStatus,
  type PackedJob,
  type ProvisionOptions,
  type ProvisionResult,
  type RoomClient,
  type WaitOptions,
  roomArg,
  sortJobs,
} from "../platform.js";
import { unixRequest } from "./http.js";
import { readJobState } from "./launcher.js";
import { type RoomLayout, roomLayout, uriToPath } from "./layout.js";
import { copyTree } from "./store.js";

function checkJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `Job id ${JSON.stringify(jobId)} is malformed`);
}

async function readReceiptStatus(
  dir: string,
): Promise<{ status: string; error?: string; errorCode?: string; finishedAt: string; stderr: boolean; disclosure?: DisclosureReport } | undefined> {
  try {
    const r = parseReceipt(await readFile(join(dir, RESULT_FILES.receipt), "utf8"));
    return {
      status: r.status,
      finishedAt: r.finishedAt,
      stderr: r.stderr !== undefined,
      ...(r.error ? { error: r.error } : {}),
      ...(r.errorCode ? { errorCode: r.errorCode } : {}),
      ...(r.disclosure ? { disclosure: r.disclosure } : {}),
    };
  } catch {
    return undefined;
  }
}

/** The local room client. */
export class LocalRoomClient implements RoomClient {
  private readonly layout: RoomLayout;

  constructor(
    readonly descriptor: CleanRoomDescriptor,
    private readonly options: { readonly trustedRoots?: readonly string[] } = {},
  ) {
    if (descriptor.platform !== "local" || !descriptor.local) {
      throw new CleanRoomError("invalid-descriptor", `LocalRoomClient needs a local room descriptor (got platform ${descriptor.platform})`);
    }
    this.layout = roomLayout(descriptor.local.dir);
  }

  async provision(provider: string, dataset: string, path: string, options: ProvisionOptions = {}): Promise<ProvisionResult> {
    const p = findProvider(this.descriptor, provider);
    const ds = findDataset(this.descriptor, provider, dataset);
    if (provisionsTree(provider, ds, options)) return this.provisionTree(provider, dataset, path, options);
    const format = provisionFormat(provider, ds, options.format);
    const what = format === "parquet" ? "the Parquet file" : "the CSV";
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new CleanRoomError("io-error", `Cannot read ${what} ${path}: it does not exist or is not a file`);
    try {
      await access(path, constants.R_OK);
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot read ${what} ${path}: ${messageOf(err)}`, { cause: err });
    }
    // The whole file is checked before anything is stored: a file that fails leaves nothing behind (issue 19).
    const checked = await checkDatasetTable(path, format, ds);
    return this.storeEncrypted(provider, dataset, options, tableStep({ provider, dataset, uri: `${p.dataUri}/${dataset}`, options }, path, format, checked));
  }

  /**
   * Provisions a `files` dataset: the tree (a directory or a `.tar`/`.tar.gz` archive) is streamed into one
   * "acr-tree-v1" envelope in a staging directory that is renamed into place only when complete.
   */
  private provisionTree(provider: string, dataset: string, path: string, options: ProvisionOptions): Promise<ProvisionResult> {
    const uri = `${findProvider(this.descriptor, provider).dataUri}/${dataset}`;
    return this.storeEncrypted(provider, dataset, options, treeStep({ provider, dataset, uri, options }, path));
  }

  /**
   * The steps every dataset shares: refuse an existing dataset unless overwriting, encrypt with a fresh data key into a
   * staging directory (`encrypt`), have the broker wrap the key, write `key.wrapped` and `manifest.json`, then rename the
   * staging directory into place (a reader sees the whole dataset or none). The key is zeroed and the staging
   * directory removed on failure.
   */
  private async storeEncrypted(
    provider: string,
    dataset: string,
    options: ProvisionOptions,
    encrypt: EncryptStep,
  ): Promise<ProvisionResult> {
    const p = findProvider(this.descriptor, provider);
    const finalDir = join(uriToPath(p.dataUri), dataset);
    if (existsSync(finalDir) && !options.overwrite) {
      throw new CleanRoomError("already-exists", `${provider}/${dataset} is already provisioned; pass overwrite (--overwrite) to replace it`);
    }
    const staging = join(uriToPath(p.dataUri), `.staging-${dataset}-${randomBytes(4).toString("hex")}`);
    await mkdir(staging, { recursive: true, mode: 0o755 });
    const key = generateDataKey();
    try {
      const onBytes = options.onBytes;
      const { manifest, result } = await encrypt(join(staging, "data.enc"), key, onBytes ? (n) => onBytes("encrypt", n) : undefined);
      const res = await unixRequest(this.layout.brokerSocket, "POST", "/v1/wrap", { provider, dataset, key: key.toString("base64") });
      if (res.status !== 200) throw new CleanRoomError("io-error", `The key broker could not wrap the data key (HTTP ${res.status}): ${res.body}`);
      const wrapped = Buffer.from((JSON.parse(res.body) as { wrapped: string }).wrapped, "base64");
      await writeFile(join(staging, "key.wrapped"), wrapped, { mode: 0o644 });
      await writeFile(join(staging, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      if (existsSync(finalDir)) await rm(finalDir, { recursive: true, force: true });
      await rename(staging, finalDir);
      return result;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    } finally {
      key.fill(0);
    }
  }

  async submit(job: PackedJob): Promise<{ jobId: string; jobDigest: string }> {
    const digest = jobDigest(job.manifest);
    if (digest !== job.jobDigest) throw new CleanRoomError("digest-mismatch", `The packed job's digest ${job.jobDigest} does not match its manifest (${digest}); pack it again`);
    for (const i of job.manifest.inputs) findDataset(this.descriptor, i.provider, i.dataset);
    const jobId = `job-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const staging = join(this.layout.jobsDir, `.staging-${jobId}`);
    await mkdir(staging, { recursive: true });
    await copyFile(job.bundlePath, join(staging, "bundle.tar"));
    await writeFile(join(staging, "job.json"), `${canonicalJson(job.manifest)}\n`);
    await rename(staging, join(this.layout.jobsDir, jobId));
    const res = await unixRequest(this.layout.controlSocket, "POST", "/v1/jobs", { jobId, jobDigest: job.jobDigest });
    if (res.status !== 202) throw new CleanRoomError("io-error", `The launcher refused job ${jobId} (HTTP ${res.status}): ${res.body}`);
    return { jobId, jobDigest: job.jobDigest };
  }

  async status(jobId: string): Promise<JobStatus> {
    checkJobId(jobId);
    const released = existsSync(join(this.layout.resultsDir, jobId, RESULT_FILES.receipt));
    // The job state first, then the receipt: the launcher writes "exited" only after the receipt is committed, so a
    // receipt read after an "exited" state always sees it. In the other order a job that committed between the two
    // reads came out "lost".
    const s = await readJobState(this.layout, jobId);
    const q = await readReceiptStatus(join(this.layout.quarantineDir, jobId));
    if (!s && !q) throw this.unknownJob(jobId);
    const jobDigestValue = s?.jobDigest ?? "";
    const times = { ...(s?.submittedAt ? { submittedAt: s.submittedAt } : {}) };
    if (q) {
      const held = released ? undefined : resultHeld(q, this.descriptor.output.requireRelease);
      return {
        jobId,
        jobDigest: jobDigestValue,
        state: q.status,
        released,
        ...(held ? { held } : {}),
        ...(q.disclosure ? { disclosure: q.disclosure.verdict } : {}),
        ...times,
        finishedAt: q.finishedAt,
        ...(q.error ? { detail: q.error } : {}),
        ...(q.errorCode ? { errorCode: q.errorCode } : {}),
        ...(q.stderr ? { stderrFile: RESULT_FILES.stderr } : {}),
      };
    }
    // "exited" without a committed receipt cannot happen (see above); treat anything final without a receipt as lost.
    const state = s!.state === "exited" ? "lost" : s!.state;
    if ((state === "queued" || state === "running") && !this.roomRunning()) {
      // Its executor died with the room: nothing will end it until the room starts again and records the failure.
      return {
        jobId,
        jobDigest: jobDigestValue,
        state: "lost",
        released: false,
        ...times,
        detail: `The room stopped while this job was ${state}. Start it again (\`cleanroom local up --spec <spec> --dir ${this.layout.dir}\`): it then records the job as failed, with a receipt.`,
      };
    }
    return { jobId, jobDigest: jobDigestValue, state, released: false, ...times, ...(s!.finishedAt ? { finishedAt: s!.finishedAt } : {}), ...(s!.detail ? { detail: s!.detail } : {}) };
  }

  /** The `not-found` error of a job id this room never saw, pointing to `cleanroom job list`. */
  private unknownJob(jobId: string): CleanRoomError {
    return new CleanRoomError("not-found", `No job ${jobId} in room ${this.descriptor.name}; list its jobs with \`cleanroom job list ${roomArg(this.descriptor)}\``);
  }

  async list(): Promise<JobStatus[]> {
    const ids = new Set<string>();
    for (const d of [join(this.layout.stateDir, "jobs"), this.layout.quarantineDir]) {
      for (const name of await readdir(d).catch(() => [] as string[])) {
        const id = name.replace(/\.json$/, "");
        if (JOB_ID_PATTERN.test(id)) ids.add(id);
      }
    }
    const all = await Promise.all([...ids].map((id) => this.status(id).catch(() => undefined)));
    return sortJobs(all.filter((s): s is JobStatus => s !== undefined));
  }

  /** Whether the room's background process is alive (its pid file names a live process). */
  private roomRunning(): boolean {
    try {
      const pid = Number.parseInt(readFileSync(this.layout.pidFile, "utf8"), 10);
      if (!(pid > 0)) return false;
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }

  async wait(jobId: string, options: WaitOptions = {}): Promise<JobStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    let last = "";
    for (;;) {
      const s = await this.status(jobId);
      if (s.state !== last) {
        last = s.state;
        options.onProgress?.(s);
      }
      if (FINAL_JOB_STATES.includes(s.state)) return s;
      if (Date.now() > deadline) throw new CleanRoomError("timeout", `Job ${jobId} is still ${s.state} after ${options.timeoutMs ?? 600_000} ms; wait again with \`cleanroom job wait ${jobId} ${roomArg(this.descriptor)}\``);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async fetch(jobId: string, destDir: string, options: FetchOptions = {}): Promise<string> {
    checkJobId(jobId);
    const released = existsSync(join(this.layout.resultsDir, jobId, RESULT_FILES.receipt));
    if (!released && !(await readJobState(this.layout, jobId)) && !existsSync(join(this.layout.quarantineDir, jobId))) throw this.unknownJob(jobId);
    const from = options.from ?? (released ? "results" : "quarantine");
    if (from !== "results" && from !== "quarantine") throw new CleanRoomError("invalid-argument", `from must be "results" or "quarantine" (got ${from})`);
    if (from === "quarantine" && options.from === undefined) {
      const q = await readReceiptStatus(join(this.layout.quarantineDir, jobId));
      const held = q ? resultHeld(q, this.descriptor.output.requireRelease) : undefined;
      if (held) throw new CleanRoomError("denied", `Job ${jobId}'s result awaits release by a provider: ${held}; ask them to run \`cleanroom job release ${jobId} ${roomArg(this.descriptor)}\``);
    }
    const src = join(from === "results" ? this.layout.resultsDir : this.layout.quarantineDir, jobId);
    if (!existsSync(join(src, RESULT_FILES.receipt))) {
      throw new CleanRoomError("not-found", `Job ${jobId} has no committed result in ${from} yet (check \`cleanroom job status ${jobId} ${roomArg(this.descriptor)}\`)`);
    }
    if (existsSync(destDir) && (await readdir(destDir)).length > 0) {
      throw new CleanRoomError("already-exists", `${destDir} is not empty; fetch into a new directory`);
    }
    await rm(destDir, { recursive: true, force: true });
    await copyTree(src, destDir);
    return destDir;
  }

  /**
   * Provider side: verifies the quarantined result with `verifyResult` (token, receipt, outputs, approval: a result no
   * provider approved is never released), then copies it to `results/`.
   */
  async release(jobId: string, options: JobReleaseOptions = {}): Promise<JobReleaseRecord> {
    checkJobId(jobId);
    const src = join(this.layout.quarantineDir, jobId);
    const r = await readReceiptStatus(src);
    if (!r) throw new CleanRoomError("not-found", `Job ${jobId} has no committed result in quarantine`);
    // Checked before verifying, so a failed job or an unaccepted failed check says so at once.
    releaseRecordFor({ jobId, ...r }, this.descriptor.output.requireRelease, options);
    const dest = join(this.layout.resultsDir, jobId);
    if (existsSync(dest)) {
      const kept = await readFile(join(dest, RESULT_FILES.release), "utf8").catch(() => undefined);
      if (kept !== undefined) return JSON.parse(kept) as JobReleaseRecord;
      return releaseRecordFor({ jobId, ...r }, this.descriptor.output.requireRelease, options);
    }
    // Lazy: verification pulls in jose and the CEL engine, which submit/wait never need.
    const { verifyResult } = require("../../verify/result.js") as typeof import("../../verify/result.js");
    const summary = await verifyResult(src, { descriptor: this.descriptor, ...(this.options.trustedRoots ? { trustedRoots: this.options.trustedRoots } : {}) });
    // The record follows the verified report, not the one read before verifying.
    const record = releaseRecordFor(
      { jobId, status: summary.status, ...(summary.errorCode ? { errorCode: summary.errorCode } : {}), ...(summary.disclosure ? { disclosure: summary.disclosure.report } : {}) },
      this.descriptor.output.requireRelease,
      options,
    );
    const staging = join(this.layout.resultsDir, `.staging-${jobId}-${randomBytes(4).toString("hex")}`);
    await copyTree(src, staging);
    await writeFile(join(staging, RESULT_FILES.release), `${JSON.stringify(record, null, 2)}\n`);
    await rename(staging, dest);
    return record;
  }
}

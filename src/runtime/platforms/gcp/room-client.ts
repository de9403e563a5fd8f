/**
 * `RoomClient` for a room deployed on Google Cloud: providers provision data with Cloud KMS; consumers submit jobs
 * as Confidential Space VMs, wait for their receipts and fetch results; providers release results.
 *
 * Layout (docs/contracts): `<jobs>/<jobId>/{bundle.tar,job.json,submission.json[,abandoned.json]}`,
 * `<quarantine|results>/<jobId>/{outputs/**,receipt.json,attestation.jwt}`; `receipt.json` is the commit marker.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { type CleanRoomDescriptor, type DescriptorGcp, GCP_DEBUG_LOGS_REFUSAL, findDataset, jobTimeoutSeconds } from "../../../core/descriptor.js";
import { canonicalJson, jobDigest } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { JOB_DIGEST_ENV } from "../../../core/attestation.js";
import { JOB_URI_ENV, OUTPUT_URI_ENV, ROOM_ENV } from "../../../core/executor-env.js";
import { JOB_ID_PATTERN } from "../../../core/patterns.js";
import { RESULT_FILES, type Receipt, parseReceipt } from "../../../core/receipt.js";
import { type JobReleaseOptions, type JobReleaseRecord, releaseRecordFor, resultHeld } from "../../jobs/release.js";
import { JOB_VM_GRACE_SECONDS } from "../../../core/spec.js";
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
import { inlineRoom } from "./attested-room.js";
import { type GcpClients, createGcpClients } from "./clients.js";
import { LABELS, createJobVm, deleteJobVm, jobVmStatus } from "./compute.js";
import { endpointOverrideFromEnv } from "./endpoints.js";
import { provisionDataset } from "./provision.js";
import { DEFAULT_RETRY, type RetryPolicy, retryFromEnv } from "./retry.js";
import { GcsStore } from "./storage.js";
import { joinUri } from "./uri.js";

/** Options of the GCP room client. */
export interface GcpRoomClientOptions {
  /** Retry policy of every API call. @default DEFAULT_RETRY */
  readonly retry?: RetryPolicy;
  /** How often `wait` polls. @default 15000 */
  readonly pollIntervalMs?: number;
  /** Longest poll interval after backoff. @default 60000 */
  readonly maxPollIntervalMs?: number;
  /** A VM that has not reached RUNNING after this long is deleted and the job marked failed. @default 900000 (15 min) */
  readonly bootTimeoutMs?: number;
  /**
   * How long a job's VM may run beyond the room's `jobs.timeoutSeconds` (boot, image pull, decryption, the result's
   * upload) before `wait` deletes it and records the job as failed `timeout`: the backstop for an executor that
   * hangs, the same grace the instance template's `maxRunDuration` gives. @default 1800000 (`JOB_VM_GRACE_SECONDS`)
   */
  readonly overrunGraceMs?: number;
  /** Progress lines for people (uploads, VM creation). */
  readonly onProgress?: (message: string) => void;
  /** Pre-built clients (tests). @default - from the environment */
  readonly clients?: GcpClients;
  /** Roots `release` verifies results against (Google's new root after a rotation). @default - Google's pinned root */
  readonly trustedRoots?: readonly string[];
}

/** What `submit` records next to the bundle, so any machine can follow the job. */
interface Submission {
  readonly jobId: string;
  readonly jobDigest: string;
  readonly project: string;
  readonly zone: string;
  readonly instance: string;
  readonly submittedAt: string;
}

/** How many job statuses `list` reads at once: enough to hide round trips, few enough not to trip the APIs' rate limits. */
const LIST_CONCURRENCY = 8;

/** `f` over `items` with at most `limit` calls in flight; results in the items' order. The first rejection rejects. */
async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function checkJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `Job id ${JSON.stringify(jobId)} is malformed`);
}

/**
 * The name prefix of a room's job VMs: `<namePrefix>-job-`. The component names the instance template with that
 * prefix (`namePrefix: "<prefix>-job-"` plus a generated suffix) and `grantSubmit` lets a consumer create only
 * instances whose name starts with it, so the VM must be named the same way or `instances.insert` is denied. The
 * prefix is read from the template's name; a template named otherwise falls back to `<descriptor.name>-job-`.
 */
export function vmNamePrefix(descriptor: CleanRoomDescriptor): string {
  const template = descriptor.gcp?.instanceTemplate.split("/").pop() ?? "";
  const at = template.lastIndexOf("-job-");
  const prefix = at > 0 ? template.slice(0, at + "-job-".length) : `${labelValue(descriptor.name)}-job-`;
  if (!/^[a-z][-a-z0-9]*-job-$/.test(prefix)) {
    throw new CleanRoomError("invalid-descriptor", `Cannot derive a Compute Engine VM name prefix from the room (got ${JSON.stringify(prefix)}); re-export the descriptor of a deployed room`);
  }
  return prefix;
}

/**
 * The VM name of a job: `<prefix><jobId without "job-">`, e.g. `demo-job-mf3k2l-1a2b3c4d`, a valid Compute Engine
 * name (`[a-z]([-a-z0-9]{0,61}[a-z0-9])?`).
 *
 * @throws CleanRoomError `invalid-descriptor` when the room's prefix leaves no room for the job id (63 characters)
 */
export function vmNameFor(descriptor: CleanRoomDescriptor, jobId: string): string {
  const name = `${vmNamePrefix(descriptor)}${jobId.replace(/^job-/, "")}`;
  // Truncating would make two jobs share a VM name (and a requestId-less insert fail with 409).
  if (name.length > 63 || !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw new CleanRoomError("invalid-descriptor", `The job VM name ${name} is not a valid Compute Engine name (at most 63 characters): deploy the room with a shorter namePrefix`);
  }
  return name;
}

/** A label value: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function labelValue(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 63);
}

/** The GCP room client. */
export class GcpRoomClient implements RoomClient {
  private readonly gcp: DescriptorGcp;
  private readonly clients: GcpClients;
  private readonly store: GcsStore;
  private readonly retry: RetryPolicy;

  constructor(
    readonly descriptor: CleanRoomDescriptor,
    private readonly options: GcpRoomClientOptions = {},
  ) {
    if (descriptor.platform !== "gcp" || !descriptor.gcp) {
      throw new CleanRoomError("invalid-descriptor", `GcpRoomClient needs a GCP room descriptor (got platform ${descriptor.platform})`);
    }
    // Checked here too, not only by loadDescriptor: a job's strings never leave a Confidential Space VM unchecked.
    if (descriptor.debugLogs !== undefined) throw new CleanRoomError("invalid-descriptor", GCP_DEBUG_LOGS_REFUSAL);
    this.gcp = descriptor.gcp;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.clients = options.clients ?? createGcpClients(endpointOverrideFromEnv(), { projectId: descriptor.gcp.project });
    this.store = new GcsStore(this.clients.storage, this.retry, descriptor.gcp.project);
  }

  private progress(message: string): void {
    this.options.onProgress?.(message);
  }

  async provision(provider: string, dataset: string, path: string, options: ProvisionOptions = {}): Promise<ProvisionResult> {
    return provisionDataset(this.descriptor, this.store, this.clients.kms(), this.retry, provider, dataset, path, options);
  }

  async submit(job: PackedJob): Promise<{ jobId: string; jobDigest: string }> {
    const digest = jobDigest(job.manifest);
    if (digest !== job.jobDigest) {
      throw new CleanRoomError("digest-mismatch", `The packed job's digest ${job.jobDigest} does not match its manifest (${digest}); pack it again`);
    }
    for (const i of job.manifest.inputs) findDataset(this.descriptor, i.provider, i.dataset);
    if (!this.descriptor.executor.imageReference) {
      throw new CleanRoomError("invalid-descriptor", "descriptor.executor.imageReference is missing: export the descriptor of a deployed GCP room");
    }
    const jobId = `job-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const instance = vmNameFor(this.descriptor, jobId);
    const jobUri = joinUri(this.descriptor.storage.jobs, jobId);
    const outputUri = joinUri(this.descriptor.storage.quarantine, jobId);
    const role = `roles/storage.objectCreator on ${this.descriptor.storage.jobs} (room.grantSubmit)`;
    this.progress(`Uploading the job bundle to ${jobUri}/bundle.tar`);
    await this.store.putFile(`${jobUri}/bundle.tar`, job.bundlePath, {
      role,
      contentType: "application/x-tar",
      resumable: true,
      onProgress: (n) => this.progress(`  ${(n / (1024 * 1024)).toFixed(1)} MiB sent`),
    });
    await this.store.putBuffer(`${jobUri}/job.json`, Buffer.from(`${canonicalJson(job.manifest)}\n`), { role, contentType: "application/json" });
    const submission: Submission = { jobId, jobDigest: job.jobDigest, project: this.gcp.project, zone: this.gcp.zone, instance, submittedAt: new Date().toISOString() };
    await this.store.putBuffer(`${jobUri}/submission.json`, Buffer.from(`${JSON.stringify(submission, null, 2)}\n`), { role, contentType: "application/json" });
    this.progress(`Creating the Confidential Space VM ${instance} in ${this.gcp.zone}`);
    try {
      await createJobVm(
        this.clients.instances(),
        this.clients.zoneOperations(),
        {
          project: this.gcp.project,
          zone: this.gcp.zone,
          instanceTemplate: this.gcp.instanceTemplate,
          name: instance,
          imageReference: this.descriptor.executor.imageReference,
          env: { [JOB_DIGEST_ENV]: job.jobDigest, [JOB_URI_ENV]: jobUri, [OUTPUT_URI_ENV]: outputUri, [ROOM_ENV]: inlineRoom(this.descriptor) },
          labels: { [LABELS.job]: labelValue(jobId), [LABELS.room]: labelValue(this.descriptor.name) },
          requestId: randomUUID(),
        },
        this.retry,
      );
    } catch (err) {
      await this.abandon(jobId, `the VM could not be created: ${messageOf(err)}`).catch(() => undefined);
      throw err;
    }
    return { jobId, jobDigest: job.jobDigest };
  }

  private async submission(jobId: string): Promise<Submission> {
    checkJobId(jobId);
    const uri = joinUri(this.descriptor.storage.jobs, jobId, "submission.json");
    try {
      return JSON.parse((await this.store.readBuffer(uri, `roles/storage.objectViewer on ${this.descriptor.storage.jobs}`, 64 * 1024)).toString("utf8")) as Submission;
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "not-found") {
        throw new CleanRoomError("not-found", `No job ${jobId} in room ${this.descriptor.name} (no ${uri}); list its jobs with \`cleanroom job list ${roomArg(this.descriptor)}\``);
      }
      throw err;
    }
  }

  /** Records that a job will never produce a receipt (create-only: the first reason wins). */
  private async abandon(jobId: string, reason: string, code = "abandoned"): Promise<void> {
    const uri = joinUri(this.descriptor.storage.jobs, jobId, "abandoned.json");
    await this.store
      .putBuffer(uri, Buffer.from(`${JSON.stringify({ jobId, reason, code, at: new Date().toISOString() }, null, 2)}\n`), {
        role: `roles/storage.objectCreator on ${this.descriptor.storage.jobs}`,
        contentType: "application/json",
      })
      .catch((err: unknown) => {
        if (!(err instanceof CleanRoomError && err.code === "already-exists")) throw err;
      });
  }

  private async readReceipt(prefix: string, jobId: string): Promise<Receipt | undefined> {
    const r = await this.tryReadReceipt(prefix, jobId);
    return r === "unreadable" ? undefined : r;
  }

  /** The receipt under `prefix`, `undefined` when there is none, `"unreadable"` when the caller may not read quarantine. */
  private async tryReadReceipt(prefix: string, jobId: string): Promise<Receipt | undefined | "unreadable"> {
    const uri = joinUri(prefix, jobId, RESULT_FILES.receipt);
    try {
      return parseReceipt((await this.store.readBuffer(uri, `roles/storage.objectViewer on ${prefix}`, 4 * 1024 * 1024)).toString("utf8"));
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "not-found") return undefined;
      // A consumer of a room with requireRelease may not read quarantine at all (grantSubmit leaves it out): that is
      // not an error of the job, only something this caller cannot see.
      if (err instanceof CleanRoomError && err.code === "denied" && prefix === this.descriptor.storage.quarantine) return "unreadable";
      throw err;
    }
  }

  private async abandoned(jobId: string): Promise<{ reason: string; code: string } | undefined> {
    const uri = joinUri(this.descriptor.storage.jobs, jobId, "abandoned.json");
    try {
      const v = JSON.parse((await this.store.readBuffer(uri, `roles/storage.objectViewer on ${this.descriptor.storage.jobs}`, 64 * 1024)).toString("utf8")) as { reason?: unknown; code?: unknown };
      return {
        reason: typeof v.reason === "string" ? v.reason : "abandoned",
        code: typeof v.code === "string" && /^[a-z][a-z-]{0,40}$/.test(v.code) ? v.code : "abandoned",
      };
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "not-found") return undefined;
      throw err;
    }
  }

  async status(jobId: string): Promise<JobStatus> {
    const sub = await this.submission(jobId);
    const released = await this.readReceipt(this.descriptor.storage.results, jobId);
    const quarantined = released ? undefined : await this.tryReadReceipt(this.descriptor.storage.quarantine, jobId);
    const receipt = released ?? (quarantined === "unreadable" ? undefined : quarantined);
    const base = { jobId, jobDigest: sub.jobDigest, released: released !== undefined, submittedAt: sub.submittedAt };
    if (receipt) {
      const held = released ? undefined : resultHeld(receipt, this.descriptor.output.requireRelease);
      return {
        ...base,
        state: receipt.status,
        finishedAt: receipt.finishedAt,
        ...(held ? { held } : {}),
        ...(receipt.disclosure ? { disclosure: receipt.disclosure.verdict } : {}),
        ...(receipt.error ? { detail: receipt.error } : {}),
        ...(receipt.errorCode ? { errorCode: receipt.errorCode } : {}),
      };
    }
    const gone = await this.abandoned(jobId);
    if (gone) return { ...base, state: "failed", detail: gone.reason, errorCode: gone.code };
    const vm = await jobVmStatus(this.clients.instances(), sub.project, sub.zone, sub.instance, this.retry);
    const over = vm === undefined || !["PROVISIONING", "STAGING", "PENDING", "RUNNING", "STOPPING", "REPAIRING"].includes(vm);
    if (vm === undefined && quarantined !== "unreadable" && this.overran(sub)) {
      // Compute Engine deleted it at the template's maxRunDuration: the job outlived the room's limit and the grace.
      return {
        ...base,
        state: "failed",
        errorCode: "timeout",
        detail: `The job did not finish within the room's limit of ${jobTimeoutSeconds(this.descriptor)} s (jobs.timeoutSeconds) plus the VM's grace, and its VM ${sub.instance} was deleted without a receipt. Nothing was released.`,
      };
    }
    if (over && quarantined === "unreadable") {
      return {
        ...base,
        state: AWAITING_RELEASE,
        detail:
          `The VM ${sub.instance} has finished (${vm ?? "deleted"}). This room's results wait for a provider's release (output.requireRelease, or its disclosure checks) and you may not ` +
          `read quarantine, so the outcome shows once a provider reviews it: ask them to run \`cleanroom job release ${jobId} ${roomArg(this.descriptor)}\`, then \`cleanroom job fetch ${jobId} ${roomArg(this.descriptor)} --out <dir>\`.`,
      };
    }
    if (vm === undefined) return { ...base, state: "lost", detail: `The VM ${sub.instance} no longer exists and no receipt was written` };
    if (vm === "PROVISIONING" || vm === "STAGING" || vm === "PENDING") return { ...base, state: "queued", detail: `VM ${sub.instance} is ${vm}` };
    if (vm === "RUNNING" || vm === "STOPPING" || vm === "REPAIRING") return { ...base, state: "running", detail: `VM ${sub.instance} is ${vm}` };
    // TERMINATED / STOPPED / SUSPENDED without a receipt: the workload ended without committing a result.
    return {
      ...base,
      state: "lost",
      detail:
        `The VM ${sub.instance} powered off (${vm}) without writing a receipt: the launcher refused the image or its metadata ` +
        "(launch policy: tee-env-* names must match the image's allow_env_override label), the image could not be pulled, " +
        "or the executor could not reach storage/KMS. Inspect `gcloud compute instances get-serial-port-output " +
        `${sub.instance} --zone ${sub.zone} --project ${sub.project}\` and resubmit.`,
    };
  }

  async list(): Promise<JobStatus[]> {
    const names = await this.store.list(this.descriptor.storage.jobs, `roles/storage.objectViewer on ${this.descriptor.storage.jobs}`);
    const ids = names.filter((n) => n.endsWith("/submission.json")).map((n) => n.slice(0, -"/submission.json".length)).filter((id) => JOB_ID_PATTERN.test(id));
    // A few at a time: each status reads a few objects and the VM, and a room may hold many jobs.
    return sortJobs(await mapLimit(ids, LIST_CONCURRENCY, (id) => this.status(id)));
  }

  private async deleteVm(sub: Submission): Promise<void> {
    this.progress(`Deleting the job VM ${sub.instance}`);
    await deleteJobVm(this.clients.instances(), this.clients.zoneOperations(), sub.project, sub.zone, sub.instance, this.retry);
  }

  /** How long after submission a job's VM may exist at most: boot, the room's job limit, and the grace. */
  private overrunLimitMs(): number {
    return (this.options.bootTimeoutMs ?? 900_000) + jobTimeoutSeconds(this.descriptor) * 1000 + (this.options.overrunGraceMs ?? JOB_VM_GRACE_SECONDS * 1000);
  }

  /** Whether a job has outlived the longest its VM may exist. */
  private overran(sub: Submission): boolean {
    const submittedAt = Date.parse(sub.submittedAt);
    return Number.isFinite(submittedAt) && Date.now() - submittedAt > this.overrunLimitMs();
  }

  async wait(jobId: string, options: WaitOptions = {}): Promise<JobStatus> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    const bootTimeoutMs = this.options.bootTimeoutMs ?? 900_000;
    const sub = await this.submission(jobId);
    const started = Date.now();
    const submittedAt = Date.parse(sub.submittedAt) || started;
    let interval = this.options.pollIntervalMs ?? 15_000;
    const maxInterval = this.options.maxPollIntervalMs ?? 60_000;
    let last = "";
    for (;;) {
      const s = await this.status(jobId);
      if (s.state !== last) {
        last = s.state;
        options.onProgress?.(s);
      }
      if (FINAL_JOB_STATES.includes(s.state) || s.state === AWAITING_RELEASE) {
        // The VM is single-use: once the job is over (or lost) it only costs money.
        await this.deleteVm(sub);
        return s;
      }
      if (s.state === "queued" && Date.now() - submittedAt > bootTimeoutMs) {
        await this.deleteVm(sub);
        const reason = `the VM did not boot within ${Math.round(bootTimeoutMs / 1000)} s (capacity or quota in ${sub.zone}); it was deleted: resubmit, or deploy the room in another zone`;
        await this.abandon(jobId, reason);
        const failed: JobStatus = { jobId, jobDigest: sub.jobDigest, released: false, state: "failed", detail: reason, errorCode: "abandoned" };
        options.onProgress?.(failed);
        return failed;
      }
      if ((s.state === "running" || s.state === "queued") && this.overran(sub)) {
        // The executor stops a job at jobs.timeoutSeconds and commits a receipt; a VM still there long after has hung.
        await this.deleteVm(sub);
        const reason = `the job ran past the room's limit of ${jobTimeoutSeconds(this.descriptor)} s (jobs.timeoutSeconds) and the VM's grace without a receipt; its VM ${sub.instance} was deleted. Nothing was released`;
        await this.abandon(jobId, reason, "timeout");
        const failed: JobStatus = { jobId, jobDigest: sub.jobDigest, released: false, state: "failed", detail: reason, errorCode: "timeout" };
        options.onProgress?.(failed);
        return failed;
      }
      if (Date.now() - started > timeoutMs) {
        await this.deleteVm(sub);
        await this.abandon(jobId, `no result within the ${Math.round(timeoutMs / 1000)} s wait timeout; the VM was deleted`);
        throw new CleanRoomError(
          "timeout",
          `Job ${jobId} was still ${s.state} after ${Math.round(timeoutMs / 1000)} s: its VM ${sub.instance} was deleted and the job marked failed. Resubmit with a longer --timeout.`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, timeoutMs - (Date.now() - started)) + 1)));
      interval = Math.min(maxInterval, Math.round(interval * 1.5));
    }
  }

  private async download(prefix: string, jobId: string, destDir: string): Promise<void> {
    const root = joinUri(prefix, jobId);
    const role = `roles/storage.objectViewer on ${prefix}`;
    const names = await this.store.list(root, role);
    if (!names.includes(RESULT_FILES.receipt)) {
      throw new CleanRoomError("not-found", `Job ${jobId} has no committed result in ${prefix} yet (check \`cleanroom job status ${jobId} ${roomArg(this.descriptor)}\`)`);
    }
    for (const name of names) {
      // Only the result layout is fetched, and no name may leave destDir.
      const ok =
        name === RESULT_FILES.receipt ||
        name === RESULT_FILES.token ||
        name === RESULT_FILES.check ||
        (name === RESULT_FILES.release && prefix === this.descriptor.storage.results) ||
        (name.startsWith(`${RESULT_FILES.outputs}/`) && !name.split("/").some((s) => s === ".." || s === ""));
      if (!ok) throw new CleanRoomError("invalid-manifest", `Unexpected object ${root}/${name} in a job result; refusing to fetch it`);
      const dest = join(destDir, ...name.split("/"));
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      await pipeline(await this.store.open(`${root}/${name}`, role), createWriteStream(dest, { mode: 0o600, flags: "wx" }));
    }
  }

  async fetch(jobId: string, destDir: string, options: FetchOptions = {}): Promise<string> {
    checkJobId(jobId);
    // An unknown job is not-found (with where to list the room's jobs), not "awaits release".
    await this.submission(jobId);
    let from = options.from;
    if (from === undefined) {
      const released = await this.readReceipt(this.descriptor.storage.results, jobId);
      const awaits = (why: string) =>
        new CleanRoomError("denied", `Job ${jobId}'s result awaits release by a provider (${why}); ask them to run \`cleanroom job release ${jobId} ${roomArg(this.descriptor)}\``);
      if (!released && this.descriptor.output.requireRelease) throw awaits("output.requireRelease");
      if (!released) {
        // A result the disclosure checks hold is not fetched from quarantine (a consumer may not read it there at all).
        const q = await this.tryReadReceipt(this.descriptor.storage.quarantine, jobId);
        if (q === "unreadable") throw awaits("its disclosure checks or the room's release step");
        const held = q ? resultHeld(q, false) : undefined;
        if (held) throw awaits(held);
      }
      from = released ? "results" : "quarantine";
    }
    if (from !== "results" && from !== "quarantine") throw new CleanRoomError("invalid-argument", `from must be "results" or "quarantine" (got ${from})`);
    const entries = await readdir(destDir).catch(() => []);
    if (entries.length > 0) throw new CleanRoomError("already-exists", `${destDir} is not empty; fetch into a new directory`);
    await mkdir(destDir, { recursive: true, mode: 0o700 });
    try {
      await this.download(from === "results" ? this.descriptor.storage.results : this.descriptor.storage.quarantine, jobId, destDir);
    } catch (err) {
      await rm(destDir, { recursive: true, force: true });
      throw err;
    }
    return destDir;
  }

  /** The record a release left in results (`release.json`); a result released before records existed gets a minimal one. */
  private async releaseRecord(jobId: string): Promise<JobReleaseRecord> {
    const uri = joinUri(this.descriptor.storage.results, jobId, RESULT_FILES.release);
    try {
      return JSON.parse((await this.store.readBuffer(uri, `roles/storage.objectViewer on ${this.descriptor.storage.results}`, 64 * 1024)).toString("utf8")) as JobReleaseRecord;
    } catch (err) {
      if (!(err instanceof CleanRoomError && err.code === "not-found")) throw err;
      return { version: 1, jobId, releasedAt: new Date(0).toISOString(), acceptedFailedChecks: [] };
    }
  }

  /**
   * Provider side: verifies the quarantined result with `verifyResult` (token, receipt, outputs, and that the executor
   * ran with this room's descriptor), then copies it to the results bucket, `receipt.json` last.
   */
  async release(jobId: string, options: JobReleaseOptions = {}): Promise<JobReleaseRecord> {
    checkJobId(jobId);
    // Releasing twice is a no-op: the first release's record stands.
    if (await this.readReceipt(this.descriptor.storage.results, jobId)) return this.releaseRecord(jobId);
    const tmp = await mkdtemp(join(tmpdir(), "cleanroom-release-"));
    try {
      const dir = join(tmp, "result");
      await this.download(this.descriptor.storage.quarantine, jobId, dir);
      // Lazy: verification pulls in jose and the CEL engine, which plain submit/wait never need.
      const { verifyResult } = require("../../verify/result.js") as typeof import("../../verify/result.js");
      const summary = await verifyResult(dir, { descriptor: this.descriptor, ...(this.options.trustedRoots ? { trustedRoots: this.options.trustedRoots } : {}) });
      // A failed check is released only when the provider named every failed rule (the verified report decides).
      const record = releaseRecordFor(
        { jobId, status: summary.status, ...(summary.errorCode ? { errorCode: summary.errorCode } : {}), ...(summary.disclosure ? { disclosure: summary.disclosure.report } : {}) },
        this.descriptor.output.requireRelease,
        options,
      );
      const src = joinUri(this.descriptor.storage.quarantine, jobId);
      const dst = joinUri(this.descriptor.storage.results, jobId);
      const names = (await this.store.list(src, `roles/storage.objectViewer on ${this.descriptor.storage.quarantine}`)).filter((n) => n !== RESULT_FILES.receipt);
      const role = `roles/storage.objectViewer on ${this.descriptor.storage.quarantine} and roles/storage.objectCreator on ${this.descriptor.storage.results} (provider.grantRelease)`;
      for (const n of [...names, RESULT_FILES.receipt]) {
        if (n === RESULT_FILES.receipt) {
          // The record of this release, before the receipt (the commit marker readers wait for).
          await this.store.putBuffer(`${dst}/${RESULT_FILES.release}`, Buffer.from(`${JSON.stringify(record, null, 2)}\n`), { role, contentType: "application/json" }).catch((err: unknown) => {
            if (!(err instanceof CleanRoomError && err.code === "already-exists")) throw err;
          });
        }
        this.progress(`Releasing ${n}`);
        await this.store.copy(`${src}/${n}`, `${dst}/${n}`, role).catch((err: unknown) => {
          // A retried copy whose first attempt landed: the object is already there.
          if (!(err instanceof CleanRoomError && err.code === "already-exists")) throw err;
        });
      }
      return record;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

/** Creates the GCP room client (used by `platforms/index.ts`). */
export function createGcpRoomClient(descriptor: CleanRoomDescriptor, options: GcpRoomClientOptions = {}): RoomClient {
  const poll = Number(process.env[POLL_INTERVAL_ENV]);
  return new GcpRoomClient(descriptor, {
    retry: retryFromEnv(),
    ...(Number.isFinite(poll) && poll > 0 ? { pollIntervalMs: poll, maxPollIntervalMs: Math.max(poll, 4 * poll) } : {}),
    ...options,
  });
}

/**
 * GCP-only job state: the VM has finished but the caller may not read quarantine (a consumer of a room with
 * `output.requireRelease`), so whether it succeeded is known only after a provider's release. Final for `wait`.
 */
export const AWAITING_RELEASE = "awaiting-release";

/** Environment variable: first poll interval of `wait`, in ms. @default 15000 */
export const POLL_INTERVAL_ENV = "CLEANROOM_GCP_POLL_INTERVAL_MS";

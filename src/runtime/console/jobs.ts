/**
 * The jobs the console shows: every job in the room's jobs location, newest first, with its status from `jobStatus`
 * and its result fetched with `fetchResult` (the same library calls as `cleanroom job status` and `job fetch`, so the
 * same rules decide who may read a quarantined result).
 */
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { JOB_ID_PATTERN } from "../../core/patterns.js";
import { RESULT_FILES } from "../../core/receipt.js";
import { fetchResult, jobStatus } from "../jobs/client.js";
import { FINAL_JOB_STATES, type JobStatus } from "../platforms/platform.js";
import { jobIdTime, listJobIds } from "./storage.js";

/** One row of the jobs table. */
export interface JobRow {
  readonly jobId: string;
  readonly submittedAt?: Date;
  readonly status?: JobStatus;
  /** Why the status could not be read. */
  readonly problem?: string;
}

/** Where a fetched result came from. */
export type ResultSource = "results" | "quarantine";

/** A fetched result, or why there is none to show. */
export type FetchedResult = { readonly dir: string; readonly source: ResultSource } | { readonly unavailable: string; readonly code: string };

/** What the CLI would tell a user to do about a failed job, by the receipt's error code. */
const FIXES: Record<string, string> = {
  denied: "A provider has not approved this job's digest: send it from the Workspace page (or `cleanroom job pack … --json`) and resubmit once it is approved.",
  "digest-mismatch": "The bundle does not match its digest: pack the job again and resubmit.",
  "output-policy": "The outputs broke the room's output policy (size or files): write less, or fewer files, and resubmit.",
  "job-failed": "The job's own code failed: fix it (try it on the stage-1 data first) and resubmit.",
  timeout: "The job ran out of time: make it faster or split it, and resubmit.",
  abandoned: "The job was abandoned: resubmit it.",
  "runtime-missing": "The job's runtime is not available in the executor: use python3, node or a notebook.",
};

/** The fix for a failed job's error code, when there is one. */
export function fixFor(errorCode: string | undefined): string | undefined {
  return errorCode ? FIXES[errorCode] : undefined;
}

/** Lists jobs and keeps fetched results in the console's state directory. */
export class JobBook {
  private readonly finals = new Map<string, JobStatus>();

  constructor(
    private readonly descriptor: () => CleanRoomDescriptor,
    private readonly stateDir: string,
    /** The provider the console acts for, who may read quarantine. */
    private readonly provider: string | undefined,
  ) {}

  /** The newest `limit` jobs of the room with their status. */
  async list(limit = 50): Promise<JobRow[]> {
    const d = this.descriptor();
    const ids = await listJobIds(d.storage.jobs);
    const rows = ids
      .map((jobId) => ({ jobId, t: jobIdTime(jobId)?.getTime() ?? 0 }))
      .sort((a, b) => b.t - a.t || (a.jobId < b.jobId ? 1 : -1))
      .slice(0, limit);
    return Promise.all(rows.map((r) => this.row(r.jobId)));
  }

  /** One job's row. @throws CleanRoomError `invalid-argument` for a malformed id */
  async row(jobId: string): Promise<JobRow> {
    if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `${JSON.stringify(jobId)} is not a job id (job ids look like job-lx2k9a-1f2e3d4c)`);
    const t = jobIdTime(jobId);
    const base = { jobId, ...(t ? { submittedAt: t } : {}) };
    const cached = this.finals.get(jobId);
    // A final state never changes, except that the result may be released later.
    if (cached?.released) return { ...base, status: cached };
    try {
      const status = await jobStatus(this.descriptor(), jobId);
      if (FINAL_JOB_STATES.includes(status.state)) this.finals.set(jobId, status);
      return { ...base, status };
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "not-found") throw err;
      return { ...base, problem: messageOf(err) };
    }
  }

  /**
   * The job's result: from results when released; from quarantine only when this console acts for a provider, or when
   * the room lets consumers read quarantine (`fetchResult` decides, as for `cleanroom job fetch`).
   */
  async result(jobId: string, status: JobStatus): Promise<FetchedResult> {
    if (!JOB_ID_PATTERN.test(jobId)) throw new CleanRoomError("invalid-argument", `${JSON.stringify(jobId)} is not a job id`);
    if (!FINAL_JOB_STATES.includes(status.state)) return { unavailable: `The job is ${status.state}; its result appears when it finishes.`, code: "not-finished" };
    const source: ResultSource = status.released ? "results" : "quarantine";
    const dir = join(this.stateDir, "results", source, jobId);
    if (existsSync(join(dir, RESULT_FILES.receipt))) return { dir, source };
    await mkdir(join(this.stateDir, "results", source), { recursive: true, mode: 0o700 });
    await rm(dir, { recursive: true, force: true });
    try {
      // A provider reads quarantine explicitly; anyone else gets what `cleanroom job fetch` gives them.
      await fetchResult(this.descriptor(), jobId, dir, this.provider && source === "quarantine" ? { from: "quarantine" } : {});
      return { dir, source };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      if (err instanceof CleanRoomError && (err.code === "denied" || err.code === "not-found")) return { unavailable: err.message, code: err.code };
      throw err;
    }
  }

  /** Forgets what is cached about a job (after a release). */
  forget(jobId: string): void {
    this.finals.delete(jobId);
  }
}

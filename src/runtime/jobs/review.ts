/**
 * A reviewer's view of a job's disclosure checks (`cleanroom job review`, and what `job release` shows first): the
 * result is fetched (from quarantine until released) into a private temporary directory and verified, so the report
 * shown is the attested one, never a file someone could have edited.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failedRules } from "../../core/disclosure-policy.js";
import type { DisclosureReport } from "../../core/disclosure.js";
import { CleanRoomError } from "../../core/errors.js";
import type { RoomOptions } from "../platforms/index.js";
import { type RoomRef, openRoom } from "./client.js";

/** What `reviewJob` found. */
export interface JobReview {
  readonly jobId: string;
  /** `succeeded` or `failed` (a failed job with `withheld` checks had its outputs withheld). */
  readonly status: string;
  readonly released: boolean;
  /** The verified disclosure report; absent for a receipt without checks (an older executor, a failure before outputs). */
  readonly report?: DisclosureReport;
  /** Why the result needs a provider's release; absent when it may flow, or is released. */
  readonly held?: string;
  /** The rules that failed on any output: what `job release --accept-failed-checks` must name. */
  readonly failedRules: readonly string[];
}

/**
 * Fetches and verifies a job's result and returns its disclosure checks.
 *
 * @throws CleanRoomError `not-found` (no committed result), `denied` (the caller may not read quarantine: providers
 *   review, consumers wait), and whatever `verifyResult` throws for a result that does not verify
 */
export async function reviewJob(room: RoomRef, jobId: string, options: RoomOptions = {}): Promise<JobReview> {
  const client = await openRoom(room, options);
  const st = await client.status(jobId);
  if (st.state === "awaiting-release") {
    throw new CleanRoomError("denied", `Job ${jobId}'s result waits in quarantine, which you may not read: a provider (grantRelease) reviews its checks with \`cleanroom job review ${jobId}\` and releases it`);
  }
  if (st.state !== "succeeded" && st.state !== "failed") {
    throw new CleanRoomError("not-found", `Job ${jobId} is ${st.state}: there are no checks to review before it has a receipt`);
  }
  const tmp = await mkdtemp(join(tmpdir(), "cleanroom-review-"));
  try {
    const dir = await client.fetch(jobId, join(tmp, "result"), { from: st.released ? "results" : "quarantine" });
    // Lazy: verification pulls in jose and the CEL engine.
    const { verifyResult } = require("../verify/result.js") as typeof import("../verify/result.js");
    const summary = await verifyResult(dir, { descriptor: client.descriptor, allowUnapproved: true, ...(options.trustedRoots ? { trustedRoots: options.trustedRoots } : {}) });
    const report = summary.disclosure?.report;
    const held = st.released ? undefined : summary.disclosure?.held;
    return {
      jobId,
      status: summary.status,
      released: st.released,
      ...(report ? { report } : {}),
      ...(held ? { held } : {}),
      failedRules: report ? failedRules(report) : [],
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

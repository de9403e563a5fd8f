/** Routes of the Jobs page: the live table, one job with its result and verification report, output downloads. */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { CleanRoomError } from "../../../core/errors.js";
import { JOB_ID_PATTERN } from "../../../core/patterns.js";
import { RESULT_FILES } from "../../../core/receipt.js";
import { verificationReport } from "../checks.js";
import type { Route, RouteRequest } from "../context.js";
import { html } from "../html.js";
import { downloadReply, htmlReply, jsonReply, redirect } from "../http.js";
import type { JobRow } from "../jobs.js";
import { jobPage, jobRows, jobsPage } from "../views/jobs.js";

const ID = "([a-z0-9][a-z0-9-]{0,62})";

async function rowOf(r: RouteRequest, jobId: string): Promise<JobRow> {
  return r.app.jobs.row(jobId);
}

export const jobsRoutes: readonly Route[] = [
  {
    method: "GET",
    pattern: /^jobs$/,
    async handle(r) {
      return htmlReply(jobsPage(r.ctx, await r.app.jobs.list()));
    },
  },
  {
    method: "GET",
    pattern: /^jobs\/rows$/,
    async handle(r) {
      return htmlReply(html`${jobRows(r.ctx, await r.app.jobs.list())}`);
    },
  },
  {
    method: "GET",
    pattern: /^jobs\/find$/,
    async handle(r) {
      const id = (r.query.get("id") ?? "").trim();
      if (!JOB_ID_PATTERN.test(id)) throw new CleanRoomError("invalid-argument", `${JSON.stringify(id)} is not a job id: job ids look like job-lx2k9a-1f2e3d4c (from the Jobs table or \`cleanroom job submit\`)`);
      return redirect(`${r.app.base}jobs/${id}`);
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^jobs/${ID}$`),
    async handle(r) {
      const row = await rowOf(r, r.params[0]!);
      if (!row.status) return htmlReply(jobPage(r.ctx, r.app.descriptor(), row, {}));
      const res = await r.app.jobs.result(row.jobId, row.status);
      if ("unavailable" in res) return htmlReply(jobPage(r.ctx, r.app.descriptor(), row, { unavailable: res.unavailable }));
      const d = r.app.descriptor();
      const report = await verificationReport(res.dir, d, r.app.trustedRoots);
      return htmlReply(jobPage(r.ctx, d, row, { report, source: res.source === "results" ? "the released results" : "quarantine" }));
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^jobs/${ID}/state$`),
    async handle(r) {
      const row = await rowOf(r, r.params[0]!);
      return jsonReply({ jobId: row.jobId, state: row.status?.state ?? "unknown", released: row.status?.released ?? false });
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^jobs/${ID}/files/(.+)$`),
    async handle(r) {
      const row = await rowOf(r, r.params[0]!);
      if (!row.status) throw new CleanRoomError("not-found", `Job ${row.jobId} has no readable status`);
      const res = await r.app.jobs.result(row.jobId, row.status);
      if ("unavailable" in res) throw new CleanRoomError(res.code === "denied" ? "denied" : "not-found", res.unavailable);
      const report = await verificationReport(res.dir, r.app.descriptor(), r.app.trustedRoots);
      // Only files the verified receipt names are served: never anything else from disk, never unverified bytes.
      if (!report.verified) throw new CleanRoomError("digest-mismatch", `The result of ${row.jobId} does not verify (${report.errorCode}); its files are not served`);
      const path = decodeURIComponent(r.params[1]!);
      const entry = report.summary!.outputs.find((o) => o.path === path);
      if (!entry) throw new CleanRoomError("not-found", `${path} is not an output of ${row.jobId}`);
      return downloadReply(path.split("/").pop() ?? "output", createReadStream(join(res.dir, RESULT_FILES.outputs, ...path.split("/"))));
    },
  },
];

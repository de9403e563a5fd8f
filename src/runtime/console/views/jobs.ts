/** The Jobs page: a live table of the room's jobs, and one job's status, result files and verification report. */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import type { VerificationReport } from "../checks.js";
import { html, type SafeHtml } from "../html.js";
import { fixFor, type JobRow } from "../jobs.js";
import { type PageContext, page } from "./layout.js";
import { reportSection } from "./report.js";

function stateBadge(state: string): SafeHtml {
  return html`<span class="badge ${state}">${state}</span>`;
}

/** The rows of the jobs table (also served alone, for the live refresh). */
export function jobRows(ctx: PageContext, rows: readonly JobRow[]): SafeHtml {
  if (rows.length === 0) return html`<tr><td colspan="5">No jobs yet: pack and submit one on the <a href="${ctx.base}workspace">Workspace</a> page.</td></tr>`;
  return html`${rows.map((r) => {
    const s = r.status;
    const reason = r.problem ?? (s?.state === "failed" || s?.state === "lost" ? [s.errorCode ? `[${s.errorCode}] ` : "", s.detail ?? "", fixFor(s.errorCode) ? ` — ${fixFor(s.errorCode)}` : ""].join("") : (s?.detail ?? ""));
    return html`<tr data-job="${r.jobId}" data-state="${s?.state ?? "unknown"}">
<td><a href="${ctx.base}jobs/${r.jobId}">${r.jobId}</a></td>
<td>${r.submittedAt ? r.submittedAt.toISOString().replace("T", " ").slice(0, 19) : "—"}</td>
<td>${s ? stateBadge(s.state) : stateBadge("unknown")}${s?.released ? html` ${stateBadge("released")}` : html``}</td>
<td class="mono">${s?.jobDigest ? `${s.jobDigest.slice(0, 19)}…` : ""}</td>
<td>${reason}</td>
</tr>`;
  })}`;
}

/** The jobs table page. */
export function jobsPage(ctx: PageContext, rows: readonly JobRow[]): SafeHtml {
  return page(
    ctx,
    "jobs",
    "Jobs",
    html`<p class="lead">Every job of the room, newest first; the table refreshes itself.</p>
<form method="get" action="${ctx.base}jobs/find" class="panel"><label for="find-id">Open a job by id</label> <input id="find-id" name="id" placeholder="job-…" autocomplete="off"> <button type="submit" class="secondary">Open</button></form>
<div class="scroll"><table id="jobs">
<caption class="skip">Jobs of the room</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Submitted (UTC)</th><th scope="col">State</th><th scope="col">Digest</th><th scope="col">Reason and fix</th></tr></thead>
<tbody data-live="${ctx.base}jobs/rows">${jobRows(ctx, rows)}</tbody>
</table></div>`,
  );
}

/** One job. */
export function jobPage(
  ctx: PageContext,
  d: CleanRoomDescriptor,
  row: JobRow,
  result: { report?: VerificationReport; unavailable?: string; source?: string },
): SafeHtml {
  const s = row.status;
  const final = s !== undefined && ["succeeded", "failed", "lost"].includes(s.state);
  const fix = fixFor(s?.errorCode);
  return page(
    ctx,
    "jobs",
    `Job ${row.jobId}`,
    html`<div${final ? html`` : html` data-watch-state="${ctx.base}jobs/${row.jobId}/state" data-state="${s?.state ?? ""}"`}>
<dl class="facts">
<dt>State</dt><dd id="job-state">${s ? stateBadge(s.state) : "unknown"}${s?.released ? html` ${stateBadge("released")}` : html``}${final ? html`` : html` <span class="muted">(this page reloads when it changes)</span>`}</dd>
<dt>Job digest</dt><dd><code>${s?.jobDigest ?? ""}</code></dd>
<dt>Submitted</dt><dd>${row.submittedAt?.toISOString() ?? "—"}</dd>
${s?.detail ? html`<dt>Detail</dt><dd>${s.errorCode ? html`<code>${s.errorCode}</code>: ` : html``}${s.detail}</dd>` : html``}
${fix ? html`<dt>What to do</dt><dd>${fix}</dd>` : html``}
${
  s?.stderrFile
    ? html`<dt>Job's stderr</dt><dd id="job-stderr">Kept by this debug-logs room (<code>cleanroom local up --debug-logs</code>): its last 64 KiB are the result's <code>${s.stderrFile}</code>, covered by the receipt. Read it with <code>cleanroom job fetch ${row.jobId} --room &lt;room.json&gt; --out &lt;dir&gt;</code>, then <code>&lt;dir&gt;/${s.stderrFile}</code>.</dd>`
    : html``
}
${row.problem ? html`<dt>Problem</dt><dd>${row.problem}</dd>` : html``}
</dl></div>
${
  result.report
    ? html`<p class="muted">Result read from ${result.source}; verified here with <code>verifyResult</code>, as <code>cleanroom verify</code> does.</p>${reportSection(result.report, d, result.report.verified ? `${ctx.base}jobs/${row.jobId}/files/` : undefined)}`
    : result.unavailable
      ? html`<h2>Result</h2><div class="notice info" role="status" id="result-unavailable">${result.unavailable}</div>`
      : html``
}`,
  );
}

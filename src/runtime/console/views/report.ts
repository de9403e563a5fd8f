/** The verification report: every check of `verifyResult` with pass/fail, and what the result proves, in plain words. */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import { describeDebug, describeHardware, type VerificationReport } from "../checks.js";
import type { OutputCheck } from "../../../core/disclosure.js";
import { bytes, html, type SafeHtml } from "../html.js";

const STATE_LABEL = { pass: "passed", fail: "FAILED", "not-reached": "not reached", "not-applicable": "not applicable" } as const;

/** The checks table. */
export function checksTable(report: VerificationReport): SafeHtml {
  return html`<div class="scroll"><table class="checks">
<caption class="skip">Verification checks</caption>
<thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Why it matters / what failed</th></tr></thead>
<tbody>
${report.checks.map(
  (c) => html`<tr data-check="${c.id}" data-state="${c.state}"><td>${c.title}</td><td><span class="badge ${c.state}">${STATE_LABEL[c.state]}</span></td><td>${c.detail ? html`<strong>${c.detail}</strong>` : html`<span class="muted">${c.why}</span>`}</td></tr>`,
)}
</tbody></table></div>`;
}

const VERDICT_BADGE: Readonly<Record<string, string>> = { pass: "pass", review: "not-reached", fail: "fail" };

/** One output's checks: its verdict, and each finding's rule, how many cells and which (never a value). */
function checksCell(check: OutputCheck | undefined, mode: string | undefined): SafeHtml {
  if (mode === undefined) return html`<span class="muted">none recorded in the receipt</span>`;
  if (mode === "off") return html`<span class="muted">none run (disclosure mode off)</span>`;
  if (!check) return html`<span class="muted">not checked</span>`;
  return html`<span class="badge ${VERDICT_BADGE[check.verdict] ?? "fail"}" data-verdict="${check.verdict}">${check.verdict}</span>${check.findings.map(
    (f) =>
      html`<div><code>${f.rule}</code>: ${f.count} cell(s)${f.cells && f.cells.length > 0 ? html` (rows ${f.cells.slice(0, 10).join(", ")}${f.cells.length > 10 ? ", …" : ""})` : html``}. <span class="muted">${f.detail}</span></div>`,
  )}`;
}

/**
 * The output policy the receipt records: every output file within the room's size limit, and the disclosure checks the
 * executor ran on each inside the TEE (the receipt's report, re-checked by `verifyResult` against the room's policy).
 */
function outputPolicy(report: VerificationReport, d: CleanRoomDescriptor, downloadBase: string | undefined): SafeHtml {
  const s = report.summary!;
  const dc = s.disclosure;
  const byPath = new Map((dc?.report.outputs ?? []).map((o) => [o.path, o]));
  return html`<h3>Outputs and the output policy</h3>
<p>${s.outputs.length} file(s), ${bytes(s.outputBytes)} in all, within the room's limit of ${bytes(d.output.maxBytes)} (<code>output.maxBytes</code>); only regular files.
${d.output.requireRelease ? " A provider must release results before data scientists can read them." : ""}</p>
${
  dc
    ? html`<p id="disclosure-summary">Disclosure checks inside the TEE (mode <code>${dc.mode}</code>): ${dc.mode === "off" ? "none run" : html`<strong>${dc.verdict}</strong>`}${dc.withheld ? html`; <strong>every output was withheld</strong> (${dc.report.outputs.length} named by place)` : html``}.${dc.held ? html` Held: ${dc.held}` : html``}</p>`
    : html``
}
<div class="scroll"><table><caption class="skip">Output files</caption>
<thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">sha256 (in the receipt)</th><th scope="col">Per-output checks</th></tr></thead>
<tbody>
${s.outputs.map(
  (o) =>
    html`<tr data-output="${o.path}"><td>${downloadBase ? html`<a href="${downloadBase}${o.path.split("/").map(encodeURIComponent).join("/")}" download>${o.path}</a>` : html`<code>${o.path}</code>`}</td><td>${bytes(o.bytes)}</td><td class="mono">${o.sha256.slice(0, 16)}…</td><td>${checksCell(byPath.get(o.path), dc?.mode)}</td></tr>`,
)}
${dc?.withheld ? dc.report.outputs.map((o) => html`<tr data-output="${o.path}"><td><code>${o.path}</code> (withheld)</td><td>—</td><td>—</td><td>${checksCell(o, dc.mode)}</td></tr>`) : html``}
</tbody></table></div>`;
}

/** The whole report. `downloadBase` links output files when they may be downloaded. */
export function reportSection(report: VerificationReport, d: CleanRoomDescriptor, downloadBase?: string): SafeHtml {
  if (!report.verified) {
    return html`<section aria-labelledby="vr-h" class="report"><h2 id="vr-h">Verification report</h2>
<div class="notice error" role="alert" id="verdict">NOT VERIFIED: do not trust these files. ${report.errorMessage ?? ""}</div>
${report.hint ? html`<p id="hint"><strong>What to do:</strong> ${report.hint}</p>` : html``}
${checksTable(report)}</section>`;
  }
  const s = report.summary!;
  const approvals = s.approvedBy.length > 0 ? `approved by ${s.approvedBy.join(", ")}` : "approved by no provider of this room (a room with codePolicy any-job)";
  return html`<section aria-labelledby="vr-h" class="report"><h2 id="vr-h">Verification report</h2>
<div class="notice ok" role="status" id="verdict">${s.verdict}</div>
${checksTable(report)}
<h3>What this proves, in plain words</h3>
<dl class="facts">
<dt>Hardware</dt><dd>${describeHardware(s.hardware.hwmodel)}</dd>
<dt>Debug status</dt><dd>${describeDebug(s.hardware.dbgstat)}</dd>
<dt>Executor image</dt><dd><code>${s.executorImageDigest}</code>: the exact program the room pins, which runs the job and writes the receipt</dd>
<dt>Job code</dt><dd><code>${s.jobDigest}</code>, ${approvals}</dd>
<dt>Isolation</dt><dd>${s.platform === "local" ? `local backend, sandbox ${s.sandbox}${s.debugLogs ? "; DEBUG LOGS (local up --debug-logs): failed jobs' stderr reaches their submitters unchecked, not a production-grade room" : ""}` : `Confidential Space${s.hardware.project ? ` in project ${s.hardware.project}` : ""}${s.hardware.zone ? ` (${s.hardware.zone})` : ""}`}</dd>
<dt>Outcome</dt><dd>${s.status}${s.errorCode ? ` [${s.errorCode}]` : ""}${s.error ? `: ${s.error}` : ""}</dd>
<dt>Ran</dt><dd>${s.startedAt} → ${s.finishedAt}</dd>
<dt>Inputs</dt><dd>${s.inputs.map((i) => html`<div><code>${i.provider}/${i.dataset}</code>: ${bytes(i.bytes)}, sha256 <span class="mono">${i.sha256.slice(0, 16)}…</span></div>`)}</dd>
<dt>Receipt</dt><dd><code>${s.receiptDigest}</code> = the attestation token's nonce</dd>
<dt>Token</dt><dd>issued ${s.token.issuedAt} by ${s.token.issuer} for ${s.token.audience}</dd>
</dl>
${outputPolicy(report, d, downloadBase)}
</section>`;
}

/** The Provider page: approval requests with their files and diff, outputs in quarantine, release with confirmation. */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import type { BundleDiff } from "../bundle-diff.js";
import type { VerificationReport } from "../checks.js";
import { bytes, html, type SafeHtml } from "../html.js";
import type { ApprovalRequest, BundleFile } from "../requests.js";
import { csrfField, type PageContext, page } from "./layout.js";
import { reportSection } from "./report.js";

/** A job waiting in quarantine. */
export interface QuarantinedJob {
  readonly jobId: string;
  readonly jobDigest: string;
  readonly status: string;
  readonly outputs: number;
  readonly outputBytes: number;
  readonly verified: boolean;
  readonly inputs: readonly string[];
}

function noProvider(ctx: PageContext): SafeHtml {
  return page(
    ctx,
    "provider",
    "Provider",
    html`<div class="notice info" role="status" id="no-provider">This console acts for a data scientist, who may not read quarantined outputs or approve jobs. A data provider starts it with <code>cleanroom console --room &lt;descriptor&gt; --provider &lt;name&gt;</code>; on GCP their own credentials (roles from <code>grantRelease</code>) decide what it can read.</div>`,
  );
}

/** The provider's overview. */
export function providerPage(ctx: PageContext, d: CleanRoomDescriptor, requests: readonly ApprovalRequest[], quarantine: readonly QuarantinedJob[]): SafeHtml {
  const me = ctx.provider;
  if (!me) return noProvider(ctx);
  const approved = new Set(d.providers.find((p) => p.name === me)?.approvedJobs ?? []);
  const pending = requests.filter((r) => !approved.has(r.digest));
  return page(
    ctx,
    "provider",
    `Provider ${me}`,
    html`<section aria-labelledby="pend-h"><h2 id="pend-h">Jobs waiting for your approval</h2>
${
  pending.length === 0
    ? html`<p id="no-pending">No pending requests.</p>`
    : html`<div class="scroll"><table id="pending"><caption class="skip">Pending approval requests</caption>
<thead><tr><th scope="col">Job digest</th><th scope="col">Entrypoint</th><th scope="col">Inputs</th><th scope="col">Requested (UTC)</th></tr></thead><tbody>
${pending.map(
  (r) => html`<tr data-digest="${r.digest}"><td><a href="${ctx.base}provider/requests/${r.digest.slice(7)}">${r.digest.slice(0, 23)}…</a></td><td><code>${r.manifest.entrypoint.join(" ")}</code></td><td><code>${r.manifest.inputs.map((i) => `${i.provider}/${i.dataset}`).join(", ")}</code></td><td>${r.requestedAt.replace("T", " ").slice(0, 19)}</td></tr>`,
)}
</tbody></table></div>`
}
<form method="post" action="${ctx.base}provider/requests" enctype="multipart/form-data" class="panel">
${csrfField(ctx)}
<label for="review-archive">Add a job you were sent for review (the <code>.review.tar</code> from the data scientist's Workspace page)</label><br>
<input type="file" id="review-archive" name="archive" accept=".tar,application/x-tar" required>
<button type="submit" class="secondary">Add for review</button>
</form></section>
<section aria-labelledby="q-h"><h2 id="q-h">Outputs in quarantine</h2>
${
  quarantine.length === 0
    ? html`<p id="no-quarantine">Nothing waits in quarantine.</p>`
    : html`<div class="scroll"><table id="quarantine"><caption class="skip">Results in quarantine</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Outcome</th><th scope="col">Inputs</th><th scope="col">Outputs</th><th scope="col">Checks</th><th scope="col">Action</th></tr></thead><tbody>
${quarantine.map(
  (q) => html`<tr data-job="${q.jobId}"><td><code>${q.jobId}</code></td><td><span class="badge ${q.status}">${q.status}</span></td><td><code>${q.inputs.join(", ")}</code></td><td>${q.outputs} file(s), ${bytes(q.outputBytes)}</td>
<td><span class="badge ${q.verified ? "pass" : "fail"}">${q.verified ? "all checks pass" : "verification FAILED"}</span></td>
<td>${q.status === "succeeded" ? html`<a href="${ctx.base}provider/release/${q.jobId}">Review and release</a>` : html`<a href="${ctx.base}jobs/${q.jobId}">Failure receipt</a>`}</td></tr>`,
)}
</tbody></table></div>`
}
</section>`,
  );
}

function fileView(path: string, f: BundleFile | undefined): SafeHtml {
  if (!f) return html``;
  return html`<details><summary><code>${path}</code></summary>${"text" in f ? html`<pre>${f.text}</pre>` : html`<p class="muted">binary or large (${bytes(f.bytes)}): compared by digest only</p>`}</details>`;
}

function diffView(diff: BundleDiff, base: ApprovalRequest): SafeHtml {
  const changed = diff.files.filter((f) => f.kind !== "unchanged");
  return html`<p>Compared with <code>${base.digest}</code> (approved, requested ${base.requestedAt.slice(0, 19).replace("T", " ")}):
${changed.length === 0 && !diff.entrypoint && !diff.inputs ? "no file changed." : `${changed.length} file(s) changed.`}</p>
${diff.entrypoint ? html`<p>Entrypoint: <code>${diff.entrypoint.before.join(" ")}</code> → <code>${diff.entrypoint.after.join(" ")}</code></p>` : html``}
${diff.inputs ? html`<p>Inputs: <code>${diff.inputs.before.join(", ")}</code> → <code>${diff.inputs.after.join(", ")}</code></p>` : html``}
<div id="diff">${changed.map(
    (f) => html`<h4><code>${f.path}</code> <span class="badge ${f.kind === "removed" ? "fail" : "pending"}">${f.kind}</span></h4>
${f.hunks ? html`<pre class="diff">${f.hunks.map((h) => html`<span>${h.header}\n</span>${h.lines.map((l) => html`<span class="${l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : ""}">${l}\n</span>`)}`)}</pre>` : f.note ? html`<p class="muted">${f.note}</p>` : html``}`,
  )}</div>`;
}

/** One request under review. */
export function reviewPage(
  ctx: PageContext,
  d: CleanRoomDescriptor,
  r: ApprovalRequest,
  files: Map<string, BundleFile>,
  compared: { base: ApprovalRequest; diff: BundleDiff } | undefined,
): SafeHtml {
  const me = ctx.provider!;
  const approved = d.providers.find((p) => p.name === me)?.approvedJobs.includes(r.digest) ?? false;
  const mine = r.manifest.inputs.filter((i) => i.provider === me).map((i) => `${i.provider}/${i.dataset}`);
  return page(
    ctx,
    "provider",
    "Review a job",
    html`<dl class="facts"><dt>Job digest</dt><dd><code id="digest">${r.digest}</code> <span class="muted">(the bundle below was checked against it)</span></dd>
<dt>Entrypoint</dt><dd><code>${r.manifest.entrypoint.join(" ")}</code></dd>
<dt>Reads</dt><dd><code>${r.manifest.inputs.map((i) => `${i.provider}/${i.dataset}`).join(", ")}</code>${mine.length === 0 ? html` <strong>(none of your datasets)</strong>` : html``}</dd>
<dt>Status</dt><dd>${approved ? html`<span class="badge pass">approved by you</span>` : html`<span class="badge pending">pending</span>`}</dd></dl>
<section aria-labelledby="diff-h"><h2 id="diff-h">Changes since an approved version</h2>
${compared ? diffView(compared.diff, compared.base) : html`<p id="no-base">No earlier approved version of this job is known here: review every file.</p>`}</section>
<section aria-labelledby="files-h"><h2 id="files-h">Files (${r.manifest.files.length})</h2>
${r.manifest.files.map((f) => fileView(f.path, files.get(f.path)))}</section>
${
  approved
    ? html``
    : html`<section aria-labelledby="ap-h"><h2 id="ap-h">Approve</h2>
<form method="post" action="${ctx.base}provider/approve" class="panel">${csrfField(ctx)}<input type="hidden" name="digest" value="${r.digest}">
<p>${
        d.platform === "local"
          ? "Approving restarts the local room with this digest in your approvedJobs (provisioned data, keys and results are kept)."
          : "On GCP the approval is code: this shows the pulumi command that adds the digest to your approvedJobs; review it, run it and `pulumi up`."
      }</p>
<button type="submit">Approve this digest</button></form></section>`
}`,
  );
}

/** The `pulumi config set` line to approve on GCP. */
export function gcpApprovalPage(ctx: PageContext, digest: string, command: string): SafeHtml {
  return page(
    ctx,
    "provider",
    "Approve on Google Cloud",
    html`<p>The approval is part of your Pulumi program (policy-as-code, reviewed like any change). In the stack that declares your <code>approvedJobs</code>, run:</p>
<div class="digest"><pre id="approve-command">${command}\npulumi up</pre> <button type="button" class="secondary" data-copy="${command}" aria-label="Copy the pulumi config command">Copy</button></div>
<p class="muted">Digest <code>${digest}</code>. Once <code>pulumi up</code> has run, the KMS key opens for this job only.</p>
<p><a href="${ctx.base}provider">Back to the provider page</a></p>`,
  );
}

/** The release confirmation: the report, the outputs, and an explicit confirmation. */
export function releasePage(ctx: PageContext, d: CleanRoomDescriptor, jobId: string, report: VerificationReport): SafeHtml {
  return page(
    ctx,
    "provider",
    `Release ${jobId}?`,
    html`<p class="lead">Releasing copies this result from quarantine to the results location, where data scientists read it. It cannot be taken back.</p>
${reportSection(report, d, report.verified ? `${ctx.base}jobs/${jobId}/files/` : undefined)}
${
  report.verified
    ? html`<form method="post" action="${ctx.base}provider/release" class="panel">${csrfField(ctx)}<input type="hidden" name="jobId" value="${jobId}">
<div><input type="checkbox" id="confirm" name="confirm" value="yes" required> <label for="confirm">I reviewed these outputs; they may leave the room</label></div>
<p><button type="submit" class="danger">Release ${jobId}</button> <a href="${ctx.base}provider">Cancel</a></p></form>`
    : html`<div class="notice error" role="alert">This result does not verify, so it cannot be released.</div>`
}`,
  );
}

/** The "verify a result you were sent" page: upload a result folder or archive, read the report. */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import type { VerificationReport } from "../checks.js";
import { html, type SafeHtml } from "../html.js";
import { csrfField, type PageContext, page } from "./layout.js";
import { reportSection } from "./report.js";

function forms(ctx: PageContext): SafeHtml {
  return html`<div class="panel">
<form method="post" action="${ctx.base}verify" enctype="multipart/form-data" id="verify-folder">
${csrfField(ctx)}
<label for="result-folder">A result folder (with <code>receipt.json</code>, <code>attestation.jwt</code> and <code>outputs/</code>)</label><br>
<input type="file" id="result-folder" name="files" webkitdirectory directory multiple required>
<button type="submit">Verify the folder</button>
</form></div>
<div class="panel">
<form method="post" action="${ctx.base}verify" enctype="multipart/form-data" id="verify-archive">
${csrfField(ctx)}
<label for="result-archive">Or one archive of it (.zip, .tar, .tar.gz)</label><br>
<input type="file" id="result-archive" name="files" accept=".zip,.tar,.tgz,.gz,application/zip,application/x-tar,application/gzip" required>
<button type="submit">Verify the archive</button>
</form></div>`;
}

/** The upload page, with the report of the last upload, or why it is not a result. */
export function verifyPage(ctx: PageContext, d: CleanRoomDescriptor, outcome?: { report?: VerificationReport; notResult?: string }): SafeHtml {
  return page(
    ctx,
    "verify",
    "Verify a result you were sent",
    html`<p class="lead">Checks a result offline against room <code>${d.name}</code>, exactly as <code>cleanroom verify &lt;dir&gt; --room ${"<descriptor>"}</code> does. Nothing is stored.</p>
${outcome?.notResult ? html`<div class="notice error" role="alert" id="not-result">${outcome.notResult}</div>` : html``}
${outcome?.report ? reportSection(outcome.report, d) : html``}
<h2>Upload</h2>
${forms(ctx)}`,
  );
}

/** The Workspace page (data scientist): pick an entrypoint and inputs, pack, see the digest, submit; stage-1 data. */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import type { JobManifest } from "../../../core/digest.js";
import { bytes, html, type SafeHtml } from "../html.js";
import type { Stage1Dataset } from "../stage1.js";
import type { Entrypoint } from "../workspace-files.js";
import { csrfField, type PageContext, page } from "./layout.js";

function shellQuote(s: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The CLI command that packs the same job (and prints the same digest). */
export function packCommand(folder: string, file: string, inputs: readonly string[]): string {
  return `cleanroom job pack ${shellQuote(folder)} --entrypoint ${shellQuote(file)} ${inputs.map((i) => `--input ${shellQuote(i)}`).join(" ")}`;
}

/** The ε spent and left cells of a dataset: live from the ledger, as published with the release, or why neither. */
function ledgerCells(r: Stage1Dataset): SafeHtml {
  const l = r.ledger;
  if (!l) {
    return r.ledgerNote
      ? html`<td colspan="2" class="ledger-note"><span class="muted">${r.ledgerNote}</span></td>`
      : html`<td>—</td><td>—</td>`;
  }
  const spent = html`<td data-epsilon="spent">${l.spentEpsilon.toFixed(3)}</td>`;
  if (l.source === "ledger") return html`${spent}<td data-epsilon="left">${l.leftEpsilon.toFixed(3)}</td>`;
  return html`${spent}<td data-epsilon="left">${l.leftEpsilon.toFixed(3)} <span class="muted">as published ${l.publishedAt?.slice(0, 10) ?? ""}</span></td>`;
}

/** The dataset's stand-in (public, provider-supplied) after its DP artefacts: its files, or why there are none. */
function standInCell(ctx: PageContext, r: Stage1Dataset): SafeHtml {
  if (r.standIn !== "provided") return html``;
  if (r.standInFiles === undefined) return html`<div class="stand-in"><span class="muted">stand-in: not published yet</span></div>`;
  const shown = r.standInFiles.slice(0, 20);
  return html`<div class="stand-in">stand-in (public sample or mock, not the data): ${shown.map(
    (f) => html`<a href="${ctx.base}stage1/${r.provider}/${r.dataset}/stand-in/${f.path.split("/").map(encodeURIComponent).join("/")}" download>${f.path}</a> <span class="muted">(${bytes(f.bytes)})</span> `,
  )}${r.standInFiles.length > shown.length ? html`<span class="muted">and ${r.standInFiles.length - shown.length} more</span>` : html``}</div>`;
}

function stage1Table(ctx: PageContext, rows: readonly Stage1Dataset[]): SafeHtml {
  if (rows.length === 0) return html`<p>This room has no datasets.</p>`;
  const notes = rows.filter((r) => r.ledger?.source === "published" && r.ledgerNote);
  return html`<div class="scroll"><table>
<caption class="skip">Stage-1 data per dataset</caption>
<thead><tr><th scope="col">Dataset</th><th scope="col">Method</th><th scope="col">Artefact</th><th scope="col">ε budget</th><th scope="col">ε spent</th><th scope="col">ε left</th></tr></thead>
<tbody>
${rows.map(
  (r) => html`<tr data-dataset="${r.provider}/${r.dataset}">
<td><code>${r.provider}/${r.dataset}</code></td>
<td>${r.method}</td>
<td>${
    r.problem
      ? html`<span class="muted">${r.problem}</span>`
      : r.artefacts.length === 0
        ? html`<span class="muted">not produced yet</span>`
        : r.artefacts.map((a) => html`<a href="${ctx.base}stage1/${r.provider}/${r.dataset}/${a.name}" download>${a.name}</a> <span class="muted">(${bytes(a.bytes)})</span> `)
  }${standInCell(ctx, r)}</td>
<td>${r.budgetEpsilon} <span class="muted">(δ ${r.delta})</span></td>
${ledgerCells(r)}
</tr>`,
)}
</tbody></table></div>
${notes.map((r) => html`<p class="muted ledger-note"><code>${r.provider}/${r.dataset}</code>: ${r.ledgerNote}</p>`)}
<p class="muted">Stage-1 data is differentially private: it never holds a real row. Explore it, write your job against it, then run the job once on the real data below.</p>`;
}

/** The Workspace page. */
export function workspacePage(ctx: PageContext, d: CleanRoomDescriptor, workspace: string | undefined, entrypoints: readonly Entrypoint[], stage1: readonly Stage1Dataset[]): SafeHtml {
  const datasets = d.providers.flatMap((p) => p.datasets.map((x) => `${p.name}/${x.name}`));
  let packForm: SafeHtml;
  if (workspace === undefined) {
    packForm = html`<div class="notice info" role="status">No workspace: start the console with <code>--workspace &lt;folder of your job sources&gt;</code> to pack jobs here.</div>`;
  } else if (entrypoints.length === 0) {
    packForm = html`<div class="notice error" role="alert">No entrypoint in <code>${workspace}</code>: add a <code>main.py</code>, <code>main.js</code> or a notebook (<code>.ipynb</code>) to a folder of your workspace (at most 4 folders deep), then reload this page.</div>`;
  } else {
    packForm = html`<form method="post" action="${ctx.base}workspace/pack">
${csrfField(ctx)}
<fieldset><legend>Entrypoint (its folder is the job)</legend>
<div class="choices">
${entrypoints.map((e, i) => html`<div><input type="radio" name="entrypoint" id="ep-${i}" value="${e.path}"${i === 0 ? html` checked` : html``}> <label for="ep-${i}"><code>${e.path}</code></label></div>`)}
</div></fieldset>
<fieldset><legend>Inputs (datasets the job reads)</legend>
<div class="choices">
${datasets.map((x, i) => html`<div><input type="checkbox" name="input" id="in-${i}" value="${x}"${datasets.length === 1 ? html` checked` : html``}> <label for="in-${i}"><code>${x}</code></label></div>`)}
</div></fieldset>
<button type="submit">Pack and show the digest</button>
</form>`;
  }
  return page(
    ctx,
    "workspace",
    "Workspace",
    html`<p class="lead">Workspace <code>${workspace ?? "(none)"}</code>. Packing gives the job digest a provider approves, the same one <code>cleanroom job pack</code> prints.</p>
<section aria-labelledby="pack-h"><h2 id="pack-h">Pack a job</h2>${packForm}</section>
<section aria-labelledby="s1-h"><h2 id="s1-h">Stage-1 data</h2>${stage1Table(ctx, stage1)}</section>`,
  );
}

/** What a packed job looks like, with its digest and what to do next. */
export function packedPage(
  ctx: PageContext,
  d: CleanRoomDescriptor,
  p: { digest: string; manifest: JobManifest; folder: string; file: string; localRequests: boolean; requested: boolean },
): SafeHtml {
  const inputs = p.manifest.inputs.map((i) => `${i.provider}/${i.dataset}`);
  const owners = [...new Set(p.manifest.inputs.map((i) => i.provider))];
  const approvedBy = owners.filter((o) => d.providers.find((x) => x.name === o)?.approvedJobs.includes(p.digest));
  const missing = d.codePolicy === "any-job" ? [] : owners.filter((o) => !approvedBy.includes(o));
  const approval =
    missing.length === 0
      ? html`<div class="notice ok" role="status">${d.codePolicy === "any-job" ? "This room runs any job (codePolicy any-job)." : `Approved by ${approvedBy.join(", ")}: it can run.`}</div>`
      : html`<div class="notice info" role="status">Not yet approved by ${missing.join(", ")}. A job runs only once every provider whose data it reads has approved its digest; submitted now, it would fail with <code>denied</code> and read no data.</div>`;
  return page(
    ctx,
    "workspace",
    "Packed job",
    html`<section aria-labelledby="d-h"><h2 id="d-h">Job digest</h2>
<div class="digest"><code id="digest">${p.digest}</code> <button type="button" class="secondary" data-copy="${p.digest}" aria-label="Copy the job digest">Copy digest</button></div>
<p class="muted">The same sources give this digest on any machine: <code>${packCommand(p.folder || ".", p.file, inputs)}</code></p>
${approval}
<div class="panel">
<form class="inline" method="post" action="${ctx.base}workspace/submit">${csrfField(ctx)}<input type="hidden" name="digest" value="${p.digest}"><button type="submit">Submit to the room</button></form>
${
  p.localRequests
    ? p.requested
      ? html` <span class="muted">Approval requested: the provider sees it on their Provider page.</span>`
      : html` <form class="inline" method="post" action="${ctx.base}workspace/request">${csrfField(ctx)}<input type="hidden" name="digest" value="${p.digest}"><button type="submit" class="secondary">Ask the providers to approve it</button></form>`
    : html``
}
 <a class="button secondary" href="${ctx.base}workspace/packed/${p.digest.slice(7)}/archive" download>Download for review</a>
</div></section>
<section aria-labelledby="f-h"><h2 id="f-h">What the digest covers</h2>
<dl class="facts"><dt>Entrypoint</dt><dd><code>${p.manifest.entrypoint.join(" ")}</code></dd><dt>Inputs</dt><dd><code>${inputs.join(", ")}</code></dd><dt>Folder</dt><dd><code>${p.folder || "(workspace)"}</code></dd></dl>
<div class="scroll"><table><caption class="skip">Files of the bundle</caption><thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">sha256</th></tr></thead><tbody>
${p.manifest.files.map((f) => html`<tr><td><code>${f.path}</code></td><td>${bytes(f.bytes)}</td><td class="mono">${f.sha256.slice(0, 16)}…</td></tr>`)}
</tbody></table></div></section>`,
  );
}

/**
 * Routes of the Provider page. Only a console started with `--provider <name>` reads quarantine, approves or releases;
 * any other console refuses these routes, so a data scientist's page never shows quarantined data.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { CleanRoomError } from "../../../core/errors.js";
import { parseReceipt, RESULT_FILES } from "../../../core/receipt.js";
import { releaseResult } from "../../jobs/client.js";
import { approveLocally, pulumiApprovalCommand } from "../approve.js";
import { diffBundles } from "../bundle-diff.js";
import { verificationReport } from "../checks.js";
import type { Route, RouteRequest } from "../context.js";
import { htmlReply, redirect } from "../http.js";
import type { ApprovalRequest } from "../requests.js";
import { jobIdTime, listJobIds } from "../storage.js";
import { gcpApprovalPage, providerPage, type QuarantinedJob, releasePage, reviewPage } from "../views/provider.js";

const ID = "([a-z0-9][a-z0-9-]{0,62})";
/** Quarantined jobs listed at most. */
const MAX_QUARANTINE = 30;

function providerOf(r: RouteRequest): string {
  if (!r.app.provider) {
    throw new CleanRoomError("denied", "This console acts for a data scientist: only a provider's console (cleanroom console --provider <name>) reviews, approves and releases");
  }
  return r.app.provider;
}

async function quarantined(r: RouteRequest, me: string): Promise<QuarantinedJob[]> {
  const d = r.app.descriptor();
  const released = new Set(await listJobIds(d.storage.results));
  const ids = (await listJobIds(d.storage.quarantine))
    .filter((id) => !released.has(id))
    .sort((a, b) => (jobIdTime(b)?.getTime() ?? 0) - (jobIdTime(a)?.getTime() ?? 0))
    .slice(0, MAX_QUARANTINE);
  const out: QuarantinedJob[] = [];
  for (const jobId of ids) {
    const row = await r.app.jobs.row(jobId).catch(() => undefined);
    if (!row?.status || row.status.released) continue;
    const res = await r.app.jobs.result(jobId, row.status);
    if ("unavailable" in res) continue;
    const receipt = parseReceipt(await readFile(join(res.dir, RESULT_FILES.receipt), "utf8"));
    // A provider reviews the results computed from its own data.
    if (!receipt.inputs.some((i) => i.provider === me)) continue;
    const report = await verificationReport(res.dir, d, r.app.trustedRoots);
    out.push({
      jobId,
      jobDigest: receipt.jobDigest,
      status: receipt.status,
      outputs: receipt.outputs.length,
      outputBytes: receipt.outputs.reduce((s, o) => s + o.bytes, 0),
      verified: report.verified,
      inputs: receipt.inputs.map((i) => `${i.provider}/${i.dataset}`),
    });
  }
  return out;
}

/** The most recent approved request of the same job (same entrypoint and inputs), else the most recent approved one. */
function earlierApproved(all: readonly ApprovalRequest[], r: ApprovalRequest, approved: readonly string[]): ApprovalRequest | undefined {
  const candidates = all.filter((x) => x.digest !== r.digest && approved.includes(x.digest) && x.requestedAt <= r.requestedAt);
  const key = (x: ApprovalRequest) => JSON.stringify([x.manifest.entrypoint, x.manifest.inputs]);
  return candidates.find((x) => key(x) === key(r)) ?? candidates.find((x) => x.manifest.entrypoint.join(" ") === r.manifest.entrypoint.join(" ")) ?? candidates[0];
}

export const providerRoutes: readonly Route[] = [
  {
    method: "GET",
    pattern: /^provider$/,
    async handle(r) {
      const d = r.app.descriptor();
      if (!r.app.provider) return htmlReply(providerPage(r.ctx, d, [], []));
      const me = r.app.provider;
      const mine = (await r.app.requests.list()).filter((x) => x.manifest.inputs.some((i) => i.provider === me));
      return htmlReply(providerPage(r.ctx, d, mine, await quarantined(r, me)));
    },
  },
  {
    method: "POST",
    pattern: /^provider\/requests$/,
    upload: true,
    async handle(r) {
      providerOf(r);
      const upload = await r.upload();
      try {
        const archive = upload.files.find((f) => f.field === "archive");
        if (!archive) throw new CleanRoomError("invalid-argument", "Choose the .review.tar file the data scientist sent you");
        const digest = await r.app.requests.addArchive(join(upload.dir, "files", ...archive.path.split("/")));
        r.flash({ kind: "ok", text: `Added ${digest} for review.` });
        return redirect(`${r.app.base}provider/requests/${digest.slice(7)}`);
      } finally {
        await rm(upload.dir, { recursive: true, force: true });
      }
    },
  },
  {
    method: "GET",
    pattern: /^provider\/requests\/([0-9a-f]{64})$/,
    async handle(r) {
      const me = providerOf(r);
      const d = r.app.descriptor();
      const req = await r.app.requests.get(`sha256:${r.params[0]}`);
      const files = await r.app.requests.files(req);
      const approved = d.providers.find((p) => p.name === me)?.approvedJobs ?? [];
      const base = earlierApproved(await r.app.requests.list(), req, approved);
      const compared = base ? { base, diff: diffBundles({ manifest: base.manifest, files: await r.app.requests.files(base) }, { manifest: req.manifest, files }) } : undefined;
      return htmlReply(reviewPage(r.ctx, d, req, files, compared));
    },
  },
  {
    method: "POST",
    pattern: /^provider\/approve$/,
    async handle(r) {
      const me = providerOf(r);
      const digest = r.form.get("digest") ?? "";
      const req = await r.app.requests.get(digest);
      const d = r.app.descriptor();
      if (d.platform !== "local") return htmlReply(gcpApprovalPage(r.ctx, req.digest, pulumiApprovalCommand(d, me, req.digest)));
      await approveLocally(d, me, req.digest);
      r.flash({ kind: "ok", text: `Approved ${req.digest}: the room restarted with it in ${me}'s approvedJobs.` });
      return redirect(`${r.app.base}provider`);
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^provider/release/${ID}$`),
    async handle(r) {
      providerOf(r);
      const row = await r.app.jobs.row(r.params[0]!);
      if (!row.status) throw new CleanRoomError("not-found", `Job ${row.jobId} has no readable status: ${row.problem ?? ""}`);
      const res = await r.app.jobs.result(row.jobId, row.status);
      if ("unavailable" in res) throw new CleanRoomError(res.code === "denied" ? "denied" : "not-found", res.unavailable);
      return htmlReply(releasePage(r.ctx, r.app.descriptor(), row.jobId, await verificationReport(res.dir, r.app.descriptor(), r.app.trustedRoots)));
    },
  },
  {
    method: "POST",
    pattern: /^provider\/release$/,
    async handle(r) {
      providerOf(r);
      const jobId = r.form.get("jobId") ?? "";
      if (r.form.get("confirm") !== "yes") {
        r.flash({ kind: "error", text: "Tick the confirmation to release: nothing was released." });
        return redirect(`${r.app.base}provider/release/${encodeURIComponent(jobId)}`);
      }
      const row = await r.app.jobs.row(jobId);
      if (!row.status) throw new CleanRoomError("not-found", `Job ${jobId} has no readable status`);
      const res = await r.app.jobs.result(jobId, row.status);
      if ("unavailable" in res) throw new CleanRoomError("not-found", res.unavailable);
      const d = r.app.descriptor();
      // The release is checked here too, on both backends: what the provider reviewed must still verify.
      const report = await verificationReport(res.dir, d, r.app.trustedRoots);
      if (!report.verified) throw new CleanRoomError("digest-mismatch", `Job ${jobId}'s result does not verify (${report.errorCode}: ${report.errorMessage}); it was not released`);
      await releaseResult(d, jobId, r.app.trustedRoots && r.app.trustedRoots.length > 0 ? { trustedRoots: r.app.trustedRoots } : {});
      r.app.jobs.forget(jobId);
      r.flash({ kind: "ok", text: `Released ${jobId}: data scientists can now fetch it.` });
      return redirect(`${r.app.base}provider`);
    },
  },
];

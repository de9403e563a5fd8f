/** Routes of the Workspace page: pack (packJob), submit (submitJob), ask for approval, stage-1 downloads. */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CleanRoomError } from "../../../core/errors.js";
import { loadPackedJob } from "../../cli/job.js";
import { submitJob } from "../../jobs/client.js";
import { packJob } from "../../jobs/pack.js";
import type { Route, RouteRequest } from "../context.js";
import { downloadReply, htmlReply, redirect } from "../http.js";
import { RequestStore } from "../requests.js";
import { stage1ArtefactLocation, stage1Datasets, standInFileLocation } from "../stage1.js";
import { readSmallObject } from "../storage.js";
import { packedPage, workspacePage } from "../views/workspace.js";
import { findEntrypoints } from "../workspace-files.js";

const HEX = "([0-9a-f]{64})";

function packedDir(r: RouteRequest, hex: string): string {
  return join(r.app.stateDir, "packed", hex);
}

async function packedJobOf(r: RouteRequest, digest: string) {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  const dir = m ? packedDir(r, m[1]!) : undefined;
  if (!dir || !existsSync(join(dir, "job.json"))) {
    throw new CleanRoomError("not-found", `No packed job ${digest} in this console: pack it again on the Workspace page`);
  }
  return { dir, job: await loadPackedJob(dir) };
}

/** The local room's request store: approvals asked for from the workspace land where the provider's console looks. */
function localRequestsEnabled(r: RouteRequest): boolean {
  return r.app.descriptor().platform === "local";
}

export const workspaceRoutes: readonly Route[] = [
  {
    method: "GET",
    pattern: /^workspace$/,
    async handle(r) {
      const d = r.app.descriptor();
      const entrypoints = r.app.workspace ? await findEntrypoints(r.app.workspace) : [];
      return htmlReply(workspacePage(r.ctx, d, r.app.workspace, entrypoints, await stage1Datasets(d)));
    },
  },
  {
    method: "POST",
    pattern: /^workspace\/pack$/,
    async handle(r) {
      const ws = r.app.workspace;
      if (!ws) throw new CleanRoomError("invalid-argument", "This console has no workspace: start it with --workspace <folder of your job sources>");
      const chosen = r.form.get("entrypoint") ?? "";
      const entry = (await findEntrypoints(ws)).find((e) => e.path === chosen);
      if (!entry) {
        r.flash({ kind: "error", text: chosen ? `${chosen} is not an entrypoint of the workspace (a .py, .js or .ipynb file): pick one from the list` : "Pick an entrypoint: the workspace has none, or none was selected" });
        return redirect(`${r.app.base}workspace`);
      }
      const d = r.app.descriptor();
      const known = new Set(d.providers.flatMap((p) => p.datasets.map((x) => `${p.name}/${x.name}`)));
      const inputs = r.form.getAll("input");
      const unknown = inputs.filter((i) => !known.has(i));
      if (inputs.length === 0 || unknown.length > 0) {
        r.flash({ kind: "error", text: inputs.length === 0 ? "Pick at least one input dataset: a job must say which data it reads" : `Unknown input(s) ${unknown.join(", ")}: pick datasets of this room` });
        return redirect(`${r.app.base}workspace`);
      }
      const staging = join(r.app.stateDir, "packed", `.staging-${randomBytes(6).toString("hex")}`);
      try {
        const job = await packJob(join(ws, ...entry.folder.split("/").filter(Boolean)), { entrypoint: entry.file, inputs, outDir: staging });
        await writeFile(join(staging, "origin.json"), `${JSON.stringify({ folder: entry.folder, file: entry.file })}\n`);
        const final = packedDir(r, job.jobDigest.slice(7));
        await rm(final, { recursive: true, force: true });
        await rename(staging, final);
        return redirect(`${r.app.base}workspace/packed/${job.jobDigest.slice(7)}`);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^workspace/packed/${HEX}$`),
    async handle(r) {
      const digest = `sha256:${r.params[0]}`;
      const { dir, job } = await packedJobOf(r, digest);
      const origin = JSON.parse(await readFile(join(dir, "origin.json"), "utf8").catch(() => "{}")) as { folder?: string; file?: string };
      const local = localRequestsEnabled(r);
      const requested = local && existsSync(join(r.app.requests.dir, r.params[0]!, "request.json"));
      return htmlReply(
        packedPage(r.ctx, r.app.descriptor(), { digest, manifest: job.manifest, folder: origin.folder ?? "", file: origin.file ?? "", localRequests: local, requested }),
      );
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^workspace/packed/${HEX}/archive$`),
    async handle(r) {
      const { job } = await packedJobOf(r, `sha256:${r.params[0]}`);
      await mkdir(join(r.app.stateDir, "tmp"), { recursive: true, mode: 0o700 });
      const dest = join(r.app.stateDir, "tmp", `review-${randomBytes(6).toString("hex")}.tar`);
      await RequestStore.writeArchive(job, dest);
      const data = await readFile(dest);
      await rm(dest, { force: true });
      return downloadReply(`job-${r.params[0]!.slice(0, 12)}.review.tar`, data, "application/x-tar");
    },
  },
  {
    method: "POST",
    pattern: /^workspace\/submit$/,
    async handle(r) {
      const { job } = await packedJobOf(r, r.form.get("digest") ?? "");
      const sub = await submitJob(r.app.descriptor(), job);
      r.flash({ kind: "ok", text: `Submitted ${sub.jobId} (${sub.jobDigest}).` });
      return redirect(`${r.app.base}jobs/${sub.jobId}`);
    },
  },
  {
    method: "POST",
    pattern: /^workspace\/request$/,
    async handle(r) {
      if (!localRequestsEnabled(r)) throw new CleanRoomError("invalid-argument", "On a GCP room, send the provider the digest and the \"Download for review\" archive; they add it on their Provider page");
      const digest = r.form.get("digest") ?? "";
      const { job } = await packedJobOf(r, digest);
      await r.app.requests.add(job);
      r.flash({ kind: "ok", text: `Approval requested for ${digest}: the providers see it on their Provider page.` });
      return redirect(`${r.app.base}workspace/packed/${digest.slice(7)}`);
    },
  },
  {
    method: "GET",
    // A stand-in's file: served only when the stand-in's manifest names it (so nothing else under stage 1 is reachable).
    pattern: /^stage1\/([a-z0-9-]+)\/([A-Za-z0-9_.-]+)\/stand-in\/(.+)$/,
    async handle(r) {
      const [provider, dataset, encoded] = r.params as [string, string, string];
      let path: string;
      try {
        path = encoded.split("/").map(decodeURIComponent).join("/");
      } catch {
        throw new CleanRoomError("not-found", `${provider}/${dataset} has no published stand-in file by that name`);
      }
      const where = await standInFileLocation(r.app.descriptor(), provider, dataset, path);
      if (!where) throw new CleanRoomError("not-found", `${provider}/${dataset} has no published stand-in file by that name`);
      const data = await readSmallObject(where, 64 * 1024 * 1024);
      if (!data) throw new CleanRoomError("not-found", `${provider}/${dataset}'s stand-in lists that file but it is missing from stage 1: ask ${provider} to publish it again`);
      return downloadReply(`${provider}-${dataset}-${path.split("/").join("-")}`, data);
    },
  },
  {
    method: "GET",
    pattern: /^stage1\/([a-z0-9-]+)\/([A-Za-z0-9_.-]+)\/([a-z0-9.-]+)$/,
    async handle(r) {
      const [provider, dataset, name] = r.params as [string, string, string];
      const where = stage1ArtefactLocation(r.app.descriptor(), provider, dataset, name);
      if (!where) throw new CleanRoomError("not-found", `No stage-1 artefact ${provider}/${dataset}/${name} in this room`);
      const data = await readSmallObject(where, 64 * 1024 * 1024);
      if (!data) throw new CleanRoomError("not-found", `${provider}/${dataset} has no ${name} yet: the provider produces it with \`cleanroom data provision\``);
      return downloadReply(`${provider}-${dataset}-${name}`, data, name.endsWith(".csv") ? "text/csv; charset=utf-8" : "application/json");
    },
  },
];

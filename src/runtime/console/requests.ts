/**
 * Approval requests: packed jobs (their `bundle.tar` and `job.json`) that a data scientist sent a provider to review.
 * A request is accepted only when its bundle is exactly what its digest names (every file's sha256 and size against
 * the manifest, the manifest against the digest), so the files a provider reads are the files the digest approves.
 *
 * Layout: `<dir>/<digest hex>/{bundle.tar, job.json, request.json}`. Local rooms keep requests in the room's
 * directory (every role of a local room is on this machine); on GCP a provider adds the request archive they were
 * sent (the Workspace page's "Download for review").
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import { canonicalJson, type JobManifest, jobDigest, jobManifestProblems } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { PackedJob } from "../platforms/platform.js";

/** Files larger than this are compared by digest only (not shown as text). */
export const MAX_TEXT_BYTES = 256 * 1024;
/** A bundle larger than this is not read for review. */
const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

/** One approval request. */
export interface ApprovalRequest {
  readonly digest: string;
  readonly requestedAt: string;
  readonly manifest: JobManifest;
  readonly dir: string;
}

/** The content of one bundle file, for review. */
export type BundleFile = { readonly text: string } | { readonly binary: true; readonly bytes: number };

function hexOf(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new CleanRoomError("invalid-argument", `${JSON.stringify(digest)} is not a job digest (sha256:<64 hex>)`);
  return m[1]!;
}

/** Reads every file of a tar, calling `onFile` with its name and content (bounded). */
async function readTar(path: string, onFile: (name: string, data: Buffer) => void, maxFileBytes: number): Promise<void> {
  const ex = tarExtract();
  const done = new Promise<void>((resolveP, reject) => {
    ex.on("entry", (header, stream, next) => {
      // A bad entry rejects at once; the rest of the tar is drained so the file is closed.
      const drain = () => {
        stream.on("end", () => next());
        stream.resume();
      };
      if (header.type !== "file") {
        drain();
        reject(new CleanRoomError("invalid-argument", `The bundle holds ${header.name}, which is not a regular file`));
        return;
      }
      if ((header.size ?? 0) > maxFileBytes) {
        drain();
        reject(new CleanRoomError("invalid-argument", `${header.name} is ${header.size} bytes; at most ${maxFileBytes} are accepted here`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        onFile(header.name, Buffer.concat(chunks));
        next();
      });
      stream.on("error", reject);
    });
    ex.on("finish", resolveP);
    ex.on("error", reject);
  });
  const piped = pipeline(createReadStream(path), ex);
  await Promise.all([piped, done]).catch(async (err: unknown) => {
    await piped.catch(() => undefined);
    throw err;
  });
}

/** Checks a bundle against its manifest: the same files, sizes and sha256. Returns the files' contents. */
async function checkBundle(bundlePath: string, manifest: JobManifest): Promise<Map<string, Buffer>> {
  const st = await stat(bundlePath).catch(() => undefined);
  if (!st?.isFile()) throw new CleanRoomError("invalid-argument", "The request has no bundle.tar");
  if (st.size > MAX_BUNDLE_BYTES) throw new CleanRoomError("invalid-argument", `The bundle is ${st.size} bytes; at most ${MAX_BUNDLE_BYTES} are reviewed here`);
  const files = new Map<string, Buffer>();
  await readTar(bundlePath, (name, data) => files.set(name, data), MAX_BUNDLE_BYTES);
  const problems: string[] = [];
  for (const f of manifest.files) {
    const data = files.get(f.path);
    if (!data) problems.push(`${f.path} is in job.json but not in the bundle`);
    else if (data.length !== f.bytes || createHash("sha256").update(data).digest("hex") !== f.sha256) problems.push(`${f.path} differs from job.json`);
  }
  for (const name of files.keys()) if (!manifest.files.some((f) => f.path === name)) problems.push(`${name} is in the bundle but not in job.json`);
  if (problems.length > 0) {
    throw new CleanRoomError("digest-mismatch", `The bundle does not match its job digest: ${problems.slice(0, 5).join("; ")}. Ask for the packed job again.`, { problems });
  }
  return files;
}

function parseManifest(text: string): JobManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `job.json is not JSON (${messageOf(err)})`);
  }
  const problems = jobManifestProblems(v);
  if (problems.length > 0) throw new CleanRoomError("invalid-manifest", `job.json is not a job manifest: ${problems.join("; ")}`, { problems });
  return v as JobManifest;
}

/** The approval requests in a directory. */
export class RequestStore {
  constructor(readonly dir: string) {}

  /** Adds a packed job (from `packJob`) after checking it; returns its digest. Adding the same digest again is a no-op. */
  async add(job: PackedJob): Promise<string> {
    const manifest = parseManifest(canonicalJson(job.manifest));
    const digest = jobDigest(manifest);
    if (digest !== job.jobDigest) throw new CleanRoomError("digest-mismatch", `The packed job says ${job.jobDigest} but its manifest is ${digest}; pack it again`);
    await checkBundle(job.bundlePath, manifest);
    const final = join(this.dir, hexOf(digest));
    if ((await stat(join(final, "request.json")).catch(() => undefined))?.isFile()) return digest;
    await mkdir(this.dir, { recursive: true });
    const staging = join(this.dir, `.staging-${randomBytes(6).toString("hex")}`);
    await mkdir(staging);
    try {
      await copyFile(job.bundlePath, join(staging, "bundle.tar"));
      await writeFile(join(staging, "job.json"), `${canonicalJson(manifest)}\n`);
      await writeFile(join(staging, "request.json"), `${JSON.stringify({ digest, requestedAt: new Date().toISOString() }, null, 2)}\n`);
      await rm(final, { recursive: true, force: true });
      await rename(staging, final);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return digest;
  }

  /**
   * Adds a request archive (a tar holding `bundle.tar` and `job.json`, as "Download for review" makes it) after
   * checking it; nothing is stored when it does not check.
   */
  async addArchive(archivePath: string): Promise<string> {
    const tmp = join(this.dir, `.upload-${randomBytes(6).toString("hex")}`);
    await mkdir(tmp, { recursive: true });
    try {
      let manifestText: string | undefined;
      let bundle: Buffer | undefined;
      await readTar(
        archivePath,
        (name, data) => {
          if (name === "job.json") manifestText = data.toString("utf8");
          else if (name === "bundle.tar") bundle = data;
        },
        MAX_BUNDLE_BYTES,
      ).catch((err: unknown) => {
        throw new CleanRoomError("invalid-argument", `This is not a job archive to review (a tar with bundle.tar and job.json): ${messageOf(err)}`);
      });
      if (manifestText === undefined || bundle === undefined) {
        throw new CleanRoomError("invalid-argument", "This is not a job archive to review: it must hold bundle.tar and job.json (the Workspace page's \"Download for review\")");
      }
      const manifest = parseManifest(manifestText);
      await writeFile(join(tmp, "bundle.tar"), bundle);
      return await this.add({ bundlePath: join(tmp, "bundle.tar"), manifest, jobDigest: jobDigest(manifest) });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Every request, newest first. */
  async list(): Promise<ApprovalRequest[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: ApprovalRequest[] = [];
    for (const n of names) {
      if (!/^[0-9a-f]{64}$/.test(n)) continue;
      const r = await this.get(`sha256:${n}`).catch(() => undefined);
      if (r) out.push(r);
    }
    return out.sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : -1));
  }

  /** One request. @throws CleanRoomError `not-found` */
  async get(digest: string): Promise<ApprovalRequest> {
    const dir = join(this.dir, hexOf(digest));
    let meta: { requestedAt?: unknown };
    let manifest: JobManifest;
    try {
      meta = JSON.parse(await readFile(join(dir, "request.json"), "utf8")) as { requestedAt?: unknown };
      manifest = parseManifest(await readFile(join(dir, "job.json"), "utf8"));
    } catch (err) {
      throw new CleanRoomError("not-found", `No approval request for ${digest}: ask the data scientist for the packed job (${messageOf(err)})`);
    }
    if (jobDigest(manifest) !== digest) throw new CleanRoomError("digest-mismatch", `The stored request ${dir} does not match ${digest}; delete it`);
    return { digest, requestedAt: typeof meta.requestedAt === "string" ? meta.requestedAt : "", manifest, dir };
  }

  /** The bundle's files (checked against the manifest), as text when small and UTF-8, else by size. */
  async files(r: ApprovalRequest): Promise<Map<string, BundleFile>> {
    const raw = await checkBundle(join(r.dir, "bundle.tar"), r.manifest);
    const out = new Map<string, BundleFile>();
    for (const [name, data] of raw) {
      const text = data.length <= MAX_TEXT_BYTES && !data.includes(0) ? data.toString("utf8") : undefined;
      out.set(name, text !== undefined && !text.includes("\uFFFD") ? { text } : { binary: true, bytes: data.length });
    }
    return out;
  }

  /** Writes the request archive (`bundle.tar` + `job.json` in one tar) that a provider can add to their console. */
  static async writeArchive(job: PackedJob, dest: string): Promise<void> {
    const tar = tarPack();
    const done = pipeline(tar, createWriteStream(dest, { mode: 0o600 }));
    const manifest = Buffer.from(`${canonicalJson(job.manifest)}\n`);
    tar.entry({ name: "job.json", size: manifest.length, mode: 0o644, mtime: new Date(0) }, manifest);
    const bundle = await readFile(job.bundlePath);
    tar.entry({ name: "bundle.tar", size: bundle.length, mode: 0o644, mtime: new Date(0) }, bundle);
    tar.finalize();
    await done;
  }
}

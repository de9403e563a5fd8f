/**
 * Directory "buckets": reading objects and writing a job result that becomes visible with one rename.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { cp, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import type { ResultWriter } from "../platform.js";
import { uriToPath } from "./layout.js";

/**
 * Opens a file object for reading.
 *
 * @throws CleanRoomError `not-found`
 */
export async function readLocalObject(uri: string): Promise<Readable> {
  const p = uriToPath(uri);
  const st = await lstat(p).catch(() => undefined);
  if (!st?.isFile()) throw new CleanRoomError("not-found", `${uri} does not exist (or is not a regular file)`);
  return createReadStream(p);
}

/** Checks a result-relative path: POSIX, relative, no `..`, no empty segments. */
export function checkRelativePath(rel: string): string {
  const norm = posix.normalize(rel);
  if (rel.length === 0 || rel.startsWith("/") || norm !== rel || rel.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new CleanRoomError("invalid-argument", `Result path ${JSON.stringify(rel)} must be relative, normalized and stay inside the result`);
  }
  return rel;
}

/**
 * A result assembled in `<quarantine>/.staging-<jobId>-<random>` and renamed to `<quarantine>/<jobId>` on commit:
 * readers never see a partial result, and a crash leaves only a staging directory, which nobody reads.
 */
export class LocalResultWriter implements ResultWriter {
  private readonly staging: string;
  private done = false;

  constructor(private readonly finalDir: string) {
    this.staging = join(dirname(finalDir), `.staging-${basename(finalDir)}-${randomBytes(6).toString("hex")}`);
  }

  async write(relativePath: string, from: Readable | Buffer): Promise<void> {
    if (this.done) throw new CleanRoomError("invalid-argument", "The result was already committed or aborted");
    const dest = join(this.staging, ...checkRelativePath(relativePath).split("/"));
    await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
    try {
      if (Buffer.isBuffer(from)) await writeFile(dest, from, { mode: 0o644, flag: "wx" });
      else await pipeline(from, createWriteStream(dest, { mode: 0o644, flags: "wx" }));
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot write ${relativePath} of the result: ${messageOf(err)}`, { cause: err });
    }
  }

  async commit(): Promise<void> {
    if (this.done) throw new CleanRoomError("invalid-argument", "The result was already committed or aborted");
    await mkdir(this.staging, { recursive: true });
    if (existsSync(this.finalDir)) {
      await this.abort();
      throw new CleanRoomError("already-exists", `A result already exists at ${this.finalDir}; a job's result is written once`);
    }
    await rename(this.staging, this.finalDir);
    this.done = true;
  }

  async abort(): Promise<void> {
    this.done = true;
    await rm(this.staging, { recursive: true, force: true });
  }
}

/** Copies a directory tree (regular files and directories only). */
export async function copyTree(src: string, dest: string): Promise<void> {
  await cp(src, dest, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true });
}

/** Lists the entries of a directory, or [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Reads a whole (small) stream into a buffer: for job.json, key.wrapped, manifest.json only, never datasets. */
export async function readSmall(stream: Readable, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new CleanRoomError("invalid-argument", `object larger than ${limit} bytes where a small metadata file was expected`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

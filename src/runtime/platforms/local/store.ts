/**
 * Directory "buckets": reading objects and writing a job result that becomes visible with one rename.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { cp, lstat, mkdir, readdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { UNPRINTABLE_PATTERN } from "../../../core/receipt.js";
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

/** Checks a result-relative path: POSIX, relative, no `..`, no empty segments, no backslash or control character. */
export function checkRelativePath(rel: string): string {
  const norm = posix.normalize(rel);
  if (rel.length === 0 || rel.startsWith("/") || norm !== rel || rel.includes("\\") || UNPRINTABLE_PATTERN.test(rel) || rel.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new CleanRoomError("invalid-argument", `Result path ${JSON.stringify(rel)} must be relative, normalized and stay inside the result`);
  }
  return rel;
}

/**
 * `<quarantine>/.staging-<jobId>`: everything of a job's result before it is visible. The executor's sandbox can write
 * only there (not the rest of quarantine), and the launcher removes exactly this directory after the job: job ids
 * never hold a `/`, so one job's staging can never be mistaken for another's.
 */
export function stagingDirOf(quarantineDir: string, jobId: string): string {
  return join(quarantineDir, `.staging-${jobId}`);
}

/**
 * `<quarantine>/.staging-<jobId>/result`: where the executor seals a complete result (one rename); the launcher makes it
 * visible at `<quarantine>/<jobId>` (one more rename) once the executor has exited.
 */
export function sealedResultDir(quarantineDir: string, jobId: string): string {
  return join(stagingDirOf(quarantineDir, jobId), "result");
}

/**
 * A result assembled in a private directory under `stagingParent` and renamed to `finalDir` on commit: readers never
 * see a partial result, and a crash leaves only a staging directory, which nobody reads.
 */
export class LocalResultWriter implements ResultWriter {
  private readonly staging: string;
  private done = false;

  /**
   * @param finalDir where the result becomes visible
   * @param stagingParent where it is assembled @default `<parent of finalDir>/.staging-<basename of finalDir>`
   */
  constructor(
    private readonly finalDir: string,
    private readonly stagingParent = join(dirname(finalDir), `.staging-${basename(finalDir)}`),
  ) {
    this.staging = join(stagingParent, `tmp-${randomBytes(6).toString("hex")}`);
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
    // Tidy: the staging parent is empty now unless it is the executor's own (bound) staging directory.
    if (!isUnder(this.finalDir, this.stagingParent)) await rmdir(this.stagingParent).catch(() => undefined);
  }

  async abort(): Promise<void> {
    this.done = true;
    await rm(this.staging, { recursive: true, force: true });
  }
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
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

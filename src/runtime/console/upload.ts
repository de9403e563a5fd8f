/**
 * Uploads: a result folder (the files of a directory picked in the browser) or one archive (.zip, .tar, .tar.gz,
 * .tgz), streamed to a private temporary directory with limits on size and count, and every path checked (no
 * absolute paths, no `..`, no links), so an upload can never write outside its directory. The caller removes the
 * directory when done, whatever happened.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { dirname, join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Busboy } from "@fastify/busboy";
import { extract as tarExtract } from "tar-stream";
import * as yauzl from "yauzl";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { CSRF_FIELD } from "./auth.js";

/** Limits of one upload. */
export interface UploadLimits {
  readonly maxBytes: number;
  readonly maxFiles: number;
}

/** Default limits: results are outputs of one job. */
export const UPLOAD_LIMITS: UploadLimits = { maxBytes: 512 * 1024 * 1024, maxFiles: 10_000 };

/** What was uploaded: form fields and files (paths relative to `dir`). */
export interface Upload {
  readonly dir: string;
  readonly fields: ReadonlyMap<string, string>;
  readonly files: ReadonlyArray<{ readonly field: string; readonly path: string; readonly bytes: number }>;
}

/** A relative POSIX path that stays inside its directory, or undefined. */
export function safeRelativePath(name: string): string | undefined {
  const p = name.replace(/\\/g, "/");
  if (p.startsWith("/") || /^[a-zA-Z]:/.test(p)) return undefined;
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.length === 0 || parts.some((s) => s === ".." || s.includes("\0"))) return undefined;
  return parts.join("/");
}

function tooBig(limits: UploadLimits): CleanRoomError {
  return new CleanRoomError("invalid-argument", `The upload is larger than ${limits.maxBytes} bytes or holds more than ${limits.maxFiles} files`);
}

/**
 * Receives a multipart upload into `dir`. The CSRF token must be the form's first field: no file is written before
 * `checkCsrf` accepts it.
 */
export async function receiveUpload(req: IncomingMessage, dir: string, checkCsrf: (token: string | undefined) => string | undefined, limits = UPLOAD_LIMITS): Promise<Upload> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const fields = new Map<string, string>();
  const files: Array<{ field: string; path: string; bytes: number }> = [];
  let verified = false;
  let total = 0;
  const writes: Promise<void>[] = [];
  await new Promise<void>((resolveP, reject) => {
    let bb: ReturnType<typeof Busboy>;
    try {
      bb = Busboy({ headers: req.headers as never, preservePath: true, limits: { fileSize: limits.maxBytes, files: limits.maxFiles, fields: 20, fieldSize: 4096 } });
    } catch (err) {
      reject(new CleanRoomError("invalid-argument", `Not a file upload (multipart/form-data expected): ${messageOf(err)}`));
      return;
    }
    const fail = (err: CleanRoomError) => {
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on("field", (name: string, value: string) => {
      if (!verified && name === CSRF_FIELD) {
        const problem = checkCsrf(value);
        if (problem) return fail(new CleanRoomError("denied", problem));
        verified = true;
        return;
      }
      fields.set(name, value);
    });
    bb.on("file", (field: string, stream: Readable & { truncated?: boolean }, filename: string) => {
      if (!verified) {
        stream.resume();
        return fail(new CleanRoomError("denied", checkCsrf(undefined) ?? "The upload form must send its CSRF token first: reload the page"));
      }
      if (!filename) {
        stream.resume();
        return;
      }
      const rel = safeRelativePath(filename);
      if (!rel) {
        stream.resume();
        return fail(new CleanRoomError("invalid-argument", `Refused the file name ${JSON.stringify(filename)}: it leaves the upload's folder`));
      }
      const dest = join(dir, "files", ...rel.split("/"));
      let bytes = 0;
      // Counted inside the pipeline: a "data" listener added before the pipe would lose the chunks it saw.
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          total += chunk.length;
          cb(total > limits.maxBytes ? tooBig(limits) : null, chunk);
        },
      });
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      writes.push(
        pipeline(stream, counter, createWriteStream(dest, { flags: "wx", mode: 0o600 })).then(() => {
          if (stream.truncated) throw tooBig(limits);
          files.push({ field, path: rel, bytes });
        }),
      );
    });
    bb.on("filesLimit", () => fail(tooBig(limits)));
    bb.on("error", (err: unknown) => fail(new CleanRoomError("invalid-argument", `The upload could not be read: ${messageOf(err)}`)));
    bb.on("finish", () => resolveP());
    req.pipe(bb);
  });
  const settled = await Promise.allSettled(writes);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    const reason = (failed as PromiseRejectedResult).reason;
    throw reason instanceof CleanRoomError ? reason : new CleanRoomError("invalid-argument", `The upload could not be stored: ${messageOf(reason)}`);
  }
  if (!verified) throw new CleanRoomError("denied", checkCsrf(undefined) ?? "The form's CSRF token is missing: reload the page");
  return { dir, fields, files };
}

async function extractTar(source: Readable, dest: string, limits: UploadLimits): Promise<void> {
  const ex = tarExtract();
  let total = 0;
  let count = 0;
  // The first problem stops extraction (every later entry is drained unread) and is thrown once the tar is consumed.
  let failure: unknown;
  ex.on("entry", (header, stream, next) => {
    const skip = (err?: unknown) => {
      if (err !== undefined && failure === undefined) failure = err;
      stream.on("end", () => next());
      stream.resume();
    };
    if (failure !== undefined || header.type === "directory") return skip();
    const rel = safeRelativePath(header.name);
    if (header.type !== "file" || !rel) return skip(new CleanRoomError("invalid-argument", `The archive holds ${JSON.stringify(header.name)}, which is not a regular file inside the archive`));
    count += 1;
    total += header.size ?? 0;
    if (count > limits.maxFiles || total > limits.maxBytes) return skip(tooBig(limits));
    const out = join(dest, ...rel.split("/"));
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    pipeline(stream, createWriteStream(out, { flags: "wx", mode: 0o600 })).then(
      () => next(),
      (err: unknown) => {
        failure ??= err;
        next();
      },
    );
  });
  await pipeline(source, ex);
  if (failure !== undefined) throw failure;
}

async function extractZip(path: string, dest: string, limits: UploadLimits): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolveP, reject) =>
    // yauzl refuses absolute and `..` entry names itself (validateEntrySizes and strictFileNames too).
    yauzl.open(path, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true }, (err, z) => (err || !z ? reject(err) : resolveP(z))),
  );
  let total = 0;
  let count = 0;
  await new Promise<void>((resolveP, reject) => {
    const fail = (err: unknown) => {
      zip.close();
      reject(err);
    };
    zip.on("entry", (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith("/")) return zip.readEntry();
      const rel = safeRelativePath(entry.fileName);
      // Unix mode in the high 16 bits of the external attributes: refuse symlinks.
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (!rel || (mode !== 0 && mode !== 0o100000)) return fail(new CleanRoomError("invalid-argument", `The archive holds ${JSON.stringify(entry.fileName)}, which is not a regular file inside the archive`));
      count += 1;
      total += entry.uncompressedSize;
      if (count > limits.maxFiles || total > limits.maxBytes) return fail(tooBig(limits));
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return fail(err);
        const out = join(dest, ...rel.split("/"));
        mkdir(dirname(out), { recursive: true, mode: 0o700 })
          .then(() => pipeline(stream, createWriteStream(out, { flags: "wx", mode: 0o600 })))
          .then(() => zip.readEntry(), fail);
      });
    });
    zip.on("end", () => resolveP());
    zip.on("error", fail);
    zip.readEntry();
  });
}

/** The archive kinds accepted, by file name. */
export function archiveKind(name: string): "zip" | "tar" | "tgz" | undefined {
  const n = name.toLowerCase();
  if (n.endsWith(".zip")) return "zip";
  if (n.endsWith(".tar.gz") || n.endsWith(".tgz")) return "tgz";
  if (n.endsWith(".tar")) return "tar";
  return undefined;
}

/**
 * Turns an upload into a directory: a single archive is extracted, a folder is used as uploaded. Returns the
 * directory that holds the uploaded tree.
 *
 * @throws CleanRoomError `invalid-argument` for a broken archive or unsafe entries
 */
export async function uploadedTree(upload: Upload, limits = UPLOAD_LIMITS): Promise<string> {
  const files = join(upload.dir, "files");
  const only = upload.files.length === 1 ? upload.files[0]! : undefined;
  const kind = only ? archiveKind(only.path) : undefined;
  if (!only || !kind) return files;
  const src = join(files, ...only.path.split("/"));
  const dest = join(upload.dir, "extracted");
  await mkdir(dest, { recursive: true, mode: 0o700 });
  try {
    if (kind === "zip") await extractZip(src, dest, limits);
    else {
      const { createReadStream } = await import("node:fs");
      const input = createReadStream(src);
      await extractTar(kind === "tgz" ? input.pipe(createGunzip()) : input, dest, limits);
    }
  } catch (err) {
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("invalid-argument", `${only.path} could not be read as a ${kind === "tgz" ? "gzipped tar" : kind} archive: ${messageOf(err)}`);
  }
  return dest;
}

/**
 * Finds the result inside an uploaded tree: the directory holding `receipt.json` (the tree itself, or its only
 * top-level folder, as a browser's folder upload or an archive of the folder gives it).
 */
export async function findResultRoot(tree: string, receiptName: string): Promise<string | undefined> {
  if ((await stat(join(tree, receiptName)).catch(() => undefined))?.isFile()) return tree;
  const entries = await readdir(tree, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory());
  if (dirs.length === 1 && entries.length === 1) {
    const inner = join(tree, dirs[0]!.name);
    if ((await stat(join(inner, receiptName)).catch(() => undefined))?.isFile()) return inner;
  }
  return undefined;
}

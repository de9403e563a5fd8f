/**
 * Cloud Storage operations of the runtime: create-only uploads checked twice (the object metadata declares the MD5 of
 * the bytes, so GCS refuses an object whose bytes differ; the client compares its own CRC32C of what it sent with the
 * CRC32C GCS computed), CRC32C-validated downloads, lists, server-side copies — each with the runtime's retry policy
 * and an error that names the missing role.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Storage } from "@google-cloud/storage";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { type GcpCallContext, classifyGcpError, gcpError, inspectGcpError } from "./errors.js";
import { type RetryPolicy, withRetry } from "./retry.js";
import { parseGsUri } from "./uri.js";

/** Objects up to this size go in one multipart request; larger ones use a resumable session. */
export const MULTIPART_LIMIT = 5 * 1024 * 1024;

/** Options of an upload. */
export interface UploadOptions {
  /** The role that allows the upload, named in errors. */
  readonly role: string;
  /** Refuse to replace an existing object (`ifGenerationMatch: 0`). @default true */
  readonly createOnly?: boolean;
  readonly contentType?: string;
  /** Called with the bytes sent so far (resumable uploads). */
  readonly onProgress?: (bytes: number) => void;
  /** Use a resumable session whatever the size. @default - resumable above 5 MiB */
  readonly resumable?: boolean;
  /**
   * Bytes per request of a resumable session (a multiple of 256 KiB): a failed request re-sends only its chunk, from
   * the offset GCS acknowledged, and the client buffers one chunk. @default - the whole object in one streamed request
   */
  readonly chunkSize?: number;
}

/** Base64 MD5 of a file, streamed (GCS's `md5Hash` encoding). */
export async function md5OfFile(path: string): Promise<string> {
  const h = createHash("md5");
  for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
  return h.digest("base64");
}

/** Cloud Storage as the runtime uses it. */
export class GcsStore {
  constructor(
    readonly storage: Storage,
    private readonly retry: RetryPolicy,
    private readonly project?: string,
  ) {}

  private ctx(action: string, role?: string): GcpCallContext {
    return { action, api: "storage.googleapis.com", ...(role ? { role } : {}), ...(this.project ? { project: this.project } : {}) };
  }

  private file(uri: string) {
    const { bucket, name } = parseGsUri(uri);
    if (name === "") throw new CleanRoomError("invalid-argument", `${uri} names a bucket, not an object`);
    return this.storage.bucket(bucket).file(name);
  }

  /** Uploads bytes in one multipart request (small objects: manifests, keys, receipts). */
  async putBuffer(uri: string, data: Buffer, options: UploadOptions): Promise<void> {
    const file = this.file(uri);
    await withRetry(this.ctx(`write ${uri}`, options.role), this.retry, () =>
      file.save(data, {
        resumable: false,
        // The client hashes what it sent and compares with the server's crc32c: a corrupted upload is an error.
        validation: "crc32c",
        // ... and GCS refuses bytes whose MD5 differs from the one declared here.
        metadata: { md5Hash: createHash("md5").update(data).digest("base64"), ...(options.contentType ? { contentType: options.contentType } : {}) },
        ...(options.contentType ? { contentType: options.contentType } : {}),
        ...(options.createOnly === false ? {} : { preconditionOpts: { ifGenerationMatch: 0 } }),
      }),
    );
  }

  /**
   * Uploads a stream; `open` is called again for each attempt. Large objects go through a resumable session
   * (created explicitly so that it is authenticated even against a test endpoint).
   *
   * @param md5Hash base64 MD5 of the bytes `open` yields; declared in the object metadata so GCS verifies it
   */
  async putStream(uri: string, open: () => Readable, size: number | undefined, md5Hash: string | undefined, options: UploadOptions): Promise<void> {
    const file = this.file(uri);
    // One resumable session for every attempt: a chunk that fails (a 503, a reset) is re-sent from the offset GCS
    // acknowledged (the client asks the session, then skips what it already has), not the whole object again. A
    // session GCS no longer knows, or an attempt refused for good (e.g. a corrupt upload), starts a fresh one.
    let session: string | undefined;
    await withRetry(this.ctx(`write ${uri}`, options.role), this.retry, async () => {
      const precondition = options.createOnly === false ? {} : { preconditionOpts: { ifGenerationMatch: 0 } };
      const fields = { ...(options.contentType ? { contentType: options.contentType } : {}), ...(md5Hash ? { md5Hash } : {}) };
      const metadata = Object.keys(fields).length > 0 ? { metadata: fields } : {};
      if (options.resumable !== true && size !== undefined && size <= MULTIPART_LIMIT) {
        const out = file.createWriteStream({ resumable: false, validation: "crc32c", ...precondition, ...metadata });
        await pipeline(open(), out);
        options.onProgress?.(size);
        return;
      }
      session ??= (await file.createResumableUpload({ ...precondition, ...metadata }))[0];
      const out = file.createWriteStream({ uri: session, resumable: true, validation: "crc32c", ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}), ...precondition, ...metadata });
      if (options.onProgress) out.on("progress", (p: { bytesWritten?: number }) => options.onProgress?.(Number(p.bytesWritten ?? 0)));
      try {
        await pipeline(open(), out);
      } catch (err) {
        // The session's own error ("Retry limit exceeded - status: 503 - …") carries the status only in its text.
        const status = /^Retry (total time )?limit exceeded - status: (\d{3})\b/.exec(messageOf(err))?.[2];
        if (status !== undefined && err !== null && typeof err === "object" && !("code" in err)) Object.assign(err, { code: Number(status) });
        const kind = classifyGcpError(inspectGcpError(err));
        if (kind !== "unavailable" && kind !== "rate-limit") session = undefined;
        throw err;
      }
    });
  }

  /**
   * Uploads a local file (resumable above 5 MiB, or always with `resumable: true`), with progress and both checks.
   *
   * @param options.md5Hash the file's base64 MD5 when the caller computed it while writing the file (provisioning's
   *   encryption does); read from the file otherwise. GCS refuses the upload if the bytes it received differ.
   */
  async putFile(uri: string, path: string, options: UploadOptions & { readonly md5Hash?: string }): Promise<void> {
    const { size } = await stat(path);
    const { md5Hash, ...upload } = options;
    const md5 = md5Hash ?? (await md5OfFile(path));
    await this.putStream(uri, () => createReadStream(path, { highWaterMark: 1024 * 1024 }), size, md5, upload);
  }

  /**
   * Opens an object for reading. Existence is checked first (so a missing object is a `not-found` error, not a
   * stream error); the bytes are CRC32C-checked against the object's metadata as they stream.
   */
  async open(uri: string, role: string): Promise<Readable> {
    const file = this.file(uri);
    const ctx = this.ctx(`read ${uri}`, role);
    await withRetry(ctx, this.retry, () => file.getMetadata());
    const src = file.createReadStream({ validation: "crc32c" });
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    src.on("error", (err: unknown) => out.destroy(gcpError(err, ctx)));
    src.pipe(out);
    return out;
  }

  /** Reads a small object into memory (at most `limit` bytes). */
  async readBuffer(uri: string, role: string, limit = 16 * 1024 * 1024): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of await this.open(uri, role)) {
      n += (c as Buffer).length;
      if (n > limit) throw new CleanRoomError("invalid-argument", `${uri} is larger than ${limit} bytes`);
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Whether an object exists. */
  async exists(uri: string, role: string): Promise<boolean> {
    const file = this.file(uri);
    const [exists] = await withRetry(this.ctx(`look up ${uri}`, role), this.retry, () => file.exists());
    return exists;
  }

  /** Object names (relative to `prefixUri/`) under a prefix. */
  async list(prefixUri: string, role: string): Promise<string[]> {
    const { bucket, name } = parseGsUri(prefixUri);
    const prefix = name === "" ? "" : `${name.replace(/\/+$/, "")}/`;
    const [files] = await withRetry(this.ctx(`list ${prefixUri}`, role), this.retry, () =>
      this.storage.bucket(bucket).getFiles({ prefix, autoPaginate: true }),
    );
    return files.map((f) => f.name.slice(prefix.length)).sort();
  }

  /** Server-side copy (objects.rewrite); the destination must not exist yet. */
  async copy(srcUri: string, dstUri: string, role: string): Promise<void> {
    const src = this.file(srcUri);
    const dst = this.file(dstUri);
    await withRetry(this.ctx(`copy ${srcUri} to ${dstUri}`, role), this.retry, () =>
      src.copy(dst, { preconditionOpts: { ifGenerationMatch: 0 } }),
    );
  }
}

/**
 * Envelope encryption of datasets: the "acr-envelope-v1" streaming format.
 *
 * A dataset is encrypted once, by its provider, with a fresh 32-byte data key; the data key is then wrapped by the
 * provider's key (Cloud KMS on GCP, the key broker locally). The ciphertext is AES-256-GCM in fixed-size segments so
 * that gigabytes stream through a constant amount of memory and every segment is authenticated before a single
 * plaintext byte of it is released.
 *
 * Layout (all integers big-endian):
 *
 * ```
 * header  (20 bytes) = "ACRENV" | version u8 (=1) | flags u8 (=0) | segmentSize u32 | noncePrefix (8 random bytes)
 * segment i          = AES-256-GCM(key, nonce = noncePrefix || i u32, aad = header || i u32 || last u8) || tag (16)
 * ```
 *
 * Every segment but the last holds exactly `segmentSize` plaintext bytes; the last holds 0..segmentSize bytes and is
 * always present (an empty plaintext is one empty last segment). Binding the header, the counter and the last flag
 * into each tag is what detects a flipped header, reordered or dropped segments, and a truncated stream (a prefix of
 * the ciphertext always ends in a segment that was sealed as "not last"). This is the STREAM construction of
 * Hoang–Reyhanitabar–Rogaway–Vizár (as used by Tink's AES-GCM-HKDF streaming AEAD), with a fresh random key per
 * dataset so the 8-byte random nonce prefix never repeats under a key in practice.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CleanRoomError, messageOf } from "../../core/errors.js";

/** Name of the format, recorded in each dataset's `manifest.json`. */
export const ENVELOPE_FORMAT = "acr-envelope-v1";

/** A provisioned dataset's `manifest.json` (beside `data.enc` and `key.wrapped`). */
export interface DatasetManifest {
  /** The envelope format of `data.enc` (`ENVELOPE_FORMAT`). */
  readonly format: string;
  readonly provider: string;
  readonly dataset: string;
  /** The table format of the plaintext: `parquet`; absent for a CSV table (as in every manifest before formats). */
  readonly tableFormat?: string;
  /**
   * `files` for a directory tree (the plaintext is an "acr-tree-v1" container, `tree.ts`); absent for a table. Then
   * `sha256` is the hex of the tree's manifest digest, `bytes` the total of its files and `files` their number.
   */
  readonly kind?: string;
  readonly files?: number;
  /**
   * Plaintext size and lowercase hex sha256. (Manifests written before 2026-12 also carry `ciphertextSha256`, a digest
   * of the ciphertext file that nothing read: each segment's GCM tag already authenticates the ciphertext.)
   */
  readonly bytes: number;
  readonly sha256: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

/** The manifest of a dataset just encrypted by `encryptFile`. */
export function datasetManifest(provider: string, dataset: string, tableFormat: string, enc: { bytes: number; sha256: string }): DatasetManifest {
  return {
    format: ENVELOPE_FORMAT,
    provider,
    dataset,
    ...(tableFormat === "csv" ? {} : { tableFormat }),
    bytes: enc.bytes,
    sha256: enc.sha256,
    createdAt: new Date().toISOString(),
  };
}

/** Default plaintext bytes per segment: large enough that per-segment cost vanishes, small enough to stream. */
export const DEFAULT_SEGMENT_SIZE = 1024 * 1024;
/** Smallest segment size accepted (tests use small segments to exercise boundaries cheaply). */
export const MIN_SEGMENT_SIZE = 64;
/** Largest segment size accepted when decrypting: a hostile header must not make us buffer gigabytes. */
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;

const MAGIC = Buffer.from("ACRENV", "ascii");
const VERSION = 1;
/** Size of the header in bytes. */
export const HEADER_SIZE = MAGIC.length + 1 + 1 + 4 + 8;
/** Size of each segment's GCM tag in bytes. */
export const TAG_SIZE = 16;
const KEY_SIZE = 32;
/** Largest segment counter (u32). */
export const MAX_SEGMENTS = 0xffffffff;

/** Options of `createEncryptStream`. */
export interface EncryptOptions {
  /** Plaintext bytes per segment. @default 1048576 (1 MiB) */
  readonly segmentSize?: number;
}

/** Returns a fresh 32-byte AES-256 data key from the CSPRNG. */
export function generateDataKey(): Buffer {
  return randomBytes(KEY_SIZE);
}

/**
 * Refuses anything but a 32-byte Buffer as a data key.
 *
 * @throws CleanRoomError `invalid-argument`
 */
export function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_SIZE) {
    throw new CleanRoomError(
      "invalid-argument",
      `An envelope data key must be exactly ${KEY_SIZE} bytes (got ${Buffer.isBuffer(key) ? key.length : typeof key}); use generateDataKey()`,
    );
  }
}

/** The additional data of segment `counter`: `header || counter u32 || last u8` (every encryptor must use exactly this). */
export function segmentAad(header: Buffer, counter: number, last: boolean): Buffer {
  const aad = Buffer.allocUnsafe(header.length + 5);
  header.copy(aad, 0);
  aad.writeUInt32BE(counter, header.length);
  aad[header.length + 4] = last ? 1 : 0;
  return aad;
}

/** The 12-byte nonce of segment `counter`: `prefix (8 bytes) || counter u32`. */
export function segmentNonce(prefix: Buffer, counter: number): Buffer {
  const nonce = Buffer.allocUnsafe(12);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(counter, 8);
  return nonce;
}

/**
 * A FIFO of buffers that hands out exact-length runs without concatenating more than it must.
 * Used by both directions to cut the byte stream into segments.
 */
class ChunkQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Removes and returns exactly `n` bytes as a list of slices (n ≤ length). */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[this.head]!;
      if (c.length <= need) {
        out.push(c);
        need -= c.length;
        this.head++;
      } else {
        out.push(c.subarray(0, need));
        this.chunks[this.head] = c.subarray(need);
        need = 0;
      }
    }
    if (this.head > 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.length -= n;
    return out;
  }

  takeAll(): Buffer[] {
    return this.take(this.length);
  }
}

/** A fresh envelope header (random nonce prefix) for `segmentSize` (checked), for one encryption. */
export function newHeader(segmentSize: number = DEFAULT_SEGMENT_SIZE): { readonly segmentSize: number; readonly header: Buffer; readonly noncePrefix: Buffer } {
  if (!Number.isInteger(segmentSize) || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
    throw new CleanRoomError(
      "invalid-argument",
      `segmentSize must be an integer between ${MIN_SEGMENT_SIZE} and ${MAX_SEGMENT_SIZE} (got ${segmentSize})`,
    );
  }
  const noncePrefix = randomBytes(8);
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = VERSION;
  header[MAGIC.length + 1] = 0;
  header.writeUInt32BE(segmentSize, MAGIC.length + 2);
  noncePrefix.copy(header, MAGIC.length + 6);
  return { segmentSize, header, noncePrefix };
}

/**
 * Returns a Transform that encrypts a byte stream into "acr-envelope-v1".
 *
 * Memory use is bounded by one segment. The key is used with a fresh random nonce prefix per stream.
 *
 * @param key a 32-byte data key (`generateDataKey()`)
 * @throws CleanRoomError `invalid-argument` for a bad key or segment size
 */
export function createEncryptStream(key: Buffer, options: EncryptOptions = {}): Transform {
  checkKey(key);
  const { segmentSize, header, noncePrefix } = newHeader(options.segmentSize);

  const queue = new ChunkQueue();
  let counter = 0;
  let headerSent = false;

  const seal = (stream: Transform, parts: Buffer[], last: boolean): void => {
    if (counter > MAX_SEGMENTS) {
      throw new CleanRoomError("invalid-argument", "The plaintext is too large for one envelope (2^32 segments); raise segmentSize");
    }
    const cipher = createCipheriv("aes-256-gcm", key, segmentNonce(noncePrefix, counter));
    cipher.setAAD(segmentAad(header, counter, last));
    for (const p of parts) {
      const out = cipher.update(p);
      if (out.length > 0) stream.push(out);
    }
    const fin = cipher.final();
    if (fin.length > 0) stream.push(fin);
    stream.push(cipher.getAuthTag());
    counter++;
  };

  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
      try {
        if (!headerSent) {
          this.push(header);
          headerSent = true;
        }
        queue.push(chunk);
        // A full segment is sealed as "not last" only once a later byte proves more data follows.
        while (queue.length > segmentSize) seal(this, queue.take(segmentSize), false);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (!headerSent) {
          this.push(header);
          headerSent = true;
        }
        seal(this, queue.takeAll(), true);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

function authFailure(counter: number, cause?: unknown): CleanRoomError {
  return new CleanRoomError(
    "digest-mismatch",
    `Envelope segment ${counter} failed authentication: the ciphertext was modified, truncated or reordered, or the data key is wrong. Re-fetch data.enc and key.wrapped, or re-provision the dataset.`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Returns a Transform that decrypts "acr-envelope-v1".
 *
 * Plaintext is pushed one segment at a time and only after that segment's tag verified, so a consumer never sees
 * an unauthenticated byte; a stream that ends early, has segments swapped or dropped, or was made with another key
 * fails with `digest-mismatch` (an unknown format or version fails with `invalid-argument`).
 *
 * @param key the 32-byte data key the ciphertext was made with
 */
export function createDecryptStream(key: Buffer): Transform {
  checkKey(key);
  const queue = new ChunkQueue();
  let header: Buffer | undefined;
  let noncePrefix: Buffer | undefined;
  let sealedSize = 0;
  let counter = 0;

  const parseHeader = (): void => {
    const h = Buffer.concat(queue.take(HEADER_SIZE));
    if (!h.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new CleanRoomError("invalid-argument", `The input is not an ${ENVELOPE_FORMAT} ciphertext (bad magic bytes)`);
    }
    if (h[MAGIC.length] !== VERSION || h[MAGIC.length + 1] !== 0) {
      throw new CleanRoomError(
        "invalid-argument",
        `Unsupported envelope version ${h[MAGIC.length]} (flags ${h[MAGIC.length + 1]}); this library reads ${ENVELOPE_FORMAT}: upgrade attested-cleanroom`,
      );
    }
    const segmentSize = h.readUInt32BE(MAGIC.length + 2);
    // A hostile header must not make the decryptor buffer unbounded data.
    if (segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
      throw new CleanRoomError("invalid-argument", `Envelope segment size ${segmentSize} is outside [${MIN_SEGMENT_SIZE}, ${MAX_SEGMENT_SIZE}]`);
    }
    header = h;
    noncePrefix = h.subarray(MAGIC.length + 6, HEADER_SIZE);
    sealedSize = segmentSize + TAG_SIZE;
  };

  const open = (stream: Transform, parts: Buffer[], last: boolean): void => {
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total < TAG_SIZE) throw authFailure(counter);
    if (counter > MAX_SEGMENTS) throw authFailure(counter);
    const h = header as Buffer;
    const decipher = createDecipheriv("aes-256-gcm", key, segmentNonce(noncePrefix as Buffer, counter));
    decipher.setAAD(segmentAad(h, counter, last));
    // The tag is the last 16 bytes of the segment; it may straddle chunk boundaries.
    let bodyLeft = total - TAG_SIZE;
    const tagParts: Buffer[] = [];
    const plain: Buffer[] = [];
    for (const p of parts) {
      if (bodyLeft >= p.length) {
        plain.push(decipher.update(p));
        bodyLeft -= p.length;
      } else {
        if (bodyLeft > 0) plain.push(decipher.update(p.subarray(0, bodyLeft)));
        tagParts.push(p.subarray(bodyLeft));
        bodyLeft = 0;
      }
    }
    decipher.setAuthTag(tagParts.length === 1 ? (tagParts[0] as Buffer) : Buffer.concat(tagParts));
    try {
      plain.push(decipher.final());
    } catch (err) {
      throw authFailure(counter, err);
    }
    // Only now, with the tag verified, is any byte of this segment released.
    for (const p of plain) if (p.length > 0) stream.push(p);
    counter++;
  };

  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
      try {
        queue.push(chunk);
        if (header === undefined) {
          if (queue.length < HEADER_SIZE) return callback();
          parseHeader();
        }
        // A full sealed segment is "not last" only if more bytes follow it.
        while (queue.length > sealedSize) open(this, queue.take(sealedSize), false);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (header === undefined) {
          throw new CleanRoomError(
            "digest-mismatch",
            `The envelope ciphertext is truncated: ${queue.length} bytes, shorter than its ${HEADER_SIZE}-byte header. Re-fetch data.enc.`,
          );
        }
        open(this, queue.takeAll(), true);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

/** A pass-through Transform that hashes and counts what flows through it. */
class HashTap extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}

async function streamToFile(src: string, dst: string, middle: Transform[]): Promise<void> {
  // Written under a temporary name and renamed on success, so a failed or tampered run never leaves a file at
  // `dst` that looks complete.
  const tmp = `${dst}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await pipeline([
      createReadStream(src, { highWaterMark: DEFAULT_SEGMENT_SIZE }),
      ...middle,
      // 0600: plaintext and ciphertext stay private to the user running the room.
      createWriteStream(tmp, { mode: 0o600, flags: "wx" }),
    ]);
    await rename(tmp, dst);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("io-error", `Cannot write ${dst} from ${src}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Decrypts an "acr-envelope-v1" file, streaming. `dst` appears only when the whole ciphertext authenticated.
 *
 * @returns the plaintext size and its hex sha256
 * @throws CleanRoomError `digest-mismatch` on tamper, truncation, reorder or wrong key
 */
export async function decryptFile(src: string, dst: string, key: Buffer): Promise<{ bytes: number; sha256: string }> {
  const plain = new HashTap();
  await streamToFile(src, dst, [createDecryptStream(key), plain]);
  return { bytes: plain.bytes, sha256: plain.digest() };
}

/**
 * The provisioning side's fast writer of "acr-envelope-v1" (`envelope.ts`): plaintext goes straight into segment
 * buffers, each full segment is sealed with WebCrypto AES-256-GCM and written to a file, with SHA-256 of plaintext
 * ranges (and, for an upload that declares it, the ciphertext's MD5) computed on worker threads.
 *
 * The ciphertext itself is not hashed: each segment's GCM tag authenticates its bytes (decryption refuses any change),
 * the plaintext digests are what the receipt binds, and GCS checks an upload against the MD5 it declares. A SHA-256
 * of the ciphertext (`manifest.json`'s `ciphertextSha256` until 2026-12) was read by nothing and cost a third pass.
 *
 * Why not the `createEncryptStream` Transform: `createCipheriv` runs on the main thread, one segment at a time, so
 * encryption, hashing, reading and writing took turns on one core. `crypto.subtle.encrypt` runs in libuv's thread pool
 * (it copies its input synchronously, so the segment buffer is free again at once), which lets several segments be
 * sealed in parallel while the main thread reads the next one; the output is byte for byte what `createEncryptStream`
 * makes with the same nonce prefix (same nonce, additional data and tag placement per segment).
 *
 * Memory stays bounded: at most `parallel` segments are being sealed or written, at most `parallel + 4` plaintext
 * segment buffers exist (a buffer being hashed is not refilled until the worker gives it back), and at most
 * `parallel + 4` ciphertext segments wait for their hash.
 */
import { randomBytes, webcrypto } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { checkKey, DEFAULT_SEGMENT_SIZE, MAX_SEGMENTS, newHeader, segmentAad, segmentNonce, TAG_SIZE } from "./envelope.js";
import { HashWorker } from "./hash-worker.js";

/** Options of `EnvelopeSealer.create`. */
export interface SealerOptions {
  /** Plaintext bytes per segment. @default 1048576 (1 MiB) */
  readonly segmentSize?: number;
  /** Segments sealed or being written at once (libuv's pool has 4 threads by default; file I/O shares them). @default 3 */
  readonly parallel?: number;
  /**
   * Also compute the ciphertext's MD5 (base64, GCS's `md5Hash`) on a worker thread as segments are written, for an
   * upload that declares it: no second read of the file. @default false
   */
  readonly md5?: boolean;
}

/** What `EnvelopeSealer.finish` wrote. */
export interface SealedFile {
  /** Plaintext bytes. */
  readonly bytes: number;
  /** Base64 MD5 of the ciphertext file, with the `md5` option. */
  readonly ciphertextMd5?: string;
}

/** A digest requested with `digest`, answered once the segment holding the bytes before the request is sent. */
interface DigestRequest {
  readonly id: number;
  readonly resolve: (hex: string) => void;
  readonly reject: (err: Error) => void;
}

const EXTRA_BUFFERS = 4;
const DEFAULT_PARALLEL = 3;

/**
 * Writes one "acr-envelope-v1" file. Fill it with `reserve`/`commit` (read straight into the segment) or `write`
 * (copied), then `finish` (renames the file into place) or `abort` (removes it). One producer at a time: each call
 * must be awaited before the next. `dst` appears only when `finish` succeeded; until then the bytes go to a temporary
 * file beside it (0600).
 */
export class EnvelopeSealer {
  private readonly segmentSize: number;
  private readonly parallel: number;
  private readonly header: Buffer;
  private readonly noncePrefix: Buffer;
  private readonly plainHashes = new HashWorker();
  /** The ciphertext's MD5, with the `md5` option: its worker and digest id. */
  private readonly sealedMd5: { readonly hashes: HashWorker; readonly id: number } | undefined;
  private segment: Buffer | undefined;
  private fill = 0;
  /** Plaintext ranges of the current segment to hash: id, offset, length triples. */
  private parts: number[] = [];
  private requests: DigestRequest[] = [];
  private counter = 0;
  private plainBytes = 0;
  private readonly free: ArrayBuffer[] = [];
  private buffers = 0;
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly sealedHashing: Promise<ArrayBuffer>[] = [];
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;
  private state: "open" | "finished" | "aborted" = "open";

  private constructor(
    private readonly key: webcrypto.CryptoKey,
    private readonly file: FileHandle,
    private readonly tmp: string,
    private readonly dst: string,
    options: SealerOptions,
  ) {
    const h = newHeader(options.segmentSize ?? DEFAULT_SEGMENT_SIZE);
    this.segmentSize = h.segmentSize;
    this.header = h.header;
    this.noncePrefix = h.noncePrefix;
    this.parallel = options.parallel ?? DEFAULT_PARALLEL;
    if (options.md5) {
      const hashes = new HashWorker();
      this.sealedMd5 = { hashes, id: hashes.open("md5") };
    }
    // The header is the ciphertext's first bytes: written and hashed like a sealed segment.
    const head = new Uint8Array(this.header.length);
    head.set(this.header);
    this.enqueue(Promise.resolve(head.buffer));
  }

  /**
   * Opens a sealer writing to a temporary file beside `dst`, with a fresh random nonce prefix.
   *
   * @param key a 32-byte data key (`generateDataKey()`)
   * @throws CleanRoomError `invalid-argument` for a bad key or segment size, `io-error` if the file cannot be created
   */
  static async create(dst: string, key: Buffer, options: SealerOptions = {}): Promise<EnvelopeSealer> {
    checkKey(key);
    newHeader(options.segmentSize ?? DEFAULT_SEGMENT_SIZE); // validates the segment size before anything is created
    const parallel = options.parallel ?? DEFAULT_PARALLEL;
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) {
      throw new CleanRoomError("invalid-argument", `parallel must be an integer between 1 and 64 (got ${parallel})`);
    }
    const cryptoKey = await webcrypto.subtle.importKey("raw", key, { name: "AES-GCM" }, false, ["encrypt"]);
    const tmp = `${dst}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
    // 0600: the ciphertext stays private to the user running the room until it is uploaded.
    const file = await open(tmp, "wx", 0o600).catch((err: unknown) => {
      throw new CleanRoomError("io-error", `Cannot create ${tmp}: ${messageOf(err)}`, { cause: err });
    });
    return new EnvelopeSealer(cryptoKey, file, tmp, dst, options);
  }

  /** Plaintext bytes committed so far. */
  get bytes(): number {
    return this.plainBytes;
  }

  /** A new id for a plaintext digest (pass it to `commit`/`write`, then ask `digest`). */
  openDigest(): number {
    return this.plainHashes.open();
  }

  /**
   * The lowercase hex sha256 of every byte committed under `id` so far. Resolves once the segment holding them was
   * sealed (at the latest by `finish`): do not await it before more bytes or `finish` follow.
   */
  digest(id: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.state !== "open") reject(this.closedError());
      else this.requests.push({ id, resolve, reject });
    });
  }

  /**
   * Free space at the end of the current segment (never empty): read plaintext into it, then `commit` what was put
   * there. Waits while the sealing and writing pipeline is full.
   */
  async reserve(): Promise<Buffer> {
    this.check();
    if (this.segment !== undefined && this.fill === this.segmentSize) {
      // A full segment is sealed as "not last" only now that more bytes are coming.
      this.seal(false);
      await this.room();
    }
    if (this.segment === undefined) {
      this.segment = await this.acquire();
      this.fill = 0;
    }
    return this.segment.subarray(this.fill);
  }

  /** Appends the first `n` bytes of the space `reserve` returned to the plaintext, hashed under `id` if given. */
  commit(n: number, id?: number): void {
    const segment = this.segment;
    if (segment === undefined || !Number.isInteger(n) || n < 0 || this.fill + n > this.segmentSize) {
      throw new CleanRoomError("internal", `EnvelopeSealer.commit(${n}) without that much reserved space`);
    }
    if (id !== undefined && n > 0) {
      const p = this.parts;
      const k = p.length - 3;
      if (k >= 0 && p[k] === id && (p[k + 1] as number) + (p[k + 2] as number) === this.fill) p[k + 2] = (p[k + 2] as number) + n;
      else p.push(id, this.fill, n);
    }
    this.fill += n;
    this.plainBytes += n;
  }

  /** Appends a copy of `data` to the plaintext, hashed under `id` if given. */
  async write(data: Uint8Array, id?: number): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const space = await this.reserve();
      const n = Math.min(space.length, data.length - off);
      space.set(data.subarray(off, off + n));
      this.commit(n, id);
      off += n;
    }
  }

  /**
   * Seals the last segment, waits for every write and hash, and renames the file to `dst`.
   *
   * @throws whatever failed on the way (the file is then removed: call `abort` to release the workers anyway)
   */
  async finish(): Promise<SealedFile> {
    this.check();
    this.seal(true);
    this.state = "finished";
    try {
      await this.chain;
      await Promise.all(this.sealedHashing.splice(0));
      // The worker answers in order: once this is answered, so is every plaintext digest asked before it.
      await this.plainHashes.digest(this.plainHashes.open());
      const ciphertextMd5 = this.sealedMd5 === undefined ? undefined : await this.sealedMd5.hashes.digest(this.sealedMd5.id, "base64");
      await this.file.close();
      await rename(this.tmp, this.dst);
      return { bytes: this.plainBytes, ...(ciphertextMd5 === undefined ? {} : { ciphertextMd5 }) };
    } catch (err) {
      await this.abort();
      if (err instanceof CleanRoomError) throw err;
      throw new CleanRoomError("io-error", `Cannot write ${this.dst}: ${messageOf(err)}`, { cause: err });
    } finally {
      await this.close();
    }
  }

  /** Stops: waits for what is in flight, removes the temporary file, rejects pending digests. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state === "aborted") return;
    this.state = "aborted";
    this.failure ??= this.closedError();
    this.wake();
    for (const r of this.requests.splice(0)) r.reject(this.failure);
    await this.chain.catch(() => undefined);
    await Promise.allSettled(this.sealedHashing.splice(0));
    await this.file.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
    await this.close();
  }

  private async close(): Promise<void> {
    await Promise.all([this.plainHashes.close(), this.sealedMd5?.hashes.close()]);
  }

  private closedError(): CleanRoomError {
    return new CleanRoomError("internal", "The envelope sealer was already finished or aborted");
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.state !== "open") throw this.closedError();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitFor(ready: () => boolean): Promise<void> {
    while (!ready() && this.failure === undefined) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits until fewer than `parallel` segments are being sealed or written. */
  private room(): Promise<void> {
    return this.waitFor(() => this.inFlight < this.parallel);
  }

  /** A segment buffer of its own `ArrayBuffer` (so it can be moved to the hashing worker and back). */
  private async acquire(): Promise<Buffer> {
    await this.waitFor(() => this.free.length > 0 || this.buffers < this.parallel + EXTRA_BUFFERS);
    const reused = this.free.pop();
    if (reused !== undefined) return Buffer.from(reused);
    this.buffers++;
    return Buffer.from(new ArrayBuffer(this.segmentSize));
  }

  private fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    this.wake();
  }

  /** Seals the current segment (empty if none), hands its plaintext ranges to the hashing worker, queues the write. */
  private seal(last: boolean): void {
    if (this.counter > MAX_SEGMENTS) {
      throw new CleanRoomError("invalid-argument", "The plaintext is too large for one envelope (2^32 segments); raise segmentSize");
    }
    const segment = this.segment ?? Buffer.alloc(0);
    const length = this.segment === undefined ? 0 : this.fill;
    // WebCrypto copies `data` before it returns (the spec's "get a copy of the bytes held by"), so the buffer may be
    // moved to the hashing worker right after this call while AES runs in the thread pool.
    const sealed = webcrypto.subtle.encrypt(
      { name: "AES-GCM", iv: segmentNonce(this.noncePrefix, this.counter), additionalData: segmentAad(this.header, this.counter, last), tagLength: TAG_SIZE * 8 },
      this.key,
      segment.subarray(0, length),
    );
    this.counter++;
    if (this.segment !== undefined) {
      const buffer = this.segment.buffer as ArrayBuffer;
      if (this.parts.length > 0) {
        this.plainHashes.adopt(buffer, this.parts).then(
          (back) => {
            this.free.push(back);
            this.wake();
          },
          (err: unknown) => this.fail(err),
        );
      } else {
        this.free.push(buffer);
      }
    }
    for (const r of this.requests.splice(0)) this.plainHashes.digest(r.id).then(r.resolve, r.reject);
    this.segment = undefined;
    this.fill = 0;
    this.parts = [];
    this.enqueue(sealed);
  }

  /** Writes a sealed segment after every earlier one, then hands it to the ciphertext's MD5 worker if there is one. */
  private enqueue(sealed: Promise<ArrayBuffer>): void {
    // Handled here so that a failure is never "unhandled" while earlier writes are still running.
    sealed.catch(() => undefined);
    this.inFlight++;
    this.chain = this.chain.then(async () => {
      const bytes = new Uint8Array(await sealed);
      let off = 0;
      while (off < bytes.length) off += (await this.file.write(bytes, off, bytes.length - off)).bytesWritten;
      if (this.sealedMd5 !== undefined) {
        const hashed = this.sealedMd5.hashes.adopt(bytes.buffer, [this.sealedMd5.id, 0, bytes.length]);
        hashed.catch(() => undefined);
        this.sealedHashing.push(hashed);
        if (this.sealedHashing.length > this.parallel + EXTRA_BUFFERS) await this.sealedHashing.shift();
      }
      this.inFlight--;
      this.wake();
    });
    this.chain.catch((err: unknown) => this.fail(err));
  }
}

/**
 * Encrypts a file into "acr-envelope-v1" at `dst` (0600; it appears only once complete), reading it straight into the
 * sealer's segments. `options.onBytes` is called with the plaintext bytes read so far.
 *
 * @returns the plaintext size and the hex sha256 of the plaintext (for `manifest.json`); the ciphertext's MD5 with `md5`
 * @throws CleanRoomError `io-error` if `src` cannot be read or `dst` written
 */
export async function encryptFile(
  src: string,
  dst: string,
  key: Buffer,
  options: SealerOptions & { readonly onBytes?: (bytes: number) => void } = {},
): Promise<{ bytes: number; sha256: string; ciphertextMd5?: string }> {
  const sealer = await EnvelopeSealer.create(dst, key, options);
  let file: FileHandle | undefined;
  let finished = false;
  try {
    file = await open(src, "r");
    const id = sealer.openDigest();
    for (;;) {
      const space = await sealer.reserve();
      const { bytesRead } = await file.read(space, 0, space.length, null);
      if (bytesRead === 0) break;
      sealer.commit(bytesRead, id);
      options.onBytes?.(sealer.bytes);
    }
    const sha256 = sealer.digest(id);
    sha256.catch(() => undefined); // awaited below unless finish fails first
    const sealed = await sealer.finish();
    finished = true;
    return { ...sealed, sha256: await sha256 };
  } catch (err) {
    await sealer.abort();
    // Without its digest the ciphertext must not look complete.
    if (finished) await rm(dst, { force: true });
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("io-error", `Cannot write ${dst} from ${src}: ${messageOf(err)}`, { cause: err });
  } finally {
    await file?.close().catch(() => undefined);
  }
}

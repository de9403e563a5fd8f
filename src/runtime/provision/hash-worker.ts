/**
 * SHA-256 (and MD5, for the GCS upload's declared hash) off the main thread, for provisioning: while AES-256-GCM runs in libuv's thread pool (`EnvelopeSealer`), a
 * worker thread hashes the plaintext files and another the ciphertext. Hashing on the main thread serialised it with
 * everything else; on worker threads the slowest of the parallel stages sets the pace.
 *
 * Bytes are moved, not copied: `adopt` transfers an `ArrayBuffer` to the worker, which hashes the given ranges of it
 * and transfers it back, so the caller can fill it again (no garbage piles up between collections). Memory stays
 * bounded by the caller: a buffer is in the worker until `adopt`'s promise resolves with it.
 */
import { Worker } from "node:worker_threads";
import { CleanRoomError, messageOf } from "../../core/errors.js";

// Plain JS so it runs the same under ts-node and from dist/ (no second compiled entry point to ship).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  if (m.open !== undefined) {
    hashes.set(m.open, createHash(m.algorithm));
  } else if (m.buffer !== undefined) {
    const p = m.parts;
    for (let i = 0; i < p.length; i += 3) {
      let h = hashes.get(p[i]);
      if (h === undefined) { h = createHash("sha256"); hashes.set(p[i], h); }
      h.update(new Uint8Array(m.buffer, p[i + 1], p[i + 2]));
    }
    parentPort.postMessage({ buffer: m.buffer }, [m.buffer]);
  } else {
    const h = hashes.get(m.id) ?? createHash("sha256");
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest(m.encoding) });
  }
});
`;

/**
 * Ranges of an adopted buffer to hash, flattened as triples: digest id, byte offset, byte length. Ranges of one id
 * are hashed in the order given, after the ranges of every earlier `adopt`.
 */
export type HashParts = readonly number[];

interface Deferred<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

/** The digests a `HashWorker` computes. */
export type HashAlgorithm = "sha256" | "md5";

/** One worker thread computing any number of digests, each named by an id. Call `close()` when done. */
export class HashWorker {
  private readonly worker: Worker;
  /** Buffers in the worker, in the order they were sent (the worker answers in that order). */
  private readonly adopted: Deferred<ArrayBuffer>[] = [];
  private readonly digests = new Map<number, Deferred<string>>();
  private failure: Error | undefined;
  private nextId = 0;

  constructor() {
    // No execArgv: the worker is plain JS and needs neither ts-node nor the parent's loaders (which cost ~40 MiB and
    // a second of start-up each).
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.on("message", (m: { buffer?: ArrayBuffer; id?: number; hex?: string }) => {
      if (m.buffer !== undefined) {
        this.adopted.shift()?.resolve(m.buffer);
      } else if (m.id !== undefined && m.hex !== undefined) {
        this.digests.get(m.id)?.resolve(m.hex);
        this.digests.delete(m.id);
      }
    });
    this.worker.on("error", (err) => this.fail(new CleanRoomError("internal", `The hashing worker failed: ${messageOf(err)}`, { cause: err })));
  }

  private fail(failure: Error): void {
    this.failure ??= failure;
    for (const d of this.adopted.splice(0)) d.reject(failure);
    for (const d of this.digests.values()) d.reject(failure);
    this.digests.clear();
  }

  /** A new digest id: SHA-256, or MD5 when asked (what GCS declares and checks for an upload). */
  open(algorithm: HashAlgorithm = "sha256"): number {
    const id = this.nextId++;
    if (algorithm !== "sha256") this.worker.postMessage({ open: id, algorithm });
    return id;
  }

  /**
   * Moves `buffer` to the worker (it is detached here until the promise resolves) to add the `parts` of it to their
   * digests. Resolves with the buffer, to be filled again, once they are hashed.
   */
  adopt(buffer: ArrayBuffer, parts: HashParts): Promise<ArrayBuffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<ArrayBuffer>((resolve, reject) => {
      this.adopted.push({ resolve, reject });
      this.worker.postMessage({ buffer, parts }, [buffer]);
    });
  }

  /** The digest of everything added to `id`, after every earlier `adopt`: lowercase hex, or base64 when asked. */
  digest(id: number, encoding: "hex" | "base64" = "hex"): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.worker.postMessage({ id, encoding });
    });
  }

  /** Stops the worker; whatever it had not answered yet is rejected. */
  async close(): Promise<void> {
    await this.worker.terminate();
    this.fail(new CleanRoomError("internal", "The hashing worker was closed before it answered"));
  }
}

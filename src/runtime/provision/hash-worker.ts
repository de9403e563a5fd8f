/**
 * SHA-256 off the main thread, for provisioning: while the main thread encrypts (AES-256-GCM), a worker thread hashes
 * the plaintext files and the ciphertext. Hashing and encrypting serially on one thread ran at a quarter of raw
 * AES-GCM's speed; in parallel the slower of the two sets the pace.
 *
 * Memory stays bounded: bytes handed to the worker and not yet hashed are capped (`maxPendingBytes`); `update` waits
 * below the cap before it returns, so a slow worker slows the producer instead of queueing gigabytes.
 */
import { Worker } from "node:worker_threads";
import { CleanRoomError, messageOf } from "../../core/errors.js";

// Plain JS so it runs the same under ts-node and from dist/ (no second compiled entry point to ship).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  if (m.buffer !== undefined) {
    let h = hashes.get(m.id);
    if (h === undefined) { h = createHash("sha256"); hashes.set(m.id, h); }
    h.update(new Uint8Array(m.buffer, 0, m.length));
    // The buffer goes back to be filled again: no garbage piles up on either side between collections.
    parentPort.postMessage({ ack: m.length, buffer: m.buffer }, [m.buffer]);
  } else {
    const h = hashes.get(m.id) ?? createHash("sha256");
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest("hex") });
  }
});
`;

/** Size of the buffers handed to the worker (a chunk larger than this gets a buffer of its own size). */
const BUFFER_SIZE = 256 * 1024;

/** Options of `HashWorker`. */
export interface HashWorkerOptions {
  /** Bytes sent to the worker and not yet hashed, at most. @default 67108864 (64 MiB) */
  readonly maxPendingBytes?: number;
}

/** One worker thread computing any number of SHA-256 digests, each named by an id. Call `close()` when done. */
export class HashWorker {
  private readonly worker: Worker;
  /** Buffers the worker gave back, to be filled again (at most `maxPendingBytes` worth exist at once, plus one). */
  private readonly free: ArrayBuffer[] = [];
  private pending = 0;
  private readonly maxPending: number;
  private waiters: (() => void)[] = [];
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  private failure: Error | undefined;
  private nextId = 0;

  constructor(options: HashWorkerOptions = {}) {
    this.maxPending = options.maxPendingBytes ?? 8 * 1024 * 1024;
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on("message", (m: { ack?: number; buffer?: ArrayBuffer; id?: number; hex?: string }) => {
      if (m.ack !== undefined) {
        this.pending -= m.ack;
        if (m.buffer !== undefined && m.buffer.byteLength === BUFFER_SIZE) this.free.push(m.buffer);
        if (this.pending <= this.maxPending) this.wake();
      } else if (m.id !== undefined && m.hex !== undefined) {
        this.digests.get(m.id)?.resolve(m.hex);
        this.digests.delete(m.id);
      }
    });
    this.worker.on("error", (err) => {
      const failure = new CleanRoomError("internal", `The hashing worker failed: ${messageOf(err)}`, { cause: err });
      this.failure = failure;
      for (const d of this.digests.values()) d.reject(failure);
      this.digests.clear();
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** A new digest id. */
  open(): number {
    return this.nextId++;
  }

  /**
   * Adds bytes to digest `id` (copied: the caller may reuse or pass on `data`). Resolves once fewer than
   * `maxPendingBytes` are waiting to be hashed.
   */
  async update(id: number, data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.pending += data.length;
    // One copy into a reused buffer, then moved (not cloned): a Buffer may be a view of a much larger pooled one.
    for (let off = 0; off < data.length; off += BUFFER_SIZE) {
      const part = data.subarray(off, off + BUFFER_SIZE);
      const buffer = this.free.pop() ?? new ArrayBuffer(BUFFER_SIZE);
      new Uint8Array(buffer).set(part);
      this.worker.postMessage({ id, buffer, length: part.length }, [buffer]);
    }
    while (this.pending > this.maxPending && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }

  /** The lowercase hex SHA-256 of everything added to `id`, after every earlier update. */
  digest(id: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.worker.postMessage({ id });
    });
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

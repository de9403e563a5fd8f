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
  if (m.data !== undefined) {
    let h = hashes.get(m.id);
    if (h === undefined) { h = createHash("sha256"); hashes.set(m.id, h); }
    h.update(m.data);
    parentPort.postMessage({ ack: m.data.byteLength });
  } else {
    const h = hashes.get(m.id) ?? createHash("sha256");
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest("hex") });
  }
});
`;

/** Options of `HashWorker`. */
export interface HashWorkerOptions {
  /** Bytes sent to the worker and not yet hashed, at most. @default 67108864 (64 MiB) */
  readonly maxPendingBytes?: number;
}

/** One worker thread computing any number of SHA-256 digests, each named by an id. Call `close()` when done. */
export class HashWorker {
  private readonly worker: Worker;
  private pending = 0;
  private readonly maxPending: number;
  private waiters: (() => void)[] = [];
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  private failure: Error | undefined;
  private nextId = 0;

  constructor(options: HashWorkerOptions = {}) {
    this.maxPending = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on("message", (m: { ack?: number; id?: number; hex?: string }) => {
      if (m.ack !== undefined) {
        this.pending -= m.ack;
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
    // One copy into a fresh buffer, then moved (not cloned): a Buffer may be a view of a much larger pooled one.
    const copy = new Uint8Array(data.length);
    copy.set(data);
    this.worker.postMessage({ id, data: copy }, [copy.buffer]);
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

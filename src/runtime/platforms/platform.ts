/**
 * The platform interface: the only place where the local backend and Google Cloud differ.
 *
 * - `ExecutorPlatform` is what the executor (the workload, `runtime/executor/`) talks to: storage, the key release,
 *   the attester and the isolation of the job process. One executor program runs on both backends.
 * - `RoomClient` is what providers and consumers talk to: provision data, submit/wait/fetch/release jobs.
 *
 * Both have a `local` and a `gcp` implementation, chosen from `descriptor.platform` by `platforms/index.ts`.
 */
import type { Readable } from "node:stream";
import type { CleanRoomDescriptor, DescriptorProvider } from "../../core/descriptor.js";
import type { JobManifest } from "../../core/digest.js";
import type { UnparsableCells } from "../provision/csv-check.js";
import type { LedgerStore } from "../dp/ledger-store.js";
import type { JobReleaseOptions, JobReleaseRecord } from "../jobs/release.js";

/** Writes one job result (outputs, receipt, token) so that it becomes visible all at once, or not at all. */
export interface ResultWriter {
  /**
   * Writes one object of the result, at a POSIX path relative to the result root (`outputs/a.json`,
   * `receipt.json`, `attestation.jwt`). Nothing written is visible at the job's output URI before `commit()`.
   *
   * @throws CleanRoomError `invalid-argument` for an absolute path or one that leaves the result root
   */
  write(relativePath: string, from: Readable | Buffer): Promise<void>;
  /**
   * Makes everything written visible at the job's output URI in one step (local: one directory rename; GCS: every
   * object copied first and `receipt.json` last, which readers treat as the commit marker).
   */
  commit(): Promise<void>;
  /** Discards everything written so far. Safe to call after a failed `write` or twice. */
  abort(): Promise<void>;
}

/** How the executor wants the job process started; the platform decides how it is isolated. */
export interface JobProcessPlan {
  /** argv of the job, e.g. `["python3", "main.py"]` (resolved against `PATH` by the platform). */
  readonly argv: readonly string[];
  /** Directory holding the unpacked bundle; the job's working directory. */
  readonly workDir: string;
  /** Directory holding the decrypted inputs as `<provider>/<dataset>.csv` (or `.parquet`); must be read-only to the job. */
  readonly inputsDir: string;
  /** The only directory the job may write its outputs to. */
  readonly outputDir: string;
  /** Environment of the job: the executor passes a clean one (no secrets, no sockets). */
  readonly env: Readonly<Record<string, string>>;
}

/** The command the executor spawns for a job, with the paths the job sees. */
export interface JobProcessCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Working directory for `spawn` (a host path). */
  readonly cwd: string;
  /** Environment for `spawn`; includes `CLEANROOM_INPUTS` and `CLEANROOM_OUTPUT` as the job sees them. */
  readonly env: Readonly<Record<string, string>>;
  /** Start the command as this host user and group (the local sandbox runs jobs as an unprivileged user). */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * The command reports on file descriptor 3 the pid of the first process of the job's own PID namespace
   * (bubblewrap's `--info-fd 3`: `{"child-pid": N}`). The executor then waits until that process, and so every
   * process of the job, is gone before it reads the outputs.
   */
  readonly sandboxInfoFd?: 3;
}

/** What the executor needs from the platform it runs on. */
export interface ExecutorPlatform {
  /** `"local"` or `"gcp"`. */
  readonly name: string;
  /** How the executor itself is isolated, recorded in every receipt: `"bubblewrap"`, `"none"` or `"confidential-space"`. */
  readonly sandbox: string;
  /**
   * Opens an object for reading: the job bundle, `job.json`, a dataset's `data.enc`, `key.wrapped`, `manifest.json`.
   *
   * @throws CleanRoomError `not-found` when it does not exist, `io-error` otherwise
   */
  readObject(uri: string): Promise<Readable>;
  /**
   * Starts writing the result of a job at `outputUri` (`<quarantine>/<jobId>`). Only this job's output URI is
   * accepted, so a bug in the executor cannot overwrite another job's result.
   */
  openResult(outputUri: string): Promise<ResultWriter>;
  /**
   * Unwraps a dataset's data key through the platform's attested key release (local key broker, or Cloud KMS via
   * Workload Identity Federation). The platform presents its own attestation token; the job never sees it.
   *
   * @throws CleanRoomError `denied` with a message naming the provider that refused and why
   */
  unwrapDataKey(provider: DescriptorProvider, dataset: string, wrapped: Buffer): Promise<Buffer>;
  /**
   * Requests a custom PKI attestation token from the launcher (`POST /v1/token`, `token_type: "PKI"`).
   *
   * @param audience `descriptor.attestation.audience`
   * @param nonces e.g. `[nonceForReceipt(receipt)]` (each 10–74 bytes, at most 6)
   */
  requestToken(audience: string, nonces: readonly string[]): Promise<string>;
  /** The executor image digest as the platform attests it (`submods.container.image_digest`). */
  imageDigest(): Promise<string>;
  /**
   * Where a stage-2 DP spend of a provider's dataset is written, as the identity that provider admitted (GCP: its own
   * pool's federated identity, which its `DataProvider` lets create objects under `<dataUri>/.dp-ledger/` only).
   * @default - `roomLedgerStore(descriptor, provider, dataset)` (a local room's directory)
   */
  ledgerStore?(provider: DescriptorProvider, dataset: string): LedgerStore;
  /**
   * Turns the executor's plan for the job process into a command, isolating the job from the executor's sockets,
   * keys and network where the platform can (local: a nested bubblewrap sandbox).
   */
  jobCommand(plan: JobProcessPlan): JobProcessCommand;
}

/** Options of `RoomClient.provision`. */
export interface ProvisionOptions {
  /** Replace an existing dataset's ciphertext. @default false */
  readonly overwrite?: boolean;
  /**
   * The table format of the file given (`csv` or `parquet`, from `--csv`/`--parquet`); refused with `invalid-argument`
   * when the spec declares another. @default - the dataset's format in the room's spec
   */
  readonly format?: string;
  /**
   * What the provider gave: `files` for a directory tree or `.tar`/`.tar.gz` archive (`--dir`), `table` for a table;
   * refused with `invalid-argument` when the spec declares the other kind. @default - the dataset's kind in the spec
   */
  readonly kind?: string;
  /** Called with progress lines for people. */
  readonly onProgress?: (message: string) => void;
  /**
   * Called, often, for a progress bar: with `encrypt` and the plaintext bytes read so far, then (GCP) with `upload`, the
   * ciphertext bytes sent so far and the ciphertext's size. @default - none
   */
  readonly onBytes?: (phase: "encrypt" | "upload", bytes: number, total?: number) => void;
}

/** What `RoomClient.provision` stored. */
export interface ProvisionResult {
  readonly provider: string;
  readonly dataset: string;
  /** `<dataUri>/<dataset>` */
  readonly uri: string;
  /**
   * Plaintext size and lowercase hex sha256 (what the job will see, and what its receipt will name); for a files tree,
   * the total of its files and the hex of its manifest digest.
   */
  readonly bytes: number;
  readonly sha256: string;
  /** `parquet` for a Parquet table; absent for a CSV table (what every CSV provisioning printed before formats). */
  readonly format?: string;
  /** `files` for a directory tree; absent for a table. */
  readonly kind?: string;
  /** Number of files of a tree; absent for a table. */
  readonly files?: number;
  /** Data rows of the table (a CSV's header excluded); absent for a files tree. */
  readonly rows?: number;
  /** Numeric schema columns with cells that are not numbers (counted as unknown by DP releases); empty when none. */
  readonly unparsable: readonly UnparsableCells[];
}

/** A packed job, as produced by `packJob` (`runtime/jobs/pack.ts`). */
export interface PackedJob {
  /** Path of the deterministic `bundle.tar`. */
  readonly bundlePath: string;
  readonly manifest: JobManifest;
  /** `jobDigest(manifest)`: what providers approve. */
  readonly jobDigest: string;
}

/** The state of a job, the same on both backends. */
export interface JobStatus {
  readonly jobId: string;
  readonly jobDigest: string;
  /** `queued`, `running`, `succeeded`, `failed` (a receipt exists) or `lost` (the executor died without a result). */
  readonly state: string;
  /** Whether the result has been released from quarantine to the results location. */
  readonly released: boolean;
  /**
   * Why the committed result waits in quarantine for a provider's release (`cleanroom job release`): a failed or
   * unjudgeable disclosure check, a dataset's `releaseOnPass: false`, or `output.requireRelease`. Absent when it may be
   * fetched without one, or once released.
   */
  readonly held?: string;
  /** The disclosure verdict of the outputs (`pass`, `review`, `fail`), when the receipt carries checks. */
  readonly disclosure?: string;
  /** A short human explanation of the state (e.g. the failure reason from the receipt). */
  readonly detail?: string;
  /** The receipt's stable error code, when failed. */
  readonly errorCode?: string;
  /** When the job was submitted (ISO 8601), when the room recorded it. */
  readonly submittedAt?: string;
  /** When the job ended (ISO 8601; the receipt's `finishedAt` once there is one). */
  readonly finishedAt?: string;
  /**
   * A failed job of a debug-logs room (`cleanroom local up --debug-logs`): the file of its fetched result that holds its
   * kept stderr (`stderr.txt`). Absent everywhere else.
   */
  readonly stderrFile?: string;
}

/** Orders jobs by submission time (oldest first), then by id. */
export function sortJobs(jobs: JobStatus[]): JobStatus[] {
  return jobs.sort((a, b) => (a.submittedAt ?? "").localeCompare(b.submittedAt ?? "") || a.jobId.localeCompare(b.jobId));
}

/**
 * The `--room <descriptor.json>` argument of a pasteable hint: a local room's descriptor path, or `room.json` for a
 * GCP room (what `pulumi stack output descriptor --json > room.json` writes; the path is the user's).
 */
export function roomArg(descriptor: CleanRoomDescriptor): string {
  const path = descriptor.local ? `${descriptor.local.dir.replace(/\/+$/, "")}/descriptor.json` : "room.json";
  return `--room ${/^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`}`;
}

/** Job states after which nothing changes any more (except `released`). */
export const FINAL_JOB_STATES: readonly string[] = ["succeeded", "failed", "lost"];

/** Options of `RoomClient.wait`. */
export interface WaitOptions {
  /** Give up after this long. @default 600000 (10 min) */
  readonly timeoutMs?: number;
  /** Called whenever the state changes. */
  readonly onProgress?: (status: JobStatus) => void;
}

/** Options of `RoomClient.fetch`. */
export interface FetchOptions {
  /** Read from `quarantine` (before release) or `results`. @default "results" when released, else "quarantine" */
  readonly from?: string;
}

/** What providers and consumers do against a room. */
export interface RoomClient {
  readonly descriptor: CleanRoomDescriptor;
  /**
   * Provider side: checks a table (a CSV, or a Parquet file for a dataset of format `parquet`) against the public
   * schema, encrypts its bytes with a fresh data key (streamed), wraps the key with the provider's key, and stores
   * `data.enc`, `key.wrapped` and `manifest.json` under `<dataUri>/<dataset>`. Nothing is stored when a check fails.
   *
   * @throws CleanRoomError `not-found` (unknown provider/dataset), `invalid-argument` (a file that does not parse or
   *   match the schema, or a format other than the spec's), `io-error` (unreadable file), `already-exists`
   */
  provision(provider: string, dataset: string, path: string, options?: ProvisionOptions): Promise<ProvisionResult>;
  /** Consumer side: uploads a packed job and starts it. Returns the job id. */
  submit(job: PackedJob): Promise<{ jobId: string; jobDigest: string }>;
  /** Current state of a job. @throws CleanRoomError `not-found` */
  status(jobId: string): Promise<JobStatus>;
  /** Every job of the room with its state, digest and times, oldest first. */
  list(): Promise<JobStatus[]>;
  /** Waits until the job reaches a final state. @throws CleanRoomError `timeout` */
  wait(jobId: string, options?: WaitOptions): Promise<JobStatus>;
  /**
   * Copies a job's result (`outputs/`, `receipt.json`, `attestation.jwt`) into `destDir` and returns it. Refuses a
   * result without a receipt (not committed).
   */
  fetch(jobId: string, destDir: string, options?: FetchOptions): Promise<string>;
  /**
   * Provider side: verifies a committed result in quarantine and copies it to the results location with a
   * `release.json` record. A result with a failed disclosure check needs `acceptFailedChecks` naming every failed rule.
   *
   * @throws CleanRoomError `disclosure` (failed checks not accepted), `output-policy` (a failed job), `not-found`
   */
  release(jobId: string, options?: JobReleaseOptions): Promise<JobReleaseRecord>;
}

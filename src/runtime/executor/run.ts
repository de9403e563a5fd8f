/**
 * The executor: the program that runs as the workload, the same on both backends.
 *
 * 1. fetch the bundle and `job.json`; recompute the job digest from the unpacked files and refuse to run anything when
 *    it differs from `CLEANROOM_JOB_DIGEST` (the digest the attester reports and the providers approved);
 * 2. for each input, get the data key through the platform's attested key release and decrypt into a private dir, as
 *    `<provider>/<dataset>.csv` or `.parquet` (the dataset's format in the descriptor), or the read-only directory
 *    `<provider>/<dataset>/` of a `files` dataset;
 * 3. run the entrypoint with a clean environment, isolated by the platform;
 * 4. enforce the output policy; write the receipt; request a token whose nonce is `nonceForReceipt(receipt)`;
 * 5. commit outputs + receipt + token to quarantine at once. Any failure commits a failure receipt and no outputs.
 */
import { createHash } from "node:crypto";
import { createWriteStream, constants as fsConstants } from "node:fs";
import { type FileHandle, chmod, mkdir, mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type CleanRoomDescriptor, DEBUG_STDERR_MAX_BYTES, debugLogsOn, findDataset, findProvider, jobTimeoutSeconds, providerTrust } from "../../core/descriptor.js";
import { type JobInput, type JobManifest, type Manifest, jobDigest, manifestOf } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { JOB_ID_PATTERN } from "../../core/patterns.js";
import { datasetFileName, datasetFormat, isFilesDataset } from "../../core/spec.js";
import { RECEIPT_VERSION, RESULT_FILES, type Receipt, type ReceiptAdmission, type ReceiptInput, type ReceiptStderr, nonceForReceipt, policyDigest } from "../../core/receipt.js";
import { extractBundle } from "../jobs/bundle.js";
import { commandFor, entrypointFile, runtimeProbe } from "../jobs/entrypoint.js";
import { sortInputs } from "../jobs/pack.js";
import type { ExecutorPlatform, ResultWriter } from "../platforms/platform.js";
import { createDecryptStream } from "../provision/envelope.js";
import { type TreeSummary, extractTree } from "../provision/tree.js";
import type { ExecutorEnv } from "./env.js";
import { checkApproval } from "./approval.js";
import { DpNoiseServer } from "./dp-noise.js";
import { runJobProcess } from "./job-process.js";
import { changedOutputs, checkOutputs } from "./output-policy.js";

/** The outcome of one executor run. */
export interface ExecutorOutcome {
  readonly receipt: Receipt;
  /** Whether the result (with token) was committed to quarantine. */
  readonly committed: boolean;
}

/** A job stopped by SIGXCPU (its CPU-time limit) ends with this code (128 + 24, as its sandbox reports it). */
const EXIT_SIGXCPU = 152;

/** The job's whole environment besides PATH and the platform's input/output variables. */
const JOB_ENV = { HOME: "/tmp", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" } as const;

function lastSegment(uri: string): string {
  return uri.replace(/\/+$/, "").split("/").pop() ?? "";
}

function parseJobJson(text: string): JobManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CleanRoomError("invalid-manifest", "job.json is not valid JSON");
  }
  const o = v as Partial<JobManifest> | null;
  if (!o || typeof o !== "object" || o.version !== 1 || !Array.isArray(o.entrypoint) || !Array.isArray(o.inputs) || !Array.isArray(o.files)) {
    throw new CleanRoomError("invalid-manifest", "job.json is not a job manifest {version: 1, entrypoint, inputs, files}");
  }
  for (const i of o.inputs) {
    if (!i || typeof i.provider !== "string" || typeof i.dataset !== "string") throw new CleanRoomError("invalid-manifest", "job.json inputs must be {provider, dataset}");
  }
  return o as JobManifest;
}

async function readText(platform: ExecutorPlatform, uri: string, limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await platform.readObject(uri)) {
    n += (c as Buffer).length;
    if (n > limit) throw new CleanRoomError("invalid-manifest", `${uri} is larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function readBytes(platform: ExecutorPlatform, uri: string): Promise<Buffer> {
  return Buffer.concat(await collect(await platform.readObject(uri)));
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > 64 * 1024) throw new CleanRoomError("invalid-argument", "key.wrapped is larger than 64 KiB");
    out.push(c as Buffer);
  }
  return out;
}

/** Hashes what passes through (the plaintext the job will see). */
class HashTap extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.push(chunk);
    cb();
  }
}

async function decryptInputs(
  platform: ExecutorPlatform,
  descriptor: CleanRoomDescriptor,
  inputs: readonly JobInput[],
  inputsDir: string,
  admitted: ReceiptAdmission[],
): Promise<ReceiptInput[]> {
  const out: ReceiptInput[] = [];
  for (const input of inputs) {
    const provider = findProvider(descriptor, input.provider);
    // The format of the room's (attested) descriptor names the file, not anything stored beside the ciphertext.
    const dataset = findDataset(descriptor, input.provider, input.dataset);
    const format = datasetFormat(dataset);
    const base = `${provider.dataUri.replace(/\/+$/, "")}/${input.dataset}`;
    const wrapped = await readBytes(platform, `${base}/key.wrapped`).catch((err: unknown) => {
      if (err instanceof CleanRoomError && err.code === "not-found") {
        throw new CleanRoomError("not-found", `Dataset ${input.provider}/${input.dataset} has not been provisioned yet (\`cleanroom data provision\`)`);
      }
      throw err;
    });
    const key = await platform.unwrapDataKey(provider, input.dataset, wrapped);
    // The key opened: the policy that decided (the provider's own, or the room's) admitted this run.
    if (!admitted.some((a) => a.provider === provider.name)) {
      const trust = providerTrust(descriptor, provider);
      admitted.push({ provider: provider.name, policyDigest: policyDigest(trust.condition), own: trust.own });
    }
    const dir = join(inputsDir, input.provider);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const dest = join(dir, datasetFileName(dataset));
    if (isFilesDataset(dataset)) {
      // A tree: each file written as its bytes come (0444, directories 0555); the receipt names its manifest digest.
      let tree: TreeSummary;
      try {
        tree = await extractTree(await platform.readObject(`${base}/data.enc`), key, dest);
      } finally {
        key.fill(0);
      }
      out.push({ provider: input.provider, dataset: input.dataset, kind: "files", sha256: tree.sha256, bytes: tree.bytes, files: tree.files });
      continue;
    }
    const tap = new HashTap();
    try {
      await pipeline(await platform.readObject(`${base}/data.enc`), createDecryptStream(key), tap, createWriteStream(dest, { mode: 0o444, flags: "wx" }));
    } finally {
      key.fill(0);
    }
    await chmod(dest, 0o444);
    out.push({ provider: input.provider, dataset: input.dataset, ...(format === "csv" ? {} : { format }), sha256: tap.hash.digest("hex"), bytes: tap.bytes });
  }
  return out;
}

/**
 * Copies the checked outputs into the result, hashing what is copied: a file whose bytes are not the ones the output
 * policy hashed into the receipt (a process the job left behind is still writing; on GCP the job shares the executor's
 * container, so one that left the job's process group is out of its reach), or that is no longer a regular file, fails
 * the job instead of committing a result that would fail verification.
 */
async function writeOutputs(writer: ResultWriter, outputDir: string, outputs: Manifest): Promise<void> {
  for (const e of outputs) {
    let file: FileHandle;
    try {
      // No link is followed, and a FIFO swapped in cannot block the open.
      file = await open(join(outputDir, ...e.path.split("/")), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch {
      throw changedOutputs();
    }
    const tap = new HashTap();
    try {
      if (!(await file.stat()).isFile()) throw changedOutputs();
      await Promise.all([pipeline(file.createReadStream({ autoClose: false }), tap), writer.write(`${RESULT_FILES.outputs}/${e.path}`, tap)]);
    } catch (err) {
      if (err instanceof CleanRoomError && err.code === "output-policy") throw err;
      // The error would name an output (chosen by code that read the data): say only what failed.
      throw new CleanRoomError("io-error", "Copying the job's outputs into the result failed; nothing was released", { cause: err });
    } finally {
      await file.close().catch(() => undefined);
    }
    if (tap.bytes !== e.bytes || tap.hash.digest("hex") !== e.sha256) throw changedOutputs();
  }
}

/**
 * Runs one job and commits its result (success or failure) to quarantine.
 *
 * @returns the receipt; `committed` is false only when even the failure receipt could not be attested or stored
 */
export async function runExecutor(platform: ExecutorPlatform, descriptor: CleanRoomDescriptor, env: ExecutorEnv): Promise<ExecutorOutcome> {
  const startedAt = new Date().toISOString();
  const jobId = lastSegment(env.jobUri);
  const work = await mkdtemp(join(tmpdir(), "cleanroom-exec-"));
  // Traversable, not listable: the job's sandbox (an unprivileged user) is built from the directories below.
  await chmod(work, 0o711);
  let inputs: ReceiptInput[] = [];
  const admittedBy: ReceiptAdmission[] = [];
  let exitCode: number | undefined;
  let outputs: Manifest = [];
  let failure: CleanRoomError | undefined;
  let imageDigest = `sha256:${"0".repeat(64)}`;
  let writer: ResultWriter | undefined;
  let dp: DpNoiseServer | undefined;
  // A debug-logs room (local only, in the attested descriptor) keeps the tail of a failed job's stderr.
  const debugLogs = debugLogsOn(descriptor) && platform.name === "local";
  let stderrTail: { readonly bytes: Buffer; readonly truncated: boolean } | undefined;
  try {
    if (!JOB_ID_PATTERN.test(jobId) || lastSegment(env.outputUri) !== jobId) {
      throw new CleanRoomError("invalid-argument", `CLEANROOM_JOB_URI and CLEANROOM_OUTPUT_URI must end with the same job id (got ${env.jobUri}, ${env.outputUri})`);
    }
    imageDigest = await platform.imageDigest();
    const jobDir = join(work, "job");
    const inputsDir = join(work, "inputs");
    const outputDir = join(work, "output");
    await mkdir(jobDir, { mode: 0o755 });
    await mkdir(inputsDir, { mode: 0o755 });
    await mkdir(outputDir, { mode: 0o777 });
    await chmod(outputDir, 0o777);

    // 1. The bundle: the digest is recomputed from what was unpacked, before any key is requested or code runs.
    const job = parseJobJson(await readText(platform, `${env.jobUri}/job.json`));
    await extractBundle(await platform.readObject(`${env.jobUri}/bundle.tar`), jobDir);
    const files = await manifestOf(jobDir);
    const recomputed = jobDigest({ version: 1, entrypoint: [...job.entrypoint], inputs: sortInputs(job.inputs), files });
    if (recomputed !== env.jobDigest) {
      throw new CleanRoomError(
        "digest-mismatch",
        `The job bundle's digest is ${recomputed} but the launcher started this job as ${env.jobDigest}: the bundle or job.json was changed after submission; refusing to run it`,
      );
    }
    checkApproval(descriptor, env.jobDigest, sortInputs(job.inputs));
    const file = entrypointFile(job.entrypoint);
    if (!files.some((f) => f.path === file)) throw new CleanRoomError("invalid-manifest", `The entrypoint file ${file} is not in the bundle`);
    await chmod(jobDir, 0o555);
    const plan = { workDir: jobDir, inputsDir, outputDir, env: JOB_ENV };

    // The entrypoint's runtime, probed in the job's own sandbox before any key is requested: a missing interpreter
    // is a clear error here instead of an opaque exit 127 after the data was decrypted.
    const probe = runtimeProbe(job.entrypoint);
    const probeCmd = platform.jobCommand({ ...plan, argv: [...probe.argv] });
    // The probe is the executor's own command, run before any data is decrypted: its stderr (e.g. a sandbox that cannot
    // start) goes to the executor's log.
    if ((await runJobProcess(probeCmd, { onStderr: (c) => process.stderr.write(c) })).code !== 0) {
      throw new CleanRoomError("runtime-missing", `This job's entrypoint needs ${probe.needs}, which the executor's environment does not have: ${probe.fix}`);
    }

    // 2. Inputs: each key through the platform's attested release.
    inputs = await decryptInputs(platform, descriptor, sortInputs(job.inputs), inputsDir, admittedBy);
    await chmod(inputsDir, 0o555);
    for (const p of await readdir(inputsDir)) await chmod(join(inputsDir, p), 0o555);

    // 3. The job, with a clean environment: nothing of the executor's (sockets, URIs) leaks into it.
    const cmd = platform.jobCommand({ ...plan, argv: commandFor(job.entrypoint) });
    // Stage-2 DP releases: the job may ask for noise, spent from the ledger first (dp-noise.ts).
    dp = await DpNoiseServer.start({ descriptor, outputDir, inputs: job.inputs, job: { jobId, jobDigest: env.jobDigest }, requestToken: (a, n) => platform.requestToken(a, n), ...(platform.ledgerStore ? { ledgerStore: (p, ds) => platform.ledgerStore!(p, ds) } : {}) });
    // The limit of the descriptor the room started this executor with (attested), not of any file a job could edit.
    const limit = jobTimeoutSeconds(descriptor);
    const ended = await runJobProcess(cmd, { timeoutMs: limit * 1000, ...(debugLogs ? { keepStderrTail: DEBUG_STDERR_MAX_BYTES } : {}) }).finally(() => dp?.stop());
    exitCode = ended.code;
    stderrTail = ended.stderrTail;
    if (ended.timedOut) {
      throw new CleanRoomError(
        "timeout",
        `The job ran longer than the room's limit of ${limit} s (jobs.timeoutSeconds) and was stopped; nothing it wrote is released`,
      );
    }
    const limits = descriptor.local?.jobLimits;
    if (limits && exitCode === EXIT_SIGXCPU) {
      throw new CleanRoomError("cpu-limit", `The job used more than the room's ${limits.cpuSeconds} s of CPU time per process (local.jobLimits.cpuSeconds) and was stopped; nothing it wrote is released`);
    }
    if (exitCode !== 0) {
      // The code itself is chosen by code that read the data: it stays in the receipt, for the provider's review.
      const within = limits ? ` It ran with at most ${limits.memoryMiB} MiB of memory and ${limits.processes} processes (local.jobLimits).` : "";
      const kept = debugLogs
        ? "its stderr is kept in stderr.txt of the result: debug-logs room"
        : "its output is not kept; reproduce with the stage-1 data";
      throw new CleanRoomError("job-failed", `The job exited with a non-zero code (${kept}).${within}`);
    }

    // 4. Output policy, then the outputs go to the (not yet visible) result.
    outputs = await checkOutputs(outputDir, descriptor.output.maxBytes);
    writer = await platform.openResult(env.outputUri);
    await writeOutputs(writer, outputDir, outputs);
  } catch (err) {
    failure = err instanceof CleanRoomError ? err : new CleanRoomError("internal", messageOf(err), { cause: err });
    outputs = [];
    await writer?.abort().catch(() => undefined);
    writer = undefined;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }

  // Only a failed job's stderr is kept, and only what it wrote (no file for a job that wrote none).
  const stderr = failure && stderrTail && stderrTail.bytes.length > 0 ? stderrTail : undefined;
  const stderrEntry: ReceiptStderr | undefined = stderr
    ? { bytes: stderr.bytes.length, sha256: createHash("sha256").update(stderr.bytes).digest("hex"), truncated: stderr.truncated }
    : undefined;
  const receipt: Receipt = {
    version: RECEIPT_VERSION,
    room: descriptor.name,
    jobId,
    jobDigest: env.jobDigest,
    executorImageDigest: imageDigest,
    policyDigest: policyDigest(descriptor.attestation.condition),
    platform: platform.name,
    sandbox: platform.sandbox,
    inputs,
    admittedBy,
    outputs,
    startedAt,
    finishedAt: new Date().toISOString(),
    status: failure ? "failed" : "succeeded",
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(failure ? { error: failure.message, errorCode: failure.code } : {}),
    ...(dp && dp.spends.length > 0 ? { dp: dp.spends } : {}),
    // Omitted when off: receipts of other rooms stay byte-identical; when on, the nonce covers it like every field.
    ...(debugLogs ? { debugLogs: true as const } : {}),
    ...(stderrEntry ? { stderr: stderrEntry } : {}),
  };
  try {
    writer ??= await platform.openResult(env.outputUri);
    if (stderr) await writer.write(RESULT_FILES.stderr, stderr.bytes);
    const token = await platform.requestToken(descriptor.attestation.audience, [nonceForReceipt(receipt)]);
    await writer.write(RESULT_FILES.token, Buffer.from(`${token}\n`));
    await writer.write(RESULT_FILES.receipt, Buffer.from(`${JSON.stringify(receipt, null, 2)}\n`));
    await writer.commit();
    return { receipt, committed: true };
  } catch (err) {
    await writer?.abort().catch(() => undefined);
    process.stderr.write(`executor: cannot commit the result of ${jobId}: ${messageOf(err)}\n`);
    return { receipt, committed: false };
  }
}

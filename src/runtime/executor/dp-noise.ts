/**
 * Stage-2 DP releases: a job asks the executor for noise, and the executor spends it from the dataset's ledger first.
 *
 * The job has no socket and no network, so the protocol is files in its output directory:
 *
 * 1. the job writes `$CLEANROOM_OUTPUT/.cleanroom-dp/request-<id>.json` (write a temporary name, then rename):
 *    `{"provider": "insurer", "dataset": "claims", "count": 3, "sensitivity": 1, "epsilon": 0.5, "delta": 1e-9}`
 *    (or `"rho": 0.01` instead of ε/δ). `count` integers of discrete Gaussian noise are asked for a query of L2
 *    sensitivity `sensitivity` (e.g. 1 for a count or a histogram under add/remove-one);
 * 2. the executor records the spend in the dataset's ledger — an entry bound to this job by an attestation token
 *    whose nonce is the entry's digest — and only then draws the noise;
 * 3. it answers `response-<id>.json`: `{"noise": [..], "sd": .., "rho": .., "entry": "sha256:.."}`, or
 *    `{"error": {"code": "budget-exceeded", "message": ".."}}`. The job adds the noise to its exact answer.
 *
 * Every spend is listed in the receipt (`dp`), which the token of the receipt binds; `.cleanroom-dp/` is removed
 * before the output policy runs, so it is never released as an output. Only datasets the job reads can be spent.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { type CleanRoomDescriptor, type DescriptorProvider, findProvider } from "../../core/descriptor.js";
import type { JobInput } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { ReceiptDpSpend } from "../../core/receipt.js";
import { cdpRho, gaussianRho } from "../dp/accounting.js";
import { PrivacyLedger, MAX_BUDGET_EPSILON } from "../dp/ledger.js";
import type { LedgerSigner } from "../dp/ledger-keys.js";
import type { LedgerStore } from "../dp/ledger-store.js";
import { roomLedgerStore } from "../dp/room-ledger.js";
import { SecureRng } from "../dp/rng.js";
import { discreteGaussianVector, rationalAtLeast, rationalValue } from "../dp/samplers.js";

/** The directory, inside the job's output directory, of the noise protocol. */
export const DP_NOISE_DIR = ".cleanroom-dp";
/** The most noise values one request may ask for. */
const MAX_COUNT = 1_000_000;
const POLL_MS = 25;
const REQUEST = /^request-([a-z0-9-]{1,64})\.json$/;

/** What the executor needs to serve noise for one job. */
export interface DpNoiseContext {
  readonly descriptor: CleanRoomDescriptor;
  readonly outputDir: string;
  readonly inputs: readonly JobInput[];
  readonly job: { readonly jobId: string; readonly jobDigest: string };
  /** Signs ledger entries with an attestation token (`platform.requestToken` with the entry digest as nonce). */
  readonly requestToken: (audience: string, nonces: readonly string[]) => Promise<string>;
  /**
   * The ledger a spend of `provider/dataset` is written to (`platform.ledgerStore`: on GCP as that provider's own pool
   * identity, never the VM's service account, which submitters can attach to VMs of their own).
   * @default - `roomLedgerStore(descriptor, provider, dataset)`
   */
  readonly ledgerStore?: (provider: DescriptorProvider, dataset: string) => LedgerStore;
}

interface NoiseRequest {
  provider: string;
  dataset: string;
  count: number;
  sensitivity: number;
  epsilon?: number;
  delta?: number;
  rho?: number;
}

function parseRequest(v: unknown, inputs: readonly JobInput[]): NoiseRequest {
  const o = v as Record<string, unknown> | null;
  const problems: string[] = [];
  if (!o || typeof o !== "object") throw new CleanRoomError("invalid-argument", "a noise request is a JSON object");
  if (typeof o.provider !== "string" || typeof o.dataset !== "string") problems.push("provider and dataset are required");
  else if (!inputs.some((i) => i.provider === o.provider && i.dataset === o.dataset)) problems.push(`${o.provider}/${o.dataset} is not an input of this job`);
  if (!(Number.isSafeInteger(o.count) && (o.count as number) >= 1 && (o.count as number) <= MAX_COUNT)) problems.push(`count must be an integer from 1 to ${MAX_COUNT}`);
  if (!(typeof o.sensitivity === "number" && o.sensitivity > 0 && Number.isFinite(o.sensitivity))) problems.push("sensitivity must be a positive number (the query's L2 sensitivity)");
  if (o.rho !== undefined) {
    if (!(typeof o.rho === "number" && o.rho > 0 && Number.isFinite(o.rho))) problems.push("rho must be a positive number");
  } else {
    if (!(typeof o.epsilon === "number" && o.epsilon > 0 && o.epsilon <= MAX_BUDGET_EPSILON)) problems.push(`epsilon must be > 0 and <= ${MAX_BUDGET_EPSILON} (or give rho)`);
    const d = o.delta ?? 1e-9;
    if (!(typeof d === "number" && d > 0 && d < 1e-3)) problems.push("delta must be > 0 and < 0.001");
  }
  if (problems.length) throw new CleanRoomError("invalid-argument", `Invalid noise request: ${problems.join("; ")}`);
  return o as unknown as NoiseRequest;
}

/** Serves the noise protocol while a job runs. */
export class DpNoiseServer {
  /** Spends made for this job, in order (they go into its receipt, failed or not). */
  readonly spends: ReceiptDpSpend[] = [];
  private readonly dir: string;
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  private readonly rng = SecureRng.system();

  private constructor(private readonly ctx: DpNoiseContext) {
    this.dir = join(ctx.outputDir, DP_NOISE_DIR);
  }

  /** Creates the request directory (writable by the job) and starts polling it. */
  static async start(ctx: DpNoiseContext): Promise<DpNoiseServer> {
    const s = new DpNoiseServer(ctx);
    await mkdir(s.dir, { mode: 0o777 });
    await chmod(s.dir, 0o777);
    s.timer = setInterval(() => {
      s.busy ??= s.poll().finally(() => {
        s.busy = undefined;
      });
    }, POLL_MS);
    return s;
  }

  /** Stops serving (after the job exited) and removes the directory so it is never an output. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    await rm(this.dir, { recursive: true, force: true });
  }

  private async poll(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    // In name order, i.e. request id order, whatever order the listing comes in: Node does not promise one.
    for (const name of names.sort()) {
      const m = REQUEST.exec(name);
      if (!m || this.seen.has(m[1])) continue;
      this.seen.add(m[1]);
      const answer = await this.answer(join(this.dir, name)).catch((err: unknown) => ({
        error: { code: err instanceof CleanRoomError ? err.code : "internal", message: messageOf(err) },
      }));
      const tmp = join(this.dir, `.response-${m[1]}.tmp`);
      await writeFile(tmp, `${JSON.stringify(answer)}\n`);
      // The job runs as another user (`nobody` when the executor is root): a create mode would be cut by the executor's
      // umask (0o600 under 0o077), so the answer is made readable by chmod, which the umask does not touch.
      await chmod(tmp, 0o644);
      await rename(tmp, join(this.dir, `response-${m[1]}.json`));
    }
  }

  private async answer(path: string): Promise<Record<string, unknown>> {
    let v: unknown;
    try {
      v = JSON.parse(await readFile(path, "utf8"));
    } catch (err) {
      throw new CleanRoomError("invalid-argument", `the noise request is not JSON (${messageOf(err)}); write it to a temporary name and rename it`);
    }
    const req = parseRequest(v, this.ctx.inputs);
    const wanted = req.rho ?? cdpRho(req.epsilon as number, req.delta ?? 1e-9);
    // Noise of variance ≥ Δ²/(2ρ), rounded up; the ledger records the (smaller or equal) cost of the rounded variance.
    const variance = rationalAtLeast((req.sensitivity * req.sensitivity) / (2 * wanted));
    const rho = gaussianRho(Math.sqrt(rationalValue(variance)), req.sensitivity);
    const signer: LedgerSigner = {
      role: "executor",
      sign: async (_payload, digestHex) => ({ alg: "attestation", token: await this.ctx.requestToken(this.ctx.descriptor.attestation.audience, [digestHex]) }),
    };
    const store = this.ctx.ledgerStore
      ? this.ctx.ledgerStore(findProvider(this.ctx.descriptor, req.provider), req.dataset)
      : roomLedgerStore(this.ctx.descriptor, req.provider, req.dataset);
    const ledger = await PrivacyLedger.open({ store, dataset: req.dataset, signer });
    // Refused here (budget-exceeded) before any noise exists.
    const { entry, hash } = await ledger.spend({
      stage: "stage2",
      mechanism: "gaussian",
      rho,
      ...(req.rho === undefined ? { epsilon: req.epsilon, delta: req.delta ?? 1e-9 } : {}),
      detail: { count: req.count, sensitivity: req.sensitivity },
      job: this.ctx.job,
    });
    this.spends.push({ provider: req.provider, dataset: req.dataset, seq: entry.seq, entry: hash, rho, count: req.count, sensitivity: req.sensitivity });
    const noise = Array.from(discreteGaussianVector(this.rng, variance, req.count));
    return { noise, sd: Math.sqrt(rationalValue(variance)), rho, entry: hash, seq: entry.seq };
  }
}

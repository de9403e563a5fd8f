/**
 * The privacy ledger of one dataset: `ledger.json` beside its stage-1 artefacts.
 *
 * Every release appends `{ mechanism, rho, epsilon, delta, time, artefact }`. ρ values add up (zCDP composition);
 * a release that would take the total above the dataset's budget ρ_B = cdpRho(ε_B, δ_B) is refused before any data
 * is read. Writes are atomic (temporary file + rename) and a lock file serialises concurrent releases.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { cdpEps, cdpRho } from "./accounting.js";

/** Format tag of `ledger.json`. */
export const LEDGER_FORMAT = "acr-dp-ledger-v1";
/** File name of the ledger beside the artefacts. */
export const LEDGER_FILE = "ledger.json";

/** One release recorded in the ledger. */
export interface LedgerEntry {
  /** What produced the release, e.g. `mst`, `product-of-marginals`, `aggregates`. */
  readonly mechanism: string;
  /** zCDP cost actually spent. */
  readonly rho: number;
  /** The ε the release was requested with (at `delta`). */
  readonly epsilon: number;
  /** The δ the release was requested with. */
  readonly delta: number;
  /** ISO-8601 time of the release. */
  readonly time: string;
  /** `sha256:<hex>` of the released artefact. */
  readonly artefact: string;
  /** File name of the artefact, relative to the ledger's directory. */
  readonly artefactName?: string;
  /** Present and `true` only for a release made with the seeded test stream (never valid as real DP). */
  readonly testSeeded?: boolean;
}

/** The dataset's total budget. */
export interface LedgerBudget {
  readonly epsilon: number;
  readonly delta: number;
}

/** The content of `ledger.json`. */
export interface LedgerFile {
  readonly format: string;
  readonly dataset: string;
  /** The budget in force at the last write, with its ρ. */
  readonly budget: { readonly epsilon: number; readonly delta: number; readonly rho: number };
  /** Total ρ spent and the ε it amounts to at the budget's δ (`cdpEps`). */
  readonly spent: { readonly rho: number; readonly epsilon: number };
  readonly entries: readonly LedgerEntry[];
}

/** Relative slack for floating-point equality when a release spends exactly the whole budget. */
const SLACK = 1e-9;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reads a ledger file; a missing file is an empty ledger. @throws CleanRoomError `invalid-argument` when malformed */
export async function readLedger(path: string): Promise<LedgerFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw new CleanRoomError("io-error", `Cannot read the privacy ledger ${path}: ${messageOf(err)}`, { cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `The privacy ledger ${path} is not valid JSON (${messageOf(err)}); restore it from backup: releases cannot be accounted without it`);
  }
  if (!isObject(v) || v.format !== LEDGER_FORMAT || !Array.isArray(v.entries)) {
    throw new CleanRoomError("invalid-argument", `The privacy ledger ${path} is not an ${LEDGER_FORMAT} file`);
  }
  for (const [i, e] of v.entries.entries()) {
    if (!isObject(e) || typeof e.rho !== "number" || !(e.rho >= 0) || typeof e.mechanism !== "string") {
      throw new CleanRoomError("invalid-argument", `The privacy ledger ${path} has a malformed entry ${i} (needs mechanism and rho >= 0)`);
    }
  }
  return v as unknown as LedgerFile;
}

/** Total ρ of a ledger's entries. */
export function spentRho(ledger: LedgerFile | undefined): number {
  return (ledger?.entries ?? []).reduce((s, e) => s + e.rho, 0);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    // rename is atomic on one filesystem: a reader sees the old ledger or the new one, never half of one.
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CleanRoomError("io-error", `Cannot write the privacy ledger ${path}: ${messageOf(err)}`, { cause: err });
  }
}

async function acquireLock(lockPath: string, timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const h = await open(lockPath, "wx", 0o600);
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") {
        throw new CleanRoomError("io-error", `Cannot create the ledger lock ${lockPath}: ${messageOf(err)}`, { cause: err });
      }
      if (Date.now() > deadline) {
        throw new CleanRoomError(
          "timeout",
          `The privacy ledger is locked by another release (${lockPath}). If no release is running, delete that file and retry.`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** What `recordRelease` needs to know about one release. */
export interface ReleaseRequest {
  /** The ledger file (`<dir>/ledger.json`). */
  readonly ledgerPath: string;
  /** The dataset's name (recorded in a new ledger). */
  readonly dataset: string;
  /** The dataset's total budget. */
  readonly budget: LedgerBudget;
  /** The mechanism's name for the entry. */
  readonly mechanism: string;
  /** ρ this release spends (an upper bound: the release is refused when it does not fit). */
  readonly rho: number;
  /** ε and δ the release was asked for. */
  readonly epsilon: number;
  readonly delta: number;
  /** Marks an entry made with the seeded test stream. */
  readonly testSeeded?: boolean;
  /** How long to wait for another release's lock. @default 10000 */
  readonly lockTimeoutMs?: number;
}

/**
 * Refuses a release that does not fit the remaining budget.
 * @throws CleanRoomError `budget-exceeded` with what was spent, what is asked and what remains
 */
export function assertWithinBudget(ledger: LedgerFile | undefined, budget: LedgerBudget, rho: number, ledgerPath: string): void {
  const budgetRho = cdpRho(budget.epsilon, budget.delta);
  const spent = spentRho(ledger);
  if (spent + rho > budgetRho * (1 + SLACK)) {
    const remaining = Math.max(0, budgetRho - spent);
    throw new CleanRoomError(
      "budget-exceeded",
      `This release needs ρ=${rho.toPrecision(4)} but the dataset's budget (ε=${budget.epsilon}, δ=${budget.delta}: ρ=${budgetRho.toPrecision(4)}) ` +
        `has ρ=${remaining.toPrecision(4)} left (spent ${spent.toPrecision(4)} in ${ledger?.entries.length ?? 0} release(s), see ${ledgerPath}). ` +
        `Ask for a smaller epsilon, or reuse an earlier release: DP data does not get better by being released twice.`,
    );
  }
}

/**
 * Runs one release under the ledger: lock → refuse if over budget → `produce()` writes the artefact to a temporary
 * path and returns it → the ledger entry is written (atomically) → the artefact is renamed into place → unlock.
 * The ledger is written *before* the artefact appears, so a crash can only over-count, never under-count.
 *
 * @param produce writes the artefact and returns `{ tmpPath, finalPath, digest }`
 */
export async function recordRelease<T extends { tmpPath: string; finalPath: string; digest: string }>(
  req: ReleaseRequest,
  produce: () => Promise<T>,
): Promise<{ entry: LedgerEntry; ledger: LedgerFile; result: T }> {
  if (!(req.rho >= 0) || !Number.isFinite(req.rho)) throw new CleanRoomError("invalid-argument", `rho must be a finite number >= 0 (got ${req.rho})`);
  await mkdir(dirname(req.ledgerPath), { recursive: true, mode: 0o700 });
  const unlock = await acquireLock(`${req.ledgerPath}.lock`, req.lockTimeoutMs ?? 10_000);
  try {
    const before = await readLedger(req.ledgerPath);
    assertWithinBudget(before, req.budget, req.rho, req.ledgerPath);
    const result = await produce();
    const entry: LedgerEntry = {
      mechanism: req.mechanism,
      rho: req.rho,
      epsilon: req.epsilon,
      delta: req.delta,
      time: new Date().toISOString(),
      artefact: result.digest,
      artefactName: relativeName(req.ledgerPath, result.finalPath),
      ...(req.testSeeded ? { testSeeded: true } : {}),
    };
    const entries = [...(before?.entries ?? []), entry];
    const rho = entries.reduce((s, e) => s + e.rho, 0);
    const ledger: LedgerFile = {
      format: LEDGER_FORMAT,
      dataset: before?.dataset ?? req.dataset,
      budget: { epsilon: req.budget.epsilon, delta: req.budget.delta, rho: cdpRho(req.budget.epsilon, req.budget.delta) },
      spent: { rho, epsilon: cdpEps(rho, req.budget.delta) },
      entries,
    };
    try {
      await writeAtomic(req.ledgerPath, `${JSON.stringify(ledger, null, 2)}\n`);
      await rename(result.tmpPath, result.finalPath);
    } catch (err) {
      await rm(result.tmpPath, { force: true });
      throw err;
    }
    return { entry, ledger, result };
  } finally {
    await unlock();
  }
}

function relativeName(ledgerPath: string, artefact: string): string {
  const dir = dirname(ledgerPath);
  return artefact.startsWith(`${dir}/`) ? artefact.slice(dir.length + 1) : artefact;
}

/** The ledger path inside an artefact directory. */
export function ledgerPathIn(dir: string): string {
  return join(dir, LEDGER_FILE);
}

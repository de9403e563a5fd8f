/**
 * The privacy ledger of one dataset: every spend of its budget, from both stages, in one hash-chained, append-only log.
 *
 * - Entries: `genesis` (dataset, budget, the provider's public key), `spend` (stage-1 synthetic data or aggregates,
 *   a `dp query`, a stage-2 job's DP release), `artefact` (the digest of what a stage-1 spend released),
 *   `budget-change` (only through an explicit, loudly named option; recorded with the old and new budget).
 * - Each entry names the digest of the previous one (`prev`) and is signed by whoever may spend: the provider's
 *   Ed25519 key, or — for stage-2 spends — an attestation token whose nonce is the entry's digest.
 * - Accounting is zCDP throughout: every request is converted once to ρ (`cdpRho`), ρ values add up, and the total is
 *   compared with ρ of the budget. A spend that would exceed it is refused **before** any noise is drawn: the entry
 *   is written first (a crash afterwards can only over-count), and the noise only then.
 * - Concurrency: entry `n` can be created by exactly one writer (`ledger-store.ts`); a writer that loses the race
 *   re-reads the ledger and checks the budget again, so concurrent spenders never exceed the budget together.
 */
import { canonicalJson, sha256Hex } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { cdpEps, cdpRho } from "./accounting.js";
import type { EntrySignature, LedgerPublicKey, LedgerSigner } from "./ledger-keys.js";
import { entryName, type LedgerStore } from "./ledger-store.js";

/** Format tag of every entry. */
export const LEDGER_FORMAT = "acr-dp-ledger-v2";
/** Format tag of the single-file ledgers written before the hash chain (`ledger.json`); see `ledger-migrate.ts`. */
export const LEDGER_V1_FORMAT = "acr-dp-ledger-v1";
/** Largest δ of a budget (the spec's bound). */
export const MAX_BUDGET_DELTA = 1e-3;
/** Largest ε of a budget (the spec's bound). */
export const MAX_BUDGET_EPSILON = 20;

/** A dataset's total budget. */
export interface LedgerBudget {
  readonly epsilon: number;
  readonly delta: number;
}

/** A budget with its ρ (`cdpRho(ε, δ)`). */
export interface RecordedBudget extends LedgerBudget {
  readonly rho: number;
}

/** Who spends: a stage-1 release, a DP query, or a stage-2 job. */
export type SpendStage = "stage1" | "query" | "stage2";

interface EntryCommon {
  readonly format: string;
  readonly dataset: string;
  readonly seq: number;
  /** `sha256:` of the previous entry's canonical JSON (signature included); null for the genesis entry. */
  readonly prev: string | null;
  /** ISO-8601 UTC. */
  readonly time: string;
  readonly signature: EntrySignature;
}

/** The first entry: what the ledger accounts, its budget and who may sign. */
export interface GenesisEntry extends EntryCommon {
  readonly kind: "genesis";
  readonly budget: RecordedBudget;
  /** The provider's public key; every provider-signed entry must verify against it. */
  readonly providerKey: LedgerPublicKey;
}

/** One spend of the budget. */
export interface SpendEntry extends EntryCommon {
  readonly kind: "spend";
  readonly stage: SpendStage;
  /** e.g. `mst`, `aim`, `aggregates`, `count`, `histogram`, `gaussian` */
  readonly mechanism: string;
  /** zCDP cost (from the exact, rounded noise parameters). */
  readonly rho: number;
  /** The ε and δ the request was made with, when it was made in (ε, δ). */
  readonly epsilon?: number;
  readonly delta?: number;
  /** What was asked (column names, query kind, number of noise values): public, never data. */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
  /** Stage 2: the job that spent (its digest is also in the entry's attestation token). */
  readonly job?: { readonly jobId: string; readonly jobDigest: string };
  /** Present and true only for a release with the seeded test stream (never valid as DP). */
  readonly testSeeded?: boolean;
  /** A spend carried over from a version-1 ledger: its original time and artefact. */
  readonly migrated?: { readonly time: string; readonly artefact?: string; readonly artefactName?: string };
}

/** The artefact a stage-1 spend released. */
export interface ArtefactEntry extends EntryCommon {
  readonly kind: "artefact";
  /** Sequence number of the spend this artefact belongs to. */
  readonly spend: number;
  /** `sha256:<hex>` of the artefact's bytes. */
  readonly artefact: string;
  /** Its name (e.g. `synthetic.csv`, or a `gs://` URI). */
  readonly name: string;
}

/** A budget change (never silent: only through an explicit option, and recorded here). */
export interface BudgetChangeEntry extends EntryCommon {
  readonly kind: "budget-change";
  readonly budget: RecordedBudget;
  readonly previous: RecordedBudget;
}

/** Any ledger entry. */
export type LedgerEntry = GenesisEntry | SpendEntry | ArtefactEntry | BudgetChangeEntry;
/** An entry before it is signed. */
export type UnsignedEntry = LedgerEntry extends infer E ? (E extends LedgerEntry ? Omit<E, "signature"> : never) : never;

/** The ledger as read: entries plus what they add up to. */
export interface LedgerState {
  readonly location: string;
  readonly dataset: string;
  readonly entries: readonly LedgerEntry[];
  /** Digest of each entry (the next entry's `prev`). */
  readonly hashes: readonly string[];
  /** The budget in force (the genesis budget or the last budget change). */
  readonly budget: RecordedBudget;
  /** Total ρ spent, and the ε it amounts to at the budget's δ (`cdpEps`). */
  readonly spent: { readonly rho: number; readonly epsilon: number };
  /** ρ left. */
  readonly remainingRho: number;
  /** Digest of the last entry: pin it to detect a truncated ledger later (`ledger verify --head`). */
  readonly head: string;
}

/** Relative slack for floating-point equality when a spend takes exactly what is left. */
const SLACK = 1e-9;
/** How often a writer retries after losing a race for the next slot. */
const MAX_RACES = 200;

/** The canonical JSON an entry's signature covers: the entry without `signature`. */
export function signedPayload(entry: UnsignedEntry | LedgerEntry): string {
  const { signature: _s, ...rest } = entry as LedgerEntry;
  return canonicalJson(rest);
}

/** `sha256:` of an entry's canonical JSON, signature included: what the next entry's `prev` names. */
export function entryHash(entry: LedgerEntry): string {
  return `sha256:${sha256Hex(canonicalJson(entry))}`;
}

/** Checks a budget is inside the spec's bounds; returns it with its ρ. */
export function recordedBudget(b: LedgerBudget, what = "budget"): RecordedBudget {
  const problems: string[] = [];
  if (!(typeof b.epsilon === "number" && b.epsilon > 0 && b.epsilon <= MAX_BUDGET_EPSILON)) {
    problems.push(`${what} epsilon must be > 0 and <= ${MAX_BUDGET_EPSILON} (got ${b.epsilon})`);
  }
  if (!(typeof b.delta === "number" && b.delta > 0 && b.delta < MAX_BUDGET_DELTA)) {
    problems.push(`${what} delta must be > 0 and < ${MAX_BUDGET_DELTA} (got ${b.delta}); use about 1/rows²`);
  }
  if (problems.length) throw new CleanRoomError("invalid-argument", `Invalid privacy ${what}: ${problems.join("; ")}`, { problems });
  return { epsilon: b.epsilon, delta: b.delta, rho: cdpRho(b.epsilon, b.delta) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Parses one stored entry; @throws CleanRoomError `ledger-corrupt` naming the entry */
function parseEntry(bytes: Buffer, seq: number, location: string): LedgerEntry {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new CleanRoomError("ledger-corrupt", `Entry ${entryName(seq)} of the privacy ledger ${location} is not valid JSON (${messageOf(err)}): restore the ledger from a copy; releases cannot be accounted without it`);
  }
  if (!isObject(v) || v.format !== LEDGER_FORMAT || v.seq !== seq || typeof v.kind !== "string" || !isObject(v.signature)) {
    throw new CleanRoomError("ledger-corrupt", `Entry ${entryName(seq)} of the privacy ledger ${location} is not an ${LEDGER_FORMAT} entry numbered ${seq}`);
  }
  if (v.kind === "spend" && !(typeof v.rho === "number" && v.rho >= 0 && Number.isFinite(v.rho))) {
    throw new CleanRoomError("ledger-corrupt", `Entry ${entryName(seq)} of the privacy ledger ${location} is a spend without a finite rho >= 0`);
  }
  return v as unknown as LedgerEntry;
}

/**
 * Checks the chain's structure (consecutive numbers, one genesis first, each `prev` the digest of the entry before,
 * one dataset) and adds up the spends. Signatures are checked by `verifyLedger`.
 *
 * @throws CleanRoomError `ledger-corrupt` at the first broken link, `not-found` for an empty ledger
 */
export function summarize(location: string, stored: readonly { seq: number; bytes: Buffer }[]): LedgerState {
  if (stored.length === 0) throw new CleanRoomError("not-found", `There is no privacy ledger at ${location} yet`);
  const entries: LedgerEntry[] = [];
  const hashes: string[] = [];
  let budget: RecordedBudget | undefined;
  let spent = 0;
  stored.forEach(({ seq, bytes }, i) => {
    if (seq !== i) throw new CleanRoomError("ledger-corrupt", `The privacy ledger ${location} has no entry ${entryName(i)} (the next one is ${entryName(seq)}): an entry was removed`);
    const e = parseEntry(bytes, seq, location);
    const expectedPrev = i === 0 ? null : hashes[i - 1];
    if (e.prev !== expectedPrev) {
      throw new CleanRoomError("ledger-corrupt", `Entry ${entryName(i)} of the privacy ledger ${location} does not follow entry ${i - 1}: its prev is ${e.prev}, the entry before hashes to ${expectedPrev}. An entry was edited, removed or reordered`);
    }
    if ((i === 0) !== (e.kind === "genesis")) {
      throw new CleanRoomError("ledger-corrupt", `The privacy ledger ${location} must start with exactly one genesis entry (entry ${i} is ${e.kind})`);
    }
    if (i > 0 && e.dataset !== entries[0].dataset) {
      throw new CleanRoomError("ledger-corrupt", `Entry ${i} of the privacy ledger ${location} is for dataset "${e.dataset}", not "${entries[0].dataset}"`);
    }
    if (e.kind === "genesis" || e.kind === "budget-change") budget = e.budget;
    if (e.kind === "spend") spent += e.rho;
    entries.push(e);
    hashes.push(entryHash(e));
  });
  const b = budget as RecordedBudget;
  return {
    location,
    dataset: entries[0].dataset,
    entries,
    hashes,
    budget: b,
    spent: { rho: spent, epsilon: spent > 0 ? cdpEps(spent, b.delta) : 0 },
    remainingRho: Math.max(0, b.rho - spent),
    head: hashes[hashes.length - 1],
  };
}

/** What a spend asks for. */
export interface SpendRequest {
  readonly stage: SpendStage;
  readonly mechanism: string;
  /** ρ this spend costs (an upper bound: the exact rounded cost of the noise about to be drawn). */
  readonly rho: number;
  readonly epsilon?: number;
  readonly delta?: number;
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
  readonly job?: { readonly jobId: string; readonly jobDigest: string };
  readonly testSeeded?: boolean;
  readonly migrated?: SpendEntry["migrated"];
}

/** What opening (or creating) a ledger for a release needs. */
export interface LedgerTarget {
  readonly store: LedgerStore;
  /** The dataset's name (recorded in a new ledger; must match an existing one). @default - an existing ledger's own */
  readonly dataset?: string;
  /**
   * The budget the caller expects. A new ledger is created with it; an existing ledger with a different budget is
   * refused (`budget-mismatch`) unless `forceBudgetChange` is set, which records the change.
   * @default - an existing ledger's own budget (a new ledger then cannot be created)
   */
  readonly budget?: LedgerBudget;
  /** Replace an existing ledger's different budget with `budget`, recording the change. @default false */
  readonly forceBudgetChange?: boolean;
  /** Signs the entries this caller appends. */
  readonly signer: LedgerSigner;
}

function sameBudget(a: LedgerBudget, b: LedgerBudget): boolean {
  return a.epsilon === b.epsilon && a.delta === b.delta;
}

/** A dataset's ledger, bound to the signer that appends to it. */
export class PrivacyLedger {
  private constructor(
    readonly store: LedgerStore,
    private readonly signer: LedgerSigner,
  ) {}

  /**
   * Opens a dataset's ledger for spending: creates it (genesis entry, provider-signed) when it does not exist and a
   * budget is given; refuses a budget that differs from the stored one unless `forceBudgetChange`.
   *
   * @throws CleanRoomError `not-found` (no ledger and no budget), `budget-mismatch`, `ledger-corrupt`, `invalid-argument`
   */
  static async open(target: LedgerTarget): Promise<PrivacyLedger> {
    const wanted = target.budget === undefined ? undefined : recordedBudget(target.budget);
    const ledger = new PrivacyLedger(target.store, target.signer);
    for (let race = 0; race < MAX_RACES; race++) {
      const stored = await target.store.list();
      if (stored.length === 0) {
        if (!wanted || target.dataset === undefined) {
          throw new CleanRoomError(
            "not-found",
            `There is no privacy ledger at ${target.store.location} yet: give the dataset's name and total budget (--dataset, --budget-epsilon, --budget-delta) to create it`,
          );
        }
        if (target.signer.role !== "provider" || !("publicKey" in target.signer)) {
          throw new CleanRoomError("denied", `Only the provider creates a dataset's privacy ledger (${target.store.location} does not exist)`);
        }
        const genesis = {
          format: LEDGER_FORMAT,
          dataset: target.dataset,
          seq: 0,
          prev: null,
          time: new Date().toISOString(),
          kind: "genesis" as const,
          budget: wanted,
          providerKey: (target.signer as LedgerSigner & { publicKey: LedgerPublicKey }).publicKey,
        };
        if (await ledger.write(genesis)) return ledger;
        continue; // someone else created it: read theirs
      }
      const state = summarize(target.store.location, stored);
      if (target.dataset !== undefined && state.dataset !== target.dataset) {
        throw new CleanRoomError("invalid-argument", `The privacy ledger ${target.store.location} is dataset "${state.dataset}"'s, not "${target.dataset}"'s`);
      }
      if (!wanted || sameBudget(wanted, state.budget)) return ledger;
      if (!target.forceBudgetChange) {
        throw new CleanRoomError(
          "budget-mismatch",
          `The privacy ledger ${target.store.location} has a budget of ε=${state.budget.epsilon}, δ=${state.budget.delta}; this request gives ε=${wanted.epsilon}, δ=${wanted.delta}. ` +
            `The stored budget stays in force: drop --budget-epsilon/--budget-delta (or fix the spec), or pass --force-budget-change to change it and record the change in the ledger.`,
        );
      }
      if (await ledger.appendBudgetChange(state, wanted)) return ledger;
    }
    throw new CleanRoomError("timeout", `Too many concurrent writers on the privacy ledger ${target.store.location}; retry`);
  }

  /** Reads and checks the ledger's chain. */
  async state(): Promise<LedgerState> {
    return summarize(this.store.location, await this.store.list());
  }

  private async write(unsigned: UnsignedEntry): Promise<LedgerEntry | undefined> {
    const payload = signedPayload(unsigned);
    const signature = await this.signer.sign(payload, sha256Hex(payload));
    const entry = { ...unsigned, signature } as LedgerEntry;
    const ok = await this.store.create(entry.seq, Buffer.from(`${JSON.stringify(entry, null, 2)}\n`, "utf8"));
    return ok ? entry : undefined;
  }

  private async appendBudgetChange(state: LedgerState, budget: RecordedBudget): Promise<boolean> {
    if (this.signer.role !== "provider") throw new CleanRoomError("denied", "Only the provider changes a dataset's budget");
    const e = await this.write({
      format: LEDGER_FORMAT,
      dataset: state.dataset,
      seq: state.entries.length,
      prev: state.head,
      time: new Date().toISOString(),
      kind: "budget-change",
      budget,
      previous: state.budget,
    });
    return e !== undefined;
  }

  /**
   * Records a spend if it fits the budget; call it **before** drawing any noise.
   *
   * @returns the entry written and its digest
   * @throws CleanRoomError `budget-exceeded` with what was spent, what is asked and what is left (nothing is written)
   */
  async spend(req: SpendRequest): Promise<{ entry: SpendEntry; hash: string; state: LedgerState }> {
    if (!(req.rho >= 0) || !Number.isFinite(req.rho)) throw new CleanRoomError("invalid-argument", `rho must be a finite number >= 0 (got ${req.rho})`);
    for (let race = 0; race < MAX_RACES; race++) {
      const state = await this.state();
      assertWithinBudget(state, req.rho);
      const entry = (await this.write({
        format: LEDGER_FORMAT,
        dataset: state.dataset,
        seq: state.entries.length,
        prev: state.head,
        time: new Date().toISOString(),
        kind: "spend",
        stage: req.stage,
        mechanism: req.mechanism,
        rho: req.rho,
        ...(req.epsilon !== undefined ? { epsilon: req.epsilon } : {}),
        ...(req.delta !== undefined ? { delta: req.delta } : {}),
        ...(req.detail ? { detail: req.detail } : {}),
        ...(req.job ? { job: req.job } : {}),
        ...(req.testSeeded ? { testSeeded: true } : {}),
        ...(req.migrated ? { migrated: req.migrated } : {}),
      })) as SpendEntry | undefined;
      if (entry) return { entry, hash: entryHash(entry), state };
      // Lost the race for this slot: read again and re-check the budget with the winner's spend counted.
    }
    throw new CleanRoomError("timeout", `Too many concurrent writers on the privacy ledger ${this.store.location}; retry`);
  }

  /** Records the digest of what a spend released (provider-signed, costs nothing). */
  async recordArtefact(spend: number, artefact: string, name: string): Promise<ArtefactEntry> {
    for (let race = 0; race < MAX_RACES; race++) {
      const state = await this.state();
      const e = await this.write({
        format: LEDGER_FORMAT,
        dataset: state.dataset,
        seq: state.entries.length,
        prev: state.head,
        time: new Date().toISOString(),
        kind: "artefact",
        spend,
        artefact,
        name,
      });
      if (e) return e as ArtefactEntry;
    }
    throw new CleanRoomError("timeout", `Too many concurrent writers on the privacy ledger ${this.store.location}; retry`);
  }
}

/**
 * Refuses a spend that does not fit what is left of the budget.
 * @throws CleanRoomError `budget-exceeded` with what was spent, what is asked and what is left
 */
export function assertWithinBudget(state: LedgerState, rho: number): void {
  if (state.spent.rho + rho <= state.budget.rho * (1 + SLACK)) return;
  const spends = state.entries.filter((e) => e.kind === "spend").length;
  throw new CleanRoomError(
    "budget-exceeded",
    `This release needs ρ=${rho.toPrecision(4)} but the dataset's budget (ε=${state.budget.epsilon}, δ=${state.budget.delta}: ρ=${state.budget.rho.toPrecision(4)}) ` +
      `has ρ=${state.remainingRho.toPrecision(4)} left (spent ${state.spent.rho.toPrecision(4)} in ${spends} spend(s), see ${state.location}). ` +
      `Ask for a smaller epsilon, or reuse an earlier release: DP data does not get better by being released twice.`,
  );
}

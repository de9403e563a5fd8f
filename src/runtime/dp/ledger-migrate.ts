/**
 * Version-1 ledgers (`ledger.json`, one mutable file, no chain, no signatures): recognised everywhere a ledger is
 * named, refused with the command that migrates them, and migrated into a signed, hash-chained ledger.
 *
 * A migration cannot prove the old history (nothing signed it): the provider's signature on the new entries says
 * "I carry these spends over", and the genesis entry records the sha256 of the file they came from.
 */
import { readFile } from "node:fs/promises";
import { sha256Hex } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { LEDGER_V1_FORMAT, type LedgerState, PrivacyLedger, recordedBudget } from "./ledger.js";
import type { LedgerSigner } from "./ledger-keys.js";
import type { LedgerStore } from "./ledger-store.js";

/** The refusal every command gives for a version-1 ledger file. */
export function v1Refusal(path: string): CleanRoomError {
  return new CleanRoomError(
    "ledger-format",
    `${path} is a version-1 privacy ledger (${LEDGER_V1_FORMAT}: one unsigned file). Ledgers are now signed, hash-chained directories. ` +
      `Migrate it once with \`cleanroom dp ledger migrate ${path} --to <new ledger dir>\`, then pass --ledger <new ledger dir>.`,
  );
}

/** `true` when the bytes are a version-1 ledger. */
export function isV1Ledger(text: string): boolean {
  try {
    return (JSON.parse(text) as { format?: unknown }).format === LEDGER_V1_FORMAT;
  } catch {
    return false;
  }
}

interface V1Entry {
  mechanism: string;
  rho: number;
  epsilon?: number;
  delta?: number;
  time?: string;
  artefact?: string;
  artefactName?: string;
  testSeeded?: boolean;
}

/**
 * Migrates a version-1 `ledger.json` into an empty ledger store: a genesis entry with the old budget, then one spend
 * per old entry (same mechanism, ρ, ε, δ; the old time and artefact kept under `migrated`).
 *
 * @throws CleanRoomError `invalid-argument` when the file is not a v1 ledger, `already-exists` when the target has entries
 */
export async function migrateV1Ledger(v1Path: string, target: LedgerStore, signer: LedgerSigner): Promise<LedgerState> {
  let text: string;
  try {
    text = await readFile(v1Path, "utf8");
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read ${v1Path}: ${messageOf(err)}`, { cause: err });
  }
  let v: { format?: unknown; dataset?: unknown; budget?: { epsilon?: unknown; delta?: unknown }; entries?: unknown };
  try {
    v = JSON.parse(text);
  } catch {
    throw new CleanRoomError("invalid-argument", `${v1Path} is not valid JSON: it is not a version-1 ledger`);
  }
  if (v.format !== LEDGER_V1_FORMAT || typeof v.dataset !== "string" || !Array.isArray(v.entries) || !v.budget) {
    throw new CleanRoomError("invalid-argument", `${v1Path} is not a ${LEDGER_V1_FORMAT} file`);
  }
  if ((await target.list()).length > 0) {
    throw new CleanRoomError("already-exists", `${target.location} already holds a ledger; migrate into a new, empty directory`);
  }
  const entries = v.entries as V1Entry[];
  for (const [i, e] of entries.entries()) {
    if (typeof e?.mechanism !== "string" || !(typeof e.rho === "number" && e.rho >= 0)) {
      throw new CleanRoomError("invalid-argument", `${v1Path} entry ${i} has no mechanism or rho: fix or restore the file before migrating`);
    }
  }
  const budget = recordedBudget({ epsilon: Number(v.budget.epsilon), delta: Number(v.budget.delta) });
  const ledger = await PrivacyLedger.open({ store: target, dataset: v.dataset, budget, signer });
  // The genesis entry was just written; record where the history came from in the first spend's detail instead of
  // rewriting it (entries are create-only).
  const source = { migratedFrom: LEDGER_V1_FORMAT, sha256: sha256Hex(text), entries: entries.length };
  for (const e of entries) {
    await ledger.spend({
      stage: "stage1",
      mechanism: e.mechanism,
      rho: e.rho,
      ...(typeof e.epsilon === "number" ? { epsilon: e.epsilon } : {}),
      ...(typeof e.delta === "number" ? { delta: e.delta } : {}),
      detail: source,
      ...(e.testSeeded ? { testSeeded: true } : {}),
      migrated: {
        time: String(e.time ?? ""),
        ...(e.artefact ? { artefact: e.artefact } : {}),
        ...(e.artefactName ? { artefactName: e.artefactName } : {}),
      },
    });
  }
  return ledger.state();
}

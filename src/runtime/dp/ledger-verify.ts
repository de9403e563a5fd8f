/**
 * Offline verification of a privacy ledger (`cleanroom dp ledger verify`): the chain, every signature, and that the
 * budget in force was never exceeded at any point of the history.
 *
 * - Provider entries must verify against the genesis entry's key (and against a key the auditor pins, if given).
 * - Stage-2 entries must carry an attestation token that verifies against the room's roots, whose nonce is the digest
 *   of the entry, whose claims satisfy the room's attestation policy, and whose job digest is the entry's.
 * - A removed, edited or reordered entry breaks a `prev` link or a signature. Removing the *last* entries leaves a
 *   shorter valid chain: pass the head digest you kept (`--head`, printed by every release) to catch that.
 */
import { LOCAL_ISSUER } from "../../core/attestation.js";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { sha256Hex } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { decodeTokenTimes, verifyAttestation } from "../verify/token.js";
import { JOB_DIGEST_ENV } from "../../core/attestation.js";
import { type LedgerState, type RecordedBudget, signedPayload, summarize } from "./ledger.js";
import { type LedgerPublicKey, verifyProviderSignature } from "./ledger-keys.js";
import { entryName, type LedgerStore } from "./ledger-store.js";

/** What to verify a ledger against. */
export interface VerifyLedgerOptions {
  /** The provider's public key, if the auditor knows it. @default - the key the genesis entry names */
  readonly providerKey?: LedgerPublicKey;
  /** A head digest kept from earlier: the ledger must contain it (a truncated ledger does not). */
  readonly head?: string;
  /** The room whose executors' stage-2 entries are checked. Required when the ledger has stage-2 entries. */
  readonly room?: CleanRoomDescriptor;
  /** PEM roots for the attestation tokens. @default - Google's pinned root (gcp); the room's own roots (local) */
  readonly trustedRoots?: readonly string[];
}

/** A verified ledger. */
export interface LedgerVerification extends LedgerState {
  readonly verified: true;
  /** Entries signed by the provider, and by attested executors. */
  readonly signedByProvider: number;
  readonly attested: number;
}

const SLACK = 1e-9;

function fail(message: string): never {
  throw new CleanRoomError("ledger-corrupt", message);
}

/**
 * Verifies a whole ledger offline.
 *
 * @throws CleanRoomError `ledger-corrupt` naming the first entry that does not verify, `not-found` for an empty ledger
 */
export async function verifyLedger(store: LedgerStore, options: VerifyLedgerOptions = {}): Promise<LedgerVerification> {
  const state = summarize(store.location, await store.list());
  const genesis = state.entries[0];
  if (genesis.kind !== "genesis") fail(`The privacy ledger ${store.location} does not start with a genesis entry`);
  const key = genesis.providerKey;
  if (options.providerKey && options.providerKey.x !== key.x) {
    fail(`The privacy ledger ${store.location} was started with another provider key (${key.x}) than the one you pinned (${options.providerKey.x})`);
  }
  let budget: RecordedBudget = genesis.budget;
  let spent = 0;
  let signedByProvider = 0;
  let attested = 0;
  const spendStages = new Map<number, string>();
  for (const [i, e] of state.entries.entries()) {
    const where = `Entry ${entryName(i)} (${e.kind}) of ${store.location}`;
    const payload = signedPayload(e);
    const stage2 = e.kind === "spend" && e.stage === "stage2";
    if (e.signature.alg === "Ed25519") {
      if (stage2) fail(`${where} is a stage-2 spend signed by the provider key: stage-2 spends must carry the executor's attestation token`);
      if (!verifyProviderSignature(key, payload, e.signature.sig)) fail(`${where} does not verify against the provider key: it was edited or signed by someone else`);
      signedByProvider++;
    } else if (e.signature.alg === "attestation") {
      if (!stage2 || e.kind !== "spend" || !e.job) fail(`${where} carries an attestation token, which only a stage-2 spend may`);
      await checkAttested(e.signature.token, sha256Hex(payload), e.job.jobDigest, where, options);
      attested++;
    } else {
      fail(`${where} has an unknown signature algorithm`);
    }
    if (e.kind === "budget-change") budget = e.budget;
    if (e.kind === "spend") {
      spent += e.rho;
      spendStages.set(e.seq, e.stage);
      if (spent > budget.rho * (1 + SLACK)) {
        fail(`${where} takes the total to ρ=${spent.toPrecision(4)}, above the budget in force (ρ=${budget.rho.toPrecision(4)})`);
      }
    }
    if (e.kind === "artefact" && spendStages.get(e.spend) === undefined) fail(`${where} names spend ${e.spend}, which is not an earlier spend`);
  }
  if (options.head !== undefined && !state.hashes.includes(options.head)) {
    fail(
      `The privacy ledger ${store.location} does not contain the head ${options.head} you kept: entries were removed from its end (or it is another ledger). Its head is now ${state.head}`,
    );
  }
  return { ...state, verified: true, signedByProvider, attested };
}

async function checkAttested(token: string, nonce: string, jobDigest: string, where: string, o: VerifyLedgerOptions): Promise<void> {
  const room = o.room;
  if (!room) throw new CleanRoomError("invalid-argument", `${where} is a stage-2 spend: verify it against the room (--room <descriptor.json>) whose executor made it`);
  const local = room.platform === "local";
  const roots = o.trustedRoots ?? (local ? room.attestation.trustedRoots : undefined);
  if (local && roots === undefined) {
    throw new CleanRoomError("invalid-argument", `${where}: a local room's tokens need its root; pass --trusted-root <root.pem>`);
  }
  try {
    const claims = await verifyAttestation(token, {
      audience: room.attestation.audience,
      ...(local ? { issuer: LOCAL_ISSUER } : {}),
      nonce,
      policy: room.attestation.policy,
      // Ledgers are audited long after the one-hour token expired: check it as of its own issue time.
      currentDate: new Date(decodeTokenTimes(token).iat * 1000),
      ...(roots !== undefined ? { trustedRoots: roots } : {}),
    });
    const attestedDigest = claims.submods?.container?.env_override?.[JOB_DIGEST_ENV];
    if (attestedDigest !== jobDigest) fail(`${where} names job ${jobDigest} but its token attests job ${attestedDigest}`);
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "ledger-corrupt") throw err;
    fail(`${where}: its attestation token does not verify for this entry (${messageOf(err)})`);
  }
}

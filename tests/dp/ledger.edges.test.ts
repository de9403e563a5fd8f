// Edges of the privacy ledger (issue 20, dp mutation pass), in memory: a store at the `LedgerStore` interface that can
// lose the race for a slot (as a second writer would make it), a real Ed25519 provider key, and the budget arithmetic
// at its exact boundary.
import { generateKeyPairSync } from "node:crypto";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpEps, cdpRho } from "../../src/runtime/dp/accounting.js";
import {
  assertWithinBudget,
  entryHash,
  type LedgerEntry,
  type LedgerTarget,
  MAX_BUDGET_DELTA,
  MAX_BUDGET_EPSILON,
  PrivacyLedger,
  recordedBudget,
  signedPayload,
  summarize,
} from "../../src/runtime/dp/ledger.js";
import { providerSigner, verifyProviderSignature } from "../../src/runtime/dp/ledger-keys.js";
import type { LedgerStore } from "../../src/runtime/dp/ledger-store.js";

/** An in-memory store; `rivals` entries are slipped in just before the next `create` calls (a writer that won). */
class MemoryStore implements LedgerStore {
  readonly location = "mem://ledger";
  readonly entries = new Map<number, Buffer>();
  creates = 0;
  /** Called before each create: may add a rival entry for the same slot. */
  beforeCreate: ((seq: number) => void) | undefined;
  async list(): Promise<{ seq: number; bytes: Buffer }[]> {
    return [...this.entries.entries()].sort((a, b) => a[0] - b[0]).map(([seq, bytes]) => ({ seq, bytes }));
  }
  async create(seq: number, bytes: Buffer): Promise<boolean> {
    this.creates++;
    this.beforeCreate?.(seq);
    if (this.entries.has(seq)) return false;
    this.entries.set(seq, bytes);
    return true;
  }
  parsed(): LedgerEntry[] {
    return [...this.entries.values()].map((b) => JSON.parse(b.toString("utf8")) as LedgerEntry);
  }
}

const key = generateKeyPairSync("ed25519").privateKey;
const signer = providerSigner(key);

function target(store: LedgerStore, extra: Partial<LedgerTarget> = {}): LedgerTarget {
  return { store, dataset: "claims", budget: { epsilon: 1, delta: 1e-9 }, signer, ...extra };
}

async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

describe("dp privacy ledger edges (in memory)", () => {
  it("GIVEN budgets at and beyond the spec's bounds THEN the bounds are accepted and every problem beyond them is listed", () => {
    expect(recordedBudget({ epsilon: MAX_BUDGET_EPSILON, delta: 1e-9 }).rho).to.equal(cdpRho(MAX_BUDGET_EPSILON, 1e-9));
    expect(recordedBudget({ epsilon: 1, delta: MAX_BUDGET_DELTA * 0.999 })).to.include({ epsilon: 1, delta: MAX_BUDGET_DELTA * 0.999 });
    for (const b of [
      { epsilon: 0, delta: 1e-9 },
      { epsilon: MAX_BUDGET_EPSILON + 0.01, delta: 1e-9 },
      { epsilon: "1" as unknown as number, delta: 1e-9 },
      { epsilon: 1, delta: 0 },
      { epsilon: 1, delta: MAX_BUDGET_DELTA },
      { epsilon: 1, delta: "1e-9" as unknown as number },
    ]) {
      // Refused by the bounds check itself, which lists the problem (not by a later conversion).
      expect(() => recordedBudget(b), JSON.stringify(b))
        .to.throw(CleanRoomError, /^Invalid privacy budget: budget /)
        .that.includes({ code: "invalid-argument" })
        .and.has.property("problems")
        .that.has.length(1);
    }
    try {
      recordedBudget({ epsilon: -1, delta: 1 }, "stage budget");
      expect.fail("expected a refusal");
    } catch (e) {
      expect((e as CleanRoomError).problems).to.have.length(2);
      expect((e as CleanRoomError).problems?.[0]).to.match(/^stage budget epsilon/);
      expect((e as CleanRoomError).problems?.[1]).to.match(/^stage budget delta/);
    }
  });

  it("GIVEN no ledger THEN opening needs a budget and a dataset, and only the provider may create it", async () => {
    const store = new MemoryStore();
    expect((await rejection(PrivacyLedger.open({ store, signer, dataset: "claims" }))).code).to.equal("not-found");
    expect((await rejection(PrivacyLedger.open({ store, signer, budget: { epsilon: 1, delta: 1e-9 } }))).code).to.equal("not-found");
    const executor = { role: "executor" as const, sign: signer.sign };
    expect((await rejection(PrivacyLedger.open(target(store, { signer: executor })))).code).to.equal("denied");
    // An executor signer that happens to carry a public key is still not the provider.
    const keyedExecutor = { role: "executor" as const, sign: signer.sign, publicKey: signer.publicKey };
    expect((await rejection(PrivacyLedger.open(target(store, { signer: keyedExecutor })))).code).to.equal("denied");
    expect(store.creates).to.equal(0);
    await PrivacyLedger.open(target(store));
    const [g] = store.parsed();
    expect(g).to.include({ kind: "genesis", seq: 0, prev: null, dataset: "claims", format: "acr-dp-ledger-v2" });
    expect(g.signature.alg).to.equal("Ed25519");
    expect(verifyProviderSignature(signer.publicKey, signedPayload(g), (g.signature as { sig: string }).sig)).to.equal(true);
    // Reopening an existing ledger needs neither, but a different dataset name is refused.
    await PrivacyLedger.open({ store, signer });
    expect((await rejection(PrivacyLedger.open(target(store, { dataset: "other" })))).code).to.equal("invalid-argument");
    expect(store.entries.size).to.equal(1);
  });

  it("GIVEN a rival creating the genesis first THEN open reads the rival's ledger instead of failing", async () => {
    const store = new MemoryStore();
    const rival = new MemoryStore();
    await PrivacyLedger.open(target(rival));
    store.beforeCreate = (seq) => {
      if (seq === 0 && !store.entries.has(0)) store.entries.set(0, rival.entries.get(0) as Buffer);
    };
    const ledger = await PrivacyLedger.open(target(store));
    expect((await ledger.state()).entries).to.have.length(1);
    expect(store.entries.get(0)).to.equal(rival.entries.get(0));
  });

  it("GIVEN a spend WHEN a rival takes its slot first THEN it re-reads, counts the rival's spend and refuses what no longer fits", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    const budget = (await ledger.state()).budget.rho;
    // The rival spends 60% on a copy of the same ledger; its entry 1 lands in our store just before our own write.
    const copy = new MemoryStore();
    copy.entries.set(0, store.entries.get(0) as Buffer);
    await (await PrivacyLedger.open({ store: copy, signer })).spend({ stage: "query", mechanism: "count", rho: 0.6 * budget });
    store.beforeCreate = (seq) => {
      if (seq === 1 && !store.entries.has(1)) store.entries.set(1, copy.entries.get(1) as Buffer);
    };
    const err = await rejection(ledger.spend({ stage: "query", mechanism: "count", rho: 0.6 * budget }));
    expect(err.code).to.equal("budget-exceeded");
    const s = await ledger.state();
    expect(s.entries.filter((e) => e.kind === "spend")).to.have.length(1);
    expect(s.spent.rho).to.equal(0.6 * budget);
  });

  it("GIVEN a spend that takes exactly what is left THEN it fits; a hair more does not; ρ must be finite and ≥ 0", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    const budget = (await ledger.state()).budget.rho;
    for (const rho of [-1e-12, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect((await rejection(ledger.spend({ stage: "query", mechanism: "count", rho }))).code).to.equal("invalid-argument");
    }
    const first = await ledger.spend({ stage: "stage1", mechanism: "mst", rho: budget / 2, epsilon: 0.5, delta: 1e-9, detail: { columns: 7 }, testSeeded: true });
    expect(first.entry).to.include({ kind: "spend", seq: 1, stage: "stage1", mechanism: "mst", rho: budget / 2, epsilon: 0.5, delta: 1e-9, testSeeded: true });
    expect(first.entry.detail).to.deep.equal({ columns: 7 });
    expect(first.entry.prev).to.equal(first.state.head);
    expect(first.hash).to.equal(entryHash(first.entry));
    expect(first.hash).to.match(/^sha256:[0-9a-f]{64}$/);
    const s1 = await ledger.state();
    expect(s1.remainingRho).to.be.closeTo(budget / 2, 1e-15);
    expect(s1.spent.epsilon).to.equal(cdpEps(budget / 2, 1e-9));
    expect(s1.head).to.equal(first.hash);
    // Over by more than the 1e-9 slack: refused, nothing written.
    const over = await rejection(ledger.spend({ stage: "query", mechanism: "count", rho: (budget / 2) * (1 + 1e-6) }));
    expect(over.code).to.equal("budget-exceeded");
    // The refusal says how many spends used the budget (the genesis entry is not one).
    expect(over.message).to.match(/ in 1 spend\(s\)/);
    expect(store.entries.size).to.equal(2);
    const last = await ledger.spend({ stage: "query", mechanism: "count", rho: budget / 2 });
    expect(last.entry).to.not.have.property("epsilon");
    expect(last.entry).to.not.have.property("testSeeded");
    expect(last.entry).to.not.have.property("detail");
    expect(last.entry).to.not.have.property("job");
    const s2 = await ledger.state();
    expect(s2.remainingRho).to.equal(0);
    // Zero cost still fits a spent budget (an artefact-like spend of nothing).
    await ledger.spend({ stage: "query", mechanism: "count", rho: 0 });
    // A zero-cost spend is a valid entry when the ledger is read back.
    expect((await ledger.state()).entries).to.have.length(4);
    // Three spends and the genesis entry: the refusal counts the spends only.
    expect((await rejection(ledger.spend({ stage: "query", mechanism: "count", rho: budget }))).message).to.match(/ in 3 spend\(s\)/);
  });

  it("GIVEN a store where every write loses the race THEN open, spend and recordArtefact give up after 200 tries with timeout", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    const losing = new MemoryStore();
    losing.entries.set(0, store.entries.get(0) as Buffer);
    losing.beforeCreate = (seq) => {
      if (!losing.entries.has(seq)) losing.entries.set(seq, Buffer.from("placeholder"));
    };
    const listed = losing.list.bind(losing);
    // The rival's entry is never readable: the next list shows only what was there before.
    losing.list = async () => (await listed()).filter((e) => e.seq === 0);
    const create = losing.create.bind(losing);
    losing.create = async (seq, bytes) => {
      const ok = await create(seq, bytes);
      losing.entries.delete(seq);
      return ok;
    };
    const onLosing = await PrivacyLedger.open({ store: losing, signer });
    expect((await rejection(onLosing.spend({ stage: "query", mechanism: "count", rho: 0.001 }))).code).to.equal("timeout");
    expect(losing.creates).to.equal(200);
    losing.creates = 0;
    expect((await rejection(onLosing.recordArtefact(1, "sha256:0", "x"))).code).to.equal("timeout");
    expect(losing.creates).to.equal(200);
    losing.creates = 0;
    expect((await rejection(PrivacyLedger.open({ store: losing, signer, budget: { epsilon: 2, delta: 1e-9 }, forceBudgetChange: true }))).code).to.equal("timeout");
    expect(losing.creates).to.equal(200);
    const empty = new MemoryStore();
    empty.beforeCreate = (seq) => empty.entries.set(seq, Buffer.from("x"));
    empty.list = async () => [];
    expect((await rejection(PrivacyLedger.open(target(empty)))).code).to.equal("timeout");
    expect(empty.creates).to.equal(200);
    expect((await ledger.state()).entries).to.have.length(1);
  });

  it("GIVEN a rival spend landing while a budget change is written THEN the change is written again after it", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    const copy = new MemoryStore();
    copy.entries.set(0, store.entries.get(0) as Buffer);
    await (await PrivacyLedger.open({ store: copy, signer })).spend({ stage: "query", mechanism: "count", rho: 0.001 });
    store.beforeCreate = (seq) => {
      if (seq === 1 && !store.entries.has(1)) store.entries.set(1, copy.entries.get(1) as Buffer);
    };
    await PrivacyLedger.open(target(store, { budget: { epsilon: 2, delta: 1e-9 }, forceBudgetChange: true }));
    const s = await ledger.state();
    expect(s.entries.map((e) => e.kind)).to.deep.equal(["genesis", "spend", "budget-change"]);
    expect(s.budget.epsilon).to.equal(2);
  });

  it("GIVEN a budget WHEN the state is computed THEN the assertion allows the slack and reports what is left", () => {
    const state = {
      location: "mem://x",
      dataset: "d",
      entries: [],
      hashes: [],
      budget: { epsilon: 1, delta: 1e-9, rho: 1 },
      spent: { rho: 0.5, epsilon: 0 },
      remainingRho: 0.5,
      head: "sha256:x",
    };
    expect(() => assertWithinBudget(state, 0.5)).to.not.throw();
    expect(() => assertWithinBudget(state, 0.5 + 0.5e-9)).to.not.throw();
    expect(() => assertWithinBudget(state, 0.5 + 2e-9)).to.throw(CleanRoomError).with.property("code", "budget-exceeded");
  });

  it("GIVEN a budget change THEN it needs the explicit option and the provider, and the new budget applies", async () => {
    const store = new MemoryStore();
    await PrivacyLedger.open(target(store));
    const wider = { epsilon: 2, delta: 1e-9 };
    expect((await rejection(PrivacyLedger.open(target(store, { budget: wider })))).code).to.equal("budget-mismatch");
    expect((await rejection(PrivacyLedger.open(target(store, { budget: { epsilon: 1, delta: 1e-8 } })))).code).to.equal("budget-mismatch");
    const executor = { role: "executor" as const, sign: signer.sign };
    expect((await rejection(PrivacyLedger.open(target(store, { budget: wider, forceBudgetChange: true, signer: executor })))).code).to.equal("denied");
    expect(store.entries.size).to.equal(1);
    const ledger = await PrivacyLedger.open(target(store, { budget: wider, forceBudgetChange: true }));
    const s = await ledger.state();
    const change = s.entries[1];
    expect(change).to.include({ kind: "budget-change", seq: 1, prev: s.hashes[0], dataset: "claims" });
    expect(s.budget).to.deep.equal({ ...wider, rho: cdpRho(2, 1e-9) });
    expect(s.remainingRho).to.equal(cdpRho(2, 1e-9));
    // The same budget again is not a change.
    await PrivacyLedger.open(target(store, { budget: wider }));
    expect(store.entries.size).to.equal(2);
  });

  it("GIVEN an artefact record THEN it costs nothing and names its spend", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    await ledger.spend({ stage: "stage1", mechanism: "aggregates", rho: 0.001, job: { jobId: "j", jobDigest: "sha256:0" } });
    const a = await ledger.recordArtefact(1, "sha256:abc", "synthetic.csv");
    expect(a).to.include({ kind: "artefact", seq: 2, spend: 1, artefact: "sha256:abc", name: "synthetic.csv" });
    const s = await ledger.state();
    expect(s.spent.rho).to.equal(0.001);
    expect((s.entries[1] as { job?: unknown }).job).to.deep.equal({ jobId: "j", jobDigest: "sha256:0" });
  });

  it("GIVEN stored entries that break the chain THEN summarize names the problem as ledger-corrupt", async () => {
    const store = new MemoryStore();
    const ledger = await PrivacyLedger.open(target(store));
    await ledger.spend({ stage: "query", mechanism: "count", rho: 0.001 });
    const stored = await store.list();
    expect((() => summarize("x", []))).to.throw(CleanRoomError).with.property("code", "not-found");
    const corrupt = (list: { seq: number; bytes: Buffer }[], re: RegExp) => {
      expect(() => summarize("x", list)).to.throw(CleanRoomError, re).with.property("code", "ledger-corrupt");
    };
    const edit = (i: number, f: (e: Record<string, unknown>) => void) => {
      const e = JSON.parse(stored[i].bytes.toString("utf8")) as Record<string, unknown>;
      f(e);
      return { seq: stored[i].seq, bytes: Buffer.from(JSON.stringify(e)) };
    };
    corrupt([stored[1]], /no entry 00000000/);
    corrupt([{ seq: 0, bytes: Buffer.from("{not json") }], /not valid JSON/);
    corrupt([{ seq: 0, bytes: Buffer.from("null") }], /not an/);
    corrupt([edit(0, (e) => (e.format = "acr-dp-ledger-v1"))], /not an acr-dp-ledger-v2 entry/);
    corrupt([edit(0, (e) => (e.seq = 3))], /numbered 0/);
    corrupt([edit(0, (e) => delete e.signature)], /not an/);
    corrupt([edit(0, (e) => (e.kind = 7))], /not an/);
    corrupt([stored[0], edit(1, (e) => (e.rho = -1))], /finite rho/);
    corrupt([stored[0], edit(1, (e) => (e.rho = "0.1"))], /finite rho/);
    corrupt([stored[0], edit(1, (e) => (e.prev = "sha256:00"))], /does not follow/);
    corrupt([edit(0, (e) => (e.prev = "sha256:00"))], /does not follow/);
    corrupt([stored[0], edit(1, (e) => (e.dataset = "other"))], /dataset "other"/);
    const again = edit(0, () => {});
    corrupt([edit(0, (e) => (e.kind = "artefact"))], /genesis/);
    corrupt([stored[0], edit(1, (e) => (e.kind = "genesis"))], /genesis/);
    const s = summarize("x", [again]);
    expect(s.spent).to.deep.equal({ rho: 0, epsilon: 0 });
  });
});

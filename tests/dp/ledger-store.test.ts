// The privacy ledger's storage and audit in process (issue 20, dp-ledger mutation path): the directory store and its
// entry names, the provider keys, `verifyLedger` on provider-signed and attested (local-room token) entries, the
// version-1 migration and the room's ledger URI. Real files in a temporary directory, real Ed25519 keys, real ES256
// tokens from the local test chain.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, type PathLike, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
// The module object itself (not a copy of its bindings): one test makes link(2) fail as a failing disk would.
import fsPromises = require("node:fs/promises");
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import { LOCAL_ISSUER } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { sha256Hex } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { LEDGER_FORMAT, LEDGER_V1_FORMAT, type LedgerEntry, PrivacyLedger, signedPayload, type UnsignedEntry } from "../../src/runtime/dp/ledger.js";
import {
  defaultLedgerKeyPath,
  LEDGER_KEY_ENV,
  type LedgerSigner,
  loadOrCreateLedgerKey,
  parsePublicKey,
  providerSigner,
  publicKeyOf,
  verifyProviderSignature,
} from "../../src/runtime/dp/ledger-keys.js";
import { isV1Ledger, migrateV1Ledger, v1Refusal } from "../../src/runtime/dp/ledger-migrate.js";
import { DirectoryLedgerStore, entryName, isFile, type LedgerStore, openLedgerStore, seqOfName } from "../../src/runtime/dp/ledger-store.js";
import { verifyLedger } from "../../src/runtime/dp/ledger-verify.js";
import { ledgerUri, roomLedgerStore } from "../../src/runtime/dp/room-ledger.js";
import { AUD, descriptor } from "../verify/fixtures.js";
import { type Chain, clockOf, IMAGE, JOB, pkiToken, productionClaims, testChains } from "../verify/pki.js";

const BUDGET = { epsilon: 1, delta: 1e-9 };

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<CleanRoomError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

/** Appends an entry as a writer that skips PrivacyLedger's checks would (a forged or corrupt history). */
async function appendRaw(store: LedgerStore, signer: LedgerSigner, fields: Record<string, unknown>): Promise<void> {
  const state = await (await PrivacyLedger.open({ store, signer })).state();
  const unsigned = { format: LEDGER_FORMAT, dataset: state.dataset, seq: state.entries.length, prev: state.head, time: new Date().toISOString(), ...fields };
  const payload = signedPayload(unsigned as unknown as UnsignedEntry);
  const signature = await signer.sign(payload, sha256Hex(payload));
  expect(await store.create(state.entries.length, Buffer.from(JSON.stringify({ ...unsigned, signature })))).to.equal(true);
}

describe("dp ledger storage, keys, verification and migration (in process)", function () {
  this.timeout(60_000);
  let dir: string;
  let n = 0;
  const fresh = (name = "ledger"): string => join(dir, `${name}-${n++}`);
  const key = generateKeyPairSync("ed25519").privateKey;
  const provider = providerSigner(key);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dp-ledger-store-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe("entry names and the directory store", () => {
    it("GIVEN sequence numbers THEN entries are named with 8 digits and only such names parse back", () => {
      expect(entryName(0)).to.equal("00000000.json");
      expect(entryName(42)).to.equal("00000042.json");
      expect(seqOfName("00000042.json")).to.equal(42);
      for (const bad of ["0000042.json", "000000042.json", "x00000042.json", "00000042.json.tmp", "00000042.jsonx", "0000004a.json", ".tmp-00000042.json"]) {
        expect(seqOfName(bad), bad).to.equal(undefined);
      }
    });

    it("GIVEN a directory store WHEN entries are created THEN each slot is taken once, files are private and listed in order", async () => {
      const loc = fresh();
      const store = new DirectoryLedgerStore(loc);
      expect(await store.list()).to.deep.equal([]);
      expect(await store.create(10, Buffer.from("ten"))).to.equal(true);
      expect(await store.create(2, Buffer.from("two"))).to.equal(true);
      expect(await store.create(2, Buffer.from("again"))).to.equal(false);
      // Many entries created out of order: listed by sequence number whatever order the directory gives them in.
      const order = [3, 11, 0, 7, 1, 9, 4, 12, 5, 8, 6];
      const many = new DirectoryLedgerStore(fresh());
      for (const seq of order) expect(await many.create(seq, Buffer.from(String(seq)))).to.equal(true);
      expect((await many.list()).map((e) => e.seq)).to.deep.equal([...order].sort((a, b) => a - b));
      writeFileSync(join(loc, "notes.txt"), "not an entry");
      const listed = await store.list();
      expect(listed.map((e) => [e.seq, e.bytes.toString()])).to.deep.equal([
        [2, "two"],
        [10, "ten"],
      ]);
      expect(statSync(loc).mode & 0o777).to.equal(0o700);
      expect(statSync(join(loc, entryName(2))).mode & 0o777).to.equal(0o600);
      expect(readdirSync(loc).sort()).to.deep.equal([entryName(2), entryName(10), "notes.txt"]);
    });

    it("GIVEN a store whose location is a file or unusable THEN list and create refuse with what is wrong", async () => {
      const file = join(dir, "file");
      writeFileSync(file, "x");
      expect(await rejection(new DirectoryLedgerStore(file).list())).to.include({ code: "invalid-argument" });
      const create = await rejection(new DirectoryLedgerStore(join(file, "sub")).create(0, Buffer.from("x")));
      expect(create).to.include({ code: "io-error" });
      expect((create as Error & { cause?: { code?: string } }).cause?.code).to.equal("ENOTDIR");
      const list = await rejection(new DirectoryLedgerStore(`${dir}/bad\0name`).list());
      expect(list).to.include({ code: "io-error" });
      expect((list as Error & { cause?: unknown }).cause).to.be.instanceOf(Error);
    });

    it("GIVEN link(2) failing with a disk error (EIO) WHEN an entry is created THEN io-error with that cause, not a slot reported as taken, and no file left behind", async () => {
      // A disk error cannot be produced on demand here: the OS boundary (fs/promises' link, which the store calls
      // through the module object) fails as the kernel would, for this ledger only. Read as "slot taken", the error
      // would make the writer retry the next slot, or report a lost race, over a ledger it could not write.
      const loc = fresh();
      const store = new DirectoryLedgerStore(loc);
      expect(await store.create(0, Buffer.from("zero"))).to.equal(true);
      const realLink = fsPromises.link;
      const attempts: string[] = [];
      fsPromises.link = (async (existing: PathLike, target: PathLike) => {
        if (!String(target).startsWith(loc)) return realLink(existing, target);
        attempts.push(String(target));
        throw Object.assign(new Error(`EIO: i/o error, link '${existing}' -> '${target}'`), { errno: -5, code: "EIO", syscall: "link", path: String(existing), dest: String(target) });
      }) as typeof realLink;
      let err: CleanRoomError;
      try {
        err = await rejection(store.create(1, Buffer.from("one")));
      } finally {
        fsPromises.link = realLink;
      }
      expect(attempts).to.deep.equal([join(loc, entryName(1))]);
      expect(err).to.include({ code: "io-error" });
      expect(err.message).to.contain(`Cannot write entry 1 of the privacy ledger ${loc}`);
      expect((err as Error & { cause?: { code?: string } }).cause?.code).to.equal("EIO");
      // The temporary file is removed and the slot stays free: the next writer gets it.
      expect(readdirSync(loc)).to.deep.equal([entryName(0)]);
      expect(await store.create(1, Buffer.from("one"))).to.equal(true);
      expect((await store.list()).map((e) => [e.seq, e.bytes.toString()])).to.deep.equal([
        [0, "zero"],
        [1, "one"],
      ]);
    });

    it("GIVEN ledger locations THEN gs:// needs the GCP factory (slashes trimmed, project passed), file:// and paths are directories, other schemes are refused", async () => {
      expect((await rejection(() => openLedgerStore("gs://b/l"))).code).to.equal("invalid-argument");
      const seen: unknown[] = [];
      const gcsStore = { location: "x", list: async () => [], create: async () => true };
      expect(
        openLedgerStore("gs://b/ledger//", (u, p) => {
          seen.push(u, p);
          return gcsStore;
        }, "proj"),
      ).to.equal(gcsStore);
      expect(seen).to.deep.equal(["gs://b/ledger", "proj"]);
      const loc = fresh();
      const viaUrl = openLedgerStore(pathToFileURL(loc).href);
      expect(viaUrl).to.be.instanceOf(DirectoryLedgerStore);
      expect(viaUrl.location).to.equal(loc);
      const plain = openLedgerStore(loc, () => gcsStore);
      expect(plain).to.be.instanceOf(DirectoryLedgerStore);
      expect(plain.location).to.equal(loc);
      for (const other of ["s3://bucket/ledger", "HTTPS://host/ledger"]) expect((await rejection(() => openLedgerStore(other))).code, other).to.equal("invalid-argument");
      // A relative path with a colon is a path, not a scheme.
      expect(openLedgerStore("dir:x/ledger")).to.be.instanceOf(DirectoryLedgerStore);
      // Only a scheme at the start counts: a directory path that contains "://" further on is still a path.
      expect(openLedgerStore("./backups/s3://old")).to.be.instanceOf(DirectoryLedgerStore);
    });

    it("GIVEN a file, a directory and nothing THEN only the file is a file", async () => {
      const file = join(dir, "f");
      writeFileSync(file, "x");
      expect(await isFile(file)).to.equal(true);
      expect(await isFile(dir)).to.equal(false);
      expect(await isFile(join(dir, "missing"))).to.equal(false);
    });

    it("GIVEN a room THEN its ledger is <dataUri>/.dp-ledger/<dataset> and a local one opens as a directory", () => {
      const room = descriptor("local", undefined, { imageDigests: [IMAGE], platform: "local" });
      expect(ledgerUri(room, "acme", "claims")).to.equal("file:///tmp/room/acme/.dp-ledger/claims");
      const slashed: CleanRoomDescriptor = { ...room, providers: [{ ...room.providers[0], dataUri: "/data/acme//" }] };
      expect(ledgerUri(slashed, "acme", "claims")).to.equal("/data/acme/.dp-ledger/claims");
      const store = roomLedgerStore(slashed, "acme", "claims");
      expect(store).to.be.instanceOf(DirectoryLedgerStore);
      expect(store.location).to.equal("/data/acme/.dp-ledger/claims");
      expect(() => ledgerUri(room, "nobody", "claims")).to.throw(CleanRoomError);
      // A gs:// data URI opens the GCP platform's create-only object store (its client connects on first use only).
      const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
      const inBucket: CleanRoomDescriptor = { ...gcp, providers: [{ ...gcp.providers[0], dataUri: "gs://acme-data/raw/" }] };
      const gcs = roomLedgerStore(inBucket, "acme", "claims");
      expect(gcs).to.not.be.instanceOf(DirectoryLedgerStore);
      expect(gcs.location).to.equal("gs://acme-data/raw/.dp-ledger/claims");
    });
  });

  describe("provider keys", () => {
    it("GIVEN the environment THEN the key path is CLEANROOM_LEDGER_KEY, else under XDG_CONFIG_HOME, else ~/.config", () => {
      expect(defaultLedgerKeyPath({ [LEDGER_KEY_ENV]: "/k.pem", XDG_CONFIG_HOME: "/x" })).to.equal("/k.pem");
      expect(defaultLedgerKeyPath({ XDG_CONFIG_HOME: "/x" })).to.equal("/x/cleanroom/ledger-key.pem");
      expect(defaultLedgerKeyPath({ XDG_CONFIG_HOME: "" })).to.equal(join(homedir(), ".config", "cleanroom", "ledger-key.pem"));
      expect(defaultLedgerKeyPath({ [LEDGER_KEY_ENV]: "" })).to.equal(join(homedir(), ".config", "cleanroom", "ledger-key.pem"));
    });

    it("GIVEN no key file WHEN loading THEN an Ed25519 key is created private (0600, parent 0700) and the next load reads the same key", async () => {
      const path = join(dir, "cfg", "cleanroom", "ledger-key.pem");
      const first = await loadOrCreateLedgerKey(path);
      expect(first).to.include({ created: true, path });
      expect(first.key.asymmetricKeyType).to.equal("ed25519");
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      expect(statSync(join(dir, "cfg")).mode & 0o777).to.equal(0o700);
      const second = await loadOrCreateLedgerKey(path);
      expect(second).to.include({ created: false, path });
      expect(publicKeyOf(second.key)).to.deep.equal(publicKeyOf(first.key));
      // Two processes creating the same key at once: one writes it, the other reads that one (wx refuses the second).
      const racePath = join(dir, "race", "key.pem");
      const [a, b] = await Promise.all([loadOrCreateLedgerKey(racePath), loadOrCreateLedgerKey(racePath)]);
      expect([a.created, b.created].sort()).to.deep.equal([false, true]);
      expect(publicKeyOf(a.key)).to.deep.equal(publicKeyOf(b.key));
      // A key file that cannot be written (not a race): io-error, not a confusing "not a PEM key".
      const unwritable = await rejection(loadOrCreateLedgerKey(join(dir, "bad\0key.pem")));
      expect(unwritable.code).to.equal("io-error");
      expect((unwritable as Error & { cause?: unknown }).cause).to.be.instanceOf(Error);
    });

    it("GIVEN a key file that is not PEM, or not Ed25519, or a path that cannot be created THEN refused naming the problem", async () => {
      const garbage = join(dir, "garbage.pem");
      writeFileSync(garbage, "not a key");
      const notPem = await rejection(loadOrCreateLedgerKey(garbage));
      expect(notPem).to.include({ code: "invalid-argument" });
      expect((notPem as Error & { cause?: unknown }).cause).to.be.instanceOf(Error);
      const rsa = join(dir, "rsa.pem");
      writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }));
      const e = await rejection(loadOrCreateLedgerKey(rsa));
      expect(e.code).to.equal("invalid-argument");
      expect(e.message).to.match(/rsa key; ledger keys are Ed25519/);
      const file = join(dir, "plain");
      writeFileSync(file, "x");
      const underFile = await rejection(loadOrCreateLedgerKey(join(file, "key.pem")));
      expect(underFile.code).to.equal("io-error");
      expect((underFile as Error & { cause?: { code?: string } }).cause?.code).to.be.oneOf(["ENOTDIR", "EEXIST"]);
    });

    it("GIVEN public keys as PEM, JWK or neither THEN Ed25519 keys parse to the same JWK and anything else is refused", async () => {
      const pub = publicKeyOf(key);
      expect(pub).to.deep.equal({ kty: "OKP", crv: "Ed25519", x: pub.x });
      const signerNow = providerSigner(key);
      expect(signerNow.publicKey).to.deep.equal(pub);
      expect(signerNow.role).to.equal("provider");
      const pem = generateKeyPairSync("ed25519").publicKey;
      const pemText = pem.export({ type: "spki", format: "pem" }).toString();
      expect(parsePublicKey(`\n  ${pemText}  \n`).x).to.equal(publicKeyOf(pem as KeyObject).x);
      expect(parsePublicKey(`  ${JSON.stringify(pub)}\n`)).to.deep.equal(pub);
      // A provider's private key file is accepted too (`--provider-key ~/.config/cleanroom/ledger-key.pem`).
      expect(parsePublicKey(key.export({ type: "pkcs8", format: "pem" }).toString())).to.deep.equal(pub);
      expect(() => publicKeyOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey))
        .to.throw(CleanRoomError, /Ed25519/)
        .with.property("code", "invalid-argument");
      for (const bad of ["nonsense", "{\"kty\":\"OKP\"}", generateKeyPairSync("x25519").publicKey.export({ type: "spki", format: "pem" }).toString()]) {
        expect(() => parsePublicKey(bad), bad.slice(0, 20)).to.throw(CleanRoomError).with.property("code", "invalid-argument");
      }
    });

    it("GIVEN a provider signature THEN it verifies only for that payload and key, and a malformed key is a plain no", async () => {
      const sig = (await provider.sign("payload", sha256Hex("payload"))) as { alg: string; sig: string };
      expect(sig.alg).to.equal("Ed25519");
      expect(verifyProviderSignature(provider.publicKey, "payload", sig.sig)).to.equal(true);
      expect(verifyProviderSignature(provider.publicKey, "payloaD", sig.sig)).to.equal(false);
      expect(verifyProviderSignature(providerSigner(generateKeyPairSync("ed25519").privateKey).publicKey, "payload", sig.sig)).to.equal(false);
      expect(verifyProviderSignature({ kty: "OKP", crv: "Ed25519", x: "short" }, "payload", sig.sig)).to.equal(false);
    });
  });

  describe("verifyLedger (provider-signed entries)", () => {
    async function ledgerWithHistory(): Promise<{ store: DirectoryLedgerStore; heads: string[] }> {
      const store = new DirectoryLedgerStore(fresh());
      const ledger = await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
      const heads = [(await ledger.state()).head];
      const { entry, hash } = await ledger.spend({ stage: "stage1", mechanism: "mst", rho: 0.01 });
      heads.push(hash);
      await ledger.recordArtefact(entry.seq, `sha256:${"d".repeat(64)}`, "synthetic.csv");
      await PrivacyLedger.open({ store, dataset: "claims", budget: { epsilon: 2, delta: 1e-9 }, forceBudgetChange: true, signer: provider });
      await ledger.spend({ stage: "query", mechanism: "count", rho: 0.02 });
      return { store, heads };
    }

    it("GIVEN a ledger of spends, an artefact and a budget change THEN it verifies, every entry counted as provider-signed", async () => {
      const { store, heads } = await ledgerWithHistory();
      const v = await verifyLedger(store, { providerKey: provider.publicKey, head: heads[1] });
      expect(v).to.include({ verified: true, dataset: "claims", signedByProvider: 5, attested: 0 });
      expect(v.entries).to.have.length(5);
      expect(v.budget.epsilon).to.equal(2);
      expect((await verifyLedger(store)).signedByProvider).to.equal(5);
    });

    it("GIVEN a pinned key other than the genesis key, or a head the ledger does not contain THEN ledger-corrupt", async () => {
      const { store } = await ledgerWithHistory();
      const other = providerSigner(generateKeyPairSync("ed25519").privateKey).publicKey;
      const e = await rejection(verifyLedger(store, { providerKey: other }));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/another provider key/);
      const h = await rejection(verifyLedger(store, { head: `sha256:${"0".repeat(64)}` }));
      expect(h.code).to.equal("ledger-corrupt");
      expect(h.message).to.match(/does not contain the head/);
    });

    it("GIVEN an entry signed with another provider key THEN ledger-corrupt naming that entry", async () => {
      const { store } = await ledgerWithHistory();
      const intruder = providerSigner(generateKeyPairSync("ed25519").privateKey);
      await (await PrivacyLedger.open({ store, signer: intruder })).spend({ stage: "stage1", mechanism: "mst", rho: 0.01 });
      const e = await rejection(verifyLedger(store));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/^Entry 00000005\.json \(spend\).*does not verify against the provider key/);
    });

    it("GIVEN a stage-2 spend signed by the provider key THEN ledger-corrupt: stage-2 spends carry an attestation token", async () => {
      const store = new DirectoryLedgerStore(fresh());
      await (await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider })).spend({ stage: "stage2", mechanism: "gaussian", rho: 0.01 });
      const e = await rejection(verifyLedger(store));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/stage-2 spend signed by the provider key/);
    });

    it("GIVEN an attestation-signed entry that is not a stage-2 spend with a job, or an unknown algorithm THEN ledger-corrupt", async () => {
      for (const [signer, req, pattern] of [
        [{ role: "executor", sign: async () => ({ alg: "attestation", token: "t" }) }, { stage: "stage1" }, /only a stage-2 spend may/],
        [{ role: "executor", sign: async () => ({ alg: "attestation", token: "t" }) }, { stage: "stage2" }, /only a stage-2 spend may/],
        [{ role: "executor", sign: async () => ({ alg: "attestation", token: "t" }) }, { stage: "stage1", job: { jobId: "j", jobDigest: JOB } }, /only a stage-2 spend may/],
        [{ role: "provider", sign: async () => ({ alg: "HS256", sig: "x" }) }, { stage: "stage1" }, /unknown signature algorithm/],
      ] as [LedgerSigner, { stage: "stage1" | "stage2"; job?: { jobId: string; jobDigest: string } }, RegExp][]) {
        const store = new DirectoryLedgerStore(fresh());
        await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
        await (await PrivacyLedger.open({ store, signer })).spend({ ...req, mechanism: "gaussian", rho: 0.01 });
        const e = await rejection(verifyLedger(store));
        expect(e.code).to.equal("ledger-corrupt");
        expect(e.message).to.match(pattern);
      }
    });

    it("GIVEN spends up to exactly the budget THEN verified; one that went over the budget in force (written around the checks) THEN ledger-corrupt", async () => {
      const store = new DirectoryLedgerStore(fresh());
      const ledger = await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
      const rho = cdpRho(1, 1e-9);
      await ledger.spend({ stage: "stage1", mechanism: "mst", rho: rho / 2 });
      await ledger.spend({ stage: "stage1", mechanism: "mst", rho: rho / 2 });
      expect((await verifyLedger(store)).spent.rho).to.be.closeTo(rho, 1e-15);
      // Exactly at the slack the check allows: still within the budget.
      const atSlack = new DirectoryLedgerStore(fresh());
      await PrivacyLedger.open({ store: atSlack, dataset: "claims", budget: BUDGET, signer: provider });
      await appendRaw(atSlack, provider, { kind: "spend", stage: "query", mechanism: "count", rho: rho * (1 + 1e-9) });
      expect((await verifyLedger(atSlack)).entries).to.have.length(2);
      await appendRaw(store, provider, { kind: "spend", stage: "query", mechanism: "count", rho: rho * 1e-6 });
      const e = await rejection(verifyLedger(store));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/^Entry 00000003\.json .* above the budget in force/);
    });

    it("GIVEN a lowered budget recorded after a spend THEN the next spend is checked against the lowered budget", async () => {
      const store = new DirectoryLedgerStore(fresh());
      const ledger = await PrivacyLedger.open({ store, dataset: "claims", budget: { epsilon: 2, delta: 1e-9 }, signer: provider });
      await ledger.spend({ stage: "stage1", mechanism: "mst", rho: cdpRho(1.5, 1e-9) });
      await PrivacyLedger.open({ store, budget: BUDGET, forceBudgetChange: true, signer: provider });
      expect((await verifyLedger(store)).budget.epsilon).to.equal(1);
      await appendRaw(store, provider, { kind: "spend", stage: "query", mechanism: "count", rho: 0 });
      expect((await rejection(verifyLedger(store))).message).to.match(/above the budget in force/);
    });

    it("GIVEN artefact entries THEN one naming an earlier spend verifies and one naming the genesis or a later entry is corrupt", async () => {
      const store = new DirectoryLedgerStore(fresh());
      const ledger = await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
      const { entry } = await ledger.spend({ stage: "stage1", mechanism: "mst", rho: 0.01 });
      await ledger.recordArtefact(entry.seq, `sha256:${"d".repeat(64)}`, "a.csv");
      expect((await verifyLedger(store)).entries).to.have.length(3);
      for (const spend of [0, 2, 9]) {
        const s = new DirectoryLedgerStore(fresh());
        const l = await PrivacyLedger.open({ store: s, dataset: "claims", budget: BUDGET, signer: provider });
        await l.spend({ stage: "stage1", mechanism: "mst", rho: 0.01 });
        await l.recordArtefact(spend, `sha256:${"d".repeat(64)}`, "a.csv");
        const e = await rejection(verifyLedger(s));
        expect(e.code, String(spend)).to.equal("ledger-corrupt");
        expect(e.message).to.match(new RegExp(`names spend ${spend}, which is not an earlier spend`));
      }
    });

    it("GIVEN no ledger THEN not-found", async () => {
      expect((await rejection(verifyLedger(new DirectoryLedgerStore(fresh())))).code).to.equal("not-found");
    });
  });

  describe("verifyLedger (stage-2 entries with local attestation tokens)", () => {
    let chain: Chain;
    let room: CleanRoomDescriptor;
    let clock: number;

    beforeEach(async () => {
      const chains = await testChains();
      chain = chains.local;
      clock = clockOf(chains);
      room = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    });

    /**
     * An executor signer whose token attests `job` (undefined: no env_override) and has `nonce` (default: the entry's
     * digest), issued at `iat`; `gcp` makes a Confidential Space token signed by the RSA test chain instead.
     */
    function executor(job: string | undefined, opts: { nonce?: string; iat?: number; gcp?: Chain } = {}): LedgerSigner {
      return {
        role: "executor",
        async sign(_payload, digestHex) {
          const iat = opts.iat ?? clock;
          const base = opts.gcp
            ? productionClaims(iat)
            : productionClaims(iat, { iss: LOCAL_ISSUER, aud: AUD, swname: "CLEANROOM_LOCAL", hwmodel: "NONE", dbgstat: "enabled", secboot: false, swversion: ["0"] });
          const baseSubmods = base.submods as { container: Record<string, unknown> };
          const container = { ...baseSubmods.container, image_digest: IMAGE, env_override: job === undefined ? undefined : { CLEANROOM_JOB_DIGEST: job } };
          const claims = { ...base, eat_nonce: opts.nonce ?? digestHex, submods: { ...baseSubmods, container } };
          return { alg: "attestation", token: opts.gcp ? pkiToken(opts.gcp, claims) : pkiToken(chain, claims, "ES256") };
        },
      };
    }

    async function stage2Ledger(signer: LedgerSigner, jobDigest = JOB): Promise<DirectoryLedgerStore> {
      const store = new DirectoryLedgerStore(fresh());
      await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
      await (await PrivacyLedger.open({ store, signer })).spend({ stage: "stage2", mechanism: "gaussian", rho: 0.01, job: { jobId: "job-1", jobDigest } });
      return store;
    }

    it("GIVEN a stage-2 spend whose token attests the entry and its job THEN verified against the room, counted as attested", async () => {
      const store = await stage2Ledger(executor(JOB));
      const v = await verifyLedger(store, { room });
      expect(v).to.include({ verified: true, signedByProvider: 1, attested: 1 });
      expect((await verifyLedger(store, { room: { ...room, attestation: { ...room.attestation, trustedRoots: undefined } }, trustedRoots: [chain.root.pem] })).attested).to.equal(1);
    });

    it("GIVEN a token that claims an issue time before its certificate existed THEN checked as of that time and refused", async () => {
      // Valid now (exp an hour ahead), but at its own iat the leaf certificate was not yet valid: an audit that
      // checked tokens as of today would accept it.
      const early = executor(JOB, { iat: clock - 7200 });
      const store = new DirectoryLedgerStore(fresh());
      await PrivacyLedger.open({ store, dataset: "claims", budget: BUDGET, signer: provider });
      const signer: LedgerSigner = {
        role: "executor",
        async sign(payload, digest) {
          const sig = (await early.sign(payload, digest)) as { alg: "attestation"; token: string };
          const [, body] = sig.token.split(".");
          const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
          return { alg: "attestation", token: pkiToken(chain, { ...claims, exp: Math.floor(Date.now() / 1000) + 3600 }, "ES256") };
        },
      };
      await (await PrivacyLedger.open({ store, signer })).spend({ stage: "stage2", mechanism: "gaussian", rho: 0.01, job: { jobId: "job-1", jobDigest: JOB } });
      const e = await rejection(verifyLedger(store, { room }));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/attestation token does not verify for this entry/);
    });

    it("GIVEN a gcp room THEN Confidential Space tokens verify under the given root and Google's issuer, a local token does not", async () => {
      const good = (await testChains()).good;
      const gcpRoom = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
      const store = await stage2Ledger(executor(JOB, { gcp: good }));
      expect((await verifyLedger(store, { room: gcpRoom, trustedRoots: [good.root.pem] })).attested).to.equal(1);
      // The same claims from the local issuer, under the local root: not a Google token.
      expect((await rejection(verifyLedger(await stage2Ledger(executor(JOB)), { room: gcpRoom, trustedRoots: [chain.root.pem] }))).code).to.equal("ledger-corrupt");
    });

    it("GIVEN a token without the job digest override THEN ledger-corrupt saying it attests no job", async () => {
      const e = await rejection(verifyLedger(await stage2Ledger(executor(undefined)), { room }));
      expect(e.code).to.equal("ledger-corrupt");
      expect(e.message).to.match(/names job .* but its token attests job undefined$/);
    });

    it("GIVEN a stage-2 spend WITHOUT the room, or a local room without roots THEN invalid-argument saying what to pass", async () => {
      const store = await stage2Ledger(executor(JOB));
      const noRoom = await rejection(verifyLedger(store));
      expect(noRoom.code).to.equal("invalid-argument");
      expect(noRoom.message).to.match(/--room/);
      const rootless = { ...room, attestation: { ...room.attestation, trustedRoots: undefined } };
      const noRoot = await rejection(verifyLedger(store, { room: rootless }));
      expect(noRoot.code).to.equal("invalid-argument");
      expect(noRoot.message).to.match(/--trusted-root/);
    });

    it("GIVEN a token for another job, another entry (nonce), or another root THEN ledger-corrupt naming the entry", async () => {
      const otherJob = `sha256:${"e".repeat(64)}`;
      const wrongJob = await rejection(verifyLedger(await stage2Ledger(executor(otherJob)), { room }));
      expect(wrongJob.code).to.equal("ledger-corrupt");
      expect(wrongJob.message).to.match(new RegExp(`^Entry 00000001\\.json \\(spend\\) of .* names job ${JOB} but its token attests job ${otherJob}$`));
      const wrongNonce = await rejection(verifyLedger(await stage2Ledger(executor(JOB, { nonce: "f".repeat(64) })), { room }));
      expect(wrongNonce.code).to.equal("ledger-corrupt");
      expect(wrongNonce.message).to.match(/^Entry 00000001\.json \(spend\).*attestation token does not verify for this entry/);
      const otherRoot = (await testChains()).good.root.pem;
      const wrongRoot = await rejection(verifyLedger(await stage2Ledger(executor(JOB)), { room, trustedRoots: [otherRoot] }));
      expect(wrongRoot.code).to.equal("ledger-corrupt");
      // A gcp room: the token's local issuer is not Google's (and its root is not the pinned one).
      const gcpRoom = { ...descriptor("gcp", chain.root.pem, { imageDigests: [IMAGE] }) };
      expect((await rejection(verifyLedger(await stage2Ledger(executor(JOB)), { room: gcpRoom }))).code).to.equal("ledger-corrupt");
    });
  });

  describe("version-1 ledgers", () => {
    const v1 = (over: Record<string, unknown> = {}) =>
      JSON.stringify({
        format: LEDGER_V1_FORMAT,
        dataset: "claims",
        budget: { epsilon: 2, delta: 1e-9 },
        entries: [
          { mechanism: "mst", rho: 0.05, epsilon: 1, delta: 1e-9, time: "2025-01-01T00:00:00Z", artefact: "sha256:ab", artefactName: "s.csv" },
          { mechanism: "count", rho: 0, testSeeded: true },
        ],
        ...over,
      });

    it("GIVEN text THEN only JSON with the v1 format is a v1 ledger, and its refusal names the migrate command", () => {
      expect(isV1Ledger(v1())).to.equal(true);
      expect(isV1Ledger(JSON.stringify({ format: LEDGER_FORMAT }))).to.equal(false);
      expect(isV1Ledger("{not json")).to.equal(false);
      expect(isV1Ledger("null")).to.equal(false);
      const r = v1Refusal("/old/ledger.json");
      expect(r).to.be.instanceOf(CleanRoomError).and.include({ code: "ledger-format" });
      expect(r.message).to.include("cleanroom dp ledger migrate /old/ledger.json --to");
    });

    it("GIVEN a v1 ledger WHEN migrated THEN a signed chain with its budget and one spend per old entry, the source recorded", async () => {
      const file = join(dir, "ledger.json");
      const text = v1();
      writeFileSync(file, text);
      const store = new DirectoryLedgerStore(fresh());
      const state = await migrateV1Ledger(file, store, provider);
      expect(state.budget).to.include({ epsilon: 2, delta: 1e-9 });
      expect(state.spent.rho).to.equal(0.05);
      const [genesis, a, b] = state.entries as LedgerEntry[];
      expect(genesis.kind).to.equal("genesis");
      const source = { migratedFrom: LEDGER_V1_FORMAT, sha256: sha256Hex(text), entries: 2 };
      expect(a).to.deep.include({ kind: "spend", stage: "stage1", mechanism: "mst", rho: 0.05, epsilon: 1, delta: 1e-9, detail: source });
      expect(a).to.deep.include({ migrated: { time: "2025-01-01T00:00:00Z", artefact: "sha256:ab", artefactName: "s.csv" } });
      expect(a).to.not.have.property("testSeeded");
      expect(b).to.deep.include({ kind: "spend", mechanism: "count", rho: 0, testSeeded: true, detail: source, migrated: { time: "" } });
      expect(b).to.not.have.property("epsilon");
      expect(b).to.not.have.property("delta");
      expect((await verifyLedger(store, { providerKey: provider.publicKey })).signedByProvider).to.equal(3);
    });

    it("GIVEN a file that is missing, not JSON, not v1 or with a bad entry, or a non-empty target THEN refused and nothing written", async () => {
      const cases: [string, string][] = [
        ["{broken", "invalid-argument"],
        [v1({ format: LEDGER_FORMAT }), "invalid-argument"],
        [v1({ dataset: 7 }), "invalid-argument"],
        [v1({ entries: {} }), "invalid-argument"],
        [v1({ budget: undefined }), "invalid-argument"],
        [v1({ entries: [{ mechanism: "mst", rho: -1 }] }), "invalid-argument"],
        [v1({ entries: [{ mechanism: "mst", rho: "1" }] }), "invalid-argument"],
        [v1({ entries: [{ rho: 1 }] }), "invalid-argument"],
        [v1({ entries: [null] }), "invalid-argument"],
      ];
      for (const [text, code] of cases) {
        const file = join(dir, `v1-${n++}.json`);
        writeFileSync(file, text);
        const loc = fresh();
        const e = await rejection(migrateV1Ledger(file, new DirectoryLedgerStore(loc), provider));
        expect(e.code, text).to.equal(code);
        expect(await new DirectoryLedgerStore(loc).list(), text).to.deep.equal([]);
      }
      const missing = await rejection(migrateV1Ledger(join(dir, "missing.json"), new DirectoryLedgerStore(fresh()), provider));
      expect(missing.code).to.equal("io-error");
      expect((missing as Error & { cause?: { code?: string } }).cause?.code).to.equal("ENOENT");
      const file = join(dir, "ok.json");
      writeFileSync(file, v1());
      const taken = new DirectoryLedgerStore(fresh());
      await PrivacyLedger.open({ store: taken, dataset: "claims", budget: BUDGET, signer: provider });
      expect((await rejection(migrateV1Ledger(file, taken, provider))).code).to.equal("already-exists");
      expect(await taken.list()).to.have.length(1);
    });
  });
});

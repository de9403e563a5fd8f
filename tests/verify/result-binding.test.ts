/**
 * verifyResult binds a receipt to the room it is checked against: the backend and every input must be this room's,
 * even when the token is genuine and signed for that very receipt. And the summary reports what the token attests.
 * Found by mutation testing (reports/).
 */
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { nonceForReceipt, type Receipt } from "../../src/core/receipt.js";
import { type AttestationError, verifyResult } from "../../src/runtime/verify/index.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, pkiToken, testChains } from "./pki.js";

/** Edits the receipt and re-signs its token for the edited receipt, as an attester asked for that nonce would. */
async function rewrite(dir: string, chain: Chain, receipt: Receipt, edit: Partial<Receipt>): Promise<void> {
  const file = join(dir, "attestation.jwt");
  const [header, payload] = (await readFile(file, "utf8")).trim().split(".");
  const alg = JSON.parse(Buffer.from(header!, "base64url").toString()).alg as "ES256" | "RS256";
  const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as Record<string, unknown>;
  const edited = { ...receipt, ...edit } as Receipt;
  await writeFile(join(dir, "receipt.json"), JSON.stringify(edited, null, 2));
  await writeFile(file, pkiToken(chain, { ...claims, eat_nonce: nonceForReceipt(edited) }, alg));
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "verified";
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    const e = err as AttestationError;
    return `${e.code}${e.claim ? `:${e.claim}` : ""}`;
  }
}

describe("verify/verifyResult: the receipt belongs to this room", function () {
  this.timeout(30_000);
  let tmp: string;
  let chain: Chain;
  let room: CleanRoomDescriptor;

  before(async () => {
    ({ local: chain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-result-binding-"));
    const base = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    // Two providers, the first with two datasets: an input must match its own provider's datasets.
    const [acme] = base.providers;
    room = {
      ...base,
      providers: [
        { ...acme!, datasets: [...acme!.datasets, { name: "bills", stage1Method: "none", epsilon: 1, delta: 1e-6 }] },
        { ...acme!, name: "lab", approvedJobs: [], dataUri: "file:///tmp/room/lab", keyName: "local:lab", datasets: [{ name: "visits", stage1Method: "none", epsilon: 1, delta: 1e-6 }] },
      ],
    } as CleanRoomDescriptor;
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  async function withReceipt(edit: Partial<Receipt>): Promise<string> {
    const { dir, receipt } = await buildResult(tmp, room, chain);
    await rewrite(dir, chain, receipt, edit);
    return outcome(verifyResult(dir, { descriptor: room }));
  }

  const input = (provider: string, dataset: string) => ({ provider, dataset, sha256: "0".repeat(64), bytes: 1 });

  it("GIVEN inputs that are all datasets of this room (any of a provider's datasets) THEN verified", async () => {
    expect(await withReceipt({ inputs: [input("acme", "bills"), input("lab", "visits")] })).to.equal("verified");
  });

  it("GIVEN a receipt naming a provider the room does not have THEN policy naming receipt.inputs", async () => {
    expect(await withReceipt({ inputs: [input("mallory", "claims")] })).to.equal("policy:receipt.inputs");
  });

  it("GIVEN a receipt naming another provider's dataset THEN policy naming receipt.inputs", async () => {
    expect(await withReceipt({ inputs: [input("lab", "claims")] })).to.equal("policy:receipt.inputs");
  });

  it("GIVEN one foreign input among the room's own THEN policy naming receipt.inputs", async () => {
    expect(await withReceipt({ inputs: [input("acme", "claims"), input("acme", "secret")] })).to.equal("policy:receipt.inputs");
  });

  it("GIVEN a receipt that says it ran on another backend THEN policy naming receipt.platform", async () => {
    expect(await withReceipt({ platform: "gcp" })).to.equal("policy:receipt.platform");
  });

  it("GIVEN a verified local result THEN the summary reports the platform claims the token attests", async () => {
    const { dir } = await buildResult(tmp, room, chain);
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.hardware).to.deep.include({ hwmodel: "NONE", swname: "CLEANROOM_LOCAL", swversion: ["0"], dbgstat: "enabled", secboot: false });
    expect(s.hardware.supportAttributes).to.deep.equal(["LATEST", "STABLE", "USABLE"]);
  });

  it("GIVEN no result directory or no descriptor THEN invalid-argument", async () => {
    expect(await outcome(verifyResult("", { descriptor: room }))).to.equal("invalid-argument");
    expect(await outcome(verifyResult(tmp, {} as { descriptor: CleanRoomDescriptor }))).to.equal("invalid-argument");
    expect(await outcome(verifyResult(tmp, null as unknown as { descriptor: CleanRoomDescriptor }))).to.equal("invalid-argument");
  });
});

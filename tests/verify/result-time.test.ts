/**
 * verifyResult binds the token to the receipt in time: the executor requests the token right after the job finished,
 * so a token issued long after `finishedAt` (or before it) was obtained for this receipt by something else, e.g. a
 * process that can reach the attestation socket and replays an old receipt's nonce.
 */
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { nonceForReceipt, type Receipt } from "../../src/core/receipt.js";
import { type AttestationError, MAX_TOKEN_DELAY_SEC, verifyResult } from "../../src/runtime/verify/index.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, pkiToken, testChains } from "./pki.js";

/**
 * Moves the receipt's times so that its token (issued now, within the test chain's validity) is issued `offsetSec`
 * after `finishedAt`, and re-signs the token for the edited receipt, as an attester would for its nonce.
 */
async function retime(dir: string, chain: Chain, receipt: Receipt, offsetSec: number): Promise<void> {
  const file = join(dir, "attestation.jwt");
  const [header, payload] = (await readFile(file, "utf8")).trim().split(".");
  const alg = JSON.parse(Buffer.from(header!, "base64url").toString()).alg as "ES256" | "RS256";
  const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as Record<string, unknown>;
  const finished = (claims.iat as number) - offsetSec;
  const moved: Receipt = { ...receipt, startedAt: new Date((finished - 60) * 1000).toISOString(), finishedAt: new Date(finished * 1000).toISOString() };
  await writeFile(join(dir, "receipt.json"), JSON.stringify(moved, null, 2));
  await writeFile(file, pkiToken(chain, { ...claims, eat_nonce: nonceForReceipt(moved) }, alg));
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

describe("verify/verifyResult: the token's issue time against the receipt's finish time", function () {
  this.timeout(30_000);
  let tmp: string;
  let chain: Chain;
  let room: CleanRoomDescriptor;

  before(async () => {
    ({ local: chain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-result-time-"));
    room = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  async function verifiedWithTokenAt(offsetSec: number, clockToleranceSec?: number): Promise<string> {
    const { dir, receipt } = await buildResult(tmp, room, chain);
    await retime(dir, chain, receipt, offsetSec);
    return outcome(verifyResult(dir, { descriptor: room, ...(clockToleranceSec !== undefined ? { clockToleranceSec } : {}) }));
  }

  it("GIVEN a token issued two hours after the job finished (a nonce replayed later) THEN policy naming iat", async () => {
    expect(await verifiedWithTokenAt(2 * 3600)).to.equal("policy:iat");
  });

  it("GIVEN a token issued ten minutes before the job finished (not for this receipt) THEN policy naming iat", async () => {
    expect(await verifiedWithTokenAt(-600)).to.equal("policy:iat");
  });

  it("GIVEN a token issued exactly MAX_TOKEN_DELAY_SEC after finishedAt THEN verified; one second later THEN policy", async () => {
    expect(MAX_TOKEN_DELAY_SEC).to.equal(3600);
    expect(await verifiedWithTokenAt(MAX_TOKEN_DELAY_SEC)).to.equal("verified");
    expect(await verifiedWithTokenAt(MAX_TOKEN_DELAY_SEC + 1)).to.equal("policy:iat");
  });

  it("GIVEN a token issued up to the clock tolerance before finishedAt THEN verified; one second more THEN policy", async () => {
    expect(await verifiedWithTokenAt(-30)).to.equal("verified");
    expect(await verifiedWithTokenAt(-31)).to.equal("policy:iat");
    expect(await verifiedWithTokenAt(-120, 120)).to.equal("verified");
    expect(await verifiedWithTokenAt(-121, 120)).to.equal("policy:iat");
  });
});

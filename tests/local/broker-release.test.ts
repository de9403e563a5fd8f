/**
 * The local key broker's release decision, in its two layers: the token check (signature, audience, and the room's
 * attestation policy as CEL) and `decideRelease` (the room's condition, then the provider's approved jobs).
 *
 * Inside the broker the condition in `decideRelease` is redundant: `verifyAttestation` already evaluated the same
 * condition text (loadDescriptor guarantees `attestation.condition` is built from `attestation.policy`), so a token
 * failing it never reaches `decideRelease`. The first tests show that layer; the last ones hold `decideRelease` to its
 * own contract, since it is exported and may be given claims that nothing verified.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttestationClaims, LOCAL_ISSUER } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { LOCAL_BROKER_AUDIENCE } from "../../src/runtime/platforms/local/attestation-service.js";
import { type BrokerHandle, decideRelease, ensureBrokerKeys, startBroker } from "../../src/runtime/platforms/local/broker.js";
import { unixRequest } from "../../src/runtime/platforms/local/http.js";
import { descriptor } from "../verify/fixtures.js";
import { type Chain, IMAGE, JOB, OTHER_IMAGE, pkiToken, productionClaims, testChains } from "../verify/pki.js";

/** Claims of a local token for `job`, run from executor `image`. */
function localClaims(image: string, job: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const base = productionClaims(now, { iss: LOCAL_ISSUER, aud: LOCAL_BROKER_AUDIENCE, swname: "CLEANROOM_LOCAL", hwmodel: "NONE", dbgstat: "enabled", secboot: false, swversion: ["0"] });
  return { ...base, submods: { ...(base.submods as object), container: { image_digest: image, env_override: { CLEANROOM_JOB_DIGEST: job } } } };
}

describe("local broker: key release", function () {
  this.timeout(30_000);
  let dir: string;
  let chain: Chain;
  let room: CleanRoomDescriptor;
  let broker: BrokerHandle;
  let socket: string;
  let wrapped: string;
  const dataKey = randomBytes(32);

  before(async () => {
    ({ local: chain } = await testChains());
    dir = await mkdtemp(join(tmpdir(), "broker-release-"));
    room = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    socket = join(dir, "broker.sock");
    await ensureBrokerKeys(join(dir, "keys"), ["acme"]);
    broker = await startBroker(socket, join(dir, "keys"), room);
    const res = await unixRequest(socket, "POST", "/v1/wrap", { provider: "acme", dataset: "claims", key: dataKey.toString("base64") });
    expect(res.status, res.body).to.equal(200);
    wrapped = JSON.parse(res.body).wrapped;
  });
  after(async () => {
    await broker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function unwrap(claims: Record<string, unknown>): Promise<{ status: number; body: { key?: string; code?: string; message?: string } }> {
    const token = pkiToken(chain, claims, "ES256");
    const res = await unixRequest(socket, "POST", "/v1/unwrap", { provider: "acme", dataset: "claims", token, wrapped });
    return { status: res.status, body: JSON.parse(res.body) };
  }

  it("GIVEN a token of the room's executor for an approved job THEN the data key is released", async () => {
    const res = await unwrap(localClaims(IMAGE, JOB));
    expect(res.status).to.equal(200);
    expect(Buffer.from(res.body.key!, "base64").equals(dataKey)).to.equal(true);
  });

  it("GIVEN an approved job run from another executor image THEN denied by the token check, before the approvals are consulted", async () => {
    const res = await unwrap(localClaims(OTHER_IMAGE, JOB));
    expect(res.status).to.equal(403);
    expect(res.body.code).to.equal("denied");
    expect(res.body.message).to.match(/attestation token does not verify/).and.match(/policy/);
    expect(res.body.key).to.equal(undefined);
  });

  it("GIVEN decideRelease with claims that fail the room's condition but carry an approved job THEN refused naming the condition", () => {
    const decision = decideRelease(room, "acme", localClaims(OTHER_IMAGE, JOB) as AttestationClaims);
    expect(decision.allowed).to.equal(false);
    expect(decision.reason).to.match(/does not satisfy the room's attestation condition/);
  });

  it("GIVEN decideRelease with claims that satisfy the condition THEN approved jobs are released and others refused", () => {
    expect(decideRelease(room, "acme", localClaims(IMAGE, JOB) as AttestationClaims)).to.deep.equal({ allowed: true, jobDigest: JOB });
    const other = `sha256:${"e".repeat(64)}`;
    const refused = decideRelease(room, "acme", localClaims(IMAGE, other) as AttestationClaims);
    expect(refused).to.include({ allowed: false, jobDigest: other });
    expect(refused.reason).to.include("approvedJobs");
  });
});

/**
 * checkAttestedRoom: the room descriptor a token attests (CLEANROOM_ROOM in env_override) against the verifier's, and
 * the AttestationError type every verify check throws.
 */
import { expect } from "chai";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { canonicalJson } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { ROOM_ENV } from "../../src/core/executor-env.js";
import { AttestationError, checkAttestedRoom, isAttestationError } from "../../src/runtime/verify/index.js";
import { descriptor } from "./fixtures.js";
import { IMAGE, OTHER_IMAGE } from "./production-claims.js";

const CLAIM = `submods.container.env_override.${ROOM_ENV}`;

function refusal(envOverride: unknown, expected: CleanRoomDescriptor): AttestationError {
  try {
    checkAttestedRoom(envOverride, expected);
  } catch (err) {
    expect(isAttestationError(err), String(err)).to.equal(true);
    return err as AttestationError;
  }
  expect.fail("expected checkAttestedRoom to refuse");
}

describe("verify/checkAttestedRoom", () => {
  const local = descriptor("local", undefined, { imageDigests: [IMAGE], platform: "local" });
  const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });

  it("GIVEN the room's own descriptor attested (local: no gcp section; GCP) THEN accepted", () => {
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(local) }, local)).to.not.throw();
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(gcp) }, gcp)).to.not.throw();
  });

  it("GIVEN no env_override at all (null, absent, a string) THEN policy naming CLEANROOM_ROOM, not a TypeError", () => {
    for (const env of [null, undefined, canonicalJson(gcp)]) {
      const err = refusal(env, gcp);
      expect(err.code).to.equal("policy");
      expect(err.claim).to.equal(CLAIM);
    }
  });

  it("GIVEN a CLEANROOM_ROOM that is not a descriptor THEN policy naming CLEANROOM_ROOM", () => {
    const err = refusal({ [ROOM_ENV]: JSON.stringify({ ...gcp, version: 99 }) }, gcp);
    expect(err.code).to.equal("policy");
    expect(err.claim).to.equal(CLAIM);
  });

  it("GIVEN a descriptor attested with a provider's key elsewhere THEN policy naming providers", () => {
    const movedKey = { ...gcp, providers: gcp.providers.map((p) => ({ ...p, keyName: "projects/x/locations/global/keyRings/r/cryptoKeys/other" })) };
    const err = refusal({ [ROOM_ENV]: canonicalJson(movedKey) }, gcp);
    expect(err.message, err.message).to.match(/"providers" differs/);
  });

  it("GIVEN a GCP descriptor attested with another workload identity pool provider THEN policy naming pool", () => {
    const other = { ...gcp, gcp: { ...gcp.gcp!, poolProviderName: `${gcp.gcp!.poolName}/providers/other` } };
    const err = refusal({ [ROOM_ENV]: canonicalJson(other) }, gcp);
    expect(err.message).to.match(/"pool" differs/);
    expect(err.claim).to.equal(CLAIM);
  });

  it("GIVEN a run attested with debug logs on and a room without them, or the reverse THEN policy naming debugLogs and the attested value", () => {
    const debug = { ...local, debugLogs: true };
    expect(refusal({ [ROOM_ENV]: canonicalJson(debug) }, local).message).to.match(/"debugLogs" differs \(attested true\)/);
    expect(refusal({ [ROOM_ENV]: canonicalJson(local) }, debug).message).to.match(/"debugLogs" differs \(attested false\)/);
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(debug) }, debug)).to.not.throw();
  });

  it("GIVEN debugLogs false attested for a room that leaves it out (or the reverse) THEN accepted: both keep no stderr", () => {
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson({ ...local, debugLogs: false }) }, local)).to.not.throw();
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(local) }, { ...local, debugLogs: false })).to.not.throw();
  });

  it("GIVEN a provider whose own attestation policy differs from the one attested THEN policy naming providers", () => {
    const own = (imageDigests: string[]) => {
      const policy = { imageDigests };
      const poolProviderName = "projects/5678/locations/global/workloadIdentityPools/acme-pool/providers/acme-cs";
      return { ...gcp, providers: gcp.providers.map((p) => ({ ...p, attestation: { policy, condition: buildAttestationCondition(policy), poolProviderName } })) };
    };
    const mine = own([IMAGE]);
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(mine) }, mine)).to.not.throw();
    const err = refusal({ [ROOM_ENV]: canonicalJson(own([OTHER_IMAGE])) }, mine);
    expect(err.message).to.match(/"providers" differs/);
  });
});

describe("verify/AttestationError", () => {
  it("GIVEN an AttestationError THEN it is a CleanRoomError named AttestationError, with its code and claim", () => {
    const err = new AttestationError("audience", "aud: expected x", { claim: "aud" });
    expect(err).to.be.instanceOf(CleanRoomError);
    expect(err.name).to.equal("AttestationError");
    expect(String(err)).to.match(/^AttestationError: /);
    expect(err.code).to.equal("audience");
    expect(err.claim).to.equal("aud");
    expect(err).to.not.have.property("claim", undefined);
  });

  it("GIVEN other errors (a CleanRoomError, an Error, a plain object with the name) THEN isAttestationError is false", () => {
    expect(isAttestationError(new AttestationError("nonce", "x"))).to.equal(true);
    expect(isAttestationError(new CleanRoomError("invalid-argument", "x"))).to.equal(false);
    expect(isAttestationError(new Error("x"))).to.equal(false);
    expect(isAttestationError({ name: "AttestationError", code: "nonce" })).to.equal(false);
  });
});

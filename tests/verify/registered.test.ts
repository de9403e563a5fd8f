/**
 * checkRegisteredClaims: iss, aud, exp, nbf, iat of a verified payload (the PKI path's only check of them, and the
 * OIDC path's second). Production claims, changed one claim at a time, each boundary on both sides.
 */
import { expect } from "chai";
import { CONFIDENTIAL_SPACE_ISSUER } from "../../src/core/attestation.js";
import { AttestationError, checkRegisteredClaims, type RegisteredClaimRules } from "../../src/runtime/verify/index.js";
import { productionClaims } from "./production-claims.js";

const AUD = "urn:attested-cleanroom:room:test";
const NOW = 1_780_000_000;
const TOL = 30;
const rules = (nowSec = NOW): RegisteredClaimRules => ({ issuer: CONFIDENTIAL_SPACE_ISSUER, audience: AUD, at: new Date(nowSec * 1000), toleranceSec: TOL });
const iso = (sec: number): string => new Date(sec * 1000).toISOString();

/** The AttestationError `checkRegisteredClaims` throws for `overrides` (at `nowSec`), or undefined when it accepts. */
function failure(overrides: Record<string, unknown>, nowSec = NOW): AttestationError | undefined {
  const payload = productionClaims(NOW, overrides);
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete payload[k];
  try {
    checkRegisteredClaims(payload, rules(nowSec));
  } catch (err) {
    expect(err).to.be.instanceOf(AttestationError);
    return err as AttestationError;
  }
  return undefined;
}

function expectFailure(overrides: Record<string, unknown>, code: string, claim: string, nowSec = NOW): AttestationError {
  const err = failure(overrides, nowSec);
  expect(err, `expected ${code} for ${JSON.stringify(overrides)}`).to.not.equal(undefined);
  expect(err!.code, err!.message).to.equal(code);
  expect(err!.claim, err!.message).to.equal(claim);
  return err!;
}

describe("verify/checkRegisteredClaims", () => {
  it("GIVEN production claims at their issue time THEN accepted", () => {
    expect(failure({})).to.equal(undefined);
  });

  for (const claim of ["iss", "aud", "exp", "iat"]) {
    it(`GIVEN a payload without ${claim} THEN malformed naming ${claim}`, () => {
      expectFailure({ [claim]: undefined }, "malformed", claim);
    });
  }

  it("GIVEN no nbf (it is optional) THEN accepted", () => {
    expect(failure({ nbf: undefined })).to.equal(undefined);
  });

  it("GIVEN exp, iat or nbf as a numeric string (far in the future or past) THEN malformed naming it, not compared as text", () => {
    expectFailure({ exp: "99999999999" }, "malformed", "exp");
    expectFailure({ iat: String(NOW) }, "malformed", "iat");
    expectFailure({ nbf: String(NOW + 86_400) }, "malformed", "nbf");
  });

  it("GIVEN exp = Infinity (JSON 1e999: a token that never expires) THEN malformed naming exp", () => {
    const payload = JSON.parse(JSON.stringify(productionClaims(NOW)).replace(/"exp":\d+/, '"exp":1e999')) as Record<string, unknown>;
    expect(payload.exp).to.equal(Number.POSITIVE_INFINITY);
    let caught: unknown;
    try {
      checkRegisteredClaims(payload, rules());
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(AttestationError);
    expect((caught as AttestationError).code).to.equal("malformed");
    expect((caught as AttestationError).claim).to.equal("exp");
  });

  it("GIVEN the issuer with a trailing slash THEN issuer naming iss", () => {
    expectFailure({ iss: `${CONFIDENTIAL_SPACE_ISSUER}/` }, "issuer", "iss");
  });

  it("GIVEN aud as a list holding the audience among others THEN accepted", () => {
    expect(failure({ aud: ["urn:other", AUD] })).to.equal(undefined);
  });

  it("GIVEN aud as another string, a list without the audience, a list with a non-string, or a number THEN audience naming aud", () => {
    expectFailure({ aud: "urn:other" }, "audience", "aud");
    expectFailure({ aud: ["urn:other"] }, "audience", "aud");
    expectFailure({ aud: [5, AUD] }, "audience", "aud");
    expectFailure({ aud: 5 }, "audience", "aud");
  });

  it("GIVEN exp WHEN now - tolerance reaches exp THEN expired, naming exp's time and the tolerance; one second earlier THEN accepted", () => {
    const exp = NOW + 3600;
    expect(failure({}, exp + TOL - 1)).to.equal(undefined);
    const err = expectFailure({}, "expired", "exp", exp + TOL);
    expect(err.message).to.include(iso(exp)).and.include(`tolerance ${TOL} s`);
  });

  it("GIVEN nbf WHEN it is beyond now + tolerance THEN not-yet-valid naming nbf's time; exactly at now + tolerance THEN accepted", () => {
    expect(failure({ nbf: NOW + TOL, iat: NOW })).to.equal(undefined);
    const err = expectFailure({ nbf: NOW + TOL + 1, iat: NOW }, "not-yet-valid", "nbf");
    expect(err.message).to.include(iso(NOW + TOL + 1));
  });

  it("GIVEN iat WHEN it is beyond now + tolerance THEN not-yet-valid naming iat's time; exactly at now + tolerance THEN accepted", () => {
    expect(failure({ iat: NOW + TOL, nbf: NOW })).to.equal(undefined);
    const err = expectFailure({ iat: NOW + TOL + 1, nbf: NOW }, "not-yet-valid", "iat");
    expect(err.message).to.include(iso(NOW + TOL + 1));
  });

  it("GIVEN exp, nbf or iat beyond what a Date can hold (a signed token may claim any finite time) THEN its refusal, naming the number, not a RangeError", () => {
    const far = 1e20;
    expect(expectFailure({ exp: -far }, "expired", "exp").message).to.include("-100000000000000000000 s since 1970");
    expect(expectFailure({ nbf: far }, "not-yet-valid", "nbf").message).to.include("100000000000000000000 s since 1970");
    expect(expectFailure({ iat: far }, "not-yet-valid", "iat").message).to.include("100000000000000000000 s since 1970");
  });
});

/**
 * What verifyAttestation refuses before it trusts anything: options a caller got wrong (each alone, one problem each,
 * boundaries included), and tokens that are not a compact signed JWT. Found by mutation testing (reports/).
 */
import { expect } from "chai";
import { LOCAL_ISSUER } from "../../src/core/attestation.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { MAX_CLOCK_TOLERANCE_SEC, TrustStore, verifyAttestation, type VerifyOptions, verifyOptionsProblems } from "../../src/runtime/verify/index.js";
import { type Chain, IMAGE, pkiToken, productionClaims, testChains } from "./pki.js";

const AUD = "urn:attested-cleanroom:room:test";
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("verify: options and token shape", function () {
  this.timeout(30_000);
  let good: Chain;
  let base: VerifyOptions;

  before(async () => {
    ({ good } = await testChains());
    base = { audience: AUD, trustedRoots: [good.root.pem], policy: { imageDigests: [IMAGE] } };
  });

  describe("verifyOptionsProblems", () => {
    it("GIVEN complete options THEN no problem", () => {
      expect(verifyOptionsProblems(base)).to.deep.equal([]);
      expect(verifyOptionsProblems({ ...base, clockToleranceSec: 0, nonce: "n", issuer: "https://confidentialcomputing.googleapis.com", currentDate: new Date() })).to.deep.equal([]);
      expect(verifyOptionsProblems({ ...base, clockToleranceSec: MAX_CLOCK_TOLERANCE_SEC })).to.deep.equal([]);
    });

    const bad: ReadonlyArray<[string, () => unknown, RegExp]> = [
      ["options null", () => null, /options must be an object/],
      ["options a string", () => "aud", /options must be an object/],
      ["no audience", () => ({ ...base, audience: undefined }), /audience/],
      ["an empty audience", () => ({ ...base, audience: "" }), /audience/],
      ["an empty issuer", () => ({ ...base, issuer: "" }), /issuer/],
      ["a numeric issuer", () => ({ ...base, issuer: 5 }), /issuer/],
      ["an empty nonce", () => ({ ...base, nonce: "" }), /nonce/],
      ["a numeric nonce", () => ({ ...base, nonce: 5 }), /nonce/],
      ["clockToleranceSec -1", () => ({ ...base, clockToleranceSec: -1 }), /clockToleranceSec/],
      ["clockToleranceSec 1.5", () => ({ ...base, clockToleranceSec: 1.5 }), /clockToleranceSec/],
      [`clockToleranceSec ${MAX_CLOCK_TOLERANCE_SEC + 1}`, () => ({ ...base, clockToleranceSec: MAX_CLOCK_TOLERANCE_SEC + 1 }), /clockToleranceSec/],
      ["currentDate an invalid Date", () => ({ ...base, currentDate: new Date(Number.NaN) }), /currentDate/],
      ["currentDate a number", () => ({ ...base, currentDate: Date.now() }), /currentDate/],
      ["both trustedRoots and trustStore", () => ({ ...base, trustStore: new TrustStore([good.root.pem]) }), /not both/],
      ["a trustStore that is not a TrustStore", () => ({ audience: AUD, trustStore: { roots: [] } }), /trustStore must be a TrustStore/],
      ["empty trustedRoots", () => ({ ...base, trustedRoots: [] }), /trustedRoots/],
      ["trustedRoots a string", () => ({ ...base, trustedRoots: good.root.pem }), /trustedRoots/],
      ["a gcp policy with the local issuer", () => ({ ...base, issuer: LOCAL_ISSUER }), /policy.platform must be "local"/],
      ["a local policy with Google's issuer", () => ({ ...base, policy: { imageDigests: [IMAGE], platform: "local" } }), /requires issuer/],
    ];
    for (const [what, options, problem] of bad) {
      it(`GIVEN ${what} THEN exactly one problem, naming it`, () => {
        const problems = verifyOptionsProblems(options() as VerifyOptions);
        expect(problems, problems.join("; ")).to.have.length(1);
        expect(problems[0]).to.match(problem);
      });
    }

    it("GIVEN a local policy with the local issuer THEN no problem", () => {
      expect(verifyOptionsProblems({ ...base, issuer: LOCAL_ISSUER, policy: { imageDigests: [IMAGE], platform: "local" } })).to.deep.equal([]);
    });
  });

  describe("verifyAttestation refuses options before reading the token", () => {
    it("GIVEN bad options and a good token THEN invalid-argument", async () => {
      const token = pkiToken(good, productionClaims(Math.floor(Date.now() / 1000) + 120, { aud: AUD }));
      try {
        await verifyAttestation(token, { ...base, audience: "" });
        expect.fail("expected invalid-argument");
      } catch (err) {
        expect((err as CleanRoomError).code).to.equal("invalid-argument");
      }
    });
  });

  describe("token shape", () => {
    const header = b64({ alg: "RS256", typ: "JWT" });
    const payload = b64({ aud: AUD });
    const malformed: ReadonlyArray<[string, unknown]> = [
      ["an empty string", ""],
      ["a number", 42],
      ["two parts", `${header}.${payload}`],
      ["four parts", `${header}.${payload}.c2ln.c2ln`],
      ["an empty payload", `${header}..c2ln`],
      ["a signature with characters outside base64url", `${header}.${payload}.ab+c/`],
      ["a header that is not base64url", `${header}!.${payload}.c2ln`],
      ["a header that is not JSON", `${Buffer.from("not json").toString("base64url")}.${payload}.c2ln`],
      ["a header that is a JSON array", `${b64([1, 2])}.${payload}.c2ln`],
      ["a header that is JSON null", `${b64(null)}.${payload}.c2ln`],
      ["a header that is a JSON string", `${b64("RS256")}.${payload}.c2ln`],
      ["more than 64 KiB", `${header}.${"a".repeat(64 * 1024)}.c2ln`],
    ];
    for (const [what, token] of malformed) {
      it(`GIVEN ${what} THEN malformed`, async () => {
        try {
          await verifyAttestation(token as string, base);
          expect.fail("expected malformed");
        } catch (err) {
          expect(err, String(err)).to.be.instanceOf(CleanRoomError);
          expect((err as CleanRoomError).code, (err as Error).message).to.equal("malformed");
        }
      });
    }
  });
});

describe("verify: TrustStore options", function () {
  this.timeout(30_000);
  let good: Chain;

  before(async () => {
    ({ good } = await testChains());
  });

  function codeOf(make: () => unknown): string {
    try {
      make();
      return "accepted";
    } catch (err) {
      expect(err, String(err)).to.be.instanceOf(CleanRoomError);
      return (err as CleanRoomError).code;
    }
  }

  it("GIVEN the bounds of ttlMs (0 and 86400000) and maxEntries (0 and 10000) THEN accepted", () => {
    for (const o of [{ ttlMs: 0 }, { ttlMs: 86_400_000 }, { maxEntries: 0 }, { maxEntries: 10_000 }]) {
      expect(codeOf(() => new TrustStore([good.root.pem], o)), JSON.stringify(o)).to.equal("accepted");
    }
  });

  const bad: ReadonlyArray<[string, () => unknown]> = [
    ["no roots", () => new TrustStore([])],
    ["roots not an array", () => new TrustStore("pem" as unknown as string[])],
    ["a root that is not PEM", () => new TrustStore(["not a certificate"])],
    ["a root that is a number", () => new TrustStore([5 as unknown as string])],
    ["an unreadable PEM root", () => new TrustStore(["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])],
    ["a root that is a leaf (not a CA)", () => new TrustStore([good.leaf.pem])],
    ["ttlMs -1", () => new TrustStore([good.root.pem], { ttlMs: -1 })],
    ["ttlMs 1.5", () => new TrustStore([good.root.pem], { ttlMs: 1.5 })],
    ["ttlMs a day and a millisecond", () => new TrustStore([good.root.pem], { ttlMs: 86_400_001 })],
    ["maxEntries -1", () => new TrustStore([good.root.pem], { maxEntries: -1 })],
    ["maxEntries 0.5", () => new TrustStore([good.root.pem], { maxEntries: 0.5 })],
    ["maxEntries 10001", () => new TrustStore([good.root.pem], { maxEntries: 10_001 })],
  ];
  for (const [what, make] of bad) {
    it(`GIVEN ${what} THEN invalid-argument`, () => {
      expect(codeOf(make)).to.equal("invalid-argument");
    });
  }

  it("GIVEN maxEntries 0 THEN nothing is cached; GIVEN the default THEN a verified chain is", () => {
    const at = new Date(Date.now() + 120_000);
    const none = new TrustStore([good.root.pem], { maxEntries: 0 });
    none.verifyChain(good.x5c, at);
    expect(none.size).to.equal(0);
    const some = new TrustStore([good.root.pem]);
    some.verifyChain(good.x5c, at);
    some.verifyChain(good.x5c, at);
    expect(some.size).to.equal(1);
    expect(some.stats).to.deep.equal({ hits: 1, misses: 1 });
    some.clear();
    expect(some.size).to.equal(0);
  });
});

/**
 * verifyAttestation at its edges: the token's shape and encoding, which check names the failure (`claim`), ES256
 * signatures and curves, and how OIDC (jose) failures are mapped. Every token here is either forged in one way or a
 * valid one that must still pass; a check that is skipped or loosened turns a refusal into an acceptance or a crash.
 */
import { expect } from "chai";
import { createPublicKey, createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LOCAL_ISSUER, type AttestationPolicyInput } from "../../src/core/attestation.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { AttestationError, decodeTokenTimes, RemoteJwks, TrustStore, verifyAttestation, type VerifyOptions } from "../../src/runtime/verify/index.js";
import { type Chain, clockOf, IMAGE, OTHER_IMAGE, pkiToken, productionClaims, signToken, testChains } from "./pki.js";

const AUD = "urn:attested-cleanroom:room:test";
const NONCE = "n".repeat(64);
const POLICY: AttestationPolicyInput = { imageDigests: [IMAGE] };
const b64url = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Expects a CleanRoomError of `code` (and, when given, `claim`); returns it. */
async function rejects(p: Promise<unknown>, code: string, claim?: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code, (err as Error).message).to.equal(code);
    if (claim !== undefined) expect((err as AttestationError).claim, (err as Error).message).to.equal(claim);
    return err as CleanRoomError;
  }
  expect.fail(`expected a rejection with code ${code}`);
}

/** An RS256 token over exactly `header64.payload64` (segments given as text, so they can be mis-encoded). */
function signRaw(header64: string, payload64: string, key: KeyObject): string {
  const sig = createSign("sha256").update(`${header64}.${payload64}`).sign(key);
  return `${header64}.${payload64}.${sig.toString("base64url")}`;
}

describe("verify/verifyAttestation: shape, claims named, ES256, OIDC errors", function () {
  this.timeout(30_000);
  let good: Chain;
  let local: Chain;
  let localP384: Chain;
  let NOW = 0;
  let opts: VerifyOptions;
  let localOpts: VerifyOptions;

  before(async () => {
    const chains = await testChains();
    ({ good, local, localP384 } = chains);
    NOW = clockOf(chains);
    opts = { audience: AUD, nonce: NONCE, trustedRoots: [good.root.pem], currentDate: new Date(NOW * 1000), policy: POLICY };
    localOpts = { ...opts, issuer: LOCAL_ISSUER, trustedRoots: [local.root.pem], policy: { imageDigests: [IMAGE], platform: "local" } };
  });

  const localClaims = () => productionClaims(NOW, { iss: LOCAL_ISSUER, swname: "CLEANROOM_LOCAL", dbgstat: "enabled" });

  describe("token shape", () => {
    it("GIVEN bad options THEN invalid-argument saying the verifyAttestation options are invalid, before the token is read", async () => {
      const err = await rejects(verifyAttestation("not even a token", { ...opts, audience: "" }), "invalid-argument");
      expect(err.message).to.match(/^Invalid verifyAttestation options: 1 problem/);
    });

    it("GIVEN no token (undefined, a number) THEN malformed saying it is empty, not a TypeError", async () => {
      for (const t of [undefined, 42]) {
        const err = await rejects(verifyAttestation(t as unknown as string, opts), "malformed");
        expect(err.message).to.match(/token is empty/);
      }
      expect((await rejects(verifyAttestation("", opts), "malformed")).message).to.match(/token is empty/);
    });

    it("GIVEN a token one character over 64 KiB THEN malformed for its length; one of exactly 64 KiB is not refused for its length", async () => {
      expect((await rejects(verifyAttestation("a".repeat(64 * 1024 + 1), opts), "malformed")).message).to.match(/65537 characters; at most 65536/);
      expect((await rejects(verifyAttestation("a".repeat(64 * 1024), opts), "malformed")).message).to.match(/not a compact signed JWT/);
    });

    it("GIVEN a valid token with a fourth segment appended THEN malformed (not verified on its first three)", async () => {
      await rejects(verifyAttestation(`${pkiToken(good, productionClaims(NOW))}.${b64url("x")}`, opts), "malformed");
    });

    it("GIVEN a token with an empty payload THEN malformed, before any signature check", async () => {
      const [h, , s] = pkiToken(good, productionClaims(NOW)).split(".");
      expect((await rejects(verifyAttestation(`${h}..${s}`, opts), "malformed")).message).to.match(/not a compact signed JWT/);
    });

    it("GIVEN a valid token whose signature segment carries base64 padding THEN malformed (the signature is base64url)", async () => {
      await rejects(verifyAttestation(`${pkiToken(good, productionClaims(NOW))}=`, opts), "malformed");
    });

    it("GIVEN a header in padded base64, signed over exactly that text THEN malformed: the header is not base64url", async () => {
      const header = b64url({ alg: "RS256", typ: "JWT", x5c: good.x5c }).concat("==");
      const err = await rejects(verifyAttestation(signRaw(header, b64url(productionClaims(NOW)), good.leaf.key), opts), "malformed");
      expect(err.message).to.match(/header is not base64url/);
    });

    it("GIVEN a header that is JSON but not an object (null, an array, a number) THEN malformed naming the header", async () => {
      for (const h of ["null", JSON.stringify([{ alg: "RS256" }]), "5"]) {
        const err = await rejects(verifyAttestation(signRaw(b64url(h), b64url(productionClaims(NOW)), good.leaf.key), opts), "malformed");
        expect(err.message, h).to.match(/token header is not a JSON object/);
      }
    });

    it("GIVEN a header that is base64url but not JSON THEN malformed saying it is not readable JSON, with the parse error as cause", async () => {
      const err = await rejects(verifyAttestation(signRaw(b64url("{alg: RS256"), b64url(productionClaims(NOW)), good.leaf.key), opts), "malformed");
      expect(err.message).to.match(/token header is not readable JSON/);
      expect(err.cause).to.be.instanceOf(SyntaxError);
    });

    it("GIVEN a payload segment carrying a non-base64url character, signed over its UTF-8 bytes THEN refused (the signature is over the token's exact characters)", async () => {
      const header = b64url({ alg: "RS256", typ: "JWT", x5c: good.x5c });
      const payload = `${b64url(productionClaims(NOW))}é`;
      const sig = createSign("sha256").update(Buffer.from(`${header}.${payload}`, "utf8")).sign(good.leaf.key).toString("base64url");
      await rejects(verifyAttestation(`${header}.${payload}.${sig}`, opts), "signature");
    });

    it("GIVEN a validly signed payload that is a JSON array THEN malformed naming the payload", async () => {
      const token = signToken({ alg: "RS256", typ: "JWT", x5c: good.x5c }, [productionClaims(NOW)] as unknown as Record<string, unknown>, good.leaf.key);
      expect((await rejects(verifyAttestation(token, opts), "malformed")).message).to.match(/token payload is not a JSON object/);
    });
  });

  describe("each refusal names what failed (claim)", () => {
    it("GIVEN a crit header, or a jwk, jku or x5u header THEN malformed naming that header", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW), "RS256", { crit: ["exp"] }), opts), "malformed", "crit");
      for (const h of ["jwk", "jku", "x5u"]) {
        await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW), "RS256", { [h]: "https://attacker.example/key" }), opts), "malformed", h);
      }
    });

    it("GIVEN a TrustStore WHEN a token has alg none, a crit header or a jwk header THEN the same refusals as without it", async () => {
      const store = new TrustStore([good.root.pem]);
      const o = { ...opts, trustedRoots: undefined, trustStore: store };
      await rejects(verifyAttestation(signToken({ alg: "none", x5c: good.x5c }, productionClaims(NOW), null), o), "algorithm", "alg");
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW), "RS256", { crit: ["exp"] }), o), "malformed", "crit");
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW), "RS256", { jwk: { kty: "RSA" } }), o), "malformed", "jwk");
      expect((await verifyAttestation(pkiToken(good, productionClaims(NOW)), o)).iss).to.equal("https://confidentialcomputing.googleapis.com");
    });

    it("GIVEN alg none THEN algorithm naming alg", async () => {
      await rejects(verifyAttestation(signToken({ alg: "none", x5c: good.x5c }, productionClaims(NOW), null), opts), "algorithm", "alg");
    });

    it("GIVEN a token signed by the intermediate's key under the leaf's x5c THEN signature naming signature", async () => {
      const forged = signToken({ alg: "RS256", typ: "JWT", x5c: good.x5c }, productionClaims(NOW), good.inter.key);
      await rejects(verifyAttestation(forged, opts), "signature", "signature");
    });

    it("GIVEN a token without x5c and no jwks THEN chain naming x5c", async () => {
      await rejects(verifyAttestation(signToken({ alg: "RS256", typ: "JWT" }, productionClaims(NOW), good.leaf.key), opts), "chain", "x5c");
    });

    it("GIVEN a wrong nonce THEN nonce naming eat_nonce", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: "m".repeat(64) })), opts), "nonce", "eat_nonce");
    });

    it("GIVEN a token of another image THEN policy naming policy, its problems listing the failed clause", async () => {
      const claims = productionClaims(NOW);
      const submods = claims.submods as Record<string, Record<string, unknown>>;
      const token = pkiToken(good, { ...claims, submods: { ...submods, container: { ...submods.container, image_digest: OTHER_IMAGE } } });
      const err = await rejects(verifyAttestation(token, opts), "policy", "policy");
      expect(err.problems).to.be.an("array").that.is.not.empty;
      expect(err.problems!.join("\n")).to.include("image_digest");
    });

    it("GIVEN no nonce expected THEN a token with any nonce (or none) is accepted", async () => {
      const { nonce: _nonce, ...noNonce } = opts;
      const claims = await verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: undefined })), noNonce);
      expect(claims.eat_nonce).to.equal(undefined);
    });
  });

  describe("ES256 (the local issuer)", () => {
    it("GIVEN a local token signed by another P-256 key under the local x5c THEN signature", async () => {
      const forged = signToken({ alg: "ES256", typ: "JWT", x5c: local.x5c }, localClaims(), local.inter.key);
      await rejects(verifyAttestation(forged, localOpts), "signature", "signature");
    });

    it("GIVEN a valid ES256 signature with one byte appended (65 bytes) THEN signature, not a crash", async () => {
      const [h, p, s] = pkiToken(local, localClaims(), "ES256").split(".");
      const longer = Buffer.concat([Buffer.from(s!, "base64url"), Buffer.from([0])]).toString("base64url");
      await rejects(verifyAttestation(`${h}.${p}.${longer}`, localOpts), "signature");
    });

    it("GIVEN a local token whose leaf key is EC P-384 THEN algorithm: ES256 means P-256", async () => {
      const token = signToken({ alg: "ES256", typ: "JWT", x5c: localP384.x5c }, localClaims(), localP384.leaf.key);
      const err = await rejects(verifyAttestation(token, localOpts), "algorithm", "alg");
      expect(err.message).to.include("secp384r1");
    });
  });

  describe("decodeTokenTimes (an archived token's verification time)", () => {
    it("GIVEN a token with numeric iat and exp THEN both, unverified", () => {
      expect(decodeTokenTimes(pkiToken(good, productionClaims(NOW)))).to.deep.equal({ iat: NOW, exp: NOW + 3600 });
    });

    it("GIVEN a token without iat, without exp, or with iat as a string THEN malformed naming iat", () => {
      const infinite = signRaw(b64url({ alg: "RS256", x5c: good.x5c }), b64url(JSON.stringify(productionClaims(NOW)).replace(/"iat":\d+/, '"iat":1e999')), good.leaf.key);
      for (const o of [{ iat: undefined }, { exp: undefined }, { iat: String(NOW) }, { exp: String(NOW + 3600) }, "iat 1e999"]) {
        let caught: unknown;
        try {
          decodeTokenTimes(typeof o === "string" ? infinite : pkiToken(good, productionClaims(NOW, o)));
        } catch (err) {
          caught = err;
        }
        expect(caught, JSON.stringify(o)).to.be.instanceOf(AttestationError);
        expect((caught as AttestationError).code).to.equal("malformed");
        expect((caught as AttestationError).claim).to.equal("iat");
      }
    });

    it("GIVEN a token whose header decodes but whose payload is not JSON THEN malformed naming iat (not a TypeError)", () => {
      const token = signRaw(b64url({ alg: "RS256", x5c: good.x5c }), b64url("not json"), good.leaf.key);
      let caught: unknown;
      try {
        decodeTokenTimes(token);
      } catch (err) {
        caught = err;
      }
      expect(caught, String(caught)).to.be.instanceOf(AttestationError);
      expect((caught as AttestationError).code).to.equal("malformed");
      expect((caught as AttestationError).claim).to.equal("iat");
    });
  });

  describe("OIDC: jose's failures mapped to codes", () => {
    const rsa = (kid: string, privateKey: KeyObject) => ({ kid, privateKey, jwk: { ...createPublicKey(privateKey).export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } });
    let k1: ReturnType<typeof rsa>;
    const oidc = (payload: Record<string, unknown>, key = k1) => signToken({ alg: "RS256", kid: key.kid, typ: "JWT" }, payload, key.privateKey);
    const oidcOpts = (): VerifyOptions => ({ audience: AUD, nonce: NONCE, currentDate: new Date(NOW * 1000), policy: POLICY, jwks: { keys: [k1.jwk] } });

    before(() => {
      k1 = rsa("k1", good.leaf.key);
    });

    it("GIVEN an OIDC token verified inside its window that has since expired in real time THEN accepted: the checks use currentDate", async () => {
      const past = NOW - 5 * 3600;
      const claims = await verifyAttestation(oidc(productionClaims(past)), { ...oidcOpts(), currentDate: new Date((past + 60) * 1000) });
      expect(claims.iat).to.equal(past);
    });

    it("GIVEN OIDC tokens expired, not yet valid, of another issuer or audience, without iat THEN each maps to its code and claim", async () => {
      const expired = await rejects(verifyAttestation(oidc(productionClaims(NOW - 7200)), oidcOpts()), "expired", "exp");
      expect(expired.message).to.include(`verification time ${new Date(NOW * 1000).toISOString()}, tolerance 30 s`);
      expect(expired.message).to.include(`expired at ${new Date((NOW - 7200 + 3600) * 1000).toISOString()}`);
      await rejects(verifyAttestation(oidc(productionClaims(NOW, { nbf: NOW + 600 })), oidcOpts()), "not-yet-valid", "nbf");
      await rejects(verifyAttestation(oidc(productionClaims(NOW, { iss: "https://confidentialcomputing.googleapis.com/" })), oidcOpts()), "issuer", "iss");
      await rejects(verifyAttestation(oidc(productionClaims(NOW, { aud: "urn:other" })), oidcOpts()), "audience", "aud");
      await rejects(verifyAttestation(oidc(productionClaims(NOW, { iat: undefined })), oidcOpts()), "malformed", "iat");
    });

    it("GIVEN an OIDC token with a tampered payload THEN signature naming signature; an unknown kid THEN untrusted-root naming kid", async () => {
      const [h, , s] = oidc(productionClaims(NOW)).split(".");
      await rejects(verifyAttestation(`${h}.${b64url(productionClaims(NOW, { aud: "x" }))}.${s}`, oidcOpts()), "signature", "signature");
      const other = rsa("k9", good.inter.key);
      await rejects(verifyAttestation(oidc(productionClaims(NOW), other), oidcOpts()), "untrusted-root", "kid");
    });

    it("GIVEN a JWKS whose key with the token's kid is for encryption (use enc) or for another alg THEN untrusted-root naming kid", async () => {
      for (const extra of [{ use: "enc" }, { alg: "RS512" }]) {
        const jwks = { keys: [{ ...k1.jwk, ...extra }] };
        await rejects(verifyAttestation(oidc(productionClaims(NOW)), { ...oidcOpts(), jwks }), "untrusted-root", "kid");
      }
    });

    it("GIVEN a validly signed OIDC token whose exp is a string, or whose payload is a JSON array THEN malformed", async () => {
      await rejects(verifyAttestation(oidc(productionClaims(NOW, { exp: String(NOW + 3600) })), oidcOpts()), "malformed", "exp");
      const array = signToken({ alg: "RS256", kid: "k1", typ: "JWT" }, [productionClaims(NOW)] as unknown as Record<string, unknown>, k1.privateKey);
      const err = await rejects(verifyAttestation(array, oidcOpts()), "malformed");
      expect(err.message).to.match(/^The token cannot be verified/);
      expect(err.cause).to.be.instanceOf(Error);
    });

    it("GIVEN a validly signed OIDC token whose nbf is not a number THEN malformed naming nbf, as on the PKI path (not not-yet-valid)", async () => {
      const err = await rejects(verifyAttestation(oidc(productionClaims(NOW, { nbf: "soon" })), oidcOpts()), "malformed", "nbf");
      expect(err.message).to.include('"soon"');
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { nbf: "soon" })), opts), "malformed", "nbf");
    });

    it("GIVEN a validly signed OIDC token whose exp or nbf lies beyond what a Date can hold THEN expired / not-yet-valid, not a RangeError", async () => {
      const expired = await rejects(verifyAttestation(oidc(productionClaims(NOW, { exp: -1e20 })), oidcOpts()), "expired", "exp");
      expect(expired.message).to.include("-100000000000000000000 s since 1970");
      const future = await rejects(verifyAttestation(oidc(productionClaims(NOW, { nbf: 1e20 })), oidcOpts()), "not-yet-valid", "nbf");
      expect(future.message).to.include("100000000000000000000 s since 1970");
    });

    it("GIVEN a local JWKS whose key for the kid is an RSA key under 2048 bits THEN malformed (jose refuses the key), not an io-error: nothing was fetched", async () => {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
      const weak = rsa("k1", privateKey);
      const err = await rejects(verifyAttestation(oidc(productionClaims(NOW), weak), { ...oidcOpts(), jwks: { keys: [weak.jwk] } }), "malformed");
      expect(err).to.be.instanceOf(AttestationError);
      expect(err.message).to.include("2048");
    });

    describe("a remote JWKS that cannot be had", () => {
      let silent: Server;
      let silentUrl: URL;
      let closedUrl: URL;
      before(async () => {
        // Accepts the connection and never answers.
        silent = createServer(() => undefined);
        await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
        silentUrl = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/jwks`);
        const closed = createServer();
        await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
        closedUrl = new URL(`http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks`);
        await new Promise<void>((r) => closed.close(() => r()));
      });
      after(() => {
        silent.closeAllConnections();
        return new Promise<void>((r) => silent.close(() => r()));
      });

      it("GIVEN a JWKS URL nothing listens on THEN io-error (a network problem, not a bad token)", async () => {
        const err = await rejects(verifyAttestation(oidc(productionClaims(NOW)), { ...oidcOpts(), jwks: closedUrl }), "io-error");
        expect(err).to.not.be.instanceOf(AttestationError);
        expect(err.cause, "the network error is kept").to.be.instanceOf(Error);
        await rejects(verifyAttestation(oidc(productionClaims(NOW)), { ...oidcOpts(), jwks: new RemoteJwks(closedUrl) }), "io-error");
      });

      it("GIVEN a remote JWKS that serves the key WHEN the validly signed payload is a JSON array THEN malformed: the fetch worked, the token is bad", async () => {
        const served = createServer((_req, res) => {
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ keys: [k1.jwk] }));
        });
        await new Promise<void>((r) => served.listen(0, "127.0.0.1", r));
        try {
          const url = new URL(`http://127.0.0.1:${(served.address() as AddressInfo).port}/jwks`);
          await verifyAttestation(oidc(productionClaims(NOW)), { ...oidcOpts(), jwks: url });
          const array = signToken({ alg: "RS256", kid: "k1", typ: "JWT" }, [productionClaims(NOW)] as unknown as Record<string, unknown>, k1.privateKey);
          const err = await rejects(verifyAttestation(array, { ...oidcOpts(), jwks: url }), "malformed");
          expect(err).to.be.instanceOf(AttestationError);
        } finally {
          served.closeAllConnections();
          await new Promise<void>((r) => served.close(() => r()));
        }
      });

      it("GIVEN a JWKS endpoint that never answers WHEN the RemoteJwks times out THEN io-error", async () => {
        const err = await rejects(verifyAttestation(oidc(productionClaims(NOW)), { ...oidcOpts(), jwks: new RemoteJwks(silentUrl, { timeoutMs: 200 }) }), "io-error");
        expect((err.cause as { code?: string }).code).to.equal("ERR_JWKS_TIMEOUT");
      });
    });
  });
});

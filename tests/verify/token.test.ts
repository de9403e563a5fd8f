/**
 * verifyAttestation: accepted and rejected tokens, each rejection asserting its stable `code`.
 * Chains are generated with openssl in `before()`; tokens are signed with node:crypto, not with jose.
 */
import { expect } from "chai";
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LOCAL_ISSUER, type AttestationPolicyInput } from "../../src/core/attestation.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { AttestationError, RemoteJwks, TrustStore, verifyAttestation, type VerifyOptions } from "../../src/runtime/verify/index.js";
import { type Chain, clockOf, IMAGE, OTHER_IMAGE, pkiToken, productionClaims, signToken, testChains } from "./pki.js";

// The test clock comes from the certificates' own validity (clockOf), set in before(): they are made on the run's first
// testChains() call, which may be minutes after this file loads.
let NOW = 0;
let AT = new Date(0);
const AUD = "urn:attested-cleanroom:room:test";
const NONCE = "n".repeat(64);
const POLICY: AttestationPolicyInput = { imageDigests: [IMAGE] };

/** Expects the promise to reject with a CleanRoomError of `code`; returns it for message checks. */
async function rejects(p: Promise<unknown>, code: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code, (err as Error).message).to.equal(code);
    return err as CleanRoomError;
  }
  expect.fail(`expected a rejection with code ${code}`);
}

describe("verify/verifyAttestation", function () {
  this.timeout(30_000);
  let good: Chain;
  let elsewhere: Chain;
  let foreignLeaf: Chain;
  let shortInter: Chain;
  let local: Chain;
  let mixed: Chain;
  let opts: VerifyOptions;

  before(async () => {
    const chains = await testChains();
    ({ good, elsewhere, foreignLeaf, shortInter, local, mixed } = chains);
    NOW = clockOf(chains);
    AT = new Date(NOW * 1000);
    opts = { audience: AUD, nonce: NONCE, trustedRoots: [good.root.pem], currentDate: AT, policy: POLICY };
  });

  it("GIVEN the test clock WHEN the chains were made THEN every test certificate is valid at it (whenever in the run they were made)", () => {
    for (const c of [good, elsewhere, foreignLeaf, shortInter, local, mixed]) {
      for (const cert of [c.leaf, c.inter, c.root].map((i) => new X509Certificate(i.pem))) {
        expect(Date.parse(cert.validFrom), `${cert.subject} not yet valid at the test clock`).to.be.at.most(AT.getTime());
        expect(Date.parse(cert.validTo), `${cert.subject} expired at the test clock`).to.be.greaterThan(AT.getTime());
      }
    }
  });

  describe("accepts", () => {
    it("GIVEN a production PKI token (RS256) WHEN verified with the policy THEN returns the typed claims", async () => {
      const claims = await verifyAttestation(pkiToken(good, productionClaims(NOW)), opts);
      expect(claims.submods?.container?.image_digest).to.equal(IMAGE);
      expect(claims.dbgstat).to.equal("disabled-since-boot");
    });

    it("GIVEN eat_nonce as an array holding the nonce among others THEN accepted (nonces compare as a set)", async () => {
      await verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: ["other-nonce-123", NONCE] })), opts);
    });

    it("GIVEN a local ES256 token WHEN issuer is LOCAL_ISSUER with a local policy THEN accepted", async () => {
      const payload = productionClaims(NOW, { iss: LOCAL_ISSUER, swname: "CLEANROOM_LOCAL", hwmodel: "NONE", dbgstat: "enabled", secboot: false });
      const claims = await verifyAttestation(pkiToken(local, payload, "ES256"), {
        ...opts,
        issuer: LOCAL_ISSUER,
        trustedRoots: [local.root.pem],
        policy: { imageDigests: [IMAGE], platform: "local" },
      });
      expect(claims.swname).to.equal("CLEANROOM_LOCAL");
    });

    it("GIVEN an exp just inside the clock tolerance THEN accepted; WHEN tolerance is 0 THEN expired", async () => {
      const token = pkiToken(good, productionClaims(NOW - 3610, { exp: NOW - 10 }));
      await verifyAttestation(token, opts);
      await rejects(verifyAttestation(token, { ...opts, clockToleranceSec: 0 }), "expired");
    });
  });

  describe("rejects the header", () => {
    it("GIVEN alg none THEN algorithm", async () => {
      const token = signToken({ alg: "none", x5c: good.x5c }, productionClaims(NOW), null);
      await rejects(verifyAttestation(token, opts), "algorithm");
    });

    it("GIVEN HS256 signed with the leaf's public key bytes THEN algorithm", async () => {
      const secret = Buffer.from(good.leaf.pem);
      const err = await rejects(verifyAttestation(signToken({ alg: "HS256", x5c: good.x5c }, productionClaims(NOW), secret), opts), "algorithm");
      expect(err.message).to.include('expected "RS256"');
    });

    it("GIVEN HS256 signed with the public key and no x5c, against a JWKS THEN algorithm", async () => {
      const publicKey = createPublicKey(good.leaf.key);
      const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
      const secret = Buffer.from(publicKey.export({ type: "spki", format: "pem" }));
      const token = signToken({ alg: "HS256", kid: "k1" }, productionClaims(NOW), secret);
      await rejects(verifyAttestation(token, { ...opts, trustedRoots: undefined, jwks: { keys: [jwk] } }), "algorithm");
    });

    it("GIVEN an ES256 token for Google's issuer THEN algorithm (ES256 is only for the local issuer)", async () => {
      await rejects(verifyAttestation(pkiToken(local, productionClaims(NOW), "ES256"), { ...opts, trustedRoots: [local.root.pem] }), "algorithm");
    });

    it("GIVEN an RS256 header over an EC leaf key THEN algorithm", async () => {
      await rejects(verifyAttestation(pkiToken(mixed, productionClaims(NOW)), opts), "algorithm");
    });

    it("GIVEN an RS256 token for the local issuer THEN algorithm", async () => {
      const payload = productionClaims(NOW, { iss: LOCAL_ISSUER });
      await rejects(verifyAttestation(pkiToken(good, payload), { ...opts, issuer: LOCAL_ISSUER, policy: undefined }), "algorithm");
    });

    it("GIVEN a crit header THEN malformed", async () => {
      const token = pkiToken(good, productionClaims(NOW), "RS256", { crit: ["exp"] });
      const err = await rejects(verifyAttestation(token, opts), "malformed");
      expect(err.message).to.include("crit");
    });

    it("GIVEN a jwk header (a key chosen by the token) THEN malformed", async () => {
      const token = pkiToken(good, productionClaims(NOW), "RS256", { jwk: { kty: "RSA", n: "AQAB", e: "AQAB" } });
      await rejects(verifyAttestation(token, opts), "malformed");
    });

    it("GIVEN garbage THEN malformed", async () => {
      await rejects(verifyAttestation("not.a-token", opts), "malformed");
      await rejects(verifyAttestation("", opts), "malformed");
    });
  });

  describe("rejects the signature and chain", () => {
    it("GIVEN a tampered payload (debug flipped to production) THEN signature", async () => {
      const token = pkiToken(good, productionClaims(NOW, { dbgstat: "enabled" }));
      const [h, , s] = token.split(".");
      const forged = Buffer.from(JSON.stringify(productionClaims(NOW))).toString("base64url");
      await rejects(verifyAttestation(`${h}.${forged}.${s}`, opts), "signature");
    });

    it("GIVEN an x5c rooted in another CA THEN untrusted-root", async () => {
      const err = await rejects(verifyAttestation(pkiToken(elsewhere, productionClaims(NOW)), opts), "untrusted-root");
      expect(err.message).to.include("Other Root");
    });

    it("GIVEN a leaf not issued by the intermediate THEN chain", async () => {
      const err = await rejects(verifyAttestation(pkiToken(foreignLeaf, productionClaims(NOW)), opts), "chain");
      expect(err.message).to.include("x5c[0]");
    });

    it("GIVEN an intermediate that expired (verified 2 days on) THEN expired naming the intermediate", async () => {
      const later = NOW + 2 * 86400;
      const token = pkiToken(shortInter, productionClaims(later));
      await verifyAttestation(pkiToken(shortInter, productionClaims(NOW)), opts); // the same chain is fine today
      const err = await rejects(verifyAttestation(token, { ...opts, currentDate: new Date(later * 1000) }), "expired");
      expect(err.message).to.include("x5c[1]").and.include("intermediate");
    });

    it("GIVEN a verification time before the leaf was issued THEN not-yet-valid", async () => {
      const before = NOW - 2 * 86400;
      await rejects(verifyAttestation(pkiToken(good, productionClaims(before)), { ...opts, currentDate: new Date(before * 1000) }), "not-yet-valid");
    });

    it("GIVEN an x5c of 2 certificates THEN chain", async () => {
      const token = signToken({ alg: "RS256", x5c: good.x5c.slice(0, 2) }, productionClaims(NOW), good.leaf.key);
      await rejects(verifyAttestation(token, opts), "chain");
    });

    it("GIVEN x5c in base64url instead of base64 THEN malformed", async () => {
      const x5c = good.x5c.map((c) => Buffer.from(c, "base64").toString("base64url"));
      const token = signToken({ alg: "RS256", x5c }, productionClaims(NOW), good.leaf.key);
      await rejects(verifyAttestation(token, opts), good.x5c.some((c) => /[+/=]/.test(c)) ? "malformed" : "signature");
    });

    it("GIVEN a token without x5c and no jwks THEN chain", async () => {
      await rejects(verifyAttestation(signToken({ alg: "RS256" }, productionClaims(NOW), good.leaf.key), opts), "chain");
    });
  });

  describe("rejects the claims", () => {
    it("GIVEN an expired token THEN expired naming exp", async () => {
      const err = await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW - 7200)), opts), "expired");
      expect(err.message).to.match(/^exp:/);
    });

    it("GIVEN nbf in the future THEN not-yet-valid", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { nbf: NOW + 600 })), opts), "not-yet-valid");
    });

    it("GIVEN iat in the future THEN not-yet-valid", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { iat: NOW + 600, nbf: NOW })), opts), "not-yet-valid");
    });

    it("GIVEN a wrong audience THEN audience naming the expected value", async () => {
      const err = await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { aud: "https://sts.googleapis.com" })), opts), "audience");
      expect(err.message).to.include(AUD);
    });

    it("GIVEN the issuer with a trailing slash THEN issuer", async () => {
      const payload = productionClaims(NOW, { iss: "https://confidentialcomputing.googleapis.com/" });
      const err = await rejects(verifyAttestation(pkiToken(good, payload), opts), "issuer");
      expect(err.message).to.include('"https://confidentialcomputing.googleapis.com"');
    });

    it("GIVEN a wrong nonce THEN nonce", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: ["x".repeat(64)] })), opts), "nonce");
    });

    it("GIVEN no eat_nonce while one is expected THEN nonce", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: undefined })), opts), "nonce");
    });

    it("GIVEN a claim of the wrong type (eat_nonce: 5) THEN malformed", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: 5 })), opts), "malformed");
    });

    it("GIVEN a token without exp THEN malformed", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW, { exp: undefined })), opts), "malformed");
    });
  });

  describe("rejects by policy", () => {
    const policyCase = (name: string, overrides: (c: Record<string, unknown>) => void, clause: string) =>
      it(`GIVEN ${name} THEN policy naming ${clause}`, async () => {
        const claims = productionClaims(NOW);
        overrides(claims);
        const err = await rejects(verifyAttestation(pkiToken(good, claims), opts), "policy");
        expect(err.message).to.include(clause);
      });
    const submods = (c: Record<string, unknown>) => c.submods as Record<string, Record<string, unknown>>;
    policyCase("a debug image (dbgstat: enabled, no support attributes)", (c) => {
      c.dbgstat = "enabled";
      submods(c).confidential_space = {};
    }, "dbgstat");
    policyCase("a production image without STABLE", (c) => {
      submods(c).confidential_space = { support_attributes: ["LATEST", "USABLE"] };
    }, "STABLE");
    policyCase("a wrong image digest", (c) => {
      submods(c).container = { image_digest: OTHER_IMAGE };
    }, "image_digest");
    policyCase("swname GCE (a plain VM)", (c) => {
      c.swname = "GCE";
    }, "swname");
  });

  describe("options", () => {
    it("GIVEN clockToleranceSec 301 THEN invalid-argument before the token is read", async () => {
      const err = await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW)), { ...opts, clockToleranceSec: 301 }), "invalid-argument");
      expect(err).not.to.be.instanceOf(AttestationError);
      expect(err.message).to.include("clockToleranceSec");
    });

    it("GIVEN a local policy with Google's issuer (or the reverse) THEN invalid-argument", async () => {
      const token = pkiToken(good, productionClaims(NOW));
      await rejects(verifyAttestation(token, { ...opts, policy: { imageDigests: [IMAGE], platform: "local" } }), "invalid-argument");
      await rejects(verifyAttestation(token, { ...opts, issuer: LOCAL_ISSUER }), "invalid-argument");
    });

    it("GIVEN a non-Google issuer and no trustedRoots THEN invalid-argument (only Google's root is pinned)", async () => {
      const payload = productionClaims(NOW, { iss: LOCAL_ISSUER });
      await rejects(verifyAttestation(pkiToken(local, payload, "ES256"), { audience: AUD, issuer: LOCAL_ISSUER, currentDate: AT }), "invalid-argument");
    });

    it("GIVEN a trusted root that is an intermediate THEN invalid-argument", async () => {
      await rejects(verifyAttestation(pkiToken(good, productionClaims(NOW)), { ...opts, trustedRoots: [good.inter.pem] }), "invalid-argument");
    });
  });

  describe("TrustStore (pinned chain cache)", () => {
    it("GIVEN a store WHEN the same chain verifies twice THEN the second is a cache hit; after ttl it is verified again", async () => {
      let wall = 1_000_000;
      const store = new TrustStore([good.root.pem], { ttlMs: 1000, now: () => wall });
      const o = { ...opts, trustedRoots: undefined, trustStore: store };
      await verifyAttestation(pkiToken(good, productionClaims(NOW)), o);
      await verifyAttestation(pkiToken(good, productionClaims(NOW, { eat_nonce: [NONCE, "b"] })), o);
      expect(store.stats).to.deep.equal({ hits: 1, misses: 1 });
      wall += 1001;
      await verifyAttestation(pkiToken(good, productionClaims(NOW)), o);
      expect(store.stats).to.deep.equal({ hits: 1, misses: 2 });
      expect(store.size).to.equal(1);
    });

    it("GIVEN maxEntries 1 WHEN two chains verify THEN only the newest stays cached", async () => {
      const store = new TrustStore([good.root.pem], { maxEntries: 1 });
      const o = { ...opts, trustedRoots: undefined, trustStore: store };
      await verifyAttestation(pkiToken(good, productionClaims(NOW)), o);
      await verifyAttestation(pkiToken(shortInter, productionClaims(NOW)), o);
      await verifyAttestation(pkiToken(good, productionClaims(NOW)), o);
      expect(store.size).to.equal(1);
      expect(store.stats).to.deep.equal({ hits: 0, misses: 3 });
    });

    it("GIVEN a failed chain THEN nothing is cached", async () => {
      const store = new TrustStore([good.root.pem]);
      await rejects(verifyAttestation(pkiToken(foreignLeaf, productionClaims(NOW)), { ...opts, trustedRoots: undefined, trustStore: store }), "chain");
      expect(store.size).to.equal(0);
    });

    it("GIVEN a cached chain WHEN verified at a time its intermediate has expired THEN still expired", async () => {
      const store = new TrustStore([good.root.pem]);
      const o = { ...opts, trustedRoots: undefined, trustStore: store };
      await verifyAttestation(pkiToken(shortInter, productionClaims(NOW)), o);
      expect(store.size).to.equal(1);
      const later = NOW + 2 * 86400;
      await rejects(verifyAttestation(pkiToken(shortInter, productionClaims(later)), { ...o, currentDate: new Date(later * 1000) }), "expired");
    });

    it("GIVEN a cached chain WHEN a token is signed by another key under the same x5c THEN signature", async () => {
      const store = new TrustStore([good.root.pem]);
      const o = { ...opts, trustedRoots: undefined, trustStore: store };
      await verifyAttestation(pkiToken(good, productionClaims(NOW)), o);
      const forged = signToken({ alg: "RS256", x5c: good.x5c }, productionClaims(NOW), elsewhere.leaf.key);
      await rejects(verifyAttestation(forged, o), "signature");
    });
  });

  describe("OIDC (JWKS)", () => {
    // The chains' RSA keys double as JWKS keys: generating more would only slow the suite.
    const rsa = (kid: string, privateKey: KeyObject) => {
      return { kid, privateKey, jwk: { ...createPublicKey(privateKey).export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
    };
    const oidc = (k: { kid: string; privateKey: KeyObject }, payload = productionClaims(NOW)) =>
      signToken({ alg: "RS256", kid: k.kid, typ: "JWT" }, payload, k.privateKey);
    type K = ReturnType<typeof rsa>;
    let k1: K;
    let k2: K;
    let k3: K;
    let server: Server;
    let served: unknown[] = [];
    let fetches = 0;
    let url: URL;
    const oidcOpts = (): VerifyOptions => ({ audience: AUD, nonce: NONCE, currentDate: AT, policy: POLICY });

    before(async () => {
      k1 = rsa("k1", good.leaf.key);
      k2 = rsa("k2", elsewhere.leaf.key);
      k3 = rsa("k3", good.root.key);
      server = createServer((_req, res) => {
        fetches++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ keys: served }));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`);
    });
    after(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

    it("GIVEN a local JWKS object THEN an OIDC token is accepted; an unknown kid is untrusted-root", async () => {
      const jwks = { keys: [k1.jwk] };
      const claims = await verifyAttestation(oidc(k1), { ...oidcOpts(), jwks });
      expect(claims.swname).to.equal("CONFIDENTIAL_SPACE");
      await rejects(verifyAttestation(oidc(k2), { ...oidcOpts(), jwks }), "untrusted-root");
    });

    it("GIVEN a JWKS served over loopback WHEN verifying repeatedly THEN fetched once, refetched on an unknown kid", async () => {
      served = [k1.jwk];
      fetches = 0;
      const jwks = new RemoteJwks(url, { cooldownMs: 0 });
      await verifyAttestation(oidc(k1), { ...oidcOpts(), jwks });
      await verifyAttestation(oidc(k1), { ...oidcOpts(), jwks });
      expect(fetches, "cached").to.equal(1);
      served = [k1.jwk, k2.jwk]; // key rotation at the issuer
      await verifyAttestation(oidc(k2), { ...oidcOpts(), jwks });
      expect(fetches, "refetched for the new kid").to.equal(2);
      await rejects(verifyAttestation(oidc(k3), { ...oidcOpts(), jwks }), "untrusted-root");
      expect(fetches, "tried once more for the unknown kid").to.equal(3);
    });

    it("GIVEN a JWKS URL THEN accepted; a tampered token THEN signature", async () => {
      served = [k1.jwk];
      await verifyAttestation(oidc(k1), { ...oidcOpts(), jwks: url });
      const [h, , s] = oidc(k1).split(".");
      const p = Buffer.from(JSON.stringify(productionClaims(NOW, { aud: "x" }))).toString("base64url");
      await rejects(verifyAttestation(`${h}.${p}.${s}`, { ...oidcOpts(), jwks: url }), "signature");
    });

    it("GIVEN a JWKS containing a symmetric key THEN invalid-argument", async () => {
      await rejects(verifyAttestation(oidc(k1), { ...oidcOpts(), jwks: { keys: [{ kty: "oct", k: "c2VjcmV0", kid: "k1" }] } }), "invalid-argument");
    });
  });
});

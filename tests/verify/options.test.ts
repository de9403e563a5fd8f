/**
 * The verifier's own inputs: `verifyAttestation` options, `RemoteJwks` bounds and JWKS key sets. Each bad value is
 * refused with a problem naming it (never a TypeError from reading into it), and each value at the edge of its range
 * is accepted, so a check that is skipped, inverted or off by one shows.
 */
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CONFIDENTIAL_SPACE_ISSUER, LOCAL_ISSUER } from "../../src/core/attestation.js";
import { CleanRoomError } from "../../src/core/errors.js";
import {
  CONFIDENTIAL_SPACE_ROOT_PEM,
  jwksProblems,
  RemoteJwks,
  type RemoteJwksOptions,
  TrustStore,
  type VerifyOptions,
  verifyOptionsProblems,
} from "../../src/runtime/verify/index.js";
import { IMAGE } from "./production-claims.js";

const AUD = "urn:attested-cleanroom:room:test";
/** An RSA public JWK as Google's JWKS serves it (the modulus is irrelevant to these checks). */
const PUBLIC_JWK = { kty: "RSA", kid: "k1", alg: "RS256", use: "sig", n: "sXch", e: "AQAB" };

/** The problems of `{ audience, ...extra }`. */
function problemsWith(extra: Record<string, unknown>): string[] {
  return verifyOptionsProblems({ audience: AUD, ...extra } as unknown as VerifyOptions);
}

/** Expects `fn` to throw a CleanRoomError `invalid-argument` whose problems are exactly one matching `pattern`. */
function refuses(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected invalid-argument").to.be.instanceOf(CleanRoomError);
  const e = caught as CleanRoomError;
  expect(e.code, e.message).to.equal("invalid-argument");
  expect(e.message).to.match(/^Invalid remote JWKS options: 1 problem/);
  expect(e.problems, e.message).to.have.length(1);
  expect(e.problems![0]).to.match(pattern);
}

describe("verify/options: verifyAttestation options", () => {
  it("GIVEN options that are not an object (null, a string) WHEN checked THEN one problem, not a TypeError", () => {
    for (const bad of [null, "urn:aud"]) {
      expect(verifyOptionsProblems(bad as unknown as VerifyOptions), String(bad)).to.deep.equal(["options must be an object with at least audience"]);
    }
  });

  it("GIVEN the minimal options (an audience) WHEN checked THEN no problem", () => {
    expect(problemsWith({})).to.deep.equal([]);
  });

  // Options are built when a test runs (`() => ({ … })`), not while mocha loads the file: a TrustStore made at load
  // time makes Stryker count the constructor's mutants as static, and restart a test runner for each of them.
  const cases: ReadonlyArray<[string, () => Record<string, unknown>, RegExp]> = [
    ["no audience", () => ({ audience: undefined }), /^audience must be a non-empty string/],
    ["an empty audience", () => ({ audience: "" }), /^audience must be a non-empty string/],
    ["an audience that is a list", () => ({ audience: [AUD] }), /^audience must be a non-empty string/],
    ["an empty issuer", () => ({ issuer: "" }), /^issuer must be a non-empty string/],
    ["an issuer that is a URL object", () => ({ issuer: new URL(CONFIDENTIAL_SPACE_ISSUER) }), /^issuer must be a non-empty string/],
    ["an empty nonce", () => ({ nonce: "" }), /^nonce must be a non-empty string/],
    ["a nonce that is a number", () => ({ nonce: 42 }), /^nonce must be a non-empty string/],
    ["a negative clock tolerance", () => ({ clockToleranceSec: -1 }), /^clockToleranceSec must be an integer from 0 to 300/],
    ["a fractional clock tolerance", () => ({ clockToleranceSec: 1.5 }), /^clockToleranceSec must be an integer from 0 to 300/],
    ["a clock tolerance over 300 s", () => ({ clockToleranceSec: 301 }), /^clockToleranceSec must be an integer from 0 to 300/],
    ["a currentDate that is an ISO string", () => ({ currentDate: "2026-01-01T00:00:00Z" }), /^currentDate must be a valid Date/],
    ["an invalid Date", () => ({ currentDate: new Date(Number.NaN) }), /^currentDate must be a valid Date/],
    ["trustedRoots and a trustStore", () => ({ trustedRoots: [CONFIDENTIAL_SPACE_ROOT_PEM], trustStore: new TrustStore([CONFIDENTIAL_SPACE_ROOT_PEM]) }), /^give trustedRoots or trustStore, not both/],
    ["a trustStore that is a plain object", () => ({ trustStore: { roots: [] } }), /^trustStore must be a TrustStore/],
    ["an empty trustedRoots", () => ({ trustedRoots: [] }), /^trustedRoots must be a non-empty array/],
    ["trustedRoots as one PEM string", () => ({ trustedRoots: CONFIDENTIAL_SPACE_ROOT_PEM }), /^trustedRoots must be a non-empty array/],
    ["a local policy with Google's issuer", () => ({ policy: { platform: "local", imageDigests: [IMAGE] } }), /^policy.platform "local" requires issuer https:\/\/attestation.cleanroom.local/],
    ["a policy without image digests", () => ({ policy: { imageDigests: [] } }), /^policy\.imageDigests /],
    ["the local issuer and a policy without platform", () => ({ issuer: LOCAL_ISSUER, policy: { imageDigests: [IMAGE] } }), /^policy.platform must be "local" for the local issuer/],
  ];
  for (const [name, extra, pattern] of cases) {
    it(`GIVEN ${name} WHEN checked THEN exactly one problem naming it`, () => {
      const problems = problemsWith(extra());
      expect(problems, JSON.stringify(problems)).to.have.length(1);
      expect(problems[0]).to.match(pattern);
    });
  }

  it("GIVEN the trustStore's problem WHEN trustStore is a plain object THEN it is reported even with the 'not both' one", () => {
    const problems = problemsWith({ trustedRoots: [CONFIDENTIAL_SPACE_ROOT_PEM], trustStore: {} });
    expect(problems).to.have.length(2);
  });

  it("GIVEN each option at the edge of its range (tolerance 0 and 300, a real TrustStore, a local policy with the local issuer) THEN no problem", () => {
    expect(problemsWith({ clockToleranceSec: 0 })).to.deep.equal([]);
    expect(problemsWith({ clockToleranceSec: 300 })).to.deep.equal([]);
    expect(problemsWith({ issuer: CONFIDENTIAL_SPACE_ISSUER, nonce: "n", currentDate: new Date(0) })).to.deep.equal([]);
    expect(problemsWith({ trustStore: new TrustStore([CONFIDENTIAL_SPACE_ROOT_PEM]) })).to.deep.equal([]);
    expect(problemsWith({ trustedRoots: [CONFIDENTIAL_SPACE_ROOT_PEM] })).to.deep.equal([]);
    expect(problemsWith({ issuer: LOCAL_ISSUER, policy: { platform: "local", imageDigests: [IMAGE] } })).to.deep.equal([]);
    expect(problemsWith({ policy: { platform: "gcp", imageDigests: [IMAGE] } })).to.deep.equal([]);
  });

  it("GIVEN a JWKS with a private key among the options WHEN checked THEN its problem is among the options' problems", () => {
    const problems = problemsWith({ jwks: { keys: [{ ...PUBLIC_JWK, d: "cHJpdmF0ZQ" }] } });
    expect(problems).to.deep.equal(["jwks.keys[0] contains a private key; give only the public key"]);
  });
});

describe("verify/options: JWKS key sets (jwksProblems)", () => {
  it("GIVEN a public RSA key set, an http(s) URL or a RemoteJwks THEN no problem", () => {
    expect(jwksProblems({ keys: [PUBLIC_JWK] })).to.deep.equal([]);
    expect(jwksProblems(new URL("https://issuer.example/jwks"))).to.deep.equal([]);
    expect(jwksProblems(new URL("http://127.0.0.1:1/jwks"))).to.deep.equal([]);
    expect(jwksProblems(new RemoteJwks(new URL("https://issuer.example/jwks")))).to.deep.equal([]);
  });

  it("GIVEN a JWKS URL that is not http(s) (file:) THEN refused", () => {
    expect(jwksProblems(new URL("file:///etc/jwks.json"))).to.deep.equal(["jwks URL must be http(s)"]);
  });

  it("GIVEN something that is not a key set (null, a JSON string, keys not a list, a function with keys) THEN refused, not a TypeError", () => {
    const fn = Object.assign(() => undefined, { keys: [PUBLIC_JWK] });
    for (const bad of [null, JSON.stringify({ keys: [PUBLIC_JWK] }), { keys: PUBLIC_JWK }, fn]) {
      expect(jwksProblems(bad), String(bad)).to.deep.equal(["jwks must be a JSON Web Key Set ({ keys: [...] }), a URL or a RemoteJwks"]);
    }
  });

  it("GIVEN keys that are not objects (null, a PEM string) THEN each is named by its index, not a TypeError", () => {
    expect(jwksProblems({ keys: [PUBLIC_JWK, null, "-----BEGIN PUBLIC KEY-----"] })).to.deep.equal([
      "jwks.keys[1] must be a JWK object",
      "jwks.keys[2] must be a JWK object",
    ]);
  });

  it("GIVEN a symmetric (oct) key THEN refused as symmetric (it invites HS256 confusion)", () => {
    expect(jwksProblems({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "k1" }] })).to.deep.equal([
      "jwks.keys[0] is a symmetric key; only public RSA/EC keys are accepted",
    ]);
  });

  it("GIVEN a key carrying its private exponent d THEN refused; a public key whose d was cleared (undefined) THEN accepted", () => {
    expect(jwksProblems({ keys: [{ ...PUBLIC_JWK, d: "cHJpdmF0ZQ" }] })).to.deep.equal(["jwks.keys[0] contains a private key; give only the public key"]);
    expect(jwksProblems({ keys: [{ ...PUBLIC_JWK, d: undefined }] })).to.deep.equal([]);
  });
});

describe("verify/options: RemoteJwks", () => {
  const url = new URL("https://issuer.example/jwks");
  const make = (o: RemoteJwksOptions) => () => new RemoteJwks(url, o);

  it("GIVEN a URL that is not http(s), or a string instead of a URL THEN invalid-argument", () => {
    refuses(() => new RemoteJwks(new URL("file:///etc/jwks.json")), /^jwks URL must be an http\(s\) URL$/);
    refuses(() => new RemoteJwks("https://issuer.example/jwks" as unknown as URL), /^jwks URL must be an http\(s\) URL$/);
  });

  it("GIVEN each bound just outside its range THEN invalid-argument naming that bound", () => {
    refuses(make({ cacheMaxAgeMs: -1 }), /^cacheMaxAgeMs /);
    refuses(make({ cacheMaxAgeMs: 1.5 }), /^cacheMaxAgeMs /);
    refuses(make({ cacheMaxAgeMs: 86_400_001 }), /^cacheMaxAgeMs /);
    refuses(make({ cooldownMs: -1 }), /^cooldownMs /);
    refuses(make({ cooldownMs: 0.5 }), /^cooldownMs /);
    refuses(make({ cooldownMs: 3_600_001 }), /^cooldownMs /);
    refuses(make({ timeoutMs: 0 }), /^timeoutMs /);
    refuses(make({ timeoutMs: 2.5 }), /^timeoutMs /);
    refuses(make({ timeoutMs: 60_001 }), /^timeoutMs /);
  });

  it("GIVEN http and https URLs and each bound at both ends of its range THEN constructed", () => {
    for (const o of [
      { cacheMaxAgeMs: 0, cooldownMs: 0, timeoutMs: 1 },
      { cacheMaxAgeMs: 86_400_000, cooldownMs: 3_600_000, timeoutMs: 60_000 },
    ]) {
      expect(new RemoteJwks(url, o).url).to.equal(url);
      expect(new RemoteJwks(new URL("http://127.0.0.1:1/jwks"), o).url.protocol).to.equal("http:");
    }
  });

  describe("against a JWKS served over loopback", () => {
    let server: Server;
    let fetches = 0;
    let local: URL;
    before(async () => {
      server = createServer((_req, res) => {
        fetches++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ keys: [PUBLIC_JWK] }));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      local = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`);
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it("GIVEN a new RemoteJwks WHEN reload() is called THEN the JWKS is fetched and the cache turns fresh", async () => {
      const jwks = new RemoteJwks(local);
      fetches = 0;
      expect(jwks.fresh, "nothing fetched yet").to.equal(false);
      await jwks.reload();
      expect(fetches).to.equal(1);
      expect(jwks.fresh).to.equal(true);
    });

    it("GIVEN cacheMaxAgeMs 0 WHEN reloaded THEN the keys are never fresh (the bound is passed to the cache)", async () => {
      const jwks = new RemoteJwks(local, { cacheMaxAgeMs: 0 });
      await jwks.reload();
      await new Promise((r) => setTimeout(r, 5));
      expect(jwks.fresh).to.equal(false);
    });
  });
});

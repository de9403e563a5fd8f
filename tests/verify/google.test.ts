/**
 * Real Confidential Space vectors (public test data of project-oak/oak): a PKI token signed by Google, the same
 * token with one signature byte changed, and the pinned root.
 */
import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { evaluateAttestationCondition, buildAttestationCondition } from "../../src/core/attestation.js";
import {
  AttestationError,
  CONFIDENTIAL_SPACE_ROOT_PEM,
  CONFIDENTIAL_SPACE_ROOT_SHA1,
  TrustStore,
  verifyAttestation,
} from "../../src/runtime/verify/index.js";

const DATA = join(__dirname, "testdata");
const read = (f: string) => readFileSync(join(DATA, f), "utf8");
const TOKEN = read("cs-pki-token-debug-sev-2025-06-23.jwt").trim();
const BAD = read("cs-pki-token-debug-sev-2025-06-23.bad-signature.jwt").trim();
const IAT = 1750688551;
const IN_HOUR = new Date((IAT + 600) * 1000);
const OPTS = { audience: "https://echo.oak.dev", nonce: "a nonce between 10 and 74 characters", currentDate: IN_HOUR };
const DIGEST = "sha256:313b8a83d3c8bfc9abcffee4f538424473e2705383a7e46f16d159faf0e5ef34";

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(AttestationError);
    return (err as AttestationError).code;
  }
  return "accepted";
}

describe("verify/google vectors", () => {
  it("GIVEN the pinned root constant THEN it is byte-equal to the reference file and has Google's documented SHA-1", () => {
    expect(CONFIDENTIAL_SPACE_ROOT_PEM).to.equal(read("confidential-space-root.pem"));
    const cert = new X509Certificate(CONFIDENTIAL_SPACE_ROOT_PEM);
    expect(cert.fingerprint).to.equal("B9:51:20:74:2C:24:E3:AA:34:04:2E:1C:3B:A3:AA:D2:8B:21:23:21");
    expect(CONFIDENTIAL_SPACE_ROOT_SHA1).to.equal(cert.fingerprint);
    expect(cert.subject).to.include("CN=Confidential Space Root CA");
  });

  it("GIVEN the real debug token WHEN verified inside its hour with the default (pinned) root THEN accepted", async () => {
    const claims = await verifyAttestation(TOKEN, OPTS);
    expect(claims.iss).to.equal("https://confidentialcomputing.googleapis.com");
    expect(claims.hwmodel).to.equal("GCP_AMD_SEV");
    expect(claims.submods?.container?.image_digest).to.equal(DIGEST);
  });

  it("GIVEN the real token and a TrustStore of the pinned root THEN accepted twice with one chain verification", async () => {
    const store = new TrustStore([CONFIDENTIAL_SPACE_ROOT_PEM]);
    await verifyAttestation(TOKEN, { ...OPTS, trustStore: store });
    await verifyAttestation(TOKEN, { ...OPTS, trustStore: store });
    expect(store.stats).to.deep.equal({ hits: 1, misses: 1 });
  });

  it("GIVEN the real token with one signature byte changed THEN signature", async () => {
    expect(await code(verifyAttestation(BAD, OPTS))).to.equal("signature");
  });

  it("GIVEN the real debug token WHEN checked against the production policy THEN policy (debug image)", async () => {
    expect(await code(verifyAttestation(TOKEN, { ...OPTS, policy: { imageDigests: [DIGEST] } }))).to.equal("policy");
    // The debug-allowing policy accepts it: the rejection above is about the debug image, nothing else.
    expect(await code(verifyAttestation(TOKEN, { ...OPTS, policy: { imageDigests: [DIGEST], allowDebug: true } }))).to.equal("accepted");
  });

  it("GIVEN the real token THEN wrong nonce, wrong audience, another root and a time after the leaf expired are each rejected", async () => {
    expect(await code(verifyAttestation(TOKEN, { ...OPTS, nonce: "another nonce of enough length" }))).to.equal("nonce");
    expect(await code(verifyAttestation(TOKEN, { ...OPTS, audience: "https://sts.googleapis.com" }))).to.equal("audience");
    expect(await code(verifyAttestation(TOKEN, { ...OPTS, currentDate: new Date("2025-09-01T00:00:00Z") }))).to.equal("expired");
    const x5c = JSON.parse(Buffer.from(TOKEN.split(".")[0]!, "base64url").toString()).x5c as string[];
    const intermediatePem = new X509Certificate(Buffer.from(x5c[1]!, "base64")).toString();
    // A CA that is not self-signed cannot be pinned at all.
    let err: unknown;
    try {
      await verifyAttestation(TOKEN, { ...OPTS, trustedRoots: [intermediatePem] });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).to.equal("invalid-argument");
  });

  it("GIVEN Google's published production claims THEN the production policy allows them", () => {
    const claims = JSON.parse(read("cs-claims-production-sev.json"));
    expect(evaluateAttestationCondition(buildAttestationCondition({ imageDigests: [DIGEST] }), claims).allowed).to.equal(true);
  });
});

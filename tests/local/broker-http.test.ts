/**
 * The local key broker beyond the release decision (broker-release.test.ts): its wrapped-key format, its keys on disk,
 * its HTTP surface (what it refuses, with which status), what it logs per decision, and decideRelease's own contract
 * for claims that carry no job, a provider's own policy and `any-job` rooms.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttestationClaims, LOCAL_ISSUER, buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { LOCAL_BROKER_AUDIENCE } from "../../src/runtime/platforms/local/attestation-service.js";
import { type BrokerHandle, decideRelease, ensureBrokerKeys, loadBrokerKey, startBroker, unwrapKey, wrapKey } from "../../src/runtime/platforms/local/broker.js";
import { unixRequest } from "../../src/runtime/platforms/local/http.js";
import { descriptor } from "../verify/fixtures.js";
import { type Chain, IMAGE, JOB, pkiToken, productionClaims, testChains } from "../verify/pki.js";
import { rejectedWith, thrown } from "../thrown.js";

const OTHER_JOB = `sha256:${"e".repeat(64)}`;

function localClaims(job: string | undefined, image = IMAGE): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const base = productionClaims(now, { iss: LOCAL_ISSUER, aud: LOCAL_BROKER_AUDIENCE, swname: "CLEANROOM_LOCAL", hwmodel: "NONE", dbgstat: "enabled", secboot: false, swversion: ["0"] });
  const container = { image_digest: image, ...(job === undefined ? {} : { env_override: { CLEANROOM_JOB_DIGEST: job } }) };
  return { ...base, submods: { ...(base.submods as object), container } };
}

describe("local broker: wrapped keys and broker keys", () => {
  const brokerKey = randomBytes(32);
  const dataKey = randomBytes(32);

  it("GIVEN a wrapped key THEN it unwraps to the data key for its own provider and dataset only", () => {
    const w = wrapKey(brokerKey, "acme", "claims", dataKey);
    expect(unwrapKey(brokerKey, "acme", "claims", w).equals(dataKey)).to.equal(true);
    expect(thrown(() => unwrapKey(brokerKey, "acme", "prices", w)).code).to.equal("digest-mismatch");
    expect(thrown(() => unwrapKey(brokerKey, "beta", "claims", w)).code).to.equal("digest-mismatch");
    expect(thrown(() => unwrapKey(randomBytes(32), "acme", "claims", w)).code).to.equal("digest-mismatch");
  });

  it("GIVEN a provider and dataset whose names run together differently THEN the wrapped key does not cross over", () => {
    const w = wrapKey(brokerKey, "ab", "c", dataKey);
    expect(thrown(() => unwrapKey(brokerKey, "a", "bc", w)).code).to.equal("digest-mismatch");
  });

  it("GIVEN a wrapped key one byte short, one byte long, or with another magic THEN invalid-argument", () => {
    const w = wrapKey(brokerKey, "acme", "claims", dataKey);
    expect(thrown(() => unwrapKey(brokerKey, "acme", "claims", w.subarray(0, w.length - 1))).code).to.equal("invalid-argument");
    expect(thrown(() => unwrapKey(brokerKey, "acme", "claims", Buffer.concat([w, Buffer.alloc(1)]))).code).to.equal("invalid-argument");
    const other = Buffer.from(w);
    other[0] = other[0]! ^ 1;
    expect(thrown(() => unwrapKey(brokerKey, "acme", "claims", other)).code).to.equal("invalid-argument");
  });

  it("GIVEN a wrapped key with a flipped bit in its ciphertext THEN digest-mismatch", () => {
    const w = Buffer.from(wrapKey(brokerKey, "acme", "claims", dataKey));
    w[30] = w[30]! ^ 1;
    expect(thrown(() => unwrapKey(brokerKey, "acme", "claims", w)).code).to.equal("digest-mismatch");
  });

  describe("GIVEN a keys directory", () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), "broker-keys-"));
    });
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it("WHEN keys are ensured THEN one 32-byte key per provider, 0600 in a 0700 directory, and never replaced", async () => {
      const keys = join(dir, "keys");
      await ensureBrokerKeys(keys, ["acme", "beta"]);
      expect(statSync(keys).mode & 0o777).to.equal(0o700);
      expect(statSync(join(keys, "acme.key")).mode & 0o777).to.equal(0o600);
      const acme = await loadBrokerKey(keys, "acme");
      expect(acme).to.have.length(32);
      expect(acme.equals(await loadBrokerKey(keys, "beta"))).to.equal(false);
      await ensureBrokerKeys(keys, ["acme"]);
      expect((await loadBrokerKey(keys, "acme")).equals(acme)).to.equal(true);
      expect(await readFile(join(keys, "acme.key"))).to.deep.equal(acme);
    });

    it("WHEN two room starts ensure the same keys at once THEN both succeed and one key stays, the one both then load", async () => {
      const keys = join(dir, "keys");
      await Promise.all([ensureBrokerKeys(keys, ["acme", "beta"]), ensureBrokerKeys(keys, ["acme", "beta"])]);
      const acme = await loadBrokerKey(keys, "acme");
      await ensureBrokerKeys(keys, ["acme"]);
      expect((await loadBrokerKey(keys, "acme")).equals(acme)).to.equal(true);
    });

    it("WHEN a key cannot be created (its folder does not exist) THEN ensureBrokerKeys fails: only an existing key is skipped", async () => {
      const err = await ensureBrokerKeys(join(dir, "keys"), ["acme", "absent-folder/beta"]).then(() => undefined, (e: NodeJS.ErrnoException) => e);
      expect(err?.code).to.equal("ENOENT");
    });

    it("WHEN a key is missing or not 32 bytes THEN io-error naming the provider, keeping the cause", async () => {
      const missing = await loadBrokerKey(dir, "nobody").then(() => undefined, (e: CleanRoomError) => e);
      expect(missing?.code).to.equal("io-error");
      expect((missing?.cause as NodeJS.ErrnoException | undefined)?.code).to.equal("ENOENT");
      await writeFile(join(dir, "short.key"), randomBytes(31));
      const err = await loadBrokerKey(dir, "short").then(() => undefined, (e: CleanRoomError) => e);
      expect(err?.code).to.equal("io-error");
      expect(err?.message).to.include('"short"');
    });
  });
});

describe("local broker: decideRelease", function () {
  this.timeout(30_000);
  let room: CleanRoomDescriptor;
  before(async () => {
    const { local } = await testChains();
    room = descriptor("local", local.root.pem, { imageDigests: [IMAGE], platform: "local" });
  });

  it("GIVEN claims that bind no job THEN refused, saying the token carries no job digest", () => {
    const d = decideRelease(room, "acme", localClaims(undefined) as AttestationClaims);
    expect(d.allowed).to.equal(false);
    expect(d.reason).to.include("CLEANROOM_JOB_DIGEST");
    const noSubmods = { ...localClaims(JOB) };
    delete noSubmods.submods;
    expect(decideRelease(room, "acme", noSubmods as AttestationClaims).allowed).to.equal(false);
  });

  it("GIVEN claims binding a job digest that is not a string THEN refused", () => {
    const c = localClaims(JOB) as { submods: { container: { env_override: Record<string, unknown> } } };
    c.submods.container.env_override.CLEANROOM_JOB_DIGEST = ["sha256:x"];
    expect(decideRelease(room, "acme", c as unknown as AttestationClaims).allowed).to.equal(false);
  });

  it("GIVEN an unapproved job THEN the reason names the provider, the digest and where to approve it", () => {
    const d = decideRelease(room, "acme", localClaims(OTHER_JOB) as AttestationClaims);
    expect(d.reason).to.include('provider "acme" refused: the job is not in its approvedJobs').and.include(`add "${OTHER_JOB}" to providers[name=acme].approvedJobs`);
  });

  it("GIVEN a room under any-job THEN any job satisfying the condition is released, with its digest", () => {
    expect(decideRelease({ ...room, codePolicy: "any-job" }, "acme", localClaims(OTHER_JOB) as AttestationClaims)).to.deep.equal({ allowed: true, jobDigest: OTHER_JOB });
  });

  it("GIVEN a provider with its own, stricter policy THEN its own policy decides and the reason says so", () => {
    const policy = { imageDigests: [`sha256:${"9".repeat(64)}`], platform: "local" };
    const strict = { ...room, providers: [{ ...room.providers[0]!, attestation: { policy, condition: buildAttestationCondition(policy) } }] } as CleanRoomDescriptor;
    const d = decideRelease(strict, "acme", localClaims(JOB) as AttestationClaims);
    expect(d.allowed).to.equal(false);
    expect(d.reason).to.include("its own attestation policy");
  });
});

describe("local broker: HTTP", function () {
  this.timeout(30_000);
  let dir: string;
  let chain: Chain;
  let broker: BrokerHandle;
  let socket: string;
  let wrapped: string;
  const lines: string[] = [];
  const dataKey = randomBytes(32);

  before(async () => {
    ({ local: chain } = await testChains());
    dir = await mkdtemp(join(tmpdir(), "broker-http-"));
    const room = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    socket = join(dir, "broker.sock");
    await ensureBrokerKeys(join(dir, "keys"), ["acme"]);
    broker = await startBroker(socket, join(dir, "keys"), room, (l) => lines.push(l));
    const res = await unixRequest(socket, "POST", "/v1/wrap", { provider: "acme", dataset: "claims", key: dataKey.toString("base64") });
    expect(res.status, res.body).to.equal(200);
    wrapped = JSON.parse(res.body).wrapped;
  });
  beforeEach(() => {
    lines.length = 0;
  });
  after(async () => {
    await broker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) => unixRequest(socket, "POST", path, body as Record<string, unknown>);
  const unwrapBody = (claims: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ provider: "acme", dataset: "claims", token: pkiToken(chain, claims, "ES256"), wrapped, ...extra });

  it("GIVEN an approved job THEN 200 with the key, and one log line naming the job, never the key or token", async () => {
    const body = unwrapBody(localClaims(JOB));
    const res = await post("/v1/unwrap", body);
    expect(res.status).to.equal(200);
    expect(Buffer.from(JSON.parse(res.body).key, "base64").equals(dataKey)).to.equal(true);
    expect(lines).to.deep.equal([`unwrap acme/claims: released to job ${JOB}`]);
    expect(lines.join("")).not.to.include(dataKey.toString("base64")).and.not.include(body.token as string);
  });

  it("GIVEN an unapproved job THEN 403 denied with the reason, logged with its digest", async () => {
    const res = await post("/v1/unwrap", unwrapBody(localClaims(OTHER_JOB)));
    expect(res.status).to.equal(403);
    const body = JSON.parse(res.body);
    expect(body.code).to.equal("denied");
    expect(body.message).to.include("approvedJobs");
    expect(body).not.to.have.property("key");
    expect(lines).to.deep.equal([`unwrap acme/claims: denied for ${OTHER_JOB}`]);
  });

  it("GIVEN a token that binds no job THEN 403, logged as an unknown job", async () => {
    const res = await post("/v1/unwrap", unwrapBody(localClaims(undefined)));
    expect(res.status).to.equal(403);
    expect(lines).to.deep.equal(["unwrap acme/claims: denied for unknown job"]);
  });

  it("GIVEN a token that does not verify THEN 403, logged with the reason", async () => {
    const res = await post("/v1/unwrap", unwrapBody(localClaims(JOB), { token: "not.a.token" }));
    expect(res.status).to.equal(403);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^unwrap acme\/claims: denied: provider "acme" refused: the attestation token does not verify/);
  });

  it("GIVEN a wrapped key of another dataset THEN refused (400 digest-mismatch), no key", async () => {
    const other = wrapKey(randomBytes(32), "acme", "claims", dataKey).toString("base64");
    const res = await post("/v1/unwrap", unwrapBody(localClaims(JOB), { wrapped: other }));
    expect(res.status).to.equal(400);
    expect(res.body).to.match(/^digest-mismatch:/);
  });

  it("GIVEN a GET THEN 405", async () => {
    const res = await unixRequest(socket, "GET", "/v1/unwrap");
    expect(res.status).to.equal(405);
    expect(res.body).to.equal("use POST");
  });

  for (const [what, body] of [
    ["not JSON", "{"],
    ["JSON null", "null"],
    ["a JSON array", "[]"],
    ["a JSON string", '"x"'],
  ] as const) {
    it(`GIVEN a body that is ${what} THEN 400`, async () => {
      const res = await rawPost(socket, "/v1/wrap", body);
      expect(res.status).to.equal(400);
      expect(res.body).to.equal("the body must be a JSON object");
    });
  }

  it("GIVEN an unknown endpoint THEN 404", async () => {
    const res = await post("/v1/other", { provider: "acme", dataset: "claims" });
    expect(res.status).to.equal(404);
    expect(res.body).to.include("use /v1/wrap or /v1/unwrap");
  });

  for (const [what, body, code] of [
    ["no provider", { dataset: "claims", key: dataKey.toString("base64") }, "invalid-argument"],
    ["an empty dataset", { provider: "acme", dataset: "", key: dataKey.toString("base64") }, "invalid-argument"],
    ["a provider that is not a string", { provider: 1, dataset: "claims", key: dataKey.toString("base64") }, "invalid-argument"],
    ["an unknown dataset", { provider: "acme", dataset: "nope", key: dataKey.toString("base64") }, "not-found"],
    ["a key that is not base64", { provider: "acme", dataset: "claims", key: "not base64!" }, "invalid-argument: key must be base64"],
    ["a key with base64 after other text", { provider: "acme", dataset: "claims", key: `!${dataKey.toString("base64")}` }, "invalid-argument"],
    ["a key with text after its base64", { provider: "acme", dataset: "claims", key: `${dataKey.toString("base64")}!` }, "invalid-argument"],
    ["a key that is not a string", { provider: "acme", dataset: "claims", key: 5 }, "invalid-argument"],
    ["a key of 31 bytes", { provider: "acme", dataset: "claims", key: randomBytes(31).toString("base64") }, "invalid-argument"],
  ] as const) {
    it(`GIVEN a wrap request with ${what} THEN 400 ${code.split(":")[0]}`, async () => {
      const res = await post("/v1/wrap", body);
      expect(res.status, res.body).to.equal(400);
      expect(res.body.startsWith(code.includes(":") ? code : `${code}:`), res.body).to.equal(true);
    });
  }

  it("GIVEN a 32-byte key in base64 with or without its padding THEN wrapped, and it unwraps to that key", async () => {
    for (const key of [dataKey.toString("base64"), dataKey.toString("base64").replace(/=+$/, "")]) {
      const res = await post("/v1/wrap", { provider: "acme", dataset: "claims", key });
      expect(res.status, res.body).to.equal(200);
      const again = await post("/v1/unwrap", unwrapBody(localClaims(JOB), { wrapped: JSON.parse(res.body).wrapped }));
      expect(Buffer.from(JSON.parse(again.body).key, "base64").equals(dataKey)).to.equal(true);
    }
  });

  it("GIVEN an unwrap request whose wrapped key is not base64 THEN 400 naming the field", async () => {
    const res = await post("/v1/unwrap", unwrapBody(localClaims(JOB), { wrapped: "%%%" }));
    expect(res.status).to.equal(400);
    expect(res.body).to.match(/^invalid-argument: wrapped must be base64/);
  });

  it("GIVEN an unwrap request without a token THEN 400 invalid-argument", async () => {
    const res = await post("/v1/unwrap", { provider: "acme", dataset: "claims", wrapped });
    expect(res.status).to.equal(400);
    expect(res.body).to.match(/^invalid-argument:/);
  });
});

describe("local broker: lifecycle", () => {
  it("GIVEN a room that pins no root (none, or an empty list) THEN the broker does not start: it could release no key", async () => {
    const { local } = await testChains();
    const dir = await mkdtemp(join(tmpdir(), "broker-noroot-"));
    try {
      const room = descriptor("local", local.root.pem, { imageDigests: [IMAGE], platform: "local" });
      const { trustedRoots: _roots, ...unpinned } = room.attestation;
      for (const attestation of [unpinned, { ...unpinned, trustedRoots: [] }]) {
        const socket = join(dir, "b.sock");
        const err = await rejectedWith(startBroker(socket, join(dir, "keys"), { ...room, attestation }), "invalid-argument");
        expect(err.message).to.include("trustedRoots");
        expect(() => statSync(socket), "no socket").to.throw();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });


  it("GIVEN a started broker WHEN closed THEN its socket is gone", async () => {
    const { local } = await testChains();
    const dir = await mkdtemp(join(tmpdir(), "broker-close-"));
    try {
      const socket = join(dir, "b.sock");
      const b = await startBroker(socket, join(dir, "keys"), descriptor("local", local.root.pem, { imageDigests: [IMAGE], platform: "local" }));
      expect(statSync(socket).isSocket()).to.equal(true);
      await b.close();
      expect(() => statSync(socket)).to.throw();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A POST whose body is sent as is (unixRequest would serialize it). */
async function rawPost(socketPath: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const http = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Bad input and protocol tests of the local backend that need no running room (fast): spec errors, a socket in use,
 * the launcher token protocol, deterministic packing, the policy pre-flight.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { expect } from "chai";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { LOCAL_ISSUER } from "../../src/core/attestation.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { LOCAL_BROKER_AUDIENCE, LocalTokenSigner, startAttestationService } from "../../src/runtime/platforms/local/attestation-service.js";
import { unwrapKey, wrapKey } from "../../src/runtime/platforms/local/broker.js";
import { unixRequest } from "../../src/runtime/platforms/local/http.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { createLocalPki } from "../../src/runtime/platforms/local/pki.js";
import { localUp } from "../../src/runtime/platforms/local/room.js";
import { verifyAttestation } from "../../src/runtime/verify/token.js";
import { tempDir, testSpec } from "./helpers.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as CleanRoomError).code ?? String(e);
  }
}

describe("local backend: bad input and protocols", function () {
  this.timeout(30_000);
  let work: string;
  before(async () => {
    work = await tempDir("inputs");
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a malformed spec WHEN `local up` THEN invalid-spec listing every problem, and no directory is created", async () => {
    const dir = join(work, "bad-spec-room");
    let err: CleanRoomError | undefined;
    try {
      await localUp({ spec: { providers: [{ name: "Bad_Name", datasets: [] }], output: { maxBytes: -1 } }, dir });
    } catch (e) {
      err = e as CleanRoomError;
    }
    expect(err?.code).to.equal("invalid-spec");
    expect(err?.problems.length).to.be.greaterThanOrEqual(3);
    expect(existsSync(dir)).to.equal(false);
    await writeFile(join(work, "broken.json"), "{ not json");
    expect(await codeOf(localUp({ spec: join(work, "broken.json"), dir }))).to.equal("invalid-spec");
    expect(await codeOf(localUp({ spec: join(work, "missing.json"), dir }))).to.equal("io-error");
    expect(existsSync(dir)).to.equal(false);
  });

  it("GIVEN another process serving the room's control socket WHEN `local up` THEN already-exists and nothing is started", async () => {
    const dir = join(work, "busy-room");
    const layout = roomLayout(dir);
    await mkdir(layout.runDir, { recursive: true });
    const server: Server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(layout.controlSocket, r));
    try {
      let err: CleanRoomError | undefined;
      try {
        await localUp({ spec: testSpec({}), dir });
      } catch (e) {
        err = e as CleanRoomError;
      }
      expect(err?.code).to.equal("already-exists");
      expect(err?.message).to.contain(layout.controlSocket);
      expect(existsSync(layout.pidFile)).to.equal(false);
      expect(existsSync(layout.descriptor)).to.equal(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  describe("the attestation service (launcher protocol over a unix socket)", () => {
    let socket: string;
    let rootPem: string;
    let close: () => Promise<void>;
    const digest = `sha256:${"ab".repeat(32)}`;
    const image = `sha256:${"cd".repeat(32)}`;
    before(async () => {
      const pki = await createLocalPki(join(work, "pki"), "test-room");
      rootPem = pki.rootPem;
      socket = join(work, "teeserver.sock");
      const ep = await startAttestationService(socket, new LocalTokenSigner(pki), {
        roomName: "test-room",
        jobId: "job-1",
        imageDigest: image,
        envOverride: { CLEANROOM_JOB_DIGEST: digest },
        args: ["node", "main.js"],
      });
      close = () => ep.close();
    });
    after(async () => close());

    it("GIVEN POST /v1/token with a PKI request THEN a token bound to the job, with honest local claims, that verifies against the local root", async () => {
      const nonce = "n".repeat(64);
      const res = await unixRequest(socket, "POST", "/v1/token", { audience: "urn:test", nonces: [nonce], token_type: "PKI" });
      expect(res.status).to.equal(200);
      expect(decodeProtectedHeader(res.body).x5c).to.have.length(3);
      const claims = await verifyAttestation(res.body, { audience: "urn:test", issuer: LOCAL_ISSUER, trustedRoots: [rootPem], nonce });
      expect(claims.swname).to.equal("CLEANROOM_LOCAL");
      expect(claims.hwmodel).to.equal("NONE");
      expect(claims.dbgstat).to.equal("enabled");
      expect(claims.secboot).to.equal(false);
      expect(claims.submods?.container?.image_digest).to.equal(image);
      expect(claims.submods?.container?.env_override?.CLEANROOM_JOB_DIGEST).to.equal(digest);
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).to.equal(3600);
    });

    it("GIVEN GET /v1/token THEN the default token for the broker audience, without a nonce", async () => {
      const res = await unixRequest(socket, "GET", "/v1/token");
      const p = decodeJwt(res.body);
      expect(p.aud).to.equal(LOCAL_BROKER_AUDIENCE);
      expect(p.eat_nonce).to.equal(undefined);
    });

    it("GIVEN malformed requests THEN 400 with the launcher's reasons", async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ audience: "", token_type: "PKI" }, /use GET request for the default identity token/],
        [{ audience: "a", token_type: "PKI", extra: 1 }, /unknown field "extra"/],
        [{ audience: "a" }, /token_type must be one of/],
        [{ audience: "a", token_type: "OIDC" }, /PKI tokens only/],
        [{ audience: "a", token_type: "PKI", nonces: Array(7).fill("n".repeat(20)) }, /at most 6 nonces/],
        [{ audience: "a", token_type: "PKI", nonces: ["short"] }, /10-74 bytes/],
        [{ audience: "x".repeat(513), token_type: "PKI" }, /longer than 512 bytes/],
      ];
      for (const [body, want] of cases) {
        const res = await unixRequest(socket, "POST", "/v1/token", body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body).to.match(want);
      }
      const notJson = await unixRequest(socket, "POST", "/v1/token", undefined);
      expect(notJson.status).to.equal(400);
    });
  });

  it("GIVEN a wrapped key WHEN unwrapped for another dataset or altered THEN it does not authenticate", () => {
    const k = Buffer.alloc(32, 7);
    const data = Buffer.alloc(32, 9);
    const w = wrapKey(k, "insurer", "claims", data);
    expect(unwrapKey(k, "insurer", "claims", w).equals(data)).to.equal(true);
    expect(() => unwrapKey(k, "insurer", "other", w)).to.throw(/does not authenticate/);
    const bad = Buffer.from(w);
    bad[bad.length - 1]! ^= 1;
    expect(() => unwrapKey(k, "insurer", "claims", bad)).to.throw(/does not authenticate/);
  });

  it("GIVEN the same sources with other mtimes and a cache dir WHEN packed twice THEN identical bytes and digest; symlinks refused", async () => {
    const src = join(work, "src-job");
    await mkdir(join(src, "lib"), { recursive: true });
    await writeFile(join(src, "main.py"), "print(1)\n");
    await writeFile(join(src, "lib", "util.py"), "X = 1\n");
    await mkdir(join(src, "__pycache__"));
    await writeFile(join(src, "__pycache__", "x.pyc"), "junk");
    const a = await packJob(src, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "pa") });
    await utimes(join(src, "main.py"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await rm(join(src, "__pycache__"), { recursive: true });
    const b = await packJob(src, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "pb") });
    expect(b.jobDigest).to.equal(a.jobDigest);
    expect((await readFile(b.bundlePath)).equals(await readFile(a.bundlePath))).to.equal(true);
    expect(a.manifest.files.map((f) => f.path)).to.deep.equal(["lib/util.py", "main.py"]);
    const c = await packJob(src, { entrypoint: "main.py", inputs: ["hospital/visits"], outDir: join(work, "pc") });
    expect(c.jobDigest).to.not.equal(a.jobDigest);
    const { symlink } = await import("node:fs/promises");
    await symlink("/etc/passwd", join(src, "passwd"));
    expect(await codeOf(packJob(src, { entrypoint: "main.py", inputs: ["insurer/claims"] }))).to.equal("invalid-argument");
    expect(await codeOf(packJob(src, { entrypoint: "run.sh", inputs: ["insurer/claims"] }))).to.equal("invalid-argument");
    expect(await codeOf(packJob(src, { entrypoint: "missing.py", inputs: ["insurer/claims"] }))).to.equal("invalid-argument");
  });
});

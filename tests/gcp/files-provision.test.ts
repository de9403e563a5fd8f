/**
 * `files` datasets on a GCP room (issue 15), against the loopback Storage, KMS, Compute and Confidential Space fakes
 * with the real Google clients: the tree's ciphertext goes up through one resumable session in 16 MiB chunks; a 503
 * on a chunk is retried from the offset GCS acknowledged (not from byte 0); a failure that persists leaves no object
 * at all; the objects appear in the documented order (data.enc finalized, then key.wrapped, then manifest.json); and
 * the approved job on the Confidential Space VM reads the tree, with its manifest digest in the receipt.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { manifestDigest, manifestOf } from "../../src/core/digest.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { GcpRoomClient } from "../../src/runtime/platforms/gcp/index.js";
import { TREE_UPLOAD_CHUNK } from "../../src/runtime/platforms/gcp/provision.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { googleError } from "./fakes/gcp-fake.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { FAST, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";

const DATA_BUCKET = "demo-hospital-a-data";
const MIB = 1024 * 1024;

/** The job: every file of the tree with its size and sha256 (node, no library needed). */
const WALKER = `const fs = require("fs"), path = require("path"), crypto = require("crypto");
const root = path.join(process.env.CLEANROOM_INPUTS, "hospital-a", "weights");
const out = {};
const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else { const b = fs.readFileSync(p); out[path.relative(root, p)] = [b.length, crypto.createHash("sha256").update(b).digest("hex")]; } } };
walk(root);
fs.writeFileSync(path.join(process.env.CLEANROOM_OUTPUT, "seen.json"), JSON.stringify(out));
`;

describe("gcp: files datasets provisioned and read through the real clients (issue 15)", function () {
  this.timeout(180_000);
  let fake: GcpFake;
  let dir: string;
  let root: string;
  let tree: string;
  let descriptor: CleanRoomDescriptor;
  let walker: PackedJob;
  let world: LoopbackWorld | undefined;

  const client = () => new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root] });
  const dataObjects = () => [...(fake.buckets.get(DATA_BUCKET)?.keys() ?? [])].filter((k) => !k.includes(".dp-ledger")).sort();
  const sessionPuts = () => fake.sent(/^\/upload\/session\//, "PUT").map((r) => String(r.headers["content-range"]));
  /** The chunks sent (not the status queries, `bytes *\/…`). */
  const chunks = () => sessionPuts().filter((c) => !c.startsWith("bytes */"));

  before(async () => {
    world = await startLoopbackWorld();
    ({ fake, root } = world);
    dir = mkdtempSync(join(tmpdir(), "acr-gcp-files-"));
    // 40 MiB: three chunks of the tree's resumable upload, so a 503 can hit the middle one.
    tree = join(dir, "model");
    mkdirSync(join(tree, "tokenizer"), { recursive: true });
    writeFileSync(join(tree, "weights.bin"), Buffer.concat(Array.from({ length: 40 }, () => randomBytes(MIB))));
    writeFileSync(join(tree, "config.json"), '{"hidden": 8}\n');
    writeFileSync(join(tree, "tokenizer", "vocab.txt"), "yes\nno\n");
    const src = join(dir, "walker");
    mkdirSync(src);
    writeFileSync(join(src, "main.js"), WALKER);
    walker = await packJob(src, { entrypoint: "main.js", inputs: ["hospital-a/weights"], outDir: join(dir, "packed") });
    // The room's one dataset is a tree.
    descriptor = loopbackRoom(fake, { approved: [walker.jobDigest], datasets: () => ({ name: "weights", kind: "files", stage1Method: "none", epsilon: 1, delta: 1e-9 }) });
  });

  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("GIVEN a chunk of the upload that keeps failing (503 past every retry) WHEN provisioning a tree THEN gcp error, and no object of the dataset is visible: no data.enc, key.wrapped or manifest.json", async () => {
    // Let the session's status query and the first chunk through, then fail every request of the session.
    fake.failNext(/^\/upload\/session\//, 503, googleError(503, "Backend Error", "UNAVAILABLE", "backendError"), 50, "PUT", 2);
    let err: CleanRoomError | undefined;
    try {
      await client().provision("hospital-a", "weights", tree, { kind: "files" });
    } catch (e) {
      err = e as CleanRoomError;
    }
    fake.clearFailures();
    expect(err, "provisioning must fail").to.not.equal(undefined);
    expect(err?.message).to.contain("data.enc");
    // A chunk was accepted before the failures: GCS holds it in the session, but an unfinished session is no object.
    expect(chunks()[0]).to.equal(`bytes 0-${TREE_UPLOAD_CHUNK - 1}/*`);
    expect(dataObjects()).to.deep.equal([]);
  });

  it("GIVEN a 503 on the middle chunk WHEN provisioning a tree THEN only that chunk is re-sent, from the offset GCS acknowledged, and data.enc, key.wrapped and manifest.json appear in that order", async () => {
    fake.requests.length = 0;
    // The status query and the first chunk pass; the second chunk gets a 503.
    fake.failNext(/^\/upload\/session\//, 503, googleError(503, "Backend Error", "UNAVAILABLE", "backendError"), 1, "PUT", 2);
    const r = await client().provision("hospital-a", "weights", tree, { kind: "files" });
    const expected = await manifestOf(tree);
    expect(r).to.include({ kind: "files", files: 3, sha256: manifestDigest(expected).slice(7), bytes: 40 * MIB + 21 });

    const sent = chunks();
    // First chunk, the failed second, then (after a status query) the second again from TREE_UPLOAD_CHUNK, not 0.
    expect(sent[0]).to.equal(`bytes 0-${TREE_UPLOAD_CHUNK - 1}/*`);
    expect(sent[1]).to.equal(`bytes ${TREE_UPLOAD_CHUNK}-${2 * TREE_UPLOAD_CHUNK - 1}/*`);
    expect(sent[2]).to.equal(`bytes ${TREE_UPLOAD_CHUNK}-${2 * TREE_UPLOAD_CHUNK - 1}/*`);
    expect(sent.filter((p) => p.startsWith("bytes 0-")), "nothing re-sent from byte 0").to.have.length(1);
    expect(sessionPuts().filter((p) => p.startsWith("bytes */")).length, "the retry asked the session what it had").to.be.greaterThan(1);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-hospital-a-data\/o$/).filter((q) => q.query.uploadType === "resumable")).to.have.length(1);

    expect(dataObjects()).to.deep.equal(["weights/data.enc", "weights/key.wrapped", "weights/manifest.json"]);
    const enc = fake.getObject(DATA_BUCKET, "weights/data.enc") as Buffer;
    // The upload declared the ciphertext's MD5 (computed while encrypting, not by reading the file again): GCS checked it.
    expect(fake.bucket(DATA_BUCKET).get("weights/data.enc")?.declared?.md5Hash).to.equal(createHash("md5").update(enc).digest("base64"));
    const manifest = JSON.parse((fake.getObject(DATA_BUCKET, "weights/manifest.json") as Buffer).toString("utf8")) as Record<string, unknown>;
    expect(manifest).to.include({ format: "acr-envelope-v1", kind: "files", files: 3, sha256: r.sha256 });
    expect(manifest).to.not.have.property("ciphertextSha256");
    // The order: the last chunk (finalize) of data.enc, then key.wrapped, then manifest.json.
    const order = fake.requests
      .map((q, i) => ({ i, q }))
      .filter(({ q }) => q.path.startsWith("/upload/"))
      .map(({ i, q }) => ({ i, what: q.query.name ?? (String(q.headers["content-range"]).endsWith(`/${enc.length}`) ? "finalize" : "chunk") }));
    const at = (what: string) => order.find((o) => o.what === what)?.i ?? -1;
    expect(at("finalize")).to.be.greaterThan(-1);
    expect(at("finalize")).to.be.lessThan(at("weights/key.wrapped"));
    expect(at("weights/key.wrapped")).to.be.lessThan(at("weights/manifest.json"));
  });

  it("GIVEN the provisioned tree WHEN the approved job runs on the Confidential Space VM THEN it sees every file under weights/, and the receipt names the manifest digest and verifies", async () => {
    const c = client();
    const { jobId } = await c.submit(walker);
    const st = await c.wait(jobId, { timeoutMs: 120_000 });
    expect(st.state, st.detail).to.equal("succeeded");
    const fetched = join(dir, "result");
    // seen.json is undeclared (`other` to the disclosure checks): a provider releases it first.
    await c.release(jobId);
    await c.fetch(jobId, fetched);
    const expected = await manifestOf(tree);
    expect(JSON.parse(readFileSync(join(fetched, "outputs", "seen.json"), "utf8"))).to.deep.equal(Object.fromEntries(expected.map((e) => [e.path, [e.bytes, e.sha256]])));
    const receipt = parseReceipt(readFileSync(join(fetched, "receipt.json"), "utf8"));
    expect(receipt.inputs).to.deep.equal([{ provider: "hospital-a", dataset: "weights", kind: "files", sha256: manifestDigest(expected).slice(7), bytes: 40 * MIB + 21, files: 3 }]);
    expect((await verifyResult(fetched, { descriptor, trustedRoots: [root] })).status).to.equal("succeeded");
  });
});

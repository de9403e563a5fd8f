/**
 * Red-team findings of issue 18 where the GCP runtime shares the code path (the executor, the output policy, the
 * verifier): each is reproduced with the real executor in the fake Confidential Space VM, against loopback Google APIs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { pack as tarPack } from "tar-stream";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { type JobManifest, jobDigest, sha256Hex } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { type Receipt, nonceForReceipt, parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { GcpRoomClient, } from "../../src/runtime/platforms/gcp/index.js";
import { requestCustomToken } from "../../src/runtime/platforms/gcp/teeserver.js";
import type { JobStatus, PackedJob } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import type { FakeTeeServer, FakeVm } from "./fakes/confidential-space.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { FAST, KEY, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";

const PATIENTS = "id,sex,age\n1,F,SECRET-AGE-34\n2,M,SECRET-AGE-51\n";

/** A node job that reads its input (`IN`) and writes outputs (`OUT`). */
const PRELUDE = `const fs = require("fs"), path = require("path");
const IN = process.env.CLEANROOM_INPUTS, OUT = process.env.CLEANROOM_OUTPUT;
`;

function hasControl(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f));
}

describe("gcp: red-team findings on the shared executor and verifier (issue 18)", function () {
  this.timeout(60_000);
  let fake: GcpFake;
  let tee: FakeTeeServer;
  let vm: FakeVm;
  let dir: string;
  let base: CleanRoomDescriptor;
  let root: string;
  let world: LoopbackWorld | undefined;

  async function pack(name: string, source: string, inputs: string[] = ["hospital-a/patients"]): Promise<PackedJob> {
    const src = join(dir, "src", name);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "main.js"), source);
    return packJob(src, { entrypoint: "main.js", inputs, outDir: join(dir, "packed", name) });
  }

  /** The room with `job` approved by hospital-a, in the descriptor and in the key's IAM. */
  function approving(...digests: string[]): CleanRoomDescriptor {
    fake.kmsApprovals.set(KEY, new Set(digests));
    return { ...base, providers: base.providers.map((p) => ({ ...p, approvedJobs: digests })) };
  }

  function client(d: CleanRoomDescriptor): GcpRoomClient {
    return new GcpRoomClient(d, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root] });
  }

  async function run(d: CleanRoomDescriptor, job: PackedJob): Promise<{ jobId: string; st: JobStatus; c: GcpRoomClient }> {
    const c = client(d);
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 30_000 });
    await vm.running;
    return { jobId, st, c };
  }

  before(async () => {
    world = await startLoopbackWorld();
    ({ fake, tee, vm, root } = world);
    dir = mkdtempSync(join(tmpdir(), "acr-gcp-redteam-"));
    writeFileSync(join(dir, "patients.csv"), PATIENTS);
    base = loopbackRoom(fake, { requireRelease: true });
    await client(base).provision("hospital-a", "patients", join(dir, "patients.csv"));
  });

  after(async () => {
    await world?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    fake.requests.length = 0;
    fake.clearFailures();
    vm.behaviour = {};
  });

  it("finding 1: GIVEN a job whose job.json declares no inputs (even one whose digest was approved) THEN the executor refuses before its code runs: failed [denied], no key asked for", async () => {
    const packed = await pack("no-inputs", `${PRELUDE}fs.writeFileSync(path.join(OUT, "ran.txt"), "ran with the workload identity and no approval");\n`);
    const manifest: JobManifest = { ...packed.manifest, inputs: [] };
    const job: PackedJob = { ...packed, manifest, jobDigest: jobDigest(manifest) };
    const d = approving(job.jobDigest);
    const { jobId, st, c } = await run(d, job);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("denied");
    expect(st.detail).to.match(/declares no inputs/);
    expect(fake.sent(/:decrypt$/, "POST")).to.have.length(0);
    const out = await c.fetch(jobId, join(dir, "no-inputs-result"), { from: "quarantine" });
    const receipt = parseReceipt(readFileSync(join(out, "receipt.json"), "utf8"));
    expect(receipt.exitCode, "the job's code never ran").to.equal(undefined);
    expect((await verifyResult(out, { descriptor: d, trustedRoots: [root] })).status).to.equal("failed");
  });

  it("finding 2: GIVEN a job whose output names hold escape sequences and newlines THEN it fails output-policy and its status carries no control character", async () => {
    const job = await pack("control-names", `${PRELUDE}fs.writeFileSync(path.join(OUT, "ok.csv"), "n\\n1\\n");
fs.writeFileSync(path.join(OUT, "\\u001b[2J\\u001b[H  ok.csv  forged"), "x");
fs.writeFileSync(path.join(OUT, "two\\nlines"), "x");\n`);
    const { st } = await run(approving(job.jobDigest), job);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("output-policy");
    expect(hasControl(st.detail ?? "")).to.equal(false);
  });

  it("finding 3: GIVEN a job that names an output after the raw rows and breaks the output policy THEN the status and receipt never show them", async () => {
    const job = await pack("rows-in-name", `${PRELUDE}const rows = fs.readFileSync(path.join(IN, "hospital-a", "patients.csv"), "utf8").trim().split("\\n").slice(1);
fs.symlinkSync("/etc/hostname", path.join(OUT, rows.join("_").replace(/,/g, "-")));\n`);
    const { jobId, st, c } = await run(approving(job.jobDigest), job);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("output-policy");
    expect(JSON.stringify(st)).to.not.match(/SECRET-AGE/);
    const out = await c.fetch(jobId, join(dir, "rows-result"), { from: "quarantine" });
    expect(readFileSync(join(out, "receipt.json"), "utf8")).to.not.match(/SECRET-AGE/);
  });

  it("finding 6: GIVEN a job that leaves a child process rewriting its output THEN the committed result verifies", async () => {
    // The child starts rewriting steady.txt; the job exits as soon as it sees the first rewrite.
    const job = await pack("leftover", `${PRELUDE}const f = path.join(OUT, "steady.txt");
fs.writeFileSync(f, "0".repeat(64));
require("child_process").spawn(process.execPath, ["-e", \`const fs = require("fs"); const fd = fs.openSync(\${JSON.stringify(f)}, "r+");
const end = Date.now() + 5000; let i = 1;
while (Date.now() < end) fs.writeSync(fd, String(i++).padStart(64, "0"), 0);\`], { stdio: "ignore" }).unref();
const end = Date.now() + 10000;
while (Date.now() < end && /^0+$/.test(fs.readFileSync(f, "utf8"))) {}\n`);
    const d = approving(job.jobDigest);
    const { jobId, st, c } = await run(d, job);
    expect(st.state, st.detail).to.equal("succeeded");
    const out = await c.fetch(jobId, join(dir, "leftover-result"), { from: "quarantine" });
    const s = await verifyResult(out, { descriptor: d, trustedRoots: [root] });
    expect(s.outputs.map((o) => o.path)).to.deep.equal(["steady.txt"]);
  });

  it("finding 6: GIVEN a job that leaves a process in a session of its own (out of reach of the process-group kill) rewriting its output THEN the committed result verifies, as a success or as an output-policy failure", async () => {
    // setsid (detached) puts the child outside the job's process group; it rewrites the head of a 16 MiB output for
    // 4 s, so the file changes between the output policy hashing it and the executor copying it into the result.
    const job = await pack("escaped", `${PRELUDE}const f = path.join(OUT, "steady.bin");
fs.writeFileSync(f, Buffer.alloc(16 * 1024 * 1024, 48));
require("child_process").spawn(process.execPath, ["-e", \`const fs = require("fs"); const fd = fs.openSync(\${JSON.stringify(f)}, "r+");
const end = Date.now() + 4000; let i = 1;
while (Date.now() < end) fs.writeSync(fd, String(i++).padStart(64, "0"), 0);\`], { stdio: "ignore", detached: true }).unref();
const end = Date.now() + 10000;
const head = Buffer.alloc(64);
while (Date.now() < end) { const fd = fs.openSync(f, "r"); fs.readSync(fd, head, 0, 64, 0); fs.closeSync(fd); if (!/^0+$/.test(head.toString())) break; }\n`);
    const d = { ...approving(job.jobDigest), output: { maxBytes: 32 * 1024 * 1024, requireRelease: true } };
    const { jobId, st, c } = await run(d, job);
    const out = await c.fetch(jobId, join(dir, "escaped-result"), { from: "quarantine" });
    const s = await verifyResult(out, { descriptor: d, trustedRoots: [root] });
    if (st.state === "failed") {
      expect(st.errorCode, st.detail).to.equal("output-policy");
      expect(st.detail).to.not.contain("steady.bin");
      expect(s.outputs).to.deep.equal([]);
    } else {
      expect(s.outputs.map((o) => o.path)).to.deep.equal(["steady.bin"]);
    }
  });

  it("finding 7: GIVEN a bundle whose second tar entry is unsafe THEN the executor commits a verifiable failure receipt (invalid-manifest)", async () => {
    const main = "console.log('never runs');\n";
    const tar = tarPack();
    tar.entry({ name: "main.js", size: main.length, mode: 0o644, mtime: new Date(0) }, main);
    tar.entry({ name: "../evil.js", size: 1, mode: 0o644, mtime: new Date(0) }, "x");
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const ch of tar) chunks.push(ch as Buffer);
    const bundlePath = join(dir, "bad-tar.tar");
    writeFileSync(bundlePath, Buffer.concat(chunks));
    const manifest: JobManifest = { version: 1, entrypoint: ["node", "main.js"], inputs: [{ provider: "hospital-a", dataset: "patients" }], files: [{ path: "main.js", bytes: main.length, sha256: sha256Hex(main) }] };
    const job: PackedJob = { bundlePath, manifest, jobDigest: jobDigest(manifest) };
    const d = approving(job.jobDigest);
    const { jobId, st, c } = await run(d, job);
    expect(st.state, st.detail).to.equal("failed");
    expect(st.errorCode).to.equal("invalid-manifest");
    const out = await c.fetch(jobId, join(dir, "bad-tar-result"), { from: "quarantine" });
    expect((await verifyResult(out, { descriptor: d, trustedRoots: [root] })).status).to.equal("failed");
  });

  it("finding 7: GIVEN more than 10,000 outputs or an output named a\\b THEN the job fails output-policy with a verifiable receipt", async () => {
    for (const [name, body] of [
      ["many-outputs", `for (let i = 0; i <= 10000; i++) fs.writeFileSync(path.join(OUT, "f" + i), "");`],
      ["backslash", `fs.writeFileSync(path.join(OUT, "a\\\\b"), "x");`],
    ] as const) {
      const job = await pack(name, `${PRELUDE}${body}\n`);
      const d = approving(job.jobDigest);
      const { jobId, st, c } = await run(d, job);
      expect(st.state, `${name}: ${st.detail}`).to.equal("failed");
      expect(st.errorCode, name).to.equal("output-policy");
      const out = await c.fetch(jobId, join(dir, `${name}-result`), { from: "quarantine" });
      expect((await verifyResult(out, { descriptor: d, trustedRoots: [root] })).status, name).to.equal("failed");
    }
  });

  it("finding 8: GIVEN a token the launcher issued for one job WHEN a receipt naming another job id is presented with it THEN verify refuses it", async () => {
    const job = await pack("honest", `${PRELUDE}fs.writeFileSync(path.join(OUT, "n.txt"), "2");\n`);
    const d = approving(job.jobDigest);
    const { jobId, st, c } = await run(d, job);
    expect(st.state, st.detail).to.equal("succeeded");
    const out = await c.fetch(jobId, join(dir, "replayed"), { from: "quarantine" });
    const receipt = parseReceipt(readFileSync(join(out, "receipt.json"), "utf8"));
    // Anything in the VM that reaches the launcher socket (the job itself) can ask for a token over any nonce.
    const forged: Receipt = { ...receipt, jobId: "job-forged-1" };
    const token = await requestCustomToken(tee.socket, { audience: d.attestation.audience, nonces: [nonceForReceipt(forged)], token_type: "PKI" });
    writeFileSync(join(out, "receipt.json"), JSON.stringify(forged));
    writeFileSync(join(out, "attestation.jwt"), token);
    let err: unknown;
    try {
      await verifyResult(out, { descriptor: d, trustedRoots: [root] });
    } catch (e) {
      err = e;
    }
    expect(err, "verification must fail").to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("policy");
    expect((err as Error).message).to.match(/job-forged-1/);
  });
});

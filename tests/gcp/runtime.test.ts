/**
 * The GCP runtime against loopback fakes of Cloud Storage, Compute Engine, Cloud KMS, STS and the Confidential Space
 * launcher, with the real Google client libraries on the wire. The fake VM runs the real executor through
 * `executorPlatformFor` (the same code path as the local backend) and the result is checked with `verifyResult`.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { EXECUTOR_ENV_OVERRIDES } from "../../src/core/executor-env.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { DISCLOSURE_DEFAULTS } from "../../src/core/disclosure.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import {
  GcpRoomClient,
  createGcpClients,
  createGcpExecutorPlatform,
  parseEndpointOverride,
} from "../../src/runtime/platforms/gcp/index.js";
import { GcsStore } from "../../src/runtime/platforms/gcp/storage.js";
import type { JobStatus, PackedJob } from "../../src/runtime/platforms/platform.js";
import { createDecryptStream } from "../../src/runtime/provision/envelope.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { EXECUTOR_DIGEST, WORKLOAD_SA, } from "../core/fixtures.js";
import { cliInProcess as cli } from "../cli-harness.js";
import { TEST_TOKEN_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { type FakeTeeServer, type FakeVm, vmClaims } from "./fakes/confidential-space.js";
import { type GcpFake, googleError } from "./fakes/gcp-fake.js";
import { FAST, KEY, VM_PREFIX, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";

/** grantSubmit lets consumers create only instances named `<namePrefix>-job-*` (an IAM condition the fake enforces). */

/** Decrypts data the way the executor does: fake KMS master key → data key → envelope. */
async function decryptWithFake(fake: GcpFake, wrapped: Buffer, data: Buffer): Promise<string> {
  const { createDecipheriv, createHash } = await import("node:crypto");
  const master = createHash("sha256").update(`fake-kms:${KEY}`).digest();
  const d = createDecipheriv("aes-256-gcm", master, wrapped.subarray(0, 12));
  d.setAuthTag(wrapped.subarray(wrapped.length - 16));
  const key = Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
  const out: Buffer[] = [];
  const s = createDecryptStream(key);
  s.on("data", (c: Buffer) => out.push(c));
  await new Promise<void>((res, rej) => {
    s.on("end", res);
    s.on("error", rej);
    s.end(data);
  });
  void fake;
  return Buffer.concat(out).toString("utf8");
}

describe("gcp/runtime: RoomClient and executor against loopback Google APIs", function () {
  this.timeout(30_000);
  let fake: GcpFake;
  let tee: FakeTeeServer;
  let vm: FakeVm;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  /** The fake attester's root (what Google's pinned root is on real GCP). */
  let root: string;
  let job: PackedJob;
  let world: LoopbackWorld | undefined;

  /** Submits the job with `c`, waits for its final state and for the fake VM to finish. */
  async function runJob(c: GcpRoomClient): Promise<{ jobId: string; st: JobStatus }> {
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 20_000 });
    await vm.running;
    return { jobId, st };
  }

  /** The fake attester's root as a PEM file, for `--trusted-root`. */
  function rootPath(): string {
    const p = join(dir, "fake-attester-root.pem");
    writeFileSync(p, root);
    return p;
  }

  function client(extra: Partial<ConstructorParameters<typeof GcpRoomClient>[1]> = {}): GcpRoomClient {
    // The fake attester's root stands in for Google's pinned one, passed the way a verifier passes a rotated root.
    return new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root], ...extra });
  }

  async function expectError(p: Promise<unknown>, code: string): Promise<CleanRoomError> {
    try {
      await p;
    } catch (err) {
      expect(err, String(err)).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code, (err as Error).message).to.equal(code);
      return err as CleanRoomError;
    }
    throw new Error(`expected CleanRoomError ${code}`);
  }

  before(async () => {
    world = await startLoopbackWorld([TEST_TOKEN_ENV]);
    ({ fake, tee, vm, root } = world);

    dir = mkdtempSync(join(tmpdir(), "acr-gcp-"));
    writeFileSync(join(dir, "patients.csv"), "id,sex,age\n1,F,34\n2,M,51\n3,F,29\n");
    const src = join(dir, "job");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(src);
    writeFileSync(
      join(src, "main.js"),
      `const fs = require("fs"); const p = require("path");
const rows = fs.readFileSync(p.join(process.env.CLEANROOM_INPUTS, "hospital-a", "patients.csv"), "utf8").trim().split("\\n").length - 1;
fs.writeFileSync(p.join(process.env.CLEANROOM_OUTPUT, "summary.json"), JSON.stringify({ rows }));\n`,
    );
    job = await packJob(src, { entrypoint: "main.js", inputs: ["hospital-a/patients"], outDir: join(dir, "packed") });
    // As DataCleanRoom builds it: keys open only for executors writing into the room's quarantine; Google's STS
    // evaluates the pool provider's condition on every exchange, and so does the fake.
    descriptor = loopbackRoom(fake, { approved: [job.jobDigest], requireRelease: true });
    await client().provision("hospital-a", "patients", join(dir, "patients.csv"));
  });

  after(async () => {
    await world?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    fake.requests.length = 0;
    fake.clearFailures();
    vm.behaviour = {};
    fake.insertOperationError = undefined;
    fake.kmsApprovals.set(KEY, new Set([job.jobDigest]));
    fake.instanceNamePrefix = VM_PREFIX;
    delete process.env[TEST_TOKEN_ENV];
  });

  it("GIVEN a provider's CSV WHEN provisioned (overwrite) THEN data.enc, key.wrapped (Cloud KMS, CRC32C-checked) and manifest.json are uploaded", async () => {
    const res = await client().provision("hospital-a", "patients", join(dir, "patients.csv"), { overwrite: true });
    const bucket = fake.buckets.get("demo-hospital-a-data")!;
    expect([...bucket.keys()].sort()).to.deep.equal(["patients/data.enc", "patients/key.wrapped", "patients/manifest.json"]);
    const manifest = JSON.parse(bucket.get("patients/manifest.json")!.data.toString("utf8")) as Record<string, unknown>;
    expect(manifest).to.include({ format: "acr-envelope-v1", provider: "hospital-a", dataset: "patients", sha256: res.sha256, bytes: res.bytes });
    const enc = fake.sent(/:encrypt$/, "POST");
    expect(enc).to.have.length(1);
    expect(enc[0]!.path).to.equal(`/v1/${KEY}:encrypt`);
    expect((enc[0]!.json as Record<string, string>).plaintextCrc32c).to.match(/^\d+$/);
    // The plaintext never leaves the machine: no upload carries the CSV bytes.
    expect(bucket.get("patients/data.enc")!.data.includes(Buffer.from("1,F,34"))).to.equal(false);
    expect(await decryptWithFake(fake, bucket.get("patients/key.wrapped")!.data, bucket.get("patients/data.enc")!.data)).to.equal(readFileSync(join(dir, "patients.csv"), "utf8"));
  });

  it("GIVEN a provisioned dataset WHEN provisioned again without overwrite THEN already-exists", async () => {
    await expectError(client().provision("hospital-a", "patients", join(dir, "patients.csv")), "already-exists");
  });

  it("GIVEN an approved job WHEN submitted, waited, fetched, released THEN the VM request is exact and the result verifies", async () => {
    const progress: string[] = [];
    const c = client({ onProgress: (m) => progress.push(m) });
    const { jobId } = await c.submit(job);
    // What the client actually sent to instances.insert.
    const [insert] = fake.sent(/\/compute\/v1\/projects\/my-proj\/zones\/europe-west4-a\/instances$/, "POST");
    expect(insert, "instances.insert was sent").to.not.equal(undefined);
    expect(insert!.query.sourceInstanceTemplate).to.equal(descriptor.gcp!.instanceTemplate);
    expect(insert!.query.requestId).to.match(/^[0-9a-f-]{36}$/);
    const body = insert!.json as { name: string; metadata: { items: { key: string; value: string }[] }; labels: Record<string, string> };
    expect(Object.keys(body).sort()).to.deep.equal(["labels", "metadata", "name"]);
    expect(JSON.stringify(body)).to.not.match(/accessConfigs|networkInterfaces|natIP/);
    const meta = Object.fromEntries(body.metadata.items.map((i) => [i.key, i.value]));
    expect(Object.keys(meta).sort()).to.deep.equal(["tee-image-reference", ...EXECUTOR_ENV_OVERRIDES.map((e) => `tee-env-${e}`)].sort());
    expect(meta["tee-image-reference"]).to.equal(descriptor.executor.imageReference);
    expect(meta["tee-env-CLEANROOM_JOB_DIGEST"]).to.equal(job.jobDigest);
    expect(meta["tee-env-CLEANROOM_JOB_URI"]).to.equal(`gs://demo-jobs-1a2b/${jobId}`);
    expect(meta["tee-env-CLEANROOM_OUTPUT_URI"]).to.equal(`gs://demo-quarantine-1a2b/${jobId}`);
    expect(JSON.parse(meta["tee-env-CLEANROOM_ROOM"]!)).to.deep.equal(JSON.parse(JSON.stringify(descriptor)));
    expect(body.labels).to.deep.equal({ "cleanroom-job": jobId, "cleanroom-room": "demo" });
    expect(body.name.startsWith(VM_PREFIX), body.name).to.equal(true);
    // Every upload declared the MD5 of its bytes (GCS refuses a mismatch) and the bundle reported progress.
    for (const n of ["bundle.tar", "job.json", "submission.json"]) {
      const o = fake.bucket("demo-jobs-1a2b").get(`${jobId}/${n}`)!;
      expect(o.declared?.md5Hash, n).to.equal(createHash("md5").update(o.data).digest("base64"));
    }
    expect(progress.some((l) => /MiB sent/.test(l)), progress.join("\n")).to.equal(true);
    // The bundle went up through a resumable session, validated by CRC32C.
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/).some((r) => r.query.uploadType === "resumable" && r.query.name === `${jobId}/bundle.tar`)).to.equal(true);

    const st = await c.wait(jobId, { timeoutMs: 20_000 });
    await vm.running;
    expect(st.state, st.detail).to.equal("succeeded");
    expect(fake.instances.has(body.name), "the VM is deleted after the job").to.equal(false);

    // Executor side: STS exchange for the pool provider with the launcher's token, then KMS and storage with it.
    const sts = fake.sent(/^\/v1\/token$/, "POST");
    expect(sts.length).to.be.greaterThan(0);
    expect(sts[0]!.form!.audience).to.equal(`//iam.googleapis.com/${descriptor.gcp!.poolProviderName}`);
    expect(sts[0]!.form!.subject_token).to.equal(readFileSync(tee.tokenFile, "utf8"));
    const decrypt = fake.sent(/:decrypt$/, "POST");
    expect(decrypt).to.have.length(1);
    expect(String(decrypt[0]!.headers.authorization)).to.match(/^Bearer sts-\d+$/);
    // Storage reads of the executor (bundle, wrapped key, ciphertext) carry the federated token too, never the consumer's.
    const reads = fake.requests.filter((r) => r.method === "GET" && /^\/storage\/v1\/b\/(demo-jobs-1a2b|demo-hospital-a-data)\/o\//.test(r.path) && r.query.alt === "media");
    expect(reads.map((r) => decodeURIComponent(r.path.split("/o/")[1]!)).sort()).to.include.members([`${jobId}/bundle.tar`, "patients/data.enc", "patients/key.wrapped"]);
    for (const r of reads.filter((x) => !x.path.includes("submission.json"))) expect(String(r.headers.authorization), r.path).to.match(/^Bearer sts-\d+$/);
    expect(tee.requests.at(-1)).to.have.keys(["audience", "nonces", "token_type"]);
    // Writes went only under this job's quarantine prefix, create-only.
    const writes = fake.requests.filter((r) => r.path.startsWith("/upload/storage/v1/b/demo-quarantine-1a2b/"));
    expect(writes.length).to.be.greaterThan(0);
    expect(writes.every((r) => (r.query.name ?? "").startsWith(`${jobId}/`) && r.query.ifGenerationMatch === "0")).to.equal(true);

    // requireRelease: the consumer cannot fetch before a provider releases.
    await expectError(c.fetch(jobId, join(dir, "early")), "denied");
    await c.release(jobId);
    const out = await c.fetch(jobId, join(dir, "result"));
    expect(JSON.parse(readFileSync(join(out, "outputs", "summary.json"), "utf8"))).to.deep.equal({ rows: 3 });
    const receipt = parseReceipt(readFileSync(join(out, "receipt.json"), "utf8"));
    expect(receipt).to.include({ platform: "gcp", sandbox: "confidential-space", status: "succeeded", jobDigest: job.jobDigest, executorImageDigest: EXECUTOR_DIGEST });
    const summary = await verifyResult(out, { descriptor, trustedRoots: [root] });
    expect(summary).to.be.an("object");
    expect((await c.status(jobId)).released).to.equal(true);
  });

  it("GIVEN a submitter who launches an approved job with outputs redirected to their own bucket THEN STS refuses the token: no key, nothing written there", async () => {
    // Their client sends CLEANROOM_OUTPUT_URI=gs://attacker-bucket/<jobId> and a CLEANROOM_ROOM that agrees with it, so
    // the executor's own checks pass; only the pool's condition (which pins the real quarantine) stands in the way.
    const policy = { ...descriptor.attestation.policy, outputUriPrefix: "gs://attacker-bucket/" };
    const evil: CleanRoomDescriptor = {
      ...descriptor,
      storage: { ...descriptor.storage, quarantine: "gs://attacker-bucket" },
      attestation: { ...descriptor.attestation, policy, condition: buildAttestationCondition(policy) },
    };
    const c = new GcpRoomClient(evil, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50 });
    const exchangedBefore = fake.stsTokens.size;
    const { jobId } = await c.submit(job);
    const [insert] = fake.sent(/\/instances$/, "POST");
    const meta = Object.fromEntries((insert!.json as { metadata: { items: { key: string; value: string }[] } }).metadata.items.map((i) => [i.key, i.value]));
    expect(meta["tee-env-CLEANROOM_OUTPUT_URI"]).to.equal(`gs://attacker-bucket/${jobId}`);
    await vm.running;
    const sts = fake.sent(/^\/v1\/token$/, "POST");
    expect(sts.length, "the executor tried the exchange").to.be.greaterThan(0);
    expect(fake.stsTokens.size, "every exchange was refused").to.equal(exchangedBefore);
    expect(fake.sent(/:decrypt$/, "POST"), "no decrypt: no federated token").to.have.length(0);
    expect(fake.requests.filter((r) => r.path.includes("attacker-bucket")), "nothing reached the attacker's bucket").to.have.length(0);
  });

  it("GIVEN a job the provider did not approve WHEN it runs THEN KMS refuses and the failure receipt names the provider", async () => {
    fake.kmsApprovals.set(KEY, new Set());
    const { st } = await runJob(client());
    expect(st.state).to.equal("failed");
    expect(st.errorCode).to.equal("denied");
    expect(st.detail).to.match(/hospital-a/);
    // 403 is retried a few times (IAM propagation), then reported.
    expect(fake.sent(/:decrypt$/).length).to.be.greaterThan(1);
  });

  it("GIVEN a 403 on the first upload (IAM still propagating) and 503/429 from Compute THEN submit retries and succeeds", async () => {
    fake.failNext(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/, 403, googleError(403, "caller does not have storage.objects.create access", "PERMISSION_DENIED", "forbidden"));
    fake.failNext(/\/instances$/, 503, googleError(503, "Backend Error", "UNAVAILABLE", "backendError"), 2, "POST");
    fake.failNext(/\/instances\/demo-job-/, 429, googleError(429, "Rate Limit Exceeded", "RESOURCE_EXHAUSTED", "rateLimitExceeded"), 1, "GET");
    vm.behaviour = { neverBoots: true };
    const c = client({ bootTimeoutMs: 60_000 });
    const { jobId } = await c.submit(job);
    expect(fake.sent(/\/instances$/, "POST")).to.have.length(3);
    const inserts = fake.sent(/\/instances$/, "POST").map((r) => r.query.requestId);
    expect(new Set(inserts).size, "retries reuse the requestId").to.equal(1);
    expect((await c.status(jobId)).state).to.equal("queued");
  });

  it("GIVEN a persistent 403 THEN the error is 'denied' and names the missing role", async () => {
    fake.failNext(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/, 403, googleError(403, "caller does not have storage.objects.create access", "PERMISSION_DENIED", "forbidden"), 10);
    const err = await expectError(client().submit(job), "denied");
    expect(err.message).to.match(/roles\/storage\.objectCreator on gs:\/\/demo-jobs-1a2b/);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/)).to.have.length(FAST.permissionAttempts);
  });

  it("GIVEN the Compute API is not enabled THEN the error says which API and the gcloud command", async () => {
    fake.failNext(
      /\/instances$/,
      403,
      googleError(403, "Compute Engine API has not been used in project 123456789012 before or it is disabled.", "PERMISSION_DENIED", "accessNotConfigured", {
        details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "SERVICE_DISABLED", metadata: { service: "compute.googleapis.com" } }],
      }),
      1,
      "POST",
    );
    const err = await expectError(client().submit(job), "gcp-api-disabled");
    expect(err.message).to.match(/gcloud services enable compute\.googleapis\.com --project my-proj/);
    expect(fake.sent(/\/instances$/, "POST"), "not retried").to.have.length(1);
  });

  it("GIVEN a quota error on insert THEN the error names the quota and what to do, and the job is marked failed", async () => {
    fake.insertOperationError = { code: "QUOTA_EXCEEDED", message: "Quota 'N2D_CPUS' exceeded.  Limit: 8.0 in region europe-west4.", httpStatus: 403 };
    const c = client();
    const err = await expectError(c.submit(job), "gcp-quota");
    expect(err.message).to.match(/Quota N2D_CPUS is exhausted/);
    expect(err.message).to.match(/iam-admin\/quotas/);
    const abandoned = [...fake.bucket("demo-jobs-1a2b").keys()].filter((k) => k.endsWith("/abandoned.json"));
    expect(abandoned.length).to.be.greaterThan(0);
  });

  it("GIVEN a VM that never boots WHEN waiting THEN it is deleted after the boot timeout and the job is failed", async () => {
    vm.behaviour = { neverBoots: true };
    const c = client({ bootTimeoutMs: 150 });
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 10_000 });
    expect(st.state).to.equal("failed");
    expect(st.detail).to.match(/did not boot/);
    expect(fake.sent(/\/instances\/demo-job-/, "DELETE")).to.have.length(1);
    expect([...fake.instances.keys()].some((n) => n.includes(jobId))).to.equal(false);
    expect((await c.status(jobId)).state).to.equal("failed");
  });

  it("GIVEN a job still running at the wait timeout THEN the VM is deleted, the job marked failed, and wait throws timeout", async () => {
    vm.behaviour = { neverBoots: true };
    const c = client({ bootTimeoutMs: 60_000 });
    const { jobId } = await c.submit(job);
    await expectError(c.wait(jobId, { timeoutMs: 100 }), "timeout");
    expect(fake.sent(/\/instances\/demo-job-/, "DELETE")).to.have.length(1);
    expect((await c.status(jobId)).state).to.equal("failed");
  });

  it("GIVEN a VM that powers off without writing a receipt THEN wait reports it lost with how to investigate, and deletes it", async () => {
    vm.behaviour = { powerOffWithoutReceipt: true };
    const c = client();
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 10_000 });
    expect(st.state).to.equal("lost");
    expect(st.detail).to.match(/without writing a receipt.*get-serial-port-output/s);
    expect(fake.sent(/\/instances\/demo-job-/, "DELETE")).to.have.length(1);
  });

  it("GIVEN room.json of a GCP room WHEN `cleanroom job submit --wait`, `job fetch`, `verify` run THEN the result verifies", async () => {
    const roomPath = join(dir, "room.json");
    // A room with no release step at all: no requireRelease, and no disclosure checks that could hold the result (the
    // job's summary counts 3 records, which the checks would hold for review).
    const disclosure = { mode: "off", releaseOnPass: true, thresholds: DISCLOSURE_DEFAULTS };
    writeFileSync(roomPath, JSON.stringify({ ...descriptor, output: { ...descriptor.output, requireRelease: false, disclosure } }, null, 2));
    const sub = await cli(["job", "submit", join(dir, "packed"), "--room", roomPath, "--wait", "--timeout", "20", "--json"]);
    await vm.running;
    expect(sub.code, sub.stderr).to.equal(0);
    const { jobId, status } = JSON.parse(sub.stdout) as { jobId: string; status: { state: string } };
    expect(status.state).to.equal("succeeded");
    const out = join(dir, "cli-result");
    const fetched = await cli(["job", "fetch", jobId, "--room", roomPath, "--out", out]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    const verified = await cli(["verify", out, "--room", roomPath, "--trusted-root", rootPath(), "--json"]);
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
    expect(verified.stdout).to.include(job.jobDigest);
  });

  it("GIVEN the CLI and a persistent 403 THEN it exits 1 with the GCP cause and the fix", async () => {
    const roomPath = join(dir, "room.json");
    fake.failNext(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/, 403, googleError(403, "caller does not have storage.objects.create access", "PERMISSION_DENIED", "forbidden"), 10);
    const r = await cli(["job", "submit", join(dir, "packed"), "--room", roomPath]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/error \[denied\].*storage\.objects\.create.*roles\/storage\.objectCreator/s);
  });

  it("GIVEN a requireRelease room.json WHEN the provider runs `data provision` and `job release`, the consumer `job submit`, `job wait`, `job fetch`, `verify` THEN each step works as its principal", async () => {
    const roomPath = join(dir, "room-release.json");
    writeFileSync(roomPath, JSON.stringify(descriptor, null, 2));
    // The consumer holds grantSubmit only: no read access to quarantine in a requireRelease room.
    fake.readDenied.push({ bucket: "demo-quarantine-1a2b", token: "consumer-token" });

    // Provider: encrypt, wrap with Cloud KMS, upload (CLI, provider's principal).
    process.env[TEST_TOKEN_ENV] = "provider-token";
    const prov = await cli(["data", "provision", "--room", roomPath, "--provider", "hospital-a", "--dataset", "patients", "--csv", join(dir, "patients.csv"), "--overwrite", "--json"]);
    expect(prov.code, prov.stderr + prov.stdout).to.equal(0);
    const provOut = JSON.parse(prov.stdout) as { uri: string; sha256: string; stage1?: { method: string; artefactPath: string; ledgerPath: string } };
    expect(provOut.uri).to.equal("gs://demo-hospital-a-data/patients");
    // Stage 1 (MST for this dataset): the spend went create-only into the dataset's ledger in the provider's bucket
    // before anything was drawn, then the artefact create-only to the stage-1 bucket.
    expect(provOut.stage1).to.include({
      method: "mst",
      artefactPath: "gs://demo-stage1-1a2b/hospital-a/patients/synthetic.csv",
      ledgerPath: "gs://demo-hospital-a-data/.dp-ledger/patients",
    });
    const stage1Uploads = fake.sent(/^\/upload\/storage\/v1\/b\/demo-stage1-1a2b\/o$/).map((r) => [r.query.name, r.query.ifGenerationMatch]);
    // Then its public ε summary beside it, create-only too.
    expect(stage1Uploads).to.deep.equal([
      ["hospital-a/patients/synthetic.csv", "0"],
      ["hospital-a/patients/privacy.json", "0"],
    ]);
    const ledgerUploads = fake
      .sent(/^\/upload\/storage\/v1\/b\/demo-hospital-a-data\/o$/)
      .filter((r) => String(r.query.name).startsWith(".dp-ledger/"))
      .map((r) => [r.query.name, r.query.ifGenerationMatch]);
    expect(ledgerUploads).to.deep.equal([
      [".dp-ledger/patients/00000000.json", "0"],
      [".dp-ledger/patients/00000001.json", "0"],
      [".dp-ledger/patients/00000002.json", "0"],
    ]);
    const [encrypt] = fake.sent(/:encrypt$/, "POST");
    expect(encrypt!.path).to.equal(`/v1/${KEY}:encrypt`);
    expect(String(encrypt!.headers.authorization)).to.equal("Bearer provider-token");
    const data = fake.bucket("demo-hospital-a-data");
    for (const n of ["patients/data.enc", "patients/key.wrapped", "patients/manifest.json"]) {
      expect(data.get(n)?.declared?.md5Hash, n).to.equal(createHash("md5").update(data.get(n)!.data).digest("base64"));
    }
    expect(JSON.parse(data.get("patients/manifest.json")!.data.toString("utf8"))).to.include({ format: "acr-envelope-v1", sha256: provOut.sha256 });
    expect(await decryptWithFake(fake, data.get("patients/key.wrapped")!.data, data.get("patients/data.enc")!.data)).to.equal(readFileSync(join(dir, "patients.csv"), "utf8"));

    // Consumer: submit without waiting, then wait.
    process.env[TEST_TOKEN_ENV] = "consumer-token";
    const sub = await cli(["job", "submit", join(dir, "packed"), "--room", roomPath, "--json"]);
    expect(sub.code, sub.stderr).to.equal(0);
    const { jobId } = JSON.parse(sub.stdout) as { jobId: string };
    const waited = await cli(["job", "wait", jobId, "--room", roomPath, "--timeout", "20", "--json"]);
    await vm.running;
    expect(waited.code, waited.stderr).to.equal(0);
    const st = JSON.parse(waited.stdout) as { state: string; detail: string };
    expect(st.state, st.detail).to.equal("awaiting-release");
    expect(st.detail).to.match(new RegExp(`cleanroom job release ${jobId}`));
    expect([...fake.instances.keys()].some((n) => n.endsWith(jobId.replace(/^job-/, ""))), "the finished VM is deleted").to.equal(false);
    const early = await cli(["job", "fetch", jobId, "--room", roomPath, "--out", join(dir, "cli-early")]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.match(/awaits release by a provider/);

    // Provider: release (verifies token, receipt and attested descriptor, then copies quarantine → results).
    process.env[TEST_TOKEN_ENV] = "provider-token";
    const rel = await cli(["job", "release", jobId, "--room", roomPath, "--trusted-root", rootPath(), "--json"]);
    expect(rel.code, rel.stderr + rel.stdout).to.equal(0);
    const copies = fake.sent(/\/rewriteTo\/b\/demo-results-1a2b\/o\//, "POST").map((r) => decodeURIComponent(r.path.split("/o/").pop()!));
    expect(copies.at(-1), "receipt.json is copied last").to.equal(`${jobId}/receipt.json`);
    expect(copies).to.include.members([`${jobId}/attestation.jwt`, `${jobId}/outputs/summary.json`]);

    // Consumer: now the released result is fetched from results and verifies.
    process.env[TEST_TOKEN_ENV] = "consumer-token";
    const status = await cli(["job", "status", jobId, "--room", roomPath, "--json"]);
    expect(JSON.parse(status.stdout)).to.include({ state: "succeeded", released: true });
    const out = join(dir, "cli-released");
    const fetched = await cli(["job", "fetch", jobId, "--room", roomPath, "--out", out]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    const verified = await cli(["verify", out, "--room", roomPath, "--trusted-root", rootPath(), "--json"]);
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(out, "outputs", "summary.json"), "utf8"))).to.deep.equal({ rows: 3 });
  });

  it("GIVEN Cloud Storage API disabled (accessNotConfigured) WHEN the CLI submits THEN it says which API to enable, without retrying", async () => {
    const roomPath = join(dir, "room.json");
    writeFileSync(roomPath, JSON.stringify(descriptor, null, 2));
    fake.failNext(
      /^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/,
      403,
      googleError(403, "Cloud Storage JSON API has not been used in project 123456789012 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/storage-api.googleapis.com/overview?project=123456789012 then retry.", "PERMISSION_DENIED", "accessNotConfigured"),
      1,
    );
    const r = await cli(["job", "submit", join(dir, "packed"), "--room", roomPath]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/error \[gcp-api-disabled\].*has not been used in project.*gcloud services enable storage-api\.googleapis\.com --project my-proj/s);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/), "not retried").to.have.length(1);
  });

  it("GIVEN Cloud KMS API disabled (SERVICE_DISABLED) WHEN the CLI provisions THEN it names cloudkms.googleapis.com and the command", async () => {
    const roomPath = join(dir, "room.json");
    writeFileSync(roomPath, JSON.stringify(descriptor, null, 2));
    fake.failNext(
      /:encrypt$/,
      403,
      googleError(403, "Cloud Key Management Service (KMS) API has not been used in project hospital-a-prod before or it is disabled.", "PERMISSION_DENIED", undefined, {
        details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "SERVICE_DISABLED", domain: "googleapis.com", metadata: { service: "cloudkms.googleapis.com", consumer: "projects/hospital-a-prod" } }],
      }),
      1,
    );
    const r = await cli(["data", "provision", "--room", roomPath, "--provider", "hospital-a", "--dataset", "patients", "--csv", join(dir, "patients.csv"), "--overwrite", "--no-stage1"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/error \[gcp-api-disabled\].*gcloud services enable cloudkms\.googleapis\.com --project hospital-a-prod/s);
    expect(fake.sent(/:encrypt$/), "not retried").to.have.length(1);
  });

  it("GIVEN insert fails with HTTP 403 quotaExceeded (thrown, not in the operation) THEN gcp-quota names the quota, no retry", async () => {
    fake.failNext(/\/instances$/, 403, googleError(403, "Quota 'CPUS' exceeded.  Limit: 24.0 in region europe-west4.", "PERMISSION_DENIED", "quotaExceeded"), 1, "POST");
    const err = await expectError(client().submit(job), "gcp-quota");
    expect(err.message).to.match(/Quota CPUS is exhausted in project my-proj.*iam-admin\/quotas\?project=my-proj.*labels\.cleanroom-job/s);
    expect(fake.sent(/\/instances$/, "POST")).to.have.length(1);
  });

  it("GIVEN the zone is out of capacity (ZONE_RESOURCE_POOL_EXHAUSTED) THEN gcp-capacity says it is a stock-out and to try another zone, and the job is failed", async () => {
    fake.insertOperationError = {
      code: "ZONE_RESOURCE_POOL_EXHAUSTED",
      message: "The zone 'projects/my-proj/zones/europe-west4-a' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.",
      httpStatus: 503,
    };
    const c = client();
    const err = await expectError(c.submit(job), "gcp-capacity");
    expect(err.message).to.match(/no capacity.*not your quota.*another zone/s);
    const abandoned = [...fake.bucket("demo-jobs-1a2b").entries()].filter(([k]) => k.endsWith("/abandoned.json"));
    const last = abandoned.sort(([, a], [, b]) => a.generation - b.generation).at(-1)!;
    expect(JSON.parse(last[1].data.toString("utf8")).reason).to.match(/ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough resources/);
  });

  it("GIVEN an upload corrupted in transit THEN GCS refuses the declared MD5, the upload is retried and the stored bytes are intact", async () => {
    fake.corruptNextUpload(/\/bundle\.tar$/);
    fake.wrongCrcNextUpload(/\/job\.json$/);
    vm.behaviour = { neverBoots: true };
    const { jobId } = await client().submit(job);
    const bundle = fake.bucket("demo-jobs-1a2b").get(`${jobId}/bundle.tar`)!;
    expect(bundle.data.equals(readFileSync(job.bundlePath)), "bundle intact").to.equal(true);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/).filter((r) => r.query.name === `${jobId}/bundle.tar`), "bundle: 2 sessions").to.have.length(2);
    // GCS refused the bundle on the declared MD5 (nothing was stored, so the client had nothing to delete).
    expect(fake.sent(new RegExp(`^/storage/v1/b/demo-jobs-1a2b/o/${jobId}%2Fbundle\\.tar$`), "DELETE")).to.have.length(0);
    // The client's own CRC32C check caught the wrong crc32c reply: it deleted the object and uploaded it again.
    expect(fake.sent(new RegExp(`^/storage/v1/b/demo-jobs-1a2b/o/${jobId}%2Fjob\\.json$`), "DELETE")).to.have.length(1);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/).filter((r) => r.query.name === `${jobId}/job.json`)).to.have.length(2);
  });

  it("GIVEN every upload attempt corrupted THEN gcp-corrupt says the data was corrupted in transit", async () => {
    fake.corruptNextUpload(/\/bundle\.tar$/, 100);
    const err = await expectError(client().submit(job), "gcp-corrupt");
    expect(err.message).to.match(/doesn't match calculated MD5.*corrupted in transit/s);
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-jobs-1a2b\/o$/).filter((r) => /bundle\.tar$/.test(r.query.name ?? ""))).to.have.length(FAST.attempts);
  });

  it("GIVEN a download corrupted in transit THEN the CRC32C check fails the read (gcp-corrupt)", async () => {
    const store = new GcsStore(createGcpClients(parseEndpointOverride(fake.url)).storage, FAST);
    fake.putObject("demo-jobs-1a2b", "probe/blob", Buffer.alloc(4096, 7));
    fake.corruptNextDownload(/^probe\/blob$/);
    await expectError(store.readBuffer("gs://demo-jobs-1a2b/probe/blob", "roles/storage.objectViewer"), "gcp-corrupt");
    expect((await store.readBuffer("gs://demo-jobs-1a2b/probe/blob", "roles/storage.objectViewer")).equals(Buffer.alloc(4096, 7))).to.equal(true);
  });

  describe("the executor's quarantine writer", () => {
    const jobId = "job-writer-test-1";
    const env = { jobDigest: `sha256:${"1".repeat(64)}`, jobUri: `gs://demo-jobs-1a2b/${jobId}`, outputUri: `gs://demo-quarantine-1a2b/${jobId}`, room: "{}" };

    beforeEach(() => {
      // The launcher's token for a VM of this job (the executor's STS subject token).
      // A VM launched for this room's quarantine (the pool condition pins it).
      const metadata = { "tee-env-CLEANROOM_OUTPUT_URI": `${descriptor.storage.quarantine}/job-writer` };
      tee.claims = vmClaims({ name: `demo-job-writer`, zone: "europe-west4-a", project: "my-proj", status: "RUNNING", metadata, labels: {}, sourceInstanceTemplate: "", body: {} }, {
        imageDigest: EXECUTOR_DIGEST,
        serviceAccount: WORKLOAD_SA,
        project: "my-proj",
      });
      tee.writeDefaultToken();
    });

    it("GIVEN another job's URI, or an output URI outside the room's quarantine bucket THEN openResult refuses before writing anything", async () => {
      const p = createGcpExecutorPlatform(descriptor, env);
      await expectError(p.openResult(`gs://demo-quarantine-1a2b/job-someone-else`), "invalid-argument");
      // An operator-set CLEANROOM_OUTPUT_URI that points at their own bucket (same job id).
      const evil = createGcpExecutorPlatform(descriptor, { ...env, outputUri: `gs://attacker-bucket/${jobId}` });
      const err = await expectError(evil.openResult(`gs://attacker-bucket/${jobId}`), "invalid-argument");
      expect(err.message).to.match(/not its quarantine entry gs:\/\/demo-quarantine-1a2b\/job-writer-test-1/);
      const moved = createGcpExecutorPlatform(descriptor, { ...env, jobUri: `gs://attacker-bucket/${jobId}` });
      await expectError(moved.openResult(env.outputUri), "invalid-argument");
      expect(fake.requests.filter((r) => r.method !== "GET" && r.path !== "/v1/token")).to.have.length(0);
    });

    it("GIVEN a path leaving the result THEN write refuses; GIVEN a commit THEN every object is create-only under the job's prefix, receipt last, with the federated token", async () => {
      const w = await createGcpExecutorPlatform(descriptor, env).openResult(env.outputUri);
      for (const bad of ["../job-other/receipt.json", "/etc/passwd", "outputs/../../x", "outputs//x", ""]) {
        await expectError(w.write(bad, Buffer.from("x")), "invalid-argument");
      }
      await w.write("outputs/a.json", Buffer.from("{}"));
      await w.write("attestation.jwt", Buffer.from("t"));
      await w.write("receipt.json", Buffer.from("{}"));
      await w.commit();
      const uploads = fake.requests.filter((r) => r.path.startsWith("/upload/storage/v1/b/"));
      expect(uploads.map((u) => `${u.path.split("/")[5]}/${u.query.name}`)).to.deep.equal([
        `demo-quarantine-1a2b/${jobId}/outputs/a.json`,
        `demo-quarantine-1a2b/${jobId}/attestation.jwt`,
        `demo-quarantine-1a2b/${jobId}/receipt.json`,
      ]);
      for (const u of uploads) {
        expect(u.query.ifGenerationMatch, u.query.name).to.equal("0");
        expect(String(u.headers.authorization)).to.match(/^Bearer sts-\d+$/);
      }
    });

    it("GIVEN an object already at the job's quarantine entry THEN commit fails with already-exists and does not overwrite it", async () => {
      const env2 = { ...env, jobUri: "gs://demo-jobs-1a2b/job-writer-test-2", outputUri: "gs://demo-quarantine-1a2b/job-writer-test-2" };
      fake.putObject("demo-quarantine-1a2b", "job-writer-test-2/receipt.json", Buffer.from("planted"));
      const w = await createGcpExecutorPlatform(descriptor, env2).openResult(env2.outputUri);
      await w.write("receipt.json", Buffer.from("{}"));
      await expectError(w.commit(), "already-exists");
      expect(fake.getObject("demo-quarantine-1a2b", "job-writer-test-2/receipt.json")!.toString()).to.equal("planted");
    });
  });

  it("GIVEN the image's entrypoint (executor/main.ts) in its own process with only the tee-env-* variables THEN it runs the shared executor and commits a verifiable result", async function () {
    // A Node process that loads the executor through ts-node: 3–13 s, over 30 s on a machine at load 15+.
    this.timeout(120_000);
    vm.behaviour = { asProcess: true };
    const c = client({ pollIntervalMs: 100, maxPollIntervalMs: 200 });
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 110_000 });
    await vm.running;
    expect(vm.exitCodes.at(-1)).to.equal(0);
    expect(st.state, st.detail).to.equal("succeeded");
    const out = await c.fetch(jobId, join(dir, "entrypoint-result"), { from: "quarantine" });
    const receipt = parseReceipt(readFileSync(join(out, "receipt.json"), "utf8"));
    expect(receipt).to.include({ platform: "gcp", sandbox: "confidential-space", jobDigest: job.jobDigest });
    await verifyResult(out, { descriptor, trustedRoots: [root] });
  });

  for (const field of ["verifiedPlaintextCrc32c", "ciphertextCrc32c"] as const) {
    it(`GIVEN a KMS encrypt response with a bad ${field} THEN the wrap is retried; GIVEN it on every attempt THEN gcp-corrupt`, async () => {
      fake.kmsTamperNext = field;
      await client().provision("hospital-a", "patients", join(dir, "patients.csv"), { overwrite: true });
      expect(fake.sent(/:encrypt$/, "POST")).to.have.length(2);
      fake.requests.length = 0;
      fake.kmsTamperNext = field;
      fake.kmsTamperTimes = 100;
      const err = await expectError(client().provision("hospital-a", "patients", join(dir, "patients.csv"), { overwrite: true }), "gcp-corrupt");
      expect(err.message).to.match(/Cloud KMS encrypt (request|response) failed its CRC32C integrity check/);
      expect(fake.sent(/:encrypt$/, "POST")).to.have.length(FAST.attempts);
    });
  }

  it("GIVEN a KMS decrypt response whose plaintextCrc32c does not match THEN the executor retries the unwrap and the job succeeds", async () => {
    fake.kmsTamperNext = "plaintextCrc32c";
    const { st } = await runJob(client());
    expect(st.state, st.detail).to.equal("succeeded");
    expect(fake.sent(/:decrypt$/, "POST")).to.have.length(2);
  });

  it("GIVEN a KMS 503 during the executor's unwrap THEN it is retried and the job succeeds", async () => {
    fake.failNext(/:decrypt$/, 503, googleError(503, "The service is currently unavailable.", "UNAVAILABLE"), 1, "POST");
    const { st } = await runJob(client());
    expect(st.state, st.detail).to.equal("succeeded");
    expect(fake.sent(/:decrypt$/, "POST")).to.have.length(2);
  });
});

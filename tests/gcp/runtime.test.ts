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
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { EXECUTOR_ENV_OVERRIDES } from "../../src/core/executor-env.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { GCP_API_ENDPOINT_ENV, GcpRoomClient, RETRY_BASE_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { createDecryptStream } from "../../src/runtime/provision/envelope.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { EXECUTOR_DIGEST, WORKLOAD_SA, gcpDescriptor } from "../core/fixtures.js";
import { testChains } from "../verify/pki.js";
import { buildProgram } from "../../src/runtime/cli.js";
import { runCli } from "../../src/runtime/cli/common.js";
import { POLL_INTERVAL_ENV, TEST_TOKEN_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { FakeTeeServer, FakeVm } from "./fakes/confidential-space.js";
import { GcpFake, googleError } from "./fakes/gcp-fake.js";

const DOCKERFILE = join(__dirname, "..", "..", "executor", "Dockerfile");
const FAST = { attempts: 4, permissionAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const KEY = "projects/hospital-a-prod/locations/europe-west4/keyRings/demo/cryptoKeys/hospital-a";
/** grantSubmit lets consumers create only instances named `<namePrefix>-job-*` (an IAM condition the fake enforces). */
const VM_PREFIX = "demo-job-";

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
  let job: PackedJob;
  const saved: Record<string, string | undefined> = {};

  function client(extra: Partial<ConstructorParameters<typeof GcpRoomClient>[1]> = {}): GcpRoomClient {
    return new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, ...extra });
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
    const chains = await testChains();
    fake = await new GcpFake().start();
    tee = await new FakeTeeServer(chains.good).start();
    vm = new FakeVm(fake, tee, { dockerfile: DOCKERFILE, imageDigest: EXECUTOR_DIGEST, serviceAccount: WORKLOAD_SA, project: "my-proj" });
    for (const k of [GCP_API_ENDPOINT_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV, RETRY_BASE_ENV, POLL_INTERVAL_ENV, TEST_TOKEN_ENV]) saved[k] = process.env[k];
    process.env[POLL_INTERVAL_ENV] = "20";
    process.env[GCP_API_ENDPOINT_ENV] = fake.url;
    process.env[TEESERVER_SOCKET_ENV] = tee.socket;
    process.env[TOKEN_FILE_ENV] = tee.tokenFile;
    process.env[RETRY_BASE_ENV] = "5";

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
    const base = gcpDescriptor();
    descriptor = {
      ...base,
      // Named as the component names it (namePrefix "<prefix>-job-" plus a generated suffix).
      gcp: { ...base.gcp!, instanceTemplate: `projects/my-proj/global/instanceTemplates/${VM_PREFIX}20261201061500123400000001` },
      attestation: { ...base.attestation, trustedRoots: [chains.good.root.pem] },
      output: { maxBytes: 1024 * 1024, requireRelease: true },
      providers: base.providers.map((p) => ({ ...p, approvedJobs: [job.jobDigest] })),
    };
    await client().provision("hospital-a", "patients", join(dir, "patients.csv"));
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake?.stop();
    await tee?.stop();
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
    const summary = await verifyResult(out, { descriptor });
    expect(summary).to.be.an("object");
    expect((await c.status(jobId)).released).to.equal(true);
  });

  it("GIVEN a job the provider did not approve WHEN it runs THEN KMS refuses and the failure receipt names the provider", async () => {
    fake.kmsApprovals.set(KEY, new Set());
    const c = client();
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 20_000 });
    await vm.running;
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
    writeFileSync(roomPath, JSON.stringify({ ...descriptor, output: { ...descriptor.output, requireRelease: false } }, null, 2));
    const sub = await cli(["job", "submit", join(dir, "packed"), "--room", roomPath, "--wait", "--timeout", "20", "--json"]);
    await vm.running;
    expect(sub.code, sub.stderr).to.equal(0);
    const { jobId, status } = JSON.parse(sub.stdout) as { jobId: string; status: { state: string } };
    expect(status.state).to.equal("succeeded");
    const out = join(dir, "cli-result");
    const fetched = await cli(["job", "fetch", jobId, "--room", roomPath, "--out", out]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    const verified = await cli(["verify", out, "--room", roomPath, "--json"]);
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
});

/** Runs `cleanroom …` in this process through the real program, capturing output and exit code. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  const saved = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    await runCli(buildProgram().exitOverride(), ["node", "cleanroom", ...args]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const code = typeof process.exitCode === "number" ? process.exitCode : 0;
  process.exitCode = saved;
  return { code, stdout, stderr };
}

/**
 * Each provider owns its trust, on the loopback Google APIs: the hospital and the insurer are deployed from their own
 * programs (examples/multi-party/{hospital,insurer}), the room from its own (examples/multi-party), all under the
 * component harness's mocks, and the plans are applied to the fakes: STS judges each exchange by the condition of the
 * pool provider it names (core's CEL engine), KMS admits exactly the principal sets the plans bound to each key, and
 * Cloud Storage admits the workload identities exactly through the plans' bucket bindings and their conditions.
 *
 * The acceptance case: a room operator who weakens the room's condition (debug images allowed, another executor
 * digest) gets job bundles and quarantine through the room's pool, but no provider key, because each provider's own
 * condition is strict.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt, policyDigest } from "../../src/core/receipt.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { verifyLedger } from "../../src/runtime/dp/ledger-verify.js";
import { roomLedgerStore } from "../../src/runtime/dp/room-ledger.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { GCP_API_ENDPOINT_ENV, GcpRoomClient, POLL_INTERVAL_ENV, RETRY_BASE_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { type MockRun, runExampleUnderMocks } from "../components/harness.js";
import { testChains } from "../verify/pki.js";
import { FakeTeeServer, FakeVm } from "./fakes/confidential-space.js";
import { GcpFake } from "./fakes/gcp-fake.js";
import { DOCKERFILE } from "./room-fixtures.js";

/** A stage-2 DP job: counts the hospital's admissions and asks the executor for noise (ρ = 0.01) to add. */
const DP_JOB = `const fs = require("fs"), p = require("path");
const DP = p.join(process.env.CLEANROOM_OUTPUT, ".cleanroom-dp");
const rows = fs.readFileSync(p.join(process.env.CLEANROOM_INPUTS, "hospital/admissions.csv"), "utf8").trim().split("\\n").length - 1;
fs.writeFileSync(p.join(DP, ".a.tmp"), JSON.stringify({ provider: "hospital", dataset: "admissions", count: 1, sensitivity: 1, rho: 0.01 }));
fs.renameSync(p.join(DP, ".a.tmp"), p.join(DP, "request-a.json"));
const answer = p.join(DP, "response-a.json");
for (let i = 0; i < 3000 && !fs.existsSync(answer); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
const a = JSON.parse(fs.readFileSync(answer, "utf8"));
fs.writeFileSync(p.join(process.env.CLEANROOM_OUTPUT, "count.json"), JSON.stringify(a.error ? { error: a.error.code } : { count: rows + a.noise[0], entry: a.entry }));
`;
const FAST = { attempts: 3, permissionAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 };
const OTHER_EXECUTOR = `sha256:${"9".repeat(64)}`;
const POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember";

describe("gcp/provider trust: each provider's own pool and condition decide its key", function () {
  this.timeout(120_000);
  let fake: GcpFake;
  let tee: FakeTeeServer;
  let dir: string;
  let root: string;
  let joint: PackedJob;
  let dpJob: PackedJob;
  let honest: CleanRoomDescriptor;
  let runs: MockRun[];
  const saved: Record<string, string | undefined> = {};

  function client(d: CleanRoomDescriptor): GcpRoomClient {
    return new GcpRoomClient(d, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root] });
  }

  /** Applies the deployed plans to the fakes, as `pulumi up` would to Google Cloud. */
  function applyPlans(): void {
    fake.kmsPrincipals.clear();
    fake.poolConditions.clear();
    fake.bucketBindings.clear();
    for (const run of runs) {
      for (const r of run.resources) {
        if (r.type === BUCKET_MEMBER) {
          const list = fake.bucketBindings.get(String(r.inputs.bucket)) ?? [];
          const condition = (r.inputs.condition as { expression?: string } | undefined)?.expression;
          list.push({ role: String(r.inputs.role), member: String(r.inputs.member), ...(condition === undefined ? {} : { condition }) });
          fake.bucketBindings.set(String(r.inputs.bucket), list);
        }
        if (r.type === "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember" && r.inputs.role === "roles/cloudkms.cryptoKeyDecrypter") {
          const set = fake.kmsPrincipals.get(String(r.inputs.cryptoKeyId)) ?? new Set<string>();
          set.add(String(r.inputs.member));
          fake.kmsPrincipals.set(String(r.inputs.cryptoKeyId), set);
        }
        if (r.type === POOL_PROVIDER) fake.poolConditions.set(r.id!, String(r.inputs.attributeCondition));
      }
    }
  }

  /**
   * The operator's own room stack, redeployed for another executor: the room's buckets now admit that image's runs too
   * (what `ResultStore` grants the room's pool). The providers' stacks are not the operator's to change.
   */
  function operatorRedeploysRoomFor(executor: string): void {
    const honestSet = `/attribute.image_digest/${honest.executor.imageDigest}`;
    for (const r of runs[2]!.resources.filter((x) => x.type === BUCKET_MEMBER && String(x.inputs.member).endsWith(honestSet))) {
      fake.bucketBindings.get(String(r.inputs.bucket))!.push({ role: String(r.inputs.role), member: String(r.inputs.member).replace(honestSet, `/attribute.image_digest/${executor}`) });
    }
  }

  /** Submits `job` with `d`, as a VM that attests `vm`; returns the committed receipt. */
  async function runAs(d: CleanRoomDescriptor, vm: { imageDigest: string; debug?: boolean }, job: PackedJob = joint) {
    const fakeVm = new FakeVm(fake, tee, { dockerfile: DOCKERFILE, serviceAccount: d.gcp!.workloadServiceAccount, project: d.gcp!.project, ...vm });
    const c = client(d);
    const { jobId } = await c.submit(job);
    const st = await c.wait(jobId, { timeoutMs: 30_000 });
    await fakeVm.running;
    const receipt = parseReceipt(fake.getObject(d.storage.quarantine.slice("gs://".length), `${jobId}/receipt.json`)!.toString("utf8"));
    return { jobId, st, receipt, c };
  }

  before(async () => {
    const chains = await testChains();
    root = chains.good.root.pem;
    fake = await new GcpFake().start();
    tee = await new FakeTeeServer(chains.good).start();
    for (const k of [GCP_API_ENDPOINT_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV, RETRY_BASE_ENV, POLL_INTERVAL_ENV]) saved[k] = process.env[k];
    process.env[GCP_API_ENDPOINT_ENV] = fake.url;
    process.env[TEESERVER_SOCKET_ENV] = tee.socket;
    process.env[TOKEN_FILE_ENV] = tee.tokenFile;
    process.env[RETRY_BASE_ENV] = "5";
    process.env[POLL_INTERVAL_ENV] = "20";

    dir = mkdtempSync(join(tmpdir(), "acr-provider-trust-"));
    const src = join(dir, "joint");
    mkdirSync(src);
    writeFileSync(
      join(src, "main.js"),
      `const fs = require("fs"), p = require("path"), I = process.env.CLEANROOM_INPUTS;
const n = (f) => fs.readFileSync(p.join(I, f), "utf8").trim().split("\\n").length - 1;
fs.writeFileSync(p.join(process.env.CLEANROOM_OUTPUT, "counts.json"), JSON.stringify({ admissions: n("hospital/admissions.csv"), claims: n("insurer/claims.csv") }));\n`,
    );
    joint = await packJob(src, { entrypoint: "main.js", inputs: ["hospital/admissions", "insurer/claims"], outDir: join(dir, "packed") });
    const dpSrc = join(dir, "dp");
    mkdirSync(dpSrc);
    writeFileSync(join(dpSrc, "main.js"), DP_JOB);
    dpJob = await packJob(dpSrc, { entrypoint: "main.js", inputs: ["hospital/admissions"], outDir: join(dir, "packed-dp") });
    // Each organisation deploys its own program; both approve the joint job, the hospital also the DP count.
    const overrides = {
      "multi-party/hospital": { "cleanroom-hospital:jointJob": joint.jobDigest, "cleanroom-hospital:hospitalOnlyJob": dpJob.jobDigest },
      "multi-party/insurer": { "cleanroom-insurer:jointJob": joint.jobDigest },
    };
    runs = [
      await runExampleUnderMocks("multi-party/hospital", overrides),
      await runExampleUnderMocks("multi-party/insurer", overrides),
      await runExampleUnderMocks("multi-party", overrides),
    ];
    honest = loadDescriptor(JSON.parse(JSON.stringify((runs[2]!.outputs as { descriptor: CleanRoomDescriptor }).descriptor)));
    applyPlans();
    fake.instanceNamePrefix = "consortium-job-";
    writeFileSync(join(dir, "admissions.csv"), "age,ward,days\n34,cardiology,5\n71,oncology,12\n");
    writeFileSync(join(dir, "claims.csv"), "region,amount\nnorth,1200\nsouth,5400\nnorth,800\n");
    await client(honest).provision("hospital", "admissions", join(dir, "admissions.csv"));
    await client(honest).provision("insurer", "claims", join(dir, "claims.csv"));
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
    fake.stsPools.clear();
    applyPlans();
  });

  it("GIVEN the providers' and the room's plans WHEN the honest executor runs the joint job THEN one token per provider opens both keys and the receipt lists both providers' own policies", async () => {
    const { st, receipt, jobId, c } = await runAs(honest, { imageDigest: honest.executor.imageDigest });
    expect(st.state, st.detail).to.equal("succeeded");
    // Three separate exchanges of the same attestation token: the room's pool, the hospital's, the insurer's.
    const audiences = fake.sent(/^\/v1\/token$/, "POST").map((r) => r.form!.audience).sort();
    const pools = [honest.gcp!.poolProviderName, ...honest.providers.map((p) => p.attestation!.poolProviderName!)].map((n) => `//iam.googleapis.com/${n}`);
    expect([...new Set(audiences)].sort()).to.deep.equal(pools.sort());
    expect(receipt.admittedBy).to.deep.equal(
      ["hospital", "insurer"].map((name) => ({ provider: name, policyDigest: policyDigest(honest.providers.find((p) => p.name === name)!.attestation!.condition), own: true })),
    );
    await c.release(jobId);
    await c.fetch(jobId, join(dir, `result-${jobId}`));
    const summary = await verifyResult(join(dir, `result-${jobId}`), { descriptor: honest, trustedRoots: [root] });
    expect(summary.admittedBy.map((a) => a.provider)).to.deep.equal(["hospital", "insurer"]);
  });

  it("GIVEN an operator who weakens the room's condition (debug allowed, another executor) WHEN a debug VM runs that executor THEN the room's pool admits it but no provider key opens", async () => {
    // The operator's own room stack: allowDebug, another executor digest; the room's pool now enforces that.
    const weakPolicy = { ...honest.attestation.policy, allowDebug: true, requireStable: false, imageDigests: [OTHER_EXECUTOR] };
    const weak: CleanRoomDescriptor = loadDescriptor({
      ...honest,
      executor: { imageDigest: OTHER_EXECUTOR, imageReference: honest.executor.imageReference!.replace(/@sha256:.*$/, `@${OTHER_EXECUTOR}`) },
      attestation: { ...honest.attestation, policy: weakPolicy, condition: buildAttestationCondition(weakPolicy) },
    });
    fake.poolConditions.set(honest.gcp!.poolProviderName, weak.attestation.condition);
    operatorRedeploysRoomFor(OTHER_EXECUTOR);

    const { st, receipt } = await runAs(weak, { imageDigest: OTHER_EXECUTOR, debug: true });
    expect(st.state).to.equal("failed");
    expect(st.errorCode).to.equal("denied");
    expect(st.detail).to.match(/Provider "hospital" did not admit this run \(provider "hospital"'s own condition rejected its claims/);
    // The weakening took effect where the operator has the say: the room's pool issued a token (bundle read, receipt written)...
    expect([...fake.stsPools.values()]).to.include(honest.gcp!.poolName);
    // ...and nowhere else: no provider's pool issued one, no key opened, nothing was admitted and nothing came out.
    const providerPools = honest.providers.map((p) => p.attestation!.poolProviderName!.replace(/\/providers\/[^/]+$/, ""));
    for (const pool of providerPools) expect([...fake.stsPools.values()]).to.not.include(pool);
    expect(fake.sent(/:decrypt$/, "POST")).to.deep.equal([]);
    expect(receipt.admittedBy).to.deep.equal([]);
    expect(receipt.outputs).to.deep.equal([]);
  });

  it("GIVEN the operator also points the providers at the room's weak pool in the descriptor WHEN the debug VM runs THEN KMS refuses: a provider's key admits only its own pool's principals", async () => {
    const weakPolicy = { ...honest.attestation.policy, allowDebug: true, requireStable: false, imageDigests: [OTHER_EXECUTOR] };
    const weakCondition = buildAttestationCondition(weakPolicy);
    const weak: CleanRoomDescriptor = loadDescriptor({
      ...honest,
      executor: { imageDigest: OTHER_EXECUTOR, imageReference: honest.executor.imageReference!.replace(/@sha256:.*$/, `@${OTHER_EXECUTOR}`) },
      attestation: { ...honest.attestation, policy: weakPolicy, condition: weakCondition },
      // Every provider "trusts" the room's pool and the weak policy, as far as this descriptor says.
      providers: honest.providers.map((p) => ({ ...p, attestation: { policy: weakPolicy, condition: weakCondition, poolProviderName: honest.gcp!.poolProviderName } })),
    });
    fake.poolConditions.set(honest.gcp!.poolProviderName, weakCondition);
    operatorRedeploysRoomFor(OTHER_EXECUTOR);

    // The provider's own bucket IAM admits only its own pool's principals: the wrapped key is not even readable.
    const first = await runAs(weak, { imageDigest: OTHER_EXECUTOR, debug: true });
    expect(first.st.state).to.equal("failed");
    expect(first.st.errorCode).to.equal("denied");
    expect(first.st.detail).to.match(/did not admit this run/);
    expect(fake.sent(/:decrypt$/, "POST")).to.deep.equal([]);
    expect(first.receipt.admittedBy).to.deep.equal([]);

    // Even with the providers' buckets open to it, the exchange succeeds (only the room's pool is asked) and KMS is
    // asked: the key's own IAM refuses it.
    for (const p of honest.providers) fake.bucketBindings.delete(p.dataUri.slice("gs://".length));
    fake.requests.length = 0;
    const { st, receipt } = await runAs(weak, { imageDigest: OTHER_EXECUTOR, debug: true });
    expect(st.state).to.equal("failed");
    expect(st.errorCode).to.equal("denied");
    expect(fake.sent(/:decrypt$/, "POST").length).to.be.greaterThan(0);
    expect(st.detail).to.match(/Cloud KMS refused this workload/);
    expect(receipt.admittedBy).to.deep.equal([]);
  });

  describe("stage-2 DP spends into the provider's ledger", () => {
    const LEDGER = ".dp-ledger/admissions/";
    let hospitalBucket: string;

    before(async () => {
      hospitalBucket = honest.providers.find((p) => p.name === "hospital")!.dataUri.slice("gs://".length);
      // The hospital starts the dataset's ledger with its own key (its staff's credentials, not a workload's).
      const { key } = await loadOrCreateLedgerKey();
      await PrivacyLedger.open({ store: roomLedgerStore(honest, "hospital", "admissions"), dataset: "admissions", budget: { epsilon: 4, delta: 1e-9 }, signer: providerSigner(key) });
    });

    /** The ledger's entries, as stored in the hospital's bucket. */
    function ledgerObjects(): string[] {
      return [...(fake.buckets.get(hospitalBucket)?.keys() ?? [])].filter((k) => k.startsWith(LEDGER)).sort();
    }

    it("GIVEN the hospital's plan (create-only under .dp-ledger/ for its approved jobs) WHEN an approved job asks for noise THEN the executor appends the attested spend as the hospital's own pool identity", async () => {
      const { st, receipt, jobId, c } = await runAs(honest, { imageDigest: honest.executor.imageDigest }, dpJob);
      expect(st.state, st.detail).to.equal("succeeded");
      expect(ledgerObjects().map((k) => k.slice(LEDGER.length))).to.deep.equal(["00000000.json", "00000001.json"]);
      // Written by a federated token of the hospital's own pool, create-only, past the bucket's IAM condition.
      const write = fake.requests.find((r) => r.method === "POST" && r.path.startsWith(`/upload/storage/v1/b/${hospitalBucket}/`) && r.query.name === `${LEDGER}00000001.json`)!;
      expect(write.query.ifGenerationMatch).to.equal("0");
      const bearer = String(write.headers.authorization).replace(/^Bearer /, "");
      expect(fake.stsPools.get(bearer)).to.equal(honest.providers.find((p) => p.name === "hospital")!.attestation!.poolProviderName!.replace(/\/providers\/[^/]+$/, ""));
      expect(receipt.dp).to.have.length(1);
      expect(receipt.dp![0]).to.include({ provider: "hospital", dataset: "admissions", seq: 1 });
      // The spend verifies offline: the hash chain, and the entry's attestation token against the room.
      const v = await verifyLedger(roomLedgerStore(honest, "hospital", "admissions"), { room: honest, trustedRoots: [root] });
      expect(v.attested).to.equal(1);
      await c.release(jobId);
      await c.fetch(jobId, join(dir, `dp-${jobId}`));
      const out = JSON.parse(readFileSync(join(dir, `dp-${jobId}`, "outputs", "count.json"), "utf8")) as { entry?: string };
      expect(out.entry).to.equal(receipt.dp![0].entry);
    });

    it("GIVEN a plan without the ledger grant WHEN the same job asks for noise THEN Cloud Storage refuses the entry (403): no spend, no noise", async () => {
      const bindings = fake.bucketBindings.get(hospitalBucket)!;
      fake.bucketBindings.set(hospitalBucket, bindings.filter((b) => b.role !== "roles/storage.objectCreator" || b.condition === undefined));
      const before = ledgerObjects();
      const { st, receipt, jobId } = await runAs(honest, { imageDigest: honest.executor.imageDigest }, dpJob);
      expect(st.state, st.detail).to.equal("succeeded");
      expect(ledgerObjects()).to.deep.equal(before);
      expect(receipt.dp ?? []).to.deep.equal([]);
      // The budget had room for it: the executor did try to create the entry, and the bucket refused it.
      const refused = fake.requests.filter((r) => r.method === "POST" && r.query.name?.startsWith(LEDGER));
      expect(refused.length).to.be.greaterThan(0);
      const out = JSON.parse(fake.getObject(honest.storage.quarantine.slice("gs://".length), `${jobId}/outputs/count.json`)!.toString("utf8")) as { error?: string };
      expect(out.error).to.equal("denied");
    });
  });
});

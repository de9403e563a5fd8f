/**
 * Each provider owns its trust, on the loopback Google APIs: the hospital and the insurer are deployed from their own
 * programs (examples/multi-party/{hospital,insurer}), the room from its own (examples/multi-party), all under the
 * component harness's mocks, and the plans are applied to the fakes: STS judges each exchange by the condition of the
 * pool provider it names (core's CEL engine), KMS admits exactly the principal sets the plans bound to each key.
 *
 * The acceptance case: a room operator who weakens the room's condition (debug images allowed, another executor
 * digest) gets job bundles and quarantine through the room's pool, but no provider key, because each provider's own
 * condition is strict.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt, policyDigest } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { GCP_API_ENDPOINT_ENV, GcpRoomClient, POLL_INTERVAL_ENV, RETRY_BASE_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { type MockRun, runExampleUnderMocks } from "../components/harness.js";
import { testChains } from "../verify/pki.js";
import { FakeTeeServer, FakeVm } from "./fakes/confidential-space.js";
import { GcpFake } from "./fakes/gcp-fake.js";

const DOCKERFILE = join(__dirname, "..", "..", "executor", "Dockerfile");
const FAST = { attempts: 3, permissionAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 };
const OTHER_EXECUTOR = `sha256:${"9".repeat(64)}`;
const POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";

describe("gcp/provider trust: each provider's own pool and condition decide its key", function () {
  this.timeout(120_000);
  let fake: GcpFake;
  let tee: FakeTeeServer;
  let dir: string;
  let root: string;
  let joint: PackedJob;
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
    for (const run of runs) {
      for (const r of run.resources) {
        if (r.type === "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember" && r.inputs.role === "roles/cloudkms.cryptoKeyDecrypter") {
          const set = fake.kmsPrincipals.get(String(r.inputs.cryptoKeyId)) ?? new Set<string>();
          set.add(String(r.inputs.member));
          fake.kmsPrincipals.set(String(r.inputs.cryptoKeyId), set);
        }
        if (r.type === POOL_PROVIDER) fake.poolConditions.set(r.id!, String(r.inputs.attributeCondition));
      }
    }
  }

  /** Submits `job` with `d`, as a VM that attests `vm`; returns the committed receipt. */
  async function runAs(d: CleanRoomDescriptor, vm: { imageDigest: string; debug?: boolean }) {
    const fakeVm = new FakeVm(fake, tee, { dockerfile: DOCKERFILE, serviceAccount: d.gcp!.workloadServiceAccount, project: d.gcp!.project, ...vm });
    const c = client(d);
    const { jobId } = await c.submit(joint);
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
    // Each organisation deploys its own program; both approve this job digest.
    const overrides = {
      "multi-party/hospital": { "cleanroom-hospital:jointJob": joint.jobDigest },
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

    const { st, receipt } = await runAs(weak, { imageDigest: OTHER_EXECUTOR, debug: true });
    expect(st.state).to.equal("failed");
    expect(st.errorCode).to.equal("denied");
    // The exchange succeeded (only the room's pool was asked) and KMS was asked: the key's own IAM refused it.
    expect(fake.sent(/:decrypt$/, "POST").length).to.be.greaterThan(0);
    expect(st.detail).to.match(/Cloud KMS refused this workload/);
    expect(receipt.admittedBy).to.deep.equal([]);
  });
});

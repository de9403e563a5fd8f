/**
 * The console on a GCP room, against the loopback Google APIs (tests/gcp/fakes) with the real @google-cloud/storage
 * client: the room is the quickstart example's plan under the component harness's mocks. The insurer provisions stage
 * 1 with its credentials; the data scientist's console lists and serves the stage-1 objects from `gs://`, and shows
 * the ε figures from the ledger when its user may read the insurer's bucket, else from the summary published beside
 * the artefact, else says why there are none. The provider's console prints the `pulumi config set` line that
 * approves a job, and that line, applied to the example's config, grants the job the insurer's key.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { jobDigestPrincipalSet } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { type RunningConsole, startConsole } from "../../src/runtime/console/server.js";
import { RequestStore } from "../../src/runtime/console/requests.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { GCP_API_ENDPOINT_ENV, RETRY_BASE_ENV, TEST_TOKEN_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { produceStage1, type Stage1PrivacySummary } from "../../src/runtime/provision/stage1.js";
import { cliInProcess } from "../cli-harness.js";
import { EXAMPLES, runExampleUnderMocks, runProgramUnderMocks } from "../components/harness.js";
import { GcpFake } from "../gcp/fakes/gcp-fake.js";
import { tempDir } from "../local/helpers.js";
import { raw, signIn } from "./http.js";
import { QUICKSTART } from "./room.js";

const DECRYPTER_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember";

/** A dataset's row of the workspace page. */
async function row(c: RunningConsole, dataset: string): Promise<string> {
  const s = await signIn(c);
  const page = await raw({ port: c.port! }, "GET", "/workspace", { host: s.host, cookie: s.cookie });
  expect(page.status, page.body).to.equal(200);
  return new RegExp(`<tr data-dataset="${dataset}">([\\s\\S]*?)</tr>`).exec(page.body)?.[1] ?? page.body;
}

const cell = (r: string, which: "spent" | "left") => new RegExp(`<td data-epsilon="${which}">([0-9.]*)`).exec(r)?.[1];

describe("console: on a GCP room (loopback Google APIs, real Cloud Storage client)", function () {
  this.timeout(180_000);
  let fake: GcpFake;
  let room: CleanRoomDescriptor;
  let roomPath: string;
  let work: string;
  let dataBucket: string;
  let stage1Bucket: string;
  let ds: RunningConsole;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    fake = await new GcpFake().start();
    for (const k of [GCP_API_ENDPOINT_ENV, RETRY_BASE_ENV, TEST_TOKEN_ENV]) saved[k] = process.env[k];
    process.env[GCP_API_ENDPOINT_ENV] = fake.url;
    process.env[RETRY_BASE_ENV] = "5";
    work = await tempDir("console-gcp");
    room = ((await runExampleUnderMocks("quickstart")).outputs as { descriptor: CleanRoomDescriptor }).descriptor;
    roomPath = join(work, "room.json");
    writeFileSync(roomPath, JSON.stringify(room, null, 2));
    dataBucket = room.providers[0]!.dataUri.slice("gs://".length);
    stage1Bucket = room.storage.stage1.slice("gs://".length).replace(/\/.*$/, "");
    // The insurer's steward provisions stage 1 with their own credentials (grantProvision).
    process.env[TEST_TOKEN_ENV] = "provider-token";
    await produceStage1(room, "insurer", "claims", join(QUICKSTART, "data", "insurance.csv"));
    // The data scientist reads the stage-1 bucket, not the insurer's.
    process.env[TEST_TOKEN_ENV] = "scientist-token";
    fake.readDenied.push({ bucket: dataBucket, token: "scientist-token" });
    ds = await startConsole({ room: roomPath, stateDir: join(work, "ds") });
  });

  after(async () => {
    await ds?.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake?.stop();
  });

  /** `cleanroom dp ledger show --json`, as the insurer. */
  async function ledgerShow(): Promise<{ spent: { epsilon: number } }> {
    const token = process.env[TEST_TOKEN_ENV];
    process.env[TEST_TOKEN_ENV] = "provider-token";
    try {
      const r = await cliInProcess(["dp", "ledger", "show", `${room.providers[0]!.dataUri}/.dp-ledger/claims`, "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      return JSON.parse(r.stdout) as { spent: { epsilon: number } };
    } finally {
      process.env[TEST_TOKEN_ENV] = token;
    }
  }

  it("GIVEN `data provision` on GCP WHEN stage 1 is uploaded THEN privacy.json is created beside the artefact, create-only, after it", () => {
    const uploads = fake.requests.filter((q) => q.method === "POST" && q.path === `/upload/storage/v1/b/${stage1Bucket}/o`).map((q) => q.query);
    expect(uploads.map((q) => q.name)).to.deep.equal(["insurer/claims/synthetic.csv", "insurer/claims/privacy.json"]);
    expect(uploads.every((q) => q.ifGenerationMatch === "0")).to.equal(true);
    const summary = JSON.parse(fake.getObject(stage1Bucket, "insurer/claims/privacy.json")!.toString("utf8")) as Stage1PrivacySummary;
    expect(summary).to.include({ provider: "insurer", dataset: "claims" });
    expect(summary.ledger.spends).to.equal(1);
  });

  it("GIVEN a data scientist who cannot read the insurer's bucket WHEN the workspace page opens THEN it lists the gs:// artefact and the ε figures published with the release, saying they are a snapshot", async () => {
    const r = await row(ds, "insurer/claims");
    expect(r).to.include('href="/stage1/insurer/claims/synthetic.csv"');
    const show = await ledgerShow();
    expect(cell(r, "spent")).to.equal(show.spent.epsilon.toFixed(3));
    expect(r).to.include("as published");
    // The ledger really was asked, and refused.
    expect(fake.requests.some((q) => q.path === `/storage/v1/b/${dataBucket}/o` && q.headers.authorization === "Bearer scientist-token")).to.equal(true);
    const s = await signIn(ds);
    const page = await raw({ port: ds.port! }, "GET", "/workspace", { host: s.host, cookie: s.cookie });
    expect(page.body).to.match(/in insurer&#39;s bucket, which your credentials cannot read: these figures are those insurer published with the release of \d{4}-/);
  });

  it("GIVEN the artefact WHEN downloaded from the console THEN its bytes are the stage-1 object's", async () => {
    const s = await signIn(ds);
    const got = await raw({ port: ds.port! }, "GET", "/stage1/insurer/claims/synthetic.csv", { host: s.host, cookie: s.cookie });
    expect(got.status).to.equal(200);
    expect(got.body).to.equal(fake.getObject(stage1Bucket, "insurer/claims/synthetic.csv")!.toString("utf8"));
    expect(String(got.headers["content-disposition"])).to.include("attachment");
  });

  it("GIVEN a reader of the insurer's bucket WHEN the page opens THEN the figures come from the ledger itself, not the snapshot", async () => {
    fake.readDenied.length = 0;
    try {
      const r = await row(ds, "insurer/claims");
      expect(cell(r, "spent")).to.equal((await ledgerShow()).spent.epsilon.toFixed(3));
      expect(r).to.not.include("as published");
    } finally {
      fake.readDenied.push({ bucket: dataBucket, token: "scientist-token" });
    }
  });

  it("GIVEN no summary beside the artefact WHEN the ledger cannot be read THEN the page shows no figures and says why", async () => {
    const summary = fake.buckets.get(stage1Bucket)!.get("insurer/claims/privacy.json")!;
    fake.buckets.get(stage1Bucket)!.delete("insurer/claims/privacy.json");
    try {
      const r = await row(ds, "insurer/claims");
      expect(cell(r, "spent")).to.equal(undefined);
      expect(r).to.include("which your credentials cannot read, and no ε summary (privacy.json) was published beside the artefact");
      expect(r).to.include("synthetic.csv");
    } finally {
      fake.buckets.get(stage1Bucket)!.set("insurer/claims/privacy.json", summary);
    }
  });

  it("GIVEN the stage-1 bucket unreadable too WHEN the page opens THEN the row says the listing was refused and the page still renders", async () => {
    fake.readDenied.push({ bucket: stage1Bucket, token: "scientist-token" });
    try {
      const r = await row(ds, "insurer/claims");
      expect(r).to.match(/You may not list gs:\/\/[^ ]+\/insurer\/claims with your credentials \(HTTP 403\)/);
    } finally {
      fake.readDenied.pop();
    }
  });

  it("GIVEN a job to approve WHEN the insurer approves it in the console THEN it prints the `pulumi config set` line, which grants the job the insurer's key when applied to the example", async () => {
    const packed = await packJob(join(QUICKSTART, "jobs", "regression"), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed") });
    const requestsDir = join(work, "requests");
    await new RequestStore(requestsDir).add(packed);
    const prov = await startConsole({ room: roomPath, provider: "insurer", stateDir: join(work, "prov"), requestsDir });
    try {
      const s = await signIn(prov);
      const res = await raw({ port: prov.port! }, "POST", "/provider/approve", { host: s.host, cookie: s.cookie, origin: s.origin }, `_csrf=${s.csrf}&digest=${encodeURIComponent(packed.jobDigest)}`);
      expect(res.status).to.equal(200);
      const line = /<pre id="approve-command">(pulumi config set [^\n<]*)/.exec(res.body)?.[1]?.replace(/&#39;/g, "'");
      expect(line).to.equal(`pulumi config set --path 'approvedJobs[1]' ${packed.jobDigest}`);

      // `pulumi config set --path 'approvedJobs[1]' <digest>` on the example's config (index 1: one digest is there).
      const m = /--path 'approvedJobs\[(\d+)\]' (\S+)$/.exec(line!)!;
      const key = "cleanroom-quickstart:approvedJobs";
      const list = JSON.parse(EXAMPLES.quickstart!.config[key]!) as string[];
      expect(Number(m[1])).to.equal(list.length);
      list[Number(m[1])] = m[2]!;
      const program = join(QUICKSTART, "index.ts");
      const run = await runProgramUnderMocks(
        () => {
          delete require.cache[require.resolve(program)];
          return { ...require(program) };
        },
        { project: "cleanroom-quickstart", config: { ...EXAMPLES.quickstart!.config, [key]: JSON.stringify(list) } },
      );
      const pool = room.providers[0]!.attestation!.poolProviderName!.replace(/\/providers\/[^/]+$/, "");
      const decrypters = run.resources.filter((r) => r.type === DECRYPTER_MEMBER && r.inputs.role === "roles/cloudkms.cryptoKeyDecrypter").map((r) => r.inputs.member);
      expect(decrypters).to.include(jobDigestPrincipalSet(pool, packed.jobDigest));
      expect((await runExampleUnderMocks("quickstart")).resources.filter((r) => r.type === DECRYPTER_MEMBER).map((r) => r.inputs.member)).to.not.include(
        jobDigestPrincipalSet(pool, packed.jobDigest),
      );
    } finally {
      await prov.close();
    }
  });
});

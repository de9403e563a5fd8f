// `data provision`'s stage-1 step on a GCP room, against the loopback Cloud Storage fake: the release is staged
// locally, then ledger.json and the artefact are uploaded create-only to <stage1>/<provider>/<dataset>/.
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import type { LedgerFile } from "../../src/runtime/dp/ledger.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { GCP_API_ENDPOINT_ENV, RETRY_BASE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { produceStage1 } from "../../src/runtime/provision/stage1.js";
import { gcpDescriptor } from "../core/fixtures.js";
import { GcpFake } from "../gcp/fakes/gcp-fake.js";
import { INSURANCE_CSV, loadSchema } from "./utility.js";

describe("dp stage 1 on a GCP room (loopback Cloud Storage)", function () {
  this.timeout(60_000);
  let fake: GcpFake;
  const saved: Record<string, string | undefined> = {};
  let room: CleanRoomDescriptor;

  before(async () => {
    fake = await new GcpFake().start();
    for (const k of [GCP_API_ENDPOINT_ENV, RETRY_BASE_ENV]) saved[k] = process.env[k];
    process.env[GCP_API_ENDPOINT_ENV] = fake.url;
    process.env[RETRY_BASE_ENV] = "5";
    const base = gcpDescriptor();
    room = {
      ...base,
      providers: base.providers.map((p) => ({
        ...p,
        datasets: [{ name: "claims", stage1Method: "aggregates", epsilon: 1, delta: 1e-9, schema: loadSchema() as never }],
      })),
    };
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake?.stop();
  });

  const staged = () => readdirSync(tmpdir()).filter((f) => f.startsWith("acr-stage1-"));

  it("GIVEN a gs:// stage-1 bucket WHEN data provision produces stage 1 THEN the artefact and its ledger entry are uploaded, and a second release is refused", async () => {
    const before = staged();
    const r = await produceStage1(room, "hospital-a", "claims", INSURANCE_CSV, { rng: testRng("gcs-1") });
    expect(r.artefactPath).to.equal("gs://demo-stage1-1a2b/hospital-a/claims/aggregates.json");
    expect(r.ledgerPath).to.equal("gs://demo-stage1-1a2b/hospital-a/claims/ledger.json");
    const bucket = fake.buckets.get("demo-stage1-1a2b");
    expect([...(bucket?.keys() ?? [])].sort()).to.deep.equal(["hospital-a/claims/aggregates.json", "hospital-a/claims/ledger.json"]);
    const artefact = bucket?.get("hospital-a/claims/aggregates.json")?.data as Buffer;
    const ledger = JSON.parse(String(bucket?.get("hospital-a/claims/ledger.json")?.data)) as LedgerFile;
    expect(ledger.entries).to.have.length(1);
    expect(ledger.entries[0]).to.include({ mechanism: "aggregates", epsilon: 1, artefactName: "aggregates.json", testSeeded: true });
    expect(ledger.entries[0].artefact).to.equal(`sha256:${createHash("sha256").update(artefact).digest("hex")}`);
    // The ledger object is written before the artefact (a failure in between over-counts), both create-only.
    const uploads = fake.requests.filter((q) => q.method === "POST" && q.path.startsWith("/upload/")).map((q) => q.query);
    expect(uploads.map((q) => [q.name, q.ifGenerationMatch])).to.deep.equal([
      ["hospital-a/claims/ledger.json", "0"],
      ["hospital-a/claims/aggregates.json", "0"],
    ]);

    const err = await produceStage1(room, "hospital-a", "claims", INSURANCE_CSV, { rng: testRng("gcs-2") }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("budget-exceeded");
    expect((err as CleanRoomError).message).to.match(/already exists.*Nothing was uploaded/);
    expect(bucket?.get("hospital-a/claims/aggregates.json")?.data.equals(artefact)).to.equal(true);
    // The staging directories are gone.
    expect(staged()).to.deep.equal(before);
  });
});

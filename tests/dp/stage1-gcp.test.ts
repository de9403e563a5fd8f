// `data provision`'s stage-1 step on a GCP room, against the loopback Cloud Storage fake: the release is staged
// locally after its spend is in the ledger (the provider's bucket), then the artefact and its public ε summary
// (privacy.json) are uploaded create-only to <stage1>/<provider>/<dataset>/.
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { type LedgerEntry, PrivacyLedger, summarize } from "../../src/runtime/dp/ledger.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { gcsLedgerStore } from "../../src/runtime/platforms/gcp/ledger-store.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { GCP_API_ENDPOINT_ENV, RETRY_BASE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { produceStage1, roomLedgerStore, type Stage1PrivacySummary } from "../../src/runtime/provision/stage1.js";
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

  it("GIVEN a gs:// room WHEN data provision produces stage 1 THEN the spend goes create-only into the provider's bucket's ledger, the artefact to the stage-1 bucket, and a second release is refused", async () => {
    const before = staged();
    const data = parseGs(room.providers.find((p) => p.name === "hospital-a")?.dataUri as string);
    const r = await produceStage1(room, "hospital-a", "claims", INSURANCE_CSV, { rng: testRng("gcs-1") });
    expect(r.artefactPath).to.equal("gs://demo-stage1-1a2b/hospital-a/claims/aggregates.json");
    expect(r.ledgerPath).to.equal(`gs://${data.bucket}/${data.prefix}.dp-ledger/claims`);
    expect(r.summaryPath).to.equal("gs://demo-stage1-1a2b/hospital-a/claims/privacy.json");
    expect([...(fake.buckets.get("demo-stage1-1a2b")?.keys() ?? [])]).to.deep.equal(["hospital-a/claims/aggregates.json", "hospital-a/claims/privacy.json"]);
    const artefact = fake.buckets.get("demo-stage1-1a2b")?.get("hospital-a/claims/aggregates.json")?.data as Buffer;
    const ledgerObjects = [...(fake.buckets.get(data.bucket)?.keys() ?? [])].filter((k) => k.includes(".dp-ledger/claims/")).sort();
    expect(ledgerObjects.map((k) => k.slice(k.lastIndexOf("/") + 1))).to.deep.equal(["00000000.json", "00000001.json", "00000002.json"]);
    const state = await roomLedgerStore(room, "hospital-a", "claims").list();
    const entries = state.map((e) => JSON.parse(e.bytes.toString("utf8")) as LedgerEntry);
    expect(entries.map((e) => e.kind)).to.deep.equal(["genesis", "spend", "artefact"]);
    expect(entries[1]).to.include({ mechanism: "aggregates", epsilon: 1, testSeeded: true });
    expect(entries[2]).to.include({ artefact: `sha256:${createHash("sha256").update(artefact).digest("hex")}` });
    // Every entry and the artefact are uploaded create-only; the spend first (a failure after it over-counts).
    const uploads = fake.requests.filter((q) => q.method === "POST" && q.path.startsWith("/upload/")).map((q) => q.query);
    expect(uploads.every((q) => q.ifGenerationMatch === "0")).to.equal(true);
    expect(uploads.map((q) => q.name.slice(q.name.lastIndexOf("/") + 1))).to.deep.equal(["00000000.json", "00000001.json", "00000002.json", "aggregates.json", "privacy.json"]);
    // The summary publishes the release's cost and the ledger as it stood after it (its head: the artefact entry).
    const summary = JSON.parse(fake.buckets.get("demo-stage1-1a2b")?.get("hospital-a/claims/privacy.json")?.data.toString("utf8") ?? "{}") as Stage1PrivacySummary;
    expect(summary.artefact).to.deep.equal({ name: "aggregates.json", digest: entries[2]!.kind === "artefact" ? entries[2]!.artefact : "" });
    expect(summary.release).to.include({ epsilon: 1, ledgerEntry: 1 });
    expect(summary.ledger).to.include({ budgetEpsilon: 1, spends: 1, entries: 3, head: summarize("ledger", state).head });

    const err = await produceStage1(room, "hospital-a", "claims", INSURANCE_CSV, { rng: testRng("gcs-2") }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("budget-exceeded");
    expect(fake.buckets.get("demo-stage1-1a2b")?.get("hospital-a/claims/aggregates.json")?.data.equals(artefact)).to.equal(true);
    // The staging directories are gone.
    expect(staged()).to.deep.equal(before);
  });

  it("GIVEN a later release after a budget change WHEN uploaded THEN the artefact and its summary are numbered alike, the first ones untouched", async () => {
    const bigger: CleanRoomDescriptor = { ...room, providers: room.providers.map((p) => ({ ...p, datasets: p.datasets.map((d) => ({ ...d, epsilon: 2 })) })) };
    const firstSummary = fake.buckets.get("demo-stage1-1a2b")?.get("hospital-a/claims/privacy.json")?.data as Buffer;
    const r = await produceStage1(bigger, "hospital-a", "claims", INSURANCE_CSV, { rng: testRng("gcs-3"), forceBudgetChange: true, epsilon: 0.5 });
    const seq = r.report!.ledgerEntry!.seq;
    expect(r.artefactPath).to.equal(`gs://demo-stage1-1a2b/hospital-a/claims/aggregates-${seq}.json`);
    expect(r.summaryPath).to.equal(`gs://demo-stage1-1a2b/hospital-a/claims/privacy-${seq}.json`);
    const later = JSON.parse(fake.buckets.get("demo-stage1-1a2b")?.get(`hospital-a/claims/privacy-${seq}.json`)?.data.toString("utf8") ?? "{}") as Stage1PrivacySummary;
    expect(later.artefact.name).to.equal("aggregates.json");
    expect(later.release.ledgerEntry).to.equal(seq);
    expect(later.ledger).to.include({ budgetEpsilon: 2, spends: 2 });
    expect(fake.buckets.get("demo-stage1-1a2b")?.get("hospital-a/claims/privacy.json")?.data.equals(firstSummary)).to.equal(true);
  });

  it("GIVEN four spenders on one GCS ledger at once WHEN each asks for 40% of the budget THEN generation preconditions let exactly two through", async () => {
    const { key } = await loadOrCreateLedgerKey();
    const uri = "gs://demo-stage1-1a2b/race/.dp-ledger/claims";
    const open = () => PrivacyLedger.open({ store: gcsLedgerStore(uri), dataset: "claims", budget: { epsilon: 1, delta: 1e-9 }, signer: providerSigner(key) });
    const budget = cdpRho(1, 1e-9);
    await open();
    const results = await Promise.allSettled([1, 2, 3, 4].map(async () => (await open()).spend({ stage: "query", mechanism: "count", rho: 0.4 * budget })));
    expect(results.filter((r) => r.status === "fulfilled")).to.have.length(2);
    for (const r of results.filter((x) => x.status === "rejected")) expect(((r as PromiseRejectedResult).reason as CleanRoomError).code).to.equal("budget-exceeded");
    const state = await (await open()).state();
    expect(state.spent.rho).to.be.at.most(budget);
    // Some writer lost a race: GCS refused its create with 412 and it re-read the ledger.
    expect(fake.requests.some((q) => q.query.name?.includes("race/.dp-ledger") && q.query.ifGenerationMatch === "0")).to.equal(true);
  });
});

function parseGs(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(uri) as RegExpExecArray;
  return { bucket: m[1], prefix: m[2] ? `${m[2].replace(/\/+$/, "")}/` : "" };
}

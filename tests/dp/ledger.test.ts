// The privacy ledger, DP aggregates, the stage-1 producer and the `cleanroom dp` CLI, on real files in a temp dir.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import type { CleanRoomDescriptor, DescriptorDataset } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildProgram } from "../../src/runtime/cli.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { dpClampedMean, dpCount, dpHistogram } from "../../src/runtime/dp/aggregates.js";
import { PrivacyLedger, type LedgerState, type LedgerTarget } from "../../src/runtime/dp/ledger.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { aggregateCsv, synthesizeCsv } from "../../src/runtime/dp/release.js";
import { TEST_SEED_ENV, testRng } from "../../src/runtime/dp/rng.js";
import { produceStage1, produceStage1Artefact } from "../../src/runtime/provision/stage1.js";
import { INSURANCE_CSV, INSURANCE_SCHEMA, loadSchema, readCsv } from "./utility.js";

async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

/** Runs the CLI in-process and returns what it printed on stdout. */
async function cli(args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await buildProgram().exitOverride().parseAsync(args, { from: "user" });
  } finally {
    process.stdout.write = write;
    process.stderr.write = err;
  }
  return chunks.join("");
}

/** A provider-signed ledger target in `dir`. */
async function target(dir: string, budget?: { epsilon: number; delta: number }, extra: Partial<LedgerTarget> = {}): Promise<LedgerTarget> {
  const { key } = await loadOrCreateLedgerKey();
  return { store: new DirectoryLedgerStore(dir), dataset: "claims", ...(budget ? { budget } : {}), signer: providerSigner(key), ...extra };
}

async function stateOf(dir: string): Promise<LedgerState> {
  return (await PrivacyLedger.open(await target(dir))).state();
}

describe("dp privacy ledger, aggregates and stage 1", function () {
  this.timeout(60_000);
  const schema = loadSchema();
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-ledger-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN a budget of ε=2 WHEN releasing ε=1 four times THEN three fit (zCDP composes sublinearly) and the fourth is refused, writing nothing", async () => {
    const ledgerDir = join(dir, "ledger");
    const ledger = await target(ledgerDir, { epsilon: 2, delta: 1e-9 });
    const common = { input: INSURANCE_CSV, schema, epsilon: 1, delta: 1e-9, ledger, method: "product-of-marginals" };
    await synthesizeCsv({ ...common, output: join(dir, "a.csv"), rng: testRng("l1") });
    await synthesizeCsv({ ...common, output: join(dir, "b.csv"), rng: testRng("l2") });
    await synthesizeCsv({ ...common, output: join(dir, "c.csv"), rng: testRng("l3") });
    const before = readdirSync(ledgerDir).sort();
    const err = await rejection(synthesizeCsv({ ...common, output: join(dir, "d.csv"), rng: testRng("l4") }));
    expect(err.code).to.equal("budget-exceeded");
    expect(err.message).to.match(/left/);
    expect(existsSync(join(dir, "d.csv"))).to.equal(false);
    expect(readdirSync(ledgerDir).sort()).to.deep.equal(before);
    const l = await stateOf(ledgerDir);
    const spends = l.entries.filter((e) => e.kind === "spend");
    expect(spends).to.have.length(3);
    expect(spends[0]).to.include({ mechanism: "product-of-marginals", stage: "stage1", epsilon: 1, delta: 1e-9, testSeeded: true });
    const artefact = l.entries.find((e) => e.kind === "artefact");
    expect(artefact).to.include({ name: "a.csv", spend: spends[0].seq });
    expect(l.spent.rho).to.be.closeTo(3 * cdpRho(1, 1e-9), 1e-9);
    expect(l.budget.rho).to.be.closeTo(cdpRho(2, 1e-9), 1e-12);
    // Three ε=1 releases compose to less than ε=2 in zCDP, reported back through cdpEps.
    expect(l.spent.epsilon).to.be.within(1, 2);
    // No private release directory or temporary entry is left behind.
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).to.deep.equal([]);
    expect(readdirSync(ledgerDir).filter((f) => f.startsWith("."))).to.deep.equal([]);
  });

  it("GIVEN two releases racing for the last of the budget THEN exactly one gets the slot and the other is refused", async () => {
    const ledger = await target(join(dir, "ledger"), { epsilon: 1, delta: 1e-9 });
    const common = { input: INSURANCE_CSV, schema, epsilon: 1, delta: 1e-9, ledger, method: "product-of-marginals" };
    const results = await Promise.allSettled([
      synthesizeCsv({ ...common, output: join(dir, "x.csv"), rng: testRng("r1") }),
      synthesizeCsv({ ...common, output: join(dir, "y.csv"), rng: testRng("r2") }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((failed.reason as CleanRoomError).code).to.equal("budget-exceeded");
    expect((await stateOf(join(dir, "ledger"))).entries.filter((e) => e.kind === "spend")).to.have.length(1);
  });

  it("GIVEN a corrupted ledger entry THEN releases are refused instead of starting a fresh budget", async () => {
    const ledgerDir = join(dir, "ledger");
    await PrivacyLedger.open(await target(ledgerDir, { epsilon: 1, delta: 1e-9 }));
    writeFileSync(join(ledgerDir, "00000000.json"), "{not json");
    const err = await rejection(
      aggregateCsv({ input: INSURANCE_CSV, schema, output: join(dir, "agg.json"), epsilon: 0.5, ledger: await target(ledgerDir, { epsilon: 1, delta: 1e-9 }) }),
    );
    expect(err.code).to.equal("ledger-corrupt");
    expect(err.message).to.match(/not valid JSON/);
  });
  it("GIVEN ε=1 WHEN computing aggregates THEN count, histograms and means are within 6 sd of the truth", async () => {
    const out = join(dir, "aggregates.json");
    const r = await aggregateCsv({ input: INSURANCE_CSV, schema, output: out, epsilon: 1, rng: testRng("agg") });
    const a = JSON.parse(readFileSync(out, "utf8"));
    expect(a.format).to.equal("acr-dp-aggregates-v1");
    expect(r.rho).to.be.at.most(cdpRho(1, 1e-9));
    const real = readCsv(INSURANCE_CSV);
    expect(Math.abs(a.count - real.rows.length)).to.be.below(6 * a.countSd);
    const smoker = a.columns.find((c: { name: string }) => c.name === "smoker");
    const yes = real.rows.filter((x) => x[4] === "yes").length;
    expect(Math.abs(smoker.histogram[0].count - yes)).to.be.below(6 * smoker.histogramSd);
    expect(smoker.histogram.map((h: { label: string }) => h.label)).to.deep.equal(["yes", "no", "(unknown)"]);
    const charges = a.columns.find((c: { name: string }) => c.name === "charges");
    const trueMean = real.rows.reduce((s, x) => s + Number(x[6]), 0) / real.rows.length;
    expect(Math.abs(charges.mean - trueMean) / trueMean).to.be.below(0.1);
    for (const v of [a.count, ...smoker.histogram.map((h: { count: number }) => h.count)]) expect(Number.isInteger(v)).to.equal(true);
  });

  it("GIVEN the aggregate API THEN counts, histograms and clamped means carry integer noise of the stated scale", () => {
    const rng = testRng("api");
    const c = dpCount(100, { rho: 0.5 }, rng);
    expect(c.sd).to.be.closeTo(1, 1e-6);
    expect(Number.isInteger(c.value)).to.equal(true);
    const lap = dpCount(100, { epsilon: 1 }, rng);
    expect(lap.mechanism).to.equal("discrete-laplace");
    expect(lap.rho).to.be.closeTo(0.5, 1e-6);
    const h = dpHistogram([10, 20, 30], { rho: 1 }, rng);
    expect(h.values).to.have.length(3);
    const m = dpClampedMean([1, 2, 3, 100], 0, 10, { rho: 100 }, rng);
    // 100 is clamped to 10: the mean is (1+2+3+10)/4 = 4, and with ρ=100 the noise is tiny.
    expect(m.value as number).to.be.closeTo(4, 0.5);
  });

  it("GIVEN a dataset with stage1Method mst WHEN producing stage 1 twice at its full budget THEN the second is refused", async () => {
    const dataset: DescriptorDataset = { name: "claims", stage1Method: "mst", epsilon: 2, delta: 1e-9, schema: schema as DescriptorDataset["schema"] };
    const outDir = join(dir, "stage1", "insurer", "claims");
    const ledger = new DirectoryLedgerStore(join(dir, "ledger"));
    const r = await produceStage1Artefact({ csvPath: INSURANCE_CSV, dataset, outDir, ledger, rng: testRng("s1") });
    expect(r.artefactPath).to.equal(join(outDir, "synthetic.csv"));
    expect(readdirSync(outDir).sort()).to.deep.equal(["synthetic.csv"]);
    const err = await rejection(produceStage1Artefact({ csvPath: INSURANCE_CSV, dataset, outDir, ledger, rng: testRng("s2") }));
    expect(err.code).to.equal("budget-exceeded");
    const none = await produceStage1Artefact({ csvPath: INSURANCE_CSV, dataset: { ...dataset, stage1Method: "none" }, outDir: join(dir, "none") });
    expect(none).to.deep.equal({ method: "none" });
    expect(existsSync(join(dir, "none"))).to.equal(false);
  });

  it("GIVEN a local room descriptor WHEN `data provision` calls produceStage1 THEN aggregates land in <stage1>/<provider>/<dataset>/ and the spend in the provider's ledger", async () => {
    const stage1 = join(dir, "buckets", "stage1");
    const data = join(dir, "buckets", "providers", "insurer");
    const descriptor = {
      storage: { stage1: pathToFileURL(stage1).href },
      providers: [{ name: "insurer", dataUri: pathToFileURL(data).href, datasets: [{ name: "claims", stage1Method: "aggregates", epsilon: 1, delta: 1e-9, schema }] }],
    } as unknown as CleanRoomDescriptor;
    process.env[TEST_SEED_ENV] = "provision";
    try {
      const r = await produceStage1(descriptor, "insurer", "claims", INSURANCE_CSV);
      expect(r.artefactPath).to.equal(join(stage1, "insurer", "claims", "aggregates.json"));
      expect(r.ledgerPath).to.equal(join(data, ".dp-ledger", "claims"));
      expect(r.report?.testSeeded).to.equal(true);
    } finally {
      delete process.env[TEST_SEED_ENV];
    }
    // The artefact and its public ε summary (privacy.json), nothing else.
    expect(readdirSync(join(stage1, "insurer", "claims")).sort()).to.deep.equal(["aggregates.json", "privacy.json"]);
    // The ledger names the artefact by digest, after the spend with the mechanism and the ρ it cost.
    const l = await stateOf(join(data, ".dp-ledger", "claims"));
    const bytes = readFileSync(join(stage1, "insurer", "claims", "aggregates.json"));
    expect(l.dataset).to.equal("claims");
    expect(l.entries.map((e) => e.kind)).to.deep.equal(["genesis", "spend", "artefact"]);
    expect(l.entries[1]).to.include({ mechanism: "aggregates", stage: "stage1", epsilon: 1, delta: 1e-9 });
    expect(l.entries[2]).to.include({ name: "aggregates.json", artefact: `sha256:${createHash("sha256").update(bytes).digest("hex")}` });
    expect(l.spent.rho).to.be.at.most(cdpRho(1, 1e-9) * (1 + 1e-12));
    expect(Date.parse(l.entries[1].time)).to.be.closeTo(Date.now(), 60_000);
    // A stage-1 URI that is neither file:// nor gs:// (gs:// is uploaded, see stage1-gcp.test.ts) is refused with what to do.
    const other = { ...descriptor, storage: { stage1: "s3://bucket-x" } } as CleanRoomDescriptor;
    expect((await rejection(produceStage1(other, "insurer", "claims", INSURANCE_CSV))).message).to.match(/not a local \(file:\/\/\) directory.*--ledger/);
  });

  it("GIVEN the CLI WHEN synthesizing, aggregating, querying and showing the ledger THEN each prints JSON and the ledger refuses overspending", async () => {
    process.env[TEST_SEED_ENV] = "cli";
    try {
      const ledger = join(dir, "ledger");
      const synth = JSON.parse(
        await cli(["dp", "synthesize", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--epsilon", "2", "--out", join(dir, "s.csv"), "--ledger", ledger, "--dataset", "claims", "--budget-epsilon", "2.5", "--json"]),
      );
      expect(synth).to.include({ method: "mst", epsilon: 2, source: "csv" });
      expect(readCsv(join(dir, "s.csv")).rows.length).to.equal(synth.rows);
      const agg = JSON.parse(await cli(["dp", "aggregate", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--epsilon", "0.5", "--out", join(dir, "a.json"), "--ledger", ledger, "--json"]));
      expect(agg.method).to.equal("aggregates");
      const q = JSON.parse(await cli(["dp", "query", "mean", "charges", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--rho", "0.001", "--ledger", ledger, "--json"]));
      expect(q.value).to.be.within(10000, 16500);
      const shown = JSON.parse(await cli(["dp", "ledger", "show", ledger, "--json"]));
      expect(shown.entries.filter((e: { kind: string }) => e.kind === "spend").map((e: { mechanism: string }) => e.mechanism)).to.deep.equal(["mst", "aggregates", "mean"]);
      const err = await rejection(cli(["dp", "aggregate", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--epsilon", "2", "--out", join(dir, "b.json"), "--ledger", ledger]));
      expect(err.code).to.equal("budget-exceeded");
      const missing = await rejection(cli(["dp", "synthesize", "--input", INSURANCE_CSV, "--schema", join(dir, "nope.json"), "--epsilon", "1", "--out", join(dir, "n.csv")]));
      expect(missing.message).to.match(/Cannot read the schema/);
    } finally {
      delete process.env[TEST_SEED_ENV];
    }
  });
});

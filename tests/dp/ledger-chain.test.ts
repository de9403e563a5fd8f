// The hash-chained ledger: offline verification catches edited, removed and reordered entries; a stored budget is
// never silently replaced; concurrent processes never overspend; a version-1 ledger is refused and migrates.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { DescriptorDataset } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildProgram } from "../../src/runtime/cli.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { verifyLedger } from "../../src/runtime/dp/ledger-verify.js";
import { TEST_SEED_ENV } from "../../src/runtime/dp/rng.js";
import { produceStage1Artefact } from "../../src/runtime/provision/stage1.js";
import { INSURANCE_CSV, INSURANCE_SCHEMA, loadSchema } from "./utility.js";

async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

/** Runs the CLI in-process (JSON on stdout). */
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

const data = ["--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA];

describe("dp ledger chain, budget and concurrency", function () {
  this.timeout(120_000);
  let dir: string;
  let ledger: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-chain-"));
    ledger = join(dir, "ledger");
    process.env[TEST_SEED_ENV] = "chain";
    try {
      // A history of every stage-1 kind: synthetic data, aggregates, two queries.
      await cli(["dp", "synthesize", ...data, "--epsilon", "1", "--method", "product-of-marginals", "--out", join(dir, "s.csv"), "--ledger", ledger, "--dataset", "claims", "--budget-epsilon", "4", "--json"]);
      await cli(["dp", "aggregate", ...data, "--epsilon", "0.5", "--out", join(dir, "a.json"), "--ledger", ledger, "--json"]);
      await cli(["dp", "query", "count", ...data, "--epsilon", "0.2", "--ledger", ledger, "--json"]);
      await cli(["dp", "query", "histogram", "region", ...data, "--rho", "0.001", "--ledger", ledger, "--json"]);
    } finally {
      delete process.env[TEST_SEED_ENV];
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the ledger, changed by `tamper`; returns the verification error. */
  async function tampered(name: string, tamper: (copy: string) => void, head?: string): Promise<CleanRoomError> {
    const copy = join(dir, name);
    cpSync(ledger, copy, { recursive: true });
    tamper(copy);
    return rejection(cli(["dp", "ledger", "verify", copy, "--json", ...(head ? ["--head", head] : [])]));
  }

  it("GIVEN an untouched ledger WHEN verified offline THEN every entry checks and the spends add up", async () => {
    const v = JSON.parse(await cli(["dp", "ledger", "verify", ledger, "--json"]));
    expect(v).to.include({ verified: true, dataset: "claims", entries: 7, signedByProvider: 7, attested: 0 });
    expect(v.spent.rho).to.be.closeTo(cdpRho(1, 1e-9) + cdpRho(0.5, 1e-9) + cdpRho(0.2, 1e-9) + 0.001, 1e-9);
  });

  it("GIVEN an entry whose ρ was edited THEN verify fails on that entry's signature", async () => {
    const err = await tampered("edited", (c) => {
      const p = join(c, "00000003.json");
      const e = JSON.parse(readFileSync(p, "utf8"));
      e.rho = e.rho / 100;
      writeFileSync(p, JSON.stringify(e));
    });
    expect(err.code).to.equal("ledger-corrupt");
    expect(err.message).to.match(/does not follow|does not verify/);
  });

  it("GIVEN a spend entry removed from the middle THEN verify fails naming the gap", async () => {
    const err = await tampered("removed", (c) => unlinkSync(join(c, "00000003.json")));
    expect(err.code).to.equal("ledger-corrupt");
    expect(err.message).to.match(/no entry 00000003.json/);
  });

  it("GIVEN two entries swapped THEN verify fails", async () => {
    const err = await tampered("reordered", (c) => {
      renameSync(join(c, "00000004.json"), join(c, "x"));
      renameSync(join(c, "00000005.json"), join(c, "00000004.json"));
      renameSync(join(c, "x"), join(c, "00000005.json"));
    });
    expect(err.code).to.equal("ledger-corrupt");
  });

  it("GIVEN the last entries cut off WHEN verified with the head kept earlier THEN it fails (without --head the shorter chain is consistent)", async () => {
    const head = JSON.parse(await cli(["dp", "ledger", "verify", ledger, "--json"])).head as string;
    const err = await tampered("truncated", (c) => unlinkSync(join(c, "00000006.json")), head);
    expect(err.message).to.match(/does not contain the head/);
  });

  it("GIVEN a ledger with budget ε=4 WHEN a release gives --budget-epsilon 8 THEN it is refused and nothing changes; --force-budget-change changes it and records the change", async () => {
    const copy = join(dir, "budget");
    cpSync(ledger, copy, { recursive: true });
    const before = readdirSync(copy).sort();
    const q = ["dp", "query", "count", ...data, "--rho", "0.0001", "--ledger", copy];
    const err = await rejection(cli([...q, "--budget-epsilon", "8"]));
    expect(err.code).to.equal("budget-mismatch");
    expect(err.message).to.match(/ε=4.*--force-budget-change/);
    expect(readdirSync(copy).sort()).to.deep.equal(before);
    await cli([...q, "--budget-epsilon", "8", "--force-budget-change", "--json"]);
    const shown = JSON.parse(await cli(["dp", "ledger", "show", copy, "--json"]));
    expect(shown.budget.epsilon).to.equal(8);
    const change = shown.entries.find((e: { kind: string }) => e.kind === "budget-change");
    expect(change.previous.epsilon).to.equal(4);
    expect(change.budget.epsilon).to.equal(8);
    // A budget δ outside the spec's bound is refused.
    const delta = await rejection(cli([...q, "--budget-epsilon", "4", "--budget-delta", "0.5"]));
    expect(delta.message).to.match(/delta must be > 0 and < 0.001/);
  });

  it("GIVEN a dataset ledger with budget ε=2 WHEN data provision's stage 1 runs with a spec budget of ε=3 THEN it is refused instead of rewriting the budget", async () => {
    const schema = loadSchema() as DescriptorDataset["schema"];
    const store = new DirectoryLedgerStore(join(dir, "provision-ledger"));
    const { key } = await loadOrCreateLedgerKey();
    await PrivacyLedger.open({ store, dataset: "claims", budget: { epsilon: 2, delta: 1e-9 }, signer: providerSigner(key) });
    const dataset: DescriptorDataset = { name: "claims", stage1Method: "aggregates", epsilon: 3, delta: 1e-9, schema };
    const err = await rejection(produceStage1Artefact({ csvPath: INSURANCE_CSV, dataset, outDir: join(dir, "prov"), ledger: store }));
    expect(err.code).to.equal("budget-mismatch");
    expect(existsSync(join(dir, "prov", "aggregates.json"))).to.equal(false);
    expect((await verifyLedger(store)).entries).to.have.length(1);
  });

  it("GIVEN three processes spending 40% of the budget each at once THEN exactly two succeed and the ledger stays within budget", async () => {
    const shared = join(dir, "race");
    const { key } = await loadOrCreateLedgerKey();
    const budget = cdpRho(1, 1e-9);
    await PrivacyLedger.open({ store: new DirectoryLedgerStore(shared), dataset: "claims", budget: { epsilon: 1, delta: 1e-9 }, signer: providerSigner(key) });
    const child = join(__dirname, "spend-child.ts");
    const runs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<string>((resolve) => {
            execFile(process.execPath, ["-r", "ts-node/register/transpile-only", child, shared, String(0.4 * budget), INSURANCE_CSV, INSURANCE_SCHEMA], { timeout: 60_000 }, (_e, stdout) =>
              resolve(stdout.trim()),
            );
          }),
      ),
    );
    expect(runs.sort()).to.deep.equal(["budget-exceeded", "ok", "ok"]);
    const v = await verifyLedger(new DirectoryLedgerStore(shared));
    expect(v.entries.filter((e) => e.kind === "spend")).to.have.length(2);
    expect(v.spent.rho).to.be.at.most(budget);
  });

  it("GIVEN a version-1 ledger.json WHEN a release names it THEN it is refused with the migrate command; migrating keeps every spend and verifies", async () => {
    const v1 = join(dir, "ledger-v1.json");
    writeFileSync(
      v1,
      JSON.stringify({
        format: "acr-dp-ledger-v1",
        dataset: "claims",
        budget: { epsilon: 3, delta: 1e-9, rho: cdpRho(3, 1e-9) },
        spent: { rho: 0.07, epsilon: 2 },
        entries: [
          { mechanism: "mst", rho: 0.05, epsilon: 2, delta: 1e-9, time: "2026-01-01T00:00:00.000Z", artefact: `sha256:${"a".repeat(64)}`, artefactName: "synthetic.csv" },
          { mechanism: "aggregates", rho: 0.02, epsilon: 1, delta: 1e-9, time: "2026-01-02T00:00:00.000Z", artefact: `sha256:${"b".repeat(64)}` },
        ],
      }),
    );
    const err = await rejection(cli(["dp", "query", "count", ...data, "--rho", "0.001", "--ledger", v1]));
    expect(err.code).to.equal("ledger-format");
    expect(err.message).to.match(/cleanroom dp ledger migrate .*ledger-v1.json --to/);
    const migrated = join(dir, "migrated");
    await cli(["dp", "ledger", "migrate", v1, "--to", migrated, "--json"]);
    const v = await verifyLedger(new DirectoryLedgerStore(migrated));
    expect(v.budget.epsilon).to.equal(3);
    expect(v.spent.rho).to.be.closeTo(0.07, 1e-12);
    expect(v.entries.filter((e) => e.kind === "spend").map((e) => (e.kind === "spend" ? e.migrated?.time : ""))).to.deep.equal([
      "2026-01-01T00:00:00.000Z",
      "2026-01-02T00:00:00.000Z",
    ]);
  });
});

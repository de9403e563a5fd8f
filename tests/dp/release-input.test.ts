// `cleanroom dp synthesize` given bad input (issue 19): ε outside the spec's bounds, a tiny ε that used to write
// millions of rows, directories for --input/--out, and an interrupted release. Each: a one-line message naming the
// fix, a non-zero exit, nothing left behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { DEFAULT_MAX_SYNTHETIC_ROWS, synthesizeCsv } from "../../src/runtime/dp/release.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { verifyLedger } from "../../src/runtime/dp/ledger-verify.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { runCleanroom, startCleanroom } from "./cli-run.js";
import { INSURANCE_CSV, INSURANCE_SCHEMA, loadSchema } from "./utility.js";
import { WIDE_SCHEMA, writeWideTable } from "./wide-table.js";

async function rejection(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CleanRoomError) return e;
    throw e;
  }
  throw new Error("expected a CleanRoomError");
}

describe("dp synthesize: bad input and interruptions", function () {
  this.timeout(120_000);
  const schema = loadSchema();
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-input-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN ε = 1e9 WHEN synthesizing THEN it is refused with the spec's bound and nothing is written", async () => {
    const out = join(dir, "s.csv");
    const err = await rejection(synthesizeCsv({ input: INSURANCE_CSV, schema, output: out, epsilon: 1e9, rng: testRng("eps") }));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.match(/epsilon must be > 0 and <= 20/);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it("GIVEN ε = 1e-6 on 1,338 rows WHEN synthesizing THEN the noisy row count is capped instead of writing millions of rows", async () => {
    const r = await synthesizeCsv({ input: INSURANCE_CSV, schema, output: join(dir, "s.csv"), epsilon: 1e-6, method: "product-of-marginals", rng: testRng("tiny") });
    expect(r.rows).to.be.at.most(DEFAULT_MAX_SYNTHETIC_ROWS);
    const asked = await rejection(synthesizeCsv({ input: INSURANCE_CSV, schema, output: join(dir, "t.csv"), epsilon: 1, rows: 20_000_000, rng: testRng("rows") }));
    expect(asked.message).to.match(/rows must be an integer from 0 to 10,000,000/);
  });

  it("GIVEN --input or --out naming a directory WHEN running the command THEN one line says what to give, exit 1, no temporary file", async () => {
    mkdirSync(join(dir, "outdir"));
    const input = await runCleanroom(["dp", "synthesize", "--input", dir, "--schema", INSURANCE_SCHEMA, "--epsilon", "1", "--out", join(dir, "s.csv")]);
    expect(input.code).to.equal(1);
    expect(input.stderr.trim().split("\n")).to.have.length(1);
    expect(input.stderr).to.match(/error \[invalid-argument\].*the input .* is a directory; give the CSV file/);
    const out = await runCleanroom(["dp", "synthesize", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--epsilon", "1", "--out", join(dir, "outdir")]);
    expect(out.code).to.equal(1);
    expect(out.stderr.trim().split("\n")).to.have.length(1);
    expect(out.stderr).to.match(/the output .*outdir is a directory; give a file name/);
    expect(readdirSync(dir)).to.deep.equal(["outdir"]);
    expect(readdirSync(join(dir, "outdir"))).to.deep.equal([]);
  });

  it("GIVEN a release interrupted by SIGTERM while it writes its artefact WHEN it ends THEN no partial artefact or private directory is left, the spend stays recorded, and the next release runs (no stale lock)", async () => {
    const { csv } = await writeWideTable(dir, 50_000);
    const schemaPath = join(dir, "wide.schema.json");
    (await import("node:fs")).writeFileSync(schemaPath, JSON.stringify(WIDE_SCHEMA));
    const ledger = join(dir, "ledger");
    const out = join(dir, "out", "s.csv");
    const base = ["dp", "synthesize", "--input", csv, "--schema", schemaPath, "--epsilon", "1", "--out", out, "--source", "duckdb"];
    const args = [...base, "--rows", "1000000", "--ledger", ledger, "--dataset", "wide", "--budget-epsilon", "4"];
    const child = startCleanroom(args);
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
    // Wait until the artefact is being written (its private directory exists), then interrupt the release.
    const writing = () => existsSync(join(dir, "out")) && readdirSync(join(dir, "out")).some((f) => f.startsWith(".cleanroom-release-"));
    const deadline = Date.now() + 90_000;
    while (!writing() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(writing(), "the release never started writing").to.equal(true);
    child.kill("SIGTERM");
    const ex = await exited;
    expect(ex.signal).to.equal("SIGTERM");
    expect(existsSync(out)).to.equal(false);
    expect(existsSync(join(dir, "out")) ? readdirSync(join(dir, "out")) : []).to.deep.equal([]);
    const v = await verifyLedger(new DirectoryLedgerStore(ledger));
    expect(v.entries.map((e) => e.kind)).to.deep.equal(["genesis", "spend"]);
    // Nothing blocks the next release: no lock file exists to go stale.
    const again = await runCleanroom([...base, "--ledger", ledger, "--json", "--method", "product-of-marginals"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(existsSync(out)).to.equal(true);
  });
});

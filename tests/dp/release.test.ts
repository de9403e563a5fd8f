// Releases in process on a small table (issue 20, dp-release mutation path): the checks before a release, the
// artefact written through a private directory, the three synthesizers and the aggregates with their ledger entries,
// and the aggregates' values checked against the noise the same seeded stream draws.
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { csvAggregateSource } from "../../src/runtime/dp/aggregate-source.js";
import { ClampedSum, drawNoise, meanOf, releaseSum } from "../../src/runtime/dp/aggregates.js";
import { aim, planAim } from "../../src/runtime/dp/aim.js";
import { buildDomain } from "../../src/runtime/dp/domain.js";
import { drawIndependentNoise, planIndependent, productOfMarginals } from "../../src/runtime/dp/independent.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { CountTables, csvSource, type MarginalSource, pairIndex, parseSourceSpec, tablesOfColumns } from "../../src/runtime/dp/marginal-source.js";
import { drawMstNoise, mst, planMst } from "../../src/runtime/dp/mst.js";
import {
  AGGREGATES_FORMAT,
  aggregateCsv,
  checkRelease,
  computeAggregates,
  DEFAULT_MAX_SYNTHETIC_ROWS,
  MAX_SYNTHETIC_ROWS,
  SYNTHESIZERS,
  synthesizeCsv,
  writeArtefact,
} from "../../src/runtime/dp/release.js";
import { type SecureRng, testRng } from "../../src/runtime/dp/rng.js";
import { writeDecodedCsv } from "../../src/runtime/dp/table.js";

const SCHEMA = {
  columns: [
    { name: "region", type: "categorical", categories: ["north", "south", "east"] },
    { name: "age", type: "numeric", min: 18, max: 65, bins: 4, integer: true },
    { name: "charge", type: "numeric", min: 0, max: 1000, bins: 5 },
  ],
};
const ROWS = 300;

function csvText(): string {
  const lines = ["region,age,charge"];
  for (let i = 0; i < ROWS; i++) lines.push(`${["north", "south", "east", "west"][i % 4]},${18 + ((i * 7) % 50)},${(i * 37) % 1200}`);
  return `${lines.join("\n")}\n`;
}

function refused(fn: () => unknown): CleanRoomError & { problems?: string[] } {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    return e as CleanRoomError & { problems?: string[] };
  }
  throw new Error("expected a CleanRoomError");
}

async function rejected(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    return e as CleanRoomError;
  }
  throw new Error("expected a CleanRoomError");
}

/** Resolves once `done()` holds (polled), or rejects after `ms`. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha = (path: string) => `sha256:${createHash("sha256").update(readFileSync(path)).digest("hex")}`;

describe("dp releases in process (small table)", function () {
  this.timeout(60_000);
  let dir: string;
  let input: string;
  const signer = providerSigner(generateKeyPairSync("ed25519").privateKey);
  const ledgerAt = (name: string) => ({ store: new DirectoryLedgerStore(join(dir, name)), dataset: "claims", budget: { epsilon: 10, delta: 1e-9 }, signer });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dp-release-"));
    input = join(dir, "data.csv");
    writeFileSync(input, csvText());
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN release options THEN every problem (ε, δ, input, output) is listed, and the bounds themselves are accepted", () => {
    const ok = { input, schema: SCHEMA, output: join(dir, "out.csv"), epsilon: 1 };
    checkRelease(ok);
    checkRelease({ ...ok, epsilon: 20, delta: 0.000999 });
    checkRelease({ ...ok, input: join(dir, "nothing") }, false);
    const one = (o: object, inputIsFile = true) => refused(() => checkRelease({ ...ok, ...o }, inputIsFile)).problems ?? [];
    expect(one({ epsilon: 0 })).to.have.length(1);
    expect(one({ epsilon: 20.01 })[0]).to.match(/^epsilon must be > 0 and <= 20/);
    expect(one({ epsilon: "1" })).to.have.length(1);
    expect(one({ epsilon: Number.NaN })).to.have.length(1);
    expect(one({ delta: 0 })[0]).to.match(/^delta must be > 0 and < 0.001/);
    expect(one({ delta: 1e-3 })).to.have.length(1);
    expect(one({ input: join(dir, "nothing") })).to.deep.equal([`the input ${join(dir, "nothing")} does not exist`]);
    expect(one({ input: dir })).to.deep.equal([`the input ${dir} is a directory; give the CSV file`]);
    expect(one({ input: "/dev/null" })).to.deep.equal(["the input /dev/null is a special file; give the CSV file"]);
    expect(one({ output: dir })).to.deep.equal([`the output ${dir} is a directory; give a file name, e.g. ${join(dir, "synthetic.csv")}`]);
    expect(one({ output: "/dev/null" })).to.deep.equal(["the output /dev/null is not a regular file"]);
    expect(one({ output: join(input, "out.csv") })).to.deep.equal([`the output's directory ${input} is a file`]);
    const all = refused(() => checkRelease({ input: dir, schema: SCHEMA, output: dir, epsilon: -1, delta: 1 }));
    expect(all.code).to.equal("invalid-argument");
    expect(all.problems).to.have.length(4);
    checkRelease({ ...ok, output: input });
  });

  it("GIVEN an artefact writer THEN the file appears whole with its digest, the directory is made, and nothing else is left", async () => {
    const out = join(dir, "new", "sub", "a.txt");
    const before = process.listenerCount("SIGTERM");
    const beforeInt = process.listenerCount("SIGINT");
    const digest = await writeArtefact(out, async (tmp) => {
      expect(tmp).to.not.equal(out);
      expect(tmp.slice(0, -"/a.txt".length)).to.match(/\/new\/sub\/\.cleanroom-release-[^/]+$/);
      expect(statSync(join(tmp, "..")).mode & 0o777).to.equal(0o700);
      expect(process.listenerCount("SIGTERM")).to.equal(before + 1);
      writeFileSync(tmp, "hello");
    });
    expect(digest).to.equal(sha(out));
    expect(readFileSync(out, "utf8")).to.equal("hello");
    expect(readdirSync(join(dir, "new", "sub"))).to.deep.equal(["a.txt"]);
    expect(process.listenerCount("SIGTERM")).to.equal(before);
    const failing = join(dir, "fail", "b.txt");
    mkdirSync(join(dir, "fail"));
    let caught: unknown;
    try {
      await writeArtefact(failing, async () => {
        throw new Error("disk full");
      });
    } catch (e) {
      caught = e;
    }
    expect((caught as Error).message).to.equal("disk full");
    expect(readdirSync(join(dir, "fail"))).to.deep.equal([]);
    expect(process.listenerCount("SIGINT")).to.equal(beforeInt);
  });

  it("GIVEN a signal while an artefact is written THEN its private directory is removed at once, the handlers are gone, and the signal is raised again", async () => {
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    // This test's own SIGHUP listener counts deliveries and keeps the re-raised signal from ending the test process.
    let hups = 0;
    const mine = () => {
      hups++;
    };
    process.on("SIGHUP", mine);
    const before = signals.map((sig) => process.listenerCount(sig));
    try {
      const err = await rejected(
        writeArtefact(join(dir, "out", "sig.csv"), async (tmp) => {
          writeFileSync(tmp, "half a release");
          expect(signals.map((sig) => process.listenerCount(sig))).to.deep.equal(before.map((n) => n + 1));
          process.kill(process.pid, "SIGHUP");
          // Once from the kill above, once more when the release's handler raises it again.
          await until(() => hups === 2, 5_000);
          expect(existsSync(dirname(tmp)), "the private directory").to.equal(false);
          expect(signals.map((sig) => process.listenerCount(sig))).to.deep.equal(before);
        }),
      );
      // The artefact went with its directory: nothing to hash, nothing renamed into place.
      expect(err.code).to.equal("io-error");
      expect(readdirSync(join(dir, "out"))).to.deep.equal([]);
    } finally {
      process.removeListener("SIGHUP", mine);
    }
  });

  it("GIVEN MST with a ledger and --rows THEN it spends its plan first, writes exactly those rows, and records the artefact", async () => {
    const output = join(dir, "syn.csv");
    const wallStart = performance.now();
    const r = await synthesizeCsv({ input, schema: SCHEMA, output, epsilon: 2, rows: 123, rng: testRng("mst"), ledger: ledgerAt("l1") });
    const wall = performance.now() - wallStart;
    const plan = planMst(3, 2, 1e-9);
    expect(r).to.include({ method: "mst", output, epsilon: 2, delta: 1e-9, rho: plan.rhoSpent.total, rows: 123, source: "csv", testSeeded: true });
    expect(r).to.not.have.property("rowsCapped");
    expect(r.tree).to.have.length(2);
    expect(r.digest).to.equal(sha(output));
    expect(readFileSync(output, "utf8").trim().split("\n")).to.have.length(124);
    expect(r.ledgerEntry).to.deep.include({ stage: "stage1", mechanism: "mst", rho: plan.rhoSpent.total, epsilon: 2, delta: 1e-9, detail: { source: "csv" }, testSeeded: true });
    const state = await (await PrivacyLedger.open({ store: new DirectoryLedgerStore(join(dir, "l1")), signer })).state();
    expect(r.ledgerHead).to.equal(state.head);
    expect(state.entries.at(-1)).to.deep.include({ kind: "artefact", spend: 1, artefact: r.digest, name: "syn.csv" });
    for (const k of ["read", "ledger", "noise", "total", "write"]) expect(r.timings[k], k).to.be.a("number").and.at.least(0).and.at.most(wall + 1);
  });

  it("GIVEN AIM and product-of-marginals without a ledger THEN each costs its plan, rows follow the noisy count, and no ledger fields", async () => {
    const aim = await synthesizeCsv({ input, schema: SCHEMA, output: join(dir, "aim.csv"), epsilon: 3, method: "aim", iterations: 2, rng: testRng("aim") });
    expect(aim).to.include({ method: "aim", rho: planAim(3, 3, 1e-9).rhoSpent });
    expect(aim).to.not.have.property("ledgerEntry");
    expect(aim).to.not.have.property("ledgerHead");
    const pom = await synthesizeCsv({ input, schema: SCHEMA, output: join(dir, "pom.csv"), epsilon: 3, delta: 1e-7, method: "product-of-marginals", rng: testRng("pom") });
    expect(pom).to.include({ method: "product-of-marginals", delta: 1e-7, rho: planIndependent(3, 3, 1e-7).rhoSpent });
    expect(pom).to.not.have.property("tree");
    for (const r of [aim, pom]) {
      expect(r.rows).to.be.within(ROWS - 60, ROWS + 60);
      expect(readFileSync(r.output, "utf8").trim().split("\n")).to.have.length((r.rows ?? 0) + 1);
    }
    expect(aim).to.not.have.property("rowsCapped");
    // AIM draws its noise round by round and reports no noise time of its own: the release's is the time before reading.
    for (const r of [aim, pom]) for (const k of ["noise", "read", "total"]) expect(r.timings[k], `${r.method} ${k}`).to.be.a("number").and.at.least(0);
    expect(pom).to.not.have.property("rowsCapped");
    const zero = await synthesizeCsv({ input, schema: SCHEMA, output: join(dir, "zero.csv"), epsilon: 1, rows: 0, rng: testRng("zero") });
    expect(zero.rows).to.equal(0);
    expect(readFileSync(zero.output, "utf8")).to.equal("region,age,charge\n");
  });

  it("GIVEN an unknown synthesizer or a bad row count THEN refused before any spend", async () => {
    expect(SYNTHESIZERS).to.deep.equal(["mst", "aim", "product-of-marginals"]);
    const ledger = ledgerAt("l-refused");
    for (const o of [{ method: "gan" }, { rows: -1 }, { rows: 1.5 }, { rows: MAX_SYNTHETIC_ROWS + 1 }]) {
      const e = await rejected(synthesizeCsv({ input, schema: SCHEMA, output: join(dir, "x.csv"), epsilon: 1, rng: testRng("x"), ledger, ...o }));
      expect(e.code, JSON.stringify(o)).to.equal("invalid-argument");
    }
    expect(readdirSync(dir)).to.deep.equal(["data.csv"]);
    expect(parseSourceSpec(undefined)).to.deep.equal({ kind: "csv" });
    expect(parseSourceSpec("csv")).to.deep.equal({ kind: "csv" });
    expect(parseSourceSpec("duckdb")).to.deep.equal({ kind: "duckdb" });
    expect(parseSourceSpec("bigquery:my-proj-1.ds_1.tbl-2")).to.deep.equal({ kind: "bigquery", table: "my-proj-1.ds_1.tbl-2" });
    for (const bad of ["bigquery:Proj.ds.t", "bigquery:p.ds.t", "bigquery:my-proj-1.ds", "parquet", "bigquery:my-proj-1.d-s.t", "xbigquery:my-proj-1.ds.t", "bigquery:my-proj-1.ds.t;drop"]) {
      expect(() => parseSourceSpec(bad), bad).to.throw(CleanRoomError).with.property("code", "invalid-argument");
    }
  });

  it("GIVEN each synthesizer THEN the release is exactly that synthesizer run on the same stream: its noise, its model, its decoding, nothing else drawn", async () => {
    const domain = buildDomain(SCHEMA);
    const tables = await csvSource(input).measure(domain);
    const o = { epsilon: 3, delta: 1e-9 };
    const sizes = domain.columns.map((c) => c.size);
    const direct = {
      mst: (rng: SecureRng) => mst(tables, domain, { ...o, iterations: 2, rng, noise: drawMstNoise(planMst(3, o.epsilon, o.delta), sizes, rng) }),
      aim: (rng: SecureRng) => aim(tables, domain, { ...o, iterations: 2, rng }),
      "product-of-marginals": (rng: SecureRng) => productOfMarginals(tables, domain, { ...o, rng }),
    };
    for (const method of SYNTHESIZERS) {
      const seed = `twin-${method}`;
      const r = await synthesizeCsv({ input, schema: SCHEMA, output: join(dir, `${method}.csv`), ...o, method, iterations: 2, rng: testRng(seed) });
      // The same stream, drawn by hand in the release's order: the synthesizer (noise first), then the decoding.
      const twin = testRng(seed);
      const { table } = direct[method](twin);
      const expected = join(dir, `${method}-direct.csv`);
      await writeDecodedCsv(expected, domain, table, twin);
      expect(r.method).to.equal(method);
      expect(r.rows, method).to.equal(table.rows);
      expect(readFileSync(r.output, "utf8"), method).to.equal(readFileSync(expected, "utf8"));
    }
  });

  it("GIVEN no --rows and a noisy count above 100,000 THEN 100,000 rows are written and the report says the count was capped; exactly 100,000 is not capped", async () => {
    const one = { columns: [{ name: "k", type: "categorical", categories: ["a"] }] };
    const counted = (n: number): MarginalSource => ({
      kind: "test",
      measure: async () => {
        const t = new CountTables([2]);
        t.oneWay(0)[0] = n;
        return t;
      },
    });
    const method = "product-of-marginals";
    const big = await synthesizeCsv({ input, schema: one, output: join(dir, "big.csv"), epsilon: 1, method, rng: testRng("cap"), source: counted(250_000) });
    expect(big).to.include({ rows: DEFAULT_MAX_SYNTHETIC_ROWS, rowsCapped: true });
    expect(readFileSync(big.output, "utf8").trim().split("\n")).to.have.length(DEFAULT_MAX_SYNTHETIC_ROWS + 1);
    // At ε = 20 the noise of this seed is 0 in both cells (checked on a twin stream), so the estimate is exactly 100,000.
    const seed = "cap-edge";
    const noise = drawIndependentNoise(planIndependent(1, 20, 1e-9), [2], testRng(seed));
    expect(Array.from(noise[0]), "the test needs zero noise").to.deep.equal([0, 0]);
    const edge = await synthesizeCsv({ input, schema: one, output: join(dir, "edge.csv"), epsilon: 20, method, rng: testRng(seed), source: counted(DEFAULT_MAX_SYNTHETIC_ROWS) });
    expect(edge.rows).to.equal(DEFAULT_MAX_SYNTHETIC_ROWS);
    expect(edge).to.not.have.property("rowsCapped");
  });

  it("GIVEN --rows of exactly 10,000,000 THEN it is accepted (the release goes on to read the data)", async () => {
    const reading = new Error("reading the data");
    const source: MarginalSource = {
      kind: "test",
      measure: async () => {
        throw reading;
      },
    };
    let caught: unknown;
    try {
      await synthesizeCsv({ input, schema: SCHEMA, output: join(dir, "max.csv"), epsilon: 1, rows: MAX_SYNTHETIC_ROWS, rng: testRng("max"), source });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.equal(reading);
  });

  it("GIVEN the in-process source THEN its count tables are the CSV's cells encoded by the public domain, one record each", async () => {
    const domain = buildDomain(SCHEMA);
    const lines = csvText().trim().split("\n").slice(1);
    const columns = domain.columns.map((c, i) => Int32Array.from(lines, (l) => c.encode(l.split(",")[i])));
    const expected = tablesOfColumns(columns, domain.columns.map((c) => c.size));
    const t = await csvSource(input).measure(domain);
    for (let a = 0; a < 3; a++) {
      expect(Array.from(t.oneWay(a))).to.deep.equal(Array.from(expected.oneWay(a)));
      for (let b = a + 1; b < 3; b++) expect(Array.from(t.twoWay(a, b))).to.deep.equal(Array.from(expected.twoWay(a, b)));
    }
    expect(Array.from(t.oneWay(0)).reduce((a, b) => a + b, 0)).to.equal(ROWS);
  });

  it("GIVEN a BigQuery source THEN the input names a table, not a file; any other source still needs the file", async () => {
    const tables = await csvSource(input).measure(buildDomain(SCHEMA));
    const fake = (kind: string): MarginalSource => ({ kind, measure: async () => tables });
    const r = await synthesizeCsv({ input: "my-proj-1.ds.table", schema: SCHEMA, output: join(dir, "bq.csv"), epsilon: 1, rows: 10, rng: testRng("bq"), source: fake("bigquery") });
    expect(r).to.include({ source: "bigquery", rows: 10 });
    const e = await rejected(synthesizeCsv({ input: join(dir, "absent.csv"), schema: SCHEMA, output: join(dir, "dd.csv"), epsilon: 1, rows: 10, rng: testRng("dd"), source: fake("duckdb") }));
    expect(e.code).to.equal("invalid-argument");
  });

  it("GIVEN coded columns THEN the count tables hold every 1-way and 2-way count; twoWay needs a < b", () => {
    expect([pairIndex(0, 1, 4), pairIndex(0, 3, 4), pairIndex(1, 2, 4), pairIndex(2, 3, 4)]).to.deep.equal([0, 2, 3, 5]);
    const t = tablesOfColumns([Int32Array.from([0, 1, 1]), Int32Array.from([2, 0, 2]), Int32Array.from([1, 1, 0])], [2, 3, 2]);
    expect(Array.from(t.oneWay(0))).to.deep.equal([1, 2]);
    expect(Array.from(t.oneWay(1))).to.deep.equal([1, 0, 2]);
    expect(Array.from(t.twoWay(0, 1))).to.deep.equal([0, 0, 1, 1, 0, 1]);
    expect(Array.from(t.twoWay(0, 2))).to.deep.equal([0, 1, 1, 1]);
    expect(Array.from(t.twoWay(1, 2))).to.deep.equal([0, 1, 0, 0, 1, 1]);
    expect(t.two).to.have.length(3);
    for (const [a, b] of [
      [1, 0],
      [1, 1],
    ]) {
      expect(() => t.twoWay(a, b)).to.throw(CleanRoomError).with.property("code", "invalid-argument");
    }
    const empty = tablesOfColumns([], []);
    expect(empty.one).to.deep.equal([]);
    expect(new CountTables([3]).oneWay(0)).to.have.length(3);
  });

  it("GIVEN aggregates at ε=1 THEN each value is the true count plus the noise the same stream draws, with the stated cost", async () => {
    const domain = buildDomain(SCHEMA);
    const { artefact, rho } = await computeAggregates(input, domain, 1, 1e-9, testRng("agg-nonzero"));
    // The same draws, in the same order, from a twin stream.
    const twin = testRng("agg-nonzero");
    const share = { rho: cdpRho(1, 1e-9) / (1 + 3 + 2) };
    const count = drawNoise(twin, share, 1, 1);
    const hist = domain.columns.map((c) => drawNoise(twin, share, c.size, 1));
    const age = new ClampedSum(18, 65);
    const charge = new ClampedSum(0, 1000);
    const sums = [undefined, drawNoise(twin, share, 1, age.sensitivity), drawNoise(twin, share, 1, charge.sensitivity)];
    const truth = [new Float64Array(4), new Float64Array(5), new Float64Array(6)];
    const lines = csvText().trim().split("\n").slice(1);
    for (const l of lines) {
      const cells = l.split(",");
      domain.columns.forEach((c, i) => {
        truth[i][c.encode(cells[i])]++;
      });
      age.add(Number(cells[1]));
      charge.add(Number(cells[2]));
    }
    expect(artefact).to.include({ format: AGGREGATES_FORMAT, mechanism: "discrete-gaussian", neighbouring: "add or remove one record", epsilon: 1, delta: 1e-9 });
    expect(count.values[0], "the test needs non-zero noise on the count").to.not.equal(0);
    expect(artefact.count).to.equal(ROWS + count.values[0]);
    expect(artefact.countSd).to.equal(count.sd);
    const expectedRho = count.rho + hist.reduce((s, h) => s + h.rho, 0) + (sums[1]?.rho ?? 0) + (sums[2]?.rho ?? 0);
    expect(rho).to.be.closeTo(expectedRho, 1e-15);
    expect(artefact.rho).to.equal(rho);
    expect(rho).to.be.at.most(cdpRho(1, 1e-9) * (1 + 1e-9));
    artefact.columns.forEach((c, i) => {
      expect(c.name).to.equal(SCHEMA.columns[i].name);
      expect(c.type).to.equal(SCHEMA.columns[i].type);
      expect(c.histogramSd).to.equal(hist[i].sd);
      expect(c.histogram.map((h) => h.label)).to.deep.equal(domain.columns[i].labels);
      expect(c.histogram.map((h) => h.count)).to.deep.equal(Array.from(truth[i], (t, x) => t + hist[i].values[x]));
    });
    expect(artefact.columns[0]).to.not.have.property("sum");
    const released = releaseSum(charge, sums[2] as NonNullable<(typeof sums)[2]>);
    expect(artefact.columns[2]).to.include({ sum: released.value, sumSd: released.sd, mean: meanOf(released.value, artefact.count, 0, 1000) });
  });

  it("GIVEN aggregateCsv with a ledger THEN the artefact file is the JSON, the spend is 'aggregates' at the full ρ, and the artefact recorded", async () => {
    const output = join(dir, "agg.json");
    const r = await aggregateCsv({ input, schema: SCHEMA, output, epsilon: 1, rng: testRng("agg2"), ledger: ledgerAt("l2") });
    expect(JSON.parse(readFileSync(output, "utf8"))).to.deep.equal(r.artefact);
    expect(readFileSync(output, "utf8").endsWith("}\n")).to.equal(true);
    expect(statSync(output).mode & 0o777).to.equal(0o600);
    expect(r).to.include({ method: "aggregates", output, digest: sha(output), epsilon: 1, delta: 1e-9, rho: r.artefact.rho, testSeeded: true });
    expect(r).to.not.have.property("source");
    expect(r.ledgerEntry).to.deep.include({ mechanism: "aggregates", rho: cdpRho(1, 1e-9), epsilon: 1, delta: 1e-9 });
    expect(r.ledgerEntry).to.not.have.property("detail");
    const state = await (await PrivacyLedger.open({ store: new DirectoryLedgerStore(join(dir, "l2")), signer })).state();
    expect(r.ledgerHead).to.equal(state.head);
    expect(state.entries.at(-1)).to.deep.include({ kind: "artefact", artefact: r.digest, name: "agg.json" });
    // Another source is named in the report and in the spend's detail.
    const counted = csvAggregateSource(input);
    const duck = await aggregateCsv({ input, schema: SCHEMA, output: join(dir, "agg4.json"), epsilon: 1, rng: testRng("agg2"), ledger: ledgerAt("l3"), source: { kind: "duckdb", count: counted.count } });
    expect(duck.source).to.equal("duckdb");
    expect(duck.ledgerEntry?.detail).to.deep.equal({ source: "duckdb" });
    expect(duck.artefact).to.deep.equal(r.artefact);
    const plainStart = performance.now();
    const plain = await aggregateCsv({ input, schema: SCHEMA, output: join(dir, "agg3.json"), epsilon: 1, rng: testRng("agg2") });
    const plainWall = performance.now() - plainStart;
    expect(plain.artefact).to.deep.equal(r.artefact);
    expect(plain).to.not.have.property("ledgerEntry");
    for (const k of ["compute", "write", "total"]) expect(plain.timings[k]).to.be.a("number").and.at.least(0).and.at.most(plainWall + 1);
  });
});

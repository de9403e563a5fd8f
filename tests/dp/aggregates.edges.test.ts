// Edges of the DP aggregates and of `dpQuery` (issue 20, dp mutation pass). Each release is checked against the exact
// value plus the noise the same seed draws (deterministic: no false failures), and each refused input by its code.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpRho, gaussianRho, pureDpRho } from "../../src/runtime/dp/accounting.js";
import {
  ClampedSum,
  dpClampedMean,
  dpClampedSum,
  dpCount,
  dpHistogram,
  drawNoise,
  meanOf,
  releaseSum,
  sumGrid,
} from "../../src/runtime/dp/aggregates.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import type { LedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { dpQuery } from "../../src/runtime/dp/query.js";
import { testRng } from "../../src/runtime/dp/rng.js";

/** An in-memory ledger store at the `LedgerStore` interface. */
class MemoryLedgerStore implements LedgerStore {
  readonly location = "mem://query-ledger";
  readonly entries = new Map<number, Buffer>();
  async list(): Promise<{ seq: number; bytes: Buffer }[]> {
    return [...this.entries.entries()].sort((a, b) => a[0] - b[0]).map(([seq, bytes]) => ({ seq, bytes }));
  }
  async create(seq: number, bytes: Buffer): Promise<boolean> {
    if (this.entries.has(seq)) return false;
    this.entries.set(seq, bytes);
    return true;
  }
}

function invalid(f: () => unknown): void {
  expect(f).to.throw(CleanRoomError).with.property("code", "invalid-argument");
}

async function invalidAsync(p: Promise<unknown>, pattern?: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError).with.property("code", "invalid-argument");
    if (pattern) expect((err as Error).message).to.match(pattern);
    return;
  }
  expect.fail("expected invalid-argument");
}

describe("dp aggregates edges", () => {
  it("GIVEN a budget that is not a positive finite number THEN every aggregate refuses it", () => {
    for (const b of [{ rho: 0 }, { rho: -1 }, { rho: Number.NaN }, { rho: Number.POSITIVE_INFINITY }, { epsilon: 0 }, { epsilon: -0.5 }, { epsilon: Number.POSITIVE_INFINITY }]) {
      invalid(() => drawNoise(testRng("b"), b, 1));
      invalid(() => dpCount(5, b, testRng("b")));
      // Even when no value is drawn (an empty histogram), the budget itself is refused.
      invalid(() => drawNoise(testRng("b"), b, 0));
    }
  });

  it("GIVEN a negative budget for a query of sensitivity 0 and no cells THEN it is still refused (nothing downstream would)", () => {
    invalid(() => drawNoise(testRng("z"), { rho: -1 }, 0, 0));
    invalid(() => drawNoise(testRng("z"), { epsilon: -1 }, 0, 0));
  });

  it("GIVEN { rho } and a sensitivity THEN the Gaussian's σ² is Δ²/(2ρ) rounded up and its ρ is at most, and within 1e-8 of, the budget", () => {
    for (const [rho, sens] of [
      [0.5, 1],
      [0.02, 3],
      [2, 7],
    ]) {
      const d = drawNoise(testRng(`g-${rho}`), { rho }, 4, sens);
      expect(d.mechanism).to.equal("discrete-gaussian");
      expect(d.values).to.have.length(4);
      for (const v of d.values) expect(Number.isInteger(v)).to.equal(true);
      const sigma2 = (sens * sens) / (2 * rho);
      expect(d.sd * d.sd).to.be.at.least(sigma2);
      expect(d.sd * d.sd - sigma2).to.be.at.most(2 ** -30 * 1.0001);
      expect(d.rho).to.be.at.most(rho);
      expect((rho - d.rho) / rho).to.be.below(1e-8);
      expect(d.rho).to.be.closeTo(gaussianRho(d.sd, sens), 1e-15);
    }
  });

  it("GIVEN { epsilon } and a sensitivity THEN the Laplace scale is Δ/ε, its sd is the discrete Laplace's and its ρ is ε²/2", () => {
    const eps = 0.5;
    const sens = 4;
    const d = drawNoise(testRng("l"), { epsilon: eps }, 3, sens);
    expect(d.mechanism).to.equal("discrete-laplace");
    expect(d.values).to.have.length(3);
    const t = sens / eps; // 8, exact as a rational of denominator 2^30
    const q = Math.exp(-1 / t);
    expect(d.sd).to.be.closeTo(Math.sqrt((2 * q) / (1 - q) ** 2), 1e-12);
    expect(d.rho).to.be.closeTo(pureDpRho(eps), 1e-15);
    // The default sensitivity is 1.
    const one = drawNoise(testRng("l1"), { epsilon: eps }, 1);
    expect(one.rho).to.be.closeTo(pureDpRho(eps), 1e-15);
    const q1 = Math.exp(-eps);
    expect(one.sd).to.be.closeTo(Math.sqrt((2 * q1) / (1 - q1) ** 2), 1e-12);
  });

  it("GIVEN a seed THEN a count and a histogram are the exact values plus the noise that seed draws", () => {
    const noise = drawNoise(testRng("c"), { rho: 0.1 }, 1, 1);
    const c = dpCount(1000, { rho: 0.1 }, testRng("c"));
    expect(c.value).to.equal(1000 + noise.values[0]);
    expect(c).to.include({ sd: noise.sd, mechanism: "discrete-gaussian", rho: noise.rho });
    const hn = drawNoise(testRng("h"), { epsilon: 1 }, 3, 1);
    const h = dpHistogram([10, 20, 30], { epsilon: 1 }, testRng("h"));
    expect(h.values).to.deep.equal([10 + hn.values[0], 20 + hn.values[1], 30 + hn.values[2]]);
    expect(h).to.include({ sd: hn.sd, mechanism: "discrete-laplace", rho: hn.rho });
  });

  it("GIVEN a range THEN the sum grid is 2^-16 of its largest magnitude and Δ is the largest bound in grid units", () => {
    expect(sumGrid(0, 0)).to.deep.equal({ grid: 1, sensitivity: 0 });
    expect(sumGrid(-10, 5)).to.deep.equal({ grid: 10 / 65536, sensitivity: 65536 });
    expect(sumGrid(2, 4)).to.deep.equal({ grid: 4 / 65536, sensitivity: 65536 });
    expect(sumGrid(-8, -2)).to.deep.equal({ grid: 8 / 65536, sensitivity: 65536 });
    const s = sumGrid(-1, 3);
    expect(s.sensitivity).to.equal(65536);
    expect(s.grid).to.equal(3 / 65536);
  });

  it("GIVEN values outside [min, max] and NaN THEN the clamped sum clamps, snaps to the grid and skips NaN", () => {
    invalid(() => new ClampedSum(5, 5));
    invalid(() => new ClampedSum(6, 5));
    const s = new ClampedSum(0, 10);
    expect(s.grid).to.equal(10 / 65536);
    expect(s.sensitivity).to.equal(65536);
    s.add(-3); // → 0
    s.add(25); // → 10 = 65536 units
    s.add(Number.NaN);
    s.add(5); // 32768 units
    expect(s.units).to.equal(65536 + 32768);
    s.addUnits(7);
    expect(s.units).to.equal(65536 + 32768 + 7);
    invalid(() => s.addUnits(1.5));
    invalid(() => s.addUnits(Number.NaN));
    invalid(() => s.addUnits(2 ** 53));
    const neg = new ClampedSum(-4, -1);
    neg.add(-10);
    neg.add(0);
    expect(neg.units).to.equal(-65536 - 16384);
  });

  it("GIVEN a sum and its noise THEN the release is (units + noise)·grid with sd scaled by the grid", () => {
    const s = new ClampedSum(0, 2);
    s.add(1);
    const noise = { mechanism: "discrete-gaussian" as const, values: Float64Array.from([3]), sd: 5, rho: 0.25 };
    const r = releaseSum(s, noise);
    expect(r.value).to.equal((32768 + 3) * (2 / 65536));
    expect(r.sd).to.equal(5 * (2 / 65536));
    expect(r).to.include({ mechanism: "discrete-gaussian", rho: 0.25 });
    const noiseD = drawNoise(testRng("sum"), { rho: 0.3 }, 1, 65536);
    const d = dpClampedSum([1, 5, Number.NaN, -2], 0, 2, { rho: 0.3 }, testRng("sum"));
    expect(d.value).to.equal((32768 + 65536 + 0 + noiseD.values[0]) * (2 / 65536));
    expect(d.rho).to.equal(noiseD.rho);
  });

  it("GIVEN a mean THEN each half gets half the budget, NaN is neither summed nor counted, and the result is clamped post-processing", () => {
    for (const budget of [{ rho: 0.4 }, { epsilon: 2 }]) {
      // A seed whose count noise is not 0, so that the count visibly includes it.
      const half = "rho" in budget ? { rho: 0.2 } : { epsilon: 1 };
      const countNoiseOf = (seed: number) => {
        const r = testRng(`mean-${seed}`);
        drawNoise(r, half, 1, 65536);
        return drawNoise(r, half, 1, 1).values[0];
      };
      let seed = 0;
      while (countNoiseOf(seed) === 0) seed++;
      const name = `mean-${seed}`;
      const rng = testRng(name);
      const sumNoise = drawNoise(rng, half, 1, 65536);
      const countNoise = drawNoise(rng, half, 1, 1);
      expect(countNoise.values[0]).to.not.equal(0);
      const m = dpClampedMean([2, 4, Number.NaN, 100], 0, 10, budget, testRng(name));
      const units = Math.round(2 / (10 / 65536)) + Math.round(4 / (10 / 65536)) + 65536;
      expect(m.sum.value).to.equal((units + sumNoise.values[0]) * (10 / 65536));
      expect(m.count.value).to.equal(3 + countNoise.values[0]);
      expect(m.count).to.include({ sd: countNoise.sd, mechanism: countNoise.mechanism, rho: countNoise.rho });
      expect(m.rho).to.be.closeTo(sumNoise.rho + countNoise.rho, 1e-15);
      expect(m.value).to.equal(meanOf(m.sum.value, m.count.value, 0, 10));
    }
    expect(meanOf(10, 0, 0, 100)).to.equal(null);
    expect(meanOf(10, -1, 0, 100)).to.equal(null);
    expect(meanOf(10, Number.NaN, 0, 100)).to.equal(null);
    expect(meanOf(10, 4, 0, 100)).to.equal(2.5);
    expect(meanOf(-10, 1, 0, 100)).to.equal(0);
    expect(meanOf(500, 2, 0, 100)).to.equal(100);
  });
});

describe("dp query edges (in-process, no ledger)", () => {
  let dir: string;
  let csv: string;
  const schema = {
    columns: [
      { name: "a", type: "categorical", categories: ["x", "y"] },
      { name: "n", type: "numeric", min: 1, max: 10, bins: 2 },
    ],
  };
  // 6 rows: a = x, x, y, z (unknown), x, y; n = 1, 20 (→ 10), blank, 3, 4, spaces (blank too: not clamped up to min).
  const rows = ["a,n", "x,1", "x,20", "y,", "z,3", "x,4", "y,  "];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dp-query-"));
    csv = join(dir, "t.csv");
    writeFileSync(csv, `${rows.join("\n")}\n`);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN an unknown kind, a missing or non-numeric column, or a bad budget THEN the query is refused", async () => {
    const base = { input: csv, schema, rng: testRng("q") };
    await invalidAsync(dpQuery({ ...base, kind: "median", rho: 0.1 }), /Unknown query/);
    await invalidAsync(dpQuery({ ...base, kind: "histogram", rho: 0.1 }), /needs a column/);
    await invalidAsync(dpQuery({ ...base, kind: "histogram", column: "nope", rho: 0.1 }), /needs a column/);
    await invalidAsync(dpQuery({ ...base, kind: "sum", column: "a", rho: 0.1 }), /numeric column/);
    await invalidAsync(dpQuery({ ...base, kind: "mean", column: "a", rho: 0.1 }), /numeric column/);
    await invalidAsync(dpQuery({ ...base, kind: "count", rho: 0 }), /rho/);
    await invalidAsync(dpQuery({ ...base, kind: "count", rho: Number.POSITIVE_INFINITY }), /rho/);
    await invalidAsync(dpQuery({ ...base, kind: "count" }), /epsilon/);
    await invalidAsync(dpQuery({ ...base, kind: "count", epsilon: 0 }), /epsilon/);
    await invalidAsync(dpQuery({ ...base, kind: "count", epsilon: 20.5 }), /epsilon/);
    await invalidAsync(dpQuery({ ...base, kind: "count", epsilon: "1" as unknown as number }), /epsilon/);
    await invalidAsync(dpQuery({ ...base, kind: "count", epsilon: 1, delta: 0 }), /delta/);
    await invalidAsync(dpQuery({ ...base, kind: "count", epsilon: 1, delta: 1e-3 }), /delta/);
  });

  it("GIVEN ε at the bound, and δ left out THEN ρ is cdpRho(ε, 1e-9); with δ given it is cdpRho(ε, δ)", async () => {
    const a = await dpQuery({ input: csv, schema, kind: "count", epsilon: 20, rng: testRng("q") });
    expect(a.rho).to.equal(cdpRho(20, 1e-9));
    const b = await dpQuery({ input: csv, schema, kind: "count", epsilon: 1, delta: 1e-6, rng: testRng("q") });
    expect(b.rho).to.equal(cdpRho(1, 1e-6));
    expect(b.testSeeded).to.equal(true);
    expect(b).to.not.have.property("column");
    expect(b).to.not.have.property("ledgerEntry");
  });

  it("GIVEN a seed THEN count, histogram, sum and mean are the exact answers plus the noise that seed draws, in that order", async () => {
    const rho = 0.5;
    let n = drawNoise(testRng("count"), { rho }, 1, 1);
    const count = await dpQuery({ input: csv, schema, kind: "count", rho, rng: testRng("count") });
    expect(count).to.include({ kind: "count", value: 6 + n.values[0], sd: n.sd, rho });

    n = drawNoise(testRng("hist"), { rho }, 3, 1);
    const hist = await dpQuery({ input: csv, schema, kind: "histogram", column: "a", rho, rng: testRng("hist") });
    expect(hist.column).to.equal("a");
    expect(hist.histogram).to.deep.equal([
      { label: "x", count: 3 + n.values[0] },
      { label: "y", count: 2 + n.values[1] },
      { label: "(unknown)", count: 1 + n.values[2] },
    ]);
    expect(hist.sd).to.equal(n.sd);

    const grid = 10 / 65536;
    const units = Math.round(1 / grid) + 65536 + Math.round(3 / grid) + Math.round(4 / grid);
    let rng = testRng("sum");
    drawNoise(rng, { rho }, 1, 1); // the count noise is drawn first, also for a sum
    const s = drawNoise(rng, { rho }, 1, 65536);
    const sum = await dpQuery({ input: csv, schema, kind: "sum", column: "n", rho, rng: testRng("sum") });
    expect(sum.value).to.equal((units + s.values[0]) * grid);
    expect(sum.sd).to.equal(s.sd * grid);

    rng = testRng("mean");
    const c = drawNoise(rng, { rho: rho / 2 }, 1, 1);
    const m = drawNoise(rng, { rho: rho / 2 }, 1, 65536);
    const mean = await dpQuery({ input: csv, schema, kind: "mean", column: "n", rho, rng: testRng("mean") });
    // The count is of rows (6), the blank cells add nothing to the sum.
    expect(mean.value).to.equal(meanOf((units + m.values[0]) * grid, 6 + c.values[0], 1, 10));
    expect(mean.sd).to.equal(m.sd * grid);
    expect(mean.rho).to.equal(rho);
  });

  it("GIVEN a ledger WHEN a query is answered THEN its spend is recorded first with what was asked, and a refused budget writes nothing", async () => {
    const store = new MemoryLedgerStore();
    const ledger = { store, dataset: "t", budget: { epsilon: 1, delta: 1e-9 }, signer: providerSigner(generateKeyPairSync("ed25519").privateKey) };
    for (const rho of [0, -0.1, Number.POSITIVE_INFINITY, Number.NaN]) {
      await invalidAsync(dpQuery({ input: csv, schema, kind: "count", rho, ledger, rng: testRng("q") }), /rho/);
    }
    expect(store.entries.size).to.equal(0);
    const byRho = await dpQuery({ input: csv, schema, kind: "histogram", column: "a", rho: 0.001, ledger, rng: testRng("q") });
    expect(byRho.ledgerEntry).to.include({ kind: "spend", stage: "query", mechanism: "histogram", rho: 0.001, testSeeded: true, seq: 1 });
    expect(byRho.ledgerEntry?.detail).to.deep.equal({ column: "a" });
    expect(byRho.ledgerEntry).to.not.have.property("epsilon");
    expect(byRho.ledgerEntry).to.not.have.property("delta");
    const byEps = await dpQuery({ input: csv, schema, kind: "count", epsilon: 0.1, ledger, rng: testRng("q") });
    expect(byEps.ledgerEntry).to.include({ mechanism: "count", epsilon: 0.1, delta: 1e-9, rho: cdpRho(0.1, 1e-9), seq: 2 });
    expect(byEps.ledgerEntry).to.not.have.property("detail");
    const state = await (await PrivacyLedger.open({ store, signer: ledger.signer })).state();
    expect(byEps.ledgerHead).to.equal(state.head);
    expect(byRho.ledgerHead).to.equal(state.hashes[1]);
    expect(state.spent.rho).to.be.closeTo(0.001 + cdpRho(0.1, 1e-9), 1e-15);
  });
});

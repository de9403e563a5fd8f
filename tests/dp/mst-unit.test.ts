// MST in process on small exact tables (issue 20, dp-mst mutation path): the plan and its budget, the noise drawn
// before the data is read, the spanning tree picked on data with known strong pairs, the noise added where the plan
// says, compression and the unknown code, and the options. Where a result is checked against the data, either ε is
// huge (noise far below the tolerance) or the pre-drawn noise is given exactly (zeros, or chosen values).
import { expect } from "chai";
import { cdpRho, exponentialMechanismRho } from "../../src/runtime/dp/accounting.js";
import { tablesOfColumns } from "../../src/runtime/dp/marginal-source.js";
import { drawMstNoise, isEncodedTable, type MstNoise, type MstPlan, mst, planMst, twoWayNoiseCount } from "../../src/runtime/dp/mst.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { discreteGaussianVector, rationalAtLeast, rationalAtMost, rationalValue } from "../../src/runtime/dp/samplers.js";
import {
  categoricalDomain,
  closeTo,
  counts,
  invalidArgument,
  isForest,
  modelJoint,
  pairCounts,
  pairedTable,
  pairNames,
  tableOf,
} from "./synth-fixtures.js";

const N = 600;
const ABCD = categoricalDomain(["a", "b", "c", "d"], [3, 3, 3, 3]);
const SIZES = [4, 4, 4, 4];

/** Pre-drawn noise of the plan's shape: zeros, with `oneWay`/`twoWay` cells set as given ([column, code, value] / [index, value]). */
function exactNoise(plan: MstPlan, sizes: readonly number[], oneWay: [number, number, number][] = [], twoWay: [number, number][] = []): MstNoise {
  const one = sizes.map((k) => new Float64Array(k));
  for (const [c, x, v] of oneWay) one[c][x] = v;
  const two = new Float64Array(plan.twoWayVariance ? twoWayNoiseCount(sizes) : 0);
  for (const [i, v] of twoWay) two[i] = v;
  return { oneWay: one, twoWay: two, variances: { oneWay: plan.oneWayVariance, twoWay: plan.twoWayVariance } };
}

describe("dp MST (unit)", () => {
  it("GIVEN no column, ε not finite and > 0 or δ outside (0, 1) WHEN planned THEN invalid-argument", () => {
    for (const columns of [0, -1, Number.NaN]) expect(invalidArgument(() => planMst(columns, 1, 1e-9)).message).to.match(/at least one column/);
    for (const epsilon of [0, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(invalidArgument(() => planMst(3, epsilon, 1e-9)).message).to.match(/epsilon/);
    for (const delta of [0, -1e-9, 1, 1.5, Number.NaN]) expect(invalidArgument(() => planMst(3, 1, delta)).message).to.match(/delta/);
  });

  it("GIVEN d ≥ 2 columns WHEN planned THEN ρ is split in three: σ² = 3d/(2ρ) and 3(d−1)/(2ρ) rounded up, ε_EM rounded down", () => {
    for (const [d, epsilon, delta] of [
      [2, 1, 1e-9],
      [4, 3, 1e-6],
      [7, 0.3, 1e-9],
    ]) {
      const plan = planMst(d, epsilon, delta);
      const rho = cdpRho(epsilon, delta);
      expect(plan.rho).to.equal(rho);
      expect(plan.epsilon).to.equal(epsilon);
      expect(plan.delta).to.equal(delta);
      expect(plan.oneWayVariance).to.deep.equal(rationalAtLeast((3 * d) / (2 * rho)));
      expect(plan.twoWayVariance).to.deep.equal(rationalAtLeast((3 * (d - 1)) / (2 * rho)));
      expect(plan.selectionEpsilon).to.equal(rationalValue(rationalAtMost(Math.sqrt((8 * rho) / 3 / (d - 1)))));
      const spent = plan.rhoSpent;
      expect(spent.oneWay).to.equal(d / (2 * rationalValue(plan.oneWayVariance)));
      expect(spent.twoWay).to.equal((d - 1) / (2 * rationalValue(plan.twoWayVariance as { n: bigint; d: bigint })));
      expect(spent.selection).to.equal((d - 1) * exponentialMechanismRho(plan.selectionEpsilon));
      for (const part of [spent.oneWay, spent.selection, spent.twoWay]) {
        expect(part).to.be.at.most(rho / 3);
        expect(part).to.be.above((rho / 3) * (1 - 1e-6));
      }
      expect(spent.total).to.equal(spent.oneWay + spent.selection + spent.twoWay);
      expect(spent.total).to.be.at.most(rho);
    }
  });

  it("GIVEN one column WHEN planned THEN all of ρ goes to its 1-way marginal: no 2-way noise, no selection", () => {
    const plan = planMst(1, 2, 1e-9);
    const rho = cdpRho(2, 1e-9);
    expect(plan.oneWayVariance).to.deep.equal(rationalAtLeast(1 / (2 * rho)));
    expect(plan.twoWayVariance).to.equal(undefined);
    expect(plan.selectionEpsilon).to.equal(0);
    expect(plan.rhoSpent.oneWay).to.equal(1 / (2 * rationalValue(plan.oneWayVariance)));
    expect(plan.rhoSpent).to.deep.include({ selection: 0, twoWay: 0, total: plan.rhoSpent.oneWay });
    expect(plan.rhoSpent.total).to.be.at.most(rho).and.above(rho * (1 - 1e-6));
  });

  it("GIVEN domain sizes THEN the 2-way noise pool holds the cells of the d−1 largest pair tables", () => {
    expect(twoWayNoiseCount([2, 3, 4])).to.equal(12 + 8);
    expect(twoWayNoiseCount([4, 1, 1, 3])).to.equal(12 + 4 + 4);
    expect(twoWayNoiseCount([5, 2])).to.equal(10);
    expect(twoWayNoiseCount([3, 9, 2])).to.equal(27 + 18);
    expect(twoWayNoiseCount([5])).to.equal(0);
    expect(twoWayNoiseCount([])).to.equal(0);
  });

  it("GIVEN a plan WHEN its noise is drawn THEN each column's 1-way vector, then the 2-way pool, from the stream in that order", () => {
    const plan = planMst(3, 1, 1e-9);
    const sizes = [2, 3, 4];
    const noise = drawMstNoise(plan, sizes, testRng("mst-noise"));
    const twin = testRng("mst-noise");
    const expected = sizes.map((k) => Array.from(discreteGaussianVector(twin, plan.oneWayVariance, k)));
    expect(noise.oneWay.map((v) => Array.from(v))).to.deep.equal(expected);
    expect(Array.from(noise.twoWay)).to.deep.equal(Array.from(discreteGaussianVector(twin, plan.twoWayVariance as { n: bigint; d: bigint }, 20)));
    expect(noise.variances).to.deep.equal({ oneWay: plan.oneWayVariance, twoWay: plan.twoWayVariance });
    const one = drawMstNoise(planMst(1, 1, 1e-9), [3], testRng("mst-noise"));
    expect(one.twoWay.length).to.equal(0);
    expect(one.variances.twoWay).to.equal(undefined);
  });

  it("GIVEN no pre-drawn noise THEN mst draws it first, from its own generator, exactly as drawMstNoise would", () => {
    const data = pairedTable(N);
    const own = mst(data, ABCD, { epsilon: 2, rng: testRng("mst-order") });
    const rng = testRng("mst-order");
    const noise = drawMstNoise(planMst(4, 2, 1e-9), SIZES, rng);
    const given = mst(data, ABCD, { epsilon: 2, rng, noise });
    expect(given.tree).to.deep.equal(own.tree);
    expect(given.table.columns.map((c) => Array.from(c))).to.deep.equal(own.table.columns.map((c) => Array.from(c)));
  });

  it("GIVEN a table whose width is not the domain's THEN invalid-argument, for rows and for count tables", () => {
    const two = tableOf([
      [0, 1],
      [1, 0],
    ]);
    expect(invalidArgument(() => mst(two, ABCD, { epsilon: 1, rng: testRng("w") })).message).to.match(/columns do not match/);
    expect(invalidArgument(() => mst(tablesOfColumns(two.columns, [4, 4]), ABCD, { epsilon: 1, rng: testRng("w") })).message).to.match(/columns do not match/);
  });

  it("GIVEN pre-drawn noise of another plan or shape THEN invalid-argument before any histogram", () => {
    const data = pairedTable(N, "shape");
    const plan = planMst(4, 2, 1e-9);
    const opts = (noise: MstNoise) => ({ epsilon: 2, rng: testRng("n"), noise });
    // Another ε, another δ, another number of columns (one column: no 2-way variance).
    expect(invalidArgument(() => mst(data, ABCD, opts(exactNoise(planMst(4, 1, 1e-9), SIZES)))).message).to.match(/another plan/);
    expect(invalidArgument(() => mst(data, ABCD, opts(exactNoise(planMst(4, 2, 1e-6), SIZES)))).message).to.match(/another plan/);
    expect(invalidArgument(() => mst(data, ABCD, opts(exactNoise(planMst(3, 2, 1e-9), SIZES)))).message).to.match(/another plan/);
    const single = exactNoise(plan, SIZES);
    expect(invalidArgument(() => mst(data, ABCD, opts({ ...single, variances: { oneWay: plan.oneWayVariance } }))).message).to.match(/another plan/);
    // A one-column plan has no 2-way variance: noise that carries one is not its noise.
    const one = planMst(1, 2, 1e-9);
    const foreign = { ...exactNoise(one, [4]), variances: { oneWay: one.oneWayVariance, twoWay: plan.twoWayVariance } };
    expect(invalidArgument(() => mst(tableOf([[0, 1]]), categoricalDomain(["x"], [3]), { epsilon: 2, rng: testRng("n"), noise: foreign })).message).to.match(
      /another plan/,
    );
    // Right plan, wrong shapes.
    expect(invalidArgument(() => mst(data, ABCD, opts(exactNoise(plan, [4, 4, 3, 4])))).message).to.match(/does not match the domain/);
    const short = exactNoise(plan, SIZES);
    expect(invalidArgument(() => mst(data, ABCD, opts({ ...short, twoWay: short.twoWay.subarray(1) }))).message).to.match(/too short/);
    // The exact right shape is accepted.
    // No compressed code merged but the unknown codes (4 × 4 tables): 48 cells are enough.
    expect(mst(data, ABCD, opts(short)).compressedSizes).to.deep.equal(SIZES);
  });

  it("GIVEN huge ε THEN the synthetic table has the data's 1-way counts and the strong pairs' 2-way counts (± 1: rounding)", () => {
    const data = pairedTable(N);
    const res = mst(data, ABCD, { epsilon: 1000, rng: testRng("huge") });
    expect(res.table.rows).to.equal(N);
    for (let c = 0; c < 4; c++) closeTo(counts(res.table, c, 4), counts(data, c, 4), 1, `column ${c}`);
    closeTo(pairCounts(res.table, 0, 1, 4, 4), pairCounts(data, 0, 1, 4, 4), 1, "(a, b)");
    closeTo(pairCounts(res.table, 2, 3, 4, 4), pairCounts(data, 2, 3, 4, 4), 1, "(c, d)");
    expect(res.plan).to.deep.equal(planMst(4, 1000, 1e-9));
  });

  it("GIVEN two strongly related pairs THEN the tree holds both and one edge joining them: d−1 edges, no cycle", () => {
    for (const seed of ["t1", "t2", "t3"]) {
      const data = pairedTable(N, seed);
      const res = mst(data, ABCD, { epsilon: 5, rng: testRng(seed) });
      const names = pairNames(res.tree);
      expect(names).to.include.members(["a-b", "c-d"]);
      expect(res.tree).to.have.length(3);
      expect(isForest(res.tree)).to.equal(true);
      // The exact tree was measured: its joints match the data's shares.
      closeTo(modelJoint(res.model, 0, 1), pairCounts(data, 0, 1, 4, 4).map((x) => x / N), 0.02, "p(a, b)");
    }
  });

  it("GIVEN three identical columns and an independent one THEN two edges among the three and one to the fourth (cycles never picked)", () => {
    const r = testRng("triple");
    const a = Array.from({ length: N }, () => r.uniformInt(3));
    const d = Array.from({ length: N }, () => r.uniformInt(3));
    const res = mst(tableOf([a, a, a, d]), ABCD, { epsilon: 20, rng: testRng("triple-run") });
    const names = pairNames(res.tree);
    expect(names.filter((p) => p.includes("d"))).to.have.length(1);
    expect(names.filter((p) => !p.includes("d"))).to.have.length(2);
    expect(isForest(res.tree)).to.equal(true);
    const same = (x: Int32Array, y: Int32Array) => x.filter((v, i) => v === y[i]).length;
    expect(same(res.table.columns[1], res.table.columns[0])).to.be.above(0.97 * N);
    expect(same(res.table.columns[2], res.table.columns[0])).to.be.above(0.97 * N);
  });

  it("GIVEN exact (zero) pre-drawn noise THEN the fit is the data's: its total, every node and the tree's joints", () => {
    const data = pairedTable(N, "zero");
    const plan = planMst(4, 2, 1e-9);
    const res = mst(data, ABCD, { epsilon: 2, rng: testRng("zero-run"), noise: exactNoise(plan, SIZES) });
    expect(res.model.total).to.be.closeTo(N, 1e-6);
    expect(res.compressedSizes).to.deep.equal([4, 4, 4, 4]);
    for (let c = 0; c < 4; c++) closeTo(res.model.nodes[c], counts(data, c, 4).map((x) => x / N), 1e-3, `node ${c}`);
    for (const [x, y] of res.tree) {
      const [ia, ib] = [x, y].map((n) => ["a", "b", "c", "d"].indexOf(n)).sort();
      closeTo(modelJoint(res.model, ia, ib), pairCounts(data, ia, ib, 4, 4).map((v) => v / N), 1e-3, `p(${x}, ${y})`);
    }
    for (let c = 0; c < 4; c++) closeTo(counts(res.table, c, 4), counts(data, c, 4), 1, `column ${c}`);
  });

  it("GIVEN pre-drawn 1-way noise on one column THEN the fit moves that column's cells the noise's way", () => {
    const data = pairedTable(N, "one-way");
    const plan = planMst(4, 2, 1e-9);
    const truth = counts(data, 2, 4);
    const res = mst(data, ABCD, { epsilon: 2, rng: testRng("ow"), noise: exactNoise(plan, SIZES, [[2, 0, 60], [2, 1, -60]]) });
    const fit = Array.from(res.model.nodes[2]).map((p) => p * res.model.total);
    expect(fit[0]).to.be.above(truth[0] + 10);
    expect(fit[1]).to.be.below(truth[1] - 10);
    expect(fit[2]).to.be.closeTo(truth[2], 10);
  });

  it("GIVEN 2-way noise in the pool THEN the first edge takes the pool's first cells and the second edge the cells after them", () => {
    const data = pairedTable(N, "two-way");
    const plan = planMst(4, 2, 1e-9);
    // Edge 1 is (a, b) (b copies a: the highest score), edge 2 is (c, d); each is 4×4 on the compressed domain.
    const second = mst(data, ABCD, { epsilon: 2, rng: testRng("tw"), noise: exactNoise(plan, SIZES, [], [[16, 80], [21, -80]]) });
    expect(second.tree.slice(0, 2)).to.deep.equal([
      ["a", "b"],
      ["c", "d"],
    ]);
    const cd = pairCounts(data, 2, 3, 4, 4);
    const ab = pairCounts(data, 0, 1, 4, 4);
    const fitCd = modelJoint(second.model, 2, 3).map((p) => p * second.model.total);
    const fitAb = modelJoint(second.model, 0, 1).map((p) => p * second.model.total);
    expect(fitCd[0]).to.be.above(cd[0] + 15);
    expect(fitCd[5]).to.be.below(cd[5] - 15);
    closeTo(fitAb, ab, 3, "(a, b) untouched");
    const first = mst(data, ABCD, { epsilon: 2, rng: testRng("tw"), noise: exactNoise(plan, SIZES, [], [[0, 80], [5, -80]]) });
    const firstAb = modelJoint(first.model, 0, 1).map((p) => p * first.model.total);
    expect(firstAb[0]).to.be.above(ab[0] + 15);
    expect(firstAb[5]).to.be.below(ab[5] - 15);
    closeTo(
      modelJoint(first.model, 2, 3).map((p) => p * first.model.total),
      cd,
      3,
      "(c, d) untouched",
    );
  });

  it("GIVEN codes whose noisy count is below 3 sd THEN they are merged and generated in proportion; the unknown code never", () => {
    // e: 300, 290, 6, 4 and no unknown; f = e mod 2. At ε = 1 (d = 2) the 1-way sd is about 14: codes 2, 3 and 4 merge.
    const e = [...Array(300).fill(0), ...Array(290).fill(1), ...Array(6).fill(2), ...Array(4).fill(3)];
    const f = e.map((v) => v % 2);
    const domain = categoricalDomain(["e", "f"], [4, 2]);
    const plan = planMst(2, 1, 1e-9);
    const res = mst(tableOf([e, f]), domain, { epsilon: 1, rng: testRng("merge"), noise: exactNoise(plan, [5, 3]) });
    expect(res.compressedSizes).to.deep.equal([3, 3]);
    const out = counts(res.table, 0, 5);
    expect(out[4]).to.equal(0);
    expect(out[2] + out[3]).to.be.within(8, 12);
    expect(out[2]).to.be.above(0);
    expect(out[3]).to.be.above(0);
    closeTo(out.slice(0, 2), [300, 290], 3, "kept codes");
    expect(counts(res.table, 1, 3)[2]).to.equal(0);
  });

  it("GIVEN a column's unknown code with a noisy count below 3 sd THEN no unknown value is generated; at 3 sd or more it is", () => {
    const data = pairedTable(N, "unknown");
    const plan = planMst(4, 1, 1e-9);
    const sd = Math.sqrt(rationalValue(plan.oneWayVariance));
    const below = Math.floor(2.9 * sd);
    const hidden = mst(data, ABCD, { epsilon: 1, rng: testRng("u1"), noise: exactNoise(plan, SIZES, [[0, 3, below], [0, 0, -below]]) });
    expect(counts(hidden.table, 0, 4)[3]).to.equal(0);
    expect(hidden.compressedSizes[0]).to.equal(4);
    const above = Math.ceil(3.1 * sd);
    const shown = mst(data, ABCD, { epsilon: 1, rng: testRng("u1"), noise: exactNoise(plan, SIZES, [[0, 3, above], [0, 0, -above]]) });
    expect(shown.compressedSizes[0]).to.equal(4);
    expect(counts(shown.table, 0, 4)[3]).to.be.above(above / 4);
  });

  it("GIVEN rows, rowsFor or neither THEN that many rows: the given number, rowsFor of the estimate, or the rounded estimate", () => {
    const data = pairedTable(N, "rows");
    const plan = planMst(4, 2, 1e-9);
    const noise = () => exactNoise(plan, SIZES, [[0, 0, 30], [1, 0, 30], [2, 0, 30], [3, 0, 30]], [[0, 30], [16, 30], [32, 30]]);
    const fixed = mst(data, ABCD, { epsilon: 2, rng: testRng("r"), noise: noise(), rows: 50, rowsFor: () => 7 });
    expect(fixed.table.rows).to.equal(50);
    expect(fixed.table.columns.map((c) => c.length)).to.deep.equal([50, 50, 50, 50]);
    const seen: number[] = [];
    const capped = mst(data, ABCD, {
      epsilon: 2,
      rng: testRng("r"),
      noise: noise(),
      rowsFor: (n) => {
        seen.push(n);
        return 123;
      },
    });
    expect(capped.table.rows).to.equal(123);
    expect(seen).to.deep.equal([capped.model.total]);
    // Every measurement's total is 630: the estimate is 630, not the data's 600.
    expect(capped.model.total).to.be.closeTo(630, 1e-6);
    const free = mst(data, ABCD, { epsilon: 2, rng: testRng("r"), noise: noise() });
    expect(free.table.rows).to.equal(630);
  });

  it("GIVEN one column THEN no tree: its noisy counts, projected, with the unknown code dropped below 3 sd", () => {
    const x = [...Array(50).fill(0), ...Array(30).fill(1), ...Array(20).fill(2)];
    const domain = categoricalDomain(["x"], [3]);
    const exact = mst(tableOf([x]), domain, { epsilon: 1000, rng: testRng("one") });
    expect(exact.tree).to.deep.equal([]);
    expect(exact.compressedSizes).to.deep.equal([4]);
    expect(exact.model.sizes).to.deep.equal([4]);
    expect(exact.model.total).to.be.closeTo(100, 1);
    expect(counts(exact.table, 0, 4)).to.deep.equal([50, 30, 20, 0]);
    expect(exact.timings).to.have.keys(["noise", "measure-1way", "generate"]);
    const plan = planMst(1, 1, 1e-9);
    const sd = Math.sqrt(rationalValue(plan.oneWayVariance));
    const below = Math.floor(2.9 * sd);
    const hidden = mst(tableOf([x]), domain, { epsilon: 1, rng: testRng("one-u"), noise: exactNoise(plan, [4], [[0, 3, below], [0, 0, -below]]) });
    expect(hidden.table.rows).to.equal(100);
    expect(counts(hidden.table, 0, 4)[3]).to.equal(0);
    closeTo(counts(hidden.table, 0, 4).slice(0, 3), [50 - below, 30, 20].map((v) => (v * 100) / (100 - below)), 1, "rescaled known codes");
    const above = Math.ceil(3.1 * sd);
    const shown = mst(tableOf([x]), domain, { epsilon: 1, rng: testRng("one-u"), noise: exactNoise(plan, [4], [[0, 3, above], [0, 0, -above]]) });
    expect(counts(shown.table, 0, 4)).to.deep.equal([50 - above, 30, 20, above]);
    const sized = mst(tableOf([x]), domain, { epsilon: 1, rng: testRng("one-u"), noise: exactNoise(plan, [4], [[0, 0, 10]]), rowsFor: (n) => n * 2 });
    expect(sized.table.rows).to.equal(220);
    expect(mst(tableOf([x]), domain, { epsilon: 1, rng: testRng("one-u"), noise: exactNoise(plan, [4], [[0, 0, 10]]), rows: 9 }).table.rows).to.equal(9);
    expect(mst(tableOf([x]), domain, { epsilon: 1, rng: testRng("one-u"), noise: exactNoise(plan, [4], [[0, 0, 10]]) }).table.rows).to.equal(110);
  });

  it("GIVEN rows or count tables of the same data THEN the same release; the options' δ and iterations are used", () => {
    const data = pairedTable(200, "same");
    expect(isEncodedTable(data)).to.equal(true);
    const tables = tablesOfColumns(data.columns, SIZES);
    expect(isEncodedTable(tables)).to.equal(false);
    // Count tables that also report their row count are still count tables.
    const counted = { sizes: tables.sizes, oneWay: (i: number) => tables.oneWay(i), twoWay: (a: number, b: number) => tables.twoWay(a, b), rows: 200 };
    expect(isEncodedTable(counted)).to.equal(false);
    expect(mst(counted, ABCD, { epsilon: 3, delta: 1e-6, iterations: 7, rng: testRng("same") }).table.rows).to.be.within(150, 250);
    const started = performance.now();
    const fromRows = mst(data, ABCD, { epsilon: 3, delta: 1e-6, iterations: 7, rng: testRng("same") });
    const elapsed = performance.now() - started;
    const fromCounts = mst(tables, ABCD, { epsilon: 3, delta: 1e-6, iterations: 7, rng: testRng("same") });
    expect(fromCounts.table.columns.map((c) => Array.from(c))).to.deep.equal(fromRows.table.columns.map((c) => Array.from(c)));
    expect(fromRows.plan).to.deep.equal(planMst(4, 3, 1e-6));
    expect(fromRows.model.iterations).to.equal(7);
    expect(fromRows.timings).to.have.keys(["noise", "measure-1way", "compress", "score", "select", "measure-2way", "estimate", "generate"]);
    const phases = Object.values(fromRows.timings);
    for (const t of phases) expect(t).to.be.at.least(0);
    expect(phases.reduce((a, b) => a + b, 0)).to.be.at.most(elapsed);
  });
});

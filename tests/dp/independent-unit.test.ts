// The product-of-marginals synthesizer in process on small exact tables (issue 20, dp-mst mutation path): the plan,
// the noise drawn before the data is read, and the release checked exactly against the data plus chosen pre-drawn
// noise (totals kept at the data's, so every expected count is an integer).
import { expect } from "chai";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { drawIndependentNoise, planIndependent, productOfMarginals } from "../../src/runtime/dp/independent.js";
import { tablesOfColumns } from "../../src/runtime/dp/marginal-source.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { discreteGaussianVector, rationalAtLeast, rationalValue } from "../../src/runtime/dp/samplers.js";
import { categoricalDomain, counts, invalidArgument, pairedTable, tableOf } from "./synth-fixtures.js";

const XY = categoricalDomain(["x", "y"], [3, 2]);
/** x: 100, 60, 40 (no unknown); y = 0 for x = 0, else 1: 100, 100. */
const X = [...Array(100).fill(0), ...Array(60).fill(1), ...Array(40).fill(2)];
const DATA = tableOf([X, X.map((v) => (v === 0 ? 0 : 1))]);

/** Noise vectors for XY: zeros, with [column, code, value] cells set. */
function noiseOf(cells: [number, number, number][] = []): Float64Array[] {
  const out = [new Float64Array(4), new Float64Array(3)];
  for (const [c, x, v] of cells) out[c][x] = v;
  return out;
}

describe("dp product of marginals (unit)", () => {
  it("GIVEN ε not finite and > 0 or δ outside (0, 1) WHEN planned THEN invalid-argument", () => {
    for (const epsilon of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(invalidArgument(() => planIndependent(2, epsilon, 1e-9)).message).to.match(/epsilon/);
    for (const delta of [0, -1e-9, 1, 3, Number.NaN]) expect(invalidArgument(() => planIndependent(2, 1, delta)).message).to.match(/delta/);
  });

  it("GIVEN d columns WHEN planned THEN every 1-way cell gets σ² = d/(2ρ) rounded up, and ρ spent ≤ ρ", () => {
    for (const [d, epsilon, delta] of [
      [1, 1, 1e-9],
      [3, 0.5, 1e-6],
      [8, 4, 1e-9],
    ]) {
      const rho = cdpRho(epsilon, delta);
      const plan = planIndependent(d, epsilon, delta);
      expect(plan).to.deep.include({ epsilon, delta, rho });
      expect(plan.variance).to.deep.equal(rationalAtLeast(d / (2 * rho)));
      expect(plan.rhoSpent).to.equal(d / (2 * rationalValue(plan.variance)));
      expect(plan.rhoSpent).to.be.at.most(rho).and.above(rho * (1 - 1e-6));
    }
  });

  it("GIVEN a plan WHEN its noise is drawn THEN one vector per column, from the stream in column order", () => {
    const plan = planIndependent(3, 1, 1e-9);
    const noise = drawIndependentNoise(plan, [2, 5, 3], testRng("pom-noise"));
    const twin = testRng("pom-noise");
    expect(noise.map((v) => Array.from(v))).to.deep.equal([2, 5, 3].map((k) => Array.from(discreteGaussianVector(twin, plan.variance, k))));
  });

  it("GIVEN no pre-drawn noise THEN it is drawn first from the generator, exactly as drawIndependentNoise would", () => {
    const own = productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("pom-order") });
    const rng = testRng("pom-order");
    const noise = drawIndependentNoise(planIndependent(2, 1, 1e-9), [4, 3], rng);
    const given = productOfMarginals(DATA, XY, { epsilon: 1, rng, noise });
    expect(given.table.columns.map((c) => Array.from(c))).to.deep.equal(own.table.columns.map((c) => Array.from(c)));
    expect(own.plan).to.deep.equal(planIndependent(2, 1, 1e-9));
    expect(productOfMarginals(DATA, XY, { epsilon: 1, delta: 1e-4, rng: testRng("d") }).plan).to.deep.equal(planIndependent(2, 1, 1e-4));
  });

  it("GIVEN zero noise THEN each synthetic column has exactly the data's counts", () => {
    const res = productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("pom-zero"), noise: noiseOf() });
    expect(res.table.rows).to.equal(200);
    expect(counts(res.table, 0, 4)).to.deep.equal([100, 60, 40, 0]);
    expect(counts(res.table, 1, 3)).to.deep.equal([100, 100, 0]);
  });

  it("GIVEN pre-drawn noise THEN it is added to the counts: each column has the data's counts plus its noise", () => {
    const res = productOfMarginals(DATA, XY, {
      epsilon: 1,
      rng: testRng("pom-noisy"),
      noise: noiseOf([
        [0, 0, 12],
        [0, 1, -20],
        [0, 2, 8],
        [1, 0, -30],
        [1, 1, 30],
      ]),
    });
    expect(counts(res.table, 0, 4)).to.deep.equal([112, 40, 48, 0]);
    expect(counts(res.table, 1, 3)).to.deep.equal([70, 130, 0]);
  });

  it("GIVEN rows or count tables of the same data THEN the same release; columns are shuffled independently", () => {
    const data = pairedTable(300, "pom-same");
    const domain = categoricalDomain(["a", "b", "c", "d"], [3, 3, 3, 3]);
    const started = performance.now();
    const fromRows = productOfMarginals(data, domain, { epsilon: 2, rng: testRng("same") });
    const elapsed = performance.now() - started;
    const fromCounts = productOfMarginals(tablesOfColumns(data.columns, [4, 4, 4, 4]), domain, { epsilon: 2, rng: testRng("same") });
    expect(fromCounts.table.columns.map((c) => Array.from(c))).to.deep.equal(fromRows.table.columns.map((c) => Array.from(c)));
    // b copies a in the data; independent columns agree on about a third of the rows.
    const agree = fromRows.table.columns[0].filter((v, i) => v === fromRows.table.columns[1][i]).length;
    expect(agree).to.be.within(60, 140);
    expect(fromRows.timings).to.have.keys(["noise", "measure-1way", "generate"]);
    const phases = Object.values(fromRows.timings);
    for (const t of phases) expect(t).to.be.at.least(0);
    expect(phases.reduce((a, b) => a + b, 0)).to.be.at.most(elapsed);
  });

  it("GIVEN rows, rowsFor or neither THEN that many rows: the given number, rowsFor of the estimate, or the rounded estimate", () => {
    // Column totals 210 (4 cells) and 200 (3 cells): the estimate is their inverse-variance mean, 204.29.
    const estimate = (210 / 4 + 200 / 3) / (1 / 4 + 1 / 3);
    const noise = () => noiseOf([[0, 0, 10]]);
    expect(productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("r"), noise: noise(), rows: 17, rowsFor: () => 3 }).table.rows).to.equal(17);
    const seen: number[] = [];
    const res = productOfMarginals(DATA, XY, {
      epsilon: 1,
      rng: testRng("r"),
      noise: noise(),
      rowsFor: (n) => {
        seen.push(n);
        return 40;
      },
    });
    expect(seen).to.have.length(1);
    expect(seen[0]).to.be.closeTo(estimate, 1e-9);
    expect(res.table.rows).to.equal(40);
    expect(res.table.columns.map((c) => c.length)).to.deep.equal([40, 40]);
    expect(productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("r"), noise: noise() }).table.rows).to.equal(204);
    expect(productOfMarginals(DATA, XY, { epsilon: 1, noise: noise() }).table.rows).to.equal(204);
  });

  it("GIVEN a noisy unknown count below 3 sd THEN no unknown value is generated; at 3 sd or more it is", () => {
    const sd = Math.sqrt(rationalValue(planIndependent(2, 1, 1e-9).variance));
    const below = Math.floor(2.9 * sd);
    const hidden = productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("u"), noise: noiseOf([[0, 3, below], [0, 0, -below]]) });
    expect(hidden.table.rows).to.equal(200);
    const out = counts(hidden.table, 0, 4);
    expect(out[3]).to.equal(0);
    // The unknown code's share goes to the known codes in proportion.
    const known = [100 - below, 60, 40];
    out.slice(0, 3).forEach((v, i) => {
      expect(v).to.be.closeTo((known[i] * 200) / (200 - below), 1);
    });
    const above = Math.ceil(3.1 * sd);
    const shown = productOfMarginals(DATA, XY, { epsilon: 1, rng: testRng("u"), noise: noiseOf([[0, 3, above], [0, 0, -above]]) });
    expect(counts(shown.table, 0, 4)).to.deep.equal([100 - above, 60, 40, above]);
  });
});

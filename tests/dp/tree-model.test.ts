// The tree estimator (mirror descent + exact belief propagation) and randomized-rounding generation, on measurements
// whose answer is known.
import { expect } from "chai";
import { testRng } from "../../src/runtime/dp/rng.js";
import { roundedCounts, sampleTreeModel } from "../../src/runtime/dp/sample.js";
import { estimateTree, type OneWayMeasurement, type TwoWayMeasurement } from "../../src/runtime/dp/tree-model.js";

/** A chain a → b → c with known tables, scaled to `n` records. */
function chain(n: number) {
  const pa = [0.5, 0.3, 0.2];
  const pbGivenA = [
    [0.8, 0.2],
    [0.4, 0.6],
    [0.1, 0.9],
  ];
  const pcGivenB = [
    [0.7, 0.2, 0.1, 0],
    [0.1, 0.1, 0.3, 0.5],
  ];
  const ab = new Float64Array(6);
  const bc = new Float64Array(8);
  const a = new Float64Array(3);
  const b = new Float64Array(2);
  const c = new Float64Array(4);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      const pij = pa[i] * pbGivenA[i][j];
      ab[i * 2 + j] = n * pij;
      a[i] += n * pij;
      b[j] += n * pij;
      for (let k = 0; k < 4; k++) {
        bc[j * 4 + k] += n * pij * pcGivenB[j][k];
        c[k] += n * pij * pcGivenB[j][k];
      }
    }
  }
  return { a, b, c, ab, bc };
}

const meas = (y: Float64Array): OneWayMeasurement => ({ y, variance: new Float64Array(y.length).fill(4) });

describe("dp tree estimator and generation", () => {
  it("GIVEN exact (noise-free) measurements of a chain WHEN estimating THEN the model reproduces every marginal", () => {
    const n = 1000;
    const t = chain(n);
    const twoWay: TwoWayMeasurement[] = [
      { a: 0, b: 1, y: t.ab, variance: 4 },
      // Stored c-major to exercise the transpose: b is the parent in the rooted tree.
      { a: 2, b: 1, y: Float64Array.from({ length: 8 }, (_, i) => t.bc[(i % 2) * 4 + Math.floor(i / 2)]), variance: 4 },
    ];
    const model = estimateTree([3, 2, 4], [meas(t.a), meas(t.b), meas(t.c)], twoWay, { iterations: 3000 });
    expect(model.total).to.be.closeTo(n, 1e-6);
    const close = (got: ArrayLike<number>, want: ArrayLike<number>) => {
      for (let i = 0; i < want.length; i++) expect(got[i] * n).to.be.closeTo(want[i], 0.5);
    };
    close(model.nodes[0], t.a);
    close(model.nodes[1], t.b);
    close(model.nodes[2], t.c);
    // Root 0; b's table is p(a, b), c's table is p(b, c), both parent-major.
    expect(model.parent).to.deep.equal([-1, 0, 1]);
    close(model.edges[1] as Float64Array, t.ab);
    close(model.edges[2] as Float64Array, t.bc);
    expect(model.loss).to.be.below(1);
  });

  it("GIVEN noisy measurements WHEN estimating THEN edge tables agree with node marginals (one consistent distribution)", () => {
    const t = chain(500);
    const rng = testRng("tree-noise");
    const noisy = (y: Float64Array) => Float64Array.from(y, (v) => v + (rng.uniform01() - 0.5) * 40);
    const model = estimateTree(
      [3, 2, 4],
      [meas(noisy(t.a)), meas(noisy(t.b)), meas(noisy(t.c))],
      [
        { a: 0, b: 1, y: noisy(t.ab), variance: 4 },
        { a: 1, b: 2, y: noisy(t.bc), variance: 4 },
      ],
    );
    for (const [child, kp, kc] of [
      [1, 3, 2],
      [2, 2, 4],
    ] as const) {
      const e = model.edges[child] as Float64Array;
      const parent = model.parent[child];
      for (let x = 0; x < kp; x++) {
        let row = 0;
        for (let y = 0; y < kc; y++) row += e[x * kc + y];
        expect(row).to.be.closeTo(model.nodes[parent][x], 1e-9);
      }
      for (let y = 0; y < kc; y++) {
        let col = 0;
        for (let x = 0; x < kp; x++) col += e[x * kc + y];
        expect(col).to.be.closeTo(model.nodes[child][y], 1e-9);
      }
      for (const v of e) expect(v).to.be.at.least(0);
    }
  });

  it("GIVEN a fitted model WHEN generating by randomized rounding THEN counts are the expected counts rounded, summing exactly", () => {
    const rng = testRng("rounding");
    const probs = [0.123, 0.456, 0.001, 0.42];
    for (let rep = 0; rep < 50; rep++) {
      const c = roundedCounts(probs, 997, rng);
      expect(c.reduce((s, v) => s + v, 0)).to.equal(997);
      probs.forEach((p, i) => {
        expect(c[i]).to.be.within(Math.floor(997 * p), Math.ceil(997 * p));
      });
    }
    const t = chain(1000);
    const model = estimateTree([3, 2, 4], [meas(t.a), meas(t.b), meas(t.c)], [
      { a: 0, b: 1, y: t.ab, variance: 4 },
      { a: 1, b: 2, y: t.bc, variance: 4 },
    ]);
    const rows = sampleTreeModel(model, 1000, rng);
    // The root's column hits its expected counts to within one row (no multinomial noise).
    const counts = [0, 0, 0];
    for (const v of rows.columns[0]) counts[v]++;
    counts.forEach((k, i) => {
      expect(Math.abs(k - t.a[i])).to.be.at.most(1);
    });
    // Each child is generated within its parent's groups: p(c | b) is kept to within a few rows per group.
    const bc = new Float64Array(8);
    for (let r = 0; r < 1000; r++) bc[rows.columns[1][r] * 4 + rows.columns[2][r]]++;
    for (let i = 0; i < 8; i++) expect(Math.abs(bc[i] - t.bc[i])).to.be.at.most(4);
  });
});

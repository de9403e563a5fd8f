// The synthesizers' numeric helpers in process (issue 20, dp-model mutation path): histograms, total variation, the
// weighted simplex projection, inverse-variance means, table compression, domain compression of rare values and the
// randomized rounding that turns probabilities into exact counts. Exact expectations on small inputs.
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { compressCodes, compressColumn, decompressCodes, KEEP_THRESHOLD_SD, passesThreshold, withoutInsignificantUnknown } from "../../src/runtime/dp/compress.js";
import { compressTable, histogram1, histogram2, inverseVarianceMean, projectToSimplex, totalVariation } from "../../src/runtime/dp/marginals.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { roundedCounts, sampleTreeModel } from "../../src/runtime/dp/sample.js";
import { estimateTotal, estimateTree, singleColumnModel } from "../../src/runtime/dp/tree-model.js";

const arr = (x: ArrayLike<number>) => Array.from(x);
const close = (x: ArrayLike<number>, y: number[], eps = 1e-9) => {
  expect(x.length).to.equal(y.length);
  for (let i = 0; i < y.length; i++) expect(x[i], `[${i}] of ${arr(x)}`).to.be.closeTo(y[i], eps);
};

describe("dp marginals", () => {
  it("GIVEN coded columns THEN 1-way and 2-way histograms count every row in its cell (row-major a×b)", () => {
    expect(arr(histogram1(Int32Array.from([0, 2, 2, 1, 2]), 4))).to.deep.equal([1, 1, 3, 0]);
    expect(arr(histogram2(Int32Array.from([0, 1, 1, 2]), Int32Array.from([1, 0, 1, 1]), 3, 2))).to.deep.equal([0, 1, 1, 1, 0, 1]);
  });

  it("GIVEN two histograms THEN total variation compares their shares; empty ones are 0 apart from each other and 1 from anything", () => {
    expect(totalVariation([1, 1], [2, 2])).to.equal(0);
    expect(totalVariation([3, 1], [1, 3])).to.equal(0.5);
    expect(totalVariation([1, 0, 0], [0, 0, 5])).to.equal(1);
    expect(totalVariation([0, 0], [0, 0])).to.equal(0);
    expect(totalVariation([0, 0], [1, 0])).to.equal(1);
    expect(totalVariation([1, 0], [0, 0])).to.equal(1);
  });

  it("GIVEN noisy counts THEN the projection is non-negative, sums to the total and shifts each cell by λ·variance", () => {
    // Equal variances, no clipping: every cell moves by the same amount.
    close(projectToSimplex([5, 3, 2], [1, 1, 1], 13), [6, 4, 3]);
    close(projectToSimplex([5, 3, 2], [1, 1, 1], 7), [4, 2, 1]);
    // Clipping: the negative cell goes to 0 and the rest share the total.
    close(projectToSimplex([10, -4, 2], [1, 1, 1], 10), [9, 0, 1]);
    // Unequal variances: the noisier cell absorbs more of the correction.
    close(projectToSimplex([4, 4], [1, 3], 4), [3, 1]);
    close(projectToSimplex([4, 4], [1, 3], 12), [5, 7]);
    expect(arr(projectToSimplex([1, 2], [1, 1], 0))).to.deep.equal([0, 0]);
    expect(arr(projectToSimplex([], [], 5))).to.deep.equal([]);
    const wide = projectToSimplex([1e6, -1e6, 3], [1, 1, 1], 1);
    expect(wide.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-9);
    expect(Math.min(...wide)).to.be.at.least(0);
    close(projectToSimplex([-5, -5], [1, 1], 4), [2, 2]);
    // λ far below −1 and far above 1: the bracket must grow before bisecting.
    close(projectToSimplex([1, 1], [1, 3], 100), [25.5, 74.5]);
    close(projectToSimplex([100, 100], [1, 3], 4), [4, 0]);
    expect(arr(projectToSimplex([1, 2], [1, 1], -5))).to.deep.equal([0, 0]);
  });

  it("GIVEN counts whose projection is exact in double precision THEN it comes back exactly: a shift of exactly −1 (the bracket's first end) or 0 at a tiny scale", () => {
    // λ = −1: the search must not start from a bracket end that already hits the total (it would settle an ulp off).
    expect(arr(projectToSimplex([5, 3, 2], [1, 1, 1], 13))).to.deep.equal([6, 4, 3]);
    // λ = 0 on counts of 1e-70: already on the simplex, so returned unchanged (the bisection stops after 200 halvings,
    // with the upper end at exactly 0, instead of creeping on towards 0 from below into rounding).
    expect(arr(projectToSimplex([1e-70, 2e-70], [1, 1], 3e-70))).to.deep.equal([1e-70, 2e-70]);
  });

  it("GIVEN estimates with variances THEN their inverse-variance weighted mean; none gives 0", () => {
    expect(inverseVarianceMean([
      { value: 10, variance: 1 },
      { value: 20, variance: 4 },
    ])).to.be.closeTo((10 + 20 / 4) / (1 + 1 / 4), 1e-12);
    expect(inverseVarianceMean([{ value: 7, variance: 2 }])).to.equal(7);
    expect(inverseVarianceMean([])).to.equal(0);
  });

  it("GIVEN a table and two code maps THEN compressTable adds each cell into its compressed cell", () => {
    // 2×3 table, b's codes 1 and 2 merged into 1.
    const out = compressTable([1, 2, 3, 4, 5, 6], 2, 3, Int32Array.from([0, 1]), Int32Array.from([0, 1, 1]), 2, 2);
    expect(arr(out)).to.deep.equal([1, 5, 4, 11]);
    expect(arr(compressTable([1, 2, 3, 4], 2, 2, Int32Array.from([0, 0]), Int32Array.from([1, 0]), 1, 2))).to.deep.equal([6, 4]);
  });
});

describe("dp domain compression", () => {
  it("GIVEN the threshold THEN a count passes at exactly 3 sd and not below", () => {
    expect(KEEP_THRESHOLD_SD).to.equal(3);
    expect(passesThreshold(6, 4)).to.equal(true);
    expect(passesThreshold(5.999, 4)).to.equal(false);
    expect(passesThreshold(-1, 0)).to.equal(false);
    expect(passesThreshold(0, 0)).to.equal(true);
  });

  it("GIVEN noisy counts THEN values under the threshold merge into one last code whose measurement adds their counts and variances", () => {
    const c = compressColumn(Float64Array.from([50, 2, 30, -1, 4]), 4, 4);
    expect(arr(c.kept)).to.deep.equal([0, 2]);
    expect(arr(c.merged)).to.deep.equal([1, 3, 4]);
    expect(c.size).to.equal(3);
    expect(arr(c.forward)).to.deep.equal([0, 2, 1, 2, 2]);
    expect(arr(c.measurement.y)).to.deep.equal([50, 30, 5]);
    expect(arr(c.measurement.variance)).to.deep.equal([4, 4, 12]);
    // Merged values decompress ∝ their clipped noisy counts; the unknown code (4) never.
    close(c.mergedProbabilities, [1, 0, 0]);
    expect(c.otherIsOnlyUnknown).to.equal(false);
    const none = compressColumn(Float64Array.from([50, 30]), 4);
    expect(none.size).to.equal(2);
    expect(arr(none.merged)).to.deep.equal([]);
    expect(arr(none.measurement.variance)).to.deep.equal([4, 4]);
    const onlyUnknown = compressColumn(Float64Array.from([50, 30, 1]), 4, 2);
    expect(onlyUnknown.otherIsOnlyUnknown).to.equal(true);
    close(onlyUnknown.mergedProbabilities, [1]);
    expect(compressColumn(Float64Array.from([50, 1, 2]), 4, 1).otherIsOnlyUnknown).to.equal(false);
    expect(compressColumn(Float64Array.from([50, 30, 1]), 4, 0).otherIsOnlyUnknown).to.equal(false);
  });

  it("GIVEN merged values with no positive count THEN they decompress uniformly over the known ones (or all, if none is known)", () => {
    close(compressColumn(Float64Array.from([50, -1, 0, -3]), 4, 3).mergedProbabilities, [0.5, 0.5, 0]);
    close(compressColumn(Float64Array.from([50, -1, 0]), 4).mergedProbabilities, [0.5, 0.5]);
    close(compressColumn(Float64Array.from([50, 1, 3]), 4).mergedProbabilities, [0.25, 0.75]);
  });

  it("GIVEN codes THEN compress maps them forward and decompress maps kept codes back and draws merged ones by their shares", () => {
    const c = compressColumn(Float64Array.from([50, 1, 30, 3, 0]), 4, 4);
    const col = Int32Array.from([0, 1, 2, 3, 4, 2]);
    const small = compressCodes(col, c);
    expect(arr(small)).to.deep.equal([0, 2, 1, 2, 2, 1]);
    const many = new Int32Array(4000).fill(2);
    const back = decompressCodes(Int32Array.from([0, 1, ...many]), c, testRng("decompress"));
    expect(back[0]).to.equal(0);
    expect(back[1]).to.equal(2);
    const rest = arr(back.subarray(2));
    const ones = rest.filter((v) => v === 1).length;
    expect(rest.every((v) => v === 1 || v === 3)).to.equal(true);
    // Shares 1/4 and 3/4: within 6 sd (sd = 27 at n = 4000).
    expect(Math.abs(ones - 1000)).to.be.at.most(6 * Math.sqrt(4000 * 0.25 * 0.75));
    // Three merged values with shares 0.2, 0.3, 0.5: each drawn in proportion (the walk subtracts each share in turn).
    const three = compressColumn(Float64Array.from([50, 2, 3, 5]), 4);
    close(three.mergedProbabilities, [0.2, 0.3, 0.5]);
    const drawn3 = arr(decompressCodes(new Int32Array(3000).fill(1), three, testRng("three")));
    for (const [code, share] of [
      [1, 0.2],
      [2, 0.3],
      [3, 0.5],
    ]) {
      const got = drawn3.filter((v) => v === code).length;
      expect(Math.abs(got - 3000 * share), `code ${code}: ${got}`).to.be.at.most(6 * Math.sqrt(3000 * share * (1 - share)));
    }
    // A merged share of exactly zero is never drawn, even at the end of the list.
    const z = compressColumn(Float64Array.from([50, 2, 0]), 4, 2);
    const drawn = decompressCodes(new Int32Array(200).fill(1), z, testRng("zero-share"));
    expect(arr(drawn).every((v) => v === 1)).to.equal(true);
  });

  it("GIVEN probabilities with an insignificant unknown code THEN its mass is removed and the rest renormalised; a significant one stays", () => {
    const p = Float64Array.from([0.5, 0.3, 0.2]);
    withoutInsignificantUnknown(p, [50, 30, 1], 4, 2);
    close(p, [0.625, 0.375, 0]);
    const q = Float64Array.from([0.5, 0.3, 0.2]);
    withoutInsignificantUnknown(q, [50, 30, 6], 4, 2);
    close(q, [0.5, 0.3, 0.2]);
    const only = Float64Array.from([0, 0, 1]);
    withoutInsignificantUnknown(only, [0, 0, 1], 4, 2);
    close(only, [0, 0, 1]);
    const zero = Float64Array.from([0.6, 0.4, 0]);
    withoutInsignificantUnknown(zero, [50, 30, 1], 4, 2);
    close(zero, [0.6, 0.4, 0]);
  });
});

describe("dp randomized rounding and sampling", () => {
  it("GIVEN probabilities THEN counts are the floors plus one each for as many fractional parts as are missing, summing exactly", () => {
    const rng = testRng("round");
    for (let t = 0; t < 50; t++) {
      const c = roundedCounts([0.5, 0.25, 0.25], 10, rng);
      expect(c.reduce((a, b) => a + b, 0)).to.equal(10);
      expect(c[0]).to.equal(5);
      expect([c[1], c[2]].sort()).to.deep.equal([2, 3]);
    }
    expect(arr(roundedCounts([2, 1, 1], 8, rng))).to.deep.equal([4, 2, 2]);
    expect(arr(roundedCounts([0, 0, 1], 3, rng))).to.deep.equal([0, 0, 3]);
    expect(arr(roundedCounts([-1, 1], 3, rng))).to.deep.equal([0, 3]);
    expect(arr(roundedCounts([1, 1], 0, rng))).to.deep.equal([0, 0]);
    expect(arr(roundedCounts([1, 1], -3, rng))).to.deep.equal([0, 0]);
    // A leftover below the draw's resolution (fractional parts summing to ≤ 1e-9): the unit still goes to a cell with
    // probability mass, never to an empty one, and uniformly among the cells when none has mass.
    for (let t = 0; t < 20; t++) {
      expect(arr(roundedCounts([0, 1, 0], 1e-10, rng))).to.deep.equal([0, 1, 0]);
      expect(arr(roundedCounts([0, 2, 0, 1], 1e-10, rng)).filter((_, i) => i === 0 || i === 2)).to.deep.equal([0, 0]);
    }
    let left = 0;
    for (let t = 0; t < 200; t++) {
      const c = roundedCounts([0, 0], 1e-10, rng);
      expect(c[0] + c[1]).to.equal(1);
      left += c[0];
    }
    expect(left).to.be.within(60, 140);
    // Two of four equal halves get the extra units, each pair equally likely: the first cell gets one about half the time.
    let firstGetsOne = 0;
    for (let t = 0; t < 400; t++) {
      const c = roundedCounts([1, 1, 1, 1], 2, rng);
      expect(arr(c).every((v) => v === 0 || v === 1)).to.equal(true);
      expect(c.reduce((a, b) => a + b, 0)).to.equal(2);
      if (c[0] === 1) firstGetsOne++;
    }
    expect(firstGetsOne).to.be.within(140, 260);
    expect(arr(roundedCounts([], 5, rng))).to.deep.equal([]);
    // No mass at all: spread evenly, the remainder drawn.
    const even = roundedCounts([0, 0, 0], 7, rng);
    expect(even.reduce((a, b) => a + b, 0)).to.equal(7);
    expect(Math.min(...even)).to.equal(2);
    // Fractions drawn in proportion: 0.9 vs 0.1 leftover.
    let first = 0;
    for (let t = 0; t < 400; t++) if (roundedCounts([0.9, 0.1], 1, rng)[0] === 1) first++;
    expect(first).to.be.within(330, 390);
  });

  it("GIVEN a one-column model THEN sampling gives the rounded counts, shuffled, and an excluded code only when nothing else has mass", () => {
    const model = singleColumnModel(3, Float64Array.from([0.5, 0.3, 0.2]), 100);
    const t = sampleTreeModel(model, 100, testRng("sample"));
    expect(t.rows).to.equal(100);
    expect(arr(histogram1(t.columns[0], 3))).to.deep.equal([50, 30, 20]);
    expect(arr(t.columns[0].subarray(0, 50)).every((v) => v === 0)).to.equal(false);
    const ex = sampleTreeModel(model, 100, testRng("sample"), [2]);
    const h = arr(histogram1(ex.columns[0], 3));
    expect(h[2]).to.equal(0);
    expect(h[0] + h[1]).to.equal(100);
    expect(h[0]).to.be.oneOf([62, 63]);
    const onlyExcluded = singleColumnModel(3, Float64Array.from([0, 0, 1]), 10);
    expect(arr(sampleTreeModel(onlyExcluded, 10, testRng("only"), [2]).columns[0])).to.deep.equal(new Array(10).fill(2));
  });

  it("GIVEN a two-column tree THEN each child value is drawn from its parent value's conditional, exactly rounded, with fallbacks", () => {
    const F = (v: number[]) => Float64Array.from(v);
    const model = (edge: number[]) => ({
      sizes: [2, 3],
      total: 100,
      order: [0, 1],
      parent: [-1, 0],
      nodes: [F([0.5, 0.5]), F([0.5, 0.25, 0.25])],
      edges: [undefined, F(edge)],
      loss: 0,
      iterations: 0,
    });
    const pairs = (t: { columns: readonly Int32Array[] }) => arr(t.columns[0]).map((p, r) => `${p}${t.columns[1][r]}`);
    const count = (xs: string[]) =>
      xs.reduce<Record<string, number>>((m, x) => {
        m[x] = (m[x] ?? 0) + 1;
        return m;
      }, {});
    // Parent 0 → child 0 always; parent 1 → child 1 or 2, half each: exact counts.
    const t = sampleTreeModel(model([0.5, 0, 0, 0, 0.25, 0.25]), 100, testRng("tree2"));
    expect(count(pairs(t))).to.deep.equal({ "00": 50, "11": 25, "12": 25 });
    // No mass for parent 1: its children follow the child's own marginal (0.5, 0.25, 0.25).
    const fallback = count(pairs(sampleTreeModel(model([0.5, 0, 0, 0, 0, 0]), 100, testRng("tree3"))));
    expect(fallback["00"]).to.equal(50);
    expect(fallback["10"]).to.equal(25);
    expect((fallback["11"] ?? 0) + (fallback["12"] ?? 0)).to.equal(25);
    // Child code 0 excluded: parent 0's conditional has nothing else, so it falls back to the marginal without 0.
    const excluded = count(pairs(sampleTreeModel(model([0.5, 0, 0, 0, 0.25, 0.25]), 100, testRng("tree4"), [undefined, 0])));
    expect(Object.keys(excluded).filter((k) => k.endsWith("0"))).to.deep.equal([]);
    expect((excluded["01"] ?? 0) + (excluded["02"] ?? 0)).to.equal(50);
    // Excluding code 0 of a single column (the first code) removes it too.
    const single = singleColumnModel(3, Float64Array.from([0.5, 0.3, 0.2]), 100);
    expect(arr(histogram1(sampleTreeModel(single, 100, testRng("ex0"), [0]).columns[0], 3))[0]).to.equal(0);
  });

  it("GIVEN measurements THEN the total is the inverse-variance mean of every measurement's sum (a 2-way table's variance is per cell)", () => {
    const one = [{ y: Float64Array.from([60, 40]), variance: Float64Array.from([1, 1]) }];
    const two = [{ a: 0, b: 1, y: Float64Array.from([30, 30, 20, 30]), variance: 2 }];
    // Sums 100 (variance 2) and 110 (variance 2·4 = 8).
    expect(estimateTotal(one, two)).to.be.closeTo((100 / 2 + 110 / 8) / (1 / 2 + 1 / 8), 1e-9);
    expect(estimateTotal(one, [])).to.equal(100);
    expect(estimateTotal([{ y: Float64Array.from([-5, 2]), variance: Float64Array.from([1, 1]) }], [])).to.equal(1);
  });

  it("GIVEN 2-way measurements that are not a spanning tree THEN estimateTree refuses them", () => {
    const one = [0, 1, 2].map(() => ({ y: Float64Array.from([5, 5]), variance: Float64Array.from([1, 1]) }));
    const edge = (a: number, b: number) => ({ a, b, y: Float64Array.from([2, 3, 3, 2]), variance: 1 });
    for (const twoWay of [[edge(0, 1)], [edge(0, 1), edge(1, 2), edge(0, 2)], []]) {
      expect(() => estimateTree([2, 2, 2], one, twoWay, { iterations: 5 }), String(twoWay.length))
        .to.throw(CleanRoomError)
        .with.property("code", "invalid-argument");
    }
    const model = estimateTree([2, 2, 2], one, [edge(0, 1), edge(1, 2)], { iterations: 50 });
    expect(model.order).to.have.length(3);
    expect(model.parent.filter((p) => p < 0)).to.have.length(1);
  });

  it("GIVEN one column THEN its model is that column alone: no parent, no edge, no fitting", () => {
    const probs = Float64Array.from([0.25, 0.75]);
    expect(singleColumnModel(2, probs, 40)).to.deep.equal({ sizes: [2], total: 40, order: [0], parent: [-1], nodes: [probs], edges: [undefined], loss: 0, iterations: 0 });
  });
});

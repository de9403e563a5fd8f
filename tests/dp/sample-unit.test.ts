// Randomized rounding and tree sampling at their edges (issue 20, dp-model mutation path), checked deterministically:
// a scripted generator at the `SecureRng` boundary (`uniform01`, `uniformInt`) feeds chosen draws, so each case is the
// exact outcome of the rounding rule for those draws (no statistics, no false failures). Cases that need a shuffle use
// the seeded test stream (`testRng`) and assert only what every shuffle gives (counts per code).
import { expect } from "chai";
import { compressColumn, decompressCodes } from "../../src/runtime/dp/compress.js";
import { histogram1 } from "../../src/runtime/dp/marginals.js";
import { type SecureRng, testRng } from "../../src/runtime/dp/rng.js";
import { roundedCounts, sampleTreeModel } from "../../src/runtime/dp/sample.js";
import { singleColumnModel, type TreeModel } from "../../src/runtime/dp/tree-model.js";

/** A generator that returns the given draws in order and records each `uniformInt` range it was asked for. */
function scripted(draws: { readonly u?: readonly number[]; readonly int?: readonly ((m: number) => number)[] }) {
  const us = [...(draws.u ?? [])];
  const ints = [...(draws.int ?? [])];
  const ranges: number[] = [];
  const fake = {
    uniform01(): number {
      const v = us.shift();
      if (v === undefined) throw new Error("scripted generator: no uniform01 draw left");
      return v;
    },
    uniformInt(m: number): number {
      ranges.push(m);
      const pick = ints.shift();
      if (pick === undefined) throw new Error(`scripted generator: no uniformInt draw left (asked for [0, ${m}))`);
      const v = pick(m);
      if (!(Number.isInteger(v) && v >= 0 && v < m)) throw new Error(`scripted draw ${v} outside [0, ${m})`);
      return v;
    },
  };
  return { rng: fake as unknown as SecureRng, ranges, left: () => us.length + ints.length };
}

const first = () => 0;
const last = (m: number) => m - 1;
const arr = (x: ArrayLike<number>) => Array.from(x);
/** The largest double below 1: the top of `uniform01`'s range. */
const TOP = 1 - 2 ** -53;

describe("dp randomized rounding (scripted draws)", () => {
  it("GIVEN two equal fractional parts WHEN the draw is u THEN cell i gets the unit for u·Σfrac in [S(i−1), S(i)): 0.5 goes to the second", () => {
    for (const [u, want] of [
      [0, [1, 0]],
      [0.5 - 2 ** -54, [1, 0]],
      [0.5, [0, 1]],
      [TOP, [0, 1]],
    ] as const) {
      const s = scripted({ u: [u] });
      expect(arr(roundedCounts([1, 1], 1, s.rng)), `u = ${u}`).to.deep.equal(want);
      expect(s.left()).to.equal(0);
    }
  });

  it("GIVEN fractional parts summing to exactly 1e-9 THEN the unit goes uniformly to a cell holding one, without a proportional draw; above 1e-9 it is drawn ∝ the parts", () => {
    // 1e-9 · 3/4 and 1e-9 · 1/4: their sum is exactly 1e-9 in double precision.
    const at = scripted({ int: [last] });
    expect(arr(roundedCounts([3, 1], 1e-9, at.rng))).to.deep.equal([0, 1]);
    expect(at.ranges).to.deep.equal([2]);
    expect(at.left()).to.equal(0);
    // 2e-9: proportional, u = 0.8 falls in the second part (0.75 … 1).
    const above = scripted({ u: [0.8] });
    expect(arr(roundedCounts([3, 1], 2e-9, above.rng))).to.deep.equal([0, 1]);
    expect(above.left()).to.equal(0);
  });

  it("GIVEN the proportional draw misses through rounding THEN the unit goes to a cell that still holds a fractional part, never a second one to the same cell", () => {
    // 2 units over 3 cells of 2/3 each. After the first unit (u = 0 → cell 0) the running weight, 4/3 rounded from
    // 2 − 2/3, exceeds the two parts left: u at the top of its range passes both, so the fallback decides.
    for (const probs of [
      [0, 0, 0],
      [1, 1, 1],
    ]) {
      const s = scripted({ u: [0, TOP], int: [first] });
      const c = roundedCounts(probs, 2, s.rng);
      expect(arr(c), String(probs)).to.deep.equal([1, 1, 0]);
      expect(s.ranges, String(probs)).to.deep.equal([2]);
      expect(s.left()).to.equal(0);
    }
  });

  it("GIVEN a unit already handed out THEN the next draw is over the fractional parts left, not all of them", () => {
    // 2 units over 3 cells of 2/3. After cell 0's unit the parts left sum to 4/3: u = 0.6 gives 0.8, past cell 1's 2/3,
    // so cell 2. (Over the whole 2 + 2/3 it would pass both parts left.)
    const s = scripted({ u: [0, 0.6] });
    expect(arr(roundedCounts([1, 1, 1], 2, s.rng))).to.deep.equal([1, 0, 1]);
    expect(s.left()).to.equal(0);
  });

  it("GIVEN a non-integer total whose expected counts are all whole THEN the leftover unit goes to a cell with probability mass, never to an empty one", () => {
    // Each expected count is a whole number in double precision, yet their sum is below the total (by 4e-15).
    const probs = [15.000000000000004, 1.0000000000000002, 7.000000000000002, 0];
    const s = scripted({ int: [last] });
    expect(arr(roundedCounts(probs, 23.000000000000004, s.rng))).to.deep.equal([15, 1, 8, 0]);
    expect(s.ranges).to.deep.equal([3]);
    // A leftover below 1e-9 likewise goes to a cell with mass (here the only one).
    const tiny = scripted({ int: [last] });
    expect(arr(roundedCounts([1, 1e-11], 1 + 1e-11, tiny.rng))).to.deep.equal([1, 1]);
    expect(tiny.ranges).to.deep.equal([1]);
  });

  it("GIVEN a NaN or negative probability THEN it counts as 0: the other cells share the total as if it were absent", () => {
    const rng = testRng("nan");
    expect(arr(roundedCounts([Number.NaN, 1, 0, 3], 8, rng))).to.deep.equal([0, 2, 0, 6]);
    expect(arr(roundedCounts([1, -5, Number.NaN, 1], 6, rng))).to.deep.equal([3, 0, 0, 3]);
  });
});

describe("dp tree sampling (excluded codes and fallbacks)", () => {
  const F = (v: number[]) => Float64Array.from(v);
  const twoColumns = (edge: number[], childMarginal: number[]): TreeModel => ({
    sizes: [2, 3],
    total: 100,
    order: [0, 1],
    parent: [-1, 0],
    nodes: [F([0.5, 0.5]), F(childMarginal)],
    edges: [undefined, F(edge)],
    loss: 0,
    iterations: 0,
  });

  it("GIVEN excluding a code would leave a column at most 1e-300 of mass THEN the column keeps its distribution; above that the code is removed", () => {
    const at = sampleTreeModel(singleColumnModel(2, F([1e-300, 0.5]), 100), 100, testRng("at"), [1]);
    expect(arr(histogram1(at.columns[0], 2))).to.deep.equal([0, 100]);
    const above = sampleTreeModel(singleColumnModel(2, F([2e-300, 0.5]), 100), 100, testRng("above"), [1]);
    expect(arr(histogram1(above.columns[0], 2))).to.deep.equal([100, 0]);
  });

  it("GIVEN a parent value whose conditional keeps at most 1e-300 once the excluded code is removed THEN its rows follow the child's marginal without that code", () => {
    // Parent 0: child code 1 (excluded) and 1e-300 on code 0; the marginal without code 1 is all code 2.
    const at = sampleTreeModel(twoColumns([1e-300, 0.5, 0, 0, 0, 0.5], [0, 0.5, 0.5]), 100, testRng("cond-at"), [undefined, 1]);
    const pairs = (t: { columns: readonly Int32Array[] }) => new Set(arr(t.columns[0]).map((p, r) => `${p}${t.columns[1][r]}`));
    expect([...pairs(at)].sort()).to.deep.equal(["02", "12"]);
    // 2e-300 on code 0: that is the conditional, so parent 0 gives code 0.
    const above = sampleTreeModel(twoColumns([2e-300, 0.5, 0, 0, 0, 0.5], [0, 0.5, 0.5]), 100, testRng("cond-above"), [undefined, 1]);
    expect([...pairs(above)].sort()).to.deep.equal(["00", "12"]);
  });

  it("GIVEN the excluded code's probability is NaN THEN it is never generated and the others keep their shares", () => {
    const t = sampleTreeModel(singleColumnModel(3, F([0.25, 0.75, Number.NaN]), 100), 100, testRng("nan-excluded"), [2]);
    expect(arr(histogram1(t.columns[0], 3))).to.deep.equal([25, 75, 0]);
  });
});

describe("dp decompression (scripted draws)", () => {
  it("GIVEN kept codes and \"other\" codes THEN one uniform draw per \"other\" row picks its merged code, and none more", () => {
    // Codes 0..3 at variance 100 (threshold 30): 0 and 1 kept, 2 and 3 merged with shares 2/3 and 1/3.
    const c = compressColumn(Float64Array.from([500, 300, 20, 10]), 100);
    expect(arr(c.mergedProbabilities)).to.deep.equal([2 / 3, 1 / 3]);
    // Rows: kept 1, other, kept 0, other. The draws 0.9 (≥ 2/3: code 3) and 0.1 (code 2) are the only ones given.
    const { rng, left } = scripted({ u: [0.9, 0.1] });
    expect(arr(decompressCodes(new Int32Array([1, 2, 0, 2]), c, rng))).to.deep.equal([1, 3, 0, 2]);
    expect(left()).to.equal(0);
    // Kept codes alone draw nothing (the scripted generator throws on a draw it was not given).
    expect(arr(decompressCodes(new Int32Array([0, 1, 1]), c, scripted({}).rng))).to.deep.equal([0, 1, 1]);
  });
});

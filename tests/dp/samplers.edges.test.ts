// Edges of the exact samplers (issue 20, dp mutation pass), checked deterministically: a scripted generator at the
// `SecureRng.uniformBig` boundary feeds chosen uniform integers, so each case is the exact outcome CKS 2020's
// algorithms give for those draws (no statistics, no false failures).
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import type { SecureRng } from "../../src/runtime/dp/rng.js";
import {
  bernoulli,
  bernoulliExp,
  discreteGaussian,
  discreteGaussianVector,
  discreteLaplace,
  discreteLaplaceVector,
  geometricExp,
  rationalAtLeast,
  rationalAtMost,
  rationalValue,
} from "../../src/runtime/dp/samplers.js";

/** A generator that returns the given uniform draws in order and records each range it was asked for. */
function scripted(draws: readonly bigint[]): { rng: SecureRng; ranges: bigint[]; left: () => number } {
  const queue = [...draws];
  const ranges: bigint[] = [];
  const fake = {
    uniformBig(m: bigint): bigint {
      ranges.push(m);
      const v = queue.shift();
      if (v === undefined) throw new Error(`scripted generator exhausted (asked for [0, ${m}))`);
      if (v < 0n || v >= m) throw new Error(`scripted draw ${v} outside [0, ${m})`);
      return v;
    },
  };
  return { rng: fake as unknown as SecureRng, ranges, left: () => queue.length };
}

function invalid(f: () => unknown): void {
  expect(f).to.throw(CleanRoomError).with.property("code", "invalid-argument");
}

describe("dp samplers edges (scripted draws)", () => {
  it("GIVEN floats WHEN made rational THEN the denominator is 2^30, scales round up, ε rounds down, 0 is allowed", () => {
    const D = 1n << 30n;
    expect(rationalAtLeast(1 / 3)).to.deep.equal({ n: 357913942n, d: D });
    expect(rationalAtMost(1 / 3)).to.deep.equal({ n: 357913941n, d: D });
    expect(rationalAtLeast(0)).to.deep.equal({ n: 0n, d: D });
    expect(rationalAtMost(0)).to.deep.equal({ n: 0n, d: D });
    expect(rationalAtLeast(2.5)).to.deep.equal({ n: 5n * (D / 2n), d: D });
    expect(rationalValue({ n: 3n, d: 4n })).to.equal(0.75);
    for (const bad of [-1e-12, Number.NaN, Number.POSITIVE_INFINITY]) {
      invalid(() => rationalAtLeast(bad));
      invalid(() => rationalAtMost(bad));
    }
  });

  it("GIVEN Bernoulli(n/d) THEN a draw below n is true and a draw of exactly n is false", () => {
    expect(bernoulli(scripted([2n]).rng, 3n, 5n)).to.equal(true);
    expect(bernoulli(scripted([3n]).rng, 3n, 5n)).to.equal(false);
    const s = scripted([0n]);
    bernoulli(s.rng, 1n, 7n);
    expect(s.ranges).to.deep.equal([7n]);
  });

  it("GIVEN Bernoulli(exp(−n/d)) with n/d ≤ 1 THEN the number of successive successes decides: even → false, odd → true", () => {
    // First trial Bernoulli(γ/1) fails at once: k = 1, odd → true.
    let s = scripted([1n]);
    expect(bernoulliExp(s.rng, 1n, 2n)).to.equal(true);
    expect(s.ranges).to.deep.equal([2n]);
    // One success (draw 0 < 1 of [0, 2)), then Bernoulli(γ/2) fails: k = 2 → false; the second range is d·2.
    s = scripted([0n, 3n]);
    expect(bernoulliExp(s.rng, 1n, 2n)).to.equal(false);
    expect(s.ranges).to.deep.equal([2n, 4n]);
    // Two successes then a failure: k = 3 → true; ranges d, 2d, 3d.
    s = scripted([0n, 0n, 5n]);
    expect(bernoulliExp(s.rng, 1n, 2n)).to.equal(true);
    expect(s.ranges).to.deep.equal([2n, 4n, 6n]);
    // γ = 0: exp(0) = 1, always true (the first trial always fails).
    s = scripted([0n]);
    expect(bernoulliExp(s.rng, 0n, 3n)).to.equal(true);
  });

  it("GIVEN γ = n/d > 1 THEN it is split into whole Bernoulli(exp(−1)) factors and the remainder", () => {
    // γ = 5/2: two exp(−1) trials (range 1, then 2 after a success would fail...) then the remainder 1/2.
    // exp(−1) trial: draws from [0,1) always succeed, so k counts until a draw ≥ 1 of [0, k): first [0,1) → 0 < 1
    // success, then [0,2) → 1 ≥ 1 failure: k = 2, even → false. Here each exp(−1) factor is made to pass (k = 3):
    // draws 0 ([0,1)), 0 ([0,2)), 2 ([0,3)).
    const pass = [0n, 0n, 2n];
    let s = scripted([...pass, ...pass, 1n]);
    expect(bernoulliExp(s.rng, 5n, 2n)).to.equal(true);
    expect(s.ranges).to.deep.equal([1n, 2n, 3n, 1n, 2n, 3n, 2n]);
    expect(s.left()).to.equal(0);
    // The first factor fails (k = 2): false, with nothing else drawn.
    s = scripted([0n, 1n]);
    expect(bernoulliExp(s.rng, 5n, 2n)).to.equal(false);
    expect(s.ranges).to.deep.equal([1n, 2n]);
    // γ = 1 exactly: a single exp(−n/d) trial with n = d (no whole factor split off): ranges d, 2d, 3d.
    s = scripted([1n, 0n, 5n]);
    expect(bernoulliExp(s.rng, 2n, 2n)).to.equal(true);
    expect(s.ranges).to.deep.equal([2n, 4n, 6n]);
    invalid(() => bernoulliExp(scripted([]).rng, -1n, 2n));
    invalid(() => bernoulliExp(scripted([]).rng, 1n, 0n));
    invalid(() => bernoulliExp(scripted([]).rng, 1n, -2n));
  });

  it("GIVEN geometricExp(n/d) THEN the result is ⌊(v·d + u)/n⌋ of the accepted fraction u and the exp(−1) count v", () => {
    // d = 3: u drawn from [0,3); accept u = 2 when Bernoulli(exp(−2/3)) passes (first trial fails: draw 2 of [0,3)).
    // v: exp(−1) trials passing once (k = 3: draws 0,0,2) then failing (k = 2: draws 0,1) → v = 1.
    const s = scripted([2n, 2n, 0n, 0n, 2n, 0n, 1n]);
    expect(geometricExp(s.rng, 2n, 3n)).to.equal((1n * 3n + 2n) / 2n);
    expect(s.left()).to.equal(0);
    // A rejected u is drawn again: u = 1 rejected (Bernoulli(exp(−1/3)): one success then failure, k = 2), then u = 0
    // accepted (exp(0)), v = 0 → 0.
    const r = scripted([1n, 0n, 5n, 0n, 0n, 0n, 1n]);
    expect(geometricExp(r.rng, 1n, 3n)).to.equal(0n);
    expect(r.left()).to.equal(0);
    invalid(() => geometricExp(scripted([]).rng, 0n, 1n));
    invalid(() => geometricExp(scripted([]).rng, 1n, 0n));
  });

  it("GIVEN the discrete Laplace THEN the sign draw applies, and a negative zero is redrawn rather than counted twice", () => {
    // Scale 1/1: geometric with n = d = 1: u from [0,1) = 0 accepted at once (exp(0): first draw [0,1)... ).
    // sign draw [0,2): 0 → negative; u = 0 (range 1), acceptance exp(−0/1) trial: draw from [0,1) → 0 < 0? no → k=1
    // → accepted; v: exp(−1) fails (draws 0 of [0,1), 1 of [0,2): k = 2) → m = 0; negative zero → redraw.
    const zeroNeg = [0n, 0n, 0n, 0n, 1n];
    const plusOne = [1n, 0n, 0n, 0n, 0n, 2n, 0n, 1n]; // positive; v = 1 (pass k=3 then fail k=2) → m = 1
    const s = scripted([...zeroNeg, ...plusOne]);
    expect(discreteLaplace(s.rng, { n: 1n, d: 1n })).to.equal(1n);
    expect(s.left()).to.equal(0);
    const t = scripted([0n, 0n, 0n, 0n, 0n, 2n, 0n, 1n]); // negative, m = 1 → −1
    expect(discreteLaplace(t.rng, { n: 1n, d: 1n })).to.equal(-1n);
    const z = scripted([1n, 0n, 0n, 0n, 1n]); // positive zero is kept
    expect(discreteLaplace(z.rng, { n: 1n, d: 1n })).to.equal(0n);
    invalid(() => discreteLaplace(scripted([]).rng, { n: 0n, d: 1n }));
    invalid(() => discreteLaplace(scripted([]).rng, { n: 1n, d: 0n }));
  });

  it("GIVEN the discrete Gaussian THEN it refuses σ² ≤ 0 or a zero denominator, and vectors have the length asked for", () => {
    invalid(() => discreteGaussian(scripted([]).rng, { n: 0n, d: 1n }));
    invalid(() => discreteGaussian(scripted([]).rng, { n: -4n, d: 1n }));
    invalid(() => discreteGaussian(scripted([]).rng, { n: 4n, d: 0n }));
    expect(discreteGaussianVector(scripted([]).rng, { n: 1n, d: 1n }, 0)).to.have.length(0);
    expect(discreteLaplaceVector(scripted([]).rng, { n: 1n, d: 1n }, 0)).to.have.length(0);
    // One Laplace zero (positive) accepted by the Gaussian's exp(−(0 − σ²/t)²/(2σ²)) test.
    const z = scripted([1n, 0n, 0n, 0n, 1n, /* accept: first trial fails */ 7n]);
    const v = discreteLaplaceVector(scripted([1n, 0n, 0n, 0n, 1n]).rng, { n: 1n, d: 1n }, 1);
    expect(Array.from(v)).to.deep.equal([0]);
    const g = discreteGaussianVector(z.rng, { n: 1n, d: 1n }, 1);
    expect(Array.from(g)).to.deep.equal([0]);
  });

  it("GIVEN σ² WHEN the discrete Gaussian draws its Laplace proposal THEN its scale is ⌊σ⌋ + 1, exact even where a double's √ is not", () => {
    // CKS Alg. 3's proposal scale t = ⌊σ⌋ + 1 keeps the expected number of rejections bounded; the geometric inside the
    // Laplace first draws its fraction from [0, t), so the second range asked for is t.
    const scaleFor = (n: bigint, d = 1n): bigint => {
      const s = scripted([0n, 0n]);
      expect(() => discreteGaussian(s.rng, { n, d })).to.throw(/exhausted/);
      expect(s.ranges[0]).to.equal(2n);
      return s.ranges[1];
    };
    expect(scaleFor(1n)).to.equal(2n);
    expect(scaleFor(2n)).to.equal(2n);
    expect(scaleFor(3n)).to.equal(2n);
    expect(scaleFor(4n)).to.equal(3n);
    expect(scaleFor(399n, 100n)).to.equal(2n);
    expect(scaleFor(1n, 3n)).to.equal(1n);
    // Around x = 2^40 + 1, x² − 1 is not a double: the float square root is one too high and must be corrected.
    const x = 2n ** 40n + 1n;
    expect(scaleFor(x * x)).to.equal(x + 1n);
    expect(scaleFor(x * x - 1n)).to.equal(x);
    const y = 2n ** 45n - 1n;
    expect(scaleFor(y * y)).to.equal(y + 1n);
    expect(scaleFor(y * y - 1n)).to.equal(y);
    // Above 2^53 the double rounds x² down so that its square root falls below x: the estimate is corrected upwards.
    const z = 2n ** 53n + 1n;
    expect(scaleFor(z * z)).to.equal(z + 1n);
  });
});

// Statistical tests of the exact samplers against their exact pmfs. Every stream is seeded (deterministic), and the
// thresholds are at significance 1e-4, so a correct sampler passes for essentially every seed; a sampler with the
// wrong scale, a sign bias or a double-counted zero fails by orders of magnitude.
import { expect } from "chai";
import { exponentialMechanism, exponentialMechanismProbabilities } from "../../src/runtime/dp/exponential.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import {
  bernoulliExp,
  discreteGaussian,
  discreteLaplace,
  geometricExp,
  type Rational,
  rationalAtLeast,
  rationalAtMost,
  rationalValue,
} from "../../src/runtime/dp/samplers.js";
import { chiSquare, chiSquareCritical, ksCritical, ksDistance } from "./stats.js";

const N = 30_000;

function draw(n: number, f: () => bigint): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(f());
  return out;
}

function gaussPmf(sigma2: number, span: number): (y: number) => number {
  let z = 0;
  for (let y = -span; y <= span; y++) z += Math.exp((-y * y) / (2 * sigma2));
  return (y) => Math.exp((-y * y) / (2 * sigma2)) / z;
}

function laplacePmf(t: number): (y: number) => number {
  const q = Math.exp(-1 / t);
  return (y) => ((1 - q) / (1 + q)) * q ** Math.abs(y);
}

function variance(xs: Float64Array): number {
  let m = 0;
  for (const x of xs) m += x;
  m /= xs.length;
  let v = 0;
  for (const x of xs) v += (x - m) ** 2;
  return v / (xs.length - 1);
}

describe("dp samplers (exact, CSPRNG)", () => {
  for (const sigma2 of [1, 10.0123 ** 2, 700.5]) {
    it(`GIVEN σ²=${sigma2.toFixed(3)} WHEN sampling the discrete Gaussian THEN χ² and KS match the exact pmf at 1e-4`, () => {
      const rng = testRng(`dgauss-${sigma2}`);
      const r = rationalAtLeast(sigma2);
      const exact = rationalValue(r);
      const xs = draw(N, () => discreteGaussian(rng, r));
      const span = Math.ceil(12 * Math.sqrt(exact)) + 5;
      const pmf = gaussPmf(exact, span);
      const { stat, df } = chiSquare(xs, pmf, -span, span);
      expect(stat, `χ²=${stat.toFixed(1)} df=${df}`).to.be.below(chiSquareCritical(df));
      expect(ksDistance(xs, pmf, -span, span)).to.be.below(ksCritical(N));
      // The variance of N_Z(0, σ²) is slightly below σ²; a 6-sigma band on the sample variance.
      const v = variance(xs);
      expect(Math.abs(v - exact) / exact).to.be.below(6 * Math.sqrt(2 / N) + 0.01);
    });
  }

  for (const t of [1, 2.5, 10]) {
    it(`GIVEN scale t=${t} WHEN sampling the discrete Laplace THEN χ² and KS match P(y) ∝ exp(−|y|/t)`, () => {
      const rng = testRng(`dlap-${t}`);
      const xs = draw(N, () => discreteLaplace(rng, rationalAtLeast(t)));
      const span = Math.ceil(30 * t) + 5;
      const pmf = laplacePmf(rationalValue(rationalAtLeast(t)));
      const { stat, df } = chiSquare(xs, pmf, -span, span);
      expect(stat, `χ²=${stat.toFixed(1)} df=${df}`).to.be.below(chiSquareCritical(df));
      expect(ksDistance(xs, pmf, -span, span)).to.be.below(ksCritical(N));
    });
  }

  it("GIVEN γ = 3/4 and γ = 5/2 WHEN drawing Bernoulli(exp(−γ)) THEN the frequency is within 4.5 sd of exp(−γ)", () => {
    const rng = testRng("bexp");
    for (const g of [
      { n: 3n, d: 4n },
      { n: 5n, d: 2n },
    ]) {
      const p = Math.exp(-Number(g.n) / Number(g.d));
      let hits = 0;
      for (let i = 0; i < N; i++) if (bernoulliExp(rng, g.n, g.d)) hits++;
      expect(Math.abs(hits / N - p)).to.be.below(4.5 * Math.sqrt((p * (1 - p)) / N));
    }
  });

  it("GIVEN γ = 2/5 WHEN drawing the geometric THEN χ² matches P(k) = (1−e^−γ)e^{−γk}", () => {
    const rng = testRng("geom");
    const xs = draw(N, () => geometricExp(rng, 2n, 5n));
    const q = Math.exp(-0.4);
    const { stat, df } = chiSquare(xs, (k) => (k < 0 ? 0 : (1 - q) * q ** k), 0, 200);
    expect(stat).to.be.below(chiSquareCritical(df));
  });

  it("GIVEN scores WHEN running the exact exponential mechanism THEN frequencies match exp(ε q/(2Δ)) by χ²", () => {
    const rng = testRng("em");
    const scores = [0, 3.3, 7.1, 10.9, 15.2];
    const eps = 0.3;
    const probs = exponentialMechanismProbabilities(scores, eps);
    // Sanity of the reference itself: neighbouring weights differ by the expected factor.
    expect(probs[4] / probs[0]).to.be.closeTo(Math.exp((eps * 15.2) / 2), 0.02 * Math.exp((eps * 15.2) / 2));
    const counts = new Array(scores.length).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[exponentialMechanism(rng, scores, eps, 1)]++;
    let stat = 0;
    for (let i = 0; i < scores.length; i++) stat += (counts[i] - n * probs[i]) ** 2 / (n * probs[i]);
    expect(stat).to.be.below(chiSquareCritical(scores.length - 1));
  });

  it("GIVEN uniformInt(m) for m = 6, 1000 and 2^40+3 WHEN drawing THEN every residue class is equally likely (χ²)", () => {
    const rng = testRng("uniform");
    for (const m of [6, 1000, 2 ** 40 + 3]) {
      const buckets = Math.min(10, m);
      const counts = new Array(buckets).fill(0);
      const mass = new Array(buckets).fill(0);
      for (let b = 0; b < buckets; b++) mass[b] = (Math.floor(((b + 1) * m) / buckets) - Math.floor((b * m) / buckets)) / m;
      for (let i = 0; i < N; i++) {
        const u = rng.uniformInt(m);
        if (!(u >= 0 && u < m && Number.isInteger(u))) expect.fail(`uniformInt(${m}) gave ${u}`);
        counts[Math.min(buckets - 1, Math.floor((u * buckets) / m))]++;
      }
      let stat = 0;
      for (let b = 0; b < buckets; b++) stat += (counts[b] - N * mass[b]) ** 2 / (N * mass[b]);
      expect(stat, `m=${m}`).to.be.below(chiSquareCritical(buckets - 1));
    }
  });

  it("GIVEN a float WHEN turned into a rational THEN rounding goes up for noise scales and down for ε", () => {
    const up: Rational = rationalAtLeast(0.1);
    const down: Rational = rationalAtMost(0.1);
    expect(rationalValue(up)).to.be.at.least(0.1);
    expect(rationalValue(down)).to.be.at.most(0.1);
    expect(Number(up.n - down.n)).to.equal(1);
  });

  it("GIVEN invalid parameters WHEN sampling THEN a CleanRoomError is thrown instead of a wrong distribution", () => {
    const rng = testRng("bad");
    expect(() => discreteGaussian(rng, { n: 0n, d: 1n })).to.throw(/σ² > 0/);
    expect(() => discreteLaplace(rng, { n: -1n, d: 1n })).to.throw(/scale > 0/);
    expect(() => exponentialMechanism(rng, [], 1)).to.throw(/at least one candidate/);
    expect(() => rng.uniformInt(0)).to.throw(/m >= 1/);
  });
});

describe("dp test statistics (tests/dp/stats.ts)", () => {
  it("GIVEN an unbounded support WHEN chiSquare looks for its cells THEN it throws instead of walking forever", () => {
    expect(() => chiSquare([0, 0], () => 1, Number.NEGATIVE_INFINITY, 0)).to.throw(/finite support/);
    expect(() => chiSquare([0, 0], () => 1, 0, Number.POSITIVE_INFINITY)).to.throw(/finite support/);
  });
});

/**
 * DP aggregates add noise scaled to the query's sensitivity. A clamped sum over [min, max] changes by up to
 * Δ = max(|min|, |max|) when one record is added or removed, so its noise must have the spread of that Δ, not of a
 * count's Δ = 1. These tests draw many noisy sums of an empty table (the released value is then the noise alone) and
 * check the noise's empirical spread against Δ, with a test whose chance of failing a correct sampler is below 1e-6.
 *
 * Why the bound holds (computed in `chernoff` below and asserted before each test uses it):
 * - Laplace (`{ epsilon }`): the noise is X·grid with X discrete Laplace of scale t = Δ/(ε·grid) grid units,
 *   P(X = y) ∝ q^|y|, q = e^{−1/t}. With Y = |X|/t (so E[Y] ≈ 1: the noise in units of Δ/ε), the MGF is exact:
 *   E[e^{λY}] = (1−q)/(1+q) · (1 + q·e^{λ/t}) / (1 − q·e^{λ/t}) for λ < 1. By Chernoff, for n independent draws,
 *   P(ΣY ≥ n·a) ≤ exp(−n·sup_{λ>0}(λa − log E[e^{λY}])) and P(ΣY ≤ n·b) ≤ exp(−n·sup_{λ<0}(λb − log E[e^{λY}])).
 * - Gaussian (`{ rho }`): the noise is X·grid with X discrete Gaussian of variance σ² = Δ²/(2ρ) in grid units. For
 *   Z = X/σ, E[e^{λZ²}] equals the continuous (1 − 2λ)^{−1/2} times θ(σ')/θ(σ), σ' = σ/√(1−2λ), where
 *   θ(s) = Σ_k e^{−k²/2s²}/(√(2π)s) = 1 + 2Σ_{m≥1} e^{−2π²m²s²} (Poisson summation) lies in [1, 1 + 1e−8] for s ≥ 1.
 *   So ΣZ² has the χ²(n) Chernoff bounds up to a factor (1 + 1e−8)^n, which `chernoff` includes.
 * With n = 2000 and the acceptance bands below, each tail is below 1e−16: the sum is far below 1e−6.
 */
import { expect } from "chai";
import { dpClampedMean, dpClampedSum, sumGrid } from "../../src/runtime/dp/aggregates.js";
import { testRng } from "../../src/runtime/dp/rng.js";

const N = 2000;
const MAX_FALSE_FAILURE = 1e-6;

/** sup over λ in (lo, hi) of a concave function, by golden-section search. */
function supremum(f: (l: number) => number, lo: number, hi: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  for (let i = 0; i < 200; i++) {
    const c = b - g * (b - a);
    const d = a + g * (b - a);
    if (f(c) > f(d)) b = d;
    else a = c;
  }
  return f((a + b) / 2);
}

/**
 * Chernoff bound on P(mean of n draws outside [lower, upper]) for a statistic whose log-MGF is `logMgf` on
 * λ ∈ (lambdaMin, lambdaMax), with `slack` added to the log-MGF per draw (the discrete Gaussian's θ ratio).
 */
function chernoff(logMgf: (l: number) => number, lambdaMin: number, lambdaMax: number, lower: number, upper: number, slack = 0): number {
  const up = supremum((l) => l * upper - logMgf(l) - slack, 1e-12, lambdaMax);
  const down = supremum((l) => l * lower - logMgf(l) - slack, lambdaMin, -1e-12);
  return Math.exp(-N * up) + Math.exp(-N * down);
}

/** log E[e^{λ|X|/t}] for X discrete Laplace of scale t (exact; λ < 1). */
function laplaceAbsLogMgf(t: number): (l: number) => number {
  const logNorm = Math.log(-Math.expm1(-1 / t)) - Math.log1p(Math.exp(-1 / t));
  return (l) => logNorm + Math.log1p(Math.exp((l - 1) / t)) - Math.log(-Math.expm1((l - 1) / t));
}

/** log E[e^{λZ²}] for Z standard normal (λ < 1/2). */
const chiSquareLogMgf = (l: number): number => -0.5 * Math.log1p(-2 * l);

describe("dp aggregates: the noise of a clamped sum is scaled to the sum's sensitivity", () => {
  const MIN = 0;
  const MAX = 1000;
  /** One record moves a sum over [0, 1000] by up to 1000. */
  const DELTA = 1000;

  it("GIVEN { epsilon } WHEN an empty table's clamped sum is released 2000 times THEN the mean |noise| is Δ/ε (Laplace), within a band a correct sampler leaves with p < 1e-6", () => {
    const epsilon = 2;
    const { grid } = sumGrid(MIN, MAX);
    const t = DELTA / (epsilon * grid);
    const [lower, upper] = [0.8, 1.25];
    expect(chernoff(laplaceAbsLogMgf(t), -50, 1 - 1e-9, lower, upper)).to.be.below(MAX_FALSE_FAILURE);
    const rng = testRng("noise-scale-laplace");
    let sum = 0;
    for (let i = 0; i < N; i++) sum += Math.abs(dpClampedSum([], MIN, MAX, { epsilon }, rng).value);
    const ratio = sum / N / (DELTA / epsilon);
    expect(ratio, "mean |noise| in units of Δ/ε").to.be.within(lower, upper);
  });

  it("GIVEN { rho } WHEN an empty table's clamped sum is released 2000 times THEN the noise variance is Δ²/(2ρ) (Gaussian), within a band a correct sampler leaves with p < 1e-6", () => {
    const rho = 0.5;
    const sigma = DELTA / Math.sqrt(2 * rho);
    const [lower, upper] = [0.75, 1.33];
    expect(chernoff(chiSquareLogMgf, -50, 0.5 - 1e-9, lower, upper, 1e-8)).to.be.below(MAX_FALSE_FAILURE);
    const rng = testRng("noise-scale-gaussian");
    let sumSquares = 0;
    for (let i = 0; i < N; i++) sumSquares += (dpClampedSum([], MIN, MAX, { rho }, rng).value / sigma) ** 2;
    expect(sumSquares / N, "empirical variance in units of Δ²/(2ρ)").to.be.within(lower, upper);
  });

  it("GIVEN a clamped sum THEN the sd it reports is that of noise for Δ = max(|min|, |max|), for both budgets", () => {
    const rng = testRng("noise-scale-sd");
    // Discrete Laplace of scale b has sd √2·b up to discretisation (relative 1e-9 at these scales).
    expect(dpClampedSum([], MIN, MAX, { epsilon: 2 }, rng).sd).to.be.closeTo((Math.SQRT2 * DELTA) / 2, 1e-3);
    expect(dpClampedSum([], -3000, 10, { epsilon: 1 }, rng).sd).to.be.closeTo(Math.SQRT2 * 3000, 1e-2);
    expect(dpClampedSum([], MIN, MAX, { rho: 2 }, rng).sd).to.be.closeTo(DELTA / 2, 1e-3);
  });

  it("GIVEN a clamped mean WHEN released 2000 times on one record THEN its noisy sum spreads like Δ/(ε/2) noise: half the budget each for sum and count", () => {
    const epsilon = 2;
    const rng = testRng("noise-scale-mean");
    const { grid } = sumGrid(MIN, MAX);
    const t = DELTA / ((epsilon / 2) * grid);
    const [lower, upper] = [0.8, 1.25];
    expect(chernoff(laplaceAbsLogMgf(t), -50, 1 - 1e-9, lower, upper)).to.be.below(MAX_FALSE_FAILURE);
    let sum = 0;
    for (let i = 0; i < N; i++) sum += Math.abs(dpClampedMean([500], MIN, MAX, { epsilon }, rng).sum.value - 500);
    expect(sum / N / (DELTA / (epsilon / 2)), "mean |sum noise| in units of Δ/(ε/2)").to.be.within(lower, upper);
  });
});

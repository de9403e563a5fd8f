/**
 * Exact samplers for DP noise: Bernoulli(exp(−γ)), geometric, discrete Laplace and discrete Gaussian
 * (Canonne, Kamath & Steinke 2020, arXiv 2004.00010, Algorithms 1–3).
 *
 * Every parameter is a rational number held as BigInts and the only random primitive is an exact uniform integer
 * from a `SecureRng`, so the output distribution is exactly the stated one: no floating-point "porous" outputs
 * (Mironov 2012) and no inverse-CDF rounding.
 */
import { CleanRoomError } from "../../core/errors.js";
import type { SecureRng } from "./rng.js";

/** A non-negative rational `n/d` with `d > 0`. */
export interface Rational {
  readonly n: bigint;
  readonly d: bigint;
}

/** Denominator used when a float parameter is turned into an exact rational (2^-30 resolution). */
const FLOAT_DENOMINATOR_BITS = 30n;

/**
 * The smallest rational with denominator 2^30 that is ≥ x (x finite, ≥ 0). Rounding *up* a noise scale only adds
 * noise, so the recorded privacy cost (computed from the rounded value) never understates the truth.
 */
export function rationalAtLeast(x: number): Rational {
  if (!Number.isFinite(x) || x < 0) throw new CleanRoomError("invalid-argument", `Expected a finite number >= 0 (got ${x})`);
  const d = 1n << FLOAT_DENOMINATOR_BITS;
  // x·2^30 is exact in binary floating point; its ceiling is an integer-valued double, exactly convertible.
  return { n: BigInt(Math.ceil(x * 2 ** 30)), d };
}

/** The largest rational with denominator 2^30 that is ≤ x (x finite, ≥ 0): used for ε of a mechanism. */
export function rationalAtMost(x: number): Rational {
  if (!Number.isFinite(x) || x < 0) throw new CleanRoomError("invalid-argument", `Expected a finite number >= 0 (got ${x})`);
  return { n: BigInt(Math.floor(x * 2 ** 30)), d: 1n << FLOAT_DENOMINATOR_BITS };
}

/** The value of a rational as a double (for reporting). */
export function rationalValue(r: Rational): number {
  return Number(r.n) / Number(r.d);
}

/** `true` with probability n/d (0 ≤ n ≤ d). */
export function bernoulli(rng: SecureRng, n: bigint, d: bigint): boolean {
  return rng.uniformBig(d) < n;
}

/** `true` with probability exp(−n/d) for 0 ≤ n/d ≤ 1 (von Neumann's trick, CKS Alg. 1 first part). */
function bernoulliExpAtMostOne(rng: SecureRng, n: bigint, d: bigint): boolean {
  let k = 1n;
  while (bernoulli(rng, n, d * k)) k++;
  return k % 2n === 1n;
}

/** `true` with probability exp(−n/d) for any n/d ≥ 0 (CKS Alg. 1). */
export function bernoulliExp(rng: SecureRng, n: bigint, d: bigint): boolean {
  if (n < 0n || d <= 0n) throw new CleanRoomError("invalid-argument", "bernoulliExp needs n >= 0 and d > 0");
  let rest = n;
  while (rest > d) {
    if (!bernoulliExpAtMostOne(rng, 1n, 1n)) return false;
    rest -= d;
  }
  return bernoulliExpAtMostOne(rng, rest, d);
}

/** Number of successes before the first failure of Bernoulli(exp(−1)): Geometric with ratio e^−1. */
function geometricSlowExpOne(rng: SecureRng): bigint {
  let k = 0n;
  while (bernoulliExp(rng, 1n, 1n)) k++;
  return k;
}

/**
 * A geometric variate with `P[k] = (1 − e^{−n/d}) e^{−k·n/d}` for k ≥ 0 (the "fast" path of CKS Alg. 2):
 * draw the fractional part exactly by rejection, the integer part with ratio e^−1, then rescale.
 */
export function geometricExp(rng: SecureRng, n: bigint, d: bigint): bigint {
  if (n <= 0n || d <= 0n) throw new CleanRoomError("invalid-argument", "geometricExp needs n > 0 and d > 0");
  let u: bigint;
  do {
    u = rng.uniformBig(d);
  } while (!bernoulliExp(rng, u, d));
  const v = geometricSlowExpOne(rng);
  return (v * d + u) / n;
}

/**
 * Discrete Laplace with scale t = n/d: `P[y] ∝ exp(−|y|/t)` on the integers (CKS Alg. 2).
 * Adding it to an integer query of L1 sensitivity Δ gives (Δ/t)-DP.
 */
export function discreteLaplace(rng: SecureRng, scale: Rational): bigint {
  if (scale.n <= 0n || scale.d <= 0n) throw new CleanRoomError("invalid-argument", "discrete Laplace needs a scale > 0");
  for (;;) {
    const negative = bernoulli(rng, 1n, 2n);
    // Geometric with ratio exp(−1/t) = exp(−d/n).
    const m = geometricExp(rng, scale.d, scale.n);
    if (negative && m === 0n) continue; // 0 would otherwise be counted twice
    return negative ? -m : m;
  }
}

function isqrt(v: bigint): bigint {
  if (v < 2n) return v;
  let x = BigInt(Math.floor(Math.sqrt(Number(v))));
  // Correct the float estimate to the exact floor square root.
  while (x * x > v) x--;
  while ((x + 1n) * (x + 1n) <= v) x++;
  return x;
}

/**
 * Discrete Gaussian with variance parameter σ² = n/d: `P[y] ∝ exp(−y²/(2σ²))` on the integers (CKS Alg. 3).
 * Adding it to an integer query of L2 sensitivity Δ gives Δ²/(2σ²)-zCDP.
 */
export function discreteGaussian(rng: SecureRng, sigma2: Rational): bigint {
  const { n, d } = sigma2;
  if (n <= 0n || d <= 0n) throw new CleanRoomError("invalid-argument", "discrete Gaussian needs σ² > 0");
  const t = isqrt(n / d) + 1n;
  const scale: Rational = { n: t, d: 1n };
  const den = 2n * n * t * t * d;
  for (;;) {
    const y = discreteLaplace(rng, scale);
    const abs = y < 0n ? -y : y;
    const a = abs * t * d - n; // (|y| − σ²/t)·t·d
    // Accept with probability exp(−(|y| − σ²/t)² / (2σ²)).
    if (bernoulliExp(rng, a * a, den)) return y;
  }
}

/** Draws `count` independent discrete Gaussians (as doubles: |noise| ≪ 2^53) with variance parameter σ². */
export function discreteGaussianVector(rng: SecureRng, sigma2: Rational, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(discreteGaussian(rng, sigma2));
  return out;
}

/** Draws `count` independent discrete Laplace variates with scale t. */
export function discreteLaplaceVector(rng: SecureRng, scale: Rational, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(discreteLaplace(rng, scale));
  return out;
}

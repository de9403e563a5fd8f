/**
 * DP aggregates: counts, histograms on a public domain, clamped sums and means.
 *
 * Two noise families, both exact and integer-valued:
 * - `{ rho }`: discrete Gaussian, σ² = Δ₂²/(2ρ) → ρ-zCDP;
 * - `{ epsilon }`: discrete Laplace, scale Δ₁/ε → pure ε-DP (ledger cost ε²/2 in zCDP).
 * Neighbours differ by adding or removing one record. Sums are computed on a public grid (values snapped to
 * multiples of `grid`) so the noise is added to an integer; that stops floating-point attacks on the output.
 */
import { CleanRoomError } from "../../core/errors.js";
import { gaussianRho, pureDpRho } from "./accounting.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { discreteGaussianVector, discreteLaplaceVector, rationalAtLeast, rationalValue } from "./samplers.js";

/** The privacy parameter of one aggregate: `{ rho }` (discrete Gaussian) or `{ epsilon }` (discrete Laplace). */
export type AggregateBudget = { readonly rho: number } | { readonly epsilon: number };

/** Pre-drawn integer noise for one query of known size and sensitivity. */
export interface NoiseDraw {
  readonly mechanism: "discrete-gaussian" | "discrete-laplace";
  /** The noise values (integers). */
  readonly values: Float64Array;
  /** Standard deviation of each value (exact for the chosen scale, ignoring the tiny discretisation effect). */
  readonly sd: number;
  /** zCDP cost of the query, from the exact rounded scale. */
  readonly rho: number;
}

function checkBudget(b: AggregateBudget): void {
  const v = "rho" in b ? b.rho : b.epsilon;
  if (!(v > 0) || !Number.isFinite(v)) throw new CleanRoomError("invalid-argument", `a DP aggregate needs a positive finite ${"rho" in b ? "rho" : "epsilon"} (got ${v})`);
}

/**
 * Draws the noise of one query (`count` cells, sensitivity `l1`/`l2` in integer units) before the data is used.
 * For a histogram under add/remove neighbours both sensitivities are 1.
 */
export function drawNoise(rng: SecureRng, budget: AggregateBudget, count: number, sensitivity = 1): NoiseDraw {
  checkBudget(budget);
  if ("rho" in budget) {
    const variance = rationalAtLeast((sensitivity * sensitivity) / (2 * budget.rho));
    const v = rationalValue(variance);
    return { mechanism: "discrete-gaussian", values: discreteGaussianVector(rng, variance, count), sd: Math.sqrt(v), rho: gaussianRho(Math.sqrt(v), sensitivity) };
  }
  const scale = rationalAtLeast(sensitivity / budget.epsilon);
  const t = rationalValue(scale);
  // Variance of the discrete Laplace with P ∝ exp(−|y|/t): 2e^{-1/t}/(1 − e^{-1/t})².
  const q = Math.exp(-1 / t);
  return { mechanism: "discrete-laplace", values: discreteLaplaceVector(rng, scale, count), sd: Math.sqrt((2 * q) / (1 - q) ** 2), rho: pureDpRho(sensitivity / t) };
}

/** A released noisy number. */
export interface NoisyNumber {
  readonly value: number;
  readonly sd: number;
  readonly mechanism: string;
  readonly rho: number;
}

/** A DP count of records: `count` + integer noise (sensitivity 1). */
export function dpCount(count: number, budget: AggregateBudget, rng: SecureRng = rngFromEnvironment()): NoisyNumber {
  const noise = drawNoise(rng, budget, 1, 1);
  return { value: count + noise.values[0], sd: noise.sd, mechanism: noise.mechanism, rho: noise.rho };
}

/** A DP histogram on a public domain: every cell + independent noise (L1 = L2 sensitivity 1 under add/remove). */
export function dpHistogram(
  counts: ArrayLike<number>,
  budget: AggregateBudget,
  rng: SecureRng = rngFromEnvironment(),
): { values: number[]; sd: number; mechanism: string; rho: number } {
  const noise = drawNoise(rng, budget, counts.length, 1);
  const values = Array.from({ length: counts.length }, (_, i) => counts[i] + noise.values[i]);
  return { values, sd: noise.sd, mechanism: noise.mechanism, rho: noise.rho };
}

/** The public grid of a clamped sum over [min, max]: 2^-16 of the largest magnitude, so Δ is 65,536 grid units. */
export function sumGrid(min: number, max: number): { grid: number; sensitivity: number } {
  const mag = Math.max(Math.abs(min), Math.abs(max));
  if (!(mag > 0)) return { grid: 1, sensitivity: 0 };
  const grid = mag / 65536;
  return { grid, sensitivity: Math.max(Math.abs(Math.round(min / grid)), Math.abs(Math.round(max / grid))) };
}

/** Accumulates a clamped sum on the public grid (one value at a time: usable while streaming a CSV). */
export class ClampedSum {
  readonly grid: number;
  readonly sensitivity: number;
  #units = 0;
  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    if (!(min < max)) throw new CleanRoomError("invalid-argument", `a clamped sum needs min < max (got ${min}, ${max})`);
    ({ grid: this.grid, sensitivity: this.sensitivity } = sumGrid(min, max));
  }
  /** Adds one value, clamped to [min, max] and snapped to the grid; NaN (missing) values contribute nothing. */
  add(v: number): void {
    if (Number.isNaN(v)) return;
    this.#units += Math.round(Math.min(this.max, Math.max(this.min, v)) / this.grid);
  }
  /**
   * Adds a sum already clamped, snapped and counted in grid units elsewhere (a SQL engine running `add`'s arithmetic,
   * `aggregate-source.ts`).
   */
  addUnits(units: number): void {
    if (!Number.isSafeInteger(units)) throw new CleanRoomError("invalid-argument", `a clamped sum's grid units must be a safe integer (got ${units})`);
    this.#units += units;
  }
  /** The exact sum in grid units (an integer). */
  get units(): number {
    return this.#units;
  }
}

/** Releases a clamped sum with noise drawn beforehand by `drawNoise(rng, budget, 1, sum.sensitivity)`. */
export function releaseSum(sum: ClampedSum, noise: NoiseDraw): NoisyNumber {
  return { value: (sum.units + noise.values[0]) * sum.grid, sd: noise.sd * sum.grid, mechanism: noise.mechanism, rho: noise.rho };
}

/** A DP clamped sum of values (each clamped to [min, max]). */
export function dpClampedSum(
  values: Iterable<number>,
  min: number,
  max: number,
  budget: AggregateBudget,
  rng: SecureRng = rngFromEnvironment(),
): NoisyNumber {
  const sum = new ClampedSum(min, max);
  const noise = drawNoise(rng, budget, 1, sum.sensitivity);
  for (const v of values) sum.add(v);
  return releaseSum(sum, noise);
}

/**
 * A DP mean of values clamped to [min, max]: a noisy clamped sum over a noisy count, each with half the budget,
 * clamped into [min, max] (post-processing). `value` is `null` when the noisy count is not positive.
 */
export function dpClampedMean(
  values: readonly number[],
  min: number,
  max: number,
  budget: AggregateBudget,
  rng: SecureRng = rngFromEnvironment(),
): { value: number | null; sum: NoisyNumber; count: NoisyNumber; rho: number } {
  const half: AggregateBudget = "rho" in budget ? { rho: budget.rho / 2 } : { epsilon: budget.epsilon / 2 };
  const acc = new ClampedSum(min, max);
  // Both noise draws happen before any value is read.
  const sumNoise = drawNoise(rng, half, 1, acc.sensitivity);
  const countNoise = drawNoise(rng, half, 1, 1);
  let n = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    acc.add(v);
    n++;
  }
  const sum = releaseSum(acc, sumNoise);
  const count: NoisyNumber = { value: n + countNoise.values[0], sd: countNoise.sd, mechanism: countNoise.mechanism, rho: countNoise.rho };
  return { value: meanOf(sum.value, count.value, min, max), sum, count, rho: sum.rho + count.rho };
}

/** Post-processing: noisy sum / noisy count, clamped into [min, max]; null when the count is not positive. */
export function meanOf(sum: number, count: number, min: number, max: number): number | null {
  if (!(count > 0)) return null;
  return Math.min(max, Math.max(min, sum / count));
}

/**
 * The exponential mechanism, sampled exactly: P(r) ∝ exp(ε·q_r / (2Δ)).
 *
 * Scores are put on a grid of 2^-10 (floor) and the sensitivity is raised by one grid step, which covers any
 * floating-point error in computing the scores. A candidate is proposed uniformly and accepted with probability
 * exp(−ε(q* − q_r)/(2Δ)) through the exact `bernoulliExp`, so no `exp()` on doubles decides the outcome.
 */
import { CleanRoomError } from "../../core/errors.js";
import type { SecureRng } from "./rng.js";
import { bernoulliExp, type Rational, rationalAtMost } from "./samplers.js";

/** Grid of the scores: 2^-10. */
export const SCORE_GRID = 1024;

/**
 * Picks an index with probability ∝ exp(ε·score/(2·sensitivity)). This is ε-DP (and ε²/8-zCDP) when every score
 * changes by at most `sensitivity` between neighbouring datasets.
 *
 * @param scores the candidates' scores (finite numbers)
 * @param epsilon ε of this draw; rounded *down* to a multiple of 2^-30, so the true cost is never above `epsilon`
 * @param sensitivity the scores' sensitivity Δ (before the one-grid-step allowance)
 * @returns the index of the chosen candidate
 */
export function exponentialMechanism(rng: SecureRng, scores: readonly number[], epsilon: number, sensitivity = 1): number {
  if (scores.length === 0) throw new CleanRoomError("invalid-argument", "exponential mechanism needs at least one candidate");
  if (!(epsilon > 0) || !(sensitivity > 0)) {
    throw new CleanRoomError("invalid-argument", `exponential mechanism needs epsilon > 0 and sensitivity > 0 (got ${epsilon}, ${sensitivity})`);
  }
  for (const s of scores) {
    if (!Number.isFinite(s)) throw new CleanRoomError("invalid-argument", "exponential mechanism scores must be finite");
  }
  const q = scores.map((s) => BigInt(Math.floor(s * SCORE_GRID)));
  let best = q[0];
  for (const v of q) if (v > best) best = v;
  const eps: Rational = rationalAtMost(epsilon);
  if (eps.n === 0n) throw new CleanRoomError("invalid-argument", `epsilon ${epsilon} is below the 2^-30 resolution`);
  // Δ in grid units, plus one step for floating-point error in the scores.
  const delta = BigInt(Math.ceil(sensitivity * SCORE_GRID)) + 1n;
  const den = eps.d * 2n * delta;
  for (;;) {
    const r = rng.uniformInt(q.length);
    // Accept with probability exp(−ε·(q* − q_r)/(2Δ)); the result is exactly ∝ exp(ε q_r/(2Δ)).
    if (bernoulliExp(rng, eps.n * (best - q[r]), den)) return r;
  }
}

/** The exact output distribution of `exponentialMechanism` (for tests and documentation). */
export function exponentialMechanismProbabilities(scores: readonly number[], epsilon: number, sensitivity = 1): number[] {
  const eps = rationalAtMost(epsilon);
  const e = Number(eps.n) / Number(eps.d);
  const delta = Math.ceil(sensitivity * SCORE_GRID) + 1;
  const q = scores.map((s) => Math.floor(s * SCORE_GRID));
  const best = Math.max(...q);
  const w = q.map((v) => Math.exp((-e * (best - v)) / (2 * delta)));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

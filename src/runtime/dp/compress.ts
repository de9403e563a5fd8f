/**
 * MST's domain compression (post-processing of the noisy 1-way marginals): codes whose noisy count is below
 * 3·sd are merged into one "other" code, so the 2-way tables do not spend noise on cells that are nearly empty.
 *
 * Two post-processing choices differ from Private-PGM's `reverse_data` (which picks a merged code uniformly):
 * an "other" row becomes a merged code with probability ∝ its noisy count (clipped at 0), and the column's unknown
 * code (values outside the schema) is never generated from a merged group: its noisy count did not pass 3·sd, so
 * there is no evidence the real data has any. Both use only the released noisy counts, so DP is unaffected.
 */
import type { SecureRng } from "./rng.js";
import type { OneWayMeasurement } from "./tree-model.js";

/** How one column's codes were compressed. */
export interface Compression {
  /** Original codes kept, in order; compressed code i < kept.length means original code kept[i]. */
  readonly kept: Int32Array;
  /** Original codes merged into the "other" code (compressed code `kept.length`); empty when nothing merged. */
  readonly merged: Int32Array;
  /** Compressed domain size. */
  readonly size: number;
  /** Original code → compressed code. */
  readonly forward: Int32Array;
  /** The 1-way measurement re-expressed on the compressed domain (the "other" cell is the sum, its variance m·sd²). */
  readonly measurement: OneWayMeasurement;
  /** For each merged code, the probability that an "other" row decompresses to it. */
  readonly mergedProbabilities: Float64Array;
  /**
   * `true` when the merged group is exactly the unknown code: the "other" code then stands for nothing the
   * synthesizer should generate, and generation gives it no rows.
   */
  readonly otherIsOnlyUnknown: boolean;
}

/** A noisy count is kept (not merged) when it is at least this many noise standard deviations. */
export const KEEP_THRESHOLD_SD = 3;

/** Whether a noisy count with noise variance `variance` passes the 3·sd threshold. */
export function passesThreshold(count: number, variance: number): boolean {
  return count >= KEEP_THRESHOLD_SD * Math.sqrt(variance);
}

/**
 * Post-processing: a column's unknown code (values outside the schema) gets no synthetic rows unless its noisy count
 * passes the 3·sd threshold that compression applies to every code (there is no evidence the real data has any).
 */
export function withoutInsignificantUnknown(probs: Float64Array, noisy: ArrayLike<number>, variance: number, unknownCode: number): void {
  if (passesThreshold(noisy[unknownCode], variance) || !(probs[unknownCode] > 0)) return;
  const rest = 1 - probs[unknownCode];
  if (!(rest > 0)) return;
  probs[unknownCode] = 0;
  for (let i = 0; i < probs.length; i++) probs[i] /= rest;
}

/**
 * Compresses one column given its noisy counts `y` (each with noise variance `variance`).
 *
 * @param unknownCode the column's code for values outside the schema (never generated from a merged group)
 */
export function compressColumn(y: Float64Array, variance: number, unknownCode = -1): Compression {
  const kept: number[] = [];
  const merged: number[] = [];
  for (let v = 0; v < y.length; v++) (passesThreshold(y[v], variance) ? kept : merged).push(v);
  const forward = new Int32Array(y.length);
  kept.forEach((v, i) => {
    forward[v] = i;
  });
  for (const v of merged) forward[v] = kept.length;
  const size = kept.length + (merged.length > 0 ? 1 : 0);
  const my = new Float64Array(size);
  const mv = new Float64Array(size).fill(variance);
  kept.forEach((v, i) => {
    my[i] = y[v];
  });
  if (merged.length > 0) {
    let s = 0;
    for (const v of merged) s += y[v];
    my[kept.length] = s;
    mv[kept.length] = variance * merged.length;
  }
  return {
    kept: Int32Array.from(kept),
    merged: Int32Array.from(merged),
    size,
    forward,
    measurement: { y: my, variance: mv },
    mergedProbabilities: mergedProbabilities(y, merged, unknownCode),
    otherIsOnlyUnknown: merged.length === 1 && merged[0] === unknownCode,
  };
}

/** ∝ max(0, noisy count) over the merged known codes; uniform over them when no noisy count is positive. */
function mergedProbabilities(y: Float64Array, merged: readonly number[], unknownCode: number): Float64Array {
  const p = new Float64Array(merged.length);
  const known = merged.map((v) => v !== unknownCode);
  let total = 0;
  merged.forEach((v, i) => {
    p[i] = known[i] ? Math.max(0, y[v]) : 0;
    total += p[i];
  });
  if (total === 0) {
    const n = known.filter(Boolean).length;
    // Only when the group is the unknown code alone does it keep its mass (and generation then skips it).
    known.forEach((k, i) => {
      p[i] = n === 0 ? 1 / merged.length : k ? 1 / n : 0;
    });
    return p;
  }
  for (let i = 0; i < p.length; i++) p[i] /= total;
  return p;
}

/** Recodes an original code column to compressed codes. */
export function compressCodes(col: Int32Array, c: Compression): Int32Array {
  const out = new Int32Array(col.length);
  for (let i = 0; i < col.length; i++) out[i] = c.forward[col[i]];
  return out;
}

/** Maps compressed codes back to original codes; an "other" code becomes a merged code drawn by `mergedProbabilities`. */
export function decompressCodes(col: Int32Array, c: Compression, rng: SecureRng): Int32Array {
  const out = new Int32Array(col.length);
  const k = c.kept.length;
  const p = c.mergedProbabilities;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    if (v < k) {
      out[i] = c.kept[v];
      continue;
    }
    let r = rng.uniform01();
    let j = 0;
    while (j < p.length - 1 && r >= p[j]) {
      r -= p[j];
      j++;
    }
    // Floating-point leftovers can run past the last positive weight: step back to a code with weight.
    while (p[j] === 0 && j > 0) j--;
    out[i] = c.merged[j];
  }
  return out;
}

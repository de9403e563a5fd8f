/**
 * MST's domain compression (post-processing of the noisy 1-way marginals): codes whose noisy count is below
 * 3·sd are merged into one "other" code, so the 2-way tables do not spend noise on cells that are nearly empty.
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
}

/** Compresses one column given its noisy counts `y` (each with noise variance `variance`). */
export function compressColumn(y: Float64Array, variance: number): Compression {
  const threshold = 3 * Math.sqrt(variance);
  const kept: number[] = [];
  const merged: number[] = [];
  for (let v = 0; v < y.length; v++) (y[v] >= threshold ? kept : merged).push(v);
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
  };
}

/** Recodes an original code column to compressed codes. */
export function compressCodes(col: Int32Array, c: Compression): Int32Array {
  const out = new Int32Array(col.length);
  for (let i = 0; i < col.length; i++) out[i] = c.forward[col[i]];
  return out;
}

/** Maps compressed codes back to original codes; an "other" code becomes a uniformly chosen merged code. */
export function decompressCodes(col: Int32Array, c: Compression, rng: SecureRng): Int32Array {
  const out = new Int32Array(col.length);
  const k = c.kept.length;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    out[i] = v < k ? c.kept[v] : c.merged[rng.uniformInt(c.merged.length)];
  }
  return out;
}

/**
 * Generating rows from a fitted model by randomized rounding (Private-PGM's `synthetic_data(method="round")`):
 * each column's counts are the expected counts rounded so that they sum exactly, with the fractional remainders
 * handed out at random, instead of iid draws. This removes the multinomial noise of iid sampling.
 * Pure post-processing of the model; it never reads the data.
 */
import type { SecureRng } from "./rng.js";
import type { EncodedTable } from "./table.js";
import type { TreeModel } from "./tree-model.js";

/** A cell's probability as a weight: negative and NaN entries count as 0 (a NaN would otherwise poison every sum). */
function weightOf(p: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max(p, 0) is NaN for a NaN p, which is what this avoids.
  return p > 0 ? p : 0;
}

/** Cells `i < k` for which `keep(i)` holds, in order. */
function cellsWhere(k: number, keep: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < k; i++) if (keep(i)) out.push(i);
  return out;
}

/**
 * The cell for a unit the proportional draw missed through floating-point rounding: uniformly one that still holds a
 * fractional part, so no cell gets a second extra unit; failing that (only for a non-integer total), one with
 * probability mass, or any cell when none has mass.
 */
function leftoverCell(frac: Float64Array, probs: ArrayLike<number>, rng: SecureRng): number {
  const k = frac.length;
  let candidates = cellsWhere(k, (i) => frac[i] > 0);
  if (candidates.length === 0) candidates = cellsWhere(k, (i) => probs[i] > 0);
  return candidates.length > 0 ? candidates[rng.uniformInt(candidates.length)] : rng.uniformInt(k);
}

/**
 * Integer counts summing to `total` with expectation `total·p` (p normalised; negative and NaN entries count as 0):
 * floors plus `total − Σ floors` extra units given to distinct cells chosen with probability ∝ their fractional parts
 * (a draw `u·Σfrac` picks the cell whose half-open interval of the running sum holds it).
 */
export function roundedCounts(probs: ArrayLike<number>, total: number, rng: SecureRng): Int32Array {
  const k = probs.length;
  const counts = new Int32Array(k);
  if (total <= 0 || k === 0) return counts;
  let sum = 0;
  for (let i = 0; i < k; i++) sum += weightOf(probs[i]);
  const frac = new Float64Array(k);
  let assigned = 0;
  for (let i = 0; i < k; i++) {
    const x = sum > 0 ? (total * weightOf(probs[i])) / sum : total / k;
    const f = Math.floor(x);
    counts[i] = f;
    frac[i] = x - f;
    assigned += f;
  }
  let extra = total - assigned;
  let weight = 0;
  for (let i = 0; i < k; i++) weight += frac[i];
  while (extra > 0) {
    let pick = -1;
    if (weight > 1e-9) {
      let r = rng.uniform01() * weight;
      for (let i = 0; i < k; i++) {
        if (frac[i] <= 0) continue;
        r -= frac[i];
        if (r < 0) {
          pick = i;
          break;
        }
      }
    }
    if (pick < 0) pick = leftoverCell(frac, probs, rng);
    counts[pick]++;
    weight -= frac[pick];
    frac[pick] = 0;
    extra--;
  }
  return counts;
}

/** A column of `n` codes with exactly `counts[v]` copies of each code v, in random order. */
function shuffledColumn(counts: Int32Array, n: number, rng: SecureRng): Int32Array {
  const out = new Int32Array(n);
  let pos = 0;
  for (let v = 0; v < counts.length; v++) for (let j = 0; j < counts[v]; j++) out[pos++] = v;
  return rng.shuffle(out);
}

/**
 * `probs` with `code` set to 0 (a copy; `probs` itself when there is nothing to remove: no code, a code out of range,
 * whose entry reads as undefined, or an entry that already weighs 0).
 */
function zeroed(probs: ArrayLike<number>, code: number | undefined): ArrayLike<number> {
  if (code === undefined || !(probs[code] > 0)) return probs;
  const out = Float64Array.from(probs);
  out[code] = 0;
  return out;
}

function massOf(probs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < probs.length; i++) m += weightOf(probs[i]);
  return m;
}

/** `probs` without `code`, unless that would leave no mass at all. */
function without(probs: ArrayLike<number>, code: number | undefined): ArrayLike<number> {
  const z = zeroed(probs, code);
  return massOf(z) > 1e-300 ? z : probs;
}

/**
 * Draws `rows` records from a tree model: the root column by randomized rounding, then each column in breadth-first
 * order, conditionally on its parent's value, by randomized rounding within each group of rows.
 *
 * @param excluded per column, a code that is never generated (its mass goes to the column's other codes, in
 *   proportion, within each conditional); used for an "other" code that stands only for the unknown code
 */
export function sampleTreeModel(model: TreeModel, rows: number, rng: SecureRng, excluded: readonly (number | undefined)[] = []): EncodedTable {
  const d = model.sizes.length;
  const columns: Int32Array[] = new Array(d);
  const root = model.order[0];
  columns[root] = shuffledColumn(roundedCounts(without(model.nodes[root], excluded[root]), rows, rng), rows, rng);
  for (let q = 1; q < d; q++) {
    const c = model.order[q];
    const p = model.parent[c];
    const kp = model.sizes[p];
    const kc = model.sizes[c];
    const joint = model.edges[c] as Float64Array;
    const parentCol = columns[p];
    // Group row indices by parent value (counting sort).
    const start = new Int32Array(kp + 1);
    for (let r = 0; r < rows; r++) start[parentCol[r] + 1]++;
    for (let v = 0; v < kp; v++) start[v + 1] += start[v];
    const fill = start.slice(0, kp);
    const byParent = new Int32Array(rows);
    for (let r = 0; r < rows; r++) byParent[fill[parentCol[r]]++] = r;
    const col = new Int32Array(rows);
    for (let v = 0; v < kp; v++) {
      const n = start[v + 1] - start[v];
      if (n === 0) continue;
      // A parent value whose conditional is (numerically) empty, or only the excluded code, falls back to the marginal.
      const conditional = zeroed(joint.subarray(v * kc, (v + 1) * kc), excluded[c]);
      const probs = massOf(conditional) > 1e-300 ? conditional : without(model.nodes[c], excluded[c]);
      const values = shuffledColumn(roundedCounts(probs, n, rng), n, rng);
      for (let j = 0; j < n; j++) col[byParent[start[v] + j]] = values[j];
    }
    columns[c] = col;
  }
  return { rows, columns };
}

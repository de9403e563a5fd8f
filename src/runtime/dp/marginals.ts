/** Contingency tables of encoded columns and small numeric helpers shared by the synthesizers. */

/** The 1-way histogram of a code column with `k` codes. */
export function histogram1(col: Int32Array, k: number): Float64Array {
  const h = new Float64Array(k);
  for (let i = 0; i < col.length; i++) h[col[i]]++;
  return h;
}

/** The 2-way histogram of two code columns, row-major: cell `a * kb + b`. */
export function histogram2(a: Int32Array, b: Int32Array, ka: number, kb: number): Float64Array {
  const h = new Float64Array(ka * kb);
  for (let i = 0; i < a.length; i++) h[a[i] * kb + b[i]]++;
  return h;
}

/** Total-variation distance ½‖x/Σx − y/Σy‖₁ of two non-negative tables of the same shape. */
export function totalVariation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < x.length; i++) {
    sx += x[i];
    sy += y[i];
  }
  if (sx === 0 || sy === 0) return sx === sy ? 0 : 1;
  let tv = 0;
  for (let i = 0; i < x.length; i++) tv += Math.abs(x[i] / sx - y[i] / sy);
  return tv / 2;
}

/**
 * The weighted projection of noisy counts onto {μ ≥ 0, Σμ = total}: μ_c = max(0, y_c − λ·var_c), λ by bisection.
 * It minimises Σ (μ_c − y_c)²/(2·var_c), i.e. the maximum-likelihood product factor under Gaussian noise.
 */
export function projectToSimplex(y: ArrayLike<number>, variance: ArrayLike<number>, total: number): Float64Array {
  const k = y.length;
  const out = new Float64Array(k);
  if (total <= 0 || k === 0) return out;
  const sumAt = (lambda: number) => {
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.max(0, y[c] - lambda * variance[c]);
    return s;
  };
  // sumAt is non-increasing in λ; bracket the root.
  let lo = -1;
  while (sumAt(lo) < total) lo *= 2;
  let hi = 1;
  while (sumAt(hi) > total) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) break;
    if (sumAt(mid) > total) lo = mid;
    else hi = mid;
  }
  let s = 0;
  for (let c = 0; c < k; c++) {
    out[c] = Math.max(0, y[c] - hi * variance[c]);
    s += out[c];
  }
  if (s > 0) for (let c = 0; c < k; c++) out[c] *= total / s;
  else out.fill(total / k);
  return out;
}

/** Combines independent unbiased estimates by inverse variance. */
export function inverseVarianceMean(estimates: readonly { value: number; variance: number }[]): number {
  let num = 0;
  let den = 0;
  for (const e of estimates) {
    num += e.value / e.variance;
    den += 1 / e.variance;
  }
  return den > 0 ? num / den : 0;
}

/**
 * Re-expresses a 2-way count table (row-major, `ka × kb`) on compressed domains: cell (x_a, x_b) is added to
 * (fa[x_a], fb[x_b]). Equal to `histogram2` of the compressed code columns.
 */
export function compressTable(h: ArrayLike<number>, ka: number, kb: number, fa: Int32Array, fb: Int32Array, kca: number, kcb: number): Float64Array {
  const out = new Float64Array(kca * kcb);
  for (let i = 0; i < ka; i++) {
    const row = fa[i] * kcb;
    for (let j = 0; j < kb; j++) out[row + fb[j]] += h[i * kb + j];
  }
  return out;
}

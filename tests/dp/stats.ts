/** Goodness-of-fit helpers for the sampler tests (fixed significance 1e-4, so a correct sampler fails ~never). */

/** Standard-normal quantile for a one-sided significance of 1e-4. */
export const Z_1E4 = 3.719;

/** Upper critical value of χ²(df) at significance 1e-4 (Wilson–Hilferty; accurate to ~1% for df ≥ 3). */
export function chiSquareCritical(df: number, z = Z_1E4): number {
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * Pearson χ² of integer samples against an exact pmf. Cells with expected count < 5 in the tails are pooled into
 * one lower and one upper tail cell, so the statistic's χ² approximation holds.
 */
export function chiSquare(samples: ArrayLike<number>, pmf: (y: number) => number, lo: number, hi: number): { stat: number; df: number } {
  // The cell search below walks from 0 towards lo and hi: they must be finite, or it may never stop.
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`chiSquare needs a finite support, got [${lo}, ${hi}]`);
  const n = samples.length;
  const observed = new Map<number, number>();
  for (let i = 0; i < n; i++) observed.set(samples[i], (observed.get(samples[i]) ?? 0) + 1);
  // Central cells with expected >= 5, then everything else in the two tails.
  let first = 0;
  while (first > lo && pmf(first - 1) * n >= 5) first--;
  let last = 0;
  while (last < hi && pmf(last + 1) * n >= 5) last++;
  let stat = 0;
  let cells = 0;
  let centralMass = 0;
  for (let y = first; y <= last; y++) {
    const e = pmf(y) * n;
    const o = observed.get(y) ?? 0;
    stat += (o - e) ** 2 / e;
    centralMass += pmf(y);
    cells++;
  }
  let lowerMass = 0;
  for (let y = lo; y < first; y++) lowerMass += pmf(y);
  let lowerObs = 0;
  let upperObs = 0;
  for (const [y, c] of observed) {
    if (y < first) lowerObs += c;
    else if (y > last) upperObs += c;
  }
  const upperMass = Math.max(0, 1 - centralMass - lowerMass);
  for (const [mass, obs] of [
    [lowerMass, lowerObs],
    [upperMass, upperObs],
  ]) {
    if (mass * n > 1e-9) {
      stat += (obs - mass * n) ** 2 / (mass * n);
      cells++;
    } else if (obs > 0) {
      stat += Number.POSITIVE_INFINITY; // a value the pmf says is (practically) impossible
    }
  }
  return { stat, df: cells - 1 };
}

/** Kolmogorov–Smirnov distance between the empirical CDF of integer samples and an exact CDF on [lo, hi]. */
export function ksDistance(samples: ArrayLike<number>, pmf: (y: number) => number, lo: number, hi: number): number {
  const n = samples.length;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(samples[i], (counts.get(samples[i]) ?? 0) + 1);
  let cdf = 0;
  let ecdf = 0;
  let d = 0;
  for (let y = lo; y <= hi; y++) {
    cdf += pmf(y);
    ecdf += (counts.get(y) ?? 0) / n;
    d = Math.max(d, Math.abs(cdf - ecdf));
  }
  return d;
}

/** KS critical distance at significance 1e-4 for n samples: sqrt(−ln(α/2)/(2n)). */
export function ksCritical(n: number): number {
  return Math.sqrt(-Math.log(1e-4 / 2) / (2 * n));
}

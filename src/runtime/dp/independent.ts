
import { planRho } from "./accounting.js";
import type { Domain } from "./domain.js";
import type { MarginalTables } from "./marginal-source.js";
import { histogram1, projectToSimplex } from "./marginals.js";
import { type SecureRng, rngFromEnvironment } from "./rng.js";
import { withoutInsignificantUnknown } from "./compress.js";
import { roundedCounts } from "./sample.js";
import { discreteGaussianVector, type Rational, rationalAtLeast, rationalValue } from "./samplers.js";
import type { EncodedTable } from "./table.js";
import { estimateTotal } from "./tree-model.js";

/** Noise scale and cost of a product-of-marginals release. */
export interface IndependentPlan {
  readonly epsilon: number;
  readonly delta: number;
  readonly rho: number;
  /** Exact variance of the discrete Gaussian on every 1-way cell: d/(2ρ), rounded up. */
  readonly variance: Rational;
  /** ρ actually spent (from the rounded variance). */
  readonly rhoSpent: number;
}

/** Fixes the noise of a product-of-marginals release of `columns` columns at (ε, δ). */
export function planIndependent(columns: number, epsilon: number, delta: number): IndependentPlan {
  const rho = planRho(epsilon, delta);
  const variance = rationalAtLeast(columns / (2 * rho));
  return { epsilon, delta, rho, variance, rhoSpent: columns / (2 * rationalValue(variance)) };
}

/** Options of `productOfMarginals`. */
export interface IndependentOptions {
  readonly epsilon: number;
  /** @default 1e-9 */
  readonly delta?: number;
  /** Number of synthetic rows. @default - the noisy estimate of the number of records */
  readonly rows?: number;
  /** When `rows` is not given: the number of rows for a noisy estimate of the record count (e.g. a cap). */
  readonly rowsFor?: (estimate: number) => number;
  /** @default - `rngFromEnvironment()` */
  readonly rng?: SecureRng;
  /** Noise drawn beforehand with `drawIndependentNoise` (before the data was read). */
  readonly noise?: readonly Float64Array[];
}

/** Draws the noise of every 1-way marginal; call it before reading the data. */
export function drawIndependentNoise(plan: IndependentPlan, sizes: readonly number[], rng: SecureRng): Float64Array[] {
  return sizes.map((k) => discreteGaussianVector(rng, plan.variance, k));
}

/** Runs the product-of-marginals synthesizer on an encoded table or on count tables from a marginal source. */
export function productOfMarginals(
  data: EncodedTable | MarginalTables,
  domain: Domain,
  options: IndependentOptions,
): { table: EncodedTable; plan: IndependentPlan; timings: Record<string, number> } {
  const rng = options.rng ?? rngFromEnvironment();
  const sizes = domain.columns.map((c) => c.size);
  const plan = planIndependent(sizes.length, options.epsilon, options.delta ?? 1e-9);
  const t0 = performance.now();
  const noise = options.noise ?? drawIndependentNoise(plan, sizes, rng);
  const t1 = performance.now();
  const v = rationalValue(plan.variance);
  const meas = sizes.map((k, i) => {
    const h = "columns" in data ? histogram1(data.columns[i], k) : Float64Array.from(data.oneWay(i));
    for (let x = 0; x < h.length; x++) h[x] += noise[i][x];
    return { y: h, variance: new Float64Array(sizes[i]).fill(v) };
  });
  const t2 = performance.now();
  const total = estimateTotal(meas, []);
  const rows = options.rows ?? (options.rowsFor ? options.rowsFor(total) : Math.max(0, Math.round(total)));
  const columns = meas.map((m, i) => {
    const probs = projectToSimplex(m.y, m.variance, total).map((x) => x / total);
    withoutInsignificantUnknown(probs, m.y, v, domain.columns[i].unknownCode);
    const counts = roundedCounts(probs, rows, rng);
    const out = new Int32Array(rows);
    let pos = 0;
    for (let c = 0; c < counts.length; c++) for (let j = 0; j < counts[c]; j++) out[pos++] = c;
    return rng.shuffle(out);
  });
  const t3 = performance.now();
  return { table: { rows, columns }, plan, timings: { noise: t1 - t0, "measure-1way": t2 - t1, generate: t3 - t2 } };
}

/**
 * Privacy accounting in zero-concentrated DP (ρ-zCDP), ported from `cdp2adp.py` (IBM discrete-gaussian-differential-
 * privacy, also shipped in private-pgm): CKS 2020, arXiv 2004.00010, Prop. 12 / Cor. 13.
 *
 * Neighbouring datasets differ by adding or removing one record. ρ values of sequential releases add up.
 */
import { CleanRoomError } from "../../core/errors.js";

const BISECTION_STEPS = 1000;

function check(cond: boolean, message: string): void {
  if (!cond) throw new CleanRoomError("invalid-argument", message);
}

/**
 * The smallest δ such that ρ-zCDP implies (ε, δ)-DP (optimised over the Rényi order α by bisection on the derivative).
 * Any α gives a valid bound, so an imprecise search only errs towards a larger (safe) δ.
 */
export function cdpDelta(rho: number, eps: number): number {
  check(rho >= 0 && eps >= 0, `cdpDelta needs rho >= 0 and eps >= 0 (got ${rho}, ${eps})`);
  if (rho === 0) return 0;
  let amin = 1.01; // the optimum is ≥ (1+ε/ρ)/2; below 1.01 the formula is numerically unstable
  let amax = (eps + 1) / (2 * rho) + 2;
  let alpha = (amin + amax) / 2;
  for (let i = 0; i < BISECTION_STEPS; i++) {
    alpha = (amin + amax) / 2;
    // Once the interval stops shrinking in double precision, further steps would repeat the same α.
    if (alpha === amin || alpha === amax) break;
    const derivative = (2 * alpha - 1) * rho - eps + Math.log1p(-1 / alpha);
    if (derivative < 0) amin = alpha;
    else amax = alpha;
  }
  const delta = Math.exp((alpha - 1) * (alpha * rho - eps) + alpha * Math.log1p(-1 / alpha)) / (alpha - 1);
  return Math.min(delta, 1);
}

/**
 * The ρ a synthesizer plans with for a release at (ε, δ), refusing what no release can use: `cdpRho` accepts ε = 0
 * (ρ ≈ 1e-18) and gives ρ = 0 for δ ≥ 1. Shared by `planMst`, `planAim` and `planIndependent`.
 *
 * @throws CleanRoomError `invalid-argument` for ε not finite and > 0, or δ outside (0, 1)
 */
export function planRho(epsilon: number, delta: number): number {
  check(epsilon > 0 && Number.isFinite(epsilon), `epsilon must be > 0 (got ${epsilon})`);
  check(delta > 0 && delta < 1, `delta must be in (0, 1) (got ${delta})`);
  return cdpRho(epsilon, delta);
}

/** The largest ρ such that ρ-zCDP implies (ε, δ)-DP (`cdp_rho`). */
export function cdpRho(eps: number, delta: number): number {
  check(eps >= 0 && Number.isFinite(eps), `epsilon must be a finite number >= 0 (got ${eps})`);
  check(delta > 0, `delta must be > 0 (got ${delta})`);
  if (delta >= 1) return 0;
  let rhomin = 0;
  let rhomax = eps + 1;
  for (let i = 0; i < BISECTION_STEPS; i++) {
    const rho = (rhomin + rhomax) / 2;
    if (rho === rhomin || rho === rhomax) break;
    if (cdpDelta(rho, eps) <= delta) rhomin = rho;
    else rhomax = rho;
  }
  return rhomin;
}

/** The smallest ε such that ρ-zCDP implies (ε, δ)-DP (`cdp_eps`): how a ledger reports what was spent. */
export function cdpEps(rho: number, delta: number): number {
  check(rho >= 0 && Number.isFinite(rho), `rho must be a finite number >= 0 (got ${rho})`);
  check(delta > 0, `delta must be > 0 (got ${delta})`);
  if (delta >= 1 || rho === 0) return 0;
  let epsmin = 0;
  let epsmax = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
  for (let i = 0; i < BISECTION_STEPS; i++) {
    const eps = (epsmin + epsmax) / 2;
    if (eps === epsmin || eps === epsmax) break;
    if (cdpDelta(rho, eps) <= delta) epsmax = eps;
    else epsmin = eps;
  }
  return epsmax;
}

/** The older, looser conversion ε = ρ + 2√(ρ ln(1/δ)) solved for ρ: (√(ε+ln(1/δ)) − √ln(1/δ))². */
export function cdpRhoClassic(eps: number, delta: number): number {
  const l = Math.log(1 / delta);
  return (Math.sqrt(eps + l) - Math.sqrt(l)) ** 2;
}

/** ρ of a Gaussian (or discrete Gaussian) mechanism: Δ²/(2σ²). */
export function gaussianRho(sigma: number, l2Sensitivity = 1): number {
  return (l2Sensitivity * l2Sensitivity) / (2 * sigma * sigma);
}

/** σ of a Gaussian mechanism that costs ρ: Δ/√(2ρ). */
export function gaussianSigma(rho: number, l2Sensitivity = 1): number {
  check(rho > 0, `rho must be > 0 (got ${rho})`);
  return l2Sensitivity / Math.sqrt(2 * rho);
}

/** ρ of an ε-DP exponential mechanism: ε²/8 (it is ε-bounded-range; Cesar & Rogers 2021). */
export function exponentialMechanismRho(eps: number): number {
  return (eps * eps) / 8;
}

/** ρ of an ε-DP pure mechanism (e.g. discrete Laplace): ε²/2 (Bun & Steinke 2016, Prop. 1.4). */
export function pureDpRho(eps: number): number {
  return (eps * eps) / 2;
}

/** Sequential composition in zCDP: ρ values add. */
export function composeRho(rhos: readonly number[]): number {
  return rhos.reduce((a, b) => a + b, 0);
}

// Accounting numbers against the reference table (dp-stage1.md §1.2, from private-pgm's cdp2adp.py port).
import { expect } from "chai";
import {
  cdpDelta,
  cdpEps,
  cdpRho,
  cdpRhoClassic,
  composeRho,
  exponentialMechanismRho,
  gaussianRho,
  gaussianSigma,
} from "../../src/runtime/dp/accounting.js";
import { planMst } from "../../src/runtime/dp/mst.js";

/** Relative closeness to the reference's printed significant digits. */
function near(actual: number, expected: number, rel = 0.002): void {
  expect(Math.abs(actual - expected) / expected, `${actual} vs ${expected}`).to.be.below(rel);
}

describe("dp accounting (zCDP)", () => {
  // ε, δ, ρ (CKS), ρ (old bound), σ, 1-way sd σ√7, 2-way sd σ√6, ε_EM per draw — for d = 7 (insurance).
  const table: [number, number, number, number, number, number, number, number][] = [
    [0.5, 1e-9, 0.00395, 0.00298, 19.5, 51.5, 47.7, 0.042],
    [1, 1e-9, 0.01497, 0.01178, 10.0, 26.5, 24.5, 0.082],
    [1, 1e-6, 0.02436, 0.01747, 7.85, 20.8, 19.2, 0.104],
    [2, 1e-9, 0.0561, 0.0461, 5.17, 13.7, 12.7, 0.158],
    [4, 1e-9, 0.2063, 0.1764, 2.7, 7.1, 6.6, 0.303],
    [10, 1e-9, 1.091, 0.981, 1.17, 3.1, 2.9, 0.696],
  ];
  for (const [eps, delta, rho, rhoOld, sigma, sd1, sd2, em] of table) {
    it(`GIVEN ε=${eps}, δ=${delta} THEN cdpRho, the old bound and MST's scales match the reference`, () => {
      near(cdpRho(eps, delta), rho, 0.003);
      near(cdpRhoClassic(eps, delta), rhoOld, 0.006);
      const r = cdpRho(eps, delta);
      near(Math.sqrt(3 / (2 * r)), sigma, 0.01);
      const plan = planMst(7, eps, delta);
      near(Math.sqrt(Number(plan.oneWayVariance.n) / Number(plan.oneWayVariance.d)), sd1, 0.01);
      const v2 = plan.twoWayVariance as { n: bigint; d: bigint };
      near(Math.sqrt(Number(v2.n) / Number(v2.d)), sd2, 0.01);
      near(plan.selectionEpsilon, em, 0.02);
      // What MST spends never exceeds what (ε, δ) allows, and wastes under 1e-6 of it to rounding.
      expect(plan.rhoSpent.total).to.be.at.most(r);
      expect(plan.rhoSpent.total).to.be.above(r * (1 - 1e-6));
    });
  }

  it("GIVEN ρ from cdpRho(ε, δ) WHEN converted back THEN cdpEps gives ε and cdpDelta gives at most δ", () => {
    for (const [eps, delta] of [
      [1, 1e-9],
      [4, 1e-6],
    ]) {
      const rho = cdpRho(eps, delta);
      near(cdpEps(rho, delta), eps, 1e-6);
      expect(cdpDelta(rho, eps)).to.be.at.most(delta * (1 + 1e-9));
    }
  });

  it("GIVEN δ = cdpDelta(ρ, ε) exactly THEN cdpEps(ρ, δ) ≤ ε and cdpRho(ε, δ) ≥ ρ (the smallest ε, the largest ρ: a midpoint meeting δ to the last bit counts as meeting it)", () => {
    // A ledger that spent ρ planned at (ε, δ) must not report more than ε, nor a plan at (ε, δ) afford less than ρ.
    // The round trip is exact only where the floating-point cdpDelta is monotone; these cases (δ < 0.1, ρ < ε + 1) are.
    for (const [rho, eps] of [
      [0.01, 0.5],
      [0.1, 1],
      [0.5, 3],
      [1, 3],
      [2, 8],
    ]) {
      const delta = cdpDelta(rho, eps);
      expect(cdpEps(rho, delta), `cdpEps(${rho}, cdpDelta(${rho}, ${eps}))`).to.be.at.most(eps);
      expect(cdpRho(eps, delta), `cdpRho(${eps}, cdpDelta(${rho}, ${eps}))`).to.be.at.least(rho);
    }
  });

  it("GIVEN answers the bisection cannot pin in 1,000 halvings THEN cdpEps and cdpRho stop there, as cdp2adp.py's 1,000 steps do", () => {
    // δ = 0.5 is met at ε = 0 for ρ = 0.001 (cdpDelta(0.001, 0) ≈ 0.027): every midpoint meets it, so the answer is the
    // bracket's top halved exactly 1,000 times (halving a double is exact in this range), not 0 nor a denormal.
    const rho = 0.001;
    expect(cdpDelta(rho, 0)).to.be.below(0.5);
    expect(cdpEps(rho, 0.5)).to.equal((rho + 2 * Math.sqrt(rho * Math.log(2))) * 2 ** -1000);
    // ε = 0, δ = 1e-145: ρ ≈ 1.36e-290 needs more than 1,000 halvings of [0, 1] to reach its last bit; after 1,000 every
    // bracket end is a multiple of 2^-1000 (a 1,001st step, or running to the end, leaves a finer one).
    const r = cdpRho(0, 1e-145);
    expect(r).to.be.within(1.35e-290, 1.37e-290);
    expect(Number.isInteger(r * 2 ** 1000), String(r)).to.equal(true);
  });

  it("GIVEN Gaussian noise and exponential-mechanism draws THEN their ρ compose by addition", () => {
    expect(gaussianRho(gaussianSigma(0.25))).to.be.closeTo(0.25, 1e-12);
    expect(gaussianRho(2, 3)).to.equal(9 / 8);
    expect(exponentialMechanismRho(0.4)).to.be.closeTo(0.02, 1e-12);
    expect(composeRho([0.1, 0.2, 0.05])).to.be.closeTo(0.35, 1e-12);
  });

  it("GIVEN invalid parameters THEN the converters refuse them", () => {
    expect(() => cdpRho(1, 0)).to.throw(/delta must be > 0/);
    expect(() => cdpRho(-1, 1e-9)).to.throw(/epsilon/);
    expect(() => cdpEps(-1, 1e-9)).to.throw(/rho/);
  });
});

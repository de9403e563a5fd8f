// Edges of the zCDP converters (issue 20, dp mutation pass): zero spends, δ ≥ 1, the bounds each converter refuses,
// and round trips precise enough that a shortened bisection or a wrong starting bracket shows.
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import {
  cdpDelta,
  cdpEps,
  cdpRho,
  composeRho,
  gaussianRho,
  gaussianSigma,
  planRho,
  pureDpRho,
} from "../../src/runtime/dp/accounting.js";

function invalid(f: () => unknown, message?: RegExp): void {
  expect(f).to.throw(CleanRoomError, message).with.property("code", "invalid-argument");
}

describe("dp accounting edges (zCDP)", () => {
  it("GIVEN ρ = 0 THEN δ is 0 at every ε and the ε spent is 0", () => {
    expect(cdpDelta(0, 0)).to.equal(0);
    expect(cdpDelta(0, 1)).to.equal(0);
    expect(cdpEps(0, 1e-9)).to.equal(0);
  });

  it("GIVEN δ ≥ 1 THEN no ρ is affordable and no ε is spent", () => {
    expect(cdpRho(1, 1)).to.equal(0);
    expect(cdpRho(1, 2)).to.equal(0);
    expect(cdpEps(0.5, 1)).to.equal(0);
    expect(cdpEps(0.5, 3)).to.equal(0);
  });

  it("GIVEN ε = 0 THEN a positive ρ gives a positive δ, and a large ρ caps δ at 1", () => {
    const d = cdpDelta(0.01, 0);
    expect(d).to.be.above(0).and.below(1);
    expect(cdpDelta(10, 0)).to.equal(1);
    expect(cdpDelta(50, 0.1)).to.equal(1);
    // ε = 0 is a valid budget: the affordable ρ is tiny but it is a number, and it meets δ.
    const r = cdpRho(0, 1e-6);
    expect(r).to.be.at.least(0);
    expect(cdpDelta(r, 0)).to.be.at.most(1e-6 * (1 + 1e-9));
  });

  it("GIVEN out-of-range arguments THEN each converter refuses with invalid-argument", () => {
    invalid(() => cdpDelta(-0.1, 1), /cdpDelta needs rho >= 0/);
    invalid(() => cdpDelta(0.1, -1));
    invalid(() => cdpRho(Number.POSITIVE_INFINITY, 1e-9));
    invalid(() => cdpRho(Number.NaN, 1e-9));
    invalid(() => cdpRho(1, -1e-9));
    invalid(() => cdpEps(Number.POSITIVE_INFINITY, 1e-9));
    invalid(() => cdpEps(0.1, 0), /delta must be > 0/);
    invalid(() => cdpEps(0.1, -1));
    invalid(() => gaussianSigma(0), /rho must be > 0/);
    invalid(() => gaussianSigma(-1));
  });

  it("GIVEN a synthesizer's (ε, δ) THEN planRho is cdpRho's ρ, and ε = 0 or not finite, δ outside (0, 1) are refused (cdpRho takes ε = 0 and δ ≥ 1)", () => {
    expect(planRho(1, 1e-9)).to.equal(cdpRho(1, 1e-9));
    expect(planRho(1e-3, 0.999)).to.equal(cdpRho(1e-3, 0.999));
    for (const eps of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) invalid(() => planRho(eps, 1e-9), /epsilon must be > 0/);
    for (const delta of [0, -1e-9, 1, 2, Number.NaN]) invalid(() => planRho(1, delta), /delta must be in \(0, 1\)/);
  });

  for (const [eps, delta] of [
    [0.1, 1e-9],
    [1, 1e-9],
    [3, 1e-5],
    [20, 1e-12],
  ] as const) {
    it(`GIVEN ε=${eps}, δ=${delta} WHEN converting to ρ and back THEN δ is met to 1e-9 and ε returns to 1e-9`, () => {
      const rho = cdpRho(eps, delta);
      expect(rho).to.be.above(0);
      // The converters bisect to double precision: the round trip is tight, not merely within a percent.
      const back = cdpDelta(rho, eps);
      expect(back).to.be.at.most(delta);
      expect(back).to.be.above(delta * (1 - 1e-9));
      expect(Math.abs(cdpEps(rho, delta) - eps) / eps).to.be.below(1e-9);
      // ρ is the largest affordable: slightly more breaks δ.
      expect(cdpDelta(rho * (1 + 1e-6), eps)).to.be.above(delta);
    });
  }

  it("GIVEN the CKS bound THEN cdpEps is strictly below the classic ρ + 2√(ρ ln 1/δ) and cdpDelta decreases in ε", () => {
    const rho = 0.2;
    const classic = rho + 2 * Math.sqrt(rho * Math.log(1e9));
    const e = cdpEps(rho, 1e-9);
    expect(e).to.be.below(classic);
    expect(e).to.be.above(classic * 0.8);
    expect(cdpDelta(rho, 1)).to.be.above(cdpDelta(rho, 2));
    expect(cdpDelta(rho, 2)).to.be.above(cdpDelta(rho, 4));
  });

  it("GIVEN a sensitivity THEN σ and ρ scale with it; pure ε-DP costs ε²/2; an empty composition costs 0", () => {
    expect(gaussianSigma(0.5, 3)).to.be.closeTo(3, 1e-12);
    expect(gaussianSigma(2)).to.be.closeTo(0.5, 1e-12);
    expect(gaussianRho(1)).to.equal(0.5);
    expect(pureDpRho(0.4)).to.be.closeTo(0.08, 1e-15);
    expect(pureDpRho(2)).to.equal(2);
    expect(composeRho([])).to.equal(0);
    expect(composeRho([0.25])).to.equal(0.25);
  });
});

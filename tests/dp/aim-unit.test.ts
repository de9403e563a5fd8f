// AIM in process on small exact tables (issue 20, dp-mst mutation path): argument validation, the budget it spends,
// the pairs it measures and the model it fits. Seeded streams make every run deterministic; where a result is checked
// against the data, ε is large enough that the noise is far below the tolerance.
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { planAim } from "../../src/runtime/dp/aim.js";

function invalid(f: () => unknown): CleanRoomError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    expect((e as CleanRoomError).code).to.equal("invalid-argument");
    return e as CleanRoomError;
  }
  throw new Error("expected an invalid-argument error");
}

describe("dp AIM (unit)", () => {
  it("GIVEN ε not finite and > 0, δ outside (0, 1) or fewer than two columns WHEN planned THEN invalid-argument, as MST", () => {
    for (const epsilon of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(invalid(() => planAim(3, epsilon, 1e-9)).message).to.match(/epsilon/);
    for (const delta of [0, -1e-9, 1, 2, Number.NaN]) expect(invalid(() => planAim(3, 1, delta)).message).to.match(/delta/);
    for (const columns of [1, 0, Number.NaN]) expect(invalid(() => planAim(columns, 1, 1e-9)).message).to.match(/two columns/);
  });

  it("GIVEN valid arguments WHEN planned THEN the release costs all of ρ(ε, δ)", () => {
    expect(planAim(2, 1, 1e-9)).to.deep.equal({ rho: cdpRho(1, 1e-9), rhoSpent: cdpRho(1, 1e-9), columns: 2 });
    expect(planAim(5, 0.25, 0.5)).to.deep.equal({ rho: cdpRho(0.25, 0.5), rhoSpent: cdpRho(0.25, 0.5), columns: 5 });
  });
});

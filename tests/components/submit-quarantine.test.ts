/** Who may read quarantine without a release: submitters only in a room where no release step can ever apply. */
import { expect } from "chai";
import { submittersReadQuarantine } from "../../src/components/data-clean-room.js";
import { resolveSpec } from "../../src/core/spec.js";

function spec(output: unknown, datasetDisclosure?: unknown) {
  return resolveSpec({ providers: [{ name: "p", datasets: [{ name: "d", ...(datasetDisclosure ? { disclosure: datasetDisclosure } : {}) }] }], output });
}

describe("components: submittersReadQuarantine", () => {
  it("GIVEN the defaults (disclosure review) THEN submitters do not read quarantine: a held result must not be readable there", () => {
    expect(submittersReadQuarantine(spec({}), 0)).to.equal(false);
  });

  it("GIVEN disclosure off and no release step THEN they do (as before safe outputs)", () => {
    expect(submittersReadQuarantine(spec({ disclosure: { mode: "off" } }), 0)).to.equal(true);
  });

  it("GIVEN off but requireRelease, a dataset asking for checks, or a provider from another stack THEN they do not", () => {
    expect(submittersReadQuarantine(spec({ requireRelease: true, disclosure: { mode: "off" } }), 0)).to.equal(false);
    expect(submittersReadQuarantine(spec({ disclosure: { mode: "off" } }, { mode: "review" }), 0)).to.equal(false);
    expect(submittersReadQuarantine(spec({ disclosure: { mode: "off" } }), 1)).to.equal(false);
  });
});

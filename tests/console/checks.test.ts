/**
 * The verification report names the check that failed from the error `verifyResult` throws: every error code it can
 * throw must point at exactly one check, or a failure would be shown against the wrong check (or none).
 */
import { expect } from "chai";
import { ROOM_ENV } from "../../src/core/executor-env.js";
import { RESULT_CHECKS } from "../../src/runtime/console/checks.js";
import { ATTESTATION_ERROR_CODES } from "../../src/runtime/verify/errors.js";

function owners(code: string, claim?: string): string[] {
  return RESULT_CHECKS.filter((c) => c.failsOn(code, claim)).map((c) => c.id);
}

describe("console: the verification report's checks", () => {
  it("GIVEN every AttestationError code (policy with each claim verifyResult uses) THEN exactly one check owns it", () => {
    const cases: Array<[string, string | undefined]> = [
      ...ATTESTATION_ERROR_CODES.filter((c) => c !== "policy").map((c) => [c, undefined] as [string, undefined]),
      ["policy", "policy"],
      ["policy", "iat"],
      ["policy", "receipt.room"],
      ["policy", "submods.container.image_digest"],
      ["policy", `submods.container.env_override.${ROOM_ENV}`],
    ];
    for (const [code, claim] of cases) expect(owners(code, claim), `${code} ${claim ?? ""}`).to.have.length(1);
    expect(owners("policy", "iat")).to.deep.equal(["timing"]);
    expect(owners("policy", `submods.container.env_override.${ROOM_ENV}`)).to.deep.equal(["attested-room"]);
  });

  it("GIVEN the library's own result errors (unreadable files, edited outputs) THEN the files and outputs checks own them", () => {
    for (const code of ["not-found", "invalid-receipt", "io-error"]) expect(owners(code)).to.deep.equal(["files"]);
    expect(owners("digest-mismatch")).to.deep.equal(["outputs"]);
  });

  it("GIVEN the checks THEN they follow verifyResult's order: token before receipt binding before outputs before approval", () => {
    const ids = RESULT_CHECKS.map((c) => c.id);
    expect(ids.indexOf("chain")).to.be.lessThan(ids.indexOf("signature"));
    expect(ids.indexOf("signature")).to.be.lessThan(ids.indexOf("nonce"));
    expect(ids.indexOf("nonce")).to.be.lessThan(ids.indexOf("policy"));
    expect(ids.indexOf("binding")).to.be.lessThan(ids.indexOf("outputs"));
    expect(ids.indexOf("outputs")).to.be.lessThan(ids.indexOf("approved"));
    expect(ids.at(-1)).to.equal("approved");
  });
});

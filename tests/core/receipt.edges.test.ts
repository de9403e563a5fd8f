/**
 * Receipt validation at its edges: values of the right shape but the wrong type (a digest inside an array, a number
 * for a name), the stage-2 DP spends, the admissions, output paths with empty segments, and parse errors.
 */
import { expect } from "chai";
import { CleanRoomError, type Receipt, parseReceipt, policyDigest, receiptProblems } from "../../src/core/index.js";
import { APPROVED_JOB, DELETE, validReceipt, withField } from "./fixtures.js";

const HEX = "a".repeat(64);
const ENTRY = `sha256:${"e".repeat(64)}`;

/** A succeeded receipt with one input, one admission, one DP spend and two outputs. */
function receipt(): Receipt {
  return {
    ...validReceipt(),
    admittedBy: [{ provider: "hospital-a", policyDigest: policyDigest("x"), own: true }],
    dp: [{ provider: "hospital-a", dataset: "patients", seq: 3, entry: ENTRY, rho: 0.01, count: 2, sensitivity: 1 }],
  };
}

const problems = (path: string, value: unknown) => receiptProblems(withField(receipt(), path, value));

describe("core/receipt: validation edges", () => {
  it("GIVEN the fixture receipt (admissions and DP spends included) WHEN validated THEN no problem", () => {
    expect(receiptProblems(receipt())).to.deep.equal([]);
  });

  it("GIVEN something that is not an object WHEN validated THEN exactly one problem saying so", () => {
    expect(receiptProblems(null)).to.deep.equal(["receipt must be a JSON object"]);
    expect(receiptProblems([receipt()])).to.deep.equal(["receipt must be a JSON object"]);
  });

  it("GIVEN names and digests of the wrong type (an array holding a valid value) WHEN validated THEN each is refused", () => {
    expect(problems("room", ["demo"])).to.deep.equal(["receipt.room must be a non-empty string"]);
    expect(problems("jobDigest", [APPROVED_JOB])).to.deep.equal(["receipt.jobDigest must be sha256:<64 hex>"]);
    expect(problems("startedAt", ["2025-06-23T14:22:31Z"])).to.deep.equal(["receipt.startedAt must be an ISO-8601 UTC time"]);
  });

  it("GIVEN an input with a field of the wrong type WHEN validated THEN the input is refused", () => {
    const want = ["receipt.inputs[0] must be {provider, dataset, sha256 (64 hex), bytes}"];
    expect(problems("inputs[0].provider", 1)).to.deep.equal(want);
    expect(problems("inputs[0].dataset", 1)).to.deep.equal(want);
    expect(problems("inputs[0].sha256", [HEX])).to.deep.equal(want);
  });

  it("GIVEN admissions that are not a list, or an admission with a field of the wrong type WHEN validated THEN refused", () => {
    expect(problems("admittedBy", {})).to.deep.equal(["receipt.admittedBy must be an array"]);
    const want = ["receipt.admittedBy[0] must be {provider, policyDigest (sha256:<64 hex>), own (boolean)}"];
    for (const [path, value] of [
      ["admittedBy[0]", null],
      ["admittedBy[0].provider", ["hospital-a"]],
      ["admittedBy[0].provider", ""],
      ["admittedBy[0].policyDigest", [policyDigest("x")]],
      ["admittedBy[0].own", "true"],
    ] as const) {
      expect(problems(path, value), `${path} = ${JSON.stringify(value)}`).to.deep.equal(want);
    }
  });

  it("GIVEN outputs that are not a list, or an output with a field of the wrong type WHEN validated THEN refused", () => {
    expect(problems("outputs", {})).to.deep.equal(["receipt.outputs must be an array"]);
    const want = ["receipt.outputs[0] must be {path, bytes, sha256 (64 hex)}"];
    expect(problems("outputs[0].path", 1)).to.deep.equal(want);
    expect(problems("outputs[0].path", ["model/coef.csv"])).to.deep.equal(want);
    expect(problems("outputs[0].sha256", ["b".repeat(64)])).to.deep.equal(want);
  });

  it("GIVEN output paths with an empty segment (a//b, a trailing /) or empty WHEN validated THEN refused", () => {
    for (const p of ["model//coef.csv", "model/", "", "/etc/passwd"]) {
      const got = problems("outputs[0].path", p);
      expect(got, p).to.have.length(1);
      expect(got[0], p).to.match(/^receipt\.outputs\[0\]\.path must be relative/);
    }
  });

  it("GIVEN DP spends that are not a list, or a spend with a missing or mistyped field WHEN validated THEN refused", () => {
    expect(problems("dp", {})).to.deep.equal(["receipt.dp must be an array"]);
    const want = ["receipt.dp[0] must be {provider, dataset, seq, entry (sha256:<64 hex>), rho, count, sensitivity}"];
    for (const [path, value] of [
      ["dp[0]", null],
      ["dp[0].provider", 1],
      ["dp[0].dataset", 1],
      ["dp[0].seq", 1.5],
      ["dp[0].entry", "e".repeat(64)],
      ["dp[0].entry", [ENTRY]],
      ["dp[0].rho", "0.01"],
    ] as const) {
      expect(problems(path, value), `${path} = ${JSON.stringify(value)}`).to.deep.equal(want);
    }
    expect(problems("dp", DELETE)).to.deep.equal([]);
  });

  it("GIVEN text that is not JSON WHEN parsed THEN invalid-receipt saying it is not JSON (no problem list); GIVEN a bad receipt THEN the list", () => {
    let err: unknown;
    try {
      parseReceipt("{");
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("invalid-receipt");
    expect((err as CleanRoomError).message).to.match(/not valid JSON/);
    expect((err as CleanRoomError).problems).to.deep.equal([]);
    expect(() => parseReceipt(withField(receipt(), "room", ""))).to.throw(CleanRoomError, /^Invalid receipt: 1 problem:/);
  });
});

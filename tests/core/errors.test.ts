import { expect } from "chai";
import * as core from "../../src/core/index.js";
import { CleanRoomError, throwIfProblems } from "../../src/core/index.js";

/** Inputs a careless caller or a hand-edited file could pass. */
const GARBAGE: unknown[] = [null, undefined, 0, -1, Number.NaN, "", "x", "/", true, [], [null], {}, { providers: {} }, () => 1];

type Call = (x: unknown) => unknown;

// Every public entry point of core that takes outside input. Each call either returns or throws a CleanRoomError:
// never a TypeError from deep inside a dependency.
const ENTRY_POINTS: Record<string, Call> = {
  validateSpec: (x) => core.validateSpec(x),
  resolveSpec: (x) => core.resolveSpec(x),
  specProblems: (x) => core.specProblems(x),
  schemaProblems: (x) => core.schemaProblems(x, "schema"),
  attestationPolicyProblems: (x) => core.attestationPolicyProblems(x as core.AttestationPolicyInput),
  buildAttestationCondition: (x) => core.buildAttestationCondition(x as core.AttestationPolicyInput),
  "buildAttestationCondition(imageDigests: x)": (x) => core.buildAttestationCondition({ imageDigests: x as string[] }),
  "buildAttestationCondition(serviceAccounts: x)": (x) =>
    core.buildAttestationCondition({ imageDigests: [`sha256:${"0".repeat(64)}`], serviceAccounts: x as string[] }),
  "evaluateAttestationCondition(x, {})": (x) => core.evaluateAttestationCondition(x as string, {}),
  "evaluateAttestationCondition(cond, x)": (x) => core.evaluateAttestationCondition("assertion.swname == 'X'", x),
  parseCondition: (x) => core.parseCondition(x as string),
  attributePrincipalSet: (x) => core.attributePrincipalSet(x as string, x as string, x as string),
  jobDigestPrincipalSet: (x) => core.jobDigestPrincipalSet("projects/1/locations/global/workloadIdentityPools/pool", x as string),
  loadDescriptor: (x) => core.loadDescriptor(x),
  descriptorProblems: (x) => core.descriptorProblems(x),
  canonicalJson: (x) => core.canonicalJson(x),
  canonicalDigest: (x) => core.canonicalDigest(x),
  manifestDigest: (x) => core.manifestDigest(x as core.Manifest),
  manifestBytes: (x) => core.manifestBytes(x as core.Manifest),
  compareManifests: (x) => core.compareManifests(x as core.Manifest, x as core.Manifest),
  jobDigest: (x) => core.jobDigest(x as core.JobManifest),
  assertDigest: (x) => core.assertDigest(x, "digest"),
  parseReceipt: (x) => core.parseReceipt(x),
  receiptProblems: (x) => core.receiptProblems(x),
  nonceForReceipt: (x) => core.nonceForReceipt(x as core.Receipt),
};

const ASYNC_ENTRY_POINTS: Record<string, (x: unknown) => Promise<unknown>> = {
  hashFile: (x) => core.hashFile(x as string),
  manifestOf: (x) => core.manifestOf(x as string),
  listFiles: (x) => core.listFiles(x as string),
};

function label(x: unknown): string {
  if (typeof x === "function") return "a function";
  if (x === undefined) return "undefined";
  return Number.isNaN(x) ? "NaN" : JSON.stringify(x);
}

describe("core/errors: bad input never escapes as a dependency's error", () => {
  for (const [name, call] of Object.entries(ENTRY_POINTS)) {
    it(`GIVEN garbage WHEN ${name} THEN it returns or throws CleanRoomError`, () => {
      for (const x of GARBAGE) {
        try {
          call(x);
        } catch (err) {
          expect(err, `${name}(${label(x)}) threw ${String(err)}`).to.be.instanceOf(CleanRoomError);
          expect((err as CleanRoomError).code).to.be.a("string").and.not.equal("");
        }
      }
    });
  }
  for (const [name, call] of Object.entries(ASYNC_ENTRY_POINTS)) {
    it(`GIVEN garbage WHEN ${name} THEN it rejects with CleanRoomError`, async () => {
      for (const x of GARBAGE.filter((g) => g !== "/")) {
        const err = await call(x).then(() => undefined, (e: unknown) => e);
        expect(err, `${name}(${label(x)}) should reject`).to.be.instanceOf(CleanRoomError);
      }
    });
  }
});

describe("core/errors: CleanRoomError and throwIfProblems", () => {
  it("GIVEN no problems THEN throwIfProblems returns", () => {
    expect(() => throwIfProblems("invalid-spec", "spec", [])).not.to.throw();
  });
  it("GIVEN problems THEN one error lists each, with count, code and the problems array", () => {
    try {
      throwIfProblems("invalid-spec", "clean room spec", ["a is wrong", "b is wrong"]);
      expect.fail("should throw");
    } catch (err) {
      const e = err as CleanRoomError;
      expect(e).to.be.instanceOf(Error);
      expect(e.name).to.equal("CleanRoomError");
      expect(e.code).to.equal("invalid-spec");
      expect(e.problems).to.deep.equal(["a is wrong", "b is wrong"]);
      expect(e.message).to.equal("Invalid clean room spec: 2 problems:\n  - a is wrong\n  - b is wrong");
    }
  });
  it("GIVEN a cause THEN it is kept", () => {
    const cause = new Error("inner");
    expect(new CleanRoomError("io-error", "outer", { cause }).cause).to.equal(cause);
  });
});

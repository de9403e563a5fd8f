/**
 * Every violation message of the pack against tests/golden/policy-messages.txt (see messages.ts).
 */
import { expect } from "chai";
import { policyMessagesText, readPolicyMessagesGolden } from "./messages.js";

describe("policy pack: what each rule tells the reviewer", () => {
  it("GIVEN the catalogue of broken resources WHEN the whole pack runs THEN every message is the golden one (`npm run golden` to update, then review the diff)", async () => {
    const golden = readPolicyMessagesGolden();
    expect(golden, "tests/golden/policy-messages.txt is missing: run `npm run golden` and review it").to.be.a("string");
    const text = await policyMessagesText();
    // Each case of the catalogue must say something: a case the pack is silent about documents nothing.
    for (const section of text.split("\n## ")) expect(section.trim().split("\n").length, section).to.be.greaterThan(1);
    expect(text).to.equal(golden);
  });
});

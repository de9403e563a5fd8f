/** Rule 10, disclosure-not-off: a room's quarantine labelled with disclosure mode `off` is flagged; nothing else is. */
import { expect } from "chai";
import { disclosureNotOff } from "../../policy-packs/cleanroom-guardrails/policies/disclosure.js";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { resourceViolations } from "./helpers.js";

function bucket(labels: Record<string, string>) {
  return {
    type: "gcp:storage/bucket:Bucket",
    name: "room-storage-quarantine",
    props: { name: "room-quarantine-p1", location: "europe-west4", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", labels },
  };
}

describe("policy pack: disclosure-not-off", () => {
  it("GIVEN the pack THEN the rule is in it", () => {
    expect(allPolicies.map((p) => p.name)).to.include("disclosure-not-off");
  });

  it("GIVEN a quarantine labelled review or enforce THEN no violation", async () => {
    for (const mode of ["review", "enforce"]) {
      expect(await resourceViolations(disclosureNotOff, bucket({ "cleanroom-role": "quarantine", "cleanroom-disclosure": mode }))).to.deep.equal([]);
    }
  });

  it("GIVEN a quarantine labelled off THEN it is flagged, saying how to fix it", async () => {
    const v = await resourceViolations(disclosureNotOff, bucket({ "cleanroom-role": "quarantine", "cleanroom-disclosure": "off" }));
    expect(v).to.have.length(1);
    expect(v[0]).to.include("its cleanroom-disclosure label is \"off\"").and.include('Set output.disclosure.mode to "review"');
  });

  it("GIVEN another bucket labelled off, or a quarantine without the label THEN no violation (only the room's quarantine says its mode)", async () => {
    expect(await resourceViolations(disclosureNotOff, bucket({ "cleanroom-role": "results", "cleanroom-disclosure": "off" }))).to.deep.equal([]);
    expect(await resourceViolations(disclosureNotOff, bucket({ "cleanroom-role": "quarantine" }))).to.deep.equal([]);
  });
});

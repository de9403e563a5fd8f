/**
 * The whole mocked resource graph of every example (quickstart, multi-party, gpu) passes the pack with zero
 * violations: the guardrails and the components agree on what a safe clean room is.
 */
import { expect } from "chai";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { EXAMPLES, runExampleUnderMocks } from "../components/harness.js";
import { type PlannedResource, runPack } from "./helpers.js";

/** Types the pack has rules for: a run that registered none of them would pass vacuously. */
const CHECKED_TYPES = [
  "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
  "gcp:kms/cryptoKey:CryptoKey",
  "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
  "gcp:storage/bucket:Bucket",
];

const PROVIDER_TYPE = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const MANATEE_CONDITION =
  "assertion.swname == 'CONFIDENTIAL_SPACE' && 'STABLE' in assertion.submods.confidential_space.support_attributes";

describe("policy pack: cleanroom-guardrails over the examples' mocked graphs", () => {
  for (const name of Object.keys(EXAMPLES)) {
    it(`GIVEN examples/${name} run under mocks WHEN the whole pack runs over its resources THEN zero violations`, async () => {
      const run = await runExampleUnderMocks(name);
      // Component resources are kept, as the engine sends them too: a rule misfiring on one would show up here.
      const resources: PlannedResource[] = run.resources.map((r) => ({
        type: r.type,
        name: r.name,
        urn: r.urn,
        props: r.inputs,
      }));
      for (const type of CHECKED_TYPES) {
        expect(resources.some((r) => r.type === type), `examples/${name} registers no ${type}`).to.equal(true);
      }
      const violations = await runPack(allPolicies, resources);
      expect(violations, violations.map((v) => `${v.policy} ${v.resource}: ${v.message}`).join("\n")).to.deep.equal([]);

      // Guard against a vacuous pass: weaken the graph's own pool condition the way ManaTEE's is written, and both
      // the provider rule and the stack rule (which must link the graph's decrypter members to that pool) fire.
      const weakened = resources.map((r) =>
        r.type === PROVIDER_TYPE ? { ...r, props: { ...r.props, attributeCondition: MANATEE_CONDITION } } : r,
      );
      const fired = new Set((await runPack(allPolicies, weakened)).map((v) => v.policy));
      expect([...fired].sort()).to.deep.equal(["attestation-condition-strict", "provider-keys-attestation-gated"]);
    });
  }
});

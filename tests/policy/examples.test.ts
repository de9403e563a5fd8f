/**
 * The whole mocked resource graph of every example (quickstart, multi-party, gpu) passes the pack with zero
 * violations: the guardrails and the components agree on what a safe clean room is.
 */
import { expect } from "chai";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { DataCleanRoom } from "../../src/components/index.js";
import { confidentialSpaceVmHardened } from "../../policy-packs/cleanroom-guardrails/policies/confidentialSpaceVm.js";
import { twoProviderArgs } from "../components/fixtures.js";
import { EXAMPLES, runExampleUnderMocks, runProgramUnderMocks } from "../components/harness.js";
import { type PlannedResource, runPack } from "./helpers.js";

/** Types the pack has rules for: a run that registered none of them would pass vacuously. */
const CHECKED_TYPES = [
  "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
  "gcp:kms/cryptoKey:CryptoKey",
  "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
  "gcp:storage/bucket:Bucket",
];

const BUCKET_TYPE = "gcp:storage/bucket:Bucket";
const TEMPLATE_TYPE = "gcp:compute/instanceTemplate:InstanceTemplate";
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
      // A room whose providers deploy their own keys (multi-party) has no decrypter binding of its own to link.
      const decrypts = resources.some((r) => r.type === "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember" && r.props.role === "roles/cloudkms.cryptoKeyDecrypter");
      expect([...fired].sort()).to.deep.equal(decrypts ? ["attestation-condition-strict", "provider-keys-attestation-gated"] : ["attestation-condition-strict"]);

      // The components label what each bucket holds, so rule 4 finds the data buckets by label alone (name pattern
      // off): drop their CMEK key and each of them, and nothing else, is flagged.
      const dataBuckets = resources.filter((r) => r.type === BUCKET_TYPE && (r.props.labels as Record<string, string>)["cleanroom-role"] === "data");
      if (name === "multi-party") return; // the room holds no provider data bucket: the providers' own programs do
      expect(dataBuckets.length, "provider data buckets").to.be.greaterThan(0);
      const noCmek = resources.map((r) => (dataBuckets.includes(r) ? { ...r, props: { ...r.props, encryption: undefined } } : r));
      const cmek = await runPack(allPolicies, noCmek, { "storage-bucket-hardened": { dataNamePattern: "" } });
      expect(cmek.map((v) => `${v.policy} ${v.resource}`)).to.deep.equal(dataBuckets.map((b) => `storage-bucket-hardened ${b.name}`).sort());
    });
  }

  it("GIVEN a two-provider room with allowDebug WHEN the pack runs THEN the labelled debug template passes rule 1, and rules 2 and 7 still refuse the debug pool", async () => {
    const run = await runProgramUnderMocks(() => {
      new DataCleanRoom("research", { ...twoProviderArgs(), attestation: { allowDebug: true }, sandbox: { enabled: false } });
    });
    const resources: PlannedResource[] = run.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: r.inputs }));
    const violations = await runPack(allPolicies, resources);
    const fired = violations.map((v) => `${v.policy} ${v.resource}`);
    // Rule 1 accepts the debug family only because the component labels the template cleanroom-allow-debug=true.
    expect(fired.filter((f) => f.startsWith("confidential-space-vm-hardened"))).to.deep.equal([]);
    expect(fired).to.include("attestation-condition-strict research-pool-attestation");
    // One violation per approved job's decrypter (hospital 2, insurer 2): every provider key is reported.
    expect(fired.filter((f) => f.startsWith("provider-keys-attestation-gated"))).to.have.length(4);
    expect(new Set(violations.map((v) => v.policy))).to.deep.equal(new Set(["attestation-condition-strict", "provider-keys-attestation-gated"]));
    // Without the label the debug image is refused too.
    const unlabelled = resources.map((r) =>
      r.type === TEMPLATE_TYPE ? { ...r, props: { ...r.props, labels: { "cleanroom-room": "research" } } } : r,
    );
    const rule1 = (await runPack([confidentialSpaceVmHardened], unlabelled)).map((v) => v.message);
    expect(rule1).to.have.length(1);
    expect(rule1[0]).to.match(/debug image/);
  });
});

/**
 * Rule 7 (provider-keys-attestation-gated) over hand-built stacks, and the whole pack over the ManaTEE fixture.
 */
import { expect } from "chai";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { jobDigestPrincipalSet } from "../../src/core/attestation.js";
import { mappingProblem } from "../../policy-packs/cleanroom-guardrails/lib/condition.js";
import { dataBucketWorkloadScoped } from "../../policy-packs/cleanroom-guardrails/policies/dataBucketIam.js";
import { providerKeysAttestationGated } from "../../policy-packs/cleanroom-guardrails/policies/providerKeys.js";
import {
  JOB_DIGEST,
  POOL_NAME,
  T,
  WORKLOAD_SA,
  broken,
  bucket,
  bucketIamMember,
  dataBucket,
  decrypterBinding,
  decrypterMember,
  decrypterPolicy,
  happyStack,
  pool,
  poolProvider,
} from "./fixtures/happy.js";
import { MANATEE_EXPECTED, MANATEE_KEY_FINDINGS, manateeResources } from "./fixtures/manatee.js";
import { type PlannedResource, UNKNOWN_STRING, createStackValidationArgs, runPack, runStackPolicy, urnOf } from "./helpers.js";

const run = (resources: PlannedResource[]) =>
  runStackPolicy(providerKeysAttestationGated, createStackValidationArgs(resources));

const NO_DIGEST = "assertion.swname == 'CONFIDENTIAL_SPACE' && assertion.dbgstat == 'disabled-since-boot'";

/** The happy stack with one resource replaced (matched by name). */
function replace(stack: PlannedResource[], r: PlannedResource): PlannedResource[] {
  return stack.map((x) => (x.name === r.name ? r : x));
}

describe("policy pack: cleanroom-guardrails (stack rule and ManaTEE fixture)", () => {
  describe("rule 7: provider-keys-attestation-gated", () => {
    it("GIVEN a pool with a strict provider and a job-scoped decrypter WHEN validated THEN silent", async () => {
      expect(await run(happyStack())).to.deep.equal([]);
    });

    it("GIVEN the pool's provider pins no digest WHEN validated THEN it fires on the decrypter binding", async () => {
      const stack = replace(happyStack(), broken(poolProvider(), "attributeCondition", NO_DIGEST));
      const v = await run(stack);
      expect(v).to.have.length(1);
      expect(v[0]!.urn).to.equal(urnOf(T.cryptoKeyIamMember, decrypterMember().name));
      expect(v[0]!.message).to.match(/pool 'room-pool'/).and.match(/image_digest/);
    });

    it("GIVEN the decrypter names a pool that is not in the stack WHEN validated THEN it fires", async () => {
      const stack = happyStack().filter((r) => r.type !== T.pool);
      const v = await run(stack);
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/not declared in this stack/);
    });

    it("GIVEN the pool has no provider WHEN validated THEN it fires", async () => {
      const v = await run(happyStack().filter((r) => r.type !== T.poolProvider));
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/no provider/);
    });

    it("GIVEN the pool also trusts a non-attestation issuer WHEN validated THEN it fires", async () => {
      const github = { ...broken(poolProvider(), "oidc.issuerUri", "https://token.actions.githubusercontent.com"), name: "github" };
      const v = await run([...happyStack(), github]);
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/also trusts provider 'github'/);
    });

    it("GIVEN a decrypter to a service account the whole pool may impersonate WHEN the provider is weak THEN it fires; strict THEN silent", async () => {
      const viaSa = [
        broken(decrypterMember(), "member", `serviceAccount:${WORKLOAD_SA}`),
        {
          type: T.serviceAccountIamMember,
          name: "pool-impersonates-data-sa",
          props: {
            serviceAccountId: `projects/room-project/serviceAccounts/${WORKLOAD_SA}`,
            role: "roles/iam.workloadIdentityUser",
            member: `principalSet://iam.googleapis.com/${POOL_NAME}/*`,
          },
        },
      ];
      expect(await run([pool(), poolProvider(), ...viaSa])).to.deep.equal([]);
      const v = await run([pool(), broken(poolProvider(), "attributeCondition", NO_DIGEST), ...viaSa]);
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/by impersonating serviceAccount:room-workload@/);
    });

    it("GIVEN an unknown member (preview) computed from the pool WHEN the provider is weak THEN it fires through propertyDependencies", async () => {
      // At preview the member is unknown; the engine still knows it was computed from the pool.
      const unknownMember = broken(decrypterMember(), "member", UNKNOWN_STRING);
      const weakProvider = broken(poolProvider(), "attributeCondition", NO_DIGEST);
      const withDependency = replace(replace(happyStack(), { ...unknownMember, propertyDependencies: { member: [pool().name] } }), weakProvider);
      const v = await run(withDependency);
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/pool 'room-pool'/);
      // No dependency, no known value: nothing links the grant to a pool.
      expect(await run(replace(replace(happyStack(), unknownMember), weakProvider))).to.deep.equal([]);
    });

    it("GIVEN the decrypter as a Binding or a Policy WHEN the pool's provider is weak THEN it fires for that flavour too", async () => {
      const weak = broken(poolProvider(), "attributeCondition", NO_DIGEST);
      for (const grant of [decrypterBinding(), decrypterPolicy()]) {
        const stack = [pool(), weak, grant];
        const v = await run(stack);
        expect(v, grant.type).to.have.length(1);
        expect(v[0]!.urn).to.equal(urnOf(grant.type, grant.name));
        expect(await run([pool(), poolProvider(), grant])).to.deep.equal([]);
      }
    });

    it("GIVEN the pool maps attribute.job_digest from a constant WHEN a job-scoped decrypter uses it THEN it fires: every admitted job gets that digest", async () => {
      const approved = JOB_DIGEST;
      for (const mapping of [`'${approved}'`, `'sha256:' + '${"b".repeat(64)}'`, `true ? '${approved}' : assertion.submods.container.env_override.CLEANROOM_JOB_DIGEST`]) {
        // `broken` splits paths on dots, and the mapping's keys contain dots: set the key by hand.
        const props = structuredClone(poolProvider().props) as { attributeMapping: Record<string, string> };
        props.attributeMapping["attribute.job_digest"] = mapping;
        const provider = { ...poolProvider(), props };
        const v = await run(replace(happyStack(), provider));
        expect(v, mapping).to.have.length(1);
        expect(v[0]!.urn).to.equal(urnOf(T.cryptoKeyIamMember, decrypterMember().name));
        expect(v[0]!.message).to.match(/maps attribute\.job_digest from/).and.match(/not a claim of the attestation token/);
      }
    });

    it("GIVEN the pool maps the attribute from the token (a path, or literals + paths) WHEN validated THEN silent; the subject selector is checked the same way", async () => {
      expect(mappingProblem("assertion.submods.container.env_override.CLEANROOM_JOB_DIGEST")).to.equal(undefined);
      expect(mappingProblem("assertion['submods'].container.image_digest")).to.equal(undefined);
      expect(mappingProblem('"gcpcs::"+assertion.submods.container.image_digest+"::"+assertion.submods.gce.project_number')).to.equal(undefined);
      expect(mappingProblem("'gcpcs::' + 'fixed'")).to.match(/not a claim/);
      expect(mappingProblem("attribute.x")).to.match(/not a claim/);
      expect(mappingProblem("assertion.sub ==")).to.match(/not valid CEL/);
      // A subject-scoped decrypter, with the pool's subject mapped from a constant.
      const subjectMember = broken(decrypterMember(), "member", `principal://iam.googleapis.com/${POOL_NAME}/subject/gcpcs::fixed`);
      const props = structuredClone(poolProvider().props) as { attributeMapping: Record<string, string> };
      props.attributeMapping["google.subject"] = "'gcpcs::fixed'";
      const v = await run(replace(replace(happyStack(), subjectMember), { ...poolProvider(), props }));
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/maps google\.subject from/);
      expect(await run(replace(happyStack(), subjectMember))).to.deep.equal([]);
    });

    it("GIVEN a role that cannot decrypt WHEN the pool's provider is weak THEN silent", async () => {
      const stack = replace(
        replace(happyStack(), broken(decrypterMember(), "role", "roles/cloudkms.publicKeyViewer")),
        broken(poolProvider(), "attributeCondition", NO_DIGEST),
      );
      expect(await run(stack)).to.deep.equal([]);
    });
  });

  describe("rule 8: data-bucket-workload-scoped", () => {
    const LEDGER = 'resource.name.startsWith("projects/_/buckets/acme-objects-1a2b/objects/.dp-ledger/")';
    const runRule = (resources: PlannedResource[]) => runStackPolicy(dataBucketWorkloadScoped, createStackValidationArgs(resources));
    /** objectCreator for the approved job's principal set on the data bucket, with `condition` (none when undefined). */
    const creator = (condition?: string, role = "roles/storage.objectCreator", member = jobDigestPrincipalSet(POOL_NAME, JOB_DIGEST)): PlannedResource => ({
      type: T.bucketIamMember,
      name: "acme-ledger-job",
      props: { bucket: "acme-objects-1a2b", role, member, ...(condition === undefined ? {} : { condition: { title: "ledger", expression: condition } }) },
    });
    const stack = (...extra: PlannedResource[]) => [pool(), poolProvider(), dataBucket(), bucketIamMember(), ...extra];

    it("GIVEN the approved job's principal set reading the data bucket and creating under .dp-ledger/ only WHEN validated THEN silent", async () => {
      expect(await runRule(stack(creator(LEDGER)))).to.deep.equal([]);
      // The same grant as a Binding, and as a Policy with the condition in its binding.
      const binding: PlannedResource = { type: T.bucketIamBinding, name: "acme-ledger-binding", props: { bucket: "acme-objects-1a2b", role: "roles/storage.objectCreator", members: [jobDigestPrincipalSet(POOL_NAME, JOB_DIGEST)], condition: { title: "ledger", expression: LEDGER } } };
      expect(await runRule(stack(binding))).to.deep.equal([]);
    });

    it("GIVEN objectCreator without a condition WHEN validated THEN it fires: the job could create any object beside the data", async () => {
      const v = await runRule(stack(creator()));
      expect(v.map((x) => x.message)).to.have.length(1);
      expect(v[0]!.message).to.match(/has no condition/).and.match(/\.dp-ledger\//);
    });

    it("GIVEN a condition broader than .dp-ledger/ (the whole bucket, another folder, or an `|| true` escape) WHEN validated THEN it fires", async () => {
      for (const condition of [
        'resource.name.startsWith("projects/_/buckets/acme-objects-1a2b/objects/")',
        'resource.name.startsWith("projects/_/buckets/acme-objects-1a2b/objects/claims/")',
        `${LEDGER} || true`,
        `!${LEDGER}`,
      ]) {
        const v = await runRule(stack(creator(condition)));
        expect(v, condition).to.have.length(1);
      }
    });

    it("GIVEN a role that deletes or overwrites (objectAdmin, objectUser), even confined to .dp-ledger/, WHEN validated THEN it fires", async () => {
      for (const role of ["roles/storage.objectAdmin", "roles/storage.objectUser", "roles/storage.admin"]) {
        const v = await runRule(stack(creator(LEDGER, role)));
        expect(v, role).to.have.length(1);
        expect(v[0]!.message).to.match(/overwrites or deletes/);
      }
    });

    it("GIVEN the job VMs' service account (pinned by the pool's condition) with ledger writes WHEN validated THEN it fires; reading stays allowed", async () => {
      const sa = `serviceAccount:${WORKLOAD_SA}`;
      const v = await runRule(stack(creator(LEDGER, "roles/storage.objectCreator", sa)));
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/every submitter may attach it to a VM of their own/);
      expect(await runRule(stack(creator(undefined, "roles/storage.objectViewer", sa)))).to.deep.equal([]);
    });

    it("GIVEN people (provisioners) with unconditioned objectCreator, or workloads on a bucket that is not a data bucket WHEN validated THEN silent", async () => {
      expect(await runRule(stack(creator(undefined, "roles/storage.objectCreator", "group:stewards@acme.example")))).to.deep.equal([]);
      const jobs: PlannedResource = { type: T.bucketIamMember, name: "jobs-writer", props: { bucket: "room-jobs-1a2b", role: "roles/storage.objectCreator", member: jobDigestPrincipalSet(POOL_NAME, JOB_DIGEST) } };
      expect(await runRule([...stack(), bucket(), jobs])).to.deep.equal([]);
    });

    it("GIVEN the bucket name and member unknown at preview WHEN the grant comes from the data bucket and a pool THEN it is still judged through the property dependencies", async () => {
      const unknown: PlannedResource = {
        type: T.bucketIamMember,
        name: "acme-ledger-preview",
        props: { bucket: UNKNOWN_STRING, role: "roles/storage.objectCreator", member: UNKNOWN_STRING },
        propertyDependencies: { bucket: ["acme-bucket"], member: ["room-pool"] },
      };
      const v = await runRule(stack(unknown));
      expect(v).to.have.length(1);
      expect(v[0]!.message).to.match(/has no condition/);
    });
  });

  describe("ManaTEE's published configuration as raw @pulumi/gcp resources", () => {
    it("GIVEN the fixture WHEN the whole pack runs THEN exactly the expected resources are flagged", async () => {
      const violations = await runPack(allPolicies, manateeResources());
      const got = violations.map((v) => [v.policy, v.resource]);
      expect(got, violations.map((v) => `${v.policy} ${v.resource}: ${v.message}`).join("\n")).to.deep.equal(
        MANATEE_EXPECTED.map((e) => [...e]),
      );
    });

    it("GIVEN the fixture WHEN the whole pack runs THEN the three ManaTEE gaps are named: objectAdmin, public IP, no digest", async () => {
      const violations = await runPack(allPolicies, manateeResources());
      const about = (resource: string) => violations.filter((v) => v.resource === resource).map((v) => v.message);
      expect(about(MANATEE_KEY_FINDINGS.teeObjectAdmin).join()).to.match(/project-wide roles\/storage\.objectAdmin to serviceAccount:dcr-dev-cvm-sa@/);
      expect(about(MANATEE_KEY_FINDINGS.publicIpVm).join()).to.match(/public IP/);
      expect(about(MANATEE_KEY_FINDINGS.conditionWithoutDigest).join()).to.match(/does not pin `assertion\.submods\.container\.image_digest`/);
    });
  });
});

/**
 * The stack rules (7: provider-keys-attestation-gated, 8: data-bucket-workload-scoped) at their edges: grants that
 * reach a pool through service accounts and Account resources, values unknown at preview that the engine links to
 * their sources, several pools in one stack, and ledger conditions on buckets whose name is not known yet.
 */
import { expect } from "chai";
import { jobDigestPrincipalSet } from "../../src/core/attestation.js";
import { dataBucketWorkloadScoped } from "../../policy-packs/cleanroom-guardrails/policies/dataBucketIam.js";
import { providerKeysAttestationGated } from "../../policy-packs/cleanroom-guardrails/policies/providerKeys.js";
import {
  JOB_DIGEST,
  POOL_NAME,
  PROJECT,
  T,
  WORKLOAD_SA,
  broken,
  cryptoKey,
  dataBucket,
  decrypterBinding,
  decrypterMember,
  decrypterPolicy,
  happyStack,
  pool,
  poolProvider,
} from "./fixtures/happy.js";
import { type PlannedResource, UNKNOWN_STRING, createStackValidationArgs, runStackPolicy } from "./helpers.js";

const NO_DIGEST = "assertion.swname == 'CONFIDENTIAL_SPACE' && assertion.dbgstat == 'disabled-since-boot'";
const WHOLE_POOL = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;
const DATA_SA = `data-sa@${PROJECT}.iam.gserviceaccount.com`;

const rule7 = (resources: PlannedResource[]) => runStackPolicy(providerKeysAttestationGated, createStackValidationArgs(resources));
const rule8 = (resources: PlannedResource[]) => runStackPolicy(dataBucketWorkloadScoped, createStackValidationArgs(resources));
const messages = async (v: Promise<{ message: string }[]>) => (await v).map((x) => x.message);

/** The room's provider with a weak condition (no digest pin). */
const weakProvider = () => broken(poolProvider(), "attributeCondition", NO_DIGEST);

/** A provider with one attribute mapping replaced (`broken` splits on the dots in the mapping's keys). */
function withMapping(provider: PlannedResource, attribute: string, expression: string | undefined): PlannedResource {
  const props = structuredClone(provider.props) as { attributeMapping: Record<string, string> };
  if (expression === undefined) delete props.attributeMapping[attribute];
  else props.attributeMapping[attribute] = expression;
  return { ...provider, props };
}

/** `roles/iam.workloadIdentityUser` (or `role`) on a service account for `member`. */
function impersonation(serviceAccountId: string, member = WHOLE_POOL, role = "roles/iam.workloadIdentityUser"): PlannedResource {
  return { type: T.serviceAccountIamMember, name: "pool-impersonates-data-sa", props: { serviceAccountId, role, member } };
}

/** Another pool, with its own provider, in the same stack. */
function otherPool(): PlannedResource[] {
  const id = "other-pool";
  return [
    { ...broken(pool(), "workloadIdentityPoolId", id), name: "other-pool" },
    { ...broken(withMapping(poolProvider(), "attribute.job_digest", `'${JOB_DIGEST}'`), "workloadIdentityPoolId", id), name: "other-attestation" },
  ];
}

describe("policy pack: stack rules at their edges", () => {
  describe("rule 7: provider-keys-attestation-gated", () => {
    it("GIVEN a project-level decrypter for the pool's identities WHEN the provider is weak THEN rule 7 is silent (rule 5 owns project IAM)", async () => {
      const projectGrant: PlannedResource = { type: T.projectIamMember, name: "project-decrypt", props: { project: PROJECT, role: "roles/cloudkms.cryptoKeyDecrypter", member: WHOLE_POOL } };
      expect(await rule7([pool(), weakProvider(), cryptoKey(), projectGrant])).to.deep.equal([]);
    });

    it("GIVEN a decrypter to a service account the pool cannot impersonate (no grant, or a viewer role) WHEN the provider is weak THEN silent", async () => {
      const toSa = broken(decrypterMember(), "member", `serviceAccount:${DATA_SA}`);
      expect(await rule7([pool(), weakProvider(), toSa])).to.deep.equal([]);
      const viewer = impersonation(`projects/${PROJECT}/serviceAccounts/${DATA_SA}`, WHOLE_POOL, "roles/iam.serviceAccountViewer");
      expect(await rule7([pool(), weakProvider(), toSa, viewer])).to.deep.equal([]);
    });

    it("GIVEN a service account named by its Account resource and its email in another case WHEN the pool may impersonate it THEN the decrypter is traced to the pool", async () => {
      const account: PlannedResource = { type: T.account, name: "data-sa", props: { accountId: "data-sa", email: `Data-SA@${PROJECT}.iam.gserviceaccount.com` } };
      const viaAccount = { ...impersonation(UNKNOWN_STRING), propertyDependencies: { serviceAccountId: ["data-sa"] } };
      const toSa = broken(decrypterMember(), "member", `serviceAccount:${DATA_SA}`);
      const v = await messages(rule7([pool(), weakProvider(), account, viaAccount, toSa]));
      expect(v).to.have.length(1);
      expect(v[0]).to.match(/by impersonating serviceAccount:data-sa@/);
      // Without the Account's email nothing links the two names.
      expect(await rule7([pool(), weakProvider(), broken(account, "email", undefined), viaAccount, toSa])).to.deep.equal([]);
    });

    it("GIVEN every name unknown at preview (decrypter member or members, account id) WHEN both come from one Account resource THEN it fires", async () => {
      const account: PlannedResource = { type: T.account, name: "data-sa", props: { accountId: "data-sa", email: UNKNOWN_STRING } };
      const viaAccount = { ...impersonation(UNKNOWN_STRING), propertyDependencies: { serviceAccountId: ["data-sa"] } };
      const grants: PlannedResource[] = [
        { ...broken(decrypterMember(), "member", UNKNOWN_STRING), propertyDependencies: { member: ["data-sa"] } },
        { ...broken(decrypterBinding(), "members", UNKNOWN_STRING), propertyDependencies: { members: ["data-sa"] } },
      ];
      for (const grant of grants) {
        const v = await messages(rule7([pool(), weakProvider(), account, viaAccount, grant]));
        expect(v, grant.type).to.have.length(1);
        expect(v[0]).to.match(/by impersonating a service account/);
      }
    });

    it("GIVEN unknown Binding members computed from the pool WHEN the provider is weak THEN it fires; computed from the provider only THEN silent", async () => {
      const binding = { ...broken(decrypterBinding(), "members", UNKNOWN_STRING), propertyDependencies: { members: ["room-pool"] } };
      expect(await rule7([pool(), weakProvider(), binding])).to.have.length(1);
      const fromProvider = { ...broken(decrypterMember(), "member", UNKNOWN_STRING), propertyDependencies: { member: ["room-attestation"] } };
      expect(await rule7([pool(), weakProvider(), fromProvider])).to.deep.equal([]);
    });

    it("GIVEN a pool whose id is unknown at preview WHEN a decrypter is computed from it THEN nothing names the pool, so silent", async () => {
      const unknownPool = broken(pool(), "workloadIdentityPoolId", UNKNOWN_STRING);
      const unknownProvider = broken(weakProvider(), "workloadIdentityPoolId", UNKNOWN_STRING);
      const grant = { ...broken(decrypterMember(), "member", UNKNOWN_STRING), propertyDependencies: { member: ["room-pool"] } };
      expect(await rule7([unknownPool, unknownProvider, grant])).to.deep.equal([]);
    });

    it("GIVEN another pool in the stack WHEN the room's pool is missing, has no provider, or is strict THEN the other pool's providers do not count", async () => {
      expect(await rule7([pool(), poolProvider(), decrypterMember(), ...otherPool()])).to.deep.equal([]);
      const missing = await messages(rule7([decrypterMember(), ...otherPool()]));
      expect(missing).to.have.length(1);
      expect(missing[0]).to.match(/pool 'room-pool' is not declared/);
      const noProvider = await messages(rule7([pool(), decrypterMember(), ...otherPool()]));
      expect(noProvider).to.have.length(1);
      expect(noProvider[0]).to.match(/pool 'room-pool' has no provider/);
    });

    it("GIVEN the selected attribute unmapped, or mapped from a value unknown at preview WHEN validated THEN silent (nothing maps it from a constant)", async () => {
      expect(await rule7([pool(), withMapping(poolProvider(), "attribute.job_digest", undefined), decrypterMember()])).to.deep.equal([]);
      expect(await rule7([pool(), withMapping(poolProvider(), "attribute.job_digest", UNKNOWN_STRING), decrypterMember()])).to.deep.equal([]);
    });

    it("GIVEN two decrypters selecting different attributes of one pool WHEN only the second is mapped from a constant THEN the second fires", async () => {
      const bySubject = { ...broken(decrypterMember(), "member", `principal://iam.googleapis.com/${POOL_NAME}/subject/gcpcs::fixed`), name: "acme-decrypt-subject" };
      const v = await messages(rule7([pool(), withMapping(poolProvider(), "google.subject", "'gcpcs::fixed'"), decrypterMember(), bySubject]));
      expect(v).to.have.length(1);
      expect(v[0]).to.match(/KMS grant 'acme-decrypt-subject'/).and.match(/maps google\.subject from/);
    });

    it("GIVEN members selecting by group, or by an attribute with no value WHEN that attribute is mapped from a constant THEN it fires", async () => {
      const byGroup = broken(decrypterMember(), "member", `principalSet://iam.googleapis.com/${POOL_NAME}/group/analysts`);
      const v = await messages(rule7([pool(), withMapping(poolProvider(), "google.groups", "['analysts']"), byGroup]));
      expect(v).to.have.length(1);
      expect(v[0]).to.match(/maps google\.groups from/);
      const bare = broken(decrypterMember(), "member", `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.job_digest`);
      const v2 = await messages(rule7([pool(), withMapping(poolProvider(), "attribute.job_digest", "'x'"), bare]));
      expect(v2).to.have.length(1);
      expect(v2[0]).to.match(/maps attribute\.job_digest from/);
    });

    it("GIVEN key IAM policyData that is not JSON WHEN rule 7 runs THEN it is skipped without failing (rule 3 reports it)", async () => {
      expect(await rule7([...happyStack(), broken(decrypterPolicy(), "policyData", "{")])).to.deep.equal([]);
    });
  });

  describe("rule 8: data-bucket-workload-scoped", () => {
    const LEDGER = 'resource.name.startsWith("projects/_/buckets/acme-objects-1a2b/objects/.dp-ledger/")';
    const member = jobDigestPrincipalSet(POOL_NAME, JOB_DIGEST);
    /** A bucket IAM member on the data bucket. */
    const grant = (props: Record<string, unknown>, extra: Partial<PlannedResource> = {}): PlannedResource => ({
      type: T.bucketIamMember,
      name: "acme-grant",
      props: { bucket: "acme-objects-1a2b", role: "roles/storage.objectCreator", member, ...props },
      ...extra,
    });
    const stack = (...extra: PlannedResource[]) => [pool(), poolProvider(), dataBucket(), ...extra];
    const ledger = (expression: unknown) => ({ condition: { title: "ledger", expression } });

    it("GIVEN the job VMs' account pinned with extra spaces in the condition WHEN it may create objects THEN it is still recognised and fires", async () => {
      const spaced = broken(poolProvider(), "attributeCondition", `${NO_DIGEST} && '${WORKLOAD_SA}'  in  assertion.google_service_accounts`);
      const v = await messages(rule8([pool(), spaced, dataBucket(), grant({ member: `serviceAccount:${WORKLOAD_SA}`, ...ledger(LEDGER) })]));
      expect(v).to.have.length(1);
      expect(v[0]).to.match(/the service account the job VMs run as/);
    });

    it("GIVEN another service account (a provisioner's) creating objects without a condition WHEN validated THEN silent", async () => {
      expect(await rule8(stack(grant({ member: `serviceAccount:provisioner@${PROJECT}.iam.gserviceaccount.com` })))).to.deep.equal([]);
    });

    it("GIVEN unknown Binding members or Policy data computed from the pool WHEN the role overwrites THEN it fires (a role not known until deployment for Policy)", async () => {
      const binding: PlannedResource = {
        type: T.bucketIamBinding,
        name: "acme-admins",
        props: { bucket: "acme-objects-1a2b", role: "roles/storage.objectAdmin", members: UNKNOWN_STRING },
        propertyDependencies: { members: ["room-pool"] },
      };
      expect(await messages(rule8(stack(binding)))).to.have.length(1);
      const policy: PlannedResource = { type: T.bucketIamPolicy, name: "acme-policy", props: { bucket: "acme-objects-1a2b", policyData: UNKNOWN_STRING }, propertyDependencies: { policyData: ["room-pool"] } };
      const v = await messages(rule8(stack(policy)));
      expect(v).to.have.length(1);
      expect(v[0]).to.match(/grants a role not known until deployment on data bucket 'acme-objects-1a2b' to a workload identity \(known at deployment\)/);
    });

    it("GIVEN an unknown member WHEN it comes from the pool and another resource THEN it is a workload; from an Account only, or from nothing THEN not", async () => {
      const admin = (deps: string[]) => grant({ role: "roles/storage.objectAdmin", member: UNKNOWN_STRING }, { propertyDependencies: { member: deps } });
      const account: PlannedResource = { type: T.account, name: "data-sa", props: { accountId: "data-sa" } };
      expect(await rule8([...stack(account), admin(["room-pool", "room-attestation"])])).to.have.length(1);
      expect(await rule8([...stack(account), admin(["data-sa"])])).to.deep.equal([]);
      expect(await rule8([...stack(account), admin([])])).to.deep.equal([]);
    });

    it("GIVEN a ledger condition unknown until deployment (whole, or its expression) WHEN validated THEN it fires: its scope cannot be reviewed", async () => {
      for (const props of [{ condition: UNKNOWN_STRING }, ledger(UNKNOWN_STRING)]) {
        const v = await messages(rule8(stack(grant(props))));
        expect(v).to.have.length(1);
        expect(v[0]).to.match(/not known until deployment/);
      }
    });

    it("GIVEN the data bucket's name unknown at preview WHEN ledger prefixes are judged THEN any bucket's .dp-ledger/ folder passes and nothing else", async () => {
      const unnamed = broken(dataBucket(), "name", undefined);
      const onUnnamed = (expression: string) => grant({ bucket: UNKNOWN_STRING, ...ledger(expression) }, { propertyDependencies: { bucket: ["acme-bucket"] } });
      for (const ok of ["projects/_/buckets/acme-objects-9z/objects/.dp-ledger/", "projects/_/buckets/acme-objects-9z/objects/.dp-ledger/acme/"]) {
        expect(await rule8([pool(), poolProvider(), unnamed, onUnnamed(`resource.name.startsWith('${ok}')`)]), ok).to.deep.equal([]);
      }
      for (const bad of ["x/projects/_/buckets/b/objects/.dp-ledger/", "projects/_/buckets/b/objects/claims/", "projects/_/buckets/b/", "projects/_/buckets//objects/.dp-ledger/"]) {
        const v = await messages(rule8([pool(), poolProvider(), unnamed, onUnnamed(`resource.name.startsWith('${bad}')`)]));
        expect(v, bad).to.have.length(1);
        expect(v[0]).to.match(/on data bucket 'acme-bucket'/).and.match(/outside projects\/_\/buckets\/<bucket>\/objects\/\.dp-ledger\//);
      }
    });

    it("GIVEN a named data bucket WHEN the ledger prefix is deeper in its own folder THEN silent; in another bucket's folder THEN it fires", async () => {
      expect(await rule8(stack(grant(ledger('resource.name.startsWith("projects/_/buckets/acme-objects-1a2b/objects/.dp-ledger/acme/")'))))).to.deep.equal([]);
      const v = await rule8(stack(grant(ledger('resource.name.startsWith("projects/_/buckets/other-bucket/objects/.dp-ledger/")'))));
      expect(v).to.have.length(1);
    });

    it("GIVEN a key named like a data bucket WHEN a bucket of that name (outside the stack) is granted to workloads THEN rule 8 is silent: only buckets are data buckets", async () => {
      const key = broken(cryptoKey(), "name", "acme-data");
      expect(await rule8([pool(), poolProvider(), key, grant({ bucket: "acme-data", role: "roles/storage.objectAdmin" })])).to.deep.equal([]);
    });

    it("GIVEN an unknown bucket computed from another resource and the data bucket WHEN the role overwrites THEN it is judged against the data bucket", async () => {
      const g = grant({ bucket: UNKNOWN_STRING, role: "roles/storage.objectAdmin" }, { propertyDependencies: { bucket: ["room-pool", "acme-bucket"] } });
      expect(await rule8(stack(g))).to.have.length(1);
    });

    it("GIVEN data-bucket policyData that is not JSON WHEN rule 8 runs THEN it is skipped without failing (rule 4 reports it)", async () => {
      const policy: PlannedResource = { type: T.bucketIamPolicy, name: "acme-policy", props: { bucket: "acme-objects-1a2b", policyData: "{" } };
      expect(await rule8(stack(policy))).to.deep.equal([]);
    });
  });
});

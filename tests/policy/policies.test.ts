/**
 * Each policy of the cleanroom-guardrails pack, called with hand-built validation args: silent on the happy path,
 * firing when exactly one field is broken.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { attestationConditionStrict } from "../../policy-packs/cleanroom-guardrails/policies/attestationCondition.js";
import { confidentialSpaceVmHardened } from "../../policy-packs/cleanroom-guardrails/policies/confidentialSpaceVm.js";
import { gkeSandboxHardened } from "../../policy-packs/cleanroom-guardrails/policies/gke.js";
import { kmsDecrypterScoped, kmsKeyRotation } from "../../policy-packs/cleanroom-guardrails/policies/kms.js";
import {
  FORBIDDEN_PROJECT_ROLES,
  projectIamLeastPrivilege,
} from "../../policy-packs/cleanroom-guardrails/policies/projectIam.js";
import { serviceAccountImpersonationScoped } from "../../policy-packs/cleanroom-guardrails/policies/serviceAccountIam.js";
import { storageBucketHardened, storageBucketIamNotPublic } from "../../policy-packs/cleanroom-guardrails/policies/storage.js";
import {
  CS_DEBUG_IMAGE,
  POOL_NAME,
  T,
  autopilotCluster,
  broken,
  bucket,
  bucketIamMember,
  cluster,
  cryptoKey,
  csInstance,
  csInstanceTemplate,
  dataBucket,
  decrypterBinding,
  decrypterMember,
  decrypterPolicy,
  poolProvider,
  projectIamBinding,
  projectIamMember,
  projectIamPolicy,
} from "./fixtures/happy.js";
import { UNKNOWN_STRING, createResourceValidationArgs, resourceViolations, runResourcePolicy } from "./helpers.js";

const DIGEST = `sha256:${"c".repeat(64)}`;

/** Expects exactly one violation whose message matches every pattern. */
function expectOne(violations: string[], ...patterns: RegExp[]): void {
  expect(violations, violations.join("\n")).to.have.length(1);
  for (const p of patterns) expect(violations[0]).to.match(p);
}

describe("policy pack: cleanroom-guardrails (unit)", () => {
  it("GIVEN docs/policy-pack.md WHEN its rule table is read THEN it names every policy of the pack exactly once", () => {
    const doc = readFileSync(join(__dirname, "..", "..", "docs", "policy-pack.md"), "utf8");
    const listed = [...doc.matchAll(/^\| \d+ \| `([a-z0-9-]+)`/gm)].map((m) => m[1]);
    expect(listed.sort()).to.deep.equal(allPolicies.map((p) => p.name).sort());
  });

  it("GIVEN the pack WHEN listing its policies THEN names are unique kebab-case and every policy says what it checks", () => {
    const names = allPolicies.map((p) => p.name);
    expect(new Set(names).size).to.equal(names.length);
    for (const p of allPolicies) {
      expect(p.name).to.match(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(p.description.length).to.be.greaterThan(20);
      // Enforcement is left to the pack default and to --policy-pack-config, so a reviewer can change it.
      expect(p.enforcementLevel).to.equal(undefined);
    }
  });

  describe("rule 1: confidential-space-vm-hardened", () => {
    const run = (r = csInstance()) => resourceViolations(confidentialSpaceVmHardened, r);

    it("GIVEN a production TDX instance and template WHEN validated THEN no violation", async () => {
      expect(await run()).to.deep.equal([]);
      expect(await run(csInstanceTemplate())).to.deep.equal([]);
    });

    it("GIVEN an ordinary VM (no CS image, no tee metadata) WHEN validated THEN the policy is not applicable", async () => {
      const plain = broken(broken(csInstance(), "bootDisk.initializeParams.image", "debian-cloud/debian-12"), "metadata", {});
      const outcome = await runResourcePolicy(confidentialSpaceVmHardened, createResourceValidationArgs(plain));
      expect(outcome).to.deep.equal({ violations: [], notApplicable: true });
    });

    it("GIVEN an access config (public IP) WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(csInstance(), "networkInterfaces.0.accessConfigs", [{}])), /public IP/, /accessConfigs/);
      expectOne(await run(broken(csInstanceTemplate(), "networkInterfaces.0.ipv6AccessConfigs", [{ networkTier: "PREMIUM" }])), /ipv6AccessConfigs/);
    });

    it("GIVEN a custom image but tee-image-reference metadata WHEN it has a public IP THEN it is still recognised and fires", async () => {
      const vm = broken(broken(csInstance(), "bootDisk.initializeParams.image", "my-project/my-image"), "networkInterfaces.0.accessConfigs", [{}]);
      expectOne(await run(vm), /public IP/);
    });

    it("GIVEN secure boot off WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(csInstance(), "shieldedInstanceConfig.enableSecureBoot", false)), /secure boot/, /enableSecureBoot: true/);
      expectOne(await run(broken(csInstanceTemplate(), "shieldedInstanceConfig", undefined)), /secure boot/);
    });

    it("GIVEN no confidential instance type (or SEV_SNP) WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(csInstance(), "confidentialInstanceConfig", undefined)), /confidentialInstanceType/, /"SEV" or "TDX"/);
      expectOne(await run(broken(csInstance(), "confidentialInstanceConfig.confidentialInstanceType", "SEV_SNP")), /SEV_SNP/);
    });

    it("GIVEN the debug image family WHEN not labelled cleanroom-allow-debug=true THEN it fires; WHEN labelled THEN silent", async () => {
      const debugVm = broken(csInstance(), "bootDisk.initializeParams.image", CS_DEBUG_IMAGE);
      expectOne(await run(debugVm), /debug image/, /cleanroom-allow-debug=true/);
      expect(await run(broken(debugVm, "labels", { "cleanroom-allow-debug": "true" }))).to.deep.equal([]);
      expectOne(await run(broken(debugVm, "labels", { "cleanroom-allow-debug": "yes" })), /debug image/);
      expectOne(await run(broken(csInstanceTemplate(), "disks.0.sourceImage", "confidential-space-images/confidential-space-debug")), /debug image/);
    });

    it("GIVEN TDX with MIGRATE (or unset) on host maintenance WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(csInstance(), "scheduling.onHostMaintenance", "MIGRATE")), /TERMINATE/);
      expectOne(await run(broken(csInstanceTemplate(), "scheduling", undefined)), /onHostMaintenance/);
    });

    it("GIVEN a regional instance template WHEN it breaks the rule THEN it is checked like a global one", async () => {
      const regional = { ...csInstanceTemplate(), type: "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate", name: "tee-regional" };
      expect(await run(regional)).to.deep.equal([]);
      expectOne(await run(broken(regional, "networkInterfaces.0.accessConfigs", [{}])), /regional instance template/, /public IP/);
      expectOne(await run(broken(regional, "disks.0.sourceImage", CS_DEBUG_IMAGE)), /debug image/);
    });

    it("GIVEN SEV on N2D with MIGRATE WHEN validated THEN silent; WHEN it carries a GPU THEN it fires", async () => {
      let sev = broken(csInstance(), "confidentialInstanceConfig.confidentialInstanceType", "SEV");
      sev = broken(broken(sev, "machineType", "n2d-standard-2"), "scheduling.onHostMaintenance", "MIGRATE");
      expect(await run(sev)).to.deep.equal([]);
      expectOne(await run(broken(sev, "guestAccelerators", [{ type: "nvidia-h100-80gb", count: 1 }])), /TERMINATE/);
    });
  });

  describe("rule 2: attestation-condition-strict", () => {
    const withCondition = (c: string | undefined) => broken(poolProvider(), "attributeCondition", c);
    const run = (r = poolProvider()) => resourceViolations(attestationConditionStrict, r);
    const prod = "assertion.swname == 'CONFIDENTIAL_SPACE' && assertion.dbgstat == 'disabled-since-boot'";
    const pin = `assertion.submods.container.image_digest == '${DIGEST}'`;

    it("GIVEN the condition core builds (digests in a list, service accounts in an || group) WHEN validated THEN silent", async () => {
      expect(await run()).to.deep.equal([]);
    });

    it("GIVEN an issuer without the trailing slash WHEN the condition is weak THEN the provider is still checked", async () => {
      const p = broken(withCondition("assertion.swname == 'CONFIDENTIAL_SPACE'"), "oidc.issuerUri", "https://confidentialcomputing.googleapis.com");
      expect(await run(p)).to.have.length(1);
    });

    it("GIVEN a provider for another issuer (GitHub) WHEN validated THEN not applicable", async () => {
      const gh = broken(withCondition("assertion.repository == 'a/b'"), "oidc.issuerUri", "https://token.actions.githubusercontent.com");
      const outcome = await runResourcePolicy(attestationConditionStrict, createResourceValidationArgs(gh));
      expect(outcome.notApplicable).to.equal(true);
    });

    it("GIVEN no condition WHEN validated THEN it fires", async () => {
      expectOne(await run(withCondition(undefined)), /no attributeCondition/);
    });

    it("GIVEN swname alone WHEN validated THEN it fires as satisfiable by swname alone", async () => {
      expectOne(await run(withCondition("assertion.swname == 'CONFIDENTIAL_SPACE'")), /swname alone/);
    });

    it("GIVEN no dbgstat and no STABLE WHEN validated THEN it fires", async () => {
      expectOne(await run(withCondition(`assertion.swname == 'CONFIDENTIAL_SPACE' && ${pin}`)), /debug/, /disabled-since-boot/);
    });

    it("GIVEN STABLE instead of dbgstat WHEN validated THEN silent", async () => {
      const stable = `'STABLE' in assertion.submods.confidential_space.support_attributes && ${pin}`;
      expect(await run(withCondition(stable))).to.deep.equal([]);
    });

    it("GIVEN no image digest, a tag, or image_reference WHEN validated THEN it fires", async () => {
      expectOne(await run(withCondition(prod)), /image_digest/);
      expectOne(await run(withCondition(`${prod} && assertion.submods.container.image_digest == 'latest'`)), /image_digest/);
      expectOne(await run(withCondition(`${prod} && assertion.submods.container.image_reference == 'repo/x:v1'`)), /image_digest/);
    });

    it("GIVEN a top-level || whose second branch lacks the checks WHEN validated THEN it fires naming that branch", async () => {
      const v = await run(withCondition(`${prod} && ${pin} || assertion.swname == 'CONFIDENTIAL_SPACE'`));
      expectOne(v, /swname alone/, /alternative `assertion.swname == "CONFIDENTIAL_SPACE"`/);
      const v2 = await run(withCondition(`${prod} && (${pin} || assertion.submods.gce.project_id == 'p')`));
      expectOne(v2, /image_digest/, /project_id/);
    });

    it("GIVEN the checks only under a negation or a ternary WHEN validated THEN it fails closed", async () => {
      expect(await run(withCondition(`!(assertion.dbgstat != 'disabled-since-boot') && ${pin}`))).to.have.length(1);
      expect(await run(withCondition(`(true ? ${prod} : false) && ${pin}`))).to.have.length(1);
    });

    it("GIVEN text that is not CEL WHEN validated THEN it fires", async () => {
      expectOne(await run(withCondition("assertion.swname ==")), /not valid CEL/);
    });
  });

  describe("rule 3: kms-key-rotation and kms-decrypter-scoped", () => {
    it("GIVEN a 90-day key WHEN validated THEN silent; a 30-day limit in config THEN it fires", async () => {
      expect(await resourceViolations(kmsKeyRotation, cryptoKey())).to.deep.equal([]);
      expectOne(await resourceViolations(kmsKeyRotation, cryptoKey(), { maxRotationDays: 30 }), /30 days/, /2592000s/);
    });

    it("GIVEN no rotation or 90 days + 1 s WHEN validated THEN it fires", async () => {
      expectOne(await resourceViolations(kmsKeyRotation, broken(cryptoKey(), "rotationPeriod", undefined)), /rotationPeriod/);
      expectOne(await resourceViolations(kmsKeyRotation, broken(cryptoKey(), "rotationPeriod", "7776001s")), /7776000s/);
    });

    it("GIVEN an asymmetric signing key WHEN validated THEN not applicable", async () => {
      const signing = broken(broken(cryptoKey(), "purpose", "ASYMMETRIC_SIGN"), "rotationPeriod", undefined);
      expect((await runResourcePolicy(kmsKeyRotation, createResourceValidationArgs(signing))).notApplicable).to.equal(true);
    });

    it("GIVEN job-scoped decrypters as Member, Binding and Policy WHEN validated THEN silent", async () => {
      for (const r of [decrypterMember(), decrypterBinding(), decrypterPolicy()]) {
        expect(await resourceViolations(kmsDecrypterScoped, r)).to.deep.equal([]);
      }
    });

    it("GIVEN a whole-pool decrypter WHEN validated THEN it fires in every IAM flavour", async () => {
      const wholePool = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterMember(), "member", wholePool)), /whole pool/);
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterBinding(), "members.1", wholePool)), /whole pool/);
      const policy = broken(decrypterPolicy(), "policyData", JSON.stringify({ bindings: [{ role: "roles/cloudkms.cryptoKeyDecrypter", members: [wholePool] }] }));
      expectOne(await resourceViolations(kmsDecrypterScoped, policy), /whole pool/);
      const ring = { ...broken(decrypterMember(), "member", wholePool), type: T.keyRingIamMember };
      expectOne(await resourceViolations(kmsDecrypterScoped, ring), /key ring/, /whole pool/);
      const ringBinding = { ...broken(decrypterBinding(), "members.0", wholePool), type: "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding" };
      expectOne(await resourceViolations(kmsDecrypterScoped, ringBinding), /key ring IAM binding/, /whole pool/);
      const ringPolicy = { ...policy, type: "gcp:kms/keyRingIAMPolicy:KeyRingIAMPolicy" };
      expectOne(await resourceViolations(kmsDecrypterScoped, ringPolicy), /key ring IAM policy/, /whole pool/);
      // A role that includes decrypt counts as decrypt.
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(broken(decrypterMember(), "member", wholePool), "role", "roles/cloudkms.cryptoKeyEncrypterDecrypter")), /whole pool/);
    });

    it("GIVEN allUsers or allAuthenticatedUsers as decrypter WHEN validated THEN it fires", async () => {
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterMember(), "member", "allUsers")), /allUsers/);
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterBinding(), "members.0", "allAuthenticatedUsers")), /allAuthenticatedUsers/);
    });

    it("GIVEN a whole pool with a role that cannot decrypt WHEN validated THEN silent", async () => {
      const viewer = broken(broken(decrypterMember(), "member", `principalSet://iam.googleapis.com/${POOL_NAME}/*`), "role", "roles/cloudkms.viewer");
      expect(await resourceViolations(kmsDecrypterScoped, viewer)).to.deep.equal([]);
    });
  });

  describe("rule 4: storage-bucket-hardened and storage-bucket-iam-not-public", () => {
    const run = (r: ReturnType<typeof bucket>, cfg = {}) => resourceViolations(storageBucketHardened, r, cfg);

    it("GIVEN a room bucket and a CMEK data bucket WHEN validated THEN silent", async () => {
      expect(await run(bucket())).to.deep.equal([]);
      expect(await run(dataBucket())).to.deep.equal([]);
    });

    it("GIVEN UBLA off WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(bucket(), "uniformBucketLevelAccess", false)), /uniformBucketLevelAccess: true/);
    });

    it("GIVEN public access prevention inherited WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(bucket(), "publicAccessPrevention", "inherited")), /publicAccessPrevention: "enforced"/);
    });

    it("GIVEN a data bucket (label) without CMEK WHEN validated THEN it fires; a non-data bucket without CMEK stays silent", async () => {
      expectOne(await run(broken(dataBucket(), "encryption", undefined)), /cleanroom-role=data/, /defaultKmsKeyName/);
      expect(await run(bucket())).to.deep.equal([]);
    });

    it("GIVEN a hand-written bucket named like data WHEN it has no CMEK THEN it fires, unless the name pattern is turned off", async () => {
      const named = broken(broken(dataBucket(), "labels", undefined), "encryption", undefined);
      expectOne(await run(broken(named, "name", "acme-stage-2")), /name 'acme-stage-2'/);
      expectOne(await run({ ...broken(named, "name", undefined), name: "raw-data" }), /auto-generated name \(from 'raw-data'\)/);
      expect(await run({ ...broken(named, "name", "room-hub"), name: "data_clean_room_hub" })).to.deep.equal([]);
      expect(await run(broken(named, "name", "room-metadata"))).to.deep.equal([]);
      expect(await run(broken(named, "name", "acme-stage-2"), { dataNamePattern: "" })).to.deep.equal([]);
    });

    it("GIVEN a public member on bucket IAM (Member, Binding, Policy) WHEN validated THEN it fires", async () => {
      expect(await resourceViolations(storageBucketIamNotPublic, bucketIamMember())).to.deep.equal([]);
      expectOne(await resourceViolations(storageBucketIamNotPublic, broken(bucketIamMember(), "member", "allUsers")), /public/);
      const binding = { ...bucketIamMember(), type: T.bucketIamBinding, props: { bucket: "b", role: "roles/storage.objectViewer", members: ["user:a@example.com", "allAuthenticatedUsers"] } };
      expectOne(await resourceViolations(storageBucketIamNotPublic, binding), /allAuthenticatedUsers/);
      const policy = { ...bucketIamMember(), type: T.bucketIamPolicy, props: { bucket: "b", policyData: JSON.stringify({ bindings: [{ role: "roles/storage.legacyObjectReader", members: ["allUsers"] }] }) } };
      expectOne(await resourceViolations(storageBucketIamNotPublic, policy), /allUsers/);
    });
  });

  describe("rule 5: project-iam-least-privilege", () => {
    const run = (r: ReturnType<typeof projectIamMember>, cfg = {}) => resourceViolations(projectIamLeastPrivilege, r, cfg);

    it("GIVEN workloadUser / logWriter for the workload account and owner for a person WHEN validated THEN silent", async () => {
      expect(await run(projectIamMember())).to.deep.equal([]);
      expect(await run(projectIamBinding())).to.deep.equal([]);
      expect(await run(projectIamPolicy())).to.deep.equal([]);
    });

    for (const role of FORBIDDEN_PROJECT_ROLES.keys()) {
      it(`GIVEN project-wide ${role} for a service account WHEN validated THEN it fires`, async () => {
        expectOne(await run(broken(projectIamMember(), "role", role)), new RegExp(role.replace(".", "\\.")), /bucket- or key-level/);
      });
    }

    it("GIVEN objectAdmin for a workload principalSet, in a Binding, or in a Policy WHEN validated THEN it fires", async () => {
      const ps = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;
      expectOne(await run(broken(broken(projectIamMember(), "role", "roles/storage.objectAdmin"), "member", ps)), /principalSet/);
      expectOne(await run(broken(projectIamBinding(), "role", "roles/storage.admin")), /storage\.admin/);
      const policy = broken(projectIamPolicy(), "policyData", JSON.stringify({ bindings: [{ role: "roles/editor", members: ["serviceAccount:x@p.iam.gserviceaccount.com"] }] }));
      expectOne(await run(policy), /roles\/editor/);
    });

    for (const role of ["roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.admin", "roles/cloudkms.cryptoKeyEncrypter"]) {
      it(`GIVEN project-wide ${role} (any cloudkms.* role) for a room account WHEN validated THEN it fires: it reaches every provider's key`, async () => {
        expectOne(await run(broken(projectIamMember(), "role", role)), /every Cloud KMS key in the project/);
      });
    }

    it("GIVEN the GKE nodes' own role for their account WHEN validated THEN silent (not a data role)", async () => {
      expect(await run(broken(projectIamMember(), "role", "roles/container.defaultNodeServiceAccount"))).to.deep.equal([]);
    });

    it("GIVEN an exempted member WHEN it holds a forbidden role THEN silent", async () => {
      const r = broken(projectIamMember(), "role", "roles/owner");
      expect(await run(r, { exemptMembers: [r.props["member"]] })).to.deep.equal([]);
    });
  });

  describe("rule 9: service-account-impersonation-scoped", () => {
    const WHOLE_POOL = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;
    const saMember = (member: string, role = "roles/iam.workloadIdentityUser") => ({
      type: "gcp:serviceaccount/iAMMember:IAMMember",
      name: "data-sa-wi",
      props: { serviceAccountId: "projects/p/serviceAccounts/data@p.iam.gserviceaccount.com", role, member },
    });
    const run = (r: { type: string; name: string; props: Record<string, unknown> }) => resourceViolations(serviceAccountImpersonationScoped, r);

    it("GIVEN workloadIdentityUser for one attribute set or a KSA WHEN validated THEN silent", async () => {
      expect(await run(saMember(`principalSet://iam.googleapis.com/${POOL_NAME}/attribute.job_digest/${DIGEST}`))).to.deep.equal([]);
      expect(await run(saMember("serviceAccount:acme-room.svc.id.goog[jupyterhub/jupyter-user]"))).to.deep.equal([]);
    });

    it("GIVEN workloadIdentityUser or serviceAccountTokenCreator for a whole pool WHEN validated THEN it fires (Member, Binding, Policy)", async () => {
      expectOne(await run(saMember(WHOLE_POOL)), /whole pool/, /attribute\.job_digest/);
      expectOne(await run(saMember(WHOLE_POOL, "roles/iam.serviceAccountTokenCreator")), /serviceAccountTokenCreator/);
      expectOne(
        await run({ type: "gcp:serviceaccount/iAMBinding:IAMBinding", name: "b", props: { serviceAccountId: "x", role: "roles/iam.workloadIdentityUser", members: [WHOLE_POOL] } }),
        /whole pool/,
      );
      const policyData = JSON.stringify({ bindings: [{ role: "roles/iam.workloadIdentityUser", members: [WHOLE_POOL] }] });
      expectOne(await run({ type: "gcp:serviceaccount/iAMPolicy:IAMPolicy", name: "p", props: { serviceAccountId: "x", policyData } }), /whole pool/);
    });
  });

  describe("rule 6: gke-sandbox-hardened", () => {
    const run = (r = cluster()) => resourceViolations(gkeSandboxHardened, r);

    it("GIVEN a private Standard cluster with WI and Dataplane V2, and a private Autopilot cluster WHEN validated THEN silent", async () => {
      expect(await run()).to.deep.equal([]);
      expect(await run(autopilotCluster())).to.deep.equal([]);
    });

    it("GIVEN public nodes WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(cluster(), "privateClusterConfig", undefined)), /private nodes/);
      expectOne(await run(broken(autopilotCluster(), "privateClusterConfig.enablePrivateNodes", false)), /private nodes/);
    });

    it("GIVEN no Workload Identity WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(cluster(), "workloadIdentityConfig", undefined)), /Workload Identity/);
    });

    it("GIVEN the legacy datapath and no network policy WHEN validated THEN it fires; WHEN the add-on is enabled THEN silent", async () => {
      const legacy = broken(cluster(), "datapathProvider", "LEGACY_DATAPATH");
      expectOne(await run(legacy), /network policy/);
      expect(await run(broken(legacy, "networkPolicy", { enabled: true, provider: "CALICO" }))).to.deep.equal([]);
    });

    it("GIVEN legacy ABAC WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(cluster(), "enableLegacyAbac", true)), /legacy ABAC/);
    });

    it("GIVEN basic auth or a client certificate WHEN validated THEN it fires", async () => {
      expectOne(await run(broken(cluster(), "masterAuth.username", "admin")), /basic auth/);
      expectOne(await run(broken(cluster(), "masterAuth.clientCertificateConfig.issueClientCertificate", true)), /client certificate/);
    });
  });

  describe("preview: values unknown until deployment", () => {
    it("GIVEN a data bucket whose CMEK key id is unknown WHEN validated THEN silent (the key will be set)", async () => {
      expect(await resourceViolations(storageBucketHardened, broken(dataBucket(), "encryption.defaultKmsKeyName", UNKNOWN_STRING))).to.deep.equal([]);
    });

    it("GIVEN a template whose tee-image-reference is unknown WHEN it has a public IP THEN it is still recognised and fires", async () => {
      let t = broken(csInstanceTemplate(), "metadata.tee-image-reference", UNKNOWN_STRING);
      t = broken(broken(t, "disks.0.sourceImage", "my-project/custom"), "networkInterfaces.0.accessConfigs", [{}]);
      expectOne(await resourceViolations(confidentialSpaceVmHardened, t), /public IP/);
    });

    it("GIVEN project-wide objectAdmin to an unknown member WHEN validated THEN it fires (fail closed)", async () => {
      const r = broken(broken(projectIamMember(), "role", "roles/storage.objectAdmin"), "member", UNKNOWN_STRING);
      expectOne(await resourceViolations(projectIamLeastPrivilege, r), /not known until deployment/);
    });

    it("GIVEN a decrypter whose member is unknown WHEN validated THEN silent (rule 7 follows it through dependencies)", async () => {
      expect(await resourceViolations(kmsDecrypterScoped, broken(decrypterMember(), "member", UNKNOWN_STRING))).to.deep.equal([]);
    });
  });
});

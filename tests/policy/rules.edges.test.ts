/**
 * The resource rules (1, 3, 4, 5, 6, 9) at their edges: values unknown at preview, unreadable policyData, and the
 * settings each exemption turns on. Hand-built args, one happy-path factory, one field broken per case.
 */
import { expect } from "chai";
import { confidentialSpaceVmHardened } from "../../policy-packs/cleanroom-guardrails/policies/confidentialSpaceVm.js";
import { gkeSandboxHardened } from "../../policy-packs/cleanroom-guardrails/policies/gke.js";
import { durationSeconds, kmsDecrypterScoped, kmsKeyRotation } from "../../policy-packs/cleanroom-guardrails/policies/kms.js";
import { projectIamLeastPrivilege } from "../../policy-packs/cleanroom-guardrails/policies/projectIam.js";
import { serviceAccountImpersonationScoped } from "../../policy-packs/cleanroom-guardrails/policies/serviceAccountIam.js";
import { storageBucketHardened, storageBucketIamNotPublic } from "../../policy-packs/cleanroom-guardrails/policies/storage.js";
import {
  CS_PROD_IMAGE,
  POOL_NAME,
  T,
  broken,
  bucket,
  bucketIamMember,
  cluster,
  cryptoKey,
  csInstance,
  csInstanceTemplate,
  dataBucket,
  decrypterMember,
  decrypterPolicy,
  projectIamMember,
  projectIamPolicy,
} from "./fixtures/happy.js";
import { type PlannedResource, UNKNOWN_STRING, resourceViolations } from "./helpers.js";

const WHOLE_POOL = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;

/** Expects exactly one violation whose message matches every pattern. */
function expectOne(violations: string[], ...patterns: RegExp[]): void {
  expect(violations, violations.join("\n")).to.have.length(1);
  for (const p of patterns) expect(violations[0]).to.match(p);
}

describe("policy pack: resource rules at their edges", () => {
  describe("rule 1: confidential-space-vm-hardened", () => {
    const run = (r: PlannedResource) => resourceViolations(confidentialSpaceVmHardened, r);
    const publicIp = (r: PlannedResource) => broken(r, "networkInterfaces.0.accessConfigs", [{}]);

    it("GIVEN a Confidential Space image but no tee-image-reference metadata WHEN it has a public IP THEN it is recognised by its image and fires", async () => {
      expectOne(await run(publicIp(broken(csInstance(), "metadata", undefined))), /public IP/);
    });

    it("GIVEN a template whose boot disk is Confidential Space and a data disk is not WHEN it has no metadata and a public IP THEN it fires", async () => {
      const t = broken(broken(csInstanceTemplate(), "metadata", undefined), "disks", [{ sourceImage: CS_PROD_IMAGE, boot: true }, { sourceImage: "debian-cloud/debian-12" }]);
      expectOne(await run(publicIp(t)), /public IP/);
    });

    it("GIVEN an instance with no boot image but tee-image-reference metadata WHEN it has a public IP THEN it fires", async () => {
      expectOne(await run(publicIp(broken(csInstance(), "bootDisk", undefined))), /public IP/);
    });

    it("GIVEN access configs unknown until deployment WHEN validated THEN it fires: a public IP cannot be ruled out", async () => {
      expectOne(await run(broken(csInstance(), "networkInterfaces.0.accessConfigs", UNKNOWN_STRING)), /networkInterfaces\[0\]\.accessConfigs/);
    });

    it("GIVEN TDX on an N2D machine type WHEN it migrates on host maintenance THEN it fires: only SEV may migrate", async () => {
      expectOne(await run(broken(broken(csInstance(), "machineType", "n2d-standard-2"), "scheduling.onHostMaintenance", "MIGRATE")), /TERMINATE/);
    });

    it("GIVEN SEV on a Milan/Genoa CPU platform WHEN it migrates THEN silent; SEV on another machine family without a platform THEN it fires", async () => {
      let sev = broken(csInstance(), "confidentialInstanceConfig.confidentialInstanceType", "SEV");
      sev = broken(broken(sev, "machineType", "c2d-standard-4"), "scheduling.onHostMaintenance", "MIGRATE");
      expectOne(await run(sev), /TERMINATE/);
      expect(await run(broken(sev, "minCpuPlatform", "AMD Milan"))).to.deep.equal([]);
      expectOne(await run(broken(sev, "minCpuPlatform", "Intel Sapphire Rapids")), /TERMINATE/);
    });
  });

  describe("rule 3: kms-key-rotation and kms-decrypter-scoped", () => {
    it("GIVEN KMS durations WHEN parsed THEN whole and fractional seconds (up to ns), trimmed; anything else is not a duration", () => {
      expect(durationSeconds(" 86400s ")).to.equal(86400);
      expect(durationSeconds("1.5s")).to.equal(1.5);
      expect(durationSeconds("1.123456789s")).to.equal(1.123456789);
      for (const bad of ["x86400s", "86400sx", "86400", "1.1234567891s", "1.s", 86400]) expect(durationSeconds(bad), String(bad)).to.equal(undefined);
    });

    it("GIVEN a key without purpose (ENCRYPT_DECRYPT by default) and no rotation WHEN validated THEN it fires", async () => {
      const key = broken(broken(cryptoKey(), "purpose", undefined), "rotationPeriod", undefined);
      expectOne(await resourceViolations(kmsKeyRotation, key), /rotationPeriod \(not set\)/);
    });

    it("GIVEN a rotation period unknown until deployment WHEN validated THEN silent", async () => {
      expect(await resourceViolations(kmsKeyRotation, broken(cryptoKey(), "rotationPeriod", UNKNOWN_STRING))).to.deep.equal([]);
    });

    it("GIVEN key IAM policyData that is not JSON WHEN validated THEN it fires saying it cannot be read", async () => {
      expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterPolicy(), "policyData", "{")), /policyData that cannot be read \(policyData is not JSON\)/);
    });
  });

  describe("rule 4: storage-bucket-hardened and storage-bucket-iam-not-public", () => {
    const run = (r: PlannedResource) => resourceViolations(storageBucketHardened, r);
    const plain = () => broken(broken(dataBucket(), "labels", undefined), "encryption", undefined);

    it("GIVEN a bucket whose name says data in capitals WHEN it has no CMEK THEN it fires (the pattern ignores case)", async () => {
      expectOne(await run(broken(plain(), "name", "ACME-DATA-1a2b")), /name 'ACME-DATA-1a2b'/);
    });

    it("GIVEN a bucket labelled with another cleanroom-role WHEN its name is not a data name THEN no CMEK is required", async () => {
      expect(await run(broken(broken(plain(), "name", "room-hub"), "labels", { "cleanroom-role": "hub" }))).to.deep.equal([]);
    });

    it("GIVEN a bucket whose physical name is unknown until deployment WHEN its resource name looks like data THEN the name cannot decide (silent)", async () => {
      expect(await run({ ...broken(plain(), "name", UNKNOWN_STRING), name: "acme-data" })).to.deep.equal([]);
    });

    it("GIVEN uniform access and public access prevention unknown until deployment WHEN validated THEN silent", async () => {
      expect(await run(broken(bucket(), "uniformBucketLevelAccess", UNKNOWN_STRING))).to.deep.equal([]);
      expect(await run(broken(bucket(), "publicAccessPrevention", UNKNOWN_STRING))).to.deep.equal([]);
    });

    it("GIVEN bucket IAM whose member is unknown WHEN validated THEN silent; policyData that is not JSON THEN it fires", async () => {
      expect(await resourceViolations(storageBucketIamNotPublic, broken(bucketIamMember(), "member", UNKNOWN_STRING))).to.deep.equal([]);
      const policy = { ...bucketIamMember(), type: T.bucketIamPolicy, props: { bucket: "b", policyData: "not json" } };
      expectOne(await resourceViolations(storageBucketIamNotPublic, policy), /cannot be read/);
    });

    it("GIVEN allUsers with a role unknown until deployment WHEN validated THEN it fires naming the member", async () => {
      expectOne(await resourceViolations(storageBucketIamNotPublic, broken(broken(bucketIamMember(), "member", "allUsers"), "role", UNKNOWN_STRING)), /grants a role to allUsers/);
    });
  });

  describe("rule 5: project-iam-least-privilege", () => {
    it("GIVEN a role unknown until deployment WHEN validated THEN silent (the role decides)", async () => {
      expect(await resourceViolations(projectIamLeastPrivilege, broken(projectIamMember(), "role", UNKNOWN_STRING))).to.deep.equal([]);
    });

    it("GIVEN project policyData that is not JSON WHEN validated THEN it fires", async () => {
      expectOne(await resourceViolations(projectIamLeastPrivilege, broken(projectIamPolicy(), "policyData", "{")), /cannot be read/);
    });
  });

  describe("rule 6: gke-sandbox-hardened", () => {
    const run = (r: PlannedResource) => resourceViolations(gkeSandboxHardened, r);

    it("GIVEN private nodes, the network policy add-on or the datapath unknown until deployment WHEN validated THEN silent", async () => {
      expect(await run(broken(cluster(), "privateClusterConfig.enablePrivateNodes", UNKNOWN_STRING))).to.deep.equal([]);
      const legacy = broken(cluster(), "datapathProvider", "LEGACY_DATAPATH");
      expect(await run(broken(legacy, "networkPolicy.enabled", UNKNOWN_STRING))).to.deep.equal([]);
      expect(await run(broken(cluster(), "datapathProvider", UNKNOWN_STRING))).to.deep.equal([]);
    });

    it("GIVEN a basic-auth password alone, or a username unknown until deployment WHEN validated THEN it fires; an empty username THEN silent", async () => {
      expectOne(await run(broken(cluster(), "masterAuth.password", "hunter2")), /basic auth \(masterAuth\.password\)/);
      expectOne(await run(broken(cluster(), "masterAuth.username", UNKNOWN_STRING)), /basic auth \(masterAuth\.username\)/);
      expect(await run(broken(cluster(), "masterAuth.username", ""))).to.deep.equal([]);
    });
  });

  describe("rule 9: service-account-impersonation-scoped", () => {
    const sa = (props: Record<string, unknown>): PlannedResource => ({
      type: T.serviceAccountIamMember,
      name: "data-sa-wi",
      props: { serviceAccountId: "projects/p/serviceAccounts/data@p.iam.gserviceaccount.com", role: "roles/iam.workloadIdentityUser", member: WHOLE_POOL, ...props },
    });
    const run = (r: PlannedResource) => resourceViolations(serviceAccountImpersonationScoped, r);

    it("GIVEN a whole pool with a role that cannot impersonate WHEN validated THEN silent", async () => {
      expect(await run(sa({ role: "roles/iam.serviceAccountViewer" }))).to.deep.equal([]);
    });

    it("GIVEN an impersonation role for a member unknown until deployment, or an unknown role WHEN validated THEN silent", async () => {
      expect(await run(sa({ member: UNKNOWN_STRING }))).to.deep.equal([]);
      expect(await run(sa({ role: UNKNOWN_STRING }))).to.deep.equal([]);
    });

    it("GIVEN service-account policyData that is not JSON WHEN validated THEN it fires", async () => {
      const policy: PlannedResource = { type: "gcp:serviceaccount/iAMPolicy:IAMPolicy", name: "p", props: { serviceAccountId: "x", policyData: "{" } };
      expectOne(await run(policy), /Service account IAM policy 'p' has policyData that cannot be read/);
    });
  });

  it("GIVEN decrypt for the public on a key WHEN validated THEN only the public is named, not also as a whole pool", async () => {
    expectOne(await resourceViolations(kmsDecrypterScoped, broken(decrypterMember(), "member", "allUsers")), /anyone could decrypt/);
  });
});

import type * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { DataCleanRoom, type DataCleanRoomArgs, PROJECT_LEVEL_WORKLOAD_ROLES, ROLES } from "../../src/components/index.js";
import {
  attributeMapping,
  buildAttestationCondition,
  evaluateAttestationCondition,
  imageDigestPrincipalSet,
  jobDigestPrincipalSet,
} from "../../src/core/attestation.js";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { JOB_VM_GRACE_SECONDS } from "../../src/core/spec.js";
import {
  FIXTURE_DOCKERFILE,
  HOSPITAL_JOB,
  HOSPITAL_PROJECT,
  IMAGE_DIGEST,
  INSURER_JOB,
  JOINT_JOB,
  JUPYTER_SA,
  POOL_NAME,
  PREFIX,
  PROJECT,
  REGION,
  WORKLOAD_SA,
  debugClaims,
  goodClaims,
  twoProviderArgs,
} from "./fixtures.js";
import { type MockRun, type RecordedResource, ofType, projectNumberOf, runProgramUnderMocks } from "./harness.js";

const BUCKET = "gcp:storage/bucket:Bucket";
const BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember";
const KEY = "gcp:kms/cryptoKey:CryptoKey";
const KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember";
const PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember";
const POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate";

/** Full name of a one-stack provider's own pool (in its project, named `<prefix>-<provider>`). */
function providerPoolName(project: string, provider: string): string {
  return `projects/${projectNumberOf(project)}/locations/global/workloadIdentityPools/${PREFIX}-${provider}`;
}

async function runRoom(args: DataCleanRoomArgs): Promise<MockRun & { room: { descriptor: CleanRoomDescriptor } }> {
  const run = await runProgramUnderMocks(() => ({ descriptor: new DataCleanRoom("research", args).descriptor }));
  return { ...run, room: run.outputs as { descriptor: CleanRoomDescriptor } };
}

function one(resources: readonly RecordedResource[], type: string, name: string): RecordedResource {
  const r = resources.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name}; have ${ofType(resources, type).map((x) => x.name).join(", ")}`);
  return r;
}

/** Roles that let a member decrypt with a Cloud KMS key (directly, or as a basic role that includes it). */
const DECRYPT_ROLES = new Set([
  ROLES.decrypter,
  ROLES.encrypterDecrypter,
  "roles/cloudkms.cryptoKeyDecrypterViaDelegation",
  "roles/owner",
  "roles/editor",
]);

/**
 * Every (role, member) pair an IAM resource grants, whatever its flavour (`*IAMMember`, `*IAMBinding`, `*IAMPolicy`),
 * so a change of flavour in the components cannot slip past the assertions below.
 */
function iamGrants(r: RecordedResource): Array<{ role: string; member: string }> {
  const cls = r.type.slice(r.type.lastIndexOf(":") + 1).toLowerCase();
  const i = r.inputs as { role?: string; member?: string; members?: string[]; policyData?: string };
  if (cls.endsWith("iammember")) return [{ role: i.role!, member: i.member! }];
  if (cls.endsWith("iambinding")) return (i.members ?? []).map((member) => ({ role: i.role!, member }));
  if (cls.endsWith("iampolicy")) {
    const policy = JSON.parse(i.policyData ?? "{}") as { bindings?: Array<{ role: string; members: string[] }> };
    return (policy.bindings ?? []).flatMap((b) => b.members.map((member) => ({ role: b.role, member })));
  }
  return [];
}

/** IAM resources of every flavour. */
function iamResources(resources: readonly RecordedResource[]): RecordedResource[] {
  return resources.filter((r) => /iam(member|binding|policy)$/i.test(r.type.slice(r.type.lastIndexOf(":") + 1)));
}

/** Project-, folder- and organization-level IAM resources: the grants that reach everything in a project. */
function projectLevelGrants(resources: readonly RecordedResource[]): Array<[string, string]> {
  return iamResources(resources)
    .filter((r) => /^gcp:(projects|organizations|folder)\//.test(r.type))
    .flatMap((r) => iamGrants(r).map((g): [string, string] => [g.role, g.member]));
}

/** Every value anywhere inside a resource's inputs, with its key. */
function* walk(value: unknown, key = ""): Generator<[string, unknown]> {
  yield [key, value];
  if (Array.isArray(value)) for (const v of value) yield* walk(v, key);
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) yield* walk(v, k);
}

describe("components: a two-provider DataCleanRoom under mocks", function () {
  this.timeout(60_000);
  let run: MockRun & { room: { descriptor: CleanRoomDescriptor } };
  let resources: RecordedResource[];

  before(async () => {
    run = await runRoom(twoProviderArgs());
    resources = run.resources;
  });

  it("GIVEN the room WHEN planned THEN every child is parented under the DataCleanRoom", () => {
    const children = resources.filter((r) => !(r.type === "cleanroom:index:DataCleanRoom" && r.name === "research"));
    expect(children.length).to.be.greaterThan(50);
    // Mock URNs carry the immediate parent's type: every resource hangs under one of the room's components.
    for (const r of children) expect(r.urn, r.urn).to.match(/::cleanroom:index:[A-Za-z]+\$/);
    const direct = children.filter((r) => r.urn.includes("::cleanroom:index:DataCleanRoom$")).map((r) => r.type);
    expect(direct).to.include.members(["cleanroom:index:CleanRoomNetwork", "cleanroom:index:ConfidentialWorkloadPool", "cleanroom:index:SandboxCluster"]);
    for (const r of children) expect(r.name, r.urn).to.match(/^research-/);
  });

  it("GIVEN the room WHEN planned THEN no resource has a public IP or an access config", () => {
    for (const r of resources) {
      expect(r.type, r.urn).not.to.match(/compute\/(address|globalAddress|forwardingRule)/);
      for (const [k] of walk(r.inputs)) expect(k, r.urn).not.to.match(/^(accessConfigs|ipv6AccessConfigs|natIp)$/);
    }
    const template = ofType(resources, TEMPLATE)[0]!;
    expect(template.inputs.networkInterfaces).to.deep.equal([
      { subnetwork: `projects/${PROJECT}/regions/${REGION}/subnetworks/${PREFIX}-tee` },
    ]);
    const cluster = one(resources, "gcp:container/cluster:Cluster", "research-sandbox-gke");
    expect(cluster.inputs.privateClusterConfig).to.deep.include({ enablePrivateNodes: true });
    const release = one(resources, "kubernetes:helm.sh/v3:Release", "research-sandbox-jupyterhub");
    const values = release.inputs.values as { proxy: { service: { type: string } }; hub: { config: Record<string, Record<string, unknown>> } };
    expect(values.proxy.service.type).to.equal("ClusterIP");
    // The OAuth secret is not in the (reviewable) Helm values; it comes from a Kubernetes Secret.
    expect(JSON.stringify(values)).not.to.include("not-a-real-secret");
    expect(values.hub.config.JupyterHub).to.deep.equal({ authenticator_class: "github" });
  });

  it("GIVEN the TEE subnet WHEN planned THEN egress is denied except HTTPS to the Google APIs VIP, and only the sandbox subnet has NAT", () => {
    const deny = one(resources, "gcp:compute/firewall:Firewall", "research-network-tee-deny-egress");
    const allow = one(resources, "gcp:compute/firewall:Firewall", "research-network-tee-allow-google-apis");
    expect(deny.inputs).to.deep.include({ direction: "EGRESS", destinationRanges: ["0.0.0.0/0"], denies: [{ protocol: "all" }] });
    expect(allow.inputs).to.deep.include({ destinationRanges: ["199.36.153.4/30"], allows: [{ protocol: "tcp", ports: ["443"] }] });
    expect(allow.inputs.priority as number).to.be.lessThan(deny.inputs.priority as number);
    // The rules target the account every job VM runs as (pinned by the attestation), not a tag its creator could leave off.
    const template = ofType(resources, TEMPLATE)[0]!;
    expect(template.inputs).to.not.have.property("tags");
    expect(deny.inputs.targetServiceAccounts).to.deep.equal([WORKLOAD_SA]);
    expect(allow.inputs.targetServiceAccounts).to.deep.equal([WORKLOAD_SA]);
    for (const f of ofType(resources, "gcp:compute/firewall:Firewall")) expect(f.inputs, f.name).to.not.have.property("targetTags");
    const tee = one(resources, "gcp:compute/subnetwork:Subnetwork", "research-network-tee");
    expect(tee.inputs).to.deep.include({ privateIpGoogleAccess: true, ipCidrRange: "10.10.0.0/24" });
    // googleapis.com resolves to the restricted VIP inside the VPC, so API calls never need a public route.
    const apisA = one(resources, "gcp:dns/recordSet:RecordSet", "research-network-dns-googleapis-a");
    expect(apisA.inputs).to.deep.include({ name: "restricted.googleapis.com.", type: "A", rrdatas: ["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"] });
    expect(one(resources, "gcp:dns/managedZone:ManagedZone", "research-network-dns-googleapis").inputs).to.deep.include({ dnsName: "googleapis.com.", visibility: "private" });
    const ingress = one(resources, "gcp:compute/firewall:Firewall", "research-network-tee-deny-ingress");
    expect(ingress.inputs).to.deep.include({ direction: "INGRESS", sourceRanges: ["0.0.0.0/0"], denies: [{ protocol: "all" }], targetServiceAccounts: [WORKLOAD_SA] });
    // The only NAT in the room serves the sandbox subnet; the TEE subnet has no path to the internet.
    expect(ofType(resources, "gcp:compute/routerNat:RouterNat")).to.have.length(1);
    const nat = ofType(resources, "gcp:compute/routerNat:RouterNat")[0]!;
    expect(nat.inputs.subnetworks).to.deep.equal([
      { name: `projects/${PROJECT}/regions/${REGION}/subnetworks/${PREFIX}-sandbox`, sourceIpRangesToNats: ["ALL_IP_RANGES"] },
    ]);
  });

  it("GIVEN the pool provider condition WHEN evaluated on token claims THEN it pins the image digest, the account and rejects debug images", () => {
    const provider = ofType(resources, POOL_PROVIDER)[0]!;
    const condition = provider.inputs.attributeCondition as string;
    // Written once: exactly core's text for the policy the descriptor records, and core's attribute mapping.
    expect(condition).to.equal(buildAttestationCondition(run.room.descriptor.attestation.policy));
    expect(provider.inputs.attributeMapping).to.deep.equal(attributeMapping());
    expect(condition).to.include(`assertion.submods.container.image_digest == '${IMAGE_DIGEST}'`);
    expect(evaluateAttestationCondition(condition, goodClaims()).allowed).to.equal(true);
    const otherImage = goodClaims();
    (otherImage.submods as { container: { image_digest: string } }).container.image_digest = `sha256:${"0".repeat(64)}`;
    expect(evaluateAttestationCondition(condition, otherImage).allowed).to.equal(false);
    const debug = evaluateAttestationCondition(condition, debugClaims());
    expect(debug.allowed).to.equal(false);
    expect(debug.reason).to.match(/dbgstat/);
    const otherAccount = { ...goodClaims(), google_service_accounts: ["someone@evil-project.iam.gserviceaccount.com"] };
    expect(evaluateAttestationCondition(condition, otherAccount).allowed).to.equal(false);
    // A submitter who points the outputs at a bucket of their own (skipping the release review) gets nothing either.
    const redirected = goodClaims();
    const container = (redirected.submods as { container: { env_override: Record<string, string> } }).container;
    container.env_override.CLEANROOM_OUTPUT_URI = "gs://attacker-bucket/job-1";
    const r = evaluateAttestationCondition(condition, redirected);
    expect(r.allowed).to.equal(false);
    expect(r.reason).to.include(`CLEANROOM_OUTPUT_URI.startsWith("${run.room.descriptor.storage.quarantine}/")`);
    expect(provider.inputs.oidc).to.deep.equal({
      issuerUri: "https://confidentialcomputing.googleapis.com/",
      allowedAudiences: ["https://sts.googleapis.com"],
    });
    expect((provider.inputs.attributeMapping as Record<string, string>)["attribute.job_digest"]).to.equal(
      "assertion.submods.container.env_override.CLEANROOM_JOB_DIGEST",
    );
  });

  it("GIVEN each provider key WHEN planned THEN its decrypter members are exactly its approved jobs' principalSets of its own pool, never the room's pool", () => {
    const expected: Record<string, { project: string; jobs: string[] }> = {
      hospital: { project: HOSPITAL_PROJECT, jobs: [JOINT_JOB, HOSPITAL_JOB] },
      insurer: { project: PROJECT, jobs: [JOINT_JOB, INSURER_JOB] },
    };
    for (const [provider, { project, jobs }] of Object.entries(expected)) {
      const ownPool = providerPoolName(project, provider);
      const ringId = one(resources, "gcp:kms/keyRing:KeyRing", `research-${provider}-keyring`).id;
      const keyId = `${ringId}/cryptoKeys/data`;
      expect(one(resources, KEY, `research-${provider}-key`).id).to.equal(keyId);
      // Every grant on the key or its ring, in any IAM flavour, with any role that can decrypt.
      const onKey = iamResources(resources).filter(
        (r) => r.type.startsWith("gcp:kms/") && (r.inputs.cryptoKeyId === keyId || r.inputs.keyRingId === ringId),
      );
      const decrypters = onKey.flatMap(iamGrants).filter((g) => DECRYPT_ROLES.has(g.role));
      const storageAgent = `serviceAccount:service-${projectNumberOf(project)}@gs-project-accounts.iam.gserviceaccount.com`;
      // Set equality (as sorted lists, so a duplicate binding fails too): the approved jobs, plus the Cloud Storage
      // service agent of the key's project, which CMEK needs and which only acts for callers the bucket admits.
      expect(decrypters.map((g) => `${g.role} ${g.member}`).sort(), provider).to.deep.equal(
        [...jobs.map((d) => `${ROLES.decrypter} ${jobDigestPrincipalSet(ownPool, d)}`), `${ROLES.encrypterDecrypter} ${storageAgent}`].sort(),
      );
      // The same principalSets, and nobody else, may read the provider's bucket (and append to its ledgers, below).
      const bucket = one(resources, BUCKET, `research-${provider}-data`).inputs.name;
      const readers = iamResources(resources)
        .filter((r) => r.type.startsWith("gcp:storage/") && r.inputs.bucket === bucket)
        .flatMap(iamGrants)
        .filter((g) => g.role !== ROLES.objectCreator);
      expect(readers.map((g) => `${g.role} ${g.member}`).sort(), provider).to.deep.equal(
        jobs.map((d) => `${ROLES.objectViewer} ${jobDigestPrincipalSet(ownPool, d)}`).sort(),
      );
      // Nothing of the room's pool can reach a provider's key.
      for (const g of decrypters) expect(g.member, provider).to.not.include(POOL_NAME);
    }
    for (const r of resources) for (const [, v] of walk(r.inputs)) expect(String(v), r.urn).not.to.match(/workloadIdentityPools\/[^/]+\/\*$/);
  });

  it("GIVEN each provider's data bucket WHEN planned THEN its approved jobs' principalSets may create objects only under .dp-ledger/ (stage-2 DP spends), and no one may delete there", () => {
    const expected: Record<string, { project: string; jobs: string[] }> = {
      hospital: { project: HOSPITAL_PROJECT, jobs: [JOINT_JOB, HOSPITAL_JOB] },
      insurer: { project: PROJECT, jobs: [JOINT_JOB, INSURER_JOB] },
    };
    for (const [provider, { project, jobs }] of Object.entries(expected)) {
      const ownPool = providerPoolName(project, provider);
      const bucket = String(one(resources, BUCKET, `research-${provider}-data`).inputs.name);
      const onBucket = iamResources(resources).filter((r) => r.type.startsWith("gcp:storage/") && r.inputs.bucket === bucket);
      const writers = onBucket.filter((r) => iamGrants(r).some((g) => g.role !== ROLES.objectViewer));
      expect(
        writers.map((r) => `${r.inputs.role} ${r.inputs.member} ${(r.inputs.condition as { expression?: string } | undefined)?.expression}`).sort(),
        provider,
      ).to.deep.equal(
        jobs
          .map((d) => `${ROLES.objectCreator} ${jobDigestPrincipalSet(ownPool, d)} resource.name.startsWith("projects/_/buckets/${bucket}/objects/.dp-ledger/")`)
          .sort(),
      );
      // Never the room's workload service account: every submitter may attach it to a VM of their own.
      for (const r of onBucket) expect(String(r.inputs.member), r.urn).to.not.include(WORKLOAD_SA);
    }
  });

  it("GIVEN the hospital's own project WHEN planned THEN its key and bucket live there and the APIs are enabled there", () => {
    expect(one(resources, BUCKET, "research-hospital-data").inputs.project).to.equal(HOSPITAL_PROJECT);
    expect(one(resources, "gcp:kms/keyRing:KeyRing", "research-hospital-keyring").inputs.project).to.equal(HOSPITAL_PROJECT);
    expect(one(resources, "gcp:projects/service:Service", "research-hospital-api-cloudkms").inputs.project).to.equal(HOSPITAL_PROJECT);
    expect(one(resources, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool", "research-hospital-pool").inputs.project).to.equal(HOSPITAL_PROJECT);
  });

  it("GIVEN the room without grants WHEN planned THEN the only project-level roles are workloadUser for the workload account and the node role for the GKE nodes' own account", () => {
    // Any flavour, in any of the room's projects (the hospital's too), at project, folder or organization level.
    expect(projectLevelGrants(resources)).to.deep.equal([
      [ROLES.workloadUser, `serviceAccount:${WORKLOAD_SA}`],
      [ROLES.gkeNode, `serviceAccount:${PREFIX}-gke-nodes@${PROJECT}.iam.gserviceaccount.com`],
    ]);
    const workloadRoles = projectLevelGrants(resources).filter(([, m]) => m === `serviceAccount:${WORKLOAD_SA}`);
    for (const [role] of workloadRoles) expect(PROJECT_LEVEL_WORKLOAD_ROLES).to.include(role);
    const pull = ofType(resources, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember");
    expect(pull.map((m) => [m.inputs.repository, m.inputs.role])).to.deep.equal([["cleanroom", ROLES.artifactReader]]);
  });

  it("GIVEN every bucket WHEN planned THEN it has UBLA, enforced public access prevention, versioning and a CMEK key", () => {
    const buckets = ofType(resources, BUCKET);
    expect(buckets).to.have.length(6);
    for (const b of buckets) {
      expect(b.inputs, b.name).to.deep.include({ uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", versioning: { enabled: true } });
      expect((b.inputs.encryption as { defaultKmsKeyName: string }).defaultKmsKeyName, b.name).to.match(/\/cryptoKeys\//);
    }
    for (const role of ["quarantine", "results"]) {
      expect(one(resources, BUCKET, `research-storage-${role}`).inputs.retentionPolicy).to.deep.equal({ retentionPeriod: String(30 * 86400), isLocked: false });
    }
    const agentBindings = ofType(resources, KEY_MEMBER).filter((m) => m.inputs.role === ROLES.encrypterDecrypter);
    expect(agentBindings.map((m) => m.inputs.member)).to.have.length(3);
    for (const m of agentBindings) expect(m.inputs.member).to.match(/^serviceAccount:service-\d{12}@gs-project-accounts\.iam\.gserviceaccount\.com$/);
  });

  it("GIVEN every key WHEN planned THEN it rotates at most every 90 days", () => {
    for (const k of ofType(resources, KEY)) expect(k.inputs.rotationPeriod).to.equal(`${90 * 86400}s`);
  });

  it("GIVEN the Jupyter service account WHEN planned THEN it can read only the stage-1 bucket and no key", () => {
    const member = `serviceAccount:${JUPYTER_SA}`;
    const stage1 = one(resources, BUCKET, "research-storage-stage1").inputs.name;
    const grants = ofType(resources, BUCKET_MEMBER).filter((m) => m.inputs.member === member);
    expect(grants.map((m) => [m.inputs.bucket, m.inputs.role])).to.deep.equal([[stage1, ROLES.objectViewer]]);
    expect(ofType(resources, KEY_MEMBER).filter((m) => m.inputs.member === member)).to.deep.equal([]);
    expect(ofType(resources, PROJECT_MEMBER).filter((m) => m.inputs.member === member)).to.deep.equal([]);
    const wi = one(resources, "gcp:serviceaccount/iAMMember:IAMMember", "research-sandbox-jupyter-wi");
    const ksa = `serviceAccount:${PROJECT}.svc.id.goog[jupyterhub/jupyter-user]`;
    expect(wi.inputs).to.deep.include({ member: ksa, role: ROLES.workloadIdentityUser, serviceAccountId: `projects/${PROJECT}/serviceAccounts/${JUPYTER_SA}` });
    // Nothing else names the account or the pods' identity: no grant on a provider bucket or key, no impersonation
    // of the workload account, no other service-account binding.
    const mentions = resources
      .filter((r) => [...walk(r.inputs)].some(([, v]) => typeof v === "string" && (v.includes(JUPYTER_SA) || v.includes(ksa))))
      .map((r) => `${r.type} ${r.name}`)
      .sort();
    expect(mentions).to.deep.equal([
      "gcp:serviceaccount/iAMMember:IAMMember research-sandbox-jupyter-wi",
      "gcp:storage/bucketIAMMember:BucketIAMMember research-sandbox-jupyter-stage1",
      "kubernetes:core/v1:ServiceAccount research-sandbox-ksa",
    ]);
  });

  it("GIVEN the instance template WHEN planned THEN it is a hardened production Confidential Space VM", () => {
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect((t.disks as Array<{ sourceImage: string }>)[0]!.sourceImage).to.equal(
      "projects/confidential-space-images/global/images/family/confidential-space",
    );
    expect(t.confidentialInstanceConfig).to.deep.equal({ confidentialInstanceType: "TDX" });
    expect(t.shieldedInstanceConfig).to.deep.equal({ enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true });
    expect(t.scheduling).to.deep.include({ onHostMaintenance: "TERMINATE", provisioningModel: "STANDARD" });
    expect(t.machineType).to.equal("c3-standard-4");
    expect(t.metadata).to.deep.equal({
      "tee-image-reference": `${REGION}-docker.pkg.dev/${PROJECT}/cleanroom/executor@${IMAGE_DIGEST}`,
      "tee-restart-policy": "Never",
    });
    expect(t.serviceAccount).to.deep.equal({ email: WORKLOAD_SA, scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  });

  it("GIVEN the room's buckets WHEN planned THEN only attested runs of the executor image read bundles and write quarantine", () => {
    const image = imageDigestPrincipalSet(POOL_NAME, IMAGE_DIGEST);
    const quarantine = one(resources, BUCKET, "research-storage-quarantine").inputs.name;
    const writers = ofType(resources, BUCKET_MEMBER).filter((m) => m.inputs.bucket === quarantine && m.inputs.role === ROLES.objectCreator);
    expect(writers.map((m) => m.inputs.member)).to.deep.equal([image]);
  });

  it("GIVEN the descriptor output WHEN loaded by the runtime's loadDescriptor THEN it is accepted and names the deployed resources", () => {
    const d = loadDescriptor(JSON.parse(JSON.stringify(run.room.descriptor)));
    expect(d.platform).to.equal("gcp");
    expect(d.executor.imageDigest).to.equal(IMAGE_DIGEST);
    expect(d.gcp).to.deep.include({ project: PROJECT, region: REGION, zone: `${REGION}-b`, poolName: POOL_NAME, workloadServiceAccount: WORKLOAD_SA });
    expect(d.gcp!.poolProviderName).to.equal(`${POOL_NAME}/providers/attestation-verifier`);
    expect(d.providers.map((p) => [p.name, p.project])).to.deep.equal([
      ["hospital", HOSPITAL_PROJECT],
      ["insurer", PROJECT],
    ]);
    expect(d.providers[0]!.keyName).to.match(new RegExp(`^projects/${HOSPITAL_PROJECT}/locations/${REGION}/keyRings/research-hospital-[0-9a-f]{6}/cryptoKeys/data$`));
    // Each provider judges its key by its own pool's condition; the descriptor says where to exchange.
    expect(d.providers[0]!.attestation!.poolProviderName).to.equal(`${providerPoolName(HOSPITAL_PROJECT, "hospital")}/providers/attestation-verifier`);
    expect(d.storage.quarantine).to.match(/^gs:\/\/research-quarantine-[0-9a-f]{6}$/);
    expect(d.attestation.condition).to.equal(ofType(resources, POOL_PROVIDER)[0]!.inputs.attributeCondition);
  });
});

describe("components: DataCleanRoom variants under mocks", function () {
  this.timeout(60_000);

  it("GIVEN allowDebug WHEN planned THEN the debug family is used and the condition admits debug tokens", async () => {
    const args: DataCleanRoomArgs = {
      ...twoProviderArgs(),
      attestation: { allowDebug: true },
      confidentialVm: { debugLogRedirect: true },
      sandbox: { enabled: false },
    };
    const { resources } = await runRoom(args);
    const condition = ofType(resources, POOL_PROVIDER)[0]!.inputs.attributeCondition as string;
    expect(evaluateAttestationCondition(condition, debugClaims()).allowed).to.equal(true);
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect((t.disks as Array<{ sourceImage: string }>)[0]!.sourceImage).to.match(/family\/confidential-space-debug$/);
    expect((t.metadata as Record<string, string>)["tee-container-log-redirect"]).to.equal("true");
    expect(ofType(resources, PROJECT_MEMBER).map((m) => m.inputs.role).sort()).to.deep.equal([ROLES.workloadUser, ROLES.logWriter]);
    expect(ofType(resources, "gcp:container/cluster:Cluster")).to.deep.equal([]);
  });

  it("GIVEN codePolicy any-job WHEN planned THEN keys open for the executor image's principalSet, still not the pool", async () => {
    const { resources } = await runRoom({ ...twoProviderArgs(), codePolicy: "any-job", sandbox: { enabled: false } });
    const decrypters = ofType(resources, KEY_MEMBER).filter((m) => m.inputs.role === ROLES.decrypter);
    expect(decrypters.map((m) => m.inputs.member)).to.deep.equal([
      imageDigestPrincipalSet(providerPoolName(HOSPITAL_PROJECT, "hospital"), IMAGE_DIGEST),
      imageDigestPrincipalSet(providerPoolName(PROJECT, "insurer"), IMAGE_DIGEST),
    ]);
    // The same principal sets append to the ledgers, under .dp-ledger/ only.
    const creators = ofType(resources, BUCKET_MEMBER).filter((m) => m.inputs.role === ROLES.objectCreator && /-data-/.test(String(m.inputs.bucket)));
    expect(creators.map((m) => m.inputs.member)).to.deep.equal(decrypters.map((m) => m.inputs.member));
    for (const m of creators) expect((m.inputs.condition as { expression: string }).expression).to.match(/\/objects\/\.dp-ledger\/"\)$/);
  });

  it("GIVEN a build context WHEN planned THEN the image is built into an immutable-tag repository and its digest is pinned", async () => {
    const args: DataCleanRoomArgs = {
      ...twoProviderArgs(),
      executor: { context: __dirname, dockerfile: FIXTURE_DOCKERFILE, tag: "v2" },
      sandbox: { enabled: false },
    };
    const { resources, room } = await runRoom(args);
    const repo = one(resources, "gcp:artifactregistry/repository:Repository", "research-executor-repo");
    expect(repo.inputs).to.deep.include({ format: "DOCKER", repositoryId: "research-executor", dockerConfig: { immutableTags: true } });
    const image = one(resources, "docker:index/image:Image", "research-executor-image");
    expect(image.inputs.imageName).to.equal(`${REGION}-docker.pkg.dev/${PROJECT}/research-executor/executor:v2`);
    expect(image.inputs.build).to.deep.include({ dockerfile: FIXTURE_DOCKERFILE, platform: "linux/amd64" });
    const digest = room.descriptor.executor.imageDigest;
    expect(digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(ofType(resources, POOL_PROVIDER)[0]!.inputs.attributeCondition).to.include(`image_digest == '${digest}'`);
    const pull = ofType(resources, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")[0]!;
    expect(pull.inputs).to.deep.include({ project: PROJECT, location: REGION, repository: "research-executor", role: ROLES.artifactReader });
  });

  it("GIVEN grants WHEN made THEN each adds bucket and key roles as *IAMMember resources and returns exactly what it created", async () => {
    const roomArgs: DataCleanRoomArgs = { ...twoProviderArgs(), sandbox: { enabled: false } };
    const baseline = new Set((await runRoom(roomArgs)).resources.map((r) => r.urn));
    const run = await runProgramUnderMocks(() => {
      const room = new DataCleanRoom("research", roomArgs);
      const submit = room.grantSubmit("user:analyst@acme.example");
      const explore = room.grantExplore("user:analyst@acme.example");
      const provision = room.provider("hospital").grantProvision("group:stewards@hospital.example");
      const release = room.provider("hospital").grantRelease("group:stewards@hospital.example");
      expect(() => room.grantSubmit("allUsers")).to.throw(/allUsers and allAuthenticatedUsers are never allowed/);
      expect(() => room.provider("nobody")).to.throw(/no provider "nobody".*hospital, insurer/);
      const urns = (rs: pulumi.Resource[]) => rs.map((r) => r.urn);
      return {
        submit: urns([...submit.bucketMembers, ...submit.keyMembers, ...submit.computeMembers]),
        explore: urns([...explore.bucketMembers, ...explore.keyMembers]),
        provision: urns([...provision.bucketMembers, ...provision.keyMembers]),
        release: urns([...release.bucketMembers, ...release.keyMembers]),
        counts: [submit.bucketMembers.length, submit.keyMembers.length, submit.computeMembers.length, explore.bucketMembers.length],
        provisionCounts: [provision.bucketMembers.length, provision.keyMembers.length],
        releaseCounts: [release.bucketMembers.length, release.keyMembers.length],
      };
    });
    const out = run.outputs as Record<"submit" | "explore" | "provision" | "release", string[]> & Record<string, number[]>;
    // Submit: jobs (create, view) and results; not quarantine, which the disclosure checks (default review) may hold.
    expect([out.counts, out.provisionCounts, out.releaseCounts]).to.deep.equal([[3, 0, 5, 1], [3, 1], [2, 0]]);
    // What the grants returned is exactly what they added to the plan: nothing hidden, nothing missing.
    const added = run.resources.filter((r) => !baseline.has(r.urn));
    expect(added.map((r) => r.urn).sort()).to.deep.equal([...out.submit, ...out.explore, ...out.provision, ...out.release].sort());
    // Non-authoritative bindings only: a grant never removes anyone else's access.
    for (const r of added) expect(r.type, r.name).to.match(/IamMember$|IAMMember$/i);

    const analyst = run.resources.filter((r) => r.inputs.member === "user:analyst@acme.example");
    const projectLevel = analyst.filter((r) => r.type === PROJECT_MEMBER);
    // The name-conditioned instance role, and the custom operations role (zone operations only) the runtime polls with.
    expect(projectLevel.map((r) => r.inputs.role)).to.deep.equal([ROLES.instanceAdmin, `projects/${PROJECT}/roles/${PREFIX}_job_operations`]);
    const condition = projectLevel[0]!.inputs.condition as { expression: string };
    expect(condition.expression).to.equal(
      `resource.name.startsWith("projects/${PROJECT}/zones/${REGION}-b/instances/${PREFIX}-job-") || ` +
        `resource.name.startsWith("projects/${PROJECT}/zones/${REGION}-b/disks/${PREFIX}-job-")`,
    );
    // The analyst never reaches a provider's key or data bucket.
    const providerBuckets = ["hospital", "insurer"].map((p) => one(run.resources, BUCKET, `research-${p}-data`).inputs.name);
    expect(analyst.filter((r) => r.type === KEY_MEMBER)).to.deep.equal([]);
    expect(analyst.filter((r) => providerBuckets.includes(r.inputs.bucket as string))).to.deep.equal([]);
    const steward = run.resources.filter((r) => r.inputs.member === "group:stewards@hospital.example");
    const keyRoles = steward.filter((r) => r.type === KEY_MEMBER).map((r) => r.inputs.role);
    // Provisioning staff wrap data keys but can never unwrap them.
    expect(keyRoles).to.deep.equal([ROLES.encrypter]);
    const stage1 = steward.find((r) => r.type === BUCKET_MEMBER && r.inputs.role === ROLES.objectCreator && r.inputs.condition !== undefined);
    expect((stage1!.inputs.condition as { expression: string }).expression).to.match(/objects\/hospital\/"\)$/);

    // Even with every grant made, only attested executor runs can write the quarantine bucket, and results are
    // read by the consumer (released there by the steward).
    const bucketGrants = (role: string) =>
      iamResources(run.resources)
        .filter((r) => r.type.startsWith("gcp:storage/") && r.inputs.bucket === one(run.resources, BUCKET, `research-storage-${role}`).inputs.name)
        .flatMap(iamGrants);
    const quarantineWriters = bucketGrants("quarantine").filter((g) => g.role !== ROLES.objectViewer);
    expect(quarantineWriters).to.deep.equal([{ role: ROLES.objectCreator, member: imageDigestPrincipalSet(POOL_NAME, IMAGE_DIGEST) }]);
    expect(bucketGrants("results").map((g) => `${g.role} ${g.member}`).sort()).to.deep.equal([
      `${ROLES.objectCreator} group:stewards@hospital.example`,
      `${ROLES.objectViewer} user:analyst@acme.example`,
    ]);
  });

  it("GIVEN the GPU settings WHEN planned THEN the template uses the preview family, flex-start and the GPU driver", async () => {
    const { resources } = await runRoom({
      ...twoProviderArgs(),
      confidentialVm: { gpu: true, provisioningModel: "FLEX_START", maxRunDurationHours: 12, bootDiskSizeGb: 100 },
      // A job limit beyond the reservation: the reservation's 12 hours bound the VM.
      jobs: { timeoutSeconds: 86_400 },
      sandbox: { enabled: false },
    });
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect((t.disks as Array<{ sourceImage: string; diskSizeGb: number }>)[0]).to.deep.include({
      sourceImage: "projects/confidential-space-images/global/images/family/confidential-space-preview-cgpu",
      diskSizeGb: 100,
    });
    expect(t.machineType).to.equal("a3-highgpu-1g");
    expect(t.scheduling).to.deep.include({ provisioningModel: "FLEX_START", instanceTerminationAction: "DELETE", maxRunDuration: { seconds: 43200 } });
    expect((t.metadata as Record<string, string>)["tee-install-gpu-driver"]).to.equal("true");
  });
});

describe("components: VM shapes, protection and the sandbox's login", function () {
  this.timeout(60_000);

  it("GIVEN jobs.timeoutSeconds WHEN planned THEN the descriptor records it and Compute Engine deletes a job VM after the limit plus the grace", async () => {
    const { resources, room } = await runRoom({ ...twoProviderArgs(), jobs: { timeoutSeconds: 600 }, sandbox: { enabled: false } });
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect(t.scheduling).to.deep.include({ provisioningModel: "STANDARD", instanceTerminationAction: "DELETE", maxRunDuration: { seconds: 600 + JOB_VM_GRACE_SECONDS } });
    expect(room.descriptor.jobs).to.deep.equal({ timeoutSeconds: 600 });
    expect(loadDescriptor(room.descriptor).jobs).to.deep.equal({ timeoutSeconds: 600 });
  });

  it("GIVEN no jobs section WHEN planned THEN jobs get 6 hours and their VMs 6 hours plus the grace", async () => {
    const { resources, room } = await runRoom({ ...twoProviderArgs(), sandbox: { enabled: false } });
    expect(ofType(resources, TEMPLATE)[0]!.inputs.scheduling).to.deep.include({ instanceTerminationAction: "DELETE", maxRunDuration: { seconds: 21_600 + JOB_VM_GRACE_SECONDS } });
    expect(room.descriptor.jobs).to.deep.equal({ timeoutSeconds: 21_600 });
  });

  it("GIVEN a job limit out of bounds WHEN constructed THEN it is refused before any resource exists", () => {
    expect(() => new DataCleanRoom("research", { ...twoProviderArgs(), jobs: { timeoutSeconds: 0 }, sandbox: { enabled: false } })).to.throw(/jobs\.timeoutSeconds must be a whole number of seconds from 1 to 604800/);
  });

  it("GIVEN teeType SEV and a custom machine type and disk WHEN planned THEN the template and the condition follow, still TERMINATE", async () => {
    const { resources } = await runRoom({
      ...twoProviderArgs(),
      confidentialVm: { teeType: "SEV", machineType: "n2d-standard-8", bootDiskSizeGb: 64 },
      sandbox: { enabled: false },
    });
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect(t.confidentialInstanceConfig).to.deep.equal({ confidentialInstanceType: "SEV" });
    expect(t.machineType).to.equal("n2d-standard-8");
    expect((t.disks as Array<{ diskSizeGb: number; sourceImage: string }>)[0]).to.deep.include({
      diskSizeGb: 64,
      sourceImage: "projects/confidential-space-images/global/images/family/confidential-space",
    });
    expect(t.scheduling).to.deep.include({ onHostMaintenance: "TERMINATE", provisioningModel: "STANDARD" });
    expect(t.networkInterfaces).to.deep.equal([{ subnetwork: `projects/${PROJECT}/regions/${REGION}/subnetworks/${PREFIX}-tee` }]);
    const condition = ofType(resources, POOL_PROVIDER)[0]!.inputs.attributeCondition as string;
    // A token from TDX hardware does not open a room that launches SEV VMs, and the reverse.
    expect(evaluateAttestationCondition(condition, { ...goodClaims(), hwmodel: "GCP_AMD_SEV" }).allowed).to.equal(true);
    expect(evaluateAttestationCondition(condition, goodClaims()).allowed).to.equal(false);
  });

  it("GIVEN the SEV default machine type WHEN planned THEN it is an N2D", async () => {
    const { resources } = await runRoom({ ...twoProviderArgs(), confidentialVm: { teeType: "SEV" }, sandbox: { enabled: false } });
    expect(ofType(resources, TEMPLATE)[0]!.inputs.machineType).to.equal("n2d-standard-2");
  });

  it("GIVEN a spot H100 WHEN planned THEN the template is preemptible, deleted on termination, with the GPU driver and no debug label", async () => {
    const { resources } = await runRoom({ ...twoProviderArgs(), confidentialVm: { gpu: true }, sandbox: { enabled: false } });
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect(t.scheduling).to.deep.equal({
      onHostMaintenance: "TERMINATE",
      automaticRestart: false,
      provisioningModel: "SPOT",
      instanceTerminationAction: "DELETE",
      maxRunDuration: { seconds: 6 * 3600 + JOB_VM_GRACE_SECONDS },
      preemptible: true,
    });
    expect(t.confidentialInstanceConfig).to.deep.equal({ confidentialInstanceType: "TDX" });
    expect((t.metadata as Record<string, string>)["tee-install-gpu-driver"]).to.equal("true");
    expect((t.disks as Array<{ sourceImage: string }>)[0]!.sourceImage).to.match(/family\/confidential-space-preview-cgpu$/);
    expect(t.labels).to.deep.equal({ "cleanroom-room": PREFIX, "cleanroom-role": "executor" });
  });

  it("GIVEN a GPU room with allowDebug WHEN planned THEN the debug preview family is used and the template says so in a label", async () => {
    const { resources } = await runRoom({
      ...twoProviderArgs(),
      attestation: { allowDebug: true },
      confidentialVm: { gpu: true },
      sandbox: { enabled: false },
    });
    const t = ofType(resources, TEMPLATE)[0]!.inputs;
    expect((t.disks as Array<{ sourceImage: string }>)[0]!.sourceImage).to.match(/family\/confidential-space-debug-preview-cgpu$/);
    expect(t.labels).to.deep.include({ "cleanroom-allow-debug": "true" });
    // Without debug log redirect the account gets no logWriter.
    expect(projectLevelGrants(resources).map(([role]) => role)).to.deep.equal([ROLES.workloadUser]);
  });

  it("GIVEN the room WHEN constructed THEN every KMS key is protected and the buckets are not", async () => {
    const run = await runProgramUnderMocks(() => {
      const room = new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { enabled: false } });
      const flag = (r: pulumi.Resource) => (r as unknown as { __protect?: unknown }).__protect;
      return {
        keys: [...room.providers.values()].map((p) => flag(p.key)).concat(flag(room.storage.key)),
        buckets: [...room.providers.values()].map((p) => flag(p.bucket) === true),
      };
    });
    expect(run.outputs).to.deep.equal({ keys: [true, true, true], buckets: [false, false] });
  });
});

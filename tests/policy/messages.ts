/**
 * What the pack tells a reviewer: every violation message of every rule, for a catalogue of resources each broken in
 * one field, as one text file (tests/golden/policy-messages.txt). A message is the rule's whole output to a person —
 * which resource, what is wrong, what to set instead — so a change to any of them shows in the diff.
 * `npm run golden` rewrites the file; messages.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import {
  CS_DEBUG_IMAGE,
  POOL_NAME,
  PROJECT,
  T,
  WORKLOAD_SA,
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
  pool,
  poolProvider,
  projectIamBinding,
  projectIamMember,
  projectIamPolicy,
} from "./fixtures/happy.js";
import { type PlannedResource, UNKNOWN_STRING, runPack } from "./helpers.js";

/** The golden file. */
export const POLICY_MESSAGES_GOLDEN = path.join(__dirname, "..", "golden", "policy-messages.txt");

const WHOLE_POOL = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;
const PROD = "assertion.dbgstat == 'disabled-since-boot'";
const PIN = `assertion.submods.container.image_digest == 'sha256:${"c".repeat(64)}'`;
const NO_DIGEST = `assertion.swname == 'CONFIDENTIAL_SPACE' && ${PROD}`;
const DATA_SA = `data-sa@${PROJECT}.iam.gserviceaccount.com`;

interface Case {
  readonly name: string;
  readonly resources: () => PlannedResource[];
  /** Per-policy configuration, as `--policy-pack-config` gives it. */
  readonly config?: Record<string, Record<string, unknown>>;
}

const provider = (condition: string | undefined) => broken(poolProvider(), "attributeCondition", condition);
const policyData = (role: string, member: string) => JSON.stringify({ bindings: [{ role, members: [member] }] });
const as = (r: PlannedResource, type: string, name = r.name): PlannedResource => ({ ...r, type, name });
const withJobDigestMapping = (expression: string): PlannedResource => {
  const props = structuredClone(poolProvider().props) as { attributeMapping: Record<string, string> };
  props.attributeMapping["attribute.job_digest"] = expression;
  return { ...poolProvider(), props };
};
const saGrant = (type: string, name: string, props: Record<string, unknown>): PlannedResource => ({
  type,
  name,
  props: { serviceAccountId: `projects/${PROJECT}/serviceAccounts/${DATA_SA}`, ...props },
});
const ledgerGrant = (props: Record<string, unknown>, extra: Partial<PlannedResource> = {}): PlannedResource => ({
  type: T.bucketIamMember,
  name: "acme-ledger",
  props: { bucket: "acme-objects-1a2b", role: "roles/storage.objectCreator", member: `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.job_digest/sha256:${"b".repeat(64)}`, ...props },
  ...extra,
});

/** One case per message (or message variant) of each rule. */
const CASES: readonly Case[] = [
  // Rule 1
  { name: "instance with a public IP", resources: () => [broken(csInstance(), "networkInterfaces.0.accessConfigs", [{}])] },
  { name: "template with an IPv6 public IP", resources: () => [broken(csInstanceTemplate(), "networkInterfaces.0.ipv6AccessConfigs", [{}])] },
  { name: "regional template with a public IP", resources: () => [as(broken(csInstanceTemplate(), "networkInterfaces.0.accessConfigs", [{}]), "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate")] },
  { name: "secure boot off", resources: () => [broken(csInstance(), "shieldedInstanceConfig.enableSecureBoot", false)] },
  { name: "no confidential instance type", resources: () => [broken(csInstance(), "confidentialInstanceConfig", undefined)] },
  { name: "debug image", resources: () => [broken(csInstance(), "bootDisk.initializeParams.image", CS_DEBUG_IMAGE)] },
  { name: "TDX that migrates", resources: () => [broken(csInstance(), "scheduling.onHostMaintenance", "MIGRATE")] },
  // Rule 2
  { name: "provider without a condition", resources: () => [provider(undefined)] },
  { name: "provider with a condition that is not CEL", resources: () => [provider("assertion.swname ==")] },
  { name: "provider with too many alternatives", resources: () => [provider(Array.from({ length: 65 }, (_, i) => `assertion.a == '${i}'`).join(" || "))] },
  { name: "provider whose condition is true", resources: () => [provider("true")] },
  { name: "provider checking swname only", resources: () => [provider("assertion.swname == 'CONFIDENTIAL_SPACE'")] },
  { name: "provider without a production check", resources: () => [provider(`assertion.swname == 'CONFIDENTIAL_SPACE' && ${PIN}`)] },
  { name: "provider without a digest pin", resources: () => [provider(NO_DIGEST)] },
  { name: "provider with a weak || alternative", resources: () => [provider(`${PROD} && ${PIN} || true || assertion.swname == 'CONFIDENTIAL_SPACE'`)] },
  // Rule 3
  { name: "key without rotation", resources: () => [broken(cryptoKey(), "rotationPeriod", undefined)] },
  { name: "key rotating every 90 days, 30 allowed", resources: () => [cryptoKey()], config: { "kms-key-rotation": { maxRotationDays: 30 } } },
  { name: "public decrypter", resources: () => [broken(decrypterMember(), "member", "allUsers")] },
  { name: "whole-pool decrypters in every flavour", resources: () => [
    broken(decrypterMember(), "member", WHOLE_POOL),
    broken(decrypterBinding(), "members", [WHOLE_POOL]),
    broken(decrypterPolicy(), "policyData", policyData("roles/cloudkms.cryptoKeyDecrypter", WHOLE_POOL)),
    as(broken(decrypterMember(), "member", WHOLE_POOL), T.keyRingIamMember, "ring-member"),
    as(broken(decrypterBinding(), "members", [WHOLE_POOL]), "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding", "ring-binding"),
    as(broken(decrypterPolicy(), "policyData", policyData("roles/owner", WHOLE_POOL)), "gcp:kms/keyRingIAMPolicy:KeyRingIAMPolicy", "ring-policy"),
  ] },
  { name: "key policyData that is not JSON", resources: () => [broken(decrypterPolicy(), "policyData", "{")] },
  // Rule 4
  { name: "bucket without uniform access or public access prevention", resources: () => [broken(broken(bucket(), "uniformBucketLevelAccess", undefined), "publicAccessPrevention", "inherited")] },
  { name: "data bucket (label) without CMEK", resources: () => [broken(dataBucket(), "encryption", undefined)] },
  { name: "data bucket (name) without CMEK", resources: () => [broken(broken(broken(dataBucket(), "labels", undefined), "encryption", undefined), "name", "acme-raw")] },
  { name: "data bucket (auto-name) without CMEK", resources: () => [as(broken(broken(broken(dataBucket(), "labels", undefined), "encryption", undefined), "name", undefined), T.bucket, "acme-data")] },
  { name: "public bucket grants in every flavour", resources: () => [
    broken(bucketIamMember(), "member", "allUsers"),
    { type: T.bucketIamBinding, name: "public-binding", props: { bucket: "b", role: "roles/storage.objectViewer", members: ["allAuthenticatedUsers"] } },
    { type: T.bucketIamPolicy, name: "public-policy", props: { bucket: "b", policyData: policyData("roles/storage.objectViewer", "allUsers") } },
    broken(broken(bucketIamMember(), "member", "allUsers"), "role", UNKNOWN_STRING),
  ] },
  { name: "bucket policyData that is not JSON", resources: () => [{ type: T.bucketIamPolicy, name: "bad-policy", props: { bucket: "b", policyData: "{" } }] },
  // Rule 5
  { name: "forbidden project roles in every flavour", resources: () => [
    broken(projectIamMember(), "role", "roles/storage.objectAdmin"),
    broken(projectIamBinding(), "role", "roles/cloudkms.admin"),
    broken(projectIamPolicy(), "policyData", policyData("roles/editor", `serviceAccount:${WORKLOAD_SA}`)),
  ] },
  { name: "forbidden project role for an unknown member", resources: () => [broken(broken(projectIamMember(), "role", "roles/owner"), "member", UNKNOWN_STRING)] },
  { name: "project policyData that is not JSON", resources: () => [broken(projectIamPolicy(), "policyData", "{")] },
  // Rule 6
  { name: "GKE cluster with every weakness", resources: () => [
    broken(
      broken(broken(broken(broken(cluster(), "privateClusterConfig", undefined), "workloadIdentityConfig", undefined), "datapathProvider", "LEGACY_DATAPATH"), "enableLegacyAbac", true),
      "masterAuth",
      { username: "admin", password: "x", clientCertificateConfig: { issueClientCertificate: true } },
    ),
  ] },
  // Rule 7
  { name: "decrypter for a pool not in the stack", resources: () => [decrypterMember()] },
  { name: "decrypter for a pool without a provider", resources: () => [pool(), decrypterMember()] },
  { name: "decrypter for a pool that also trusts GitHub", resources: () => [pool(), poolProvider(), as(broken(poolProvider(), "oidc.issuerUri", "https://token.actions.githubusercontent.com"), T.poolProvider, "github"), decrypterMember()] },
  { name: "decrypter for a pool with a weak provider", resources: () => [pool(), provider(NO_DIGEST), decrypterMember()] },
  { name: "decrypter selecting a constant-mapped attribute", resources: () => [pool(), withJobDigestMapping("'x'"), decrypterMember()] },
  { name: "decrypter to a service account the whole pool impersonates", resources: () => [
    pool(),
    provider(NO_DIGEST),
    broken(decrypterMember(), "member", `serviceAccount:${DATA_SA}`),
    saGrant(T.serviceAccountIamMember, "pool-impersonates", { role: "roles/iam.workloadIdentityUser", member: WHOLE_POOL }),
  ] },
  { name: "decrypter (unknown) to an Account (unknown) the whole pool impersonates", resources: () => [
    pool(),
    provider(NO_DIGEST),
    { type: T.account, name: "data-sa", props: { accountId: "data-sa" } },
    { ...broken(decrypterMember(), "member", UNKNOWN_STRING), propertyDependencies: { member: ["data-sa"] } },
    { ...saGrant(T.serviceAccountIamMember, "pool-impersonates", { serviceAccountId: UNKNOWN_STRING, role: "roles/iam.workloadIdentityUser", member: WHOLE_POOL }), propertyDependencies: { serviceAccountId: ["data-sa"] } },
  ] },
  // Rule 8
  { name: "job VMs' account creating on the data bucket", resources: () => [pool(), poolProvider(), dataBucket(), ledgerGrant({ member: `serviceAccount:${WORKLOAD_SA}` })] },
  { name: "ledger grant without a condition", resources: () => [pool(), poolProvider(), dataBucket(), ledgerGrant({})] },
  { name: "ledger grant without a condition, bucket name unknown", resources: () => [
    pool(),
    poolProvider(),
    broken(dataBucket(), "name", undefined),
    ledgerGrant({ bucket: UNKNOWN_STRING }, { propertyDependencies: { bucket: ["acme-bucket"] } }),
  ] },
  { name: "ledger grant with a condition unknown until deployment", resources: () => [pool(), poolProvider(), dataBucket(), ledgerGrant({ condition: UNKNOWN_STRING })] },
  { name: "ledger grant with a condition that does not confine it", resources: () => [pool(), poolProvider(), dataBucket(), ledgerGrant({ condition: { title: "t", expression: "request.time < timestamp('2030-01-01T00:00:00Z')" } })] },
  { name: "ledger grant reaching two other folders", resources: () => [
    pool(),
    poolProvider(),
    dataBucket(),
    ledgerGrant({ condition: { title: "t", expression: "resource.name.startsWith('projects/_/buckets/acme-objects-1a2b/objects/a/') || resource.name.startsWith('projects/_/buckets/acme-objects-1a2b/objects/b/')" } }),
  ] },
  { name: "workloads overwriting the data bucket", resources: () => [pool(), poolProvider(), dataBucket(), ledgerGrant({ role: "roles/storage.objectAdmin" })] },
  // Rule 9
  { name: "whole pool impersonating in every flavour", resources: () => [
    saGrant(T.serviceAccountIamMember, "sa-member", { role: "roles/iam.workloadIdentityUser", member: WHOLE_POOL }),
    saGrant("gcp:serviceaccount/iAMBinding:IAMBinding", "sa-binding", { role: "roles/iam.serviceAccountTokenCreator", members: [WHOLE_POOL] }),
    saGrant("gcp:serviceaccount/iAMPolicy:IAMPolicy", "sa-policy", { policyData: policyData("roles/iam.workloadIdentityUser", WHOLE_POOL) }),
  ] },
  { name: "service-account policyData that is not JSON", resources: () => [saGrant("gcp:serviceaccount/iAMPolicy:IAMPolicy", "sa-policy", { policyData: "{" })] },
];

/** The golden text: each case, then each violation as `[policy] resource: message`. */
export async function policyMessagesText(): Promise<string> {
  const out: string[] = [];
  for (const c of CASES) {
    out.push(`## ${c.name}`);
    for (const v of await runPack(allPolicies, c.resources(), c.config)) out.push(`[${v.policy}] ${v.resource}: ${v.message}`);
    out.push("");
  }
  return out.join("\n");
}

/** The committed golden text, or undefined when missing. */
export function readPolicyMessagesGolden(): string | undefined {
  try {
    return readFileSync(POLICY_MESSAGES_GOLDEN, "utf8");
  } catch {
    return undefined;
  }
}

/** Rewrites the golden file; returns its path relative to the working directory. */
export async function updatePolicyMessagesGolden(): Promise<string> {
  writeFileSync(POLICY_MESSAGES_GOLDEN, await policyMessagesText());
  return path.relative(process.cwd(), POLICY_MESSAGES_GOLDEN);
}

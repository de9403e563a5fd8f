/**
 * Rule 8 (stack) — on a provider's data bucket, the job VMs' identities read, and create objects only under
 * `.dp-ledger/` (the datasets' privacy ledgers): never overwrite, delete or administer, and never anything for the
 * job VMs' service account beyond reading.
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { objectNamePrefixes } from "../lib/condition.js";
import { type IamGrant, grantsOf, iamFlavour, parsePoolPrincipal } from "../lib/iam.js";
import { UNKNOWN, asString, readProp } from "../lib/values.js";
import { type BucketConfig, DATA_BUCKET_NAME_PATTERN, DATA_ROLE_VALUES, ROLE_LABEL, dataBucketReason } from "./storage.js";

const BUCKET_TYPE = "gcp:storage/bucket:Bucket";
const POOL_TYPE = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool";
const POOL_PROVIDER_TYPE = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const STORAGE_IAM_PREFIX = "gcp:storage/bucketIAM";

/**
 * The folder of a data bucket that holds the datasets' privacy ledgers (core's `LEDGER_FOLDER`; the pack is
 * self-contained, tests/policy/self-contained.test.ts keeps them equal).
 */
export const LEDGER_FOLDER = ".dp-ledger";
/** The role that reads a data bucket (the job's ciphertext and wrapped key; the provider's key is the gate). */
const READ_ROLE = "roles/storage.objectViewer";
/** The role that appends ledger entries: create only (no overwrite, no delete). */
const LEDGER_ROLE = "roles/storage.objectCreator";

/** A data bucket of the stack: its physical name when known. */
interface DataBucket {
  readonly name?: string;
  readonly resource: PolicyResource;
}

/** Service accounts a Confidential Space pool provider's condition pins (`'<email>' in assertion.google_service_accounts`). */
function jobVmAccounts(resources: readonly PolicyResource[]): Set<string> {
  const out = new Set<string>();
  for (const p of resources.filter((r) => r.type === POOL_PROVIDER_TYPE)) {
    const condition = asString(readProp(p.props, "attributeCondition")) ?? "";
    for (const m of condition.matchAll(/['"]([^'"\s]+@[^'"\s]+)['"]\s+in\s+assertion\.google_service_accounts/g)) out.add(m[1]!.toLowerCase());
  }
  return out;
}

/** Which grantee a grant names, as far as this rule cares. */
function granteeKind(r: PolicyResource, grant: IamGrant, accounts: ReadonlySet<string>): "workload" | "job-vm-account" | undefined {
  const member = grant.member;
  if (member === UNKNOWN) {
    // At preview a principal set computed from a pool's name is unknown; the engine still says where it came from.
    const deps = ["member", "members", "policyData"].flatMap((p) => r.propertyDependencies?.[p] ?? []);
    return deps.some((d) => d.type === POOL_TYPE) ? "workload" : undefined;
  }
  if (parsePoolPrincipal(member)?.poolType === "workload") return "workload";
  if (member.startsWith("serviceAccount:") && accounts.has(member.slice("serviceAccount:".length).toLowerCase())) return "job-vm-account";
  return undefined;
}

/** Why a ledger grant's condition does not confine it to `<bucket>/.dp-ledger/`, or undefined when it does. */
function ledgerConditionProblem(condition: IamGrant["condition"], bucket: string | undefined): string | undefined {
  const folder = `objects/${LEDGER_FOLDER}/`;
  const want = bucket === undefined ? `projects/_/buckets/<bucket>/${folder}` : `projects/_/buckets/${bucket}/${folder}`;
  if (condition === undefined) return `has no condition, so it may create any object in the bucket (beside the data, or under its names before they are provisioned)`;
  if (condition === UNKNOWN) return "has a condition not known until deployment, so its scope cannot be reviewed";
  const prefixes = objectNamePrefixes(condition);
  if (prefixes === undefined) return `has a condition (\`${condition}\`) that some alternative satisfies without \`resource.name.startsWith('${want}…')\``;
  const outside = prefixes.filter((p) => !(bucket === undefined ? /^projects\/_\/buckets\/[^/]+\//.test(p) && p.slice(p.indexOf("/objects/") + 1).startsWith(folder) : p.startsWith(want)));
  if (outside.length > 0) return `reaches objects outside ${want} (\`${outside.join("`, `")}\`)`;
  return undefined;
}

function validateDataBuckets(args: StackValidationArgs, report: ReportViolation): void {
  const config = args.getConfig<BucketConfig>();
  const byName = new Map<string, DataBucket>();
  const byUrn = new Map<string, DataBucket>();
  for (const b of args.resources.filter((r) => r.type === BUCKET_TYPE)) {
    if (dataBucketReason(b.props as Record<string, unknown>, b.name, config) === undefined) continue;
    const name = asString(readProp(b.props, "name"));
    const entry: DataBucket = name === undefined ? { resource: b } : { name, resource: b };
    byUrn.set(b.urn, entry);
    if (name !== undefined) byName.set(name, entry);
  }
  if (byUrn.size === 0) return;
  const accounts = jobVmAccounts(args.resources);
  for (const r of args.resources) {
    if (!r.type.startsWith(STORAGE_IAM_PREFIX) || iamFlavour(r.type) === undefined) continue;
    const named = asString(readProp(r.props, "bucket"));
    const target = (named === undefined ? undefined : byName.get(named)) ?? (r.propertyDependencies?.["bucket"] ?? []).map((d) => byUrn.get(d.urn)).find((b) => b !== undefined);
    if (target === undefined) continue;
    let grants: IamGrant[];
    try {
      grants = grantsOf(r.type, r.props);
    } catch {
      continue; // storage-bucket-iam-not-public reports unreadable policyData
    }
    const where = `data bucket '${target.name ?? target.resource.name}'`;
    for (const grant of grants) {
      const kind = granteeKind(r, grant, accounts);
      if (kind === undefined) continue;
      const who = grant.member === UNKNOWN ? "a workload identity (known at deployment)" : grant.member;
      const role = grant.role === UNKNOWN ? "a role not known until deployment" : grant.role;
      if (kind === "job-vm-account") {
        if (grant.role === READ_ROLE) continue;
        report(
          `'${r.name}' grants ${role} on ${where} to ${who}, the service account the job VMs run as: every submitter may attach ` +
            "it to a VM of their own (grantSubmit gives them serviceAccountUser on it), which could then write there, e.g. forge " +
            `privacy-ledger entries. Grant ${LEDGER_ROLE} under ${LEDGER_FOLDER}/ to the attested principal sets of the provider's ` +
            "own pool instead (DataProvider does).",
          r.urn,
        );
        continue;
      }
      if (grant.role === READ_ROLE) continue;
      if (grant.role === LEDGER_ROLE) {
        const problem = ledgerConditionProblem(grant.condition, target.name);
        if (problem === undefined) continue;
        report(
          `'${r.name}' lets ${who} create objects on ${where} but ${problem}. Confine it with the IAM condition ` +
            `\`resource.name.startsWith("projects/_/buckets/${target.name ?? "<bucket>"}/objects/${LEDGER_FOLDER}/")\` (DataProvider does).`,
          r.urn,
        );
        continue;
      }
      report(
        `'${r.name}' grants ${role} on ${where} to ${who}: job VMs may only read a data bucket (${READ_ROLE}) and append ` +
          `privacy-ledger entries (${LEDGER_ROLE} under ${LEDGER_FOLDER}/); a role that overwrites or deletes objects lets an ` +
          "approved job destroy the provider's data or rewrite its privacy ledger. Remove it.",
        r.urn,
      );
    }
  }
}

/**
 * On a provider's data bucket (rule 4's definition: label `cleanroom-role=data`, or the name pattern), a workload
 * identity pool principal may hold `roles/storage.objectViewer`, and `roles/storage.objectCreator` only under an IAM
 * condition that confines it to `projects/_/buckets/<bucket>/objects/.dp-ledger/` in every alternative; no other role.
 * The job VMs' service account (the one a Confidential Space pool provider's condition pins) may hold nothing but
 * `roles/storage.objectViewer` there.
 */
export const dataBucketWorkloadScoped: StackValidationPolicy = {
  name: "data-bucket-workload-scoped",
  description:
    "On a provider's data bucket, job VM identities only read and append privacy-ledger entries (objectCreator " +
    "conditioned to .dp-ledger/); the job VMs' service account only reads.",
  severity: "high",
  configSchema: {
    properties: {
      dataLabel: { type: "string", default: ROLE_LABEL },
      dataLabelValues: { type: "array", items: { type: "string" }, default: [...DATA_ROLE_VALUES] },
      dataNamePattern: { type: "string", default: DATA_BUCKET_NAME_PATTERN },
    },
  },
  validateStack: validateDataBuckets,
};

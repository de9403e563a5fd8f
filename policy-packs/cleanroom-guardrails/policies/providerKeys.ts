/**
 * Rule 7 (stack) — every decrypt grant on a provider's key that goes to workload identities goes to a pool whose
 * providers all pass rule 2.
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { conditionProblems, isConfidentialSpaceIssuer, mappingProblem } from "../lib/condition.js";
import { DECRYPT_ROLES, type IamGrant, grantsOf, iamFlavour, parsePoolPrincipal } from "../lib/iam.js";
import { UNKNOWN, asString, readProp } from "../lib/values.js";

const POOL_TYPE = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool";
const POOL_PROVIDER_TYPE = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const ACCOUNT_TYPE = "gcp:serviceaccount/account:Account";
const KMS_IAM_PREFIXES = ["gcp:kms/cryptoKeyIAM", "gcp:kms/keyRingIAM"];
const SA_IAM_PREFIX = "gcp:serviceaccount/iAM";
/** Roles that let a pool identity act as a service account (and so use that account's key grants). */
const IMPERSONATION_ROLES: ReadonlySet<string> = new Set([
  "roles/iam.workloadIdentityUser",
  "roles/iam.serviceAccountTokenCreator",
]);

/** A pool a grant reaches, how, and through which mapped attribute (when the member selects by one). */
interface PoolReach {
  readonly poolId: string;
  readonly via: string;
  readonly attribute?: string;
}

/** The pool and mapped attribute a known member selects: `…/attribute.job_digest/<v>` → `attribute.job_digest`. */
interface PoolSelection {
  readonly poolId: string;
  readonly attribute?: string;
}

/** Which attribute of the pool's mapping a member's selector reads (`subject/…` → `google.subject`). */
function selectedAttribute(selector: string): string | undefined {
  const slash = selector.indexOf("/");
  const head = slash === -1 ? selector : selector.slice(0, slash);
  if (head === "subject") return "google.subject";
  if (head === "group") return "google.groups";
  return head.startsWith("attribute.") ? head : undefined;
}

function isKmsIam(r: PolicyResource): boolean {
  return iamFlavour(r.type) !== undefined && KMS_IAM_PREFIXES.some((p) => r.type.startsWith(p));
}

function isServiceAccountIam(r: PolicyResource): boolean {
  return iamFlavour(r.type) !== undefined && r.type.startsWith(SA_IAM_PREFIX);
}

function poolIdOf(r: PolicyResource): string | undefined {
  return asString(readProp(r.props, "workloadIdentityPoolId"));
}

/** The resources a property of `r` was computed from (what preview knows when the value itself is unknown). */
function dependenciesOf(r: PolicyResource, props: readonly string[]): PolicyResource[] {
  return props.flatMap((p) => r.propertyDependencies?.[p] ?? []);
}

function grantsSafely(r: PolicyResource): IamGrant[] {
  try {
    return grantsOf(r.type, r.props);
  } catch {
    return []; // rules 3 and 5 report unreadable policyData
  }
}

/** Pools whose identities a member of `r` names: parsed from the member, or (at preview) from its dependencies. */
function poolsOfMember(r: PolicyResource, member: string | typeof UNKNOWN): PoolSelection[] {
  if (member !== UNKNOWN) {
    const p = parsePoolPrincipal(member);
    if (p?.poolType !== "workload") return [];
    const attribute = selectedAttribute(p.selector);
    return [attribute === undefined ? { poolId: p.poolId } : { poolId: p.poolId, attribute }];
  }
  return dependenciesOf(r, ["member", "members", "policyData"])
    .filter((d) => d.type === POOL_TYPE)
    .map(poolIdOf)
    .filter((id): id is string => id !== undefined)
    .map((poolId) => ({ poolId }));
}

/** The service account a member names: its email, or (at preview) the Account resource it was computed from. */
function accountKeysOfMember(r: PolicyResource, member: string | typeof UNKNOWN): string[] {
  if (member !== UNKNOWN) {
    return member.startsWith("serviceAccount:") ? [member.slice("serviceAccount:".length).toLowerCase()] : [];
  }
  return dependenciesOf(r, ["member", "members", "policyData"])
    .filter((d) => d.type === ACCOUNT_TYPE)
    .map((d) => `urn:${d.urn}`);
}

/** Keys (email and Account URN) of the service account an `serviceaccount` IAM resource is about. */
function accountKeysOfTarget(r: PolicyResource): string[] {
  const keys: string[] = [];
  const id = readProp(r.props, "serviceAccountId");
  if (typeof id === "string") keys.push(id.slice(id.lastIndexOf("/") + 1).toLowerCase());
  for (const d of dependenciesOf(r, ["serviceAccountId"])) {
    if (d.type === ACCOUNT_TYPE) keys.push(`urn:${d.urn}`);
  }
  // An Account's email is known once created; index the pair so either form matches.
  return keys;
}

function accountAliases(resources: readonly PolicyResource[]): Map<string, string[]> {
  const aliases = new Map<string, string[]>();
  for (const r of resources) {
    if (r.type !== ACCOUNT_TYPE) continue;
    const email = asString(readProp(r.props, "email"))?.toLowerCase();
    const keys = [`urn:${r.urn}`, ...(email ? [email] : [])];
    for (const k of keys) aliases.set(k, keys);
  }
  return aliases;
}

/** Which pools can impersonate each service account (keyed by email and by Account URN). */
function impersonatingPools(resources: readonly PolicyResource[]): Map<string, PoolSelection[]> {
  const aliases = accountAliases(resources);
  const byAccount = new Map<string, PoolSelection[]>();
  for (const r of resources.filter(isServiceAccountIam)) {
    const pools = grantsSafely(r)
      .filter((g) => g.role !== UNKNOWN && IMPERSONATION_ROLES.has(g.role))
      .flatMap((g) => poolsOfMember(r, g.member));
    if (pools.length === 0) continue;
    for (const key of accountKeysOfTarget(r).flatMap((k) => aliases.get(k) ?? [k])) {
      byAccount.set(key, [...(byAccount.get(key) ?? []), ...pools]);
    }
  }
  return byAccount;
}

/**
 * Why the attribute a grant selects by does not identify attested workloads: a pool provider that maps it from a
 * constant (or anything but claims of the token) gives every admitted workload the value the grant names — a
 * `job_digest` mapped from `'sha256:<approved job>'` opens the key for every job the executor is told to run.
 */
function mappingProblems(poolId: string, attribute: string, resources: readonly PolicyResource[]): string[] {
  const problems: string[] = [];
  for (const p of resources.filter((r) => r.type === POOL_PROVIDER_TYPE && poolIdOf(r) === poolId)) {
    const expression = readProp(readProp(p.props, "attributeMapping"), attribute);
    if (expression === UNKNOWN || expression === undefined) continue;
    const why = mappingProblem(asString(expression));
    if (why !== undefined) problems.push(`pool '${poolId}' provider '${p.name}' maps ${attribute} from ${why}`);
  }
  return problems;
}

/** Why a pool cannot be trusted with a provider's key; empty when every provider of the pool passes rule 2. */
function poolProblems(poolId: string, resources: readonly PolicyResource[]): string[] {
  if (!resources.some((r) => r.type === POOL_TYPE && poolIdOf(r) === poolId)) {
    return [
      `pool '${poolId}' is not declared in this stack, so its attestation condition cannot be reviewed; declare the ` +
        "pool and its provider in the same program (DataCleanRoom does)",
    ];
  }
  const providers = resources.filter((r) => r.type === POOL_PROVIDER_TYPE && poolIdOf(r) === poolId);
  if (providers.length === 0) {
    return [`pool '${poolId}' has no provider in this stack, so no attestation condition gates it; add one`];
  }
  const problems: string[] = [];
  for (const p of providers) {
    const issuer = readProp(readProp(p.props, "oidc"), "issuerUri");
    if (!isConfidentialSpaceIssuer(issuer)) {
      problems.push(
        `pool '${poolId}' also trusts provider '${p.name}' (issuer ${JSON.stringify(issuer ?? null)}), whose tokens ` +
          "are not attestations; keep Confidential Space pools separate",
      );
      continue;
    }
    for (const problem of conditionProblems(asString(readProp(p.props, "attributeCondition")))) {
      // Rule 2's messages are sentences; the report below ends this one.
      problems.push(`pool '${poolId}' provider '${p.name}' ${problem.message.replace(/\.$/, "")}`);
    }
  }
  return problems;
}

function validateProviderKeys(args: StackValidationArgs, report: ReportViolation): void {
  const resources = args.resources;
  const impersonation = impersonatingPools(resources);
  const verdicts = new Map<string, string[]>();
  const verdict = (poolId: string): string[] => {
    let v = verdicts.get(poolId);
    if (v === undefined) {
      v = poolProblems(poolId, resources);
      verdicts.set(poolId, v);
    }
    return v;
  };
  // Cached like the pool verdicts: the rule stays linear in the number of grants.
  const mappingVerdicts = new Map<string, string[]>();
  const mappingVerdict = (poolId: string, attribute: string): string[] => {
    const key = `${poolId}\u0000${attribute}`;
    let v = mappingVerdicts.get(key);
    if (v === undefined) {
      v = mappingProblems(poolId, attribute, resources);
      mappingVerdicts.set(key, v);
    }
    return v;
  };
  for (const r of resources.filter(isKmsIam)) {
    for (const grant of grantsSafely(r)) {
      if (grant.role === UNKNOWN || !DECRYPT_ROLES.has(grant.role)) continue;
      const reach: PoolReach[] = poolsOfMember(r, grant.member).map((sel) => ({ ...sel, via: "directly" }));
      for (const key of accountKeysOfMember(r, grant.member)) {
        for (const sel of impersonation.get(key) ?? []) {
          reach.push({ ...sel, via: `by impersonating ${grant.member === UNKNOWN ? "a service account" : grant.member}` });
        }
      }
      for (const { poolId, via, attribute } of reach) {
        const problems = [...verdict(poolId), ...(attribute === undefined ? [] : mappingVerdict(poolId, attribute))];
        for (const problem of problems) {
          report(
            `KMS grant '${r.name}' (${grant.role}) lets workloads of pool '${poolId}' decrypt ${via}, but ${problem}.`,
            r.urn,
          );
        }
      }
    }
  }
}

/**
 * Every Cloud KMS decrypt grant that reaches workload identity pool identities — directly (`principal(Set)://…`) or
 * through a service account those identities can impersonate — reaches only pools declared in the stack whose
 * providers all trust Confidential Space with a condition that passes `attestation-condition-strict`; and when the
 * member selects by a mapped attribute (`attribute.job_digest/<digest>`, `subject/…`), every provider of the pool
 * maps that attribute from claims of the token, not from a constant.
 */
export const providerKeysAttestationGated: StackValidationPolicy = {
  name: "provider-keys-attestation-gated",
  description:
    "Every KMS decrypt grant to workload identities goes to a pool in this stack whose providers all pass " +
    "attestation-condition-strict.",
  severity: "critical",
  validateStack: validateProviderKeys,
};

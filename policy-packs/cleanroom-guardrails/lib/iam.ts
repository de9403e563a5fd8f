/**
 * IAM grants as the three Google IAM resource flavours express them, and what a member string means.
 *
 * `*IAMMember` grants one role to one member, `*IAMBinding` one role to a list of members (authoritative for that
 * role), `*IAMPolicy` a whole policy as JSON text (`policyData`). Every rule that looks at who may do what reads them
 * through `grantsOf`, so a reviewer cannot slip past a rule by switching flavour.
 */
import { UNKNOWN, type Unknown, asArray, asString, isRecord, readProp } from "./values.js";

/** One (role, member) pair. Either side is `UNKNOWN` when it is computed during preview. */
export interface IamGrant {
  readonly role: string | Unknown;
  readonly member: string | Unknown;
  /** The IAM condition's CEL expression, when the grant has one. */
  readonly condition?: string | Unknown;
}

/** The expression of a `condition` property (`{title, expression}`), `UNKNOWN`, or undefined when there is none. */
function conditionOf(props: unknown): string | Unknown | undefined {
  const c = readProp(props, "condition");
  if (c === UNKNOWN) return UNKNOWN;
  const e = readProp(c, "expression");
  return e === UNKNOWN ? UNKNOWN : asString(e);
}

/** What kind of IAM resource a type token is, judged by its suffix. */
export type IamFlavour = "member" | "binding" | "policy";

/** `gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember` → `member`; anything that is not an IAM resource → undefined. */
export function iamFlavour(type: string): IamFlavour | undefined {
  const cls = type.slice(type.lastIndexOf(":") + 1).toLowerCase();
  if (cls.endsWith("iammember")) return "member";
  if (cls.endsWith("iambinding")) return "binding";
  if (cls.endsWith("iampolicy")) return "policy";
  return undefined;
}

function stringOrUnknown(v: unknown): string | Unknown | undefined {
  return v === UNKNOWN ? UNKNOWN : asString(v);
}

/**
 * Every (role, member) pair an IAM resource grants.
 *
 * @throws Error when `policyData` is not the JSON of an IAM policy (the caller reports it as a violation)
 */
export function grantsOf(type: string, props: unknown): IamGrant[] {
  const flavour = iamFlavour(type);
  if (flavour === undefined) return [];
  if (flavour === "policy") {
    const data = readProp(props, "policyData");
    if (data === UNKNOWN) return [{ role: UNKNOWN, member: UNKNOWN }];
    return grantsOfPolicyData(asString(data) ?? "");
  }
  const role = stringOrUnknown(readProp(props, "role"));
  if (role === undefined) return [];
  const condition = conditionOf(props);
  const withCondition: { condition?: string | Unknown } = condition === undefined ? {} : { condition };
  if (flavour === "member") {
    const member = stringOrUnknown(readProp(props, "member"));
    return member === undefined ? [] : [{ role, member, ...withCondition }];
  }
  const members = readProp(props, "members");
  if (members === UNKNOWN) return [{ role, member: UNKNOWN, ...withCondition }];
  return asArray(members).map((m) => ({ role, member: stringOrUnknown(m) ?? UNKNOWN, ...withCondition }));
}

/** Parses `policyData` (`{"bindings":[{"role":…,"members":[…]}]}`, as `getIAMPolicy` returns it). */
export function grantsOfPolicyData(policyData: string): IamGrant[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(policyData);
  } catch {
    throw new Error("policyData is not JSON");
  }
  if (!isRecord(parsed)) throw new Error("policyData is not a JSON object");
  const grants: IamGrant[] = [];
  for (const binding of asArray(parsed["bindings"])) {
    if (!isRecord(binding)) continue;
    const role = asString(binding["role"]);
    if (role === undefined) continue;
    const condition = isRecord(binding["condition"]) ? asString(binding["condition"]["expression"]) : undefined;
    for (const m of asArray(binding["members"])) {
      const member = asString(m);
      if (member !== undefined) grants.push({ role, member, ...(condition === undefined ? {} : { condition }) });
    }
  }
  return grants;
}

/** Members that mean "anyone": `allUsers`, `allAuthenticatedUsers` and the principal-identifier form of the public. */
export function isPublicMember(member: string): boolean {
  return (
    member === "allUsers" ||
    member === "allAuthenticatedUsers" ||
    member.startsWith("principalSet://goog/public:") ||
    member === "principal://goog/public:all"
  );
}

/** A member that names identities of a workload (or workforce) identity pool. */
export interface PoolPrincipal {
  /** `principal` (one subject) or `principalSet` (many). */
  readonly kind: "principal" | "principalSet";
  /** `workload` for workload identity pools, `workforce` for workforce pools. */
  readonly poolType: "workload" | "workforce";
  /** The project number (or id) of a workload identity pool; empty for workforce pools. */
  readonly project: string;
  /** The pool id (`workloadIdentityPoolId`). */
  readonly poolId: string;
  /** What follows the pool: `*`, `subject/<s>`, `attribute.image_digest/<d>`, `group/<g>`… */
  readonly selector: string;
}

const WORKLOAD_POOL_MEMBER =
  /^(principal|principalSet):\/\/iam\.googleapis\.com\/projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/(.*)$/;
const WORKFORCE_POOL_MEMBER =
  /^(principal|principalSet):\/\/iam\.googleapis\.com\/locations\/global\/workforcePools\/([^/]+)\/(.*)$/;

/** Parses a `principal://` / `principalSet://` member of a workload or workforce identity pool. */
export function parsePoolPrincipal(member: string): PoolPrincipal | undefined {
  const w = WORKLOAD_POOL_MEMBER.exec(member);
  if (w) {
    return {
      kind: w[1] as "principal" | "principalSet",
      poolType: "workload",
      project: w[2]!,
      poolId: w[3]!,
      selector: w[4]!,
    };
  }
  const f = WORKFORCE_POOL_MEMBER.exec(member);
  if (f) {
    return { kind: f[1] as "principal" | "principalSet", poolType: "workforce", project: "", poolId: f[2]!, selector: f[3]! };
  }
  return undefined;
}

/** True for `principalSet://…/workloadIdentityPools/<pool>/*` (every identity the pool can mint), or a workforce pool's. */
export function isWholePoolMember(member: string): boolean {
  const p = parsePoolPrincipal(member);
  return p !== undefined && p.kind === "principalSet" && (p.selector === "*" || p.selector === "");
}

/** Roles that let a member decrypt with a Cloud KMS key (directly, or as a basic role that includes it). */
export const DECRYPT_ROLES: ReadonlySet<string> = new Set([
  "roles/cloudkms.cryptoKeyDecrypter",
  "roles/cloudkms.cryptoKeyEncrypterDecrypter",
  "roles/cloudkms.cryptoKeyDecrypterViaDelegation",
  "roles/owner",
  "roles/editor",
]);

/**
 * Rule 5 — no project-wide storage, key, token-minting, pool-admin or basic roles for the room's machine identities.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { IAMBinding } from "@pulumi/gcp/projects/iambinding";
import { IAMMember } from "@pulumi/gcp/projects/iammember";
import { IAMPolicy } from "@pulumi/gcp/projects/iampolicy";
import { grantsOf, parsePoolPrincipal } from "../lib/iam.js";
import { UNKNOWN } from "../lib/values.js";

/** Project-level roles that reach every bucket, every pool or everything in the project. */
export const FORBIDDEN_PROJECT_ROLES: ReadonlyMap<string, string> = new Map([
  ["roles/storage.admin", "reads and rewrites every bucket in the project, every provider's data included"],
  ["roles/storage.objectAdmin", "reads and rewrites every object in the project, every provider's data included"],
  [
    "roles/iam.workloadIdentityPoolAdmin",
    "can rewrite the attestation condition of any pool, and with it who gets the providers' keys",
  ],
  ["roles/owner", "can do anything in the project, including reading all data and rewriting every guardrail"],
  ["roles/editor", "can read and change nearly everything in the project, all data included"],
  ["roles/storage.objectViewer", "reads every object in the project, every provider's data and every quarantined result included"],
  [
    "roles/iam.serviceAccountTokenCreator",
    "mints tokens as every service account in the project, so it holds whatever any of them holds",
  ],
]);

/**
 * Why a project-level role is forbidden for a machine identity, or undefined. Every `roles/cloudkms.*` role is: at
 * project level it reaches every key in the project, each provider's included (decrypt, or rewrite the key's IAM).
 */
export function forbiddenProjectRole(role: string): string | undefined {
  const why = FORBIDDEN_PROJECT_ROLES.get(role);
  if (why !== undefined) return why;
  if (role.startsWith("roles/cloudkms.")) return "applies to every Cloud KMS key in the project, every provider's key included";
  return undefined;
}

/** Configuration of `project-iam-least-privilege`. */
export interface ProjectIamConfig {
  /** Members exempted from the rule (exact member strings, e.g. a break-glass deployer account). @default [] */
  readonly exemptMembers?: string[];
}

/**
 * A machine identity: a service account, or a workload identity principal (the Confidential Space workload in
 * direct-access mode). Scope decision: ANY such member, not only those created in the stack — at preview the emails
 * of new accounts are unknown, and a pre-existing account with project-wide object admin in the room's project
 * leaks the data just as well.
 */
function isMachineIdentity(member: string): boolean {
  return member.startsWith("serviceAccount:") || parsePoolPrincipal(member) !== undefined;
}

function checkProjectGrants(what: string, args: ResourceValidationArgs, report: ReportViolation): void {
  const exempt = new Set(args.getConfig<ProjectIamConfig>().exemptMembers ?? []);
  let grants: ReturnType<typeof grantsOf>;
  try {
    grants = grantsOf(args.type, args.props);
  } catch (err) {
    report(`${what} '${args.name}' has policyData that cannot be read (${(err as Error).message}); write it as JSON.`);
    return;
  }
  for (const { role, member } of grants) {
    if (role === UNKNOWN) continue;
    const why = forbiddenProjectRole(role);
    if (why === undefined) continue;
    if (member === UNKNOWN) {
      // Fail closed: at preview a new service account's email is unknown, and that is exactly the risky case.
      report(
        `${what} '${args.name}' grants project-wide ${role} to a member not known until deployment; that role ${why}. ` +
          "If the member is a service account or workload identity, grant bucket- or key-level roles instead " +
          "(storage.objectViewer on one bucket, cloudkms.cryptoKeyDecrypter on one key).",
      );
      continue;
    }
    if (!isMachineIdentity(member) || exempt.has(member)) continue;
    report(
      `${what} '${args.name}' grants project-wide ${role} to ${member}; that role ${why}. Grant bucket- or ` +
        "key-level roles to exactly the resources it needs instead (e.g. storage.objectViewer on one bucket via " +
        "BucketIAMMember, cloudkms.cryptoKeyDecrypter on one key).",
    );
  }
}

/**
 * Project IAM (Member, Binding, Policy) grants none of `roles/storage.admin`, `roles/storage.objectAdmin`,
 * `roles/storage.objectViewer`, any `roles/cloudkms.*`, `roles/iam.serviceAccountTokenCreator`,
 * `roles/iam.workloadIdentityPoolAdmin`, `roles/owner`, `roles/editor` to a service account or workload identity.
 */
export const projectIamLeastPrivilege: ResourceValidationPolicy = {
  name: "project-iam-least-privilege",
  description:
    "No project-level storage.admin, storage.objectAdmin, storage.objectViewer, cloudkms.*, iam.serviceAccountTokenCreator, " +
    "iam.workloadIdentityPoolAdmin, owner or editor for service accounts or workload identities.",
  severity: "critical",
  configSchema: {
    properties: { exemptMembers: { type: "array", items: { type: "string" }, default: [] } },
  },
  validateResource: [
    validateResourceOfType(IAMMember, (_p, args, report) => checkProjectGrants("Project IAM member", args, report)),
    validateResourceOfType(IAMBinding, (_p, args, report) => checkProjectGrants("Project IAM binding", args, report)),
    validateResourceOfType(IAMPolicy, (_p, args, report) => checkProjectGrants("Project IAM policy", args, report)),
  ],
};

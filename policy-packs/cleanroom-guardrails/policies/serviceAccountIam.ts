/**
 * Rule 9 — a service account is never impersonable by a whole workload identity pool.
 *
 * `roles/iam.workloadIdentityUser` (or `serviceAccountTokenCreator`) on a service account for
 * `principalSet://…/workloadIdentityPools/<pool>/*` lets every identity the pool can mint act as that account: any
 * Confidential Space workload that passes the pool's condition, whatever job it runs, gets everything the account
 * holds (ManaTEE's setup does this). Bind resources to attribute principal sets (`attribute.job_digest/<d>`) instead.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { IAMBinding } from "@pulumi/gcp/serviceaccount/iambinding";
import { IAMMember } from "@pulumi/gcp/serviceaccount/iammember";
import { IAMPolicy } from "@pulumi/gcp/serviceaccount/iampolicy";
import { grantsOf, isWholePoolMember } from "../lib/iam.js";
import { UNKNOWN } from "../lib/values.js";

/** Roles that let a member act as (impersonate) a service account. */
export const IMPERSONATION_ROLES: ReadonlySet<string> = new Set(["roles/iam.workloadIdentityUser", "roles/iam.serviceAccountTokenCreator"]);

function check(what: string, args: ResourceValidationArgs, report: ReportViolation): void {
  let grants: ReturnType<typeof grantsOf>;
  try {
    grants = grantsOf(args.type, args.props);
  } catch (err) {
    report(`${what} '${args.name}' has policyData that cannot be read (${(err as Error).message}); write it as JSON.`);
    return;
  }
  for (const { role, member } of grants) {
    if (role === UNKNOWN || member === UNKNOWN || !IMPERSONATION_ROLES.has(role)) continue;
    if (!isWholePoolMember(member)) continue;
    report(
      `${what} '${args.name}' lets every identity of a whole pool (${member}) impersonate the service account with ${role}: ` +
        "any workload the pool admits, whatever job it runs, gets everything the account holds. Grant the data's own " +
        "resources to attribute principal sets instead (principalSet://…/attribute.job_digest/<digest>), or bind the role " +
        "to one such attribute set.",
    );
  }
}

/** Service-account IAM (Member, Binding, Policy) grants no impersonation role to a whole workload identity pool. */
export const serviceAccountImpersonationScoped: ResourceValidationPolicy = {
  name: "service-account-impersonation-scoped",
  description: "No workloadIdentityUser or serviceAccountTokenCreator on a service account for a whole workload identity pool (principalSet://…/*).",
  severity: "critical",
  validateResource: [
    validateResourceOfType(IAMMember, (_p, args, report) => check("Service account IAM member", args, report)),
    validateResourceOfType(IAMBinding, (_p, args, report) => check("Service account IAM binding", args, report)),
    validateResourceOfType(IAMPolicy, (_p, args, report) => check("Service account IAM policy", args, report)),
  ],
};

/**
 * Rule 2 — Workload Identity Pool providers that trust Confidential Space admit only production images of pinned
 * digests.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { WorkloadIdentityPoolProvider } from "@pulumi/gcp/iam/workloadIdentityPoolProvider";
import { conditionProblems, isConfidentialSpaceIssuer } from "../lib/condition.js";
import { asString, readProp } from "../lib/values.js";

/**
 * A pool provider whose OIDC issuer is `https://confidentialcomputing.googleapis.com/` must have an
 * `attributeCondition` that, in every `||` alternative, requires `dbgstat == 'disabled-since-boot'` (or the STABLE
 * support attribute) and pins `submods.container.image_digest`; one that `swname` alone satisfies is rejected. The
 * condition is parsed as CEL and analysed, not matched as text.
 */
export const attestationConditionStrict: ResourceValidationPolicy = {
  name: "attestation-condition-strict",
  description:
    "Workload Identity Pool providers trusting Confidential Space require a production image " +
    "(dbgstat == 'disabled-since-boot' or STABLE) and pin the image digest in every alternative of the condition.",
  severity: "critical",
  validateResource: validateResourceOfType(WorkloadIdentityPoolProvider, (provider, args, report) => {
    const issuer = readProp(readProp(provider, "oidc"), "issuerUri");
    if (!isConfidentialSpaceIssuer(issuer)) {
      args.notApplicable("the provider does not trust the Confidential Space issuer");
    }
    const condition = asString(provider.attributeCondition);
    for (const problem of conditionProblems(condition)) {
      report(`Confidential Space pool provider '${args.name}' ${problem.message}`);
    }
  }),
};

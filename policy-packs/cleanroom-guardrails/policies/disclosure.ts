/**
 * Rule 10 — safe outputs: a room's quarantine bucket says the room's disclosure mode (label `cleanroom-disclosure`,
 * set by `DataCleanRoom` from `output.disclosure.mode`); `off` means a job's outputs leave the TEE with no statistical
 * disclosure check, whatever providers' data the job read. Flagged, so a reviewer decides on purpose.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { Bucket } from "@pulumi/gcp/storage/bucket";
import { readProp } from "../lib/values.js";
import { ROLE_LABEL } from "./storage.js";

/** The label `DataCleanRoom` puts on its quarantine bucket: the room's disclosure mode. */
export const DISCLOSURE_MODE_LABEL = "cleanroom-disclosure";

/** Why a bucket's labels say its room releases outputs unchecked, or undefined. Pure. */
export function disclosureOffReason(props: Record<string, unknown>): string | undefined {
  const labels = readProp(props, "labels");
  if (readProp(labels, ROLE_LABEL) !== "quarantine") return undefined;
  const mode = readProp(labels, DISCLOSURE_MODE_LABEL);
  return mode === "off" ? `its ${DISCLOSURE_MODE_LABEL} label is "off"` : undefined;
}

/**
 * A room's quarantine bucket must not say disclosure mode `off`: the executor would then run no output check (cell
 * counts, dominance, residual degrees of freedom, verbatim input rows) on what jobs compute from the providers' data.
 */
export const disclosureNotOff: ResourceValidationPolicy = {
  name: "disclosure-not-off",
  description: "A clean room's outputs are checked for statistical disclosure in the TEE (output.disclosure.mode is not \"off\").",
  severity: "high",
  validateResource: validateResourceOfType(Bucket, (_bucket, args: ResourceValidationArgs, report: ReportViolation) => {
    const why = disclosureOffReason(args.props);
    if (why === undefined) return;
    report(
      `Bucket '${args.name}' is a clean room's quarantine and ${why}: the room runs no disclosure check on the outputs of jobs that read its providers' data. ` +
        'Set output.disclosure.mode to "review" (the default) or "enforce"; if unchecked outputs are intended, set this policy to advisory for the stack.',
    );
  }),
};

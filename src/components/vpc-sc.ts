/**
 * The optional VPC Service Controls perimeter of a room: its project (and the providers' projects it is given) as one
 * perimeter whose restricted services cannot move data across its edge.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { VpcServiceControlsOptions } from "./options.js";

/** The services whose data the perimeter keeps in: everything the room stores, decrypts or attests with. */
export const PERIMETER_SERVICES: readonly string[] = [
  "artifactregistry.googleapis.com",
  "cloudkms.googleapis.com",
  "confidentialcomputing.googleapis.com",
  "iamcredentials.googleapis.com",
  "logging.googleapis.com",
  "storage.googleapis.com",
  "sts.googleapis.com",
];

/** `accessPolicies/<number>` from a number or the full name. Pure. */
export function accessPolicyName(policy: string): string {
  return policy.startsWith("accessPolicies/") ? policy : `accessPolicies/${policy}`;
}

/** Problems of the perimeter options. Pure. */
export function vpcServiceControlsProblems(o: unknown, p = "vpcServiceControls"): string[] {
  if (o === undefined) return [];
  if (o === null || typeof o !== "object" || Array.isArray(o)) return [`${p} must be an object with accessPolicy`];
  const v = o as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(v)) {
    if (!["accessPolicy", "perimeterName", "includeProviderProjects", "extraProjectNumbers", "dryRun"].includes(k)) out.push(`${p}.${k} is not a known option`);
  }
  if (typeof v.accessPolicy !== "string" || !/^(accessPolicies\/)?[0-9]{1,20}$/.test(v.accessPolicy)) {
    out.push(`${p}.accessPolicy must be the organization's access policy, accessPolicies/<number> (got ${JSON.stringify(v.accessPolicy)})`);
  }
  if (v.perimeterName !== undefined && (typeof v.perimeterName !== "string" || !/^[A-Za-z][A-Za-z0-9_]{0,49}$/.test(v.perimeterName))) {
    out.push(`${p}.perimeterName must be letters, digits and underscores, starting with a letter (got ${JSON.stringify(v.perimeterName)})`);
  }
  for (const k of ["includeProviderProjects", "dryRun"]) if (v[k] !== undefined && typeof v[k] !== "boolean") out.push(`${p}.${k} must be a boolean`);
  if (v.extraProjectNumbers !== undefined && (!Array.isArray(v.extraProjectNumbers) || v.extraProjectNumbers.some((n) => typeof n !== "string" || !/^[0-9]{6,20}$/.test(n)))) {
    out.push(`${p}.extraProjectNumbers must be project numbers (digits)`);
  }
  return out;
}

/**
 * Creates `<name>-perimeter`: a regular perimeter over `projects` (by number, looked up) plus `extraProjectNumbers`,
 * restricting `PERIMETER_SERVICES`, and limiting what the VPC networks inside may call to the restricted services.
 */
export function createServicePerimeter(
  parent: pulumi.Resource,
  name: string,
  prefix: string,
  o: VpcServiceControlsOptions,
  projects: pulumi.Input<string>[],
  opts: pulumi.ComponentResourceOptions,
): gcp.accesscontextmanager.ServicePerimeter {
  const policy = accessPolicyName(o.accessPolicy);
  const perimeterName = o.perimeterName ?? `${prefix.replace(/-/g, "_")}_cleanroom`;
  const included = o.includeProviderProjects === false ? projects.slice(0, 1) : projects;
  const numbers = included.map((p) => gcp.organizations.getProjectOutput({ projectId: p }, { parent, ...(opts.dependsOn ? { dependsOn: opts.dependsOn } : {}) }).number);
  const resources = pulumi.all(numbers).apply((ns) => [...new Set([...ns, ...(o.extraProjectNumbers ?? [])])].sort().map((n) => `projects/${n}`));
  const config = {
    resources,
    restrictedServices: [...PERIMETER_SERVICES],
    // Inside the perimeter, networks reach only the restricted services: the restricted VIP cannot be used to call others.
    vpcAccessibleServices: { enableRestriction: true, allowedServices: ["RESTRICTED-SERVICES"] },
  };
  return new gcp.accesscontextmanager.ServicePerimeter(
    `${name}-perimeter`,
    {
      parent: policy,
      name: `${policy}/servicePerimeters/${perimeterName}`,
      title: perimeterName,
      description: `Attested clean room ${prefix}: data in these projects' storage and keys cannot leave the perimeter`,
      perimeterType: "PERIMETER_TYPE_REGULAR",
      ...(o.dryRun === true ? { spec: config, useExplicitDryRunSpec: true } : { status: config }),
    },
    { ...opts, parent },
  );
}

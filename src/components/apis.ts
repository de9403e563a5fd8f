/**
 * Enabling the Google APIs a project needs, as resources other resources (and invokes) can depend on: on a fresh
 * project, a first `pulumi up` would otherwise race the enablement and fail with `SERVICE_DISABLED`.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";

/**
 * One `gcp.projects.Service` per API, named `<name>-api-<short>` under `parent`. APIs are never disabled on destroy:
 * other workloads in the project may use them.
 */
export function enableServices(parent: pulumi.Resource, name: string, project: pulumi.Input<string>, apis: readonly string[]): gcp.projects.Service[] {
  return [...new Set(apis)].sort().map(
    (api) =>
      new gcp.projects.Service(
        `${name}-api-${api.replace(".googleapis.com", "")}`,
        { project, service: api, disableOnDestroy: false, disableDependentServices: false },
        { parent },
      ),
  );
}

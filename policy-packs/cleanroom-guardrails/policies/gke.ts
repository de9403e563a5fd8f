/**
 * Rule 6 — the stage-1 GKE sandbox is private, uses Workload Identity and network policy, and has no legacy auth.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { Cluster } from "@pulumi/gcp/container/cluster";
import { UNKNOWN, isSetOrUnknown, readProp, show } from "../lib/values.js";

/** Dataplane V2: enforces Kubernetes network policy without the Calico add-on. */
export const DATAPLANE_V2 = "ADVANCED_DATAPATH";

/**
 * GKE clusters: private nodes, Workload Identity, network policy enforcement (the add-on, Dataplane V2, or Autopilot,
 * which always runs Dataplane V2 and Workload Identity), no legacy ABAC, no basic auth or client certificates.
 */
export const gkeSandboxHardened: ResourceValidationPolicy = {
  name: "gke-sandbox-hardened",
  description:
    "GKE clusters have private nodes, Workload Identity, network policy enforcement (add-on, Dataplane V2 or " +
    "Autopilot), no legacy ABAC and no basic auth or client certificates.",
  severity: "high",
  validateResource: validateResourceOfType(Cluster, (cluster, args, report) => {
    const what = `GKE cluster '${args.name}'`;
    const autopilot = readProp(cluster, "enableAutopilot") === true;

    // Nodes with public IPs put the notebooks that hold stage-1 data one firewall rule away from the internet.
    const privateNodes = readProp(readProp(cluster, "privateClusterConfig"), "enablePrivateNodes");
    if (privateNodes !== true && privateNodes !== UNKNOWN) {
      report(`${what} does not use private nodes (${show(privateNodes)}). Set privateClusterConfig.enablePrivateNodes: true.`);
    }

    // Without Workload Identity pods use the node's service account, so every notebook gets the node's access.
    if (!autopilot && !isSetOrUnknown(readProp(cluster, "workloadIdentityConfig"), "workloadPool")) {
      report(
        `${what} does not enable Workload Identity. Set workloadIdentityConfig.workloadPool: "<project>.svc.id.goog" ` +
          "(or use Autopilot).",
      );
    }

    // Without network policy a notebook pod can reach every other pod (and the metadata of other users).
    const networkPolicy = readProp(readProp(cluster, "networkPolicy"), "enabled");
    const datapath = readProp(cluster, "datapathProvider");
    const enforced = autopilot || networkPolicy === true || datapath === DATAPLANE_V2;
    if (!enforced && networkPolicy !== UNKNOWN && datapath !== UNKNOWN) {
      report(
        `${what} does not enforce network policy. Set datapathProvider: "${DATAPLANE_V2}" (Dataplane V2), or ` +
          "networkPolicy: { enabled: true }, or use Autopilot.",
      );
    }

    // Legacy ABAC grants broad static permissions that RBAC cannot take back.
    if (readProp(cluster, "enableLegacyAbac") === true) {
      report(`${what} enables legacy ABAC. Remove enableLegacyAbac (or set it to false) and use RBAC.`);
    }

    // Static passwords and client certificates never expire and cannot be tied to an identity.
    const masterAuth = readProp(cluster, "masterAuth");
    for (const key of ["username", "password"]) {
      const v = readProp(masterAuth, key);
      if (v === UNKNOWN || (typeof v === "string" && v !== "")) {
        report(`${what} configures basic auth (masterAuth.${key}). Remove masterAuth.username/password.`);
        break;
      }
    }
    if (readProp(readProp(masterAuth, "clientCertificateConfig"), "issueClientCertificate") === true) {
      report(
        `${what} issues a client certificate (masterAuth.clientCertificateConfig.issueClientCertificate). Set it to ` +
          "false; authenticate with Google identities.",
      );
    }
  }),
};

/**
 * Quickstart: one data provider (an insurer) with the insurance dataset, the approved-jobs code policy and the
 * stage-1 JupyterHub sandbox. It deploys the same `spec.json` the local demo runs (`cleanroom local up --spec`),
 * so what you try on your laptop is what `pulumi up` builds on Google Cloud.
 *
 * In your own program: `import { DataCleanRoom } from "attested-cleanroom/components";`
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { CleanRoomSpec } from "../../src/core/spec.js";
import { DataCleanRoom } from "../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

const spec: CleanRoomSpec = JSON.parse(readFileSync(path.join(__dirname, "spec.json"), "utf8"));
// Job digests the insurer approved (`cleanroom job pack jobs/regression` prints one); approving is a config change.
const approvedJobs = config.getObject<string[]>("approvedJobs") ?? [];
const executorImage = config.get("executorImage");
const repoRoot = path.resolve(__dirname, "..", "..");

const room = new DataCleanRoom("quickstart", {
  ...spec,
  providers: spec.providers.map((p) => ({ ...p, approvedJobs: [...(p.approvedJobs ?? []), ...approvedJobs] })),
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  namePrefix: config.get("namePrefix") ?? "quickstart",
  executor: executorImage
    ? { imageReference: executorImage }
    : { context: repoRoot, dockerfile: config.get("executorDockerfile") ?? path.join(repoRoot, "executor", "Dockerfile") },
  sandbox: {
    authorizedNetworks: [config.require("adminCidr")],
    github: {
      clientId: config.require("githubClientId"),
      clientSecret: config.requireSecret("githubClientSecret"),
      allowedOrganizations: [config.require("githubOrg")],
    },
  },
});

// Who may do what: every grant is a reviewable resource in the plan.
const consumer = config.get("consumer");
if (consumer) {
  room.grantSubmit(consumer);
  room.grantExplore(consumer);
}
const provisioner = config.get("provisioner");
if (provisioner) {
  room.provider("insurer").grantProvision(provisioner);
  room.provider("insurer").grantRelease(provisioner);
}

/** `pulumi stack output descriptor --json > room.json`: what every `cleanroom` command reads. */
export const descriptor = room.descriptor;
export const condition = room.condition;

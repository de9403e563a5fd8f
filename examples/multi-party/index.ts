/**
 * Multi-party: a hospital and an insurer, each keeping its key and data bucket in its own project, each approving
 * job digests on its own. The joint job reads both providers' data, so it runs only because BOTH approved it; the
 * hospital-only job can never open the insurer's key. Outputs stay in quarantine until a provider releases them.
 *
 * In your own program: `import { DataCleanRoom } from "attested-cleanroom/components";`
 */
import * as pulumi from "@pulumi/pulumi";
import { DataCleanRoom } from "../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();
const jointJob = config.require("jointJob");
const hospitalOnlyJob = config.require("hospitalOnlyJob");

const room = new DataCleanRoom("consortium", {
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  zone: `${gcpConfig.require("region")}-b`,
  codePolicy: "approved-jobs",
  providers: [
    {
      name: "hospital",
      project: config.require("hospitalProject"),
      datasets: [
        {
          name: "admissions",
          schema: {
            columns: [
              { name: "age", type: "numeric", min: 0, max: 100, bins: 10, integer: true },
              { name: "ward", type: "categorical", categories: ["cardiology", "oncology", "general"] },
              { name: "days", type: "numeric", min: 0, max: 60, bins: 12, integer: true },
            ],
          },
          stage1Method: "mst",
          epsilon: 1,
        },
        { name: "diagnoses", stage1Method: "none" },
      ],
      approvedJobs: [jointJob, hospitalOnlyJob],
    },
    {
      name: "insurer",
      project: config.require("insurerProject"),
      datasets: [
        {
          name: "claims",
          schema: {
            columns: [
              { name: "region", type: "categorical", categories: ["north", "south"] },
              { name: "amount", type: "numeric", min: 0, max: 100000, bins: 20 },
            ],
          },
          stage1Method: "aggregates",
          epsilon: 0.5,
        },
      ],
      // The insurer approves only the joint analysis.
      approvedJobs: [jointJob],
    },
  ],
  output: { maxBytes: 10 * 1024 * 1024, requireRelease: true },
  executor: { imageReference: config.require("executorImage") },
  sandbox: {
    authorizedNetworks: [config.require("adminCidr")],
    google: {
      clientId: config.require("googleClientId"),
      clientSecret: config.requireSecret("googleClientSecret"),
      hostedDomains: [config.require("hostedDomain")],
    },
  },
  storage: { retentionDays: 90 },
});

// Each provider's stewards provision their own data and release outputs; analysts submit and explore.
room.provider("hospital").grantProvision("group:hospital-data-stewards@consortium.example");
room.provider("hospital").grantRelease("group:hospital-data-stewards@consortium.example");
room.provider("insurer").grantProvision("group:insurer-data-stewards@consortium.example");
room.provider("insurer").grantRelease("group:insurer-data-stewards@consortium.example");
room.grantSubmit("group:analysts@consortium.example");
room.grantExplore("group:analysts@consortium.example");

export const descriptor = room.descriptor;
export const condition = room.condition;

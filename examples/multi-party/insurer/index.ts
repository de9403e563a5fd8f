/**
 * The insurer's own stack, in the insurer's own project: its pool and condition, key, data bucket and approvals. The
 * insurer approves only the joint analysis, and pins the executor digest its reviewers checked.
 *
 * In your own program: `import { DataProvider } from "attested-cleanroom/components";`
 */
import * as pulumi from "@pulumi/pulumi";
import { DataProvider } from "../../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

const insurer = new DataProvider("insurer", {
  providerName: "insurer",
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  namePrefix: "consortium",
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
  approvedJobs: [config.require("jointJob")],
  room: { project: config.require("roomProject"), namePrefix: "consortium", executorImageDigest: config.require("executorDigest") },
  // Its own floor: production, STABLE, TDX, and a Confidential Space image no older than 2025-03.
  attestation: { hwModels: ["GCP_INTEL_TDX"], minImageVersion: 250300 },
});

insurer.grantProvision("group:insurer-data-stewards@consortium.example");

/** What the room stack reads: `new pulumi.StackReference(<this stack>).getOutput("provider")`. */
export const provider = insurer.publishedJson;
export const condition = insurer.condition;

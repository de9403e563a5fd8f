/**
 * The hospital's own stack, in the hospital's own project: its Workload Identity pool and condition, its key, its data
 * bucket and the decrypt bindings of the jobs it approved. The consortium's room stack only reads `provider` (a
 * StackReference) and has no IAM in this project: whoever runs the room cannot loosen this condition.
 *
 * In your own program: `import { DataProvider } from "attested-cleanroom/components";`
 */
import * as pulumi from "@pulumi/pulumi";
import { DataProvider } from "../../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

const hospital = new DataProvider("hospital", {
  providerName: "hospital",
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  namePrefix: "consortium",
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
  approvedJobs: [config.require("jointJob"), config.require("hospitalOnlyJob")],
  // The room as its operator announced it; the executor digest is the one the hospital's reviewers built and checked.
  room: { project: config.require("roomProject"), namePrefix: "consortium", executorImageDigest: config.require("executorDigest") },
  // The hospital's own requirements: production images on TDX only, whatever the room's settings say.
  attestation: { hwModels: ["GCP_INTEL_TDX"] },
});

// The hospital's stewards provision its data (wrap with its key, write its bucket); stage-1 uploads are the room's grant.
hospital.grantProvision("group:hospital-data-stewards@consortium.example");

/** What the room stack reads: `new pulumi.StackReference(<this stack>).getOutput("provider")`. */
export const provider = hospital.publishedJson;
export const condition = hospital.condition;

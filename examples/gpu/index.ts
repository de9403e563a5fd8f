/**
 * GPU model evaluation: a model provider (`modelco`) contributes a private model (a `files` dataset), an evaluator
 * contributes a labelled table, and the job both of them approved evaluates the model on the table on an NVIDIA H100
 * in confidential mode on Intel TDX (Confidential Space Preview image family, flex-start capacity, GPU driver installed
 * by the launcher). The attestation condition pins TDX hardware. It deploys the same `spec.json` the local walkthrough
 * runs (`cleanroom local up --spec`).
 *
 * In your own program: `import { DataCleanRoom } from "attested-cleanroom/components";`
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DataCleanRoom } from "../../src/components/index.js";
import type { CleanRoomSpec } from "../../src/core/spec.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

const spec: CleanRoomSpec = JSON.parse(readFileSync(path.join(__dirname, "spec.json"), "utf8"));
// Each provider's approvals, e.g. {"modelco": ["sha256:…"], "evaluator": ["sha256:…"]}: a job that reads both datasets
// runs only when both list its digest (each key opens for its own provider's approvals only).
const approvedJobs = config.requireObject<Record<string, string[]>>("approvedJobs");
const unknown = Object.keys(approvedJobs).filter((name) => !spec.providers.some((p) => p.name === name));
if (unknown.length > 0) {
  throw new Error(`approvedJobs names ${unknown.join(", ")}, not a provider of spec.json (providers: ${spec.providers.map((p) => p.name).join(", ")})`);
}

const room = new DataCleanRoom("gpu", {
  ...spec,
  providers: spec.providers.map((p) => ({ ...p, approvedJobs: [...(p.approvedJobs ?? []), ...(approvedJobs[p.name] ?? [])] })),
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  namePrefix: "gpu-room",
  attestation: { hwModels: ["GCP_INTEL_TDX"] },
  executor: { imageReference: config.require("executorImage") },
  confidentialVm: {
    teeType: "TDX",
    gpu: true,
    machineType: "a3-highgpu-1g",
    provisioningModel: "FLEX_START",
    maxRunDurationHours: 12,
    bootDiskSizeGb: 100,
  },
  // A training job may use most of the 12-hour reservation: the executor stops it at 11.5 h, which leaves the VM the
  // 30 minutes of grace (boot, image pull, the result's upload) before the reservation ends.
  jobs: { timeoutSeconds: 41_400 },
  // No JupyterHub: consumers read stage 1 (modelco's mock model, the evaluator's DP synthetic table) from the stage-1
  // bucket with `grantExplore`, and develop on their own machines.
  sandbox: { enabled: false },
});

export const descriptor = room.descriptor;
export const condition = room.condition;

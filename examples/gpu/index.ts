/**
 * GPU: jobs run on an NVIDIA H100 in confidential mode on Intel TDX (Confidential Space Preview image family,
 * flex-start capacity, GPU driver installed by the launcher). The attestation condition pins TDX hardware.
 *
 * In your own program: `import { DataCleanRoom } from "attested-cleanroom/components";`
 */
import * as pulumi from "@pulumi/pulumi";
import { DataCleanRoom } from "../../src/components/index.js";

const gcpConfig = new pulumi.Config("gcp");
const config = new pulumi.Config();

const room = new DataCleanRoom("gpu", {
  project: gcpConfig.require("project"),
  region: gcpConfig.require("region"),
  namePrefix: "gpu-room",
  providers: [{ name: "lab", datasets: [{ name: "scans" }], approvedJobs: config.requireObject<string[]>("approvedJobs") }],
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
  // No stage-1 exploration for image data: consumers develop on public samples.
  sandbox: { enabled: false },
});

export const descriptor = room.descriptor;
export const condition = room.condition;

/** Happy-path arguments for component tests: each test breaks one field. */
import * as path from "node:path";
import type { DataCleanRoomArgs } from "../../src/components/index.js";
import { bucketName } from "../../src/components/naming.js";
import { projectNumberOf } from "./harness.js";

export const PROJECT = "acme-room";
export const REGION = "europe-west4";
export const PREFIX = "research";
export const HOSPITAL_PROJECT = "hospital-data";
export const IMAGE_DIGEST = `sha256:${"e".repeat(64)}`;
export const IMAGE_REF = `${REGION}-docker.pkg.dev/${PROJECT}/cleanroom/executor@${IMAGE_DIGEST}`;
export const JOINT_JOB = `sha256:${"a".repeat(64)}`;
export const HOSPITAL_JOB = `sha256:${"b".repeat(64)}`;
export const INSURER_JOB = `sha256:${"c".repeat(64)}`;
export const POOL_NAME = `projects/${projectNumberOf(PROJECT)}/locations/global/workloadIdentityPools/${PREFIX}-pool`;
export const WORKLOAD_SA = `${PREFIX}-workload@${PROJECT}.iam.gserviceaccount.com`;
export const JUPYTER_SA = `${PREFIX}-jupyter@${PROJECT}.iam.gserviceaccount.com`;
export const FIXTURE_DOCKERFILE = path.join(__dirname, "fixtures", "executor.Dockerfile");

/** A two-provider room: the hospital in its own project, the insurer in the room's project. */
export function twoProviderArgs(): DataCleanRoomArgs {
  return {
    project: PROJECT,
    region: REGION,
    zone: `${REGION}-b`,
    namePrefix: PREFIX,
    providers: [
      {
        name: "hospital",
        project: HOSPITAL_PROJECT,
        datasets: [{ name: "admissions" }, { name: "diagnoses" }],
        approvedJobs: [JOINT_JOB, HOSPITAL_JOB],
      },
      { name: "insurer", datasets: [{ name: "claims" }], approvedJobs: [JOINT_JOB, INSURER_JOB] },
    ],
    executor: { imageReference: IMAGE_REF },
    sandbox: {
      authorizedNetworks: ["203.0.113.0/28"],
      github: { clientId: "Iv1.abc", clientSecret: "not-a-real-secret", allowedOrganizations: ["acme"] },
    },
  };
}

/** Claims of a production Confidential Space token that satisfies the room's policy. */
export function goodClaims(): Record<string, unknown> {
  return {
    iss: "https://confidentialcomputing.googleapis.com",
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250300"],
    secboot: true,
    hwmodel: "GCP_INTEL_TDX",
    dbgstat: "disabled-since-boot",
    google_service_accounts: [WORKLOAD_SA],
    submods: {
      confidential_space: { support_attributes: ["LATEST", "STABLE", "USABLE"] },
      // A job VM writes into the room's quarantine bucket (named by the ResultStore, pinned in the condition).
      container: {
        image_digest: IMAGE_DIGEST,
        env_override: { CLEANROOM_JOB_DIGEST: JOINT_JOB, CLEANROOM_OUTPUT_URI: `gs://${bucketName(PREFIX, "quarantine", PROJECT)}/job-1` },
      },
      gce: { project_id: PROJECT, project_number: projectNumberOf(PROJECT), zone: `${REGION}-b` },
    },
  };
}

/** The same token from a debug image: `dbgstat: enabled`, no support attributes. */
export function debugClaims(): Record<string, unknown> {
  const c = goodClaims();
  const submods = c.submods as Record<string, unknown>;
  return { ...c, dbgstat: "enabled", submods: { ...submods, confidential_space: {} } };
}

/**
 * Confidential Space claims in the shape Google emits, for the verify tests. Plain values, no I/O: pki.ts (which makes
 * certificate chains with openssl as it loads) re-exports them, and tests of pure functions import them from here.
 */

export const IMAGE = `sha256:${"a".repeat(64)}`;
export const OTHER_IMAGE = `sha256:${"b".repeat(64)}`;
export const JOB = `sha256:${"c".repeat(64)}`;

/** Production Confidential Space claims at time `now` (seconds), in the shape Google emits. */
export function productionClaims(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: "https://confidentialcomputing.googleapis.com",
    aud: "urn:attested-cleanroom:room:test",
    sub: "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/vm",
    iat: now,
    nbf: now,
    exp: now + 3600,
    eat_nonce: "n".repeat(64),
    secboot: true,
    hwmodel: "GCP_INTEL_TDX",
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250301"],
    dbgstat: "disabled-since-boot",
    google_service_accounts: ["wl@proj-1234.iam.gserviceaccount.com"],
    submods: {
      confidential_space: { support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: { image_digest: IMAGE, image_reference: `europe-docker.pkg.dev/p/r/executor@${IMAGE}`, env_override: { CLEANROOM_JOB_DIGEST: JOB } },
      gce: { project_id: "proj-1234", zone: "us-central1-a", project_number: "1234", instance_id: "1", instance_name: "vm" },
    },
    ...overrides,
  };
}

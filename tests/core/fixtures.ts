/**
 * Reusable, valid core fixtures: descriptors for both platforms, a spec, and attestation claims (a production TDX
 * token modelled on reference/confidential-space.md §1.5, Google's published production SEV claims, the decoded
 * payload of a real debug SEV token, and local-backend claims as the contract describes them), and a receipt.
 *
 * Every function returns a fresh deep copy, so a test may break one field without affecting another test.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AttestationClaims,
  type AttestationPolicyInput,
  buildAttestationCondition,
  type CleanRoomDescriptor,
  type CleanRoomSpec,
  DESCRIPTOR_VERSION,
  JOB_DIGEST_ENV,
  LOCAL_ISSUER,
  policyDigest,
  type Receipt,
  roomAudience,
} from "../../src/core/index.js";

/** Public Confidential Space test data: `shared/reference/testdata` beside the checkout (as CI lays it out), overridable. */
export const REFERENCE_TESTDATA = process.env.CLEANROOM_REFERENCE_TESTDATA ?? join(__dirname, "..", "..", "..", "shared", "reference", "testdata");

/** The executor image digest used by the TDX claims and both descriptors (the §1.5 example's digest). */
export const EXECUTOR_DIGEST = "sha256:67682bda769fae1ccf5183192b8daf37b64cae99c6c3302650f6f8bf5f0f95df";
/** A second, different executor digest. */
export const OTHER_DIGEST = `sha256:${"ab".repeat(32)}`;
/** A job digest that the fixtures' providers approve. */
export const APPROVED_JOB = `sha256:${"1".repeat(64)}`;
/** The workload service account of the fixtures' GCP room. */
export const WORKLOAD_SA = "cs-workload@my-proj.iam.gserviceaccount.com";
/** The GCP project of the fixtures' room. */
export const PROJECT = "my-proj";

/**
 * A self-signed P-256 certificate made for tests only (its private key was discarded): a syntactically real PEM for
 * `descriptor.attestation.trustedRoots`. Nothing can be signed under it.
 */
export const TEST_ROOT_PEM = `-----BEGIN CERTIFICATE-----
MIIBwTCCAWegAwIBAgIUOCVL/bWyEeiFYlH6Yu+oE+VXnIowCgYIKoZIzj0EAwIw
NTEzMDEGA1UEAwwqQXR0ZXN0ZWQgQ2xlYW4gUm9vbSBUZXN0IFJvb3QgKHRlc3Rz
IG9ubHkpMCAXDTI2MTEyMzE0NDQ1NFoYDzIxMjYxMDMwMTQ0NDU0WjA1MTMwMQYD
VQQDDCpBdHRlc3RlZCBDbGVhbiBSb29tIFRlc3QgUm9vdCAodGVzdHMgb25seSkw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARKGVacOhbdVob3ITRVzhdlYwV0Li09
O9o1m2rz6IChIZf2VHSzWvBO0sGIl6mZHpB5S030hMk1+tqKXPBCmsTco1MwUTAd
BgNVHQ4EFgQUlhLMnxshI9+yRcpDoWGyb+ivBhcwHwYDVR0jBBgwFoAUlhLMnxsh
I9+yRcpDoWGyb+ivBhcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiBx4agNwAfAm13JO0li45HMPgsFf2+e0ny0hF/ctKt32QIhAMuXo4SCAzQM5SmM
j2rVvw7+10hSjxA2vkQlrY+lt/+L
-----END CERTIFICATE-----
`;

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** A valid spec using every section (two providers, a schema with both column types, attestation, output). */
export function validSpec(): CleanRoomSpec {
  return clone({
    providers: [
      {
        name: "hospital-a",
        project: "hospital-a-prod",
        approvedJobs: [APPROVED_JOB],
        datasets: [
          {
            name: "patients",
            schema: {
              columns: [
                { name: "sex", type: "categorical", categories: ["F", "M"] },
                { name: "age", type: "numeric", min: 0, max: 120, bins: 12, integer: true },
              ],
            },
            stage1Method: "mst",
            epsilon: 2,
            delta: 1e-10,
          },
        ],
      },
      { name: "insurer", datasets: [{ name: "claims" }] },
    ],
    codePolicy: "approved-jobs",
    attestation: { allowDebug: false, requireStable: true, hwModels: ["GCP_INTEL_TDX"], minImageVersion: 250300 },
    output: { maxBytes: 1024, requireRelease: true },
  });
}

const PATIENTS = {
  name: "patients",
  stage1Method: "mst",
  epsilon: 1,
  delta: 1e-9,
  schema: { columns: [{ name: "sex", type: "categorical", categories: ["F", "M"] }] },
};

/** The attestation policy of the local fixture room (the contract's local policy). */
export function localPolicy(): AttestationPolicyInput {
  return { imageDigests: [EXECUTOR_DIGEST], platform: "local" };
}

/** The attestation policy of the GCP fixture room. */
export function gcpPolicy(): AttestationPolicyInput {
  return { imageDigests: [EXECUTOR_DIGEST], serviceAccounts: [WORKLOAD_SA], projectIds: [PROJECT] };
}

/** A valid descriptor of a room started with `cleanroom local up` in `dir`. */
export function localDescriptor(dir = "/tmp/acr-fixture-room"): CleanRoomDescriptor {
  const policy = localPolicy();
  return clone({
    version: DESCRIPTOR_VERSION,
    name: "demo",
    platform: "local",
    codePolicy: "approved-jobs",
    executor: { imageDigest: EXECUTOR_DIGEST },
    attestation: {
      policy,
      condition: buildAttestationCondition(policy),
      audience: roomAudience("demo"),
      trustedRoots: [TEST_ROOT_PEM],
    },
    output: { maxBytes: 100 * 1024 * 1024, requireRelease: false },
    providers: [
      {
        name: "hospital-a",
        approvedJobs: [APPROVED_JOB],
        datasets: [PATIENTS],
        dataUri: `file://${dir}/buckets/hospital-a`,
        keyName: "local:hospital-a",
      },
    ],
    storage: {
      jobs: `file://${dir}/buckets/jobs`,
      quarantine: `file://${dir}/buckets/quarantine`,
      results: `file://${dir}/buckets/results`,
      stage1: `file://${dir}/buckets/stage1`,
    },
    local: {
      dir,
      attestationSocket: `${dir}/run/attestation.sock`,
      brokerSocket: `${dir}/run/broker.sock`,
      insecureNoSandbox: false,
    },
  });
}

/** A valid descriptor of a room deployed to GCP by `new DataCleanRoom("demo", …)`. */
export function gcpDescriptor(): CleanRoomDescriptor {
  const policy = gcpPolicy();
  const pool = "projects/123456789012/locations/global/workloadIdentityPools/demo-pool";
  return clone({
    version: DESCRIPTOR_VERSION,
    name: "demo",
    platform: "gcp",
    codePolicy: "approved-jobs",
    executor: {
      imageDigest: EXECUTOR_DIGEST,
      imageReference: `europe-west4-docker.pkg.dev/my-proj/cleanroom/executor@${EXECUTOR_DIGEST}`,
    },
    attestation: { policy, condition: buildAttestationCondition(policy), audience: roomAudience("demo") },
    output: { maxBytes: 100 * 1024 * 1024, requireRelease: true },
    providers: [
      {
        name: "hospital-a",
        project: "hospital-a-prod",
        approvedJobs: [APPROVED_JOB],
        datasets: [PATIENTS],
        dataUri: "gs://demo-hospital-a-data",
        keyName: "projects/hospital-a-prod/locations/europe-west4/keyRings/demo/cryptoKeys/hospital-a",
      },
    ],
    storage: {
      jobs: "gs://demo-jobs-1a2b",
      quarantine: "gs://demo-quarantine-1a2b",
      results: "gs://demo-results-1a2b",
      stage1: "gs://demo-stage1-1a2b",
    },
    gcp: {
      project: PROJECT,
      projectNumber: "123456789012",
      region: "europe-west4",
      zone: "europe-west4-a",
      instanceTemplate: "projects/my-proj/global/instanceTemplates/demo-executor",
      workloadServiceAccount: WORKLOAD_SA,
      poolName: pool,
      poolProviderName: `${pool}/providers/confidential-space`,
    },
  });
}

/**
 * Claims of a production Intel TDX Confidential Space token, modelled on reference/confidential-space.md §1.5, with
 * the fixtures' service account, project, executor digest and approved job digest.
 */
export function productionTdxClaims(): AttestationClaims {
  return clone({
    aud: "https://relying-party.example",
    iss: "https://confidentialcomputing.googleapis.com",
    iat: 1757097315,
    nbf: 1757097315,
    exp: 1757100915,
    sub: "https://www.googleapis.com/compute/v1/projects/my-proj/zones/us-central1-c/instances/cs-vm-1",
    eat_nonce: ["NONCE_1", "NONCE_2"],
    eat_profile: "https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims",
    secboot: true,
    oemid: 11129,
    hwmodel: "GCP_INTEL_TDX",
    attester_tcb: ["INTEL"],
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["260100"],
    dbgstat: "disabled-since-boot",
    google_service_accounts: [WORKLOAD_SA],
    submods: {
      confidential_space: { support_attributes: ["LATEST", "STABLE", "USABLE"], monitoring_enabled: { memory: false } },
      container: {
        image_reference: `us-docker.pkg.dev/my-proj/repo/app@${EXECUTOR_DIGEST}`,
        image_digest: EXECUTOR_DIGEST,
        image_id: "sha256:fffffc90d343cbcb01a5032edac86db5998c536cd0a366514121a45c6723765c",
        restart_policy: "Never",
        args: ["/app/server"],
        env: { HOSTNAME: "cs-vm-1", PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
        env_override: { [JOB_DIGEST_ENV]: APPROVED_JOB },
      },
      gce: {
        zone: "us-central1-c",
        project_id: PROJECT,
        project_number: "123456789012",
        instance_name: "cs-vm-1",
        instance_id: "8114146583384593350",
      },
    },
    tdx: { gcp_attester_tcb_status: "UpToDate", gcp_attester_tcb_date: "2024-03-13T00:00:00Z" },
  });
}

/** Claims of a production SEV token as published in Oak's test data (`cs-claims-production-sev.json`). */
export function productionSevClaims(): AttestationClaims {
  return JSON.parse(readFileSync(join(REFERENCE_TESTDATA, "cs-claims-production-sev.json"), "utf8")) as AttestationClaims;
}

/** The payload of a real Google-signed debug SEV token (decoded, not verified). */
export function debugSevClaims(): AttestationClaims {
  const jwt = readFileSync(join(REFERENCE_TESTDATA, "cs-pki-token-debug-sev-2025-06-23.jwt"), "utf8").trim();
  const payload = jwt.split(".")[1];
  if (payload === undefined) throw new Error("the reference debug token is not a JWS");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as AttestationClaims;
}

/** Claims of a token from the local attestation service, as the contract describes them. */
export function localClaims(imageDigest = EXECUTOR_DIGEST, jobDigest = APPROVED_JOB): AttestationClaims {
  const now = 1757097315;
  return {
    iss: LOCAL_ISSUER,
    aud: "urn:attested-cleanroom:local-broker",
    iat: now,
    nbf: now,
    exp: now + 3600,
    eat_nonce: "0123456789abcdef0123456789abcdef",
    secboot: false,
    hwmodel: "NONE",
    swname: "CLEANROOM_LOCAL",
    swversion: ["0"],
    dbgstat: "enabled",
    submods: { container: { image_digest: imageDigest, env_override: { [JOB_DIGEST_ENV]: jobDigest } } },
  };
}

/** Pass as `replacement` to `withField` to delete the field. */
export const DELETE: unique symbol = Symbol("delete");

/**
 * Returns a deep copy of `value` with the field at `path` (`a.b[0].c`) set to `replacement`, or deleted when
 * `replacement` is `DELETE`. For breaking one field of a fixture per test case.
 */
export function withField<T>(value: T, path: string, replacement: unknown): T {
  const copy = clone(value) as unknown;
  const keys = path.match(/[^.[\]]+/g) ?? [];
  let node = copy as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === null || typeof next !== "object") throw new Error(`withField: ${path} does not exist at ${k}`);
    node = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (replacement === DELETE) delete node[last];
  else node[last] = replacement;
  return copy as T;
}

/** A succeeded local receipt with one input and two outputs. */
export function validReceipt(): Receipt {
  return {
    version: 1,
    room: "demo",
    jobId: "job-1",
    jobDigest: APPROVED_JOB,
    executorImageDigest: EXECUTOR_DIGEST,
    policyDigest: policyDigest("assertion.swname == 'CLEANROOM_LOCAL'"),
    platform: "local",
    sandbox: "bubblewrap",
    inputs: [{ provider: "hospital-a", dataset: "patients", sha256: "a".repeat(64), bytes: 1234 }],
    outputs: [
      { path: "model/coef.csv", bytes: 10, sha256: "b".repeat(64) },
      { path: "report.txt", bytes: 0, sha256: "c".repeat(64) },
    ],
    startedAt: "2025-06-23T14:22:31Z",
    finishedAt: "2025-06-23T14:25:02.123Z",
    status: "succeeded",
    exitCode: 0,
  };
}

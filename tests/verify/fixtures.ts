/** Result directories for the verify tests: a descriptor, outputs, a receipt and a token signed for it. */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type AttestationPolicyInput, buildAttestationCondition, CONFIDENTIAL_SPACE_ISSUER, LOCAL_ISSUER } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { canonicalJson, manifestOf, sha256Hex } from "../../src/core/digest.js";
import { nonceForReceipt, policyDigest, type Receipt } from "../../src/core/receipt.js";
import { type Chain, IMAGE, JOB, pkiToken, productionClaims } from "./pki.js";

export const AUD = "urn:attested-cleanroom:room:test";

export function descriptor(platform: "local" | "gcp", rootPem: string | undefined, policy: AttestationPolicyInput, name = "test"): CleanRoomDescriptor {
  const base = "file:///tmp/room";
  return {
    version: 1,
    name,
    platform,
    codePolicy: "approved-jobs",
    executor: { imageDigest: IMAGE },
    attestation: { policy, condition: buildAttestationCondition(policy), audience: AUD, ...(rootPem ? { trustedRoots: [rootPem] } : {}) },
    output: { maxBytes: 1_000_000, requireRelease: true },
    providers: [
      { name: "acme", approvedJobs: [JOB], dataUri: `${base}/acme`, keyName: "local:acme", datasets: [{ name: "claims", stage1Method: "none", epsilon: 1, delta: 1e-6 }] },
    ],
    storage: { jobs: `${base}/jobs`, quarantine: `${base}/q`, results: `${base}/r`, stage1: `${base}/s1` },
    ...(platform === "local"
      ? { local: { dir: "/tmp/room", attestationSocket: "/tmp/room/a.sock", brokerSocket: "/tmp/room/b.sock", insecureNoSandbox: false } }
      : {
          gcp: {
            project: "proj-1234",
            projectNumber: "1234",
            region: "us-central1",
            zone: "us-central1-a",
            instanceTemplate: "projects/proj-1234/global/instanceTemplates/t",
            workloadServiceAccount: "wl@proj-1234.iam.gserviceaccount.com",
            poolName: "projects/1234/locations/global/workloadIdentityPools/pool",
            poolProviderName: "projects/1234/locations/global/workloadIdentityPools/pool/providers/cs",
          },
        }),
  };
}

export interface Built {
  readonly dir: string;
  readonly receipt: Receipt;
}

/** Writes a result directory whose token is signed by `chain` for the receipt (as the executor does). */
export async function buildResult(
  parent: string,
  d: CleanRoomDescriptor,
  chain: Chain,
  opts: {
    status?: "succeeded" | "failed";
    tokenImage?: string;
    tokenJob?: string;
    receiptImage?: string;
    /** The `CLEANROOM_ROOM` the token records; null for none. @default - `d`, inlined as the launcher and `job submit` do */
    tokenRoom?: CleanRoomDescriptor | null;
    /** The job id the receipt names. @default "job-1", the job the token was issued for */
    receiptJobId?: string;
    /** The token's `sub`. @default - the local room's job subject, or a VM's instance URL on GCP */
    tokenSub?: string;
    /** The receipt's inputs. @default one input of the fixture's provider */
    inputs?: Receipt["inputs"];
    /** The receipt's error text, for a failed result. */
    error?: string;
    /** Claims set (or, when undefined, removed) on top of the fixture's. */
    claims?: Record<string, unknown>;
    /** The token's submods other than container. @default - production's (confidential_space, gce) */
    submods?: Record<string, unknown>;
    /** Fields of submods.container set (undefined: removed) on top of the fixture's (image_reference, env_override…). */
    container?: Record<string, unknown>;
    /** Receipt fields set (undefined: removed) on top of the fixture's, before the token is bound to it. */
    receipt?: Partial<Record<keyof Receipt, unknown>>;
  } = {},
): Promise<Built> {
  const dir = await mkdtemp(join(parent, "result-"));
  const out = join(dir, "outputs");
  const failed = opts.status === "failed";
  await mkdir(join(out, "tables"), { recursive: true });
  if (!failed) {
    await writeFile(join(out, "report.csv"), "region,count\nnorth,12\nsouth,30\n");
    await writeFile(join(out, "tables", "model.json"), JSON.stringify({ coef: [0.1, 0.2] }));
  }
  const now = Math.floor(Date.now() / 1000);
  const built: Receipt = {
    version: 1,
    room: d.name,
    jobId: opts.receiptJobId ?? "job-1",
    jobDigest: JOB,
    executorImageDigest: opts.receiptImage ?? IMAGE,
    policyDigest: policyDigest(d.attestation.condition),
    platform: d.platform,
    sandbox: d.platform === "local" ? "bubblewrap" : "confidential-space",
    inputs: opts.inputs ?? [{ provider: "acme", dataset: "claims", sha256: sha256Hex("data"), bytes: 4 }],
    outputs: failed ? [] : await manifestOf(out),
    startedAt: new Date((now - 60) * 1000).toISOString(),
    finishedAt: new Date(now * 1000).toISOString(),
    status: failed ? "failed" : "succeeded",
    exitCode: failed ? 3 : 0,
    ...(failed ? { error: opts.error ?? "the job exited with code 3", errorCode: "job-failed" } : {}),
  };
  const receipt = JSON.parse(JSON.stringify({ ...built, ...opts.receipt })) as Receipt;
  await writeFile(join(dir, "receipt.json"), JSON.stringify(receipt, null, 2));
  const local = d.platform === "local";
  const base = productionClaims(now + 1, { aud: AUD, eat_nonce: nonceForReceipt(receipt) });
  const claims: Record<string, unknown> = local
    ? { ...base, iss: LOCAL_ISSUER, swname: "CLEANROOM_LOCAL", hwmodel: "NONE", dbgstat: "enabled", secboot: false, swversion: ["0"], sub: `local://${d.name}/jobs/job-1` }
    : { ...base, iss: CONFIDENTIAL_SPACE_ISSUER };
  if (opts.tokenSub !== undefined) claims.sub = opts.tokenSub;
  for (const [k, v] of Object.entries(opts.claims ?? {})) {
    if (v === undefined) delete claims[k];
    else claims[k] = v;
  }
  const { container: _ignored, ...otherSubmods } = claims.submods as Record<string, unknown>;
  claims.submods = {
    ...(opts.submods ?? otherSubmods),
    container: {
      image_digest: opts.tokenImage ?? IMAGE,
      // What the launcher (local) or `job submit` (GCP) sets for the job the token was issued for: job-1.
      env_override: {
        CLEANROOM_JOB_DIGEST: opts.tokenJob ?? JOB,
        CLEANROOM_JOB_URI: `${d.storage.jobs}/job-1`,
        CLEANROOM_OUTPUT_URI: `${d.storage.quarantine}/job-1`,
        ...(opts.tokenRoom === null ? {} : { CLEANROOM_ROOM: canonicalJson(opts.tokenRoom ?? d) }),
      },
      ...opts.container,
    },
  };
  await writeFile(join(dir, "attestation.jwt"), pkiToken(chain, claims, local ? "ES256" : "RS256"));
  return { dir, receipt };
}


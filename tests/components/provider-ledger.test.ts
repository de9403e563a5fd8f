/**
 * Stage-2 DP spends append to a provider's privacy ledgers in its own data bucket. In the provider's own stack
 * (`examples/multi-party/hospital`), `DataProvider` grants that to the principal sets of the jobs it approved, in its
 * own pool, create-only and under `.dp-ledger/` only; the room's workload service account gets nothing there.
 */
import { expect } from "chai";
import { jobDigestPrincipalSet } from "../../src/core/attestation.js";
import { ROLES } from "../../src/components/index.js";
import { type MockRun, type RecordedResource, ofType, runExampleUnderMocks } from "./harness.js";

const BUCKET = "gcp:storage/bucket:Bucket";
const POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool";
const JOINT = `sha256:${"a".repeat(64)}`;
const HOSPITAL_ONLY = `sha256:${"b".repeat(64)}`;

/** Storage IAM grants on a bucket, as `role member [condition]`. */
function grantsOn(resources: readonly RecordedResource[], bucket: string): string[] {
  return resources
    .filter((r) => r.type.startsWith("gcp:storage/") && /iam(member|binding|policy)$/i.test(r.type) && r.inputs.bucket === bucket)
    .map((r) => {
      const condition = (r.inputs.condition as { expression?: string } | undefined)?.expression;
      return `${r.inputs.role} ${r.inputs.member}${condition ? ` [${condition}]` : ""}`;
    })
    .sort();
}

describe("components: DataProvider in its own stack grants stage-2 ledger writes", function () {
  this.timeout(60_000);
  let run: MockRun;

  before(async () => {
    run = await runExampleUnderMocks("multi-party/hospital");
  });

  it("GIVEN the hospital's own program WHEN planned THEN each approved job's principal set of its own pool may create objects under .dp-ledger/ only, besides reading the bucket", () => {
    const bucket = String(ofType(run.resources, BUCKET)[0]!.inputs.name);
    const pool = ofType(run.resources, POOL)[0]!;
    const published = JSON.parse((run.outputs as { provider: string }).provider) as { attestation: { poolProviderName: string } };
    const poolName = published.attestation.poolProviderName.replace(/\/providers\/[^/]+$/, "");
    expect(poolName).to.include(String(pool.inputs.workloadIdentityPoolId));
    const ledger = `resource.name.startsWith("projects/_/buckets/${bucket}/objects/.dp-ledger/")`;
    const stewards = "group:hospital-data-stewards@consortium.example";
    expect(grantsOn(run.resources, bucket)).to.deep.equal(
      [
        ...[JOINT, HOSPITAL_ONLY].flatMap((d) => [
          `${ROLES.objectViewer} ${jobDigestPrincipalSet(poolName, d)}`,
          `${ROLES.objectCreator} ${jobDigestPrincipalSet(poolName, d)} [${ledger}]`,
        ]),
        `${ROLES.objectCreator} ${stewards}`,
        `${ROLES.objectViewer} ${stewards}`,
      ].sort(),
    );
    // Nothing for the room's workload service account, which any submitter may attach to a VM of their own.
    for (const g of grantsOn(run.resources, bucket)) expect(g).to.not.match(/serviceAccount:consortium-workload@/);
  });
});

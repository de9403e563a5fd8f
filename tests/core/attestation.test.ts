import { expect } from "chai";
import {
  type AttestationClaims,
  type AttestationPolicyInput,
  attributeMapping,
  attributePrincipalSet,
  buildAttestationCondition,
  CleanRoomError,
  CONFIDENTIAL_SPACE_SWNAME,
  evaluateAttestationCondition,
  imageDigestPrincipalSet,
  JOB_DIGEST_ENV,
  jobDigestPrincipalSet,
  LOCAL_SWNAME,
  MAX_CONDITION_LENGTH,
  OUTPUT_URI_ENV,
} from "../../src/core/index.js";
import {
  APPROVED_JOB,
  DELETE,
  debugSevClaims,
  EXECUTOR_DIGEST,
  gcpPolicy,
  localClaims,
  localPolicy,
  OTHER_DIGEST,
  PROJECT,
  productionSevClaims,
  productionTdxClaims,
  WORKLOAD_SA,
  withField,
} from "./fixtures.js";

const SEV_DIGEST = "sha256:313b8a83d3c8bfc9abcffee4f538424473e2705383a7e46f16d159faf0e5ef34";
const SEV_SA = "691249393555-compute@developer.gserviceaccount.com";

function evaluate(policy: AttestationPolicyInput, claims: unknown) {
  return evaluateAttestationCondition(buildAttestationCondition(policy), claims);
}

function expectDenied(policy: AttestationPolicyInput, claims: unknown, clauseFragment: string): void {
  const r = evaluate(policy, claims);
  expect(r.allowed, "should be denied").to.equal(false);
  expect(r.failedClauses, "exactly the failing clause is named").to.have.length(1);
  expect(r.failedClauses![0]).to.include(clauseFragment);
  expect(r.reason).to.include(clauseFragment);
}

describe("core/attestation: the condition on real Confidential Space claims", () => {
  it("GIVEN production TDX claims (§1.5) and the room's policy THEN allowed", () => {
    const r = evaluate(gcpPolicy(), productionTdxClaims());
    expect(r).to.deep.equal({ allowed: true, failedClauses: [] });
  });

  it("GIVEN Google's published production SEV claims and a policy pinning their digest, SA and project THEN allowed", () => {
    const policy = { imageDigests: [SEV_DIGEST], serviceAccounts: [SEV_SA], projectIds: ["oak-ci"], hwModels: ["GCP_AMD_SEV"], minImageVersion: 250301 };
    expect(evaluate(policy, productionSevClaims()).allowed).to.equal(true);
  });

  describe("the real debug SEV token (dbgstat enabled, no support_attributes)", () => {
    it("GIVEN the production policy THEN denied, naming dbgstat and STABLE, without crashing", () => {
      const r = evaluate({ imageDigests: [SEV_DIGEST] }, debugSevClaims());
      expect(r.allowed).to.equal(false);
      expect(r.failedClauses).to.have.length(2);
      expect(r.failedClauses![0]).to.include("assertion.dbgstat == \"disabled-since-boot\"");
      expect(r.failedClauses![1]).to.include("support_attributes");
    });
    it("GIVEN allowDebug THEN allowed (and only then)", () => {
      expect(evaluate({ imageDigests: [SEV_DIGEST], allowDebug: true }, debugSevClaims()).allowed).to.equal(true);
      expect(evaluate({ imageDigests: [SEV_DIGEST], allowDebug: false }, debugSevClaims()).allowed).to.equal(false);
    });
    it("GIVEN allowDebug THEN the condition still pins swname, secboot and the digest", () => {
      const cond = buildAttestationCondition({ imageDigests: [SEV_DIGEST], allowDebug: true });
      expect(cond).to.include(`assertion.swname == '${CONFIDENTIAL_SPACE_SWNAME}'`);
      expect(cond).to.include("assertion.secboot == true");
      expect(cond).not.to.include("dbgstat");
      expect(evaluateAttestationCondition(cond, withField(debugSevClaims(), "submods.container.image_digest", OTHER_DIGEST)).allowed).to.equal(false);
    });
  });

  it("GIVEN a production image on plain GCE (swname GCE) THEN denied on swname", () => {
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "swname", "GCE"), "assertion.swname == \"CONFIDENTIAL_SPACE\"");
  });

  it("GIVEN a debug image that claims CONFIDENTIAL_SPACE with STABLE THEN still denied on dbgstat", () => {
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "dbgstat", "enabled"), "assertion.dbgstat");
  });

  it("GIVEN claims without support_attributes THEN denied on that clause, not a crash", () => {
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "submods.confidential_space.support_attributes", DELETE), "support_attributes");
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "submods.confidential_space", DELETE), "support_attributes");
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "submods.confidential_space.support_attributes", null), "support_attributes");
  });

  it("GIVEN only LATEST and USABLE support attributes THEN denied; with requireStable false THEN allowed", () => {
    const claims = withField(productionTdxClaims(), "submods.confidential_space.support_attributes", ["LATEST", "USABLE"]);
    expectDenied(gcpPolicy(), claims, "\"STABLE\" in assertion.submods.confidential_space.support_attributes");
    expect(evaluate({ ...gcpPolicy(), requireStable: false }, claims).allowed).to.equal(true);
  });

  it("GIVEN secboot false THEN denied on secboot", () => {
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "secboot", false), "assertion.secboot == true");
  });

  it("GIVEN another image digest THEN denied on image_digest; a policy listing both digests allows either", () => {
    const claims = withField(productionTdxClaims(), "submods.container.image_digest", OTHER_DIGEST);
    expectDenied(gcpPolicy(), claims, "assertion.submods.container.image_digest == ");
    const both = { ...gcpPolicy(), imageDigests: [EXECUTOR_DIGEST, OTHER_DIGEST] };
    expect(buildAttestationCondition(both)).to.include(`image_digest in ['${EXECUTOR_DIGEST}', '${OTHER_DIGEST}']`);
    expect(evaluate(both, claims).allowed).to.equal(true);
    expect(evaluate(both, productionTdxClaims()).allowed).to.equal(true);
  });

  it("GIVEN a VM running as another service account THEN denied on google_service_accounts", () => {
    const claims = withField(productionTdxClaims(), "google_service_accounts", ["attacker@evil-proj.iam.gserviceaccount.com"]);
    expectDenied(gcpPolicy(), claims, "google_service_accounts");
    // Any one of several allowed accounts suffices, and the attached SA may be one of several.
    const multi = { ...gcpPolicy(), serviceAccounts: ["other@my-proj.iam.gserviceaccount.com", WORKLOAD_SA] };
    expect(evaluate(multi, withField(productionTdxClaims(), "google_service_accounts", ["x@y.iam.gserviceaccount.com", WORKLOAD_SA])).allowed).to.equal(true);
  });

  it("GIVEN a VM in another project THEN denied on project_id", () => {
    expectDenied(gcpPolicy(), withField(productionTdxClaims(), "submods.gce.project_id", "evil-proj"), "assertion.submods.gce.project_id == \"my-proj\"");
  });

  it("GIVEN hwModels THEN only those hardware models pass", () => {
    const tdxOnly = { ...gcpPolicy(), hwModels: ["GCP_INTEL_TDX"] };
    expect(evaluate(tdxOnly, productionTdxClaims()).allowed).to.equal(true);
    expectDenied(tdxOnly, withField(productionTdxClaims(), "hwmodel", "GCP_AMD_SEV"), "assertion.hwmodel == \"GCP_INTEL_TDX\"");
    const either = { ...gcpPolicy(), hwModels: ["GCP_INTEL_TDX", "GCP_AMD_SEV"] };
    expect(evaluate(either, withField(productionTdxClaims(), "hwmodel", "GCP_AMD_SEV")).allowed).to.equal(true);
  });

  it("GIVEN minImageVersion THEN older images are denied and equal or newer ones pass", () => {
    const floor = { ...gcpPolicy(), minImageVersion: 250300 };
    expect(evaluate(floor, withField(productionTdxClaims(), "swversion", ["250300"])).allowed).to.equal(true);
    expect(evaluate(floor, productionTdxClaims()).allowed).to.equal(true); // 260100
    expectDenied(floor, withField(productionTdxClaims(), "swversion", ["250299"]), "int(assertion.swversion[0]) >= 250300");
    expectDenied(floor, withField(productionTdxClaims(), "swversion", ["not-a-number"]), "int(assertion.swversion[0]) >= 250300");
    expectDenied(floor, withField(productionTdxClaims(), "swversion", []), "int(assertion.swversion[0]) >= 250300");
  });

  it("GIVEN several failures THEN every failing clause is listed", () => {
    let claims = withField(productionTdxClaims(), "submods.gce.project_id", "evil-proj");
    claims = withField(claims, "submods.container.image_digest", OTHER_DIGEST);
    const r = evaluate(gcpPolicy(), claims);
    expect(r.allowed).to.equal(false);
    expect(r.failedClauses).to.have.length(2);
    expect(r.failedClauses!.join("\n")).to.include("image_digest").and.include("project_id");
  });

  it("GIVEN claims that are not an object THEN denied, not thrown", () => {
    for (const bad of [null, "token", 5, []]) {
      expect(evaluate(gcpPolicy(), bad).allowed).to.equal(false);
    }
    expect(evaluate(gcpPolicy(), {}).allowed).to.equal(false);
  });

  describe("local platform variant", () => {
    it("GIVEN local claims (swname CLEANROOM_LOCAL) and the local policy THEN allowed", () => {
      const cond = buildAttestationCondition(localPolicy());
      expect(cond.startsWith(`assertion.swname == '${LOCAL_SWNAME}'`)).to.equal(true);
      expect(evaluateAttestationCondition(cond, localClaims())).to.deep.equal({ allowed: true, failedClauses: [] });
    });
    it("GIVEN Google's production claims with the same digest THEN the local condition denies them", () => {
      expectDenied(localPolicy(), productionTdxClaims(), `assertion.swname == "${LOCAL_SWNAME}"`);
    });
    it("GIVEN local claims for another executor digest THEN denied on image_digest", () => {
      expectDenied(localPolicy(), localClaims(OTHER_DIGEST), "image_digest");
    });
    it("GIVEN local claims THEN the gcp condition denies them (swname, secboot, dbgstat, STABLE all fail)", () => {
      const r = evaluate({ imageDigests: [EXECUTOR_DIGEST] }, localClaims());
      expect(r.allowed).to.equal(false);
      expect(r.failedClauses).to.have.length(4);
      expect(r.failedClauses![0]).to.include("swname");
      // Even a gcp policy relaxed as far as it goes still requires Google's swname.
      expectDenied({ imageDigests: [EXECUTOR_DIGEST], allowDebug: true }, withField(localClaims(), "secboot", true), "swname");
    });
  });

  describe("invalid policy input is rejected before any CEL is written (no CEL injection)", () => {
    const cases: [string, AttestationPolicyInput, string][] = [
      ["a digest containing a quote", { imageDigests: [`sha256:${"a".repeat(64)}' || true || '`] }, "policy.imageDigests[0]"],
      ["a digest with uppercase hex", { imageDigests: [`sha256:${"A".repeat(64)}`] }, "policy.imageDigests[0]"],
      ["no digests", { imageDigests: [] }, "policy.imageDigests must list"],
      ["a service account with CEL in it", { imageDigests: [EXECUTOR_DIGEST], serviceAccounts: ["a@b.com' in assertion.x || 'x"] }, "policy.serviceAccounts[0]"],
      ["a project with a quote", { imageDigests: [EXECUTOR_DIGEST], projectIds: ["my-proj' || true || '"] }, "policy.projectIds[0]"],
      ["a hardware model with a quote", { imageDigests: [EXECUTOR_DIGEST], hwModels: ["X' || true || '"] }, "policy.hwModels[0]"],
      ["a fractional version", { imageDigests: [EXECUTOR_DIGEST], minImageVersion: 1.5 }, "policy.minImageVersion"],
      ["a string version", { imageDigests: [EXECUTOR_DIGEST], minImageVersion: "0 || true" as unknown as number }, "policy.minImageVersion"],
      ["an unknown platform", { imageDigests: [EXECUTOR_DIGEST], platform: "aws" }, "policy.platform"],
      ["allowDebug with requireStable", { imageDigests: [EXECUTOR_DIGEST], allowDebug: true, requireStable: true }, "allowDebug cannot be combined"],
      ["a non-boolean allowDebug", { imageDigests: [EXECUTOR_DIGEST], allowDebug: "true" as unknown as boolean }, "policy.allowDebug must be a boolean"],
    ];
    for (const [what, policy, fragment] of cases) {
      it(`GIVEN ${what} THEN invalid-policy naming it`, () => {
        try {
          buildAttestationCondition(policy);
          expect.fail("should throw");
        } catch (err) {
          expect(err).to.be.instanceOf(CleanRoomError);
          expect((err as CleanRoomError).code).to.equal("invalid-policy");
          expect((err as CleanRoomError).problems).to.have.length(1);
          expect((err as CleanRoomError).problems[0]).to.include(fragment);
        }
      });
    }
    it("GIVEN a policy that is not an object THEN invalid-policy, not a TypeError", () => {
      for (const bad of [null, undefined, "sha256:x", 3]) {
        expect(() => buildAttestationCondition(bad as unknown as AttestationPolicyInput))
          .to.throw(CleanRoomError)
          .with.property("code", "invalid-policy");
      }
    });
  });

  describe("outputUriPrefix: the quarantine the job must write to", () => {
    const QUARANTINE = "gs://demo-quarantine-1a2b/";
    const policy: AttestationPolicyInput = { ...gcpPolicy(), outputUriPrefix: QUARANTINE };
    const withOutput = (uri: string | typeof DELETE) =>
      withField(productionTdxClaims(), `submods.container.env_override.${OUTPUT_URI_ENV}`, uri) as AttestationClaims;

    it("GIVEN a VM launched to write into the quarantine THEN allowed", () => {
      expect(evaluateAttestationCondition(buildAttestationCondition(policy), withOutput(`${QUARANTINE}job-1`)).allowed).to.equal(true);
    });

    for (const [what, uri] of [
      ["the submitter's own bucket", "gs://attacker-bucket/job-1"],
      ["a bucket whose name extends the quarantine's", "gs://demo-quarantine-1a2b-evil/job-1"],
      ["no output variable at all", DELETE],
    ] as const) {
      it(`GIVEN ${what} THEN denied on that clause`, () => {
        const r = evaluateAttestationCondition(buildAttestationCondition(policy), withOutput(uri));
        expect(r.allowed).to.equal(false);
        expect(r.failedClauses).to.have.length(1);
        expect(r.failedClauses![0]).to.include(`${OUTPUT_URI_ENV}.startsWith("${QUARANTINE}")`);
      });
    }

    for (const bad of ["gs://b/' || true || '", "gs://demo-quarantine-1a2b", "https://storage.googleapis.com/b/", "file:///tmp/q\\x/", 42]) {
      it(`GIVEN outputUriPrefix ${JSON.stringify(bad)} THEN invalid-policy before any CEL is written`, () => {
        expect(() => buildAttestationCondition({ ...gcpPolicy(), outputUriPrefix: bad as string })).to.throw(CleanRoomError, /outputUriPrefix must be the quarantine's URI/);
      });
    }
  });

  describe("the 4096-character limit of IAM", () => {
    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
    it("GIVEN enough digests to exceed 4096 characters THEN condition-too-long with advice", () => {
      const digests = Array.from({ length: 60 }, (_, i) => digest(i));
      try {
        buildAttestationCondition({ imageDigests: digests });
        expect.fail("should throw");
      } catch (err) {
        expect(err).to.be.instanceOf(CleanRoomError);
        expect((err as CleanRoomError).code).to.equal("condition-too-long");
        expect((err as Error).message).to.include("4096").and.include("Pin fewer image digests");
      }
    });
    it("GIVEN the largest digest count that fits THEN the condition is at most 4096 characters", () => {
      const fitsWith = (k: number) => {
        try {
          buildAttestationCondition({ imageDigests: Array.from({ length: k }, (_, i) => digest(i)) });
          return true;
        } catch {
          return false;
        }
      };
      // Bounded: with a broken length check every count would "fit" and an open-ended search would never end.
      const LIMIT = 1000;
      let n = 1;
      while (n < LIMIT && fitsWith(n + 1)) n++;
      expect(n, `${LIMIT} digests still fit in 4096 characters: the length check does not bite`).to.be.lessThan(LIMIT);
      const fits = buildAttestationCondition({ imageDigests: Array.from({ length: n }, (_, i) => digest(i)) });
      expect(fits.length).to.be.at.most(MAX_CONDITION_LENGTH);
      expect(n).to.be.greaterThan(40); // ~77 characters per digest: dozens of executor versions fit
      expect(() => buildAttestationCondition({ imageDigests: Array.from({ length: n + 1 }, (_, i) => digest(i)) })).to.throw(/4096/);
    });
  });

  it("GIVEN a condition that is not CEL THEN cel-error; an empty one THEN cel-error", () => {
    expect(() => evaluateAttestationCondition("assertion.swname == ", {})).to.throw(CleanRoomError).with.property("code", "cel-error");
    expect(() => evaluateAttestationCondition("  ", {})).to.throw(CleanRoomError).with.property("code", "cel-error");
  });

  it("GIVEN a hand-written WIF condition THEN it evaluates too (non-boolean results deny)", () => {
    const claims: AttestationClaims = productionTdxClaims();
    expect(evaluateAttestationCondition("assertion.hwmodel == 'GCP_INTEL_TDX' && 'INTEL' in assertion.attester_tcb", claims).allowed).to.equal(true);
    expect(evaluateAttestationCondition("assertion.hwmodel", claims).allowed).to.equal(false);
  });
});

describe("core/attestation: attribute mapping and principal sets", () => {
  const pool = "projects/123456789012/locations/global/workloadIdentityPools/demo-pool";

  it("GIVEN production claims WHEN each mapping expression is evaluated THEN subject, image digest and job digest come out", () => {
    const m = attributeMapping();
    expect(Object.keys(m).sort()).to.deep.equal(["attribute.image_digest", "attribute.job_digest", "google.subject"]);
    const claims = productionTdxClaims();
    // Evaluate each expression with the same CEL engine, comparing it with the expected value inside CEL.
    const is = (expr: string, expected: string) => evaluateAttestationCondition(`${expr} == '${expected}'`, claims).allowed;
    const subject = `gcpcs::${EXECUTOR_DIGEST}::123456789012::8114146583384593350`;
    expect(is(m["google.subject"]!.replace(/"/g, "'"), subject)).to.equal(true);
    expect(subject.length).to.be.at.most(127); // IAM's google.subject limit
    expect(is(m["attribute.image_digest"]!, EXECUTOR_DIGEST)).to.equal(true);
    expect(is(m["attribute.job_digest"]!, APPROVED_JOB)).to.equal(true);
    expect(m["attribute.job_digest"]).to.include(JOB_DIGEST_ENV);
  });

  it("GIVEN a pool and digests THEN the principalSet members are IAM's attribute form", () => {
    expect(jobDigestPrincipalSet(pool, APPROVED_JOB)).to.equal(`principalSet://iam.googleapis.com/${pool}/attribute.job_digest/${APPROVED_JOB}`);
    expect(imageDigestPrincipalSet(pool, EXECUTOR_DIGEST)).to.equal(`principalSet://iam.googleapis.com/${pool}/attribute.image_digest/${EXECUTOR_DIGEST}`);
    expect(attributePrincipalSet(pool, "team", "blue")).to.equal(`principalSet://iam.googleapis.com/${pool}/attribute.team/blue`);
  });

  it("GIVEN a malformed pool name, attribute or digest THEN invalid-argument naming it", () => {
    const bad: [() => string, string][] = [
      [() => jobDigestPrincipalSet("demo-pool", APPROVED_JOB), "poolName"],
      [() => jobDigestPrincipalSet(`projects/${PROJECT}/locations/us/workloadIdentityPools/demo-pool`, APPROVED_JOB), "poolName"],
      [() => jobDigestPrincipalSet(pool, "sha256:abc"), "job_digest must be sha256"],
      [() => imageDigestPrincipalSet(pool, `${EXECUTOR_DIGEST}/../*`), "image_digest must be sha256"],
      [() => attributePrincipalSet(pool, "Team", "blue"), "attribute must match"],
      [() => attributePrincipalSet(pool, "team", "blue/*"), "value must be"],
      [() => attributePrincipalSet(pool, "team", ""), "value must be"],
    ];
    for (const [f, fragment] of bad) {
      try {
        f();
        expect.fail(`should throw for ${fragment}`);
      } catch (err) {
        expect(err).to.be.instanceOf(CleanRoomError);
        expect((err as CleanRoomError).code).to.equal("invalid-argument");
        expect((err as Error).message).to.include(fragment);
      }
    }
  });
});

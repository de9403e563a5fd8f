/**
 * The attestation condition's contract at its edges: what a provider's own policy keeps from the room, which policy
 * inputs are refused (values of the wrong type that a regex would coerce, out-of-range numbers, names that only start
 * or end right), IAM's length limit at its exact boundary, principal-set members, attribute mapping, and what a denial
 * reports. Pure functions: no room, no files.
 */
import { expect } from "chai";
import {
  type AttestationPolicyInput,
  attestationPolicyProblems,
  attributePrincipalSet,
  buildAttestationCondition,
  CleanRoomError,
  evaluateAttestationCondition,
  JOB_DIGEST_ENV,
  MAX_CONDITION_LENGTH,
  mapAttributes,
  parseCondition,
  providerAttestationPolicy,
  providerAttestationProblems,
} from "../../src/core/index.js";
import { APPROVED_JOB, DELETE, EXECUTOR_DIGEST, gcpPolicy, OTHER_DIGEST, PROJECT, productionTdxClaims, WORKLOAD_SA, withField } from "./fixtures.js";

const QUARANTINE = "gs://demo-quarantine-1a2b/";
const POOL = "projects/123456789012/locations/global/workloadIdentityPools/demo-pool";

function cleanRoomError(f: () => unknown): CleanRoomError {
  try {
    f();
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  return expect.fail("should throw");
}

describe("core/attestation: a provider's own policy", () => {
  const room: AttestationPolicyInput = {
    imageDigests: [EXECUTOR_DIGEST],
    serviceAccounts: [WORKLOAD_SA],
    projectIds: [PROJECT],
    allowDebug: true,
    requireStable: false,
    hwModels: ["GCP_INTEL_TDX"],
    minImageVersion: 250300,
    platform: "gcp",
    outputUriPrefix: QUARANTINE,
  };

  it("GIVEN own requirements WHEN resolved THEN the room's workload identity, project, platform and output location are kept", () => {
    expect(providerAttestationPolicy(room, { executorImageDigests: [OTHER_DIGEST], minImageVersion: 250400 })).to.deep.equal({
      imageDigests: [OTHER_DIGEST],
      serviceAccounts: [WORKLOAD_SA],
      projectIds: [PROJECT],
      allowDebug: false,
      requireStable: true,
      hwModels: ["GCP_INTEL_TDX"],
      minImageVersion: 250400,
      platform: "gcp",
      outputUriPrefix: QUARANTINE,
    });
    // So the provider's key, too, only opens for jobs that write into the room's quarantine.
    expect(buildAttestationCondition(providerAttestationPolicy(room, {}))).to.include(`.startsWith('${QUARANTINE}')`);
  });

  it("GIVEN own requirements without an image-version floor THEN the room's floor applies", () => {
    expect(providerAttestationPolicy(room, {}).minImageVersion).to.equal(250300);
  });

  it("GIVEN a room that sets none of the optional fields THEN the provider's policy has none of them either", () => {
    expect(providerAttestationPolicy({ imageDigests: [EXECUTOR_DIGEST] }, {})).to.deep.equal({
      imageDigests: [EXECUTOR_DIGEST],
      allowDebug: false,
      requireStable: true,
    });
  });

  it("GIVEN own requirements that allow debug THEN STABLE is not required (debug images carry no support attributes)", () => {
    const p = providerAttestationPolicy({ imageDigests: [EXECUTOR_DIGEST] }, { allowDebug: true });
    expect(p).to.deep.equal({ imageDigests: [EXECUTOR_DIGEST], allowDebug: true, requireStable: false });
    expect(() => buildAttestationCondition(p)).not.to.throw();
  });

  it("GIVEN own requirements that are not an object THEN one problem saying so", () => {
    for (const own of [null, "strict", [{ allowDebug: false }], 7]) {
      expect(providerAttestationProblems(own, "providers[0].attestation"), JSON.stringify(own)).to.deep.equal(["providers[0].attestation must be an object"]);
    }
  });

  it("GIVEN own requirements using every known field correctly (or none) THEN no problem", () => {
    expect(providerAttestationProblems({}, "p")).to.deep.equal([]);
    expect(
      providerAttestationProblems({ executorImageDigests: [EXECUTOR_DIGEST], allowDebug: false, requireStable: true, hwModels: ["GCP_AMD_SEV"], minImageVersion: 250300 }, "p"),
    ).to.deep.equal([]);
  });
});

describe("core/attestation: policy inputs that are refused", () => {
  const problems = (extra: Record<string, unknown>) => attestationPolicyProblems({ ...gcpPolicy(), ...extra } as AttestationPolicyInput);

  // A regex test coerces its argument to a string: a value wrapped in a list (easy to write in JSON) must still be
  // refused, not read as the string inside it.
  for (const [field, value] of [
    ["imageDigests", [[EXECUTOR_DIGEST]]],
    ["serviceAccounts", [[WORKLOAD_SA]]],
    ["outputUriPrefix", [QUARANTINE]],
  ] as const) {
    it(`GIVEN ${field} holding a value wrapped in a list THEN a problem naming ${field}`, () => {
      const p = problems({ [field]: value });
      expect(p).to.have.length(1);
      expect(p[0]).to.match(new RegExp(`^policy\\.${field}`));
    });
  }

  it("GIVEN a list field that is a single string THEN a problem (not a TypeError)", () => {
    expect(problems({ serviceAccounts: WORKLOAD_SA })).to.deep.equal(["policy.serviceAccounts must be an array of strings"]);
  });

  it("GIVEN a policy that is not an object THEN the one problem says what is expected", () => {
    expect(attestationPolicyProblems(null as unknown as AttestationPolicyInput, "room.attestation")).to.deep.equal([
      "room.attestation must be an object with at least imageDigests",
    ]);
  });

  it("GIVEN a malformed service account, project or hardware model THEN the problem says what was expected", () => {
    expect(problems({ serviceAccounts: ["x"] })[0]).to.include("must be a service account email");
    expect(problems({ projectIds: ["X"] })[0]).to.include("must be a GCP project id");
    expect(problems({ hwModels: ["tdx"] })[0]).to.include("must be one of GCP_INTEL_TDX, GCP_AMD_SEV, ");
  });

  it("GIVEN requireStable that is not a boolean THEN a problem", () => {
    expect(problems({ requireStable: "yes" })).to.deep.equal(["policy.requireStable must be a boolean"]);
  });

  it("GIVEN minImageVersion at and beyond its bounds THEN 0 and 99999999 pass, -1 and 100000000 are refused", () => {
    expect(problems({ minImageVersion: 0 })).to.deep.equal([]);
    expect(problems({ minImageVersion: 99_999_999 })).to.deep.equal([]);
    expect(problems({ minImageVersion: -1 })).to.have.length(1);
    expect(problems({ minImageVersion: 100_000_000 })).to.have.length(1);
  });

  it("GIVEN an invalid policy WHEN the condition is built THEN the error says it is the attestation policy", () => {
    expect(cleanRoomError(() => buildAttestationCondition({ imageDigests: [] })).message).to.include("attestation policy");
  });
});

describe("core/attestation: the condition text", () => {
  it("GIVEN empty service-account, project and hardware lists THEN the same condition as without them (nothing to restrict)", () => {
    expect(buildAttestationCondition({ ...gcpPolicy(), serviceAccounts: [], projectIds: [], hwModels: [] })).to.equal(
      buildAttestationCondition({ imageDigests: [EXECUTOR_DIGEST] }),
    );
  });

  it("GIVEN one service account THEN its clause is a plain membership test; several THEN an || chain in parentheses", () => {
    expect(buildAttestationCondition({ imageDigests: [EXECUTOR_DIGEST], serviceAccounts: [WORKLOAD_SA] })).to.match(
      new RegExp(` && '${WORKLOAD_SA}' in assertion\\.google_service_accounts$`),
    );
    expect(buildAttestationCondition({ imageDigests: [EXECUTOR_DIGEST], serviceAccounts: [WORKLOAD_SA, "b@c.d"] })).to.match(
      new RegExp(` && \\('${WORKLOAD_SA}' in assertion\\.google_service_accounts \\|\\| 'b@c\\.d' in assertion\\.google_service_accounts\\)$`),
    );
  });

  it("GIVEN a policy whose condition is exactly 4096 characters THEN built; one character more THEN condition-too-long", () => {
    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
    let digests = [digest(0)];
    const withEmail = (local: string, domain: string) => buildAttestationCondition({ imageDigests: digests, serviceAccounts: [`${local}@${domain}`] });
    // Digests until fewer than 200 characters are left, then pad with the service account's domain (up to 253).
    while (MAX_CONDITION_LENGTH - withEmail("a", "b").length > 200 && digests.length < 100) digests = [...digests, digest(digests.length)];
    const pad = MAX_CONDITION_LENGTH - withEmail("a", "b").length;
    expect(pad, "the fixture leaves room to pad").to.be.within(1, 252);
    const domain = `b${"c".repeat(pad)}`;
    expect(withEmail("a", domain)).to.have.length(MAX_CONDITION_LENGTH);
    expect(cleanRoomError(() => withEmail("a", `${domain}c`)).code).to.equal("condition-too-long");
  });
});

describe("core/attestation: evaluation results", () => {
  it("GIVEN claims that are not a JSON object THEN denied with that reason and no clause", () => {
    const cond = buildAttestationCondition(gcpPolicy());
    for (const claims of [null, "claims", [productionTdxClaims()]]) {
      expect(evaluateAttestationCondition(cond, claims), JSON.stringify(claims).slice(0, 20)).to.deep.equal({
        allowed: false,
        reason: "the claims are not a JSON object",
        failedClauses: [],
      });
    }
  });

  it("GIVEN a clause that is false THEN it is named by its CEL text alone; the reason joins the failures with '; '", () => {
    const claims = withField(withField(productionTdxClaims(), "secboot", false), "submods.gce.project_id", "other");
    const r = evaluateAttestationCondition(buildAttestationCondition(gcpPolicy()), claims);
    expect(r.failedClauses).to.deep.equal(["assertion.secboot == true", `assertion.submods.gce.project_id == "${PROJECT}"`]);
    expect(r.reason).to.equal(`not satisfied: assertion.secboot == true; assertion.submods.gce.project_id == "${PROJECT}"`);
  });

  it("GIVEN a clause that cannot be evaluated (missing claim) THEN it is named with CEL's error in parentheses", () => {
    const claims = withField(productionTdxClaims(), "submods.confidential_space", DELETE);
    const r = evaluateAttestationCondition(buildAttestationCondition(gcpPolicy()), claims);
    expect(r.failedClauses).to.have.length(1);
    expect(r.failedClauses![0]).to.match(/^"STABLE" in assertion\.submods\.confidential_space\.support_attributes \(.+\)$/);
  });

  it("GIVEN a failing clause CEL cannot print back (a macro) THEN it is named by its position", () => {
    const cond = "assertion.swname == 'X' && assertion.google_service_accounts.exists(a, a == 'nobody@x.y')";
    expect(evaluateAttestationCondition(cond, productionTdxClaims()).failedClauses).to.deep.equal(['assertion.swname == "X"', "clause #2"]);
  });

  it("GIVEN a hand-written condition on numeric claims THEN whole numbers compare as CEL ints and fractions as doubles", () => {
    expect(evaluateAttestationCondition("assertion.iat >= 1757097315", productionTdxClaims()).allowed).to.equal(true);
    expect(evaluateAttestationCondition("assertion.oemid == 11129", productionTdxClaims()).allowed).to.equal(true);
    expect(evaluateAttestationCondition("assertion.score > 0.5", { score: 0.75 }).allowed).to.equal(true);
  });

  it("GIVEN a claim value JSON cannot carry (a bigint, a function) THEN it reads as null, not as a missing claim", () => {
    expect(evaluateAttestationCondition("assertion.n == null && assertion.f == null", { n: 10n, f: () => 1 }).allowed).to.equal(true);
  });

  it("GIVEN a condition that is not text, empty or blank THEN cel-error saying it is empty", () => {
    for (const c of [5, "", "   \n"]) {
      const err = cleanRoomError(() => evaluateAttestationCondition(c as string, productionTdxClaims()));
      expect(err.code).to.equal("cel-error");
      expect(err.message).to.include("empty");
    }
  });

  it("GIVEN a condition that does not parse THEN cel-error carrying the parser's error as its cause", () => {
    const err = cleanRoomError(() => parseCondition("assertion.swname == "));
    expect(err.code).to.equal("cel-error");
    expect(err.cause).to.be.instanceOf(Error);
  });
});

describe("core/attestation: attribute mapping and principal sets at the edges", () => {
  it("GIVEN production claims THEN mapAttributes gives the subject, image digest and job digest as WIF maps them", () => {
    expect(mapAttributes(productionTdxClaims())).to.deep.equal({
      "google.subject": `gcpcs::${EXECUTOR_DIGEST}::123456789012::8114146583384593350`,
      "attribute.image_digest": EXECUTOR_DIGEST,
      "attribute.job_digest": APPROVED_JOB,
    });
  });

  it("GIVEN claims without the job digest variable THEN that attribute is left out, the others mapped", () => {
    const m = mapAttributes(withField(productionTdxClaims(), `submods.container.env_override.${JOB_DIGEST_ENV}`, DELETE));
    expect(Object.keys(m).sort()).to.deep.equal(["attribute.image_digest", "google.subject"]);
  });

  it("GIVEN a mapping expression that is not a string THEN left out", () => {
    expect(mapAttributes(productionTdxClaims(), { "attribute.secboot": "assertion.secboot", "attribute.hw": "assertion.hwmodel" })).to.deep.equal({
      "attribute.hw": "GCP_INTEL_TDX",
    });
  });

  it("GIVEN claims that are not an object THEN no attribute", () => {
    // Even a mapping that reads no claim: there is no token to map.
    const mapping = { "attribute.fixed": "'room'", "attribute.hw": "assertion.hwmodel" };
    for (const claims of [null, "x", [productionTdxClaims()]]) expect(mapAttributes(claims, mapping), JSON.stringify(claims).slice(0, 20)).to.deep.equal({});
    expect(mapAttributes(productionTdxClaims(), mapping)).to.deep.equal({ "attribute.fixed": "room", "attribute.hw": "GCP_INTEL_TDX" });
  });

  it("GIVEN a pool name with something before or after it (a provider's name) THEN invalid-argument naming poolName", () => {
    for (const pool of [`${POOL}/providers/cs`, `x/${POOL}`]) {
      const err = cleanRoomError(() => attributePrincipalSet(pool, "job_digest", APPROVED_JOB));
      expect(err.code).to.equal("invalid-argument");
      expect(err.message).to.include("poolName").and.include("principal set");
    }
  });

  it("GIVEN an attribute or value that is not a plain string THEN invalid-argument", () => {
    for (const [attribute, value] of [
      [["team"], "blue"],
      ["team/x", "blue"],
      ["team", ["blue"]],
    ] as const) {
      const err = cleanRoomError(() => attributePrincipalSet(POOL, attribute as unknown as string, value as unknown as string));
      expect(err.code, JSON.stringify([attribute, value])).to.equal("invalid-argument");
    }
  });
});

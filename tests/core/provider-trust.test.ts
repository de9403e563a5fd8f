/**
 * Each provider owns its trust: the provider's own attestation policy (built by the same core function as the room's),
 * carried per provider in the descriptor and checked like the room's.
 */
import { expect } from "chai";
import {
  buildAttestationCondition,
  type CleanRoomDescriptor,
  CleanRoomError,
  evaluateAttestationCondition,
  loadDescriptor,
  parseReceipt,
  providerAttestationPolicy,
  providerAttestationProblems,
  providerTrust,
  resolveSpec,
  specProblems,
} from "../../src/core/index.js";
import { EXECUTOR_DIGEST, OTHER_DIGEST, gcpDescriptor, localDescriptor, productionTdxClaims, validSpec, withField } from "./fixtures.js";

const PROVIDER_POOL = "projects/555555555555/locations/global/workloadIdentityPools/hospital-a/providers/attestation";

/** The GCP fixture with hospital-a on its own (strict) policy and pool, as a provider stack publishes it. */
function withOwnTrust(d: CleanRoomDescriptor = gcpDescriptor(), own: { executorImageDigests?: string[]; hwModels?: string[] } = { hwModels: ["GCP_INTEL_TDX"] }): CleanRoomDescriptor {
  const room = { ...d.attestation.policy, outputUriPrefix: `${d.storage.quarantine}/` };
  const policy = providerAttestationPolicy(room, own);
  return {
    ...d,
    attestation: { ...d.attestation, policy: room, condition: buildAttestationCondition(room) },
    providers: d.providers.map((p) => ({
      ...p,
      attestation: { policy, condition: buildAttestationCondition(policy), ...(d.platform === "gcp" ? { poolProviderName: PROVIDER_POOL } : {}) },
    })),
  };
}

function loadError(value: unknown): CleanRoomError {
  try {
    loadDescriptor(value);
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  throw new Error("loadDescriptor should have thrown");
}

describe("core/attestation: providerAttestationPolicy", () => {
  const room = { imageDigests: [EXECUTOR_DIGEST], serviceAccounts: ["w@p-roject.iam.gserviceaccount.com"], allowDebug: true, requireStable: false, hwModels: ["GCP_INTEL_TDX"] };

  it("GIVEN no own requirements WHEN resolved THEN the room's policy is taken as it is (the operator is trusted)", () => {
    expect(providerAttestationPolicy(room)).to.deep.equal(room);
  });

  it("GIVEN own requirements that say nothing about debug WHEN the room allows debug THEN the provider's policy still refuses debug and requires STABLE", () => {
    const p = providerAttestationPolicy(room, {});
    expect(p).to.include({ allowDebug: false, requireStable: true });
    const debug = { ...productionTdxClaims(), dbgstat: "enabled" };
    const roomCondition = buildAttestationCondition({ ...room, serviceAccounts: undefined });
    const ownCondition = buildAttestationCondition({ ...p, serviceAccounts: undefined });
    expect(evaluateAttestationCondition(roomCondition, debug).allowed).to.equal(true);
    expect(evaluateAttestationCondition(ownCondition, debug).allowed).to.equal(false);
  });

  it("GIVEN pinned executor digests WHEN the room runs another executor THEN the provider's condition refuses it", () => {
    const p = providerAttestationPolicy({ ...room, imageDigests: [OTHER_DIGEST] }, { executorImageDigests: [EXECUTOR_DIGEST] });
    expect(p.imageDigests).to.deep.equal([EXECUTOR_DIGEST]);
    const claims = productionTdxClaims();
    expect(evaluateAttestationCondition(buildAttestationCondition({ ...p, serviceAccounts: undefined }), claims).allowed).to.equal(true);
    const other = withField(claims, "submods.container.image_digest", OTHER_DIGEST);
    expect(evaluateAttestationCondition(buildAttestationCondition({ ...p, serviceAccounts: undefined }), other).allowed).to.equal(false);
  });

  it("GIVEN bad own requirements WHEN checked THEN every problem is listed with its path", () => {
    expect(providerAttestationProblems({ executorImageDigests: [], allowDebug: "no", bogus: 1 }, "providers[0].attestation")).to.deep.equal([
      "providers[0].attestation.bogus is not a known field (known: executorImageDigests, allowDebug, requireStable, hwModels, minImageVersion)",
      "providers[0].attestation.executorImageDigests must list at least one executor image digest (sha256:<64 lowercase hex>)",
      "providers[0].attestation.allowDebug must be a boolean",
    ]);
    expect(providerAttestationProblems({ executorImageDigests: ["latest"] }, "a")).to.deep.equal(["a.executorImageDigests[0] must be sha256:<64 lowercase hex> (got \"latest\")"]);
  });
});

describe("core/spec: a provider's own attestation", () => {
  it("GIVEN providers[].attestation WHEN validated and resolved THEN accepted and carried over unchanged", () => {
    const spec = withField(validSpec(), "providers[0].attestation", { executorImageDigests: [EXECUTOR_DIGEST], hwModels: ["GCP_INTEL_TDX"] });
    expect(specProblems(spec)).to.deep.equal([]);
    expect(resolveSpec(spec).providers[0]!.attestation).to.deep.equal({ executorImageDigests: [EXECUTOR_DIGEST], hwModels: ["GCP_INTEL_TDX"] });
    expect(resolveSpec(validSpec()).providers[0]).to.not.have.property("attestation");
  });

  it("GIVEN a provider attestation that allows debug and requires STABLE THEN the spec is refused", () => {
    const spec = withField(validSpec(), "providers[1].attestation", { allowDebug: true, requireStable: true });
    expect(specProblems(spec).join("\n")).to.match(/providers\[1\]\.attestation: allowDebug cannot be combined with requireStable/);
  });
});

describe("core/descriptor: per-provider trust", () => {
  it("GIVEN a provider with its own policy and pool WHEN loaded THEN accepted, and providerTrust returns its own condition", () => {
    const d = loadDescriptor(withOwnTrust());
    const t = providerTrust(d, d.providers[0]!);
    expect(t.own).to.equal(true);
    expect(t.poolProviderName).to.equal(PROVIDER_POOL);
    expect(t.condition).to.equal(d.providers[0]!.attestation!.condition);
    expect(t.condition).to.not.equal(d.attestation.condition);
  });

  it("GIVEN a provider without its own policy THEN providerTrust falls back to the room's condition and pool", () => {
    const d = gcpDescriptor();
    expect(providerTrust(d, d.providers[0]!)).to.deep.equal({
      policy: d.attestation.policy,
      condition: d.attestation.condition,
      poolProviderName: d.gcp!.poolProviderName,
      own: false,
    });
  });

  it("GIVEN a provider condition edited by hand (weakened) THEN rejected as not matching the provider's policy", () => {
    const d = withOwnTrust();
    const weak = d.providers[0]!.attestation!.condition.replace(" && assertion.dbgstat == 'disabled-since-boot'", "");
    expect(weak).to.not.equal(d.providers[0]!.attestation!.condition);
    const err = loadError(withField(d, "providers[0].attestation.condition", weak));
    expect(err.problems).to.deep.equal([
      "descriptor.providers[0].attestation.condition does not match its policy: it was edited by hand or produced by another version; take the provider's published outputs again",
    ]);
  });

  it("GIVEN a GCP provider policy without its pool provider THEN rejected: the executor would not know where to exchange", () => {
    const err = loadError(withField(withOwnTrust(), "providers[0].attestation.poolProviderName", "projects/x/pools"));
    expect(err.problems[0]).to.match(/^descriptor\.providers\[0\]\.attestation\.poolProviderName must be the provider's own pool provider/);
  });

  it("GIVEN a provider output clause pointing elsewhere than the quarantine THEN rejected", () => {
    const d = withOwnTrust();
    const policy = { ...d.providers[0]!.attestation!.policy, outputUriPrefix: "gs://elsewhere/" };
    const err = loadError(withField(d, "providers[0].attestation", { policy, condition: buildAttestationCondition(policy), poolProviderName: PROVIDER_POOL }));
    expect(err.problems).to.deep.equal([
      `descriptor.providers[0].attestation.policy.outputUriPrefix ("gs://elsewhere/") must be the room's quarantine followed by "/" ("${d.storage.quarantine}/")`,
    ]);
  });

  it("GIVEN a local provider with its own policy THEN accepted without a pool; with a pool name THEN rejected", () => {
    const d = withOwnTrust(localDescriptor(), { executorImageDigests: [EXECUTOR_DIGEST] });
    expect(loadDescriptor(d).providers[0]!.attestation!.policy.platform).to.equal("local");
    const err = loadError(withField(d, "providers[0].attestation.poolProviderName", PROVIDER_POOL));
    expect(err.problems).to.deep.equal(["descriptor.providers[0].attestation.poolProviderName is only for GCP rooms"]);
  });
});

describe("core/receipt: admittedBy", () => {
  const base = {
    version: 1,
    room: "demo",
    jobId: "job-1",
    jobDigest: `sha256:${"1".repeat(64)}`,
    executorImageDigest: EXECUTOR_DIGEST,
    policyDigest: `sha256:${"2".repeat(64)}`,
    platform: "gcp",
    sandbox: "confidential-space",
    inputs: [],
    outputs: [],
    startedAt: "2026-01-01T00:00:00Z",
    finishedAt: "2026-01-01T00:00:01Z",
    status: "succeeded",
  };

  it("GIVEN a receipt listing the admitting provider policies THEN parsed; without the field (older receipts) THEN parsed too", () => {
    const admittedBy = [{ provider: "hospital-a", policyDigest: `sha256:${"3".repeat(64)}`, own: true }];
    expect(parseReceipt({ ...base, admittedBy }).admittedBy).to.deep.equal(admittedBy);
    expect(parseReceipt(base).admittedBy).to.equal(undefined);
  });

  it("GIVEN a malformed or duplicated admission THEN invalid-receipt names it", () => {
    const bad = (admittedBy: unknown) => {
      try {
        parseReceipt({ ...base, admittedBy });
      } catch (err) {
        return (err as CleanRoomError).problems;
      }
      throw new Error("expected invalid-receipt");
    };
    expect(bad([{ provider: "a", policyDigest: "x", own: true }])).to.deep.equal(["receipt.admittedBy[0] must be {provider, policyDigest (sha256:<64 hex>), own (boolean)}"]);
    const one = { provider: "a", policyDigest: `sha256:${"3".repeat(64)}`, own: false };
    expect(bad([one, one])).to.deep.equal(['receipt.admittedBy[1].provider "a" is listed twice']);
  });
});

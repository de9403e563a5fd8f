/**
 * Descriptor validation at its edges: local job limits at their bounds, job time limits, providers' own attestation
 * (platform, output location, pool provider), quarantine prefixes with extra slashes, values of the right shape but
 * the wrong type, and loading errors that keep their cause.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  type CleanRoomDescriptor,
  buildAttestationCondition,
  descriptorProblems,
  jobTimeoutSeconds,
  loadDescriptor,
  localJobLimitsProblems,
  providerTrust,
} from "../../src/core/index.js";
import { STAGE1_METHODS } from "../../src/core/spec.js";
import { APPROVED_JOB, DELETE, EXECUTOR_DIGEST, gcpDescriptor, gcpPolicy, localDescriptor, localPolicy, withField } from "./fixtures.js";
import { thrown } from "../thrown.js";

const POOL_PROVIDER = "projects/555555555555/locations/global/workloadIdentityPools/hospital-a/providers/attestation";

/** The gcp fixture with hospital-a's own attestation (its own pool provider). */
function gcpWithOwnTrust(): CleanRoomDescriptor {
  const policy = { ...gcpPolicy(), outputUriPrefix: "gs://demo-quarantine-1a2b/" };
  return withField(gcpDescriptor(), "providers[0].attestation", { policy, condition: buildAttestationCondition(policy), poolProviderName: POOL_PROVIDER });
}

const problems = (d: unknown) => descriptorProblems(d);

describe("core/descriptor: edges", () => {
  it("GIVEN local job limits at and beyond their bounds WHEN checked THEN the bounds are inclusive and each bad field is named", () => {
    const ok = { memoryMiB: 16, processes: 8, cpuSeconds: 1 };
    expect(localJobLimitsProblems(ok, "l")).to.deep.equal([]);
    expect(localJobLimitsProblems({ memoryMiB: 16 * 1024 * 1024, processes: 1_000_000, cpuSeconds: 1_000_000_000 }, "l")).to.deep.equal([]);
    expect(localJobLimitsProblems({ memoryMiB: 15, processes: 1_000_001, cpuSeconds: 1.5 }, "l")).to.deep.equal([
      "l.memoryMiB must be a whole number from 16 to 16777216 (got 15)",
      "l.processes must be a whole number from 8 to 1000000 (got 1000001)",
      "l.cpuSeconds must be a whole number from 1 to 1000000000 (got 1.5)",
    ]);
    expect(localJobLimitsProblems({ memoryMiB: 16 * 1024 * 1024 + 1, processes: 7, cpuSeconds: 1_000_000_001 }, "l")).to.have.length(3);
    expect(localJobLimitsProblems({ ...ok, swap: 1 }, "l")).to.deep.equal(["l.swap is not a known field"]);
    expect(localJobLimitsProblems(null, "l")).to.deep.equal(["l must be an object with memoryMiB, processes and cpuSeconds"]);
  });

  it("GIVEN a local room's job limits WHEN the descriptor is checked THEN they are checked under descriptor.local.jobLimits", () => {
    expect(problems(withField(localDescriptor(), "local.jobLimits", { memoryMiB: 512, processes: 64, cpuSeconds: 60 }))).to.deep.equal([]);
    expect(problems(withField(localDescriptor(), "local.jobLimits", { memoryMiB: 1, processes: 64, cpuSeconds: 60 }))).to.deep.equal([
      "descriptor.local.jobLimits.memoryMiB must be a whole number from 16 to 16777216 (got 1)",
    ]);
  });

  it("GIVEN a descriptor with and without jobs WHEN its time limit is read THEN the value, or the 6-hour default", () => {
    expect(jobTimeoutSeconds(localDescriptor())).to.equal(21_600);
    expect(jobTimeoutSeconds(withField(localDescriptor(), "jobs", { timeoutSeconds: 60 }))).to.equal(60);
    expect(problems(withField(localDescriptor(), "jobs", { timeoutSeconds: 60 }))).to.deep.equal([]);
    expect(problems(withField(localDescriptor(), "jobs", 60))).to.deep.equal(["descriptor.jobs must be an object with timeoutSeconds"]);
    expect(problems(withField(localDescriptor(), "jobs", { timeoutSeconds: 0 }))).to.deep.equal([
      "descriptor.jobs.timeoutSeconds must be a whole number of seconds from 1 to 604800 (one week) (got 0)",
    ]);
  });

  it("GIVEN providers without their own policy WHEN their trust is read THEN the room's, with the room's pool provider only on GCP", () => {
    const local = localDescriptor();
    expect(providerTrust(local, local.providers[0]!)).to.deep.equal({ policy: local.attestation.policy, condition: local.attestation.condition, own: false });
    const gcp = gcpDescriptor();
    expect(providerTrust(gcp, gcp.providers[0]!).poolProviderName).to.equal(gcp.gcp!.poolProviderName);
    const own = withField(local, "providers[0].attestation", { policy: localPolicy(), condition: local.attestation.condition });
    expect(providerTrust(own, own.providers[0]!)).to.deep.equal({ policy: localPolicy(), condition: local.attestation.condition, own: true });
  });

  it("GIVEN top-level sections that are not objects WHEN checked THEN each says what it must hold", () => {
    expect(problems(null)).to.deep.equal(["descriptor must be a JSON object"]);
    const one = (path: string, want: string) => expect(problems(withField(localDescriptor(), path, 1)), path).to.include(want);
    one("attestation", "descriptor.attestation must be an object with policy, condition and audience");
    one("output", "descriptor.output must be an object with maxBytes and requireRelease");
    one("storage", "descriptor.storage must be an object with jobs, quarantine, results and stage1");
    expect(problems(withField(localDescriptor(), "attestation.condition", ""))).to.deep.equal(["descriptor.attestation.condition must be a non-empty string"]);
  });

  it("GIVEN an any-job room, one byte of output, a dataset without a schema WHEN checked THEN no problem", () => {
    expect(problems(withField(localDescriptor(), "codePolicy", "any-job"))).to.deep.equal([]);
    expect(problems(withField(localDescriptor(), "output.maxBytes", 1))).to.deep.equal([]);
    expect(problems(withField(localDescriptor(), "providers[0].datasets[0].schema", DELETE))).to.deep.equal([]);
  });

  it("GIVEN trusted roots with one that is not a PEM, or not a string WHEN checked THEN refused", () => {
    const want = ["descriptor.attestation.trustedRoots must be an array of PEM certificates"];
    const roots = localDescriptor().attestation.trustedRoots!;
    expect(problems(withField(localDescriptor(), "attestation.trustedRoots", [...roots, "not a pem"]))).to.deep.equal(want);
    expect(problems(withField(localDescriptor(), "attestation.trustedRoots", [123]))).to.deep.equal(want);
  });

  it("GIVEN a quarantine with extra trailing slashes WHEN the output prefix pins it THEN it still matches; another prefix is named with the expected one", () => {
    const pinned = (quarantine: string, prefix: string) =>
      withField(withField(gcpDescriptor(), "storage.quarantine", quarantine), "attestation.policy", { ...gcpPolicy(), outputUriPrefix: prefix });
    expect(problems(pinned("gs://demo-quarantine-1a2b//", "gs://demo-quarantine-1a2b/"))).to.deep.equal([]);
    expect(problems(pinned("gs://demo-quarantine-1a2b/", "gs://demo-quarantine-1a2b/"))).to.deep.equal([]);
    expect(problems(pinned("gs://demo-quarantine-1a2b//", "gs://other/"))).to.deep.equal([
      'descriptor.attestation.policy.outputUriPrefix ("gs://other/") must be the room\'s quarantine followed by "/" ("gs://demo-quarantine-1a2b/")',
    ]);
    const noQuarantine = withField(pinned("gs://demo-quarantine-1a2b/", "gs://other/"), "storage.quarantine", 5);
    expect(problems(noQuarantine)).to.deep.equal(["descriptor.storage.quarantine must be a non-empty string"]);
  });

  it("GIVEN a provider's own attestation WHEN it is well formed THEN no problem; WHEN a part is not an object THEN that part is named", () => {
    expect(problems(gcpWithOwnTrust())).to.deep.equal([]);
    expect(problems(withField(gcpWithOwnTrust(), "providers[0].attestation", 1))).to.deep.equal([
      "descriptor.providers[0].attestation must be an object with policy and condition",
    ]);
    expect(problems(withField(gcpWithOwnTrust(), "providers[0].attestation.policy", 1))).to.deep.equal(["descriptor.providers[0].attestation.policy must be an object"]);
    const badPolicy = problems(withField(gcpWithOwnTrust(), "providers[0].attestation.policy.imageDigests", []));
    expect(badPolicy).to.have.length(1);
    expect(badPolicy[0]).to.match(/^descriptor\.providers\[0\]\.attestation\.policy\.imageDigests /);
  });

  it("GIVEN a provider policy for the other platform WHEN checked THEN the mismatch is named, in GCP and local rooms; in a room of no known platform THEN not", () => {
    const local = withField(gcpWithOwnTrust(), "providers[0].attestation.policy.platform", "local");
    expect(problems(local)).to.include('descriptor.providers[0].attestation.policy.platform is "local" but the room\'s platform is "gcp"; they must match');
    const own = withField(localDescriptor(), "providers[0].attestation", { policy: gcpPolicy(), condition: "x" });
    expect(problems(own)).to.include('descriptor.providers[0].attestation.policy.platform is "gcp" but the room\'s platform is "local"; they must match');
    const azure = problems(withField(gcpWithOwnTrust(), "platform", "azure"));
    expect(azure.filter((p) => p.includes("policy.platform"))).to.deep.equal([]);
  });

  it("GIVEN a provider's output prefix WHEN the quarantine has extra slashes THEN it matches; WHEN it names elsewhere THEN the expected prefix is shown; WHEN storage is missing THEN only storage is named", () => {
    expect(problems(withField(gcpWithOwnTrust(), "storage.quarantine", "gs://demo-quarantine-1a2b//"))).to.deep.equal([]);
    expect(problems(withField(gcpWithOwnTrust(), "providers[0].attestation.policy.outputUriPrefix", "gs://elsewhere/"))).to.deep.equal([
      'descriptor.providers[0].attestation.policy.outputUriPrefix ("gs://elsewhere/") must be the room\'s quarantine followed by "/" ("gs://demo-quarantine-1a2b/")',
    ]);
    for (const storage of [1, null]) {
      expect(problems(withField(gcpWithOwnTrust(), "storage", storage)), String(storage)).to.deep.equal([
        "descriptor.storage must be an object with jobs, quarantine, results and stage1",
      ]);
    }
    expect(problems(withField(gcpWithOwnTrust(), "storage.quarantine", 5))).to.deep.equal(["descriptor.storage.quarantine must be a non-empty string"]);
  });

  it("GIVEN a provider's pool provider name inside an array WHEN checked THEN refused", () => {
    const got = problems(withField(gcpWithOwnTrust(), "providers[0].attestation.poolProviderName", [POOL_PROVIDER]));
    expect(got).to.have.length(1);
    expect(got[0]).to.match(/^descriptor\.providers\[0\]\.attestation\.poolProviderName must be the provider's own pool provider/);
  });

  it("GIVEN each stage-1 method the spec accepts (aim included) WHEN in a descriptor THEN no problem", () => {
    for (const m of STAGE1_METHODS) {
      expect(problems(withField(localDescriptor(), "providers[0].datasets[0].stage1Method", m)), m).to.deep.equal([]);
    }
  });

  it("GIVEN providers and datasets that are not objects, or fields of the wrong type WHEN checked THEN each is named", () => {
    expect(problems(withField(localDescriptor(), "providers[0]", 1))).to.deep.equal(["descriptor.providers[0] must be an object"]);
    expect(problems(withField(localDescriptor(), "providers[0].datasets[0]", 1))).to.deep.equal(["descriptor.providers[0].datasets[0] must be an object"]);
    const jobs = "descriptor.providers[0].approvedJobs must be an array of sha256:<64 hex> digests";
    expect(problems(withField(localDescriptor(), "providers[0].approvedJobs", [APPROVED_JOB, "x"]))).to.deep.equal([jobs]);
    expect(problems(withField(localDescriptor(), "providers[0].approvedJobs", [[APPROVED_JOB]]))).to.deep.equal([jobs]);
    for (const m of ["xmst", "mstx"]) {
      expect(problems(withField(localDescriptor(), "providers[0].datasets[0].stage1Method", m))).to.deep.equal([
        `descriptor.providers[0].datasets[0].stage1Method is malformed (got "${m}")`,
      ]);
    }
    expect(problems(withField(localDescriptor(), "providers[0].datasets[0].epsilon", "1"))).to.deep.equal(["descriptor.providers[0].datasets[0].epsilon must be a positive number"]);
    for (const delta of ["0.5", 0]) {
      expect(problems(withField(localDescriptor(), "providers[0].datasets[0].delta", delta)), String(delta)).to.deep.equal(["descriptor.providers[0].datasets[0].delta must be in (0, 1)"]);
    }
  });

  it("GIVEN a policy too long to build a condition from WHEN loaded THEN it says so, once, for the room and for a provider's own policy", () => {
    const many = Array.from({ length: 60 }, (_, i) => `sha256:${i.toString(16).padStart(64, "0")}`);
    const room = withField(localDescriptor(), "attestation.policy.imageDigests", many);
    const roomErr = thrown(() => loadDescriptor(room));
    expect(roomErr.problems).to.have.length(1);
    expect(roomErr.problems[0]).to.match(/^descriptor\.attestation\.policy cannot produce a condition: /);
    expect(roomErr.message).to.match(/^Invalid room descriptor: 1 problem:/);
    const own = withField(localDescriptor(), "providers[0].attestation", { policy: { ...localPolicy(), imageDigests: many }, condition: "x" });
    const ownErr = thrown(() => loadDescriptor(own));
    expect(ownErr.problems).to.have.length(1);
    expect(ownErr.problems[0]).to.match(/^descriptor\.providers\[0\]\.attestation\.policy cannot produce a condition: /);
  });

  it("GIVEN a directory or a missing path WHEN loaded THEN invalid-argument or io-error, keeping the system error as cause", () => {
    const dir = mkdtempSync(join(tmpdir(), "acr-descriptor-edges-"));
    try {
      const isDir = thrown(() => loadDescriptor(dir));
      expect(isDir.code).to.equal("invalid-argument");
      expect((isDir.cause as NodeJS.ErrnoException).code).to.equal("EISDIR");
      const missing = thrown(() => loadDescriptor(join(dir, "room.json")));
      expect(missing.code).to.equal("io-error");
      expect((missing.cause as NodeJS.ErrnoException).code).to.equal("ENOENT");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("GIVEN the executor digest the fixtures use WHEN checked as a descriptor value THEN it is the one the policies name", () => {
    // Guards the fixtures above: they change one field of descriptors whose policy pins this digest.
    expect(localDescriptor().executor.imageDigest).to.equal(EXECUTOR_DIGEST);
  });

  it("GIVEN an output.disclosure that is not the resolved form, or a dataset disclosure that is not an object WHEN checked THEN each is named at its path", () => {
    expect(problems(withField(localDescriptor(), "output.disclosure", { mode: "review" }))).to.deep.equal([
      "descriptor.output.disclosure must be {mode, releaseOnPass, thresholds}; re-export the descriptor",
    ]);
    expect(problems(withField(localDescriptor(), "providers[0].datasets[0].disclosure", "strict"))).to.deep.equal([
      'descriptor.providers[0].datasets[0].disclosure must be an object, e.g. {"quasiIdentifiers": ["age", "postcode"]}',
    ]);
  });
});

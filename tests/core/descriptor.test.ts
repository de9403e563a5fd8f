import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildAttestationCondition,
  type CleanRoomDescriptor,
  CleanRoomError,
  descriptorProblems,
  findDataset,
  findProvider,
  loadDescriptor,
  roomAudience,
} from "../../src/core/index.js";
import { DELETE, gcpDescriptor, localDescriptor, OTHER_DIGEST, withField } from "./fixtures.js";

function loadError(value: unknown): CleanRoomError {
  try {
    loadDescriptor(value);
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  throw new Error("loadDescriptor should have thrown");
}

describe("core/descriptor: loadDescriptor", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-core-descriptor-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("GIVEN the local and the gcp fixture descriptors THEN both load unchanged, from an object or a file", async () => {
    for (const d of [localDescriptor(), gcpDescriptor()]) {
      expect(descriptorProblems(d)).to.deep.equal([]);
      expect(loadDescriptor(d)).to.deep.equal(d);
      const file = join(dir, `${d.platform}.json`);
      await writeFile(file, JSON.stringify(d, null, 2));
      expect(loadDescriptor(file)).to.deep.equal(d);
    }
  });

  it("GIVEN the gcp fixture THEN its audience is the room audience and its condition the production one", () => {
    const d = gcpDescriptor();
    expect(d.attestation.audience).to.equal(roomAudience("demo"));
    expect(d.attestation.audience).to.equal("urn:attested-cleanroom:room:demo");
    expect(d.attestation.condition).to.include("assertion.dbgstat == 'disabled-since-boot'");
  });

  const cases: [string, () => CleanRoomDescriptor, string, unknown, string][] = [
    ["local", localDescriptor, "version", 2, "descriptor.version must be 1"],
    ["local", localDescriptor, "name", "", "descriptor.name must be a non-empty string"],
    ["local", localDescriptor, "platform", "aws", "descriptor.platform must be"],
    ["local", localDescriptor, "codePolicy", "all", "descriptor.codePolicy must be"],
    ["local", localDescriptor, "executor.imageDigest", "latest", "descriptor.executor.imageDigest is malformed"],
    ["local", localDescriptor, "executor", DELETE, "descriptor.executor must be an object"],
    ["local", localDescriptor, "attestation.audience", DELETE, "descriptor.attestation.audience must be a non-empty string"],
    ["local", localDescriptor, "attestation.policy.imageDigests", [], "descriptor.attestation.policy.imageDigests must list"],
    ["local", localDescriptor, "attestation.policy", "strict", "descriptor.attestation.policy must be an object"],
    ["local", localDescriptor, "attestation.trustedRoots", ["not a pem"], "descriptor.attestation.trustedRoots must be an array of PEM"],
    ["local", localDescriptor, "output.maxBytes", 0, "descriptor.output.maxBytes must be a positive integer"],
    ["local", localDescriptor, "output.requireRelease", "no", "descriptor.output.requireRelease must be a boolean"],
    ["local", localDescriptor, "providers", [], "descriptor.providers must be a non-empty array"],
    ["local", localDescriptor, "providers[0].name", "Hospital", "descriptor.providers[0].name is malformed"],
    ["local", localDescriptor, "providers[0].dataUri", "/tmp/data", "descriptor.providers[0].dataUri is malformed"],
    ["local", localDescriptor, "providers[0].keyName", DELETE, "descriptor.providers[0].keyName must be a non-empty string"],
    ["local", localDescriptor, "providers[0].approvedJobs", ["sha256:x"], "descriptor.providers[0].approvedJobs must be an array of sha256"],
    ["local", localDescriptor, "providers[0].datasets", [], "descriptor.providers[0].datasets must be a non-empty array"],
    ["local", localDescriptor, "providers[0].datasets[0].name", "Patients", "descriptor.providers[0].datasets[0].name is malformed"],
    ["local", localDescriptor, "providers[0].datasets[0].stage1Method", "gan", "descriptor.providers[0].datasets[0].stage1Method is malformed"],
    ["local", localDescriptor, "providers[0].datasets[0].format", "xlsx", "descriptor.providers[0].datasets[0].format must be one of csv, parquet"],
    ["local", localDescriptor, "providers[0].datasets[0].standIn", "mock", "descriptor.providers[0].datasets[0].standIn must be one of none, provided"],
    ["local", localDescriptor, "providers[0].datasets[0].epsilon", 0, "descriptor.providers[0].datasets[0].epsilon must be a positive number"],
    ["local", localDescriptor, "providers[0].datasets[0].delta", 1, "descriptor.providers[0].datasets[0].delta must be in (0, 1)"],
    ["local", localDescriptor, "providers[0].datasets[0].schema.columns", [], "descriptor.providers[0].datasets[0].schema.columns must be a non-empty array"],
    ["local", localDescriptor, "storage.jobs", "s3://bucket", "descriptor.storage.jobs is malformed"],
    ["local", localDescriptor, "storage.results", DELETE, "descriptor.storage.results must be a non-empty string"],
    ["local", localDescriptor, "local", DELETE, "descriptor.local is required when platform is local"],
    ["local", localDescriptor, "local.brokerSocket", "", "descriptor.local.brokerSocket must be a non-empty string"],
    ["local", localDescriptor, "local.insecureNoSandbox", "false", "descriptor.local.insecureNoSandbox must be a boolean"],
    ["local", localDescriptor, "attestation.policy.platform", DELETE, "descriptor.attestation.policy.platform is \"gcp\" but the room's platform is \"local\""],
    ["gcp", gcpDescriptor, "attestation.policy.platform", "local", "descriptor.attestation.policy.platform is \"local\" but the room's platform is \"gcp\""],
    ["gcp", gcpDescriptor, "gcp", DELETE, "descriptor.gcp is required when platform is gcp"],
    ["gcp", gcpDescriptor, "gcp.poolName", DELETE, "descriptor.gcp.poolName must be a non-empty string"],
    ["gcp", gcpDescriptor, "gcp.workloadServiceAccount", "", "descriptor.gcp.workloadServiceAccount must be a non-empty string"],
    ["gcp", gcpDescriptor, "storage.quarantine", "gs://Bad_Bucket", "descriptor.storage.quarantine is malformed"],
    ["gcp", gcpDescriptor, "attestation.policy.serviceAccounts", ["not-an-email"], "descriptor.attestation.policy.serviceAccounts[0]"],
  ];
  for (const [platform, make, path, value, message] of cases) {
    it(`GIVEN a ${platform} descriptor with ${path} broken THEN invalid-descriptor names it`, () => {
      const err = loadError(withField(make(), path, value));
      expect(err.code).to.equal("invalid-descriptor");
      expect(err.problems, err.problems.join("\n")).to.have.length(1);
      expect(err.problems[0]).to.include(message);
      expect(err.message).to.include(message);
    });
  }

  it("GIVEN a hand-edited condition (weakened) THEN rejected as not matching its policy", () => {
    const d = gcpDescriptor();
    const weakened = d.attestation.condition.replace(" && assertion.dbgstat == 'disabled-since-boot'", "");
    expect(weakened).not.to.equal(d.attestation.condition);
    const err = loadError(withField(d, "attestation.condition", weakened));
    expect(err.code).to.equal("invalid-descriptor");
    expect(err.problems).to.have.length(1);
    expect(err.problems[0]).to.include("descriptor.attestation.condition does not match its policy");
  });

  it("GIVEN a GCP descriptor carrying trustedRoots THEN rejected (Google's pinned root cannot be replaced); a local one keeps its root", () => {
    const local = localDescriptor();
    const roots = local.attestation.trustedRoots;
    expect(roots, "the local fixture carries its root").to.have.length.greaterThan(0);
    const err = loadError(withField(gcpDescriptor(), "attestation.trustedRoots", roots));
    expect(err.problems).to.have.length(1);
    expect(err.problems[0]).to.match(/^descriptor\.attestation\.trustedRoots is only for local rooms.*--trusted-root/);
    expect(loadDescriptor(local).attestation.trustedRoots).to.deep.equal(roots);
  });

  it("GIVEN a pinned output location that is not the room's quarantine THEN rejected; the quarantine itself is accepted", () => {
    const d = gcpDescriptor();
    const pin = (prefix: string) => {
      const policy = { ...d.attestation.policy, outputUriPrefix: prefix };
      return { ...d, attestation: { ...d.attestation, policy, condition: buildAttestationCondition(policy) } };
    };
    expect(loadDescriptor(pin(`${d.storage.quarantine}/`)).attestation.policy.outputUriPrefix).to.equal(`${d.storage.quarantine}/`);
    const err = loadError(pin("gs://attacker-bucket/"));
    expect(err.problems).to.deep.equal([
      `descriptor.attestation.policy.outputUriPrefix ("gs://attacker-bucket/") must be the room's quarantine followed by "/" ("${d.storage.quarantine}/")`,
    ]);
  });

  it("GIVEN a policy edited without its condition THEN rejected too", () => {
    const err = loadError(withField(localDescriptor(), "attestation.policy.imageDigests", [OTHER_DIGEST]));
    expect(err.problems[0]).to.include("does not match its policy");
  });

  it("GIVEN a policy too large for a condition THEN the problem says so", () => {
    const digests = Array.from({ length: 60 }, (_, i) => `sha256:${i.toString(16).padStart(64, "0")}`);
    const d = withField(localDescriptor(), "attestation.policy.imageDigests", digests);
    const err = loadError(d);
    expect(err.problems[0]).to.include("descriptor.attestation.policy cannot produce a condition");
  });

  it("GIVEN a missing file THEN io-error with advice on how to create the descriptor", () => {
    const err = loadError(join(dir, "missing.json"));
    expect(err.code).to.equal("io-error");
    expect(err.message).to.include("missing.json").and.include("pulumi stack output descriptor --json").and.include("cleanroom local up");
  });

  it("GIVEN a file that is not JSON THEN invalid-descriptor", async () => {
    const file = join(dir, "garbage.json");
    await writeFile(file, "{ not json");
    const err = loadError(file);
    expect(err.code).to.equal("invalid-descriptor");
    expect(err.message).to.include("not valid JSON");
  });

  it("GIVEN a non-object THEN invalid-descriptor", () => {
    for (const bad of [null, 3, [], undefined]) expect(loadError(bad).code).to.equal("invalid-descriptor");
  });

  it("GIVEN the local fixture THEN its condition is exactly what the policy builds", () => {
    const d = localDescriptor();
    expect(d.attestation.condition).to.equal(buildAttestationCondition(d.attestation.policy));
  });
});

describe("core/descriptor: findProvider / findDataset", () => {
  it("GIVEN known names THEN the provider and dataset are returned", () => {
    const d = gcpDescriptor();
    expect(findProvider(d, "hospital-a").keyName).to.include("cryptoKeys/hospital-a");
    expect(findDataset(d, "hospital-a", "patients").stage1Method).to.equal("mst");
  });
  it("GIVEN unknown names THEN not-found listing what exists", () => {
    const d = gcpDescriptor();
    expect(() => findProvider(d, "nobody")).to.throw(CleanRoomError, "its providers are: hospital-a").with.property("code", "not-found");
    expect(() => findDataset(d, "hospital-a", "nothing")).to.throw(CleanRoomError, "its datasets are: patients").with.property("code", "not-found");
  });
});

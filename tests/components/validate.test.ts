import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as gcp from "@pulumi/gcp";
import { expect } from "chai";
import { publishedDatasets } from "../../src/components/data-provider.js";
import {
  DataCleanRoom,
  type DataCleanRoomArgs,
  DataProvider,
  type DataProviderArgs,
  dataProviderProblems,
  workloadPoolProblems,
  cidrRange,
  confidentialVmProblems,
  dataCleanRoomProblems,
  dockerfileLabelProblems,
  dockerfileLabels,
  memberProblems,
  sandboxProblems,
} from "../../src/components/index.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { EXECUTOR_ENV_OVERRIDES } from "../../src/core/executor-env.js";
import { FIXTURE_DOCKERFILE, JOINT_JOB, twoProviderArgs } from "./fixtures.js";
import { constructUnderMocks, REPO_ROOT, runProgramUnderMocks } from "./harness.js";

function withArgs(mutate: (a: Record<string, unknown>) => void): DataCleanRoomArgs {
  const a = structuredClone(twoProviderArgs()) as unknown as Record<string, unknown>;
  mutate(a);
  return a as unknown as DataCleanRoomArgs;
}

describe("components: argument validation (pure)", () => {
  it("GIVEN the happy two-provider args WHEN validated THEN there is no problem", () => {
    expect(dataCleanRoomProblems("research", twoProviderArgs())).to.deep.equal([]);
  });

  it("GIVEN several independent mistakes WHEN validated THEN every one is listed with its path", () => {
    const args = withArgs((a) => {
      const providers = a.providers as Array<Record<string, unknown>>;
      providers[0]!.approvedJobs = ["sha256:NOTHEX"];
      providers[1]!.name = "hospital";
      a.attestation = { allowDebug: true, requireStable: true };
      a.zone = "us-east1-b";
      a.executor = { imageReference: "europe-west4-docker.pkg.dev/acme-room/cleanroom/executor:latest" };
      a.confidentialVm = { teeType: "SEV", gpu: true };
      a.colour = "blue";
    });
    const problems = dataCleanRoomProblems("research", args);
    const expected = [
      /providers\[0\]\.approvedJobs\[0\] must be sha256/,
      /providers\[1\]\.name "hospital" is a duplicate/,
      /allowDebug cannot be combined with requireStable/,
      /zone "us-east1-b" is not in region europe-west4/,
      /executor\.imageReference must be pinned by digest/,
      /confidentialVm\.gpu needs teeType "TDX"/,
      /spec\.colour is not a known field/,
    ];
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re} in\n${problems.join("\n")}`).to.equal(true);
    expect(problems).to.have.length(expected.length);
  });

  it("GIVEN debug log redirect without allowDebug WHEN validated THEN it is refused (production images refuse it)", () => {
    expect(confidentialVmProblems({ debugLogRedirect: true }, false).join()).to.match(/needs attestation\.allowDebug/);
    expect(confidentialVmProblems({ debugLogRedirect: true }, true)).to.deep.equal([]);
  });

  it("GIVEN GPU provisioning options WHEN inconsistent THEN each is explained", () => {
    expect(confidentialVmProblems({ provisioningModel: "SPOT" }, false).join()).to.match(/GPU VMs only/);
    expect(confidentialVmProblems({ gpu: true, provisioningModel: "STANDARD" }, false).join()).to.match(/SPOT" or "FLEX_START/);
    expect(confidentialVmProblems({ gpu: true, provisioningModel: "SPOT", maxRunDurationHours: 5 }, false).join()).to.match(/only to provisioningModel "FLEX_START"/);
    expect(confidentialVmProblems({ gpu: true, provisioningModel: "FLEX_START", maxRunDurationHours: 5, bootDiskSizeGb: 20 }, false).join()).to.match(
      /bootDiskSizeGb must be an integer from 30/,
    );
  });

  it("GIVEN a sandbox WHEN no authenticator, two authenticators or an open control plane THEN it is refused", () => {
    expect(sandboxProblems({ authorizedNetworks: ["10.0.0.0/8"] }).join()).to.match(/needs an authenticator/);
    expect(
      sandboxProblems({
        authorizedNetworks: ["10.0.0.0/8"],
        insecureDummyAuthenticator: true,
        github: { clientId: "x", clientSecret: "y", allowedUsers: ["u"] },
      }).join(),
    ).to.match(/mutually exclusive/);
    expect(sandboxProblems({ authorizedNetworks: ["0.0.0.0/0"], insecureDummyAuthenticator: true }).join()).to.match(/whole internet/);
    expect(sandboxProblems({ insecureDummyAuthenticator: true }).join()).to.match(/authorizedNetworks must list/);
    expect(sandboxProblems({ authorizedNetworks: ["10.0.0.0/8"], github: { clientId: "x", clientSecret: "y" } }).join()).to.match(
      /must restrict who may log in/,
    );
    expect(sandboxProblems(undefined).join()).to.match(/sandbox is required/);
    expect(sandboxProblems({ enabled: false })).to.deep.equal([]);
  });

  it("GIVEN overlapping subnet ranges WHEN validated THEN the overlap is named", () => {
    const problems = dataCleanRoomProblems("research", withArgs((a) => (a.network = { teeSubnetCidr: "10.20.1.0/24" })));
    expect(problems.join()).to.match(/teeSubnetCidr \(10\.20\.1\.0\/24\) overlaps network\.sandboxSubnetCidr/);
    expect(cidrRange("10.0.0.0/33")).to.equal(undefined);
  });

  it("GIVEN a resource name unusable as an id prefix WHEN no namePrefix THEN the problem says to set one", () => {
    const args = withArgs((a) => delete a.namePrefix);
    expect(dataCleanRoomProblems("My Room", args).join()).to.match(/set namePrefix/);
  });

  it("GIVEN public or malformed members WHEN granting THEN they are refused", () => {
    expect(memberProblems("allUsers")).to.have.length(1);
    expect(memberProblems("allAuthenticatedUsers")).to.have.length(1);
    expect(memberProblems("alice@example.com")).to.have.length(1);
    expect(memberProblems("user:alice@example.com")).to.deep.equal([]);
    expect(memberProblems("principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*")).to.deep.equal([]);
  });

  it("GIVEN the executor Dockerfile labels WHEN parsed THEN they match EXECUTOR_ENV_OVERRIDES exactly", () => {
    expect(dockerfileLabelProblems(FIXTURE_DOCKERFILE)).to.deep.equal([]);
    expect(dockerfileLabels('LABEL a=b "c.d"="e f" \\\n  g="h"')).to.deep.equal({ a: "b", "c.d": "e f", g: "h" });
    const bad = dockerfileLabelProblems(path.join(__dirname, "fixtures", "bad.Dockerfile"));
    expect(bad.join("\n")).to.include(EXECUTOR_ENV_OVERRIDES.join(","));
    expect(bad.join("\n")).to.match(/must be "debugonly"/);
    expect(bad.join("\n")).to.match(/allow_cmd_override/);
    expect(bad).to.have.length(3);
    expect(dockerfileLabelProblems("/nonexistent/Dockerfile").join()).to.match(/does not exist/);
    // The log_redirect label must be there, not merely left to the launcher's default.
    const dir = mkdtempSync(path.join(tmpdir(), "cleanroom-dockerfile-"));
    const noRedirect = path.join(dir, "Dockerfile");
    writeFileSync(noRedirect, `FROM scratch\nLABEL "tee.launch_policy.allow_env_override"="${EXECUTOR_ENV_OVERRIDES.join(",")}"\n`);
    try {
      expect(dockerfileLabelProblems(noRedirect)).to.deep.equal([
        'executor.dockerfile must set LABEL "tee.launch_policy.log_redirect"="debugonly" so production VMs never export logs',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The real executor image (GCP runtime) carries exactly the labels the components demand.
    expect(dockerfileLabelProblems(path.join(REPO_ROOT, "executor", "Dockerfile"))).to.deep.equal([]);
  });
});

describe("components: invalid args fail before any resource is registered", () => {
  it("GIVEN a bad digest, a duplicate provider, allowDebug with requireStable and a zone outside the region WHEN constructing THEN one CleanRoomError lists all four and nothing is registered", async () => {
    const args = withArgs((a) => {
      const providers = a.providers as Array<Record<string, unknown>>;
      providers[0]!.approvedJobs = [JOINT_JOB, "sha256:xyz"];
      providers[1]!.name = "hospital";
      a.attestation = { allowDebug: true, requireStable: true };
      a.zone = "europe-west1-b";
    });
    const { run, error: caught } = await constructUnderMocks(() => {
      new DataCleanRoom("research", args);
    });
    expect(run.resources).to.deep.equal([]);
    expect(caught).to.be.instanceOf(CleanRoomError);
    const err = caught as CleanRoomError;
    expect(err.code).to.equal("invalid-argument");
    expect(err.problems).to.have.length(4);
    expect(err.message).to.match(/4 problems/);
    expect(err.message).to.match(/approvedJobs\[1\]/).and.to.match(/duplicate/).and.to.match(/requireStable/).and.to.match(/europe-west1-b/);
  });

  it("GIVEN a program that calls an invoke the mock does not know WHEN run THEN the harness fails loudly", async () => {
    let err: unknown;
    try {
      await runProgramUnderMocks(() => ({ zones: gcp.compute.getZonesOutput({ project: "acme-room", region: "europe-west4" }).names }));
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/unexpected invoke gcp:compute\/getZones/);
  });
});

describe("components: the sub-components validate their own arguments", () => {
  const provider = (): DataProviderArgs => ({
    providerName: "hospital",
    project: "hospital-data",
    region: "europe-west4",
    namePrefix: "research",
    datasets: [{ name: "admissions" }],
    approvedJobs: [JOINT_JOB],
    room: { executorImageDigest: `sha256:${"e".repeat(64)}`, project: "acme-room", namePrefix: "research" },
  });

  it("GIVEN DataProvider args WHEN each is broken THEN every problem is listed, and rotation beyond 90 days is refused", () => {
    expect(dataProviderProblems("research-hospital", provider())).to.deep.equal([]);
    const problems = dataProviderProblems("research-hospital", {
      ...provider(),
      providerName: "Hospital!",
      approvedJobs: [JOINT_JOB, JOINT_JOB, "sha256:abc"],
      keyRotationDays: 91,
      attestation: { allowDebug: true, requireStable: true },
    });
    expect(problems, problems.join("\n")).to.have.length(5);
    expect(problems.join("\n"))
      .to.match(/providerName must be/)
      .and.match(/approvedJobs\[1\] is listed twice/)
      .and.match(/approvedJobs\[2\] must be sha256/)
      .and.match(/keyRotationDays must be an integer from 1 to 90 \(got 91\)/)
      .and.match(/attestation: allowDebug cannot be combined with requireStable/);
  });

  it("GIVEN DataProvider args without the room it joins WHEN validated THEN the missing pins are named", () => {
    const { room: _room, ...rest } = provider();
    expect(dataProviderProblems("research-hospital", rest as DataProviderArgs)).to.deep.equal([
      "room is required: the executor digest and quarantine of the room this provider joins",
    ]);
    const problems = dataProviderProblems("research-hospital", { ...provider(), room: { executorImageDigest: "latest", project: "acme-room" } });
    expect(problems).to.deep.equal([
      'room.executorImageDigest must be sha256:<64 lowercase hex> (got "latest")',
      "room.namePrefix is required unless room.quarantineUri and room.workloadServiceAccount are both given",
    ]);
  });

  it("GIVEN a DataProvider constructed directly with bad args WHEN run THEN it throws before registering anything", async () => {
    const { run, error: caught } = await constructUnderMocks(() => {
      new DataProvider("research-hospital", { ...provider(), approvedJobs: ["sha256:nothex"], keyRotationDays: 365 });
    });
    expect(run.resources).to.deep.equal([]);
    expect((caught as CleanRoomError).problems).to.have.length(2);
  });

  it("GIVEN ConfidentialWorkloadPool args WHEN broken THEN every problem is listed (digest, zone, debug-only option, STABLE with debug)", () => {
    const problems = workloadPoolProblems("research-pool", {
      project: "acme-room",
      region: "europe-west4",
      zone: "us-central1-a",
      imageDigest: "sha256:ABC",
      imageReference: "x",
      subnetwork: "s",
      confidentialVm: { debugLogRedirect: true },
      attestation: { requireStable: true, allowDebug: false },
    });
    expect(problems.join("\n")).to.match(/zone "us-central1-a" is not in region europe-west4/).and.match(/imageDigest must be sha256/).and.match(
      /debugLogRedirect needs attestation\.allowDebug/,
    );
    expect(problems).to.have.length(3);
    const debugStable = workloadPoolProblems("research-pool", {
      project: "acme-room",
      region: "europe-west4",
      imageDigest: `sha256:${"e".repeat(64)}`,
      imageReference: "x",
      subnetwork: "s",
      attestation: { allowDebug: true, requireStable: true },
    });
    expect(debugStable.join()).to.match(/allowDebug cannot be combined with requireStable/);
  });
});

describe("components: a provider's published datasets carry a non-default table format only", () => {
  it("GIVEN datasets of format parquet, csv and none WHEN published to the descriptor THEN only parquet is named; every CSV dataset looks as before formats", () => {
    const published = publishedDatasets([{ name: "events", format: "parquet" }, { name: "claims", format: "csv" }, { name: "visits" }]);
    expect(published).to.deep.equal([
      { name: "events", format: "parquet", stage1Method: "none", epsilon: 1, delta: 1e-9 },
      { name: "claims", stage1Method: "none", epsilon: 1, delta: 1e-9 },
      { name: "visits", stage1Method: "none", epsilon: 1, delta: 1e-9 },
    ]);
  });
});

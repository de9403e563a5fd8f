/**
 * verifyResult's summary: what a verified result tells its reader (hardware, token times, exit status, approvals) is
 * exactly what the signed token and receipt say, field for field, with nothing invented for claims the token lacks.
 */
import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIDENTIAL_SPACE_ISSUER, LOCAL_ISSUER } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { verifyResult } from "../../src/runtime/verify/index.js";
import { AUD, buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, JOB, testChains } from "./pki.js";

/** The iat and exp the token in `dir` was signed with, read from its payload. */
async function tokenTimes(dir: string): Promise<{ iat: number; exp: number }> {
  const jwt = (await readFile(join(dir, "attestation.jwt"), "utf8")).trim();
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as { iat: number; exp: number };
}

describe("verify/verifyResult summary", function () {
  this.timeout(30_000);
  let tmp: string;
  let localChain: Chain;
  let gcpChain: Chain;
  let room: CleanRoomDescriptor;
  let gcp: CleanRoomDescriptor;

  before(async () => {
    ({ local: localChain, good: gcpChain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-summary-"));
    room = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  it("GIVEN a GCP result WHEN verified THEN the summary's hardware, image reference and token times are the token's own", async () => {
    const reference = `europe-docker.pkg.dev/p/r/executor@${IMAGE}`;
    const { dir } = await buildResult(tmp, gcp, gcpChain, { container: { image_reference: reference } });
    const s = await verifyResult(dir, { descriptor: gcp, trustedRoots: [gcpChain.root.pem] });
    expect(s.hardware).to.deep.equal({
      supportAttributes: ["LATEST", "STABLE", "USABLE"],
      hwmodel: "GCP_INTEL_TDX",
      swname: "CONFIDENTIAL_SPACE",
      swversion: ["250301"],
      dbgstat: "disabled-since-boot",
      secboot: true,
      project: "proj-1234",
      zone: "us-central1-a",
    });
    expect(s.imageReference).to.equal(reference);
    const { iat, exp } = await tokenTimes(dir);
    expect(s.token).to.deep.equal({
      issuer: CONFIDENTIAL_SPACE_ISSUER,
      audience: AUD,
      issuedAt: new Date(iat * 1000).toISOString(),
      expiresAt: new Date(exp * 1000).toISOString(),
      // No currentDate: an archived result is checked at the time its token was issued.
      verifiedAt: new Date(iat * 1000).toISOString(),
    });
  });

  it("GIVEN a local token as the local attestation service signs it (no gce, no support attributes, no image reference) THEN the summary invents none of them", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { submods: { confidential_space: {} } });
    const at = new Date((await tokenTimes(dir)).iat * 1000 + 5_000);
    const s = await verifyResult(dir, { descriptor: room, currentDate: at });
    expect(s.hardware).to.deep.equal({ supportAttributes: [], hwmodel: "NONE", swname: "CLEANROOM_LOCAL", swversion: ["0"], dbgstat: "enabled", secboot: false });
    expect(s).to.not.have.property("imageReference");
    expect(s.token.issuer).to.equal(LOCAL_ISSUER);
    expect(s.token.verifiedAt).to.equal(at.toISOString());
  });

  it("GIVEN a token without the hardware claims no policy requires (hwmodel, swversion, dbgstat, secboot, confidential_space) THEN the summary has none of those keys", async () => {
    const absent = { hwmodel: undefined, swversion: undefined, dbgstat: undefined, secboot: undefined };
    const { dir } = await buildResult(tmp, room, localChain, { claims: absent, submods: {} });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.hardware).to.deep.equal({ supportAttributes: [], swname: "CLEANROOM_LOCAL" });
    expect(s.verdict).to.match(/^VERIFIED: .*LOCAL backend/);
  });

  it("GIVEN a succeeded result THEN the summary carries its exit code 0 and no error fields", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.exitCode).to.equal(0);
    expect(s).to.not.have.any.keys("error", "errorCode");
  });

  it("GIVEN a failed result THEN the summary carries the receipt's exit code, error and error code, and the verdict quotes them", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { status: "failed", error: "division by zero in stage 2" });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s).to.include({ status: "failed", exitCode: 3, error: "division by zero in stage 2", errorCode: "job-failed" });
    expect(s.verdict).to.include("FAILED (job-failed: division by zero in stage 2)");
  });

  it("GIVEN a room of two providers of which only one approved the job THEN approvedBy names only that one", async () => {
    const two: CleanRoomDescriptor = {
      ...room,
      providers: [...room.providers, { ...room.providers[0]!, name: "beta", keyName: "local:beta", dataUri: "file:///tmp/room/beta", approvedJobs: [`sha256:${"d".repeat(64)}`] }],
    };
    const { dir } = await buildResult(tmp, two, localChain);
    const s = await verifyResult(dir, { descriptor: two });
    expect(s.approvedBy).to.deep.equal(["acme"]);
    expect(s.approvalWithdrawnBy).to.deep.equal([]);
    expect(s.admittedBy).to.deep.equal([]);
    expect(s.jobDigest).to.equal(JOB);
  });

  it("GIVEN a room of two providers WHEN the input is the second's, who no longer lists the job THEN approvalWithdrawnBy names that provider, not the first", async () => {
    const beta = { ...room.providers[0]!, name: "beta", keyName: "local:beta", dataUri: "file:///tmp/room/beta", approvedJobs: [] };
    const two: CleanRoomDescriptor = { ...room, providers: [...room.providers, beta] };
    const { dir } = await buildResult(tmp, two, localChain, { inputs: [{ provider: "beta", dataset: "claims", sha256: "0".repeat(64), bytes: 4 }] });
    const s = await verifyResult(dir, { descriptor: two });
    expect(s.approvalWithdrawnBy).to.deep.equal(["beta"]);
    expect(s.approvedBy).to.deep.equal(["acme"]);
  });

  it("GIVEN a room whose code policy is any-job WHEN no provider lists the job THEN nobody is said to have withdrawn it", async () => {
    const anyJob: CleanRoomDescriptor = { ...room, codePolicy: "any-job", providers: room.providers.map((p) => ({ ...p, approvedJobs: [] })) };
    const { dir } = await buildResult(tmp, anyJob, localChain);
    expect((await verifyResult(dir, { descriptor: anyJob })).approvalWithdrawnBy).to.deep.equal([]);
  });

  it("GIVEN a failed receipt without error text or error code THEN the verdict says FAILED (error), nothing made up", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { status: "failed", receipt: { error: undefined, errorCode: undefined } });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.verdict).to.include("FAILED (error);");
    expect(s).to.not.have.any.keys("error", "errorCode");
  });
});

/**
 * verifyResult: a result directory (outputs/, receipt.json, attestation.jwt) built here and signed with a throwaway
 * chain, then broken one way at a time.
 */
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { manifestOf } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { type AttestationError, verifyResult } from "../../src/runtime/verify/index.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, JOB, OTHER_IMAGE, testChains } from "./pki.js";

async function rejects(p: Promise<unknown>, code: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code, (err as Error).message).to.equal(code);
    return err as CleanRoomError;
  }
  expect.fail(`expected a rejection with code ${code}`);
}

describe("verify/verifyResult", function () {
  this.timeout(30_000);
  let tmp: string;
  let localChain: Chain;
  let gcpChain: Chain;
  let room: CleanRoomDescriptor;

  before(async () => {
    ({ local: localChain, good: gcpChain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-result-"));
    room = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE], platform: "local" });
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  it("GIVEN an untouched local result THEN verified, with a summary of what ran", async () => {
    const { dir, receipt } = await buildResult(tmp, room, localChain);
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.verified).to.equal(true);
    expect(s.status).to.equal("succeeded");
    expect(s.jobDigest).to.equal(JOB);
    expect(s.executorImageDigest).to.equal(IMAGE);
    expect(s.outputs.map((o) => o.path)).to.deep.equal(["report.csv", "tables/model.json"]);
    expect(s.inputs).to.deep.equal(receipt.inputs);
    expect(s.hardware.hwmodel).to.equal("NONE");
    expect(s.sandbox).to.equal("bubblewrap");
    expect(s.approvedBy).to.deep.equal(["acme"]);
    expect(s.verdict).to.match(/^VERIFIED: .*LOCAL backend/);
  });

  it("GIVEN the descriptor as a file path THEN verified the same way", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const path = join(tmp, "room.json");
    await writeFile(path, JSON.stringify(room));
    expect((await verifyResult(dir, { descriptor: path })).verified).to.equal(true);
  });

  it("GIVEN one output byte changed THEN digest-mismatch naming that file", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const f = join(dir, "outputs", "tables", "model.json");
    const bytes = await readFile(f);
    bytes[3] = bytes[3]! ^ 1;
    await writeFile(f, bytes);
    const err = await rejects(verifyResult(dir, { descriptor: room }), "digest-mismatch");
    expect(err.message).to.include("outputs/tables/model.json");
    expect(err.problems).to.deep.equal(["outputs/tables/model.json: changed"]);
  });

  it("GIVEN an extra file and a missing one THEN both are named", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    await writeFile(join(dir, "outputs", "smuggled.txt"), "x");
    await rm(join(dir, "outputs", "report.csv"));
    const err = await rejects(verifyResult(dir, { descriptor: room }), "digest-mismatch");
    expect(err.problems).to.deep.equal(["outputs/report.csv: missing", "outputs/smuggled.txt: extra"]);
  });

  it("GIVEN the receipt edited (exit code) THEN nonce: the token no longer matches the receipt", async () => {
    const { dir, receipt } = await buildResult(tmp, room, localChain);
    await writeFile(join(dir, "receipt.json"), JSON.stringify({ ...receipt, exitCode: 1 }));
    await rejects(verifyResult(dir, { descriptor: room }), "nonce");
  });

  it("GIVEN the receipt's outputs edited to match tampered files THEN nonce", async () => {
    const { dir, receipt } = await buildResult(tmp, room, localChain);
    await writeFile(join(dir, "outputs", "report.csv"), "region,count\nnorth,99\n");
    const outputs = await manifestOf(join(dir, "outputs"));
    await writeFile(join(dir, "receipt.json"), JSON.stringify({ ...receipt, outputs }));
    await rejects(verifyResult(dir, { descriptor: room }), "nonce");
  });

  it("GIVEN a failed job's result (no outputs directory) THEN verified as a failure", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { status: "failed" });
    await rm(join(dir, "outputs"), { recursive: true });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.status).to.equal("failed");
    expect(s.errorCode).to.equal("job-failed");
    expect(s.verdict).to.match(/^VERIFIED FAILURE/);
  });

  it("GIVEN a token for another executor image (also allowed by the policy) THEN policy naming image_digest", async () => {
    const both = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE, OTHER_IMAGE], platform: "local" });
    const { dir } = await buildResult(tmp, both, localChain, { tokenImage: OTHER_IMAGE });
    const err = await rejects(verifyResult(dir, { descriptor: both }), "policy");
    expect(err.message).to.include("submods.container.image_digest");
  });

  it("GIVEN a token started for another job digest THEN policy naming CLEANROOM_JOB_DIGEST", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { tokenJob: `sha256:${"d".repeat(64)}` });
    const err = await rejects(verifyResult(dir, { descriptor: room }), "policy");
    expect(err.message).to.include("CLEANROOM_JOB_DIGEST");
  });

  it("GIVEN another room's descriptor (same audience and root) THEN policy naming receipt.room", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const other = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE], platform: "local" }, "other");
    const err = await rejects(verifyResult(dir, { descriptor: other }), "policy");
    expect(err.message).to.include("receipt.room");
  });

  it("GIVEN another room's descriptor with its own root THEN policy saying the result comes from another room, not untrusted-root (issue 19)", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const other = descriptor("local", gcpChain.root.pem, { imageDigests: [IMAGE], platform: "local" }, "other");
    const err = await rejects(verifyResult(dir, { descriptor: other }), "policy");
    expect(err.message).to.include("comes from another room").and.to.include(`"${room.name}"`).and.not.to.include("root");
  });

  it("GIVEN a descriptor whose policy changed since the job ran THEN policy naming policyDigest", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const changed = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE, OTHER_IMAGE], platform: "local" });
    const err = await rejects(verifyResult(dir, { descriptor: changed }), "policy");
    expect(err.message).to.include("policyDigest");
  });

  it("GIVEN a result signed under another root THEN untrusted-root", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const { elsewhere } = await testChains();
    await rejects(verifyResult(dir, { descriptor: room, trustedRoots: [elsewhere.root.pem] }), "untrusted-root");
  });

  it("GIVEN a local descriptor without trustedRoots THEN invalid-argument asking for --trusted-root", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    const bare = descriptor("local", undefined, { imageDigests: [IMAGE], platform: "local" });
    const err = await rejects(verifyResult(dir, { descriptor: bare }), "invalid-argument");
    expect(err.message).to.include("--trusted-root");
    expect((await verifyResult(dir, { descriptor: bare, trustedRoots: [localChain.root.pem] })).verified).to.equal(true);
  });

  it("GIVEN a GCP result (production claims, RS256) THEN verified; a demand for a fresh token two hours on THEN expired", async () => {
    const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
    const { dir } = await buildResult(tmp, gcp, gcpChain);
    // The throwaway chain stands in for Google's, passed as a verifier passes a rotated root.
    const roots = [gcpChain.root.pem];
    const s = await verifyResult(dir, { descriptor: gcp, trustedRoots: roots });
    expect(s.hardware).to.include({ hwmodel: "GCP_INTEL_TDX", dbgstat: "disabled-since-boot", project: "proj-1234" });
    expect(s.verdict).to.include("Confidential Space on GCP_INTEL_TDX");
    await rejects(verifyResult(dir, { descriptor: gcp, trustedRoots: roots, currentDate: new Date(Date.now() + 2 * 3600_000) }), "expired");
  });

  it("GIVEN a GCP run launched with a modified descriptor (larger maxBytes) THEN policy naming the field: it is not a run of this room", async () => {
    const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
    const roots = [gcpChain.root.pem];
    const looser = { ...gcp, output: { ...gcp.output, maxBytes: gcp.output.maxBytes * 100 } };
    const { dir } = await buildResult(tmp, gcp, gcpChain, { tokenRoom: looser });
    const err = await rejects(verifyResult(dir, { descriptor: gcp, trustedRoots: roots }), "policy");
    expect(err.message).to.match(/ran with a different room descriptor than yours: "output" differs/);
    expect((err as AttestationError).claim).to.equal("submods.container.env_override.CLEANROOM_ROOM");
  });

  it("GIVEN a GCP token without CLEANROOM_ROOM, or with one that is not a descriptor THEN policy", async () => {
    const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
    const roots = [gcpChain.root.pem];
    const none = await buildResult(tmp, gcp, gcpChain, { tokenRoom: null });
    expect((await rejects(verifyResult(none.dir, { descriptor: gcp, trustedRoots: roots }), "policy")).message).to.match(/does not carry CLEANROOM_ROOM/);
    const junk = await buildResult(tmp, gcp, gcpChain, { tokenRoom: { ...gcp, version: 99 } as unknown as typeof gcp });
    expect((await rejects(verifyResult(junk.dir, { descriptor: gcp, trustedRoots: roots }), "policy")).message).to.match(/not a valid room descriptor/);
  });

  it("GIVEN a GCP result signed under someone's own root WHEN only Google's pinned root is trusted THEN untrusted-root", async () => {
    const gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
    const { dir } = await buildResult(tmp, gcp, gcpChain);
    const err = await rejects(verifyResult(dir, { descriptor: gcp }), "untrusted-root");
    expect(err.message).to.match(/pinned Confidential Space root/);
  });

  it("GIVEN a GCP descriptor that carries that root itself THEN invalid-descriptor: a descriptor cannot replace Google's root", async () => {
    const forged = descriptor("gcp", gcpChain.root.pem, { imageDigests: [IMAGE] });
    const { dir } = await buildResult(tmp, descriptor("gcp", undefined, { imageDigests: [IMAGE] }), gcpChain);
    const err = await rejects(verifyResult(dir, { descriptor: forged }), "invalid-descriptor");
    expect(err.message).to.match(/trustedRoots is only for local rooms/);
  });

  describe("approval (issue 18, finding 1)", () => {
    it("GIVEN a succeeded result whose digest a provider of its inputs no longer lists THEN verified: its key opened when it ran, and the summary names who withdrew", async () => {
      const revoked = { ...room, providers: room.providers.map((p) => ({ ...p, approvedJobs: [] })) };
      const { dir } = await buildResult(tmp, revoked, localChain);
      const s = await verifyResult(dir, { descriptor: revoked });
      expect(s.approved).to.equal(true);
      expect(s.approvedBy).to.deep.equal([]);
      expect(s.approvalWithdrawnBy).to.deep.equal(["acme"]);
    });

    it("GIVEN a succeeded result that read no input THEN unapproved, although its digest is approved", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { inputs: [] });
      const err = await rejects(verifyResult(dir, { descriptor: room }), "unapproved");
      expect(err.message).to.match(/read no input/);
    });

    it("GIVEN an unapproved result WHEN the verifier passes allowUnapproved THEN verified, and the summary and verdict say it is unapproved", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { inputs: [] });
      const s = await verifyResult(dir, { descriptor: room, allowUnapproved: true });
      expect(s.approved).to.equal(false);
      expect(s.verdict).to.match(/^VERIFIED, BUT UNAPPROVED/);
    });

    it("GIVEN a failed result of a job that read nothing THEN verified as a failure: it proves the job was refused and released nothing", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { status: "failed", inputs: [] });
      const s = await verifyResult(dir, { descriptor: room });
      expect(s.status).to.equal("failed");
      expect(s.approved).to.equal(false);
    });
  });

  describe("what the token is bound to (issue 18, finding 8)", () => {
    it("GIVEN a receipt naming another job than the one the token's output URI was issued for THEN policy", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receiptJobId: "job-2" });
      const err = await rejects(verifyResult(dir, { descriptor: room }), "policy");
      expect(err.message).to.include("CLEANROOM_OUTPUT_URI").and.include("job-2");
    });

    it("GIVEN a local token whose subject is another job THEN policy naming sub", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { tokenSub: `local://${room.name}/jobs/job-9` });
      const err = await rejects(verifyResult(dir, { descriptor: room }), "policy");
      expect((err as AttestationError).claim).to.equal("sub");
    });

    it("GIVEN a local run launched with a modified descriptor (larger maxBytes) THEN policy: the cap is what the token attests", async () => {
      const looser = { ...room, output: { ...room.output, maxBytes: room.output.maxBytes * 100 } };
      const { dir } = await buildResult(tmp, room, localChain, { tokenRoom: looser });
      const err = await rejects(verifyResult(dir, { descriptor: room }), "policy");
      expect(err.message).to.match(/"output" differs/);
    });
  });

  it("GIVEN a directory without a token THEN not-found", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    await rm(join(dir, "attestation.jwt"));
    await rejects(verifyResult(dir, { descriptor: room }), "not-found");
  });
});

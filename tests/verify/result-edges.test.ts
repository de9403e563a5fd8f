/**
 * verifyResult at its edges: its arguments, the files of a result directory (sizes, a trailing newline, a directory
 * where a file should be), receipts that disagree with the room, the options it passes on to the token check, and
 * what a digest mismatch says.
 */
import { expect } from "chai";
import { mkdir, mkdtemp, rm, writeFile, appendFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAttestationCondition } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { policyDigest } from "../../src/core/receipt.js";
import { canonicalJson } from "../../src/core/digest.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { type AttestationError, TrustStore, verifyResult, type VerifyResultOptions } from "../../src/runtime/verify/index.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, JOB, OTHER_IMAGE, testChains } from "./pki.js";

async function rejects(p: Promise<unknown>, code: string, claim?: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code, (err as Error).message).to.equal(code);
    if (claim !== undefined) expect((err as AttestationError).claim, (err as Error).message).to.equal(claim);
    return err as CleanRoomError;
  }
  expect.fail(`expected a rejection with code ${code}`);
}

describe("verify/verifyResult edges", function () {
  this.timeout(30_000);
  let tmp: string;
  let localChain: Chain;
  let gcpChain: Chain;
  let room: CleanRoomDescriptor;
  let gcp: CleanRoomDescriptor;

  before(async () => {
    ({ local: localChain, good: gcpChain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-edges-"));
    room = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    gcp = descriptor("gcp", undefined, { imageDigests: [IMAGE] });
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  describe("arguments", () => {
    it("GIVEN no result directory (empty string, a number) THEN invalid-argument", async () => {
      await rejects(verifyResult("", { descriptor: room }), "invalid-argument");
      await rejects(verifyResult(7 as unknown as string, { descriptor: room }), "invalid-argument");
    });

    it("GIVEN no options, options that are not an object, or options without a descriptor THEN invalid-argument, not a TypeError", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      for (const o of [null, "room.json", {}]) {
        const err = await rejects(verifyResult(dir, o as unknown as VerifyResultOptions), "invalid-argument");
        expect(err.message, JSON.stringify(o)).to.match(/options.descriptor is required/);
      }
    });
  });

  describe("the result directory's files", () => {
    it("GIVEN an attestation.jwt ending with a newline (as an editor or echo writes it) THEN verified", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      await appendFile(join(dir, "attestation.jwt"), "\n");
      expect((await verifyResult(dir, { descriptor: room })).verified).to.equal(true);
    });

    it("GIVEN an attestation.jwt one byte over 64 KiB THEN invalid-argument naming the token file; one of exactly 64 KiB is read", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      await writeFile(join(dir, "attestation.jwt"), "a".repeat(64 * 1024 + 1));
      expect((await rejects(verifyResult(dir, { descriptor: room }), "invalid-argument")).message).to.match(/^The attestation token .* is 65537 bytes/);
      await writeFile(join(dir, "attestation.jwt"), "a".repeat(64 * 1024));
      await rejects(verifyResult(dir, { descriptor: room }), "malformed");
    });

    it("GIVEN no receipt.json THEN not-found naming the receipt", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      await rm(join(dir, "receipt.json"));
      const err = await rejects(verifyResult(dir, { descriptor: room }), "not-found");
      expect(err.message).to.match(/^The receipt /);
      expect((err.cause as NodeJS.ErrnoException).code).to.equal("ENOENT");
    });

    it("GIVEN a directory where receipt.json should be THEN io-error (it exists but cannot be read as a file)", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      await rm(join(dir, "receipt.json"));
      await mkdir(join(dir, "receipt.json"));
      const err = await rejects(verifyResult(dir, { descriptor: room }), "io-error");
      expect((err.cause as NodeJS.ErrnoException).code).to.equal("EISDIR");
    });
  });

  describe("receipts that disagree with the room (each bound to a genuine token)", () => {
    it("GIVEN a receipt whose input was read as a files tree or as Parquet while the room declares a CSV table THEN policy naming that input's kind or format", async () => {
      const base = { provider: "acme", dataset: "claims", sha256: "a".repeat(64), bytes: 4 };
      const asFiles = await buildResult(tmp, room, localChain, { inputs: [{ ...base, kind: "files", files: 2 }] });
      const k = await rejects(verifyResult(asFiles.dir, { descriptor: room }), "policy", "receipt.inputs[acme/claims].kind");
      expect(k.message).to.match(/expected "table", got "files"/).and.include("the job read the dataset as another kind than the room declares");
      const asParquet = await buildResult(tmp, room, localChain, { inputs: [{ ...base, format: "parquet" }] });
      const f = await rejects(verifyResult(asParquet.dir, { descriptor: room }), "policy", "receipt.inputs[acme/claims].format");
      expect(f.message).to.match(/expected "csv", got "parquet"/).and.include("the job read the dataset in another table format than the room declares");
      // The same receipts verify under a room that declares the dataset so.
      const declared = (ds: Record<string, unknown>): CleanRoomDescriptor => ({
        ...room,
        providers: [{ ...room.providers[0], datasets: [{ ...room.providers[0].datasets[0], ...ds }] }],
      });
      const filesRoom = declared({ kind: "files" });
      const okFiles = await buildResult(tmp, filesRoom, localChain, { inputs: [{ ...base, kind: "files", files: 2 }] });
      expect((await verifyResult(okFiles.dir, { descriptor: filesRoom })).verified).to.equal(true);
      const parquetRoom = declared({ format: "parquet" });
      const okParquet = await buildResult(tmp, parquetRoom, localChain, { inputs: [{ ...base, format: "parquet" }] });
      expect((await verifyResult(okParquet.dir, { descriptor: parquetRoom })).verified).to.equal(true);
    });

    it("GIVEN a room whose storage prefixes end in slashes THEN the token's job and output locations are matched without them (one slash before the job id)", async () => {
      const slashed: CleanRoomDescriptor = { ...room, storage: { ...room.storage, jobs: `${room.storage.jobs}/`, quarantine: `${room.storage.quarantine}//` } };
      const env = (jobs: string, out: string) => ({
        env_override: { CLEANROOM_JOB_DIGEST: JOB, CLEANROOM_JOB_URI: jobs, CLEANROOM_OUTPUT_URI: out, CLEANROOM_ROOM: canonicalJson(slashed) },
      });
      const ok = await buildResult(tmp, slashed, localChain, { container: env(`${room.storage.jobs}/job-1`, `${room.storage.quarantine}/job-1`) });
      expect((await verifyResult(ok.dir, { descriptor: slashed })).verified).to.equal(true);
      const doubled = await buildResult(tmp, slashed, localChain, { container: env(`${room.storage.jobs}/job-1`, `${room.storage.quarantine}//job-1`) });
      await rejects(verifyResult(doubled.dir, { descriptor: slashed }), "policy", "submods.container.env_override.CLEANROOM_OUTPUT_URI");
    });

    it("GIVEN a receipt that says it ran on GCP under a local room's genuine local token THEN policy naming receipt.platform", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receipt: { platform: "gcp" } });
      await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.platform");
    });

    it("GIVEN another room's result (same audience and root) THEN policy naming receipt.room", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      await rejects(verifyResult(dir, { descriptor: { ...room, name: "other" } }), "policy", "receipt.room");
    });

    it("GIVEN a receipt naming a dataset the provider does not have THEN policy naming receipt.inputs", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { inputs: [{ provider: "acme", dataset: "salaries", sha256: "0".repeat(64), bytes: 4 }] });
      await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.inputs");
    });

    it("GIVEN a receipt naming a provider the room does not have (with a dataset name another provider has) THEN policy naming receipt.inputs", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { inputs: [{ provider: "mallory", dataset: "claims", sha256: "0".repeat(64), bytes: 4 }] });
      await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.inputs");
    });

    it("GIVEN a token for another executor image THEN policy naming submods.container.image_digest", async () => {
      const other = descriptor("local", localChain.root.pem, { imageDigests: [IMAGE, `sha256:${"e".repeat(64)}`], platform: "local" });
      const { dir } = await buildResult(tmp, other, localChain, { tokenImage: `sha256:${"e".repeat(64)}` });
      await rejects(verifyResult(dir, { descriptor: other }), "policy", "submods.container.image_digest");
    });

    it("GIVEN a GCP token whose container has no env_override THEN policy naming the job digest variable, not a TypeError", async () => {
      const { dir } = await buildResult(tmp, gcp, gcpChain, { container: { env_override: undefined } });
      await rejects(verifyResult(dir, { descriptor: gcp, trustedRoots: [gcpChain.root.pem] }), "policy", "submods.container.env_override.CLEANROOM_JOB_DIGEST");
    });

    it("GIVEN a receipt without an exit code THEN verified, and the summary has no exitCode", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receipt: { exitCode: undefined } });
      const s = await verifyResult(dir, { descriptor: room });
      expect(s).to.not.have.property("exitCode");
    });
  });

  describe("admissions (receipt.admittedBy) against the providers' policies", () => {
    const admission = (d: CleanRoomDescriptor, provider = "acme") => ({ provider, policyDigest: policyDigest(d.attestation.condition), own: false });

    it("GIVEN an admission by the input's provider under the room's current policy THEN verified, and the summary lists it", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receipt: { admittedBy: [admission(room)] } });
      expect((await verifyResult(dir, { descriptor: room })).admittedBy).to.deep.equal([admission(room)]);
    });

    it("GIVEN a valid admission by another provider of the room but none by the input's provider THEN policy naming receipt.admittedBy", async () => {
      const beta = { ...room.providers[0]!, name: "beta", keyName: "local:beta", dataUri: "file:///tmp/room/beta" };
      const two: CleanRoomDescriptor = { ...room, providers: [...room.providers, beta] };
      const { dir } = await buildResult(tmp, two, localChain, { receipt: { admittedBy: [admission(two, "beta")] } });
      await rejects(verifyResult(dir, { descriptor: two }), "policy", "receipt.admittedBy");
    });

    it("GIVEN admissions that leave out the input's provider THEN policy naming receipt.admittedBy", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receipt: { admittedBy: [] } });
      await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.admittedBy");
    });

    it("GIVEN an admission by a provider the room does not have THEN policy naming receipt.admittedBy", async () => {
      const { dir } = await buildResult(tmp, room, localChain, { receipt: { admittedBy: [admission(room), admission(room, "mallory")] } });
      await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.admittedBy");
    });

    it("GIVEN an admission under another policy digest, or claiming the provider's own policy when it has none THEN policy naming receipt.admittedBy[acme]", async () => {
      const stale = { ...admission(room), policyDigest: `sha256:${"f".repeat(64)}` };
      for (const a of [stale, { ...admission(room), own: true }]) {
        const { dir } = await buildResult(tmp, room, localChain, { receipt: { admittedBy: [a] } });
        await rejects(verifyResult(dir, { descriptor: room }), "policy", "receipt.admittedBy[acme]");
      }
    });

    it("GIVEN a provider whose own policy the attested claims do not satisfy (another image) THEN policy naming receipt.admittedBy[acme]", async () => {
      const ownPolicy = { imageDigests: [OTHER_IMAGE], platform: "local" as const };
      const own = { policy: ownPolicy, condition: buildAttestationCondition(ownPolicy) };
      const strict: CleanRoomDescriptor = { ...room, providers: room.providers.map((p) => ({ ...p, attestation: own })) };
      const a = { provider: "acme", policyDigest: policyDigest(own.condition), own: true };
      const { dir } = await buildResult(tmp, strict, localChain, { receipt: { admittedBy: [a] } });
      await rejects(verifyResult(dir, { descriptor: strict }), "policy", "receipt.admittedBy[acme]");
    });
  });

  it("GIVEN a succeeded result that read no input THEN unapproved naming receipt.inputs", async () => {
    const { dir } = await buildResult(tmp, room, localChain, { inputs: [] });
    await rejects(verifyResult(dir, { descriptor: room }), "unapproved", "receipt.inputs");
  });

  describe("options passed on to the token check", () => {
    it("GIVEN clockToleranceSec 0 WHEN verified 10 s after the token expired THEN expired; with the default 30 s THEN verified", async () => {
      const { dir } = await buildResult(tmp, room, localChain);
      const s = await verifyResult(dir, { descriptor: room });
      const at = new Date(Date.parse(s.token.expiresAt) + 10_000);
      await rejects(verifyResult(dir, { descriptor: room, currentDate: at, clockToleranceSec: 0 }), "expired");
      expect((await verifyResult(dir, { descriptor: room, currentDate: at })).verified).to.equal(true);
    });

    it("GIVEN a GCP result and a TrustStore holding its root (instead of trustedRoots) THEN verified", async () => {
      const { dir } = await buildResult(tmp, gcp, gcpChain);
      const s = await verifyResult(dir, { descriptor: gcp, trustStore: new TrustStore([gcpChain.root.pem]) });
      expect(s.verified).to.equal(true);
    });

    it("GIVEN a GCP token without hwmodel THEN the verdict says unknown hardware", async () => {
      const { dir } = await buildResult(tmp, gcp, gcpChain, { claims: { hwmodel: undefined } });
      const s = await verifyResult(dir, { descriptor: gcp, trustedRoots: [gcpChain.root.pem] });
      expect(s.verdict).to.include("in Confidential Space on unknown hardware");
    });
  });

  it("GIVEN one output changed, one missing and one extra THEN digest-mismatch saying what is wrong with each, one after another", async () => {
    const { dir } = await buildResult(tmp, room, localChain);
    await writeFile(join(dir, "outputs", "report.csv"), "region,count\nnorth,13\nsouth,30\n");
    await rm(join(dir, "outputs", "tables", "model.json"));
    await writeFile(join(dir, "outputs", "extra.txt"), "x");
    const err = await rejects(verifyResult(dir, { descriptor: room }), "digest-mismatch");
    expect(err.message).to.include("outputs/report.csv: content differs from the receipt; ");
    expect(err.message).to.include("outputs/tables/model.json: in the receipt but not on disk");
    expect(err.message).to.include("outputs/extra.txt: on disk but not in the receipt");
  });
});

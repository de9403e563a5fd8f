import { expect } from "chai";
import { createHash } from "node:crypto";
import {
  canonicalJson,
  CleanRoomError,
  nonceForReceipt,
  parseReceipt,
  policyDigest,
  type Receipt,
  RESULT_FILES,
  receiptDigest,
  receiptProblems,
} from "../../src/core/index.js";
import { DELETE, EXECUTOR_DIGEST, validReceipt, withField } from "./fixtures.js";

const HEX = "a".repeat(64);

describe("core/receipt: nonce and digests", () => {
  it("GIVEN a receipt THEN the nonce is 64 lowercase hex (within the 10-74 byte nonce limit) = sha256 of its canonical JSON", () => {
    const r = validReceipt();
    const nonce = nonceForReceipt(r);
    expect(nonce).to.match(/^[0-9a-f]{64}$/);
    expect(nonce).to.equal(createHash("sha256").update(canonicalJson(r), "utf8").digest("hex"));
    expect(receiptDigest(r)).to.equal(`sha256:${nonce}`);
  });

  it("GIVEN the same receipt with keys in another order THEN the same nonce", () => {
    const r = validReceipt();
    const reversed = Object.fromEntries(Object.entries(r).reverse()) as unknown as Receipt;
    expect(nonceForReceipt(reversed)).to.equal(nonceForReceipt(r));
  });

  it("GIVEN any single field changed THEN the nonce changes", () => {
    const base = validReceipt();
    const changes: [string, unknown][] = [
      ["version", 2],
      ["room", "demo2"],
      ["jobId", "job-2"],
      ["jobDigest", `sha256:${"2".repeat(64)}`],
      ["executorImageDigest", `sha256:${"3".repeat(64)}`],
      ["policyDigest", policyDigest("true")],
      ["platform", "gcp"],
      ["sandbox", "none"],
      ["inputs[0].provider", "insurer"],
      ["inputs[0].dataset", "claims"],
      ["inputs[0].sha256", "d".repeat(64)],
      ["inputs[0].bytes", 1235],
      ["inputs[0].format", "parquet"],
      ["outputs[0].path", "model/coef2.csv"],
      ["outputs[0].bytes", 11],
      ["outputs[1].sha256", "e".repeat(64)],
      ["outputs", []],
      ["startedAt", "2025-06-23T14:22:32Z"],
      ["finishedAt", "2025-06-23T14:25:03.123Z"],
      ["status", "failed"],
      ["exitCode", 1],
      ["exitCode", DELETE],
      ["error", "x"],
    ];
    const nonces = new Set([nonceForReceipt(base)]);
    for (const [path, value] of changes) {
      const n = nonceForReceipt(withField(base, path, value));
      expect(nonces.has(n), `changing ${path} must change the nonce`).to.equal(false);
      nonces.add(n);
    }
  });

  it("GIVEN a condition text THEN policyDigest is sha256: of its UTF-8 bytes", () => {
    expect(policyDigest("abc")).to.equal("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("GIVEN the result layout THEN it names outputs/, receipt.json, attestation.jwt, a debug-logs room's stderr.txt, the checks and the release record", () => {
    expect(RESULT_FILES).to.deep.equal({
      outputs: "outputs",
      receipt: "receipt.json",
      token: "attestation.jwt",
      stderr: "stderr.txt",
      check: "outputs.check.json",
      release: "release.json",
    });
  });
});

describe("core/receipt: parseReceipt", () => {
  it("GIVEN a valid receipt, as an object or JSON text THEN it is returned", () => {
    expect(parseReceipt(validReceipt())).to.deep.equal(validReceipt());
    expect(parseReceipt(JSON.stringify(validReceipt()))).to.deep.equal(validReceipt());
  });

  it("GIVEN an input the job read as Parquet (format parquet) THEN accepted", () => {
    const r = withField(validReceipt(), "inputs[0].format", "parquet");
    expect(parseReceipt(r).inputs[0]!.format).to.equal("parquet");
  });

  it("GIVEN a failed receipt without outputs THEN accepted", () => {
    const failed = { ...validReceipt(), status: "failed", outputs: [], exitCode: 3, error: "job exited with 3", errorCode: "job-failed" };
    expect(receiptProblems(failed)).to.deep.equal([]);
  });

  it("GIVEN a failed receipt that lists outputs THEN rejected: no partial outputs", () => {
    const r = { ...validReceipt(), status: "failed", error: "boom" };
    expect(receiptProblems(r)).to.deep.equal(["receipt.outputs must be empty when status is failed (no partial outputs)"]);
  });

  const broken: [string, unknown, string][] = [
    ["jobDigest", "sha256:abc", "receipt.jobDigest must be sha256:<64 hex>"],
    ["executorImageDigest", EXECUTOR_DIGEST.toUpperCase(), "receipt.executorImageDigest must be sha256:<64 hex>"],
    ["policyDigest", DELETE, "receipt.policyDigest must be sha256:<64 hex>"],
    ["version", 2, "receipt.version must be 1"],
    ["room", "", "receipt.room must be a non-empty string"],
    ["startedAt", "2025-06-23 14:22:31", "receipt.startedAt must be an ISO-8601 UTC time"],
    ["finishedAt", "2025-06-23T14:25:02+02:00", "receipt.finishedAt must be an ISO-8601 UTC time"],
    ["status", "ok", "receipt.status must be"],
    ["exitCode", 1.5, "receipt.exitCode must be an integer"],
    ["error", "why", "receipt.error must be absent when status is succeeded"],
    ["inputs[0].sha256", `sha256:${HEX}`, "receipt.inputs[0] must be"],
    ["inputs", {}, "receipt.inputs must be an array"],
    // A CSV input has no format (receipts from before formats stay valid and unchanged); only another format is named.
    ["inputs[0].format", "csv", "receipt.inputs[0].format must be absent (csv) or one of parquet"],
    ["inputs[0].format", "xlsx", "receipt.inputs[0].format must be absent (csv) or one of parquet"],
    ["outputs[0].sha256", "B".repeat(64), "receipt.outputs[0] must be"],
    ["outputs[0].path", "/etc/passwd", "receipt.outputs[0].path must be relative"],
    ["outputs[0].path", "../escape.txt", "receipt.outputs[0].path must be relative"],
    ["outputs[0].path", "model/../../escape.txt", "receipt.outputs[0].path must be relative"],
    ["outputs[0].path", "model\\..\\x", "receipt.outputs[0].path must be relative"],
    ["outputs[0].path", "", "receipt.outputs[0].path must be relative"],
    ["outputs[0].path", "./report.txt", "receipt.outputs[0].path must be relative"],
    // A name a verifier prints must not redraw its terminal (issue 18, finding 2).
    ["outputs[0].path", "\u001b[2J\u001b[Hreport.txt", "hold no control character"],
    ["outputs[0].path", "two\nlines.txt", "hold no control character"],
    ["outputs[0].path", "report\u200b.txt", "hold no control character"],
    ["outputs[0].path", "report.txt", "receipt.outputs[1].path \"report.txt\" is listed twice"],
  ];
  for (const [path, value, message] of broken) {
    it(`GIVEN ${path} = ${JSON.stringify(value === DELETE ? "(deleted)" : value)} THEN invalid-receipt: ${message}`, () => {
      const r = withField(validReceipt(), path, value);
      try {
        parseReceipt(r);
        expect.fail("should throw");
      } catch (err) {
        expect(err).to.be.instanceOf(CleanRoomError);
        expect((err as CleanRoomError).code).to.equal("invalid-receipt");
        expect((err as CleanRoomError).problems).to.have.length(1);
        expect((err as CleanRoomError).problems[0]).to.include(message);
      }
    });
  }

  it("GIVEN truncated JSON text or a non-object THEN invalid-receipt", () => {
    const text = JSON.stringify(validReceipt());
    for (const bad of [text.slice(0, 40), "null", 7, null, []]) {
      expect(() => parseReceipt(bad)).to.throw(CleanRoomError).with.property("code", "invalid-receipt");
    }
  });
});

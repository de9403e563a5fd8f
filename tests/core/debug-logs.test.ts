/**
 * `cleanroom local up --debug-logs` (issue 19, last bullet), the pure side: the descriptor records the opt-in and only a
 * local room may carry it; the spec (and so the GCP component) has no such field; the receipt's `debugLogs` and
 * `stderr` are validated and covered by its digest; the GCP runtime refuses a descriptor that asks for it; a verifier
 * tells a run of a debug-logs room from a run of a room without it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { dataCleanRoomProblems } from "../../src/components/index.js";
import {
  type CleanRoomDescriptor,
  canonicalJson,
  debugLogsOn,
  descriptorProblems,
  loadDescriptor,
  nonceForReceipt,
  parseReceipt,
  type Receipt,
  receiptProblems,
  resolveSpec,
  ROOM_ENV,
  specProblems,
} from "../../src/core/index.js";
import { executorPlatformFor, roomClientFor } from "../../src/runtime/platforms/index.js";
import { checkAttestedRoom } from "../../src/runtime/verify/attested-room.js";
import { AttestationError } from "../../src/runtime/verify/errors.js";
import { twoProviderArgs } from "../components/fixtures.js";
import { APPROVED_JOB, gcpDescriptor, localDescriptor, validReceipt, validSpec } from "./fixtures.js";
import { thrown, rejected } from "../thrown.js";

function debugRoom(): CleanRoomDescriptor {
  return { ...localDescriptor(), debugLogs: true };
}

function failedReceipt(): Receipt {
  return {
    ...validReceipt(),
    inputs: [],
    outputs: [],
    startedAt: "2026-01-01T00:00:00Z",
    finishedAt: "2026-01-01T00:00:01Z",
    status: "failed",
    exitCode: 1,
    error: "The job exited with a non-zero code",
    errorCode: "job-failed",
  };
}

describe("debug logs: the descriptor", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-debug-logs-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN a local descriptor with debugLogs: true WHEN written to a file and loaded THEN it comes back with the flag", async () => {
    const d = debugRoom();
    const file = join(dir, "descriptor.json");
    await writeFile(file, `${JSON.stringify(d, null, 2)}\n`);
    const back = loadDescriptor(file);
    expect(back.debugLogs).to.equal(true);
    expect(back).to.deep.equal(d);
  });

  it("GIVEN a local descriptor whose debugLogs is not a boolean THEN it is refused naming the field", () => {
    const e = thrown(() => loadDescriptor({ ...localDescriptor(), debugLogs: "yes" }));
    expect(e.code).to.equal("invalid-descriptor");
    expect(e.problems).to.deep.equal(["descriptor.debugLogs must be a boolean"]);
  });

  for (const value of [true, false]) {
    it(`GIVEN a GCP descriptor with debugLogs: ${value} THEN it is refused: only local rooms keep a job's stderr`, () => {
      const problems = descriptorProblems({ ...gcpDescriptor(), debugLogs: value });
      expect(problems).to.have.length(1);
      expect(problems[0]).to.contain("descriptor.debugLogs is only for local rooms").and.to.contain("cleanroom local up --debug-logs");
      expect(thrown(() => loadDescriptor({ ...gcpDescriptor(), debugLogs: value })).code).to.equal("invalid-descriptor");
    });
  }
});

describe("debug logs: the spec and the GCP component have no such setting", () => {
  it("GIVEN a spec with debugLogs THEN one problem that points to `local up --debug-logs` (not a generic unknown field)", () => {
    const problems = specProblems({ ...validSpec(), debugLogs: true });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.contain("spec.debugLogs is not a spec field").and.to.contain("cleanroom local up --debug-logs");
    expect(thrown(() => resolveSpec({ ...validSpec(), debugLogs: true })).code).to.equal("invalid-spec");
  });

  it("GIVEN DataCleanRoom arguments with debugLogs THEN the component refuses them with the same reason", () => {
    const problems = dataCleanRoomProblems("research", { ...twoProviderArgs(), debugLogs: true });
    expect(problems.filter((p) => p.includes("debugLogs"))).to.deep.equal([
      "spec.debugLogs is not a spec field: keeping a failed job's stderr is a local-only opt-in (`cleanroom local up --debug-logs`); a GCP room never keeps it",
    ]);
  });
});

describe("debug logs: the GCP runtime refuses it", () => {
  const env = { jobDigest: APPROVED_JOB, jobUri: "gs://demo-jobs-1a2b/job-1", outputUri: "gs://demo-quarantine-1a2b/job-1", room: "{}" };
  // As if a descriptor had reached the runtime without loadDescriptor (built in code, or edited after loading).
  const asked = () => ({ ...gcpDescriptor(), debugLogs: true }) as CleanRoomDescriptor;

  it("GIVEN a GCP descriptor with debugLogs WHEN the GCP executor platform is created THEN invalid-descriptor, before any client exists", async () => {
    const e = await rejected(executorPlatformFor(asked(), env));
    expect(e.code).to.equal("invalid-descriptor");
    expect(e.message).to.contain("only for local rooms");
  });

  it("GIVEN a GCP descriptor with debugLogs WHEN a room client is opened THEN invalid-descriptor", async () => {
    const e = await rejected(roomClientFor(asked()));
    expect(e.code).to.equal("invalid-descriptor");
    expect(e.message).to.contain("only for local rooms");
  });
});

describe("debug logs: the receipt", () => {
  it("GIVEN a receipt of a debug-logs room with its kept stderr THEN it is valid", () => {
    const r = { ...failedReceipt(), debugLogs: true as const, stderr: { bytes: 12, sha256: "d".repeat(64), truncated: false } };
    expect(receiptProblems(r)).to.deep.equal([]);
    expect(parseReceipt(JSON.stringify(r))).to.deep.equal(r);
  });

  it("GIVEN the same receipt with and without debugLogs THEN their digests differ: the token's nonce covers the flag", () => {
    const without = failedReceipt();
    expect(nonceForReceipt({ ...without, debugLogs: true })).not.to.equal(nonceForReceipt(without));
  });

  it("GIVEN debugLogs: false THEN refused: absent is the only way to say off (receipts of other rooms stay as they were)", () => {
    expect(receiptProblems({ ...failedReceipt(), debugLogs: false })).to.deep.equal(["receipt.debugLogs must be true when present (absent means the room keeps no job stderr)"]);
  });

  it("GIVEN a GCP receipt with debugLogs THEN refused", () => {
    expect(receiptProblems({ ...failedReceipt(), platform: "gcp", sandbox: "confidential-space", debugLogs: true })).to.deep.equal([
      "receipt.debugLogs is only for local rooms: a GCP room never keeps a job's stderr",
    ]);
  });

  it("GIVEN a kept stderr in a receipt without debugLogs, or of a succeeded job, or malformed THEN each is refused", () => {
    const stderr = { bytes: 1, sha256: "d".repeat(64), truncated: false };
    expect(receiptProblems({ ...failedReceipt(), stderr })).to.deep.equal(["receipt.stderr needs receipt.debugLogs: only a debug-logs room keeps a job's stderr"]);
    const ok = { ...failedReceipt(), status: "succeeded", exitCode: 0, error: undefined, errorCode: undefined, debugLogs: true, stderr };
    expect(receiptProblems(JSON.parse(JSON.stringify(ok)))).to.deep.equal(["receipt.stderr must be absent when status is succeeded: only a failed job's stderr is kept"]);
    expect(receiptProblems({ ...failedReceipt(), debugLogs: true, stderr: { bytes: -1, sha256: "xyz", truncated: "no" } })).to.deep.equal([
      "receipt.stderr must be {bytes, sha256 (64 hex), truncated (boolean)}",
    ]);
  });
});

describe("debug logs: receipt.stderr, one field wrong at a time", () => {
  const SHAPE = "receipt.stderr must be {bytes, sha256 (64 hex), truncated (boolean)}";
  const good = { bytes: 12, sha256: "d".repeat(64), truncated: false };
  const problemsOf = (stderr: unknown) => receiptProblems({ ...failedReceipt(), debugLogs: true, stderr });

  it("GIVEN an empty kept stderr (0 bytes) or a truncated one THEN valid", () => {
    expect(problemsOf({ ...good, bytes: 0 })).to.deep.equal([]);
    expect(problemsOf({ ...good, truncated: true })).to.deep.equal([]);
  });

  for (const [what, stderr] of [
    ["a string instead of an object", "Traceback"],
    ["null", null],
    ["an array", [good]],
    ["negative bytes", { ...good, bytes: -1 }],
    ["fractional bytes", { ...good, bytes: 1.5 }],
    ["bytes as a string", { ...good, bytes: "12" }],
    ["no sha256", { bytes: 12, truncated: false }],
    ["a sha256 that is a number", { ...good, sha256: 12 }],
    ["a sha256 that is an array holding a valid digest", { ...good, sha256: ["d".repeat(64)] }],
    ["a sha256 in upper case", { ...good, sha256: "D".repeat(64) }],
    ["a sha256 of 63 hex digits", { ...good, sha256: "d".repeat(63) }],
    ["no truncated", { bytes: 12, sha256: "d".repeat(64) }],
    ["truncated as a string", { ...good, truncated: "false" }],
  ] as const) {
    it(`GIVEN a kept stderr with ${what} (everything else right) THEN refused, with that one problem`, () => {
      expect(problemsOf(stderr)).to.deep.equal([SHAPE]);
    });
  }
});

describe("debug logs: debugLogsOn", () => {
  it("GIVEN a local room with debugLogs: true THEN on", () => {
    expect(debugLogsOn(debugRoom())).to.equal(true);
  });

  it("GIVEN a local room without the flag, or with a value other than true THEN off", () => {
    expect(debugLogsOn(localDescriptor())).to.equal(false);
    expect(debugLogsOn({ ...localDescriptor(), debugLogs: false })).to.equal(false);
    expect(debugLogsOn({ ...localDescriptor(), debugLogs: "true" } as unknown as CleanRoomDescriptor)).to.equal(false);
  });

  it("GIVEN a GCP descriptor carrying debugLogs: true (built in code, never loaded) THEN off: only a local room keeps stderr", () => {
    expect(debugLogsOn({ ...gcpDescriptor(), debugLogs: true })).to.equal(false);
  });
});

describe("debug logs: the attested room", () => {
  it("GIVEN a token whose attested descriptor has debugLogs WHEN checked against the room's descriptor without it THEN policy", () => {
    const env = { [ROOM_ENV]: canonicalJson(debugRoom()) };
    let caught: unknown;
    try {
      checkAttestedRoom(env, localDescriptor());
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(AttestationError);
    expect((caught as AttestationError).message).to.contain('"debugLogs" differs');
  });

  it("GIVEN a token whose attested descriptor has debugLogs WHEN checked against the same debug-logs room THEN it passes", () => {
    expect(() => checkAttestedRoom({ [ROOM_ENV]: canonicalJson(debugRoom()) }, debugRoom())).not.to.throw();
  });
});

/**
 * The executor's two first gates, in process: its environment (what the launcher must set) and the approval check
 * (no job runs without every provider of its inputs having approved it, under `approved-jobs`).
 */
import { expect } from "chai";
import { checkApproval } from "../../src/runtime/executor/approval.js";
import { ENV_JOB_DIGEST, ENV_JOB_URI, ENV_OUTPUT_URI, ENV_ROOM, readExecutorEnv } from "../../src/runtime/executor/env.js";
import { room } from "./fake-platform.js";
import { thrown } from "../thrown.js";

const DIGEST = `sha256:${"1".repeat(64)}`;
const OTHER = `sha256:${"2".repeat(64)}`;

describe("executor/readExecutorEnv", () => {
  const full = { [ENV_JOB_DIGEST]: DIGEST, [ENV_JOB_URI]: "file:///r/jobs/job-1", [ENV_OUTPUT_URI]: "file:///r/q/job-1", [ENV_ROOM]: "/r/descriptor.json", OTHER: "x" };

  it("GIVEN the four launcher variables THEN exactly their values", () => {
    expect(readExecutorEnv(full)).to.deep.equal({ jobDigest: DIGEST, jobUri: "file:///r/jobs/job-1", outputUri: "file:///r/q/job-1", room: "/r/descriptor.json" });
  });

  it("GIVEN the variables' names THEN the ones the launcher and the image's allow_env_override use", () => {
    expect([ENV_JOB_DIGEST, ENV_JOB_URI, ENV_OUTPUT_URI, ENV_ROOM]).to.deep.equal(["CLEANROOM_JOB_DIGEST", "CLEANROOM_JOB_URI", "CLEANROOM_OUTPUT_URI", "CLEANROOM_ROOM"]);
  });

  for (const missing of [ENV_JOB_DIGEST, ENV_JOB_URI, ENV_OUTPUT_URI, ENV_ROOM]) {
    it(`GIVEN ${missing} missing THEN invalid-argument naming it, and only it`, () => {
      const env: NodeJS.ProcessEnv = { ...full };
      delete env[missing];
      const err = thrown(() => readExecutorEnv(env));
      expect(err.code).to.equal("invalid-argument");
      expect(err.message).to.include(missing);
      for (const other of [ENV_JOB_DIGEST, ENV_JOB_URI, ENV_OUTPUT_URI, ENV_ROOM].filter((k) => k !== missing)) expect(err.message).not.to.include(`${other},`).and.not.to.include(`${other} `);
    });
  }

  it("GIVEN an empty variable THEN it counts as missing", () => {
    expect(thrown(() => readExecutorEnv({ ...full, [ENV_ROOM]: "" })).message).to.include(ENV_ROOM);
  });

  it("GIVEN nothing THEN every variable is named, in one error", () => {
    expect(thrown(() => readExecutorEnv({})).message).to.include(`${ENV_JOB_DIGEST}, ${ENV_JOB_URI}, ${ENV_OUTPUT_URI}, ${ENV_ROOM}`);
  });

  it("GIVEN no argument THEN process.env is read", () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, full);
      expect(readExecutorEnv().jobDigest).to.equal(DIGEST);
    } finally {
      for (const k of Object.keys(full)) if (!(k in saved)) delete process.env[k];
    }
  });
});

describe("executor/checkApproval", () => {
  const acme = { provider: "acme", dataset: "claims" };
  const beta = { provider: "beta", dataset: "visits" };

  /** A room where acme approved `acmeJobs` and beta approved `betaJobs`. */
  function approvals(acmeJobs: string[], betaJobs: string[], codePolicy = "approved-jobs") {
    const d = room([], { codePolicy });
    return { ...d, providers: [{ ...d.providers[0]!, approvedJobs: acmeJobs }, { ...d.providers[1]!, approvedJobs: betaJobs }] };
  }

  it("GIVEN every provider of the inputs approved the job THEN it may run", () => {
    expect(() => checkApproval(approvals([DIGEST], [OTHER, DIGEST]), DIGEST, [acme, beta])).not.to.throw();
  });

  it("GIVEN a job with no inputs THEN denied, even under any-job (no key release would ever check it)", () => {
    expect(thrown(() => checkApproval(approvals([DIGEST], [DIGEST]), DIGEST, [])).code).to.equal("denied");
    expect(thrown(() => checkApproval(approvals([], [], "any-job"), DIGEST, [])).code).to.equal("denied");
  });

  it("GIVEN one of two providers has not approved it THEN denied naming that provider only", () => {
    const err = thrown(() => checkApproval(approvals([DIGEST], [OTHER]), DIGEST, [acme, beta]));
    expect(err.code).to.equal("denied");
    expect(err.message).to.include('provider "beta"').and.not.include('provider "acme"');
  });

  it("GIVEN neither provider approved it THEN denied naming both, each once (two datasets of one provider)", () => {
    const err = thrown(() => checkApproval(approvals([], []), DIGEST, [acme, { provider: "acme", dataset: "prices" }, beta]));
    expect(err.message.match(/provider "acme"/g)).to.have.length(1);
    expect(err.message).to.include('provider "beta"');
  });

  it("GIVEN only a provider the job does not read has approved it THEN denied", () => {
    expect(thrown(() => checkApproval(approvals([], [DIGEST]), DIGEST, [acme])).code).to.equal("denied");
  });

  it("GIVEN codePolicy any-job THEN no approval is needed", () => {
    expect(() => checkApproval(approvals([], [], "any-job"), DIGEST, [acme, beta])).not.to.throw();
  });

  it("GIVEN an input of a provider the room does not have THEN not-found", () => {
    expect(thrown(() => checkApproval(approvals([DIGEST], [DIGEST]), DIGEST, [{ provider: "gamma", dataset: "x" }])).code).to.equal("not-found");
  });
});

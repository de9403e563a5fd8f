/**
 * The mock harness fails loudly instead of letting a test pass silently: on an invoke it has no answer for, on a
 * program error, and when the mocks were never installed (a forgotten `setMocks`).
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { runProgramUnderMocks } from "./harness.js";

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String(err);
  }
  return "(no error)";
}

/** Runs a one-bucket program with `setMocks` made a no-op (as if a test forgot it) and returns the harness's error. */
async function failureWithoutSetMocks(): Promise<string> {
  const runtime = pulumi.runtime as unknown as { setMocks: typeof pulumi.runtime.setMocks };
  const setMocks = runtime.setMocks;
  runtime.setMocks = async () => {};
  try {
    return await failure(runProgramUnderMocks(() => ({ bucket: new gcp.storage.Bucket("b", { location: "EU" }).id })));
  } finally {
    runtime.setMocks = setMocks;
  }
}

describe("components: the mock harness fails loudly", function () {
  this.timeout(60_000);

  it("GIVEN a program whose mocks were never installed (setMocks forgotten) WHEN run THEN the harness throws", async () => {
    // Simulates a fresh process where nobody installed mocks: no monitor, and setMocks does nothing.
    pulumi.runtime.resetOptions("cleanroom-test", "test", -1, "", "", false, "");
    expect(await failureWithoutSetMocks()).to.match(/setMocks did not install the mock monitor/);
  });

  it("GIVEN mocks from an earlier run still installed WHEN a run's own setMocks is skipped THEN the harness still throws", async () => {
    await runProgramUnderMocks(() => ({}));
    // The stale monitor registers the bucket, but this run never recorded it.
    expect(await failureWithoutSetMocks()).to.match(/was not recorded/);
  });

  it("GIVEN a program that throws WHEN run THEN the harness rethrows it", async () => {
    expect(await failure(runProgramUnderMocks(() => Promise.reject(new Error("boom in the program"))))).to.match(/boom in the program/);
  });

  it("GIVEN an output whose apply throws WHEN run THEN the harness surfaces it", async () => {
    const message = await failure(
      runProgramUnderMocks(() => ({
        bad: new gcp.storage.Bucket("b", { location: "EU" }).name.apply((): string => {
          throw new Error("apply failed");
        }),
      })),
    );
    expect(message).to.match(/apply failed/);
  });

  it("GIVEN a working run after those WHEN run THEN the harness is usable again (nothing leaked)", async () => {
    const run = await runProgramUnderMocks(() => ({ id: new gcp.storage.Bucket("b", { location: "EU", name: "x-bucket" }).id }));
    expect(run.outputs).to.deep.equal({ id: "x-bucket" });
    expect(run.resources.map((r) => r.type)).to.deep.equal(["gcp:storage/bucket:Bucket"]);
  });
});

/** A provider's release: every failed rule named, no rule named that did not fail, the record it leaves. */
import { expect } from "chai";
import { resolveDisclosurePolicy, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { parseAcceptedRules, releaseRecordFor, resultHeld } from "../../src/runtime/jobs/release.js";
import { thrown } from "../thrown.js";

const policy = resolveDisclosurePolicy({ output: { requireRelease: false, disclosure: resolveOutputDisclosure(undefined) }, providers: [] }, []);

function report(...rules: string[]): DisclosureReport {
  const findings = rules.map((rule) => ({ rule, count: 1, detail: "d" }));
  const verdict = rules.length === 0 ? "pass" : "fail";
  return { version: 1, policyDigest: disclosurePolicyDigest(policy), policy, outputs: [{ path: "t.csv", kind: "table", verdict, findings }], verdict, withheld: false };
}

const NOW = new Date("2026-01-02T03:04:05Z");

describe("runtime/jobs/release: releaseRecordFor", () => {
  it("GIVEN a clean pass THEN it is released with no accepted check and is not held", () => {
    const r = { jobId: "job-1", status: "succeeded", disclosure: report() };
    expect(releaseRecordFor(r, false, {}, NOW)).to.deep.equal({ version: 1, jobId: "job-1", releasedAt: NOW.toISOString(), disclosureVerdict: "pass", acceptedFailedChecks: [] });
    expect(resultHeld(r, false)).to.equal(undefined);
  });

  it("GIVEN failed rules WHEN not all are accepted THEN the release is refused naming them and the flag to pass", () => {
    const r = { jobId: "job-1", status: "succeeded", disclosure: report("min-cell-count", "dominance") };
    const err = thrown(() => releaseRecordFor(r, false, { acceptFailedChecks: ["dominance"] }));
    expect(err).to.include({ code: "disclosure" });
    expect(err.message).to.include("--accept-failed-checks dominance,min-cell-count");
  });

  it("GIVEN every failed rule accepted (comma-separated or repeated) THEN the record lists them", () => {
    const r = { jobId: "job-1", status: "succeeded", disclosure: report("min-cell-count", "dominance") };
    const rec = releaseRecordFor(r, false, { acceptFailedChecks: parseAcceptedRules(["min-cell-count,dominance"]) }, NOW);
    expect(rec.acceptedFailedChecks).to.deep.equal(["dominance", "min-cell-count"]);
    expect(rec.held).to.include("failed the disclosure checks");
  });

  it("GIVEN a rule accepted that did not fail THEN it is refused (a typo must not look like a review)", () => {
    const err = thrown(() => releaseRecordFor({ jobId: "job-1", status: "succeeded", disclosure: report("dominance") }, false, { acceptFailedChecks: ["dominance", "p-percent"] }));
    expect(err).to.include({ code: "invalid-argument" });
    expect(err.message).to.include("did not fail on job job-1: p-percent (failed: dominance)");
  });

  it("GIVEN an unknown rule name THEN parseAcceptedRules lists the rules", () => {
    const err = thrown(() => parseAcceptedRules(["min-cell-cout"]));
    expect(err).to.include({ code: "invalid-argument" });
    expect(err.message).to.include("the rules are: min-cell-count, dominance");
  });

  it("GIVEN a failed job THEN there is nothing to release", () => {
    expect(thrown(() => releaseRecordFor({ jobId: "job-1", status: "failed", errorCode: "disclosure" }, false))).to.include({ code: "output-policy" });
  });
});

/**
 * verifyResult on a result whose receipt carries the disclosure checks' report (issue 20, verify mutation path): the
 * report must be of the policy the room gives for the job's inputs, and `outputs.check.json`, when present, must be
 * exactly the receipt's report. In process, so Stryker's per-test coverage sees these checks.
 */

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { sha256Hex } from "../../src/core/digest.js";
import { type DisclosurePolicy, type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import { resolveDisclosurePolicy, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { DISCLOSURE_ERROR_CODE, withheldPath } from "../../src/core/disclosure-report.js";
import { type AttestationError, MAX_RECEIPT_BYTES, verifyResult } from "../../src/runtime/verify/index.js";
import { rejectedWith } from "../thrown.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, testChains } from "./pki.js";

const INPUTS = [{ provider: "acme", dataset: "claims", sha256: sha256Hex("data"), bytes: 4 }];

/** A passing report of `policy` over the fixture's two outputs (in the receipt's order). */
function reportOf(policy: DisclosurePolicy): DisclosureReport {
  return {
    version: 1,
    policyDigest: disclosurePolicyDigest(policy),
    policy,
    outputs: [
      { path: "report.csv", kind: "table", verdict: "pass", findings: [] },
      { path: "tables/model.json", kind: "table", verdict: "pass", findings: [] },
    ],
    verdict: "pass",
    withheld: false,
  } as DisclosureReport;
}

describe("verify/verifyResult disclosure report", function () {
  this.timeout(30_000);
  let tmp: string;
  let chain: Chain;
  let room: CleanRoomDescriptor;

  beforeEach(async () => {
    ({ local: chain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-disclosure-"));
    room = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
  });
  afterEach(async () => tmp && rm(tmp, { recursive: true, force: true }));

  it("GIVEN the room's policy's report THEN verified; the summary carries it, and the room's release requirement holds it", async () => {
    const report = reportOf(resolveDisclosurePolicy(room, INPUTS));
    const { dir } = await buildResult(tmp, room, chain, { inputs: INPUTS, receipt: { disclosure: report } });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.verified).to.equal(true);
    expect(s.disclosure).to.deep.equal({
      mode: report.policy.mode,
      verdict: "pass",
      withheld: false,
      held: "the room requires a provider's release of every result (output.requireRelease)",
      report,
    });
    expect(s.verdict).to.match(new RegExp(` Disclosure checks \\(${report.policy.mode}\\): pass\\.$`));
    expect(report.policy.mode, "the room's default mode").to.not.equal("off");
    // The same report written beside the receipt (any key order) is accepted.
    const reordered = Object.fromEntries(Object.entries(report).reverse());
    await writeFile(join(dir, "outputs.check.json"), JSON.stringify(reordered));
    expect((await verifyResult(dir, { descriptor: room })).verified).to.equal(true);
  });

  it("GIVEN outputs.check.json that is not the receipt's report THEN digest-mismatch (edited, not JSON, a directory)", async () => {
    const report = reportOf(resolveDisclosurePolicy(room, INPUTS));
    const { dir } = await buildResult(tmp, room, chain, { inputs: INPUTS, receipt: { disclosure: report } });
    const path = join(dir, "outputs.check.json");
    for (const text of [JSON.stringify({ ...report, verdict: "review" }), "{not json"]) {
      await writeFile(path, text);
      expect((await rejectedWith(verifyResult(dir, { descriptor: room }), "digest-mismatch")).problems).to.deep.equal(["outputs.check.json: changed"]);
    }
    await rm(path);
    await mkdir(path);
    expect((await rejectedWith(verifyResult(dir, { descriptor: room }), "digest-mismatch")).problems).to.deep.equal(["outputs.check.json: changed"]);
  });

  it("GIVEN outputs.check.json equal to the report but padded to the receipt cap THEN accepted; one byte over THEN digest-mismatch (not read)", async () => {
    const report = reportOf(resolveDisclosurePolicy(room, INPUTS));
    const { dir } = await buildResult(tmp, room, chain, { inputs: INPUTS, receipt: { disclosure: report } });
    const text = JSON.stringify(report);
    const padded = (size: number) => text + " ".repeat(size - Buffer.byteLength(text));
    await writeFile(join(dir, "outputs.check.json"), padded(MAX_RECEIPT_BYTES));
    expect((await verifyResult(dir, { descriptor: room })).verified).to.equal(true);
    await writeFile(join(dir, "outputs.check.json"), padded(MAX_RECEIPT_BYTES + 1));
    expect((await rejectedWith(verifyResult(dir, { descriptor: room }), "digest-mismatch")).problems).to.deep.equal(["outputs.check.json: changed"]);
  });

  it("GIVEN a room whose disclosure mode is off THEN verified with the off report, and the verdict says no check ran", async () => {
    const off: CleanRoomDescriptor = { ...room, output: { ...room.output, disclosure: resolveOutputDisclosure({ mode: "off" }) } };
    const policy = resolveDisclosurePolicy(off, INPUTS);
    const report = { ...reportOf(policy), outputs: [] } as DisclosureReport;
    const { dir } = await buildResult(tmp, off, chain, { inputs: INPUTS, receipt: { disclosure: report } });
    const s = await verifyResult(dir, { descriptor: off });
    expect(s.disclosure?.mode).to.equal("off");
    expect(s.verdict).to.match(/ Disclosure checks \(off\): none run\.$/);
  });

  it("GIVEN an enforce room whose checks withheld the outputs THEN a verified failure whose verdict says the outputs were withheld", async () => {
    const enforce: CleanRoomDescriptor = { ...room, output: { ...room.output, disclosure: resolveOutputDisclosure({ mode: "enforce" }) } };
    const policy = resolveDisclosurePolicy(enforce, INPUTS);
    const failing = { kind: "table", verdict: "fail", findings: [{ rule: "min-cell-count", cells: [2], count: 1, detail: "a cell counts fewer than 10 records" }] };
    const report = { ...reportOf(policy), verdict: "fail", withheld: true, outputs: [{ path: withheldPath(0), ...failing }] } as DisclosureReport;
    const { dir } = await buildResult(tmp, enforce, chain, {
      status: "failed",
      inputs: INPUTS,
      receipt: { disclosure: report, errorCode: DISCLOSURE_ERROR_CODE, error: "the disclosure checks withheld every output" },
    });
    const s = await verifyResult(dir, { descriptor: enforce });
    expect(s.status).to.equal("failed");
    expect(s.disclosure).to.include({ mode: "enforce", verdict: "fail", withheld: true });
    expect(s.verdict).to.match(/ Disclosure checks \(enforce\): fail, outputs withheld\.$/);
  });

  it("GIVEN a receipt without a report THEN no outputs.check.json is accepted (none is fine, one is extra)", async () => {
    const { dir } = await buildResult(tmp, room, chain, { inputs: INPUTS });
    const s = await verifyResult(dir, { descriptor: room });
    expect(s.disclosure).to.equal(undefined);
    // The verdict ends with its outputs: no disclosure sentence, nothing after it.
    expect(s.verdict).to.match(/ and produced these 2 output file\(s\)\.$/);
    await writeFile(join(dir, "outputs.check.json"), JSON.stringify(reportOf(resolveDisclosurePolicy(room, INPUTS))));
    expect((await rejectedWith(verifyResult(dir, { descriptor: room }), "digest-mismatch")).problems).to.deep.equal(["outputs.check.json: extra"]);
  });

  it("GIVEN a self-consistent report of another policy than the room's THEN policy naming receipt.disclosure.policyDigest", async () => {
    const policy = resolveDisclosurePolicy(room, INPUTS);
    const other = reportOf({ ...policy, releaseOnPass: !policy.releaseOnPass });
    const { dir } = await buildResult(tmp, room, chain, { inputs: INPUTS, receipt: { disclosure: other } });
    const err = (await rejectedWith(verifyResult(dir, { descriptor: room }), "policy")) as AttestationError;
    expect(err.claim).to.equal("receipt.disclosure.policyDigest");
    expect(err.message).to.include(disclosurePolicyDigest(policy));
  });
});

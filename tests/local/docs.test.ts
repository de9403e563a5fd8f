/**
 * docs/local.md describes key release as the broker decides it: each provider's own condition for its key, then its
 * approvals. Its refusal examples must be the broker's own words (digests and the failed clause shortened).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { type AttestationClaims, buildAttestationCondition, providerAttestationPolicy } from "../../src/core/attestation.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { decideRelease } from "../../src/runtime/platforms/local/broker.js";

const FILE = "docs/local.md";
const text = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
const IMAGE = `sha256:${"a".repeat(64)}`;
const REVIEWED = `sha256:${"b".repeat(64)}`;
const JOB = `sha256:${"c".repeat(64)}`;

/** Digests shortened, the failed CEL clause elided, whitespace collapsed: what the doc's examples abbreviate. */
function normalized(s: string): string {
  return s
    .replace(/sha256:[0-9a-f]+…?/g, "sha256:…")
    .replace(/\(not satisfied:[^)]*\)/g, "(not satisfied: …)")
    .replace(/\s+/g, " ")
    .trim();
}

/** A local room whose provider "insurer" states its own attestation: it reviewed executor REVIEWED, not the room's. */
function room(): CleanRoomDescriptor {
  const policy = { imageDigests: [IMAGE], platform: "local", outputUriPrefix: "file:///room/quarantine/" };
  const own = providerAttestationPolicy(policy, { executorImageDigests: [REVIEWED] });
  return {
    codePolicy: "approved-jobs",
    attestation: { policy, condition: buildAttestationCondition(policy), audience: "urn:test" },
    providers: [
      { name: "insurer", approvedJobs: [], datasets: [], dataUri: "file:///room/providers/insurer", keyName: "local:insurer", attestation: { policy: own, condition: buildAttestationCondition(own) } },
    ],
  } as unknown as CleanRoomDescriptor;
}

function claims(image: string): AttestationClaims {
  return {
    swname: "CLEANROOM_LOCAL",
    hwmodel: "NONE",
    dbgstat: "enabled",
    submods: { container: { image_digest: image, env_override: { CLEANROOM_JOB_DIGEST: JOB, CLEANROOM_OUTPUT_URI: "file:///room/quarantine/job-1" } } },
  } as unknown as AttestationClaims;
}

describe("local/docs: docs/local.md key release", () => {
  const examples = normalized(/A refusal names the provider[^\n]*\n\n```\n([\s\S]*?)```/.exec(text)?.[1] ?? "");

  it("GIVEN a provider with its own attestation WHEN the room's executor asks for its key THEN the refusal is the one the doc shows (its own policy, not the room's)", () => {
    const d = decideRelease(room(), "insurer", claims(IMAGE));
    expect(d.allowed).to.equal(false);
    expect(d.reason).to.match(/its own attestation policy/);
    expect(examples).to.include(normalized(d.reason!));
  });

  it("GIVEN an executor the provider reviewed WHEN the job is not approved THEN the refusal is the one the doc shows", () => {
    const d = decideRelease(room(), "insurer", claims(REVIEWED));
    expect(d.allowed).to.equal(false);
    expect(examples).to.include(normalized(d.reason!));
  });

  it("GIVEN the key release section THEN it names each provider's own condition and the receipt's admittedBy, and no single room condition decides keys", () => {
    const section = /### Key release[\s\S]*?\n### /.exec(text)?.[0] ?? "";
    expect(section).to.include("provider's own").and.include("admittedBy");
    expect(section).to.not.match(/satisfy the room's CEL condition/);
  });
});

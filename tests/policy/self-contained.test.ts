/**
 * The pack is published on its own (`pulumi policy publish` uploads only policy-packs/cleanroom-guardrails), so it
 * must not reach outside its directory, and what it repeats from the library must stay equal to the library's.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { CONFIDENTIAL_SPACE_ISSUER as PACK_ISSUER, DIGEST_PATTERN as PACK_DIGEST } from "../../policy-packs/cleanroom-guardrails/lib/condition.js";
import { ALLOW_DEBUG_LABEL as PACK_DEBUG_LABEL } from "../../policy-packs/cleanroom-guardrails/policies/confidentialSpaceVm.js";
import { LEDGER_FOLDER as PACK_LEDGER_FOLDER } from "../../policy-packs/cleanroom-guardrails/policies/dataBucketIam.js";
import { ROLE_LABEL as PACK_ROLE_LABEL } from "../../policy-packs/cleanroom-guardrails/policies/storage.js";
import { ALLOW_DEBUG_LABEL, BUCKET_ROLE_LABEL } from "../../src/components/defaults.js";
import { CONFIDENTIAL_SPACE_ISSUER } from "../../src/core/attestation.js";
import { LEDGER_FOLDER } from "../../src/core/descriptor.js";
import { DIGEST_PATTERN } from "../../src/core/patterns.js";

const PACK_DIR = path.resolve(__dirname, "../../policy-packs/cleanroom-guardrails");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (f === "node_modules") return [];
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("policy pack: self-contained", () => {
  it("GIVEN the pack's sources and config WHEN read THEN no import or extends leaves the pack directory, and every package it imports is a dependency", () => {
    const pkg = JSON.parse(readFileSync(path.join(PACK_DIR, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const sources = files(PACK_DIR).filter((f) => f.endsWith(".ts"));
    expect(sources.length).to.be.greaterThan(8);
    for (const file of sources) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/from\s+"([^"]+)"/g)) {
        const spec = m[1]!;
        if (spec.startsWith(".")) {
          const target = path.resolve(path.dirname(file), spec);
          expect(target.startsWith(`${PACK_DIR}${path.sep}`), `${path.relative(PACK_DIR, file)} imports ${spec}`).to.equal(true);
        } else if (!spec.startsWith("node:")) {
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
          expect(pkg.dependencies, `${path.relative(PACK_DIR, file)} imports ${spec}`).to.have.property(name);
        }
      }
    }
    const tsconfig = JSON.parse(readFileSync(path.join(PACK_DIR, "tsconfig.json"), "utf8")) as { extends?: string };
    expect(tsconfig.extends).to.equal(undefined);
  });

  it("GIVEN the values the pack repeats WHEN compared with the library's THEN they are equal", () => {
    expect(PACK_ISSUER).to.equal(CONFIDENTIAL_SPACE_ISSUER);
    expect(PACK_DIGEST.source).to.equal(DIGEST_PATTERN.source);
    expect(PACK_DEBUG_LABEL).to.equal(ALLOW_DEBUG_LABEL);
    expect(PACK_ROLE_LABEL).to.equal(BUCKET_ROLE_LABEL);
    expect(PACK_LEDGER_FOLDER).to.equal(LEDGER_FOLDER);
  });
});

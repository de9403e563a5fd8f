/**
 * Rule 2 against conditions written to fool a reviewer (or a grep). For each one, the CEL engine the runtime uses
 * (core's `evaluateAttestationCondition`, @bufbuild/cel) first proves the hole is real — the condition admits a debug
 * image or a foreign image — and then the rule must flag it, at the analyzer, the resource policy and the stack rule.
 * Controls: equivalent but differently spelled strict conditions are accepted, and CEL rejects the bad tokens there.
 */
import { expect } from "chai";
import { buildAttestationCondition, evaluateAttestationCondition } from "../../src/core/attestation.js";
import { attestationConditionStrict } from "../../policy-packs/cleanroom-guardrails/policies/attestationCondition.js";
import { providerKeysAttestationGated } from "../../policy-packs/cleanroom-guardrails/policies/providerKeys.js";
import { type ConditionProblemCode, conditionProblems } from "../../policy-packs/cleanroom-guardrails/lib/condition.js";
import { IMAGE_DIGEST, WORKLOAD_SA, debugClaims, goodClaims } from "../components/fixtures.js";
import { broken, happyStack, poolProvider } from "./fixtures/happy.js";
import { createStackValidationArgs, resourceViolations, runStackPolicy } from "./helpers.js";

const PROD = "assertion.dbgstat == 'disabled-since-boot'";
const PIN = `assertion.submods.container.image_digest == '${IMAGE_DIGEST}'`;
const SWNAME = "assertion.swname == 'CONFIDENTIAL_SPACE'";

type Claims = Record<string, unknown>;

/** A production token for another image (e.g. one the operator built). */
function foreignImageClaims(): Claims {
  const c = structuredClone(goodClaims());
  (c.submods as { container: { image_digest: string } }).container.image_digest = `sha256:${"0".repeat(64)}`;
  return c;
}

/** A debug token whose dbgstat is spelled the way one Google page spells it (`enable`, not `enabled`). */
function debugClaimsAltSpelling(): Claims {
  return { ...debugClaims(), dbgstat: "enable" };
}

interface Case {
  readonly name: string;
  readonly condition: string;
  /** A token the condition admits although it must not. */
  readonly admits: () => Claims;
  /** What the analyzer must say (every code, in order). */
  readonly codes: readonly ConditionProblemCode[];
}

const CASES: readonly Case[] = [
  { name: "swname || true", condition: `${SWNAME} || true`, admits: debugClaims, codes: ["swname-only", "always-true"] },
  { name: "a strict condition || true", condition: `${PROD} && ${PIN} || true`, admits: foreignImageClaims, codes: ["always-true"] },
  {
    name: "the digest pinned only in a dead || branch",
    condition: `${SWNAME} && ${PROD} && (${PIN} || true)`,
    admits: foreignImageClaims,
    codes: ["no-image-digest"],
  },
  {
    name: "the digest pinned only next to false",
    condition: `${SWNAME} && (${PROD} && ${PIN} && false || ${PROD})`,
    admits: foreignImageClaims,
    codes: ["no-image-digest"],
  },
  { name: "image_digest != '…'", condition: `${PROD} && assertion.submods.container.image_digest != '${IMAGE_DIGEST}'`, admits: foreignImageClaims, codes: ["no-image-digest"] },
  {
    name: "the digest compared with a list that contains the claim itself",
    condition: `${PROD} && assertion.submods.container.image_digest in ['${IMAGE_DIGEST}'] + [assertion.submods.container.image_digest]`,
    admits: foreignImageClaims,
    codes: ["no-image-digest"],
  },
  {
    name: "the digest only checked for its prefix",
    condition: `${PROD} && assertion.submods.container.image_digest.startsWith('sha256:')`,
    admits: foreignImageClaims,
    codes: ["no-image-digest"],
  },
  {
    name: "dbgstat checked in a negated branch",
    condition: `!(assertion.dbgstat == 'enabled') && ${PIN}`,
    admits: debugClaimsAltSpelling,
    codes: ["no-production-check"],
  },
  {
    name: "dbgstat checked only in one || alternative",
    condition: `(${PROD} || ${SWNAME}) && ${PIN}`,
    admits: debugClaims,
    codes: ["no-production-check"],
  },
  {
    name: "dbgstat in a list that contains the debug value",
    condition: `assertion.dbgstat in ['disabled-since-boot', 'enabled'] && ${PIN}`,
    admits: debugClaims,
    codes: ["no-production-check"],
  },
  {
    name: "assertion shadowed by a macro variable",
    condition: `[{'dbgstat': 'disabled-since-boot'}].exists(assertion, ${PROD}) && ${PIN}`,
    admits: debugClaims,
    codes: ["no-production-check"],
  },
  { name: "dbgstat only tested for presence", condition: `has(assertion.dbgstat) && ${PIN}`, admits: debugClaims, codes: ["no-production-check"] },
  {
    name: "dbgstat inside a ternary whose branches are both true",
    condition: `(${PROD} ? true : true) && ${PIN}`,
    admits: debugClaims,
    codes: ["no-production-check"],
  },
  { name: "swname != something", condition: `assertion.swname != 'GCE' && ${PIN}`, admits: debugClaims, codes: ["no-production-check"] },
  {
    name: "STABLE tested on the wrong attribute",
    condition: `'STABLE' in assertion.submods.container.args && ${PIN}`,
    admits: () => {
      const c = debugClaims();
      (c.submods as { container: Record<string, unknown> }).container.args = ["STABLE"];
      return c;
    },
    codes: ["no-production-check"],
  },
];

/** Strict conditions spelled differently: the rule must not get in the way of a correct one. */
const STRICT: readonly { name: string; condition: string }[] = [
  {
    name: "the condition core builds for the room",
    // A getter: built when the test runs, not while the file loads (see strictCondition() in fixtures/happy.ts).
    get condition() {
      return buildAttestationCondition({ imageDigests: [IMAGE_DIGEST], serviceAccounts: [WORKLOAD_SA], projectIds: ["acme-room"] });
    },
  },
  { name: "operands swapped", condition: `'disabled-since-boot' == assertion.dbgstat && '${IMAGE_DIGEST}' == assertion.submods.container.image_digest` },
  { name: "index syntax", condition: `assertion['dbgstat'] == 'disabled-since-boot' && assertion.submods['container'].image_digest == '${IMAGE_DIGEST}'` },
  { name: "a digest list", condition: `${PROD} && assertion.submods.container.image_digest in ['${IMAGE_DIGEST}', 'sha256:${"1".repeat(64)}']` },
  { name: "STABLE instead of dbgstat", condition: `'STABLE' in assertion.submods.confidential_space.support_attributes && ${PIN}` },
  { name: "both checks in every || alternative", condition: `${PROD} && (${PIN} && ${SWNAME} || ${PIN} && assertion.hwmodel == 'GCP_AMD_SEV')` },
];

describe("policy pack: rule 2 against adversarial attestation conditions", () => {
  for (const c of CASES) {
    it(`GIVEN ${c.name} WHEN CEL evaluates it THEN it admits a token it must not; WHEN reviewed THEN rule 2 and rule 7 flag it`, async () => {
      // The hole is real: the runtime's own CEL engine lets the bad token through.
      expect(evaluateAttestationCondition(c.condition, c.admits()).allowed, "CEL admits the bad token").to.equal(true);
      expect(conditionProblems(c.condition).map((p) => p.code)).to.deep.equal([...c.codes]);
      const provider = broken(poolProvider(), "attributeCondition", c.condition);
      expect(await resourceViolations(attestationConditionStrict, provider)).to.have.length(c.codes.length);
      const stack = happyStack().map((r) => (r.name === provider.name ? provider : r));
      const stackViolations = await runStackPolicy(providerKeysAttestationGated, createStackValidationArgs(stack));
      expect(stackViolations, "rule 7 on the provider key's decrypter").to.have.length(c.codes.length);
    });
  }

  for (const c of STRICT) {
    it(`GIVEN ${c.name} WHEN reviewed THEN silent, and CEL rejects debug and foreign images`, async () => {
      expect(conditionProblems(c.condition)).to.deep.equal([]);
      expect(await resourceViolations(attestationConditionStrict, broken(poolProvider(), "attributeCondition", c.condition))).to.deep.equal([]);
      expect(evaluateAttestationCondition(c.condition, debugClaims()).allowed).to.equal(false);
      expect(evaluateAttestationCondition(c.condition, foreignImageClaims()).allowed).to.equal(false);
    });
  }

  it("GIVEN !!(dbgstat check) WHEN parsed THEN CEL's parser folds the double negation, so it is the check itself and accepted", () => {
    // Documents a parser fact the analysis relies on: @bufbuild/cel, like cel-go, drops an even number of `!`.
    const condition = `!!(${PROD}) && ${PIN}`;
    expect(conditionProblems(condition)).to.deep.equal([]);
    expect(evaluateAttestationCondition(condition, debugClaims()).allowed).to.equal(false);
  });
});

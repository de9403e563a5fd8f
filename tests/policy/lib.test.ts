/**
 * The pack's helpers on their own: the CEL condition analysis (rule 2, rule 7's mappings, rule 8's ledger prefixes),
 * IAM grants in every flavour, and reading properties that preview leaves unknown.
 */
import { expect } from "chai";
import {
  type ConditionProblemCode,
  MAX_BRANCHES,
  conditionProblems,
  isConfidentialSpaceIssuer,
  mappingProblem,
  objectNamePrefixes,
} from "../../policy-packs/cleanroom-guardrails/lib/condition.js";
import {
  grantsOf,
  grantsOfPolicyData,
  iamFlavour,
  isPublicMember,
  isWholePoolMember,
  parsePoolPrincipal,
} from "../../policy-packs/cleanroom-guardrails/lib/iam.js";
import { UNKNOWN, asString, isRecord, isSetOrUnknown, readProp, show } from "../../policy-packs/cleanroom-guardrails/lib/values.js";
import { POOL_NAME, T } from "./fixtures/happy.js";
import { UNKNOWN_STRING, createResourceValidationArgs } from "./helpers.js";

const PROD = "assertion.dbgstat == 'disabled-since-boot'";
const DIGEST = `sha256:${"a".repeat(64)}`;
const PIN = `assertion.submods.container.image_digest == '${DIGEST}'`;
const SWNAME = "assertion.swname == 'CONFIDENTIAL_SPACE'";
const LEDGER = "projects/_/buckets/b/objects/.dp-ledger/";

const codes = (condition: string | undefined): ConditionProblemCode[] => conditionProblems(condition).map((p) => p.code);

/** `n` alternatives, each a strict conjunction (so only their number can make the condition fail). */
const strictAlternatives = (n: number) => Array.from({ length: n }, (_, i) => `(${PROD} && ${PIN} && assertion.hwmodel == 'M${i}')`).join(" || ");
/** A conjunction of `k` two-way disjunctions: 2^k alternatives, each strict. */
const product = (k: number) => [PROD, PIN, ...Array.from({ length: k }, (_, i) => `(assertion.a${i} == 'x' || assertion.b${i} == 'y')`)].join(" && ");

/** Props as the analyzer hands them over: values equal to UNKNOWN_STRING throw UnknownValueError on read. */
function previewProps(type: string, props: Record<string, unknown>): Record<string, unknown> {
  return createResourceValidationArgs({ type, name: "r", props }).props as Record<string, unknown>;
}

describe("policy pack lib: condition analysis", () => {
  it("GIVEN the Confidential Space issuer with spaces, one or more trailing slashes WHEN checked THEN it is recognised; anything else is not", () => {
    expect(isConfidentialSpaceIssuer(" https://confidentialcomputing.googleapis.com/ ")).to.equal(true);
    expect(isConfidentialSpaceIssuer("https://confidentialcomputing.googleapis.com//")).to.equal(true);
    expect(isConfidentialSpaceIssuer("https://confidentialcomputing.googleapis.com.evil/")).to.equal(false);
    expect(isConfidentialSpaceIssuer(undefined)).to.equal(false);
    expect(isConfidentialSpaceIssuer(42)).to.equal(false);
  });

  it("GIVEN an empty or blank condition WHEN reviewed THEN it is missing; GIVEN broken CEL THEN not-cel", () => {
    expect(codes(undefined)).to.deep.equal(["missing"]);
    expect(codes("   ")).to.deep.equal(["missing"]);
    expect(codes("assertion.dbgstat ==")).to.deep.equal(["not-cel"]);
  });

  it(`GIVEN exactly ${MAX_BRANCHES} alternatives (|| or a product of ||) WHEN reviewed THEN accepted; one level more THEN too-complex`, () => {
    expect(codes(strictAlternatives(MAX_BRANCHES))).to.deep.equal([]);
    expect(codes(strictAlternatives(MAX_BRANCHES + 1))).to.deep.equal(["too-complex"]);
    expect(codes(product(6))).to.deep.equal([]);
    expect(codes(product(7))).to.deep.equal(["too-complex"]);
    // Too complex inside a larger expression: the whole condition is too complex.
    expect(codes(`${PROD} && (${strictAlternatives(MAX_BRANCHES + 1)})`)).to.deep.equal(["too-complex"]);
    expect(codes(`(${product(7)}) || ${PROD} && ${PIN}`)).to.deep.equal(["too-complex"]);
  });

  it("GIVEN a constant that is not true (false, a string) WHEN reviewed THEN it proves nothing; GIVEN swname && true THEN swname-only", () => {
    expect(codes("false")).to.deep.equal(["no-production-check", "no-image-digest"]);
    expect(codes("'yes'")).to.deep.equal(["no-production-check", "no-image-digest"]);
    expect(codes(`${SWNAME} && true`)).to.deep.equal(["swname-only"]);
    expect(codes("assertion.swname in ['CONFIDENTIAL_SPACE']")).to.deep.equal(["swname-only"]);
    expect(codes("assertion.swname != 'GCE'")).to.deep.equal(["swname-only"]);
  });

  it("GIVEN look-alikes of the production check (a tautology, LATEST, has(), a computed path) WHEN reviewed THEN no-production-check", () => {
    for (const fake of [
      "'disabled-since-boot' == 'disabled-since-boot'",
      "'LATEST' in assertion.submods.confidential_space.support_attributes",
      "has(assertion.dbgstat) == 'disabled-since-boot'",
      "assertion + 'dbgstat' == 'disabled-since-boot'",
    ]) {
      expect(codes(`${fake} && ${PIN}`), fake).to.deep.equal(["no-production-check"]);
    }
  });

  it("GIVEN look-alikes of the digest pin (another claim, an empty list, a list with a tag) WHEN reviewed THEN no-image-digest", () => {
    for (const fake of [
      `assertion.submods.container.image_reference in ['${DIGEST}']`,
      "assertion.submods.container.image_digest in []",
      `assertion.submods.container.image_digest in ['${DIGEST}', 'latest']`,
      "assertion.submods.container.image_digest in [assertion.submods.container.image_digest]",
    ]) {
      expect(codes(`${PROD} && ${fake}`), fake).to.deep.equal(["no-image-digest"]);
    }
  });

  it("GIVEN an alternative CEL cannot print (a macro) WHEN it is weak THEN the problem still names it, with … for the macro", () => {
    const problems = conditionProblems(`${PROD} && ${PIN} || [1].exists(x, x > 0) && ${SWNAME}`);
    expect(problems.map((p) => p.code)).to.deep.equal(["no-production-check", "no-image-digest"]);
    for (const p of problems) expect(p.message).to.include('the `||` alternative `… && assertion.swname == "CONFIDENTIAL_SPACE"`');
  });

  it("GIVEN a mapping from the token (a path, the whole assertion, literals + paths) WHEN checked THEN accepted", () => {
    expect(mappingProblem("assertion")).to.equal(undefined);
    expect(mappingProblem("assertion.sub")).to.equal(undefined);
    expect(mappingProblem("'gcpcs::' + assertion.sub")).to.equal(undefined);
  });

  it("GIVEN a mapping that is empty or mixes in anything but paths and string literals WHEN checked THEN refused", () => {
    expect(mappingProblem(undefined)).to.equal("an empty expression");
    expect(mappingProblem("  ")).to.equal("an empty expression");
    for (const m of ["assertion[1]", "assertion.sub + 1", "assertion.sub + string(1)", "'a' + 'b'", "request.sub"]) {
      expect(mappingProblem(m), m).to.match(/not a claim of the attestation token/).and.include(`\`${m}\``);
    }
  });

  it("GIVEN ledger conditions WHEN their object-name prefixes are read THEN the longest required prefix of each alternative", () => {
    expect(objectNamePrefixes(`resource.name.startsWith('${LEDGER}')`)).to.deep.equal([LEDGER]);
    expect(objectNamePrefixes(`resource.name.startsWith('projects/_/buckets/b/') && resource.name.startsWith('${LEDGER}')`)).to.deep.equal([LEDGER]);
    expect(objectNamePrefixes(`resource.name.startsWith('${LEDGER}') && resource.name.startsWith('projects/_/buckets/b/')`)).to.deep.equal([LEDGER]);
    expect(objectNamePrefixes(`resource.name.startsWith('${LEDGER}a/') || resource.name.startsWith('${LEDGER}b/')`)).to.deep.equal([`${LEDGER}a/`, `${LEDGER}b/`]);
  });

  it("GIVEN conditions that do not confine the object name WHEN their prefixes are read THEN undefined", () => {
    for (const c of [
      `resource.name.endsWith('${LEDGER}')`,
      `startsWith('${LEDGER}')`,
      `resource.name.startsWith('${LEDGER}', 'x')`,
      `resource.type.startsWith('${LEDGER}')`,
      `resource.name.startsWith('${LEDGER}') || true`,
      "resource.name.startsWith(",
      product(7).replace(PROD, `resource.name.startsWith('${LEDGER}')`),
    ]) {
      expect(objectNamePrefixes(c), c).to.equal(undefined);
    }
  });
});

describe("policy pack lib: IAM grants", () => {
  const WHOLE = `principalSet://iam.googleapis.com/${POOL_NAME}/*`;

  it("GIVEN type tokens WHEN classified THEN member, binding, policy, or not IAM", () => {
    expect(iamFlavour(T.cryptoKeyIamMember)).to.equal("member");
    expect(iamFlavour(T.projectIamBinding)).to.equal("binding");
    expect(iamFlavour(T.bucketIamPolicy)).to.equal("policy");
    expect(iamFlavour(T.bucket)).to.equal(undefined);
  });

  it("GIVEN a resource that is not IAM, or an IAM member without role or member WHEN read THEN no grants", () => {
    expect(grantsOf(T.bucket, { role: "roles/owner", members: ["user:a@example.com"], policyData: "{" })).to.deep.equal([]);
    expect(grantsOf(T.projectIamMember, { member: "user:a@example.com" })).to.deep.equal([]);
    expect(grantsOf(T.projectIamMember, { role: "roles/owner" })).to.deep.equal([]);
  });

  it("GIVEN Member and Binding grants with and without a condition WHEN read THEN one grant per member, the condition kept", () => {
    const condition = { title: "ledger", expression: `resource.name.startsWith('${LEDGER}')` };
    expect(grantsOf(T.bucketIamMember, { role: "r", member: "m", condition })).to.deep.equal([{ role: "r", member: "m", condition: condition.expression }]);
    expect(grantsOf(T.bucketIamMember, { role: "r", member: "m" })).to.deep.equal([{ role: "r", member: "m" }]);
    expect(grantsOf(T.bucketIamBinding, { role: "r", members: ["a", "b"] })).to.deep.equal([{ role: "r", member: "a" }, { role: "r", member: "b" }]);
  });

  it("GIVEN values unknown at preview (policyData, members, a condition or its expression) WHEN read THEN UNKNOWN in their place", () => {
    expect(grantsOf(T.projectIamPolicy, previewProps(T.projectIamPolicy, { policyData: UNKNOWN_STRING }))).to.deep.equal([{ role: UNKNOWN, member: UNKNOWN }]);
    expect(grantsOf(T.projectIamBinding, previewProps(T.projectIamBinding, { role: "r", members: UNKNOWN_STRING }))).to.deep.equal([{ role: "r", member: UNKNOWN }]);
    expect(grantsOf(T.bucketIamMember, previewProps(T.bucketIamMember, { role: "r", member: "m", condition: UNKNOWN_STRING }))).to.deep.equal([
      { role: "r", member: "m", condition: UNKNOWN },
    ]);
    const expressionUnknown = previewProps(T.bucketIamMember, { role: "r", member: "m", condition: { title: "t", expression: UNKNOWN_STRING } });
    expect(grantsOf(T.bucketIamMember, expressionUnknown)).to.deep.equal([{ role: "r", member: "m", condition: UNKNOWN }]);
  });

  it("GIVEN policyData with conditions, bindings without a role, null bindings and non-string members WHEN read THEN only well-formed grants", () => {
    const policyData = JSON.stringify({
      bindings: [
        null,
        { members: ["user:no-role@example.com"] },
        { role: "roles/a", members: [1, "user:a@example.com"] },
        { role: "roles/b", members: ["user:b@example.com"], condition: { title: "t", expression: "request.time < timestamp('2030-01-01T00:00:00Z')" } },
      ],
    });
    expect(grantsOfPolicyData(policyData)).to.deep.equal([
      { role: "roles/a", member: "user:a@example.com" },
      { role: "roles/b", member: "user:b@example.com", condition: "request.time < timestamp('2030-01-01T00:00:00Z')" },
    ]);
  });

  it("GIVEN policyData that is not JSON, or JSON that is not an object WHEN read THEN it throws saying which", () => {
    expect(() => grantsOfPolicyData("{")).to.throw("policyData is not JSON");
    expect(() => grantsOfPolicyData("[]")).to.throw("policyData is not a JSON object");
    expect(() => grantsOfPolicyData("null")).to.throw("policyData is not a JSON object");
    expect(() => grantsOf(T.projectIamPolicy, {})).to.throw("policyData is not JSON");
  });

  it("GIVEN members WHEN asked whether they are the public THEN every public form, and nothing else", () => {
    for (const m of ["allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all", "principal://goog/public:all"]) expect(isPublicMember(m), m).to.equal(true);
    for (const m of ["user:allUsers@example.com", "x-principalSet://goog/public:all", "principal://goog/public:none"]) expect(isPublicMember(m), m).to.equal(false);
  });

  it("GIVEN workload and workforce pool members WHEN parsed THEN pool, project and selector; whole-pool only for principalSet /* or /", () => {
    expect(parsePoolPrincipal("principalSet://iam.googleapis.com/locations/global/workforcePools/staff/group/admins")).to.deep.equal({
      kind: "principalSet",
      poolType: "workforce",
      project: "",
      poolId: "staff",
      selector: "group/admins",
    });
    expect(parsePoolPrincipal("user:a@example.com")).to.equal(undefined);
    expect(isWholePoolMember(WHOLE)).to.equal(true);
    expect(isWholePoolMember(WHOLE.slice(0, -1))).to.equal(true);
    expect(isWholePoolMember("principalSet://iam.googleapis.com/locations/global/workforcePools/staff/*")).to.equal(true);
    expect(isWholePoolMember(WHOLE.replace("principalSet:", "principal:"))).to.equal(false);
    expect(isWholePoolMember(`principalSet://iam.googleapis.com/${POOL_NAME}/attribute.job_digest/${DIGEST}`)).to.equal(false);
  });
});

describe("policy pack lib: property values", () => {
  it("GIVEN a property that is unknown, absent, or a getter that fails WHEN read THEN UNKNOWN, undefined, or the failure", () => {
    expect(readProp(previewProps(T.bucket, { name: UNKNOWN_STRING }), "name")).to.equal(UNKNOWN);
    expect(readProp(null, "name")).to.equal(undefined);
    expect(readProp([1], "0")).to.equal(undefined);
    const failing = Object.defineProperty({}, "name", {
      enumerable: true,
      get() {
        throw new Error("boom");
      },
    });
    expect(() => readProp(failing, "name")).to.throw("boom");
  });

  it("GIVEN values WHEN narrowed THEN only plain objects are records and only strings are strings", () => {
    expect(isRecord(null)).to.equal(false);
    expect(isRecord([])).to.equal(false);
    expect(isRecord({})).to.equal(true);
    expect(asString(1)).to.equal(undefined);
    expect(asString("x")).to.equal("x");
  });

  it("GIVEN a property that is blank, empty, null, an object or unknown WHEN asked whether it is set THEN only a value or unknown counts", () => {
    const set = (v: unknown) => isSetOrUnknown(previewProps(T.bucket, { k: v }), "k");
    expect(set("  ")).to.equal(false);
    expect(set("")).to.equal(false);
    expect(set(null)).to.equal(false);
    expect(isSetOrUnknown({}, "k")).to.equal(false);
    expect(set("key")).to.equal(true);
    expect(set({})).to.equal(true);
    expect(set(0)).to.equal(true);
    expect(set(UNKNOWN_STRING)).to.equal(true);
  });

  it("GIVEN values WHEN shown in a message THEN unknown and unset are spelled out, the rest is JSON", () => {
    expect(show(UNKNOWN)).to.equal("(unknown until deployment)");
    expect(show(undefined)).to.equal("(not set)");
    expect(show("x")).to.equal('"x"');
    expect(show(false)).to.equal("false");
  });
});

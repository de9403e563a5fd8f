/**
 * The type check of a verified token's claims (verify/claims.ts): jose vouches for the signature and the registered
 * claims, not for the Confidential Space ones, so a claim of the wrong type must be refused here, named, before a
 * policy or a display reads it. Pure functions on plain objects: no signing, no files.
 */
import { expect } from "chai";
import { AttestationError } from "../../src/runtime/verify/errors.js";
import { claimProblems, isAttestationClaims, toAttestationClaims, tokenNonces } from "../../src/runtime/verify/claims.js";
import { IMAGE, JOB, productionClaims } from "./production-claims.js";

/** Claims of the shape Confidential Space documents (every field this library reads, each of the right type). */
function claims(): Record<string, unknown> {
  const c = productionClaims(1_700_000_000);
  (c.submods as Record<string, unknown>).container = {
    image_reference: `europe-docker.pkg.dev/p/r/executor@${IMAGE}`,
    image_digest: IMAGE,
    image_id: IMAGE,
    restart_policy: "Never",
    args: ["/executor"],
    env: { HOSTNAME: "vm" },
    env_override: { CLEANROOM_JOB_DIGEST: JOB },
    cmd_override: ["run"],
  };
  return c;
}

/** `claims()` with one field (a dotted path) replaced. */
function withClaim(path: string, value: unknown): Record<string, unknown> {
  const c = claims();
  const keys = path.split(".");
  let o = c;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[keys.at(-1)!] = value;
  return c;
}

describe("verify/claims: the types of a token's claims", () => {
  it("GIVEN claims of the documented types THEN no problem, and they are returned as they are", () => {
    const c = claims();
    expect(claimProblems(c)).to.deep.equal([]);
    expect(isAttestationClaims(c)).to.equal(true);
    expect(toAttestationClaims(c)).to.equal(c);
  });

  it("GIVEN claims with only some optional fields (no submods parts, null overrides) THEN no problem", () => {
    expect(claimProblems({ iss: "x" })).to.deep.equal([]);
    expect(claimProblems({ ...claims(), submods: {} })).to.deep.equal([]);
    expect(claimProblems(withClaim("submods.confidential_space", {}))).to.deep.equal([]);
    expect(claimProblems(withClaim("submods.container.env_override", null))).to.deep.equal([]);
    expect(claimProblems(withClaim("submods.container.cmd_override", null))).to.deep.equal([]);
    expect(claimProblems(withClaim("eat_nonce", ["a", "b"]))).to.deep.equal([]);
    expect(claimProblems(withClaim("aud", ["a", "b"]))).to.deep.equal([]);
  });

  // Each value is of a type a careless consumer could coerce: a number for a string, a string for a list, a list with
  // one foreign element, NaN for a time, null for a value.
  const WRONG: readonly [path: string, value: unknown][] = [
    ["iss", 5],
    ["aud", 5],
    ["aud", ["a", 1]],
    ["sub", null],
    ["iat", "1700000000"],
    ["iat", Number.NaN],
    ["nbf", Number.POSITIVE_INFINITY],
    ["exp", true],
    ["eat_nonce", 5],
    ["eat_nonce", [5]],
    ["secboot", "true"],
    ["hwmodel", 1],
    ["swname", ["CONFIDENTIAL_SPACE"]],
    ["swversion", "250301"],
    ["swversion", ["250301", 250302]],
    ["dbgstat", false],
    ["google_service_accounts", "wl@proj-1234.iam.gserviceaccount.com"],
    ["google_service_accounts", [1]],
    ["submods", "x"],
    ["submods", null],
    ["submods", []],
    ["submods.confidential_space", "STABLE"],
    ["submods.confidential_space.support_attributes", "STABLE"],
    ["submods.confidential_space.support_attributes", ["STABLE", 1]],
    ["submods.container", "x"],
    ["submods.container.image_reference", 1],
    ["submods.container.image_digest", []],
    ["submods.container.image_id", 1],
    ["submods.container.restart_policy", 1],
    ["submods.container.args", "/executor"],
    ["submods.container.env", "HOSTNAME=vm"],
    ["submods.container.env", { HOSTNAME: "vm", N: 1 }],
    ["submods.container.env_override", { CLEANROOM_JOB_DIGEST: 1 }],
    ["submods.container.env_override", "CLEANROOM_JOB_DIGEST=x"],
    ["submods.container.cmd_override", [1]],
    ["submods.container.cmd_override", "run"],
    ["submods.gce", ["proj-1234"]],
    ["submods.gce.zone", 1],
    ["submods.gce.project_id", ["proj-1234"]],
    ["submods.gce.project_number", 1234],
    ["submods.gce.instance_name", 1],
    ["submods.gce.instance_id", 1],
  ];
  for (const [path, value] of WRONG) {
    it(`GIVEN ${path} = ${JSON.stringify(value) ?? String(value)} THEN exactly one problem, naming ${path}`, () => {
      const c = withClaim(path, value);
      const problems = claimProblems(c);
      expect(problems).to.have.length(1);
      expect(problems[0]!.startsWith(`${path} must be `), problems[0]).to.equal(true);
      expect(isAttestationClaims(c)).to.equal(false);
    });
  }

  it("GIVEN a claim of the wrong type THEN the problem says what it must be and what it got", () => {
    expect(claimProblems(withClaim("submods.gce.project_number", 1234))).to.deep.equal(["submods.gce.project_number must be a string (got 1234)"]);
    expect(claimProblems(withClaim("secboot", "true"))).to.deep.equal(['secboot must be a boolean (got "true")']);
  });

  it("GIVEN several claims of the wrong type THEN every one is listed", () => {
    const c = withClaim("submods.container.image_digest", 1);
    c.eat_nonce = 5;
    (c.submods as Record<string, unknown>).gce = "g";
    expect(claimProblems(c).map((p) => p.split(" ")[0])).to.deep.equal(["eat_nonce", "submods.container.image_digest", "submods.gce"]);
  });

  for (const payload of ["a.b.c", null, [claims()], 42]) {
    it(`GIVEN a payload that is not an object (${JSON.stringify(payload).slice(0, 20)}) THEN one problem saying so, and no narrowing`, () => {
      expect(claimProblems(payload)).to.deep.equal(["the payload must be a JSON object"]);
      expect(isAttestationClaims(payload)).to.equal(false);
    });
  }

  it("GIVEN claims of the wrong type WHEN converted THEN AttestationError malformed carrying every problem and naming the first claim", () => {
    const c = withClaim("submods.container.image_digest", []);
    c.iat = "now";
    try {
      toAttestationClaims(c);
      expect.fail("should throw");
    } catch (err) {
      expect(err).to.be.instanceOf(AttestationError);
      const e = err as AttestationError;
      expect(e.code).to.equal("malformed");
      expect(e.claim).to.equal("iat");
      expect(e.problems).to.deep.equal(claimProblems(c));
      expect(e.problems).to.have.length(2);
    }
  });

  it("GIVEN a payload that is not an object WHEN converted THEN malformed, not a TypeError", () => {
    expect(() => toAttestationClaims(null)).to.throw(AttestationError).with.property("code", "malformed");
  });
});

describe("verify/claims: tokenNonces", () => {
  it("GIVEN eat_nonce as one string THEN a list of that one nonce (not its characters)", () => {
    expect(tokenNonces({ eat_nonce: "abc" })).to.deep.equal(["abc"]);
  });
  it("GIVEN eat_nonce as an array THEN every nonce in it", () => {
    expect(tokenNonces({ eat_nonce: ["abc", "def"] })).to.deep.equal(["abc", "def"]);
  });
  it("GIVEN no eat_nonce THEN no nonce", () => {
    expect(tokenNonces({})).to.deep.equal([]);
  });
});

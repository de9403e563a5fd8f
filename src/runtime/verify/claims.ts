/**
 * Narrows a verified JWT payload to `AttestationClaims` by checking the type of every claim this library reads.
 *
 * jose guarantees the signature and the registered claims; the Confidential Space claims are still just JSON. A claim
 * of the wrong type (e.g. `eat_nonce: 5`, `submods.container.image_digest: []`) is rejected here rather than being
 * coerced later by a policy or a display.
 */
import type { AttestationClaims } from "../../core/attestation.js";
import { AttestationError } from "./errors.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === "string");
}

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === "string";
const num: Check = (v) => typeof v === "number" && Number.isFinite(v);
const bool: Check = (v) => typeof v === "boolean";
const strs: Check = isStringArray;
const strOrStrs: Check = (v) => typeof v === "string" || isStringArray(v);
const obj: Check = isObject;

const TOP: Record<string, [Check, string]> = {
  iss: [str, "a string"],
  aud: [strOrStrs, "a string or an array of strings"],
  sub: [str, "a string"],
  iat: [num, "a number"],
  nbf: [num, "a number"],
  exp: [num, "a number"],
  eat_nonce: [strOrStrs, "a string or an array of strings"],
  secboot: [bool, "a boolean"],
  hwmodel: [str, "a string"],
  swname: [str, "a string"],
  swversion: [strs, "an array of strings"],
  dbgstat: [str, "a string"],
  google_service_accounts: [strs, "an array of strings"],
  submods: [obj, "an object"],
};

const CONTAINER: Record<string, [Check, string]> = {
  image_reference: [str, "a string"],
  image_digest: [str, "a string"],
  image_id: [str, "a string"],
  restart_policy: [str, "a string"],
  args: [strs, "an array of strings"],
  env: [isStringRecord, "an object of strings"],
  env_override: [(v) => v === null || isStringRecord(v), "an object of strings or null"],
  cmd_override: [(v) => v === null || isStringArray(v), "an array of strings or null"],
};

const GCE: Record<string, [Check, string]> = {
  zone: [str, "a string"],
  project_id: [str, "a string"],
  project_number: [str, "a string"],
  instance_name: [str, "a string"],
  instance_id: [str, "a string"],
};

type Spec = readonly (readonly [string, Check, string])[];
const entries = (spec: Record<string, [Check, string]>): Spec => Object.entries(spec).map(([k, [c, w]]) => [k, c, w] as const);
const TOP_SPEC = entries(TOP);
const CONTAINER_SPEC = entries(CONTAINER);
const GCE_SPEC = entries(GCE);

function checkFields(o: Record<string, unknown>, spec: Spec, path: string, out: string[]): void {
  for (const [key, check, what] of spec) {
    if (o[key] !== undefined && !check(o[key])) out.push(`${path}${key} must be ${what} (got ${JSON.stringify(o[key])})`);
  }
}

/** Lists every claim whose type is not what Confidential Space documents. Pure; never throws. */
export function claimProblems(payload: unknown): string[] {
  const out: string[] = [];
  collectProblems(payload, out);
  return out;
}

/** Type guard: the payload's claims have the documented types. */
export function isAttestationClaims(payload: unknown): payload is AttestationClaims {
  return collectProblems(payload, []);
}

/** Appends every problem to `out`; true (narrowing the payload) when there are none. */
function collectProblems(payload: unknown, out: string[]): payload is AttestationClaims {
  if (!isObject(payload)) {
    out.push("the payload must be a JSON object");
    return false;
  }
  const before = out.length;
  checkFields(payload, TOP_SPEC, "", out);
  const submods = payload.submods;
  if (isObject(submods)) {
    const cs = submods.confidential_space;
    if (cs !== undefined) {
      if (!isObject(cs)) out.push("submods.confidential_space must be an object");
      else if (cs.support_attributes !== undefined && !isStringArray(cs.support_attributes)) {
        out.push("submods.confidential_space.support_attributes must be an array of strings");
      }
    }
    const container = submods.container;
    if (container !== undefined) {
      if (!isObject(container)) out.push("submods.container must be an object");
      else checkFields(container, CONTAINER_SPEC, "submods.container.", out);
    }
    const gce = submods.gce;
    if (gce !== undefined) {
      if (!isObject(gce)) out.push("submods.gce must be an object");
      else checkFields(gce, GCE_SPEC, "submods.gce.", out);
    }
  }
  return out.length === before;
}

/**
 * Returns the payload typed as `AttestationClaims`, or throws.
 *
 * @throws AttestationError `malformed` listing every claim of the wrong type
 */
export function toAttestationClaims(payload: unknown): AttestationClaims {
  const problems: string[] = [];
  if (collectProblems(payload, problems)) return payload;
  throw new AttestationError("malformed", `The token's claims have the wrong types: ${problems.join("; ")}`, {
    problems,
    claim: problems[0]?.split(" ")[0],
  });
}

/** The nonces of a token: `eat_nonce` is a string for one nonce and an array for several (pitfall P7). */
export function tokenNonces(claims: AttestationClaims): readonly string[] {
  const n = claims.eat_nonce;
  if (n === undefined) return [];
  return typeof n === "string" ? [n] : n;
}

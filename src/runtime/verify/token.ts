/**
 * `verifyAttestation`: checks a Confidential Space (or local) attestation token end to end — header, algorithm,
 * certificate chain or JWKS key, signature, registered claims, nonce, then the room's attestation policy.
 */
import { decodeJwt, type JWTPayload, jwtVerify, type ProtectedHeaderParameters } from "jose";
import { createVerify, type KeyObject } from "node:crypto";
import {
  type AttestationClaims,
  type AttestationPolicyInput,
  attestationPolicyProblems,
  buildAttestationCondition,
  CONFIDENTIAL_SPACE_ISSUER,
  evaluateAttestationCondition,
  LOCAL_ISSUER,
} from "../../core/attestation.js";
import { CleanRoomError, messageOf, throwIfProblems } from "../../core/errors.js";
import { storeFor, TrustStore, type VerifiedChain } from "./chain.js";
import { toAttestationClaims, tokenNonces } from "./claims.js";
import { AttestationError } from "./errors.js";
import { checkRegisteredClaims, isoSeconds } from "./registered.js";
import { type JwksInput, jwksProblems, keyResolver, RemoteJwks } from "./jwks.js";
import { CONFIDENTIAL_SPACE_ROOT_PEM } from "./roots.js";

/** Default and largest accepted clock tolerance, in seconds (pitfall P11: generous tolerances accept stale tokens). */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
export const MAX_CLOCK_TOLERANCE_SEC = 300;
/** Tokens longer than this are rejected before parsing (a real PKI token is about 11 KB). */
const MAX_TOKEN_LENGTH = 64 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// The signature part may be empty here so that `alg: none` is reported as an algorithm failure, not a parse error.
const BASE64URL_OR_EMPTY = /^[A-Za-z0-9_-]*$/;
/** Header parameters that would let the token choose its own key; the key must come from the verifier's trust. */
const KEY_CARRYING_HEADERS = ["jwk", "jku", "x5u"] as const;

/** What `verifyAttestation` checks a token against. */
export interface VerifyOptions {
  /** The exact `aud` the token must carry (the room's receipt audience, the broker's audience…). */
  readonly audience: string;
  /** The exact `iss` (no trailing slash; pitfall P6). `LOCAL_ISSUER` selects the local backend (ES256). @default "https://confidentialcomputing.googleapis.com" */
  readonly issuer?: string;
  /** A nonce the token's `eat_nonce` (string or array) must contain. @default - nonces are not checked */
  readonly nonce?: string;
  /** PEM roots for PKI tokens; `x5c[2]` must equal one of them byte for byte. @default - Google's pinned root for Google's issuer; required otherwise */
  readonly trustedRoots?: readonly string[];
  /** A `TrustStore` (roots plus a cache of verified chains) to use instead of `trustedRoots`. */
  readonly trustStore?: TrustStore;
  /** Keys for OIDC tokens (no `x5c`): a key set, its URL, or a `RemoteJwks` cache. @default - OIDC tokens are rejected */
  readonly jwks?: JwksInput;
  /** The attestation policy the claims must satisfy (evaluated as the same CEL condition as WIF). @default - not checked */
  readonly policy?: AttestationPolicyInput;
  /** The time to verify at (certificate windows, `exp`, `nbf`, `iat`). @default - now */
  readonly currentDate?: Date;
  /** Clock skew allowed on `exp`/`nbf`/`iat`, in whole seconds, at most 300. @default 30 */
  readonly clockToleranceSec?: number;
}

/** Lists every problem of the options. Pure; never throws. */
export function verifyOptionsProblems(options: VerifyOptions): string[] {
  const out: string[] = [];
  if (options === null || typeof options !== "object") return ["options must be an object with at least audience"];
  if (typeof options.audience !== "string" || options.audience.length === 0) out.push("audience must be a non-empty string");
  if (options.issuer !== undefined && (typeof options.issuer !== "string" || options.issuer.length === 0)) {
    out.push("issuer must be a non-empty string");
  }
  if (options.nonce !== undefined && (typeof options.nonce !== "string" || options.nonce.length === 0)) out.push("nonce must be a non-empty string");
  const tol = options.clockToleranceSec;
  if (tol !== undefined && (!Number.isInteger(tol) || tol < 0 || tol > MAX_CLOCK_TOLERANCE_SEC)) {
    out.push(`clockToleranceSec must be an integer from 0 to ${MAX_CLOCK_TOLERANCE_SEC} (got ${JSON.stringify(tol)}); tokens live one hour`);
  }
  if (options.currentDate !== undefined && (!(options.currentDate instanceof Date) || Number.isNaN(options.currentDate.getTime()))) {
    out.push("currentDate must be a valid Date");
  }
  if (options.trustedRoots !== undefined && options.trustStore !== undefined) {
    out.push("give trustedRoots or trustStore, not both (a TrustStore already holds its roots)");
  }
  if (options.trustStore !== undefined && !(options.trustStore instanceof TrustStore)) out.push("trustStore must be a TrustStore");
  if (options.trustedRoots !== undefined && (!Array.isArray(options.trustedRoots) || options.trustedRoots.length === 0)) {
    out.push("trustedRoots must be a non-empty array of PEM certificates");
  }
  if (options.jwks !== undefined) out.push(...jwksProblems(options.jwks));
  if (options.policy !== undefined) {
    out.push(...attestationPolicyProblems(options.policy, "policy"));
    const issuer = options.issuer ?? CONFIDENTIAL_SPACE_ISSUER;
    const platform = options.policy.platform ?? "gcp";
    // A local token must never satisfy a production policy, and a local policy must never be checked against Google.
    if (issuer === LOCAL_ISSUER && platform !== "local") out.push(`policy.platform must be "local" for the local issuer ${LOCAL_ISSUER}`);
    if (platform === "local" && issuer !== LOCAL_ISSUER) out.push(`policy.platform "local" requires issuer ${LOCAL_ISSUER}`);
  }
  return out;
}

/** The only algorithm accepted for an issuer: the local backend signs ES256, Google signs RS256 and nothing else. */
export function allowedAlgorithm(issuer: string): "RS256" | "ES256" {
  return issuer === LOCAL_ISSUER ? "ES256" : "RS256";
}

/** Splits a compact JWS after checking its shape. */
function splitToken(token: string): [string, string, string] {
  if (typeof token !== "string" || token.length === 0) throw new AttestationError("malformed", "The token is empty: pass the compact JWT (three base64url parts separated by dots)");
  if (token.length > MAX_TOKEN_LENGTH) throw new AttestationError("malformed", `The token is ${token.length} characters; at most ${MAX_TOKEN_LENGTH} are accepted`);
  const parts = token.split(".");
  // The header's alphabet is checked when it is parsed (once per distinct header with a TrustStore); the payload's is
  // covered by the signature, which is over its exact characters.
  if (parts.length !== 3 || parts[1]!.length === 0 || !BASE64URL_OR_EMPTY.test(parts[2]!)) {
    throw new AttestationError("malformed", "The token is not a compact signed JWT (header.payload.signature, base64url); check it was not truncated or wrapped");
  }
  return parts as [string, string, string];
}

/** Parses one base64url JWS segment into a JSON object; `part` names it in errors. */
function parseJsonSegment(segment: string, part: "header" | "payload"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch (err) {
    throw new AttestationError("malformed", `The token ${part} is not readable JSON: ${messageOf(err)}`, { cause: err });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new AttestationError("malformed", `The token ${part} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Parses the payload segment (its signature is already verified, and covers its exact characters). */
function parsePayloadSegment(segment: string): Record<string, unknown> {
  return parseJsonSegment(segment, "payload");
}

/** Parses a protected header segment, whose alphabet no signature has covered yet. */
function parseHeaderSegment(segment: string): Record<string, unknown> {
  if (!BASE64URL.test(segment)) throw new AttestationError("malformed", "The token header is not base64url");
  return parseJsonSegment(segment, "header");
}

function decodeHeader(token: string): ProtectedHeaderParameters {
  return parseHeaderSegment(splitToken(token)[0]) as ProtectedHeaderParameters;
}

function checkHeader(header: Readonly<Record<string, unknown>>, alg: string): void {
  // `crit` asks the verifier to understand extensions it does not implement; RFC 7515 says reject, and Google never sets it.
  if (header.crit !== undefined) {
    throw new AttestationError("malformed", `The token header has crit ${JSON.stringify(header.crit)}; no critical extensions are accepted`, { claim: "crit" });
  }
  for (const h of KEY_CARRYING_HEADERS) {
    if (header[h] !== undefined) {
      throw new AttestationError("malformed", `The token header carries "${h}"; keys come only from trusted roots or the JWKS, never from the token`, { claim: h });
    }
  }
  // Stops alg=none, HS256-with-the-public-key and RS/ES confusion: one algorithm per issuer, checked before any key is used.
  if (header.alg !== alg) {
    throw new AttestationError("algorithm", `alg: expected "${alg}" for this issuer, got ${JSON.stringify(header.alg)}`, { claim: "alg" });
  }
}

function checkKeyType(key: KeyObject, alg: "RS256" | "ES256"): void {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const ok = alg === "RS256" ? type === "rsa" : type === "ec" && curve === "prime256v1";
  if (!ok) {
    throw new AttestationError(
      "algorithm",
      `alg ${alg} does not match the leaf certificate's ${type}${curve ? ` (${curve})` : ""} key: expected ${alg === "RS256" ? "an RSA" : "a P-256 EC"} key`,
      { claim: "alg" },
    );
  }
}

function unverifiedPayload(token: string): JWTPayload {
  try {
    return decodeJwt(token);
  } catch {
    return {};
  }
}

function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function claimName(err: unknown): string | undefined {
  if (err !== null && typeof err === "object" && "claim" in err && typeof err.claim === "string") return err.claim;
  return undefined;
}

/** Turns a jose failure into an `AttestationError` whose message names the claim and the expected value. */
function mapJoseError(err: unknown, token: string, ctx: { issuer: string; audience: string; at: Date; tol: number; remote: boolean }): Error {
  const p = unverifiedPayload(token);
  const when = `verification time ${ctx.at.toISOString()}, tolerance ${ctx.tol} s`;
  const code = errorCode(err);
  switch (code) {
    case "ERR_JWT_EXPIRED":
      // jose throws this only for a numeric exp.
      return new AttestationError("expired", `exp: the token expired at ${isoSeconds(Number(p.exp))} (${when})`, { cause: err, claim: "exp" });
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return new AttestationError("signature", "The token's signature does not verify with the signing key: it was altered or signed by someone else", {
        cause: err,
        claim: "signature",
      });
    // No ERR_JOSE_ALG_NOT_ALLOWED: checkHeader pins the one algorithm before jose runs, so jose never refuses it.
    case "ERR_JWKS_NO_MATCHING_KEY":
      return new AttestationError("untrusted-root", `kid: no key in the JWKS matches kid ${JSON.stringify(decodeProtectedHeaderSafe(token).kid)}; the token is not signed by a trusted key`, {
        cause: err,
        claim: "kid",
      });
    case "ERR_JWKS_TIMEOUT":
      return new CleanRoomError("io-error", `Fetching the JWKS timed out: check network access to the issuer's jwks_uri, or verify a PKI token offline`, { cause: err });
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = claimName(err);
      switch (claim) {
        case "iss":
          return new AttestationError("issuer", `iss: expected exactly "${ctx.issuer}" (no trailing slash), got ${JSON.stringify(p.iss)}`, { cause: err, claim });
        case "aud":
          return new AttestationError("audience", `aud: expected "${ctx.audience}", got ${JSON.stringify(p.aud)}`, { cause: err, claim });
        case "nbf":
          // jose names nbf both when it is in the future and when it is not a number; the latter is malformed, as on the PKI path.
          if (typeof p.nbf !== "number") {
            return new AttestationError("malformed", `nbf: must be a number of seconds since 1970 (got ${JSON.stringify(p.nbf)})`, { cause: err, claim });
          }
          return new AttestationError("not-yet-valid", `nbf: the token is not valid before ${isoSeconds(p.nbf)} (${when})`, { cause: err, claim });
        case "iat":
          return new AttestationError("malformed", `iat: must be a number of seconds (got ${JSON.stringify(p.iat)})`, { cause: err, claim });
        default:
          return new AttestationError("malformed", `${claim ?? "a claim"}: ${messageOf(err)} (required: iss, aud, exp, iat)`, { cause: err, claim });
      }
    }
    default:
      if (ctx.remote && code === undefined) {
        return new CleanRoomError("io-error", `Cannot get the JWKS: ${messageOf(err)}; check network access or pass the key set as an object`, { cause: err });
      }
      return new AttestationError("malformed", `The token cannot be verified: ${messageOf(err)}`, { cause: err });
  }
}

function decodeProtectedHeaderSafe(token: string): ProtectedHeaderParameters {
  try {
    return decodeHeader(token);
  } catch {
    return {};
  }
}

/**
 * Reads `iat` and `exp` of a token WITHOUT verifying it (to choose a verification time for an archived token).
 *
 * @throws AttestationError `malformed` when either is missing or not a number
 */
export function decodeTokenTimes(token: string): { iat: number; exp: number } {
  decodeHeader(token);
  const p = unverifiedPayload(token);
  if (typeof p.iat !== "number" || typeof p.exp !== "number" || !Number.isFinite(p.iat) || !Number.isFinite(p.exp)) {
    throw new AttestationError("malformed", `iat/exp: the token must carry numeric iat and exp (got ${JSON.stringify(p.iat)}, ${JSON.stringify(p.exp)})`, {
      claim: "iat",
    });
  }
  return { iat: p.iat, exp: p.exp };
}

function rootsFor(options: VerifyOptions, issuer: string): readonly string[] {
  if (options.trustedRoots !== undefined) return options.trustedRoots;
  if (issuer === CONFIDENTIAL_SPACE_ISSUER) return [CONFIDENTIAL_SPACE_ROOT_PEM];
  throw new CleanRoomError(
    "invalid-argument",
    `trustedRoots is required for issuer ${issuer}: only Google's issuer has a pinned default root (for a local room, use the root in descriptor.attestation.trustedRoots)`,
  );
}

/**
 * Verifies an attestation token and returns its claims, typed.
 *
 * PKI tokens (header `x5c`) are checked against pinned roots, offline; OIDC tokens against a JWKS. In order: token
 * shape and header (`crit`, key-carrying headers, exactly one algorithm per issuer), certificate chain and validity
 * (PKI) or key by `kid` (OIDC), signature, `iss`, `aud`, `exp`, `nbf`, `iat` (with `clockToleranceSec`), claim types,
 * `eat_nonce`, then `policy` through the same CEL condition Workload Identity Federation evaluates.
 *
 * @example
 * const claims = await verifyAttestation(token, {
 *   audience: descriptor.attestation.audience,
 *   nonce: nonceForReceipt(receipt),
 *   policy: descriptor.attestation.policy,
 * });
 * console.log(claims.submods?.container?.image_digest);
 *
 * @throws AttestationError with a `code` naming the failed check (see `AttestationErrorCode`)
 * @throws CleanRoomError `invalid-argument` for bad options, `io-error` when a remote JWKS cannot be fetched
 */
export async function verifyAttestation(token: string, options: VerifyOptions): Promise<AttestationClaims> {
  throwIfProblems("invalid-argument", "verifyAttestation options", verifyOptionsProblems(options));
  const issuer = options.issuer ?? CONFIDENTIAL_SPACE_ISSUER;
  const tol = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  const at = options.currentDate ?? new Date();
  const alg = allowedAlgorithm(issuer);

  const [h, p, sig] = splitToken(token);
  let header: Readonly<Record<string, unknown>>;
  let chain: VerifiedChain | undefined;
  if (options.trustStore) {
    ({ header, chain } = options.trustStore.resolveHeader(h, at, parseHeaderSegment, (hdr) => checkHeader(hdr, alg)));
  } else {
    header = parseHeaderSegment(h);
    checkHeader(header, alg);
    if (header.x5c !== undefined) chain = storeFor(rootsFor(options, issuer)).verifyChain(header.x5c, at);
  }

  const claimOptions = {
    issuer,
    audience: options.audience,
    clockTolerance: tol,
    currentDate: at,
    requiredClaims: ["iss", "aud", "exp", "iat"],
  };
  const rules = { issuer, audience: options.audience, at, toleranceSec: tol };
  const ctx = { issuer, audience: options.audience, at, tol, remote: options.jwks instanceof URL || options.jwks instanceof RemoteJwks };
  let payload: JWTPayload;
  if (chain) {
    checkKeyType(chain.leafKey, alg);
    // node:crypto checks the signature synchronously: the same RSASSA-PKCS1-v1_5 / ECDSA primitive jose reaches through
    // WebCrypto, without its per-call cost on a 14 KB header (bench/verify.bench.ts). The key and algorithm were pinned
    // above (chain to a trusted root, one alg per issuer, key type matching alg).
    // Streamed into the hash as strings: no 16 KB copy of the signing input per call.
    const verifier = createVerify("sha256");
    verifier.update(h, "latin1");
    verifier.update(".", "latin1");
    verifier.update(p, "latin1");
    const signature = Buffer.from(sig, "base64url");
    const valid =
      alg === "ES256"
        ? signature.length === 64 && verifier.verify({ key: chain.leafKey, dsaEncoding: "ieee-p1363" }, signature)
        : verifier.verify(chain.leafKey, signature);
    if (!valid) {
      throw new AttestationError("signature", "The token's signature does not verify with the leaf certificate's key: it was altered or signed by someone else", {
        claim: "signature",
      });
    }
    payload = parsePayloadSegment(p);
    checkRegisteredClaims(payload, rules);
  } else if (options.jwks !== undefined) {
    try {
      payload = (await jwtVerify(token, keyResolver(options.jwks), { ...claimOptions, algorithms: [alg] })).payload;
    } catch (err) {
      throw mapJoseError(err, token, ctx);
    }
    checkRegisteredClaims(payload, rules);
  } else {
    throw new AttestationError(
      "chain",
      "x5c: the token carries no certificate chain (it is an OIDC token); pass jwks to verify OIDC tokens, or request a PKI token",
      { claim: "x5c" },
    );
  }

  const claims = toAttestationClaims(payload);

  if (options.nonce !== undefined) {
    const nonces = tokenNonces(claims);
    // Order of several nonces is not guaranteed (pitfall P7): membership, not position.
    if (!nonces.includes(options.nonce)) {
      throw new AttestationError(
        "nonce",
        `eat_nonce: expected it to contain "${options.nonce}", got ${nonces.length === 0 ? "no nonce" : JSON.stringify(claims.eat_nonce)}; the token was issued for something else`,
        { claim: "eat_nonce" },
      );
    }
  }

  if (options.policy !== undefined) {
    const condition = buildAttestationCondition(options.policy);
    const result = evaluateAttestationCondition(condition, claims);
    if (!result.allowed) {
      throw new AttestationError("policy", `The claims do not satisfy the attestation policy: ${result.reason ?? "denied"}`, {
        problems: result.failedClauses ?? [],
        claim: "policy",
      });
    }
  }
  return claims;
}

/**
 * The registered JWT claims of an attestation token — `iss`, `aud`, `exp`, `nbf`, `iat` — checked against the
 * verifier's expectations, after the signature. Used for PKI tokens, whose signature node:crypto checks directly;
 * OIDC tokens pass jose's `jwtVerify` first and then these same checks, so both paths enforce one definition.
 */
import { AttestationError } from "./errors.js";

/** What the registered claims must match. */
export interface RegisteredClaimRules {
  readonly issuer: string;
  readonly audience: string;
  /** The verification time. */
  readonly at: Date;
  /** Seconds of clock skew allowed on `exp`, `nbf` and `iat`. */
  readonly toleranceSec: number;
}

const REQUIRED = ["iss", "aud", "exp", "iat"] as const;

/**
 * A NumericDate as an ISO time for messages; as the bare number when it lies beyond what a Date can hold (a signed
 * token may claim any finite time, and a refusal must not become a RangeError).
 */
export function isoSeconds(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? `${sec} s since 1970` : d.toISOString();
}

function isNumericDate(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * Checks the registered claims of a payload whose signature has been verified.
 *
 * @throws AttestationError `malformed` (missing or mistyped claim), `issuer`, `audience`, `expired`, `not-yet-valid`
 */
export function checkRegisteredClaims(payload: Readonly<Record<string, unknown>>, rules: RegisteredClaimRules): void {
  for (const claim of REQUIRED) {
    if (payload[claim] === undefined) {
      throw new AttestationError("malformed", `${claim}: the token has no "${claim}" claim; attestation tokens always carry iss, aud, exp and iat`, { claim });
    }
  }
  for (const claim of ["exp", "iat", "nbf"] as const) {
    if (payload[claim] !== undefined && !isNumericDate(payload[claim])) {
      throw new AttestationError("malformed", `${claim}: must be a number of seconds since 1970 (got ${JSON.stringify(payload[claim])})`, { claim });
    }
  }
  const { iss, aud } = payload;
  // Exact string match: `…googleapis.com/` (the WIF provider's issuer URI) is not the token's issuer (pitfall P6).
  if (iss !== rules.issuer) {
    throw new AttestationError("issuer", `iss: expected exactly "${rules.issuer}" (no trailing slash), got ${JSON.stringify(iss)}`, { claim: "iss" });
  }
  const audOk = typeof aud === "string" ? aud === rules.audience : Array.isArray(aud) && aud.every((a) => typeof a === "string") && aud.includes(rules.audience);
  if (!audOk) {
    throw new AttestationError("audience", `aud: expected "${rules.audience}", got ${JSON.stringify(aud)}`, { claim: "aud" });
  }
  const now = Math.floor(rules.at.getTime() / 1000);
  const tol = rules.toleranceSec;
  const when = `verification time ${rules.at.toISOString()}, tolerance ${tol} s`;
  const exp = payload.exp as number;
  // Same boundary as jose: a token is expired once now - tolerance reaches exp.
  if (exp <= now - tol) throw new AttestationError("expired", `exp: the token expired at ${isoSeconds(exp)} (${when})`, { claim: "exp" });
  const nbf = payload.nbf;
  if (isNumericDate(nbf) && nbf > now + tol) {
    throw new AttestationError("not-yet-valid", `nbf: the token is not valid before ${isoSeconds(nbf)} (${when})`, { claim: "nbf" });
  }
  const iat = payload.iat as number;
  // A token "issued" in the future is as suspect as one not yet valid.
  if (iat > now + tol) {
    throw new AttestationError("not-yet-valid", `iat: the token claims to be issued at ${isoSeconds(iat)}, after the ${when}`, { claim: "iat" });
  }
}

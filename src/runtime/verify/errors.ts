/**
 * The error every attestation check throws: a `CleanRoomError` whose `code` says which check failed.
 */
import { CleanRoomError } from "../../core/errors.js";

/**
 * Why a token (or a result) was rejected. Stable: programs may switch on these.
 *
 * - `malformed`: not a compact JWS/JWT, an unreadable header or certificate, a `crit` or key-carrying header, or a
 *   claim of the wrong type.
 * - `algorithm`: `alg` is not the one allowed for this issuer (`RS256`; `ES256` only for the local issuer), or does not
 *   match the signing key's type.
 * - `signature`: the signature does not verify with the leaf certificate's key (PKI) or the JWKS key (OIDC).
 * - `chain`: `x5c` is not exactly leaf → intermediate → root, a certificate is not issued by the next one, or a CA
 *   flag is wrong.
 * - `untrusted-root`: the chain ends in a root that is not pinned, or no JWKS key has the token's `kid`.
 * - `expired` / `not-yet-valid`: the token (`exp`, `nbf`, `iat`) or a certificate is outside its validity window.
 * - `issuer`, `audience`, `nonce`: that claim is not the expected value.
 * - `policy`: the claims do not satisfy the attestation policy (debug image, wrong image digest, …), or a verified
 *   result does not match its receipt.
 * - `unapproved`: a genuine result of code no provider approved: it read no input, so no provider's key release ever
 *   checked it.
 */
export type AttestationErrorCode =
  | "malformed"
  | "algorithm"
  | "signature"
  | "chain"
  | "untrusted-root"
  | "expired"
  | "not-yet-valid"
  | "issuer"
  | "audience"
  | "nonce"
  | "policy"
  | "unapproved";

/** Every `AttestationErrorCode`, for documentation and exhaustive tests. */
export const ATTESTATION_ERROR_CODES: readonly AttestationErrorCode[] = [
  "malformed",
  "algorithm",
  "signature",
  "chain",
  "untrusted-root",
  "expired",
  "not-yet-valid",
  "issuer",
  "audience",
  "nonce",
  "policy",
  "unapproved",
];

/** A token or a result failed verification. `code` says which check; `message` names the claim and what was expected. */
export class AttestationError extends CleanRoomError {
  declare readonly code: AttestationErrorCode;
  /** The claim, header field or certificate that failed, when there is one (e.g. `aud`, `x5c[1]`). */
  readonly claim?: string;

  constructor(code: AttestationErrorCode, message: string, options?: { cause?: unknown; claim?: string; problems?: readonly string[] }) {
    super(code, message, options);
    this.name = "AttestationError";
    if (options?.claim !== undefined) this.claim = options.claim;
  }
}

/** True when `err` is an `AttestationError` (also across module copies, by name and code). */
export function isAttestationError(err: unknown): err is AttestationError {
  return err instanceof AttestationError;
}

/**
 * The Confidential Space launcher's token endpoint ("TEE server"): `POST /v1/token` over a unix socket returns a
 * custom attestation token (reference/confidential-space.md §2).
 */
import { request } from "node:http";
import { CleanRoomError } from "../../../core/errors.js";

/** The socket inside a Confidential Space container. */
export const TEESERVER_SOCKET = "/run/container_launcher/teeserver.sock";
/** The launcher-refreshed default token (audience STS) used as the subject token for Workload Identity Federation. */
export const ATTESTATION_TOKEN_FILE = "/run/container_launcher/attestation_verifier_claims_token";

/** Body of a custom token request (unknown keys make the launcher answer 400). */
export interface TokenRequest {
  readonly audience: string;
  readonly nonces: readonly string[];
  readonly token_type: "PKI" | "OIDC";
}

/**
 * Requests a custom token from the launcher.
 *
 * @throws CleanRoomError `invalid-argument` for nonce/audience problems the launcher would refuse, `io-error` when the
 *   launcher cannot be reached or refuses
 */
export function requestCustomToken(socketPath: string, body: TokenRequest, timeoutMs = 60_000): Promise<string> {
  if (body.audience.length === 0 || body.audience.length > 512) throw new CleanRoomError("invalid-argument", "The token audience must be 1–512 bytes");
  if (body.nonces.length > 6 || body.nonces.some((n) => Buffer.byteLength(n) < 10 || Buffer.byteLength(n) > 74)) {
    throw new CleanRoomError("invalid-argument", "The launcher accepts at most 6 nonces of 10–74 bytes each");
  }
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socketPath, path: "/v1/token", method: "POST", headers: { "Content-Type": "application/json" }, timeout: timeoutMs },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          if (res.statusCode === 200 && text.trim().split(".").length === 3) resolve(text.trim());
          else reject(new CleanRoomError("io-error", `The Confidential Space launcher refused the token request (HTTP ${res.statusCode}): ${text.slice(0, 500)}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err) =>
      reject(new CleanRoomError("io-error", `Cannot reach the Confidential Space launcher at ${socketPath}: ${err.message}. The executor only runs inside a Confidential Space VM.`, { cause: err })),
    );
    req.end(JSON.stringify(body));
  });
}

/** Decodes a JWT's payload without verifying it (for the platform's own, locally delivered token only). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const part = token.trim().split(".")[1];
  if (!part) throw new CleanRoomError("invalid-argument", "The attestation token is not a JWT");
  try {
    const v: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new CleanRoomError("invalid-argument", "The attestation token's payload is not a JSON object");
}

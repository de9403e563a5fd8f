/**
 * The local attestation service: speaks the Confidential Space launcher's token protocol over a unix socket
 * (`POST /v1/token` for custom tokens, `GET /v1/token` for the default token) and signs honest local tokens with the
 * room's 3-certificate chain (ES256).
 *
 * The launcher starts one service per job, bound to that job: the container claims (`image_digest`,
 * `env_override.CLEANROOM_JOB_DIGEST`) come from the launcher, never from the request, exactly as on GCP where the
 * hardware-backed launcher, not the workload, reports them.
 */
import type { Server } from "node:http";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { LOCAL_HWMODEL, LOCAL_ISSUER, LOCAL_SWNAME } from "../../../core/attestation.js";
import { CleanRoomError } from "../../../core/errors.js";
import { type Reply, closeServer, serveUnix } from "./http.js";
import type { LocalPki } from "./pki.js";

/** `aud` of the default token (`GET /v1/token`), which the executor presents to the local key broker. */
export const LOCAL_BROKER_AUDIENCE = "urn:attested-cleanroom:local-broker";
/** Tokens live one hour, like Confidential Space tokens. */
export const TOKEN_LIFETIME_SEC = 3600;
/** Launcher limits (go-tpm-tools `verifier/models/token_options.go`, Confidential Space docs). */
export const MAX_AUDIENCE_BYTES = 512;
export const MAX_NONCES = 6;
export const MIN_NONCE_BYTES = 10;
export const MAX_NONCE_BYTES = 74;
const TOKEN_TYPES = ["OIDC", "PKI", "AWS_PRINCIPALTAGS", "LIMITED_AWS"];
const REQUEST_KEYS = ["audience", "nonces", "token_type", "aws_principal_tag_options"];

/** What the launcher binds a job's attestation endpoint to. */
export interface JobAttestationBinding {
  readonly roomName: string;
  readonly jobId: string;
  /** The executor build digest (`submods.container.image_digest`). */
  readonly imageDigest: string;
  /** The operator-set variables of this job (`submods.container.env_override`), incl. `CLEANROOM_JOB_DIGEST`. */
  readonly envOverride: Readonly<Record<string, string>>;
  /** argv of the executor, as launched (`submods.container.args`). */
  readonly args: readonly string[];
}

/** Signs local attestation tokens. */
export class LocalTokenSigner {
  private readonly key: KeyObject;
  private readonly x5c: readonly string[];

  constructor(pki: LocalPki) {
    this.key = createPrivateKey(pki.leafKeyPem);
    this.x5c = [...pki.x5c];
  }

  /**
   * Signs the claims of a job's token. Honest local values: `swname CLEANROOM_LOCAL`, `hwmodel NONE`,
   * `dbgstat enabled`, `secboot false`: nothing here pretends to be a hardware TEE.
   */
  async sign(binding: JobAttestationBinding, audience: string, nonces: readonly string[], now = new Date()): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    const claims: Record<string, unknown> = {
      sub: `local://${binding.roomName}/jobs/${binding.jobId}`,
      secboot: false,
      hwmodel: LOCAL_HWMODEL,
      swname: LOCAL_SWNAME,
      swversion: ["0"],
      dbgstat: "enabled",
      google_service_accounts: [],
      submods: {
        container: {
          image_reference: `local-executor@${binding.imageDigest}`,
          image_digest: binding.imageDigest,
          restart_policy: "Never",
          args: [...binding.args],
          env_override: { ...binding.envOverride },
        },
        confidential_space: {},
      },
    };
    // One nonce is a plain string, several an array: what the Confidential Space attester emits.
    if (nonces.length === 1) claims.eat_nonce = nonces[0];
    else if (nonces.length > 1) claims.eat_nonce = [...nonces];
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", typ: "JWT", x5c: [...this.x5c] })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + TOKEN_LIFETIME_SEC)
      .sign(this.key);
  }
}

function bad(message: string): Reply {
  return { status: 400, body: message };
}

/** Validates a `POST /v1/token` body as the launcher does; returns the audience and nonces, or a 400 reply. */
export function parseTokenRequest(body: string): { audience: string; nonces: string[] } | Reply {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    return bad("invalid JSON body: expected {\"audience\", \"nonces\", \"token_type\"}");
  }
  if (req === null || typeof req !== "object" || Array.isArray(req)) return bad("the body must be a JSON object");
  const o = req as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !REQUEST_KEYS.includes(k));
  // Like the launcher's DisallowUnknownFields: a misspelt field must not be silently ignored.
  if (unknown.length > 0) return bad(`json: unknown field ${JSON.stringify(unknown[0])}`);
  if (typeof o.audience !== "string" || o.audience === "") return bad("use GET request for the default identity token");
  if (Buffer.byteLength(o.audience) > MAX_AUDIENCE_BYTES) return bad(`audience is longer than ${MAX_AUDIENCE_BYTES} bytes`);
  if (typeof o.token_type !== "string" || !TOKEN_TYPES.includes(o.token_type)) {
    return bad(`token_type must be one of ${TOKEN_TYPES.join(", ")}`);
  }
  if (o.token_type !== "PKI") {
    return bad(`the local attestation service issues PKI tokens only (requested ${o.token_type}); use "token_type": "PKI"`);
  }
  if (o.aws_principal_tag_options !== undefined) return bad("aws_principal_tag_options is only valid with AWS token types");
  const nonces = o.nonces ?? [];
  if (!Array.isArray(nonces) || nonces.some((n) => typeof n !== "string")) return bad("nonces must be an array of strings");
  if (nonces.length > MAX_NONCES) return bad(`at most ${MAX_NONCES} nonces are allowed (got ${nonces.length})`);
  for (const n of nonces as string[]) {
    const len = Buffer.byteLength(n);
    if (len < MIN_NONCE_BYTES || len > MAX_NONCE_BYTES) {
      return bad(`each nonce must be ${MIN_NONCE_BYTES}-${MAX_NONCE_BYTES} bytes (got ${len})`);
    }
  }
  return { audience: o.audience, nonces: nonces as string[] };
}

/** A running per-job attestation endpoint. */
export interface AttestationEndpoint {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * Starts a job's attestation endpoint on `socketPath` (mode 0600: only the launcher's user, and the sandbox it is bound
 * into, can reach it).
 */
export async function startAttestationService(
  socketPath: string,
  signer: LocalTokenSigner,
  binding: JobAttestationBinding,
): Promise<AttestationEndpoint> {
  const server: Server = await serveUnix(socketPath, 0o600, async (req, body): Promise<Reply> => {
    const url = (req.url ?? "").split("?")[0];
    if (url !== "/v1/token") return { status: 404, body: `unknown endpoint ${url}; this service answers /v1/token` };
    if (req.method === "GET") return { status: 200, body: await signer.sign(binding, LOCAL_BROKER_AUDIENCE, []) };
    if (req.method !== "POST") return { status: 405, body: "use GET or POST /v1/token" };
    const parsed = parseTokenRequest(body);
    if ("status" in parsed) return parsed;
    return { status: 200, body: await signer.sign(binding, parsed.audience, parsed.nonces) };
  });
  return {
    socketPath,
    close: () => closeServer(server, socketPath),
  };
}

/** Parses a token endpoint error into a `CleanRoomError`. */
export function tokenError(status: number, body: string): CleanRoomError {
  return new CleanRoomError("denied", `The attestation service refused the token request (HTTP ${status}): ${body}`);
}

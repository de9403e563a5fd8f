/**
 * OIDC tokens: signing keys from a JWKS, either given as an object or fetched from a URL through a bounded cache.
 */
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { throwIfProblems } from "../../core/errors.js";

/** Google's JWKS for Confidential Space OIDC tokens (`jwks_uri` of the issuer's discovery document). */
export const CONFIDENTIAL_SPACE_JWKS_URI =
  "https://www.googleapis.com/service_accounts/v1/metadata/jwk/signer@confidentialspace-sign.iam.gserviceaccount.com";

/** Cache bounds of a `RemoteJwks`. */
export interface RemoteJwksOptions {
  /** Milliseconds keys are reused before the JWKS is fetched again. @default 600000 (10 minutes) */
  readonly cacheMaxAgeMs?: number;
  /**
   * Milliseconds after a fetch during which an unknown `kid` does not trigger another fetch (stops a stream of bogus
   * `kid`s from hammering the JWKS endpoint). @default 30000
   */
  readonly cooldownMs?: number;
  /** Milliseconds before a JWKS request is abandoned. @default 5000 */
  readonly timeoutMs?: number;
}

/**
 * A remote JWKS with a bounded cache: keys are fetched once, reused for `cacheMaxAgeMs`, and fetched again when a
 * token names a `kid` the cache does not hold (Google rotates its OIDC keys regularly; pitfall P12).
 *
 * Keep one instance per JWKS URL and pass it as `jwks` to every `verifyAttestation` call.
 *
 * @example
 * const keys = new RemoteJwks(new URL(CONFIDENTIAL_SPACE_JWKS_URI));
 * const claims = await verifyAttestation(oidcToken, { audience, jwks: keys });
 */
export class RemoteJwks {
  /** Where the keys come from. */
  readonly url: URL;
  /** The jose key resolver (holds the cache). */
  readonly getKey: JWTVerifyGetKey;
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;

  /** @throws CleanRoomError `invalid-argument` for a non-http(s) URL or out-of-range bounds */
  constructor(url: URL, options: RemoteJwksOptions = {}) {
    const problems: string[] = [];
    if (!(url instanceof URL) || (url.protocol !== "https:" && url.protocol !== "http:")) {
      problems.push("jwks URL must be an http(s) URL");
    }
    const maxAge = options.cacheMaxAgeMs ?? 600_000;
    const cooldown = options.cooldownMs ?? 30_000;
    const timeout = options.timeoutMs ?? 5_000;
    if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > 86_400_000) problems.push("cacheMaxAgeMs must be an integer between 0 and 86400000");
    if (!Number.isInteger(cooldown) || cooldown < 0 || cooldown > 3_600_000) problems.push("cooldownMs must be an integer between 0 and 3600000");
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) problems.push("timeoutMs must be an integer between 1 and 60000");
    throwIfProblems("invalid-argument", "remote JWKS options", problems);
    this.url = url;
    this.remote = createRemoteJWKSet(url, { cacheMaxAge: maxAge, cooldownDuration: cooldown, timeoutDuration: timeout });
    this.getKey = this.remote;
  }

  /** Whether the cached keys are within `cacheMaxAgeMs`. */
  get fresh(): boolean {
    return this.remote.fresh;
  }

  /** Fetches the JWKS now, regardless of the cache. */
  reload(): Promise<void> {
    return this.remote.reload();
  }
}

/** What `VerifyOptions.jwks` accepts: a key set object, a URL (a fresh cache for that one call) or a `RemoteJwks`. */
export type JwksInput = JSONWebKeySet | URL | RemoteJwks;

function isKeySet(v: unknown): v is JSONWebKeySet {
  return v !== null && typeof v === "object" && Array.isArray((v as { keys?: unknown }).keys);
}

/** Problems of a `jwks` option. Pure. */
export function jwksProblems(jwks: unknown): string[] {
  if (jwks instanceof RemoteJwks) return [];
  if (jwks instanceof URL) return jwks.protocol === "https:" || jwks.protocol === "http:" ? [] : ["jwks URL must be http(s)"];
  if (!isKeySet(jwks)) return ["jwks must be a JSON Web Key Set ({ keys: [...] }), a URL or a RemoteJwks"];
  const out: string[] = [];
  jwks.keys.forEach((k, i) => {
    if (k === null || typeof k !== "object") out.push(`jwks.keys[${i}] must be a JWK object`);
    // Symmetric or private keys in a verification key set are a configuration error that invites algorithm confusion.
    else if (k.kty === "oct") out.push(`jwks.keys[${i}] is a symmetric key; only public RSA/EC keys are accepted`);
    else if ("d" in k && k.d !== undefined) out.push(`jwks.keys[${i}] contains a private key; give only the public key`);
  });
  return out;
}

/** Resolves a `jwks` option to a jose key resolver. */
export function keyResolver(jwks: JwksInput): JWTVerifyGetKey {
  if (jwks instanceof RemoteJwks) return jwks.getKey;
  if (jwks instanceof URL) return new RemoteJwks(jwks).getKey;
  return createLocalJWKSet(jwks);
}

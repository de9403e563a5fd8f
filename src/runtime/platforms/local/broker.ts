/**
 * The local key broker: the stand-in for Cloud KMS + Workload Identity Federation.
 *
 * It holds one AES-256 key per provider (`private/broker-keys/<provider>.key`, 0600) and:
 * - wraps data keys at provision time (`POST /v1/wrap`), binding each wrapped key to its provider and dataset;
 * - unwraps a data key (`POST /v1/unwrap`) only when the presented token verifies against the room's local root and
 *   policy, **and** satisfies that provider's own CEL condition (the text its own GCP pool provider would enforce; the
 *   room's only for a provider that states no attestation of its own), **and**, under `approved-jobs`, the token's
 *   job digest is one the provider approved.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { type AttestationClaims, JOB_DIGEST_ENV, LOCAL_ISSUER, evaluateAttestationCondition } from "../../../core/attestation.js";
import { type CleanRoomDescriptor, findDataset, findProvider, providerTrust } from "../../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { verifyAttestation } from "../../verify/token.js";
import { LOCAL_BROKER_AUDIENCE } from "./attestation-service.js";
import { type Reply, closeServer, serveUnix } from "./http.js";

const WRAP_MAGIC = Buffer.from("acr-lw1\0");
const IV_BYTES = 12;
const TAG_BYTES = 16;

function aad(provider: string, dataset: string): Buffer {
  // The wrapped key is bound to its dataset: swapping key.wrapped files between datasets fails authentication.
  return Buffer.from(`acr-local-wrap-v1\0${provider}\0${dataset}`);
}

/** Wraps a 32-byte data key with a provider's broker key (AES-256-GCM, provider/dataset as AAD). */
export function wrapKey(brokerKey: Buffer, provider: string, dataset: string, dataKey: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv("aes-256-gcm", brokerKey, iv);
  c.setAAD(aad(provider, dataset));
  const ct = Buffer.concat([c.update(dataKey), c.final()]);
  return Buffer.concat([WRAP_MAGIC, iv, ct, c.getAuthTag()]);
}

/**
 * Unwraps a data key.
 *
 * @throws CleanRoomError `digest-mismatch` when the wrapped key was altered or belongs to another dataset
 */
export function unwrapKey(brokerKey: Buffer, provider: string, dataset: string, wrapped: Buffer): Buffer {
  if (wrapped.length !== WRAP_MAGIC.length + IV_BYTES + 32 + TAG_BYTES || !wrapped.subarray(0, WRAP_MAGIC.length).equals(WRAP_MAGIC)) {
    throw new CleanRoomError("invalid-argument", `key.wrapped of ${provider}/${dataset} is not a local broker wrapped key`);
  }
  const iv = wrapped.subarray(WRAP_MAGIC.length, WRAP_MAGIC.length + IV_BYTES);
  const ct = wrapped.subarray(WRAP_MAGIC.length + IV_BYTES, wrapped.length - TAG_BYTES);
  const d = createDecipheriv("aes-256-gcm", brokerKey, iv);
  d.setAAD(aad(provider, dataset));
  d.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(ct), d.final()]);
  } catch {
    throw new CleanRoomError("digest-mismatch", `key.wrapped of ${provider}/${dataset} does not authenticate: it was altered or belongs to another dataset`);
  }
}

/** Creates (once) the per-provider broker keys under `keysDir` (0700, keys 0600). */
export async function ensureBrokerKeys(keysDir: string, providers: readonly string[]): Promise<void> {
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  await chmod(keysDir, 0o700);
  for (const p of providers) {
    // "wx" creates the key only if there is none, atomically: a key is never replaced, not even by a second room start
    // racing this one (which then keeps the key the first one wrote).
    try {
      await writeFile(join(keysDir, `${p}.key`), randomBytes(32), { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as { code?: unknown }).code !== "EEXIST") throw err;
    }
  }
}

/** Loads a provider's broker key. */
export async function loadBrokerKey(keysDir: string, provider: string): Promise<Buffer> {
  try {
    const k = await readFile(join(keysDir, `${provider}.key`));
    if (k.length !== 32) throw new Error(`expected 32 bytes, found ${k.length}`);
    return k;
  } catch (err) {
    throw new CleanRoomError("io-error", `The broker key of provider "${provider}" is unusable: ${messageOf(err)}`, { cause: err });
  }
}

/** The outcome of a key release decision. */
export interface ReleaseDecision {
  readonly allowed: boolean;
  /** Why it was refused (names the provider and how to approve). */
  readonly reason?: string;
  readonly jobDigest?: string;
}

/**
 * Decides whether a verified token may receive a provider's data key: the provider's own CEL condition (the room's
 * when the provider set none), then the provider's approved jobs. Pure; exported so `cleanroom policy test` explains
 * decisions the same way.
 */
export function decideRelease(descriptor: CleanRoomDescriptor, provider: string, claims: AttestationClaims): ReleaseDecision {
  // Each provider's own condition decides for its key, as its own pool does on GCP: loosening the room's changes nothing
  // here. Not redundant with the broker's verifyAttestation, which checks the room's condition: a provider's may be stricter.
  const trust = providerTrust(descriptor, findProvider(descriptor, provider));
  const cond = evaluateAttestationCondition(trust.condition, claims);
  if (!cond.allowed) {
    const whose = trust.own ? `its own attestation policy` : `the room's attestation condition`;
    return { allowed: false, reason: `provider "${provider}" refused: the token does not satisfy ${whose} (${cond.reason})` };
  }
  const digest = claims.submods?.container?.env_override?.[JOB_DIGEST_ENV];
  if (typeof digest !== "string") {
    return { allowed: false, reason: `provider "${provider}" refused: the token carries no ${JOB_DIGEST_ENV} (the launcher did not bind a job)` };
  }
  if (descriptor.codePolicy === "approved-jobs") {
    const p = findProvider(descriptor, provider);
    if (!p.approvedJobs.includes(digest)) {
      return {
        allowed: false,
        jobDigest: digest,
        reason:
          `provider "${provider}" refused: the job is not in its approvedJobs. ` +
          `To approve it, add "${digest}" to providers[name=${provider}].approvedJobs in the spec and restart the room (\`cleanroom local down\`, then \`cleanroom local up\`).`,
      };
    }
  }
  return { allowed: true, jobDigest: digest };
}

/** A running broker. */
export interface BrokerHandle {
  close(): Promise<void>;
}

function b64(v: unknown, what: string): Buffer {
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) throw new CleanRoomError("invalid-argument", `${what} must be base64`);
  return Buffer.from(v, "base64");
}

function field(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== "string" || v.length === 0) throw new CleanRoomError("invalid-argument", `${k} must be a non-empty string`);
  return v;
}

/**
 * Starts the broker on `socketPath` (0600). `log` receives one line per decision (never keys or tokens).
 *
 * @throws CleanRoomError `invalid-argument` when the room pins no root (`attestation.trustedRoots`): the local issuer
 *   has no default root, so no token could verify and every key would be refused
 */
export async function startBroker(
  socketPath: string,
  keysDir: string,
  descriptor: CleanRoomDescriptor,
  log: (line: string) => void = () => undefined,
): Promise<BrokerHandle> {
  const roots = descriptor.attestation.trustedRoots;
  if (roots === undefined || roots.length === 0) {
    throw new CleanRoomError(
      "invalid-argument",
      "The room pins no root (descriptor.attestation.trustedRoots): the broker could verify no token and would refuse every key; start the room with `cleanroom local up`, which writes its root",
    );
  }
  const server: Server = await serveUnix(socketPath, 0o600, async (req, body): Promise<Reply> => {
    if (req.method !== "POST") return { status: 405, body: "use POST" };
    let o: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      o = parsed as Record<string, unknown>;
    } catch {
      return { status: 400, body: "the body must be a JSON object" };
    }
    const provider = field(o, "provider");
    const dataset = field(o, "dataset");
    findDataset(descriptor, provider, dataset);
    const brokerKey = await loadBrokerKey(keysDir, provider);
    if (req.url === "/v1/wrap") {
      const key = b64(o.key, "key");
      if (key.length !== 32) throw new CleanRoomError("invalid-argument", "key must be 32 bytes");
      return { status: 200, body: { wrapped: wrapKey(brokerKey, provider, dataset, key).toString("base64") } };
    }
    if (req.url !== "/v1/unwrap") return { status: 404, body: "unknown endpoint; use /v1/wrap or /v1/unwrap" };
    const token = field(o, "token");
    let claims: AttestationClaims;
    try {
      claims = await verifyAttestation(token, {
        audience: LOCAL_BROKER_AUDIENCE,
        issuer: LOCAL_ISSUER,
        trustedRoots: roots,
        policy: descriptor.attestation.policy,
      });
    } catch (err) {
      const reason = `provider "${provider}" refused: the attestation token does not verify (${messageOf(err)})`;
      log(`unwrap ${provider}/${dataset}: denied: ${reason}`);
      return { status: 403, body: { code: "denied", message: reason } };
    }
    const decision = decideRelease(descriptor, provider, claims);
    if (!decision.allowed) {
      log(`unwrap ${provider}/${dataset}: denied for ${decision.jobDigest ?? "unknown job"}`);
      return { status: 403, body: { code: "denied", message: decision.reason } };
    }
    const dataKey = unwrapKey(brokerKey, provider, dataset, b64(o.wrapped, "wrapped"));
    log(`unwrap ${provider}/${dataset}: released to job ${decision.jobDigest}`);
    return { status: 200, body: { key: dataKey.toString("base64") } };
  });
  return { close: () => closeServer(server, socketPath) };
}

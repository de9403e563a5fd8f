/**
 * Who may append to a privacy ledger, and how each entry proves it.
 *
 * - The **provider** signs with an Ed25519 key of its own (stage-1 releases, DP queries, budget changes). The ledger's
 *   first entry names the public key; `cleanroom dp ledger verify` checks every provider entry against it (or against
 *   a key the auditor pins).
 * - The **executor** of a stage-2 job cannot hold a provider key. Its entries carry an attestation token whose nonce
 *   is the digest of the entry: the token, signed by the attester (Confidential Space, or the local room's service),
 *   binds the spend to the job digest and executor image that made it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CleanRoomError, messageOf } from "../../core/errors.js";

/** Environment variable naming the provider's ledger key file. */
export const LEDGER_KEY_ENV = "CLEANROOM_LEDGER_KEY";

/** How an entry is signed. */
export type EntrySignature = { readonly alg: "Ed25519"; readonly sig: string } | { readonly alg: "attestation"; readonly token: string };

/** Something that may append to a ledger. */
export interface LedgerSigner {
  /** `provider` (Ed25519) or `executor` (attestation token). */
  readonly role: "provider" | "executor";
  /**
   * Signs one entry.
   * @param payload the canonical JSON of the entry without its signature
   * @param digestHex lowercase hex sha256 of `payload` (an attestation token's nonce)
   */
  sign(payload: string, digestHex: string): Promise<EntrySignature>;
}

/** The public half of a provider key, as the ledger's first entry records it (an OKP JWK). */
export interface LedgerPublicKey {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
}

/** The default key file: `$CLEANROOM_LEDGER_KEY`, else `$XDG_CONFIG_HOME/cleanroom/ledger-key.pem` (~/.config). */
export function defaultLedgerKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env[LEDGER_KEY_ENV]) return env[LEDGER_KEY_ENV] as string;
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== "" ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "cleanroom", "ledger-key.pem");
}

/**
 * Loads the provider's ledger key, creating it (0600, in a 0700 directory) when the file does not exist yet.
 *
 * @returns the private key and whether it was just created
 * @throws CleanRoomError `invalid-argument` when the file is not an Ed25519 private key
 */
export async function loadOrCreateLedgerKey(path: string = defaultLedgerKeyPath()): Promise<{ key: KeyObject; created: boolean; path: string }> {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    } catch (err) {
      // EEXIST here means a parent is a file, not a race: say so rather than read a key that cannot exist.
      throw new CleanRoomError("io-error", `Cannot create the directory of the ledger key ${path}: ${messageOf(err)}`, { cause: err });
    }
    try {
      await writeFile(path, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
      await chmod(path, 0o600);
      return { key: privateKey, created: true, path };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") {
        throw new CleanRoomError("io-error", `Cannot create the ledger key ${path}: ${messageOf(err)}`, { cause: err });
      }
      // Another process created it first: use theirs.
    }
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(path));
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `The ledger key ${path} is not a PEM private key (${messageOf(err)}); point --ledger-key at your Ed25519 key`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new CleanRoomError("invalid-argument", `The ledger key ${path} is a ${key.asymmetricKeyType} key; ledger keys are Ed25519`);
  }
  return { key, created: false, path };
}

/** The public JWK of an Ed25519 key (private or public). */
export function publicKeyOf(key: KeyObject): LedgerPublicKey {
  // createPublicKey accepts a private key object (and derives its public half) but refuses a public one.
  const jwk = (key.type === "public" ? key : createPublicKey(key)).export({ format: "jwk" }) as { kty?: string; crv?: string; x?: string };
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw new CleanRoomError("invalid-argument", "ledger keys are Ed25519");
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x };
}

/** Reads a public key given as a PEM file's text (public or private) or a JWK; for `ledger verify --provider-key`. */
export function parsePublicKey(text: string): LedgerPublicKey {
  const t = text.trim();
  try {
    if (t.startsWith("{")) {
      const jwk = JSON.parse(t) as LedgerPublicKey;
      return publicKeyOf(createPublicKey({ key: jwk as never, format: "jwk" }));
    }
    return publicKeyOf(createPublicKey(t));
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `Not an Ed25519 public key (PEM or JWK): ${messageOf(err)}`);
  }
}

/** The provider's signer. */
export function providerSigner(key: KeyObject): LedgerSigner & { readonly publicKey: LedgerPublicKey } {
  const publicKey = publicKeyOf(key);
  return {
    role: "provider",
    publicKey,
    async sign(payload: string): Promise<EntrySignature> {
      return { alg: "Ed25519", sig: sign(null, Buffer.from(payload, "utf8"), key).toString("base64url") };
    },
  };
}

/** Checks an Ed25519 entry signature against a public key. */
export function verifyProviderSignature(publicKey: LedgerPublicKey, payload: string, sig: string): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey.x }, format: "jwk" });
    return verify(null, Buffer.from(payload, "utf8"), key, Buffer.from(sig, "base64url"));
  } catch {
    return false;
  }
}

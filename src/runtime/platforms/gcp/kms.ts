/**
 * Wrapping and unwrapping data keys with Cloud KMS, with the end-to-end CRC32C checks Google recommends: the
 * request carries the CRC32C of what we send, and we check the CRC32C of what comes back (the library does not).
 */
import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { crc32c } from "./crc32c.js";
import type { GcpCallContext } from "./errors.js";
import { type RetryPolicy, withRetry } from "./retry.js";

function asBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === "string") return Buffer.from(v, "base64");
  return Buffer.alloc(0);
}

function crcValue(v: unknown): number | undefined {
  if (v === null || v === undefined) return undefined;
  const raw = typeof v === "object" && "value" in (v as object) ? (v as { value: unknown }).value : v;
  if (raw === null || raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Thrown inside the retried call, so a corrupted exchange is retried and finally reported as `gcp-corrupt`. */
function corrupted(what: string): Error {
  return Object.assign(new Error(`Cloud KMS ${what} failed its CRC32C integrity check`), { code: "CRC32C_MISMATCH" });
}

/**
 * Encrypts (wraps) a data key with a Cloud KMS CryptoKey.
 *
 * @param keyName `projects/…/locations/…/keyRings/…/cryptoKeys/…`
 */
export async function kmsWrap(kms: KeyManagementServiceClient, keyName: string, plaintext: Buffer, retry: RetryPolicy, ctx: GcpCallContext): Promise<Buffer> {
  const plaintextCrc32c = crc32c(plaintext);
  return withRetry(ctx, retry, async () => {
    const [resp] = await kms.encrypt({ name: keyName, plaintext, plaintextCrc32c: { value: plaintextCrc32c } });
    const ciphertext = asBuffer(resp.ciphertext);
    if (resp.verifiedPlaintextCrc32c !== true) throw corrupted("encrypt request");
    const got = crcValue(resp.ciphertextCrc32c);
    if (ciphertext.length === 0 || got === undefined || got !== crc32c(ciphertext)) throw corrupted("encrypt response");
    return ciphertext;
  });
}

/** Decrypts (unwraps) a data key with a Cloud KMS CryptoKey. */
export async function kmsUnwrap(kms: KeyManagementServiceClient, keyName: string, ciphertext: Buffer, retry: RetryPolicy, ctx: GcpCallContext): Promise<Buffer> {
  const ciphertextCrc32c = crc32c(ciphertext);
  return withRetry(ctx, retry, async () => {
    const [resp] = await kms.decrypt({ name: keyName, ciphertext, ciphertextCrc32c: { value: ciphertextCrc32c } });
    const plaintext = asBuffer(resp.plaintext);
    const got = crcValue(resp.plaintextCrc32c);
    if (got === undefined || got !== crc32c(plaintext)) throw corrupted("decrypt response");
    return plaintext;
  });
}

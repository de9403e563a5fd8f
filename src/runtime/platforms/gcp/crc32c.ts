/**
 * CRC32C (Castagnoli) for the storage client's upload and download validation and for Cloud KMS's integrity fields, in
 * native code where it loads.
 *
 * `@google-cloud/storage` computes CRC32C with a byte-at-a-time table in JavaScript: 1.4–2.5 s of CPU per 256 MiB on
 * this machine, on every provisioning upload and every download in the TEE (a multi-GiB `files` dataset pays it
 * twice). `@node-rs/crc32` uses the CPU's CRC32 instructions (SSE 4.2 / ARMv8) and takes milliseconds for the same
 * bytes. Where its prebuilt binary does not load (a platform it does not ship), the client's own implementation is
 * used: slower, same values.
 */
import { CRC32C, type CRC32CValidator, type CRC32CValidatorGenerator } from "@google-cloud/storage";

type NativeCrc32c = (input: Buffer, initialState?: number) => number;

/** The native function, or undefined when `@node-rs/crc32` has no binary for this platform. */
function loadNative(): NativeCrc32c | undefined {
  try {
    // A require, not an import: a missing binary must fall back, not fail every GCP module that imports this one.
    const mod = require("@node-rs/crc32") as typeof import("@node-rs/crc32");
    return (input, initialState) => mod.crc32c(input, initialState);
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Whether CRC32C runs in native code here (false: the storage client's JavaScript table). */
export const nativeCrc32c: boolean = native !== undefined;

/** Unsigned CRC32C of bytes, as Cloud KMS carries it (`plaintextCrc32c`, `ciphertextCrc32c`). */
export function crc32c(data: Buffer): number {
  if (native !== undefined) return native(data) >>> 0;
  const c = new CRC32C();
  c.update(data);
  return c.toBuffer().readUInt32BE(0);
}

/** A running CRC32C in the storage client's validator shape: base64 of the big-endian value, as GCS's `crc32c`. */
class NativeValidator implements CRC32CValidator {
  private state = 0;

  constructor(private readonly fn: NativeCrc32c) {}

  update(data: Buffer): void {
    this.state = this.fn(data, this.state);
  }

  toString(): string {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.state >>> 0);
    return b.toString("base64");
  }

  validate(value: string): boolean {
    return value === this.toString();
  }
}

/**
 * The `crc32cGenerator` option for `new Storage(...)`: native validators, or undefined (the client's default) when
 * the native binary does not load.
 */
export function storageCrc32cGenerator(): CRC32CValidatorGenerator | undefined {
  const fn = native;
  return fn === undefined ? undefined : () => new NativeValidator(fn);
}

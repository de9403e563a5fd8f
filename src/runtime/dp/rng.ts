/**
 * The only source of randomness of the DP code: a cryptographically secure generator with exact integer draws.
 *
 * Production draws come from the operating system (`node:crypto` `randomFillSync`). A deterministic stream exists
 * for tests only and can be switched on only through `CLEANROOM_TEST_DP_SEED` while `CLEANROOM_TEST=1`, and never in a
 * process started as the `cleanroom` command.
 */
import { createCipheriv, createHash, randomFillSync } from "node:crypto";
import { CleanRoomError } from "../../core/errors.js";

/** Environment variable that selects the deterministic test stream (refused unless `CLEANROOM_TEST=1`). */
export const TEST_SEED_ENV = "CLEANROOM_TEST_DP_SEED";
/** Environment variable the test setup sets; without it a test seed is refused. */
export const TEST_MODE_ENV = "CLEANROOM_TEST";

const POOL_BYTES = 8192;
const TWO_32 = 2 ** 32;

type Fill = (buf: Buffer) => void;

/**
 * A cryptographically secure random generator with exact (bias-free) integer, bit and BigInt draws.
 *
 * Instances are made only by `SecureRng.system()` or `rngFromEnvironment()`; the constructor is private so no code
 * path can hand a DP mechanism a predictable generator (Math.random's xorshift128+ is recoverable from a few outputs).
 */
export class SecureRng {
  readonly #fill: Fill;
  readonly #pool = Buffer.alloc(POOL_BYTES);
  #pos = POOL_BYTES;
  /** `true` for the seeded test stream; recorded so a test release can never pass for a real one. */
  readonly deterministic: boolean;

  private constructor(fill: Fill, deterministic: boolean) {
    this.#fill = fill;
    this.deterministic = deterministic;
  }

  /** The operating system's CSPRNG (`randomFillSync`), read in pooled blocks. */
  static system(): SecureRng {
    return new SecureRng((buf) => randomFillSync(buf), false);
  }

  /** @internal Deterministic AES-256-CTR stream; only `rngFromEnvironment`/`testRng` may call it. */
  static seededForTests(seed: string): SecureRng {
    assertTestMode();
    const key = createHash("sha256").update(`attested-cleanroom/dp-test-seed/v1\0${seed}`).digest();
    const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
    const zeros = Buffer.alloc(POOL_BYTES);
    return new SecureRng((buf) => {
      cipher.update(zeros.subarray(0, buf.length)).copy(buf);
    }, true);
  }

  #byte(): number {
    if (this.#pos >= POOL_BYTES) {
      this.#fill(this.#pool);
      this.#pos = 0;
    }
    return this.#pool[this.#pos++];
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    if (this.#pos + 4 > POOL_BYTES) {
      this.#fill(this.#pool);
      this.#pos = 0;
    }
    const v = this.#pool.readUInt32LE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** Fills `out` with random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.#byte();
    return out;
  }

  /**
   * A uniform integer in `[0, m)` for `1 <= m <= 2^53`, by rejection (no modulo bias).
   * @throws CleanRoomError `invalid-argument` when m is out of range
   */
  uniformInt(m: number): number {
    if (!Number.isSafeInteger(m) || m < 1) throw new CleanRoomError("invalid-argument", `uniformInt needs a safe integer m >= 1 (got ${m})`);
    if (m === 1) return 0;
    if (m <= TWO_32) {
      // Reject the top partial block of 2^32 so every residue is equally likely.
      const limit = TWO_32 - (TWO_32 % m);
      for (;;) {
        const u = this.uint32();
        if (u < limit) return u % m;
      }
    }
    // 2^32 < m <= 2^53: draw exactly ⌈log2 m⌉ bits from two words and reject values ≥ m.
    let bits = 33;
    while (2 ** bits < m) bits++; // exact: Math.log2 can round 2^k + 1 down to k
    const hiBits = bits - 32;
    const hiMask = 2 ** hiBits - 1;
    for (;;) {
      const v = (this.uint32() & hiMask) * TWO_32 + this.uint32();
      if (v < m) return v;
    }
  }

  /** A uniform BigInt in `[0, m)` for `m >= 1`: draw ⌈log2 m⌉ bits, reject values ≥ m. */
  uniformBig(m: bigint): bigint {
    if (m < 1n) throw new CleanRoomError("invalid-argument", `uniformBig needs m >= 1 (got ${m})`);
    if (m === 1n) return 0n;
    if (m <= 0xffffffffn) return BigInt(this.uniformInt(Number(m)));
    const bits = (m - 1n).toString(2).length;
    const nBytes = Math.ceil(bits / 8);
    const topMask = (1 << (bits - 8 * (nBytes - 1))) - 1;
    for (;;) {
      let v = BigInt(this.#byte() & topMask);
      for (let i = 1; i < nBytes; i++) v = (v << 8n) | BigInt(this.#byte());
      if (v < m) return v;
    }
  }

  /** A uniform double in `[0, 1)` with 53 random bits (for post-processing only, never for DP noise). */
  uniform01(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Shuffles an array in place (Fisher–Yates with exact uniform indices). */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.uniformInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

/**
 * Main-module paths of the `cleanroom` command: the package's bin (`bin/cleanroom.js`, what `cleanroom` and
 * `npx cleanroom` start), or `src/runtime/cli.ts` / `dist/src/runtime/cli.js` run directly.
 */
const CLI_MAIN = /[\\/](?:runtime[\\/]cli|bin[\\/]cleanroom)\.[cm]?[jt]s$/;

/** `true` when this process was started as the `cleanroom` command rather than loaded by a test runner or a program. */
export function runningAsCli(mainFile: string | undefined = require.main?.filename): boolean {
  return mainFile !== undefined && CLI_MAIN.test(mainFile);
}

function assertTestMode(env: NodeJS.ProcessEnv = process.env, mainFile: string | undefined = require.main?.filename): void {
  if (runningAsCli(mainFile)) {
    // CLEANROOM_TEST=1 is a shell-wide switch that can leak into a provider's session from a CI job; the command
    // itself therefore refuses any seed, so a released artefact can never carry noise that the seed's holder can subtract.
    throw new CleanRoomError(
      "invalid-argument",
      `${TEST_SEED_ENV} is set, and the cleanroom command never uses seeded (predictable) DP noise, even with ${TEST_MODE_ENV}=1: ` +
        `seeded streams exist only for the test suite, in-process. Unset ${TEST_SEED_ENV} to use the operating system's random generator.`,
    );
  }
  if (env[TEST_MODE_ENV] !== "1") {
    // Stops a deployment from releasing "DP" data whose noise anyone holding the seed can subtract.
    throw new CleanRoomError(
      "invalid-argument",
      `${TEST_SEED_ENV} is set but ${TEST_MODE_ENV} is not "1": seeded (predictable) DP noise is for tests only. ` +
        `Unset ${TEST_SEED_ENV} to use the operating system's random generator.`,
    );
  }
}

/**
 * The generator every DP entry point uses by default: the OS CSPRNG, or — only in-process under a test runner with
 * `CLEANROOM_TEST=1` — the deterministic test stream named by `CLEANROOM_TEST_DP_SEED`.
 *
 * @param mainFile the process's main module (defaults to `require.main`); the `cleanroom` command never seeds
 * @throws CleanRoomError `invalid-argument` when a test seed is set outside tests, or at all in the `cleanroom` command
 */
export function rngFromEnvironment(env: NodeJS.ProcessEnv = process.env, mainFile: string | undefined = require.main?.filename): SecureRng {
  const seed = env[TEST_SEED_ENV];
  if (seed === undefined || seed === "") return SecureRng.system();
  assertTestMode(env, mainFile);
  return SecureRng.seededForTests(seed);
}

/** @internal For tests: a deterministic stream from a seed. Throws unless `CLEANROOM_TEST=1`. */
export function testRng(seed: string): SecureRng {
  return SecureRng.seededForTests(seed);
}

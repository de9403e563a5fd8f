import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import {
  ENVELOPE_FORMAT,
  HEADER_SIZE,
  createDecryptStream,
  createEncryptStream,
  decryptFile,
  generateDataKey,
} from "../../src/runtime/provision/envelope.js";
import { encryptFile } from "../../src/runtime/provision/envelope-sealer.js";

const SEG = 1024;
const SEALED = SEG + 16;

/** Runs bytes through a transform, feeding them in uneven chunks so segment cutting is exercised across chunk edges. */
async function through(t: Transform, input: Buffer, chunk = 333): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), t, async (src: AsyncIterable<Buffer | string>) => {
    for await (const c of src) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

const seal = (key: Buffer, plain: Buffer) => through(createEncryptStream(key, { segmentSize: SEG }), plain);
const open = (key: Buffer, sealed: Buffer) => through(createDecryptStream(key), sealed);

async function expectCode(p: Promise<unknown>, code: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal(code);
    return err as CleanRoomError;
  }
  throw new Error(`expected a CleanRoomError ${code}, but the promise resolved`);
}

describe("gcp/envelope: acr-envelope-v1 streaming AES-256-GCM", () => {
  it("GIVEN the format name THEN it is the contract's", () => {
    expect(ENVELOPE_FORMAT).to.equal("acr-envelope-v1");
    expect(generateDataKey()).to.have.length(32);
    expect(generateDataKey().equals(generateDataKey())).to.equal(false);
  });

  for (const size of [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 5 * SEG + 17]) {
    it(`GIVEN ${size} plaintext bytes WHEN sealed and opened THEN the bytes round-trip and the size is exact`, async () => {
      const key = generateDataKey();
      const plain = randomBytes(size);
      const sealed = await seal(key, plain);
      const segments = Math.max(1, Math.ceil(size / SEG));
      expect(sealed.length).to.equal(HEADER_SIZE + size + 16 * segments);
      expect((await open(key, sealed)).equals(plain)).to.equal(true);
    });
  }

  it("GIVEN the default 1 MiB segments WHEN 2.5 MiB round-trip in odd chunks THEN the bytes match", async () => {
    const key = generateDataKey();
    const plain = randomBytes(2.5 * 1024 * 1024);
    const sealed = await through(createEncryptStream(key), plain, 70001);
    expect((await through(createDecryptStream(key), sealed, 12345)).equals(plain)).to.equal(true);
  });

  it("GIVEN the same plaintext twice THEN the ciphertexts differ (fresh nonce prefix)", async () => {
    const key = generateDataKey();
    const plain = randomBytes(100);
    expect((await seal(key, plain)).equals(await seal(key, plain))).to.equal(false);
  });

  it("GIVEN a key that is not 32 bytes THEN both directions refuse it", () => {
    expect(() => createEncryptStream(randomBytes(16))).to.throw(CleanRoomError, /32 bytes/);
    expect(() => createDecryptStream(randomBytes(31))).to.throw(CleanRoomError, /32 bytes/);
  });

  describe("WHEN the ciphertext is attacked THEN decryption fails and emits nothing unauthenticated", () => {
    const key = generateDataKey();
    const plain = randomBytes(3 * SEG + 100);
    let sealed: Buffer;
    before(async () => {
      sealed = await seal(key, plain);
    });

    for (const [name, offset] of [
      ["a header byte (segment size)", 9],
      ["a nonce-prefix byte", HEADER_SIZE - 1],
      ["a byte of segment 0", HEADER_SIZE + 5],
      ["a tag byte of segment 1", HEADER_SIZE + 2 * SEALED - 1],
      ["the last byte", -1],
    ] as const) {
      it(`GIVEN one flipped bit in ${name}`, async () => {
        const bad = Buffer.from(sealed);
        const i = offset < 0 ? bad.length + offset : offset;
        bad[i] = (bad[i] as number) ^ 0x01;
        const err = await expectCode(open(key, bad), "digest-mismatch");
        expect(err.message).to.match(/modified, truncated or reordered/);
      });
    }

    it("GIVEN an unknown version byte THEN it is refused as another format version", async () => {
      const bad = Buffer.from(sealed);
      bad[6] = 2;
      await expectCode(open(key, bad), "invalid-argument");
    });

    it("GIVEN a wrong key", async () => {
      const err = await expectCode(open(generateDataKey(), sealed), "digest-mismatch");
      expect(err.message).to.match(/key is wrong/);
    });

    it("GIVEN the stream truncated mid-segment", async () => {
      await expectCode(open(key, sealed.subarray(0, sealed.length - 40)), "digest-mismatch");
    });

    it("GIVEN the last segment dropped (truncation at a segment boundary)", async () => {
      await expectCode(open(key, sealed.subarray(0, HEADER_SIZE + 3 * SEALED)), "digest-mismatch");
    });

    it("GIVEN only the header", async () => {
      await expectCode(open(key, sealed.subarray(0, HEADER_SIZE)), "digest-mismatch");
    });

    it("GIVEN fewer bytes than a header", async () => {
      await expectCode(open(key, sealed.subarray(0, 7)), "digest-mismatch");
    });

    it("GIVEN two segments swapped", async () => {
      const s0 = sealed.subarray(HEADER_SIZE, HEADER_SIZE + SEALED);
      const s1 = sealed.subarray(HEADER_SIZE + SEALED, HEADER_SIZE + 2 * SEALED);
      const bad = Buffer.concat([sealed.subarray(0, HEADER_SIZE), s1, s0, sealed.subarray(HEADER_SIZE + 2 * SEALED)]);
      await expectCode(open(key, bad), "digest-mismatch");
    });

    it("GIVEN a segment duplicated in place of its successor", async () => {
      const s0 = sealed.subarray(HEADER_SIZE, HEADER_SIZE + SEALED);
      const bad = Buffer.concat([sealed.subarray(0, HEADER_SIZE + SEALED), s0, sealed.subarray(HEADER_SIZE + 2 * SEALED)]);
      await expectCode(open(key, bad), "digest-mismatch");
    });

    it("GIVEN bytes appended after the last segment", async () => {
      await expectCode(open(key, Buffer.concat([sealed, randomBytes(SEALED)])), "digest-mismatch");
    });

    it("GIVEN a tampered segment 2 THEN only segments 0 and 1 were emitted before the error", async () => {
      const bad = Buffer.from(sealed);
      bad[HEADER_SIZE + 2 * SEALED + 3] ^= 0x80;
      const out: Buffer[] = [];
      const d = createDecryptStream(key);
      d.on("data", (c: Buffer) => out.push(c));
      const done = new Promise<unknown>((resolve) => d.on("error", resolve));
      d.end(bad);
      const err = await done;
      expect((err as CleanRoomError).code).to.equal("digest-mismatch");
      const emitted = Buffer.concat(out);
      expect(emitted.length).to.equal(2 * SEG);
      expect(emitted.equals(plain.subarray(0, 2 * SEG))).to.equal(true);
    });

    it("GIVEN bytes that are not an envelope THEN the error says so", async () => {
      const err = await expectCode(open(key, Buffer.from("id,age\n1,2\n3,4\n5,6\n7,8\n9,10\n")), "invalid-argument");
      expect(err.message).to.match(/not an acr-envelope-v1/);
    });
  });

  describe("files", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "acr-env-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("GIVEN a CSV file WHEN encryptFile then decryptFile THEN digests match and files are 0600", async () => {
      const key = generateDataKey();
      const csv = Buffer.from(`id,age\n${Array.from({ length: 5000 }, (_, i) => `${i},${i % 90}`).join("\n")}\n`);
      writeFileSync(join(dir, "data.csv"), csv);
      const enc = await encryptFile(join(dir, "data.csv"), join(dir, "data.enc"), key);
      expect(enc.bytes).to.equal(csv.length);
      expect(enc.sha256).to.equal(createHash("sha256").update(csv).digest("hex"));
      expect(enc, "no digest of the ciphertext (its GCM tags authenticate it)").to.have.all.keys("bytes", "sha256");
      expect(statSync(join(dir, "data.enc")).mode & 0o777).to.equal(0o600);
      const dec = await decryptFile(join(dir, "data.enc"), join(dir, "out.csv"), key);
      expect(dec).to.deep.equal({ bytes: enc.bytes, sha256: enc.sha256 });
      expect(readFileSync(join(dir, "out.csv")).equals(csv)).to.equal(true);
    });

    it("GIVEN a truncated ciphertext file WHEN decryptFile THEN it fails and leaves no output file", async () => {
      const key = generateDataKey();
      writeFileSync(join(dir, "p"), randomBytes(3 * 1024 * 1024));
      await encryptFile(join(dir, "p"), join(dir, "c"), key);
      const c = readFileSync(join(dir, "c"));
      writeFileSync(join(dir, "c"), c.subarray(0, c.length - 1024 * 1024 - 16));
      await expectCode(decryptFile(join(dir, "c"), join(dir, "out"), key), "digest-mismatch");
      expect(existsSync(join(dir, "out"))).to.equal(false);
    });
  });
});

/**
 * provision/envelope-sealer.ts: the WebCrypto writer of "acr-envelope-v1". Its output must be byte for byte what the
 * format defines (checked here against `createCipheriv` segment by segment, with the nonce prefix read back from the
 * header), open with the existing decryptor, and its digests must be those of the bytes written.
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { DEFAULT_SEGMENT_SIZE, decryptFile, generateDataKey, HEADER_SIZE } from "../../src/runtime/provision/envelope.js";
import { EnvelopeSealer } from "../../src/runtime/provision/envelope-sealer.js";
import { rejected } from "../thrown.js";

/** "acr-envelope-v1" of `plain` as the format defines it, from `createCipheriv` per segment, with the given header. */
function expected(key: Buffer, header: Buffer, plain: Buffer): Buffer {
  const segmentSize = header.readUInt32BE(8);
  const prefix = header.subarray(12, 20);
  const out: Buffer[] = [header];
  const segments = Math.max(1, Math.ceil(plain.length / segmentSize));
  for (let i = 0; i < segments; i++) {
    const last = i === segments - 1;
    const nonce = Buffer.concat([prefix, Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255])]);
    const aad = Buffer.concat([header, nonce.subarray(8), Buffer.from([last ? 1 : 0])]);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(aad);
    out.push(cipher.update(plain.subarray(i * segmentSize, (i + 1) * segmentSize)), cipher.final(), cipher.getAuthTag());
  }
  return Buffer.concat(out);
}

describe("provision/envelope-sealer: acr-envelope-v1 sealed with WebCrypto in parallel", function () {
  this.timeout(30_000);
  let dir: string;
  let n = 0;
  const fresh = (name: string) => join(dir, `${name}-${n++}`);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-sealer-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const SEG = 64;
  for (const [segmentSize, size] of [
    [SEG, 0],
    [SEG, 1],
    [SEG, SEG - 1],
    [SEG, SEG],
    [SEG, SEG + 1],
    [SEG, 7 * SEG + 13],
    [SEG, 9 * SEG],
    [DEFAULT_SEGMENT_SIZE, DEFAULT_SEGMENT_SIZE + 1],
    [DEFAULT_SEGMENT_SIZE, 5 * DEFAULT_SEGMENT_SIZE - 3],
  ] as const) {
    // Every other size also asks for the ciphertext's MD5 (what a GCS upload declares), from the same pass.
    const md5 = size % 2 === 1;
    it(`GIVEN ${size} bytes in ${segmentSize}-byte segments${md5 ? ", with the MD5" : ""} WHEN sealed THEN byte-identical to createCipheriv per segment, opened by decryptFile, digests exact`, async () => {
      const key = generateDataKey();
      const plain = randomBytes(size);
      const dst = fresh("enc");
      const sealer = await EnvelopeSealer.create(dst, key, { segmentSize, parallel: 2, md5 });
      const id = sealer.openDigest();
      // Uneven writes, so segment edges fall inside writes; the caller's buffer is overwritten after each write.
      const scratch = Buffer.alloc(37 + segmentSize);
      for (let off = 0; off < size; off += scratch.length) {
        const part = plain.subarray(off, off + scratch.length);
        part.copy(scratch);
        await sealer.write(scratch.subarray(0, part.length), id);
        scratch.fill(0xee);
      }
      const digest = sealer.digest(id);
      expect(existsSync(dst), "dst appears only when finished").to.equal(false);
      const r = await sealer.finish();
      const file = readFileSync(dst);
      expect(file.equals(expected(key, file.subarray(0, HEADER_SIZE), plain))).to.equal(true);
      expect(file.subarray(0, 8).toString("latin1")).to.equal("ACRENV\u0001\u0000");
      expect(file.readUInt32BE(8)).to.equal(segmentSize);
      expect(r.bytes).to.equal(size);
      expect(r).to.have.all.keys(md5 ? ["bytes", "ciphertextMd5"] : ["bytes"]);
      expect(r.ciphertextMd5).to.equal(md5 ? createHash("md5").update(file).digest("base64") : undefined);
      expect(await digest).to.equal(createHash("sha256").update(plain).digest("hex"));
      expect(statSync(dst).mode & 0o777).to.equal(0o600);
      const out = fresh("plain");
      const opened = await decryptFile(dst, out, key);
      expect(readFileSync(out).equals(plain)).to.equal(true);
      expect(opened.bytes).to.equal(size);
    });
  }

  it("GIVEN bytes read straight into reserved space under several digests, some unhashed WHEN sealed THEN each digest covers exactly its bytes, across segments", async () => {
    const key = generateDataKey();
    const a = randomBytes(300);
    const b = randomBytes(5);
    const c = randomBytes(200);
    const header = Buffer.from("not hashed");
    const dst = fresh("enc");
    const sealer = await EnvelopeSealer.create(dst, key, { segmentSize: SEG });
    const ids = [sealer.openDigest(), sealer.openDigest(), sealer.openDigest()];
    const digests: Promise<string>[] = [];
    for (const [i, data] of [a, b, c].entries()) {
      await sealer.write(header);
      let off = 0;
      while (off < data.length) {
        const space = await sealer.reserve();
        expect(space.length).to.be.greaterThan(0);
        const k = Math.min(space.length, data.length - off, 23);
        data.copy(space, 0, off, off + k);
        sealer.commit(k, ids[i]);
        off += k;
      }
      digests.push(sealer.digest(ids[i] as number));
    }
    await sealer.finish();
    const plain = Buffer.concat([header, a, header, b, header, c]);
    const file = readFileSync(dst);
    expect(file.equals(expected(key, file.subarray(0, HEADER_SIZE), plain))).to.equal(true);
    expect(await Promise.all(digests)).to.deep.equal([a, b, c].map((d) => createHash("sha256").update(d).digest("hex")));
  });

  it("GIVEN a sealer WHEN aborted THEN neither the file nor its temporary remains, and pending digests are rejected", async () => {
    const dst = fresh("enc");
    const sealer = await EnvelopeSealer.create(dst, generateDataKey(), { segmentSize: SEG });
    const id = sealer.openDigest();
    await sealer.write(randomBytes(10 * SEG), id);
    const digest = rejected(sealer.digest(id));
    await sealer.abort();
    expect(existsSync(dst)).to.equal(false);
    expect(readdirSync(dir).filter((f) => f.startsWith(dst.slice(dir.length + 1)))).to.deep.equal([]);
    expect(await digest).to.be.instanceOf(CleanRoomError);
    expect((await rejected(sealer.write(Buffer.from("x")))).message).to.match(/finished or aborted/);
  });

  it("GIVEN a bad key, segment size or parallelism THEN refused before any file exists", async () => {
    const dst = fresh("enc");
    expect((await rejected(EnvelopeSealer.create(dst, randomBytes(16)))).code).to.equal("invalid-argument");
    expect((await rejected(EnvelopeSealer.create(dst, generateDataKey(), { segmentSize: 63 }))).code).to.equal("invalid-argument");
    expect((await rejected(EnvelopeSealer.create(dst, generateDataKey(), { parallel: 0 }))).code).to.equal("invalid-argument");
    expect(existsSync(dst)).to.equal(false);
    expect(readdirSync(dir).filter((f) => f.startsWith(dst.slice(dir.length + 1)))).to.deep.equal([]);
  });
});

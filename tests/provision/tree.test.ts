
import { appendFileSync, createWriteStream, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { expect } from "chai";
import { pack as tarPack } from "tar-stream";
import { manifestDigest, manifestOf } from "../../src/core/digest.js";
import { createEncryptStream, generateDataKey } from "../../src/runtime/provision/envelope.js";
import { decryptTreeFile, encryptTree, extractTree, provisionsTree } from "../../src/runtime/provision/tree.js";
import { rejected } from "../thrown.js";

/** The envelope of a hand-made tree plaintext (what a buggy or hostile encryptor holding the key could produce). */
async function sealed(key: Buffer, parts: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), createEncryptStream(key, { segmentSize: 64 }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

const MAGIC = Buffer.from("ACRTREE\u0001", "latin1");
function fileRecord(path: string | Buffer, content: Buffer, announced = content.length, type = 1): Buffer {
  const p = Buffer.isBuffer(path) ? path : Buffer.from(path, "utf8");
  const head = Buffer.alloc(3 + p.length + 8);
  head[0] = type;
  head.writeUInt16BE(p.length, 1);
  p.copy(head, 3);
  head.writeBigUInt64BE(BigInt(announced), 3 + p.length);
  return Buffer.concat([head, content]);
}
function endRecord(files: number, bytes: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(files, 1);
  b.writeBigUInt64BE(BigInt(bytes), 5);
  return b;
}

describe("provision/tree: files datasets as one streamed envelope", function () {
  this.timeout(30_000);
  let work: string;
  let n = 0;
  const fresh = (name: string) => join(work, `${name}-${n++}`);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "acr-tree-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A small model-like tree: nested dirs, an empty file, a file larger than a segment. */
  function modelTree(): string {
    const root = fresh("model");
    mkdirSync(join(root, "tokenizer"), { recursive: true });
    mkdirSync(join(root, "empty-dir"));
    writeFileSync(join(root, "config.json"), '{"layers": 2}\n');
    writeFileSync(join(root, "weights.bin"), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    writeFileSync(join(root, "tokenizer", "vocab.txt"), "a\nb\nc\n");
    writeFileSync(join(root, "tokenizer", "empty"), "");
    return root;
  }

  it("GIVEN a directory tree WHEN encrypted and extracted THEN the same files come back read-only, and both sides report the manifest digest of core/digest", async () => {
    const root = modelTree();
    const key = generateDataKey();
    const enc = fresh("enc");
    const r = await encryptTree(root, enc, key, { segmentSize: 4096 });
    const expected = await manifestOf(root);
    expect(r.manifest).to.deep.equal(expected);
    expect(r).to.include({ files: 4, bytes: expected.reduce((a, e) => a + e.bytes, 0), sha256: manifestDigest(expected).slice(7) });
    expect(lstatSync(enc).mode & 0o777).to.equal(0o600);

    const out = fresh("out");
    const back = await decryptTreeFile(enc, key, out);
    expect(back.sha256).to.equal(r.sha256);
    expect(await manifestOf(out)).to.deep.equal(expected);
    expect(lstatSync(out).mode & 0o777).to.equal(0o555);
    expect(lstatSync(join(out, "tokenizer")).mode & 0o777).to.equal(0o555);
    expect(lstatSync(join(out, "weights.bin")).mode & 0o777).to.equal(0o444);
    // Only files travel: an empty directory is not kept.
    expect(readdirSync(out).sort()).to.deep.equal(["config.json", "tokenizer", "weights.bin"]);
  });

  it("GIVEN the same tree as a .tar.gz archive (with ./ prefixes and directory entries) WHEN encrypted THEN its manifest digest equals the directory's", async () => {
    const root = modelTree();
    const archive = `${fresh("model")}.tar.gz`;
    const pack = tarPack();
    const done = pipeline(pack, createGzip(), createWriteStream(archive));
    pack.entry({ name: "./tokenizer/", type: "directory" });
    // Archive order is not sorted order: the digest must not depend on it.
    for (const p of ["weights.bin", "tokenizer/vocab.txt", "config.json", "tokenizer/empty"]) pack.entry({ name: `./${p}` }, readFileSync(join(root, p)));
    pack.finalize();
    await done;
    const key = generateDataKey();
    const fromArchive = await encryptTree(archive, fresh("enc"), key);
    const fromDir = await encryptTree(root, fresh("enc"), key);
    expect(fromArchive.sha256).to.equal(fromDir.sha256);
    expect(fromArchive.files).to.equal(4);
  });

  it("GIVEN an archive holding a symbolic link WHEN encrypted THEN refused naming the entry, and no ciphertext is left", async () => {
    const archive = `${fresh("links")}.tar`;
    const pack = tarPack();
    const done = pipeline(pack, createWriteStream(archive));
    pack.entry({ name: "ok.txt" }, "fine");
    pack.entry({ name: "passwd", type: "symlink", linkname: "/etc/passwd" });
    pack.finalize();
    await done;
    const dst = fresh("enc");
    const err = await rejected(encryptTree(archive, dst, generateDataKey()));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.contain('"passwd", a symlink').and.to.contain("regular files only");
    expect(() => lstatSync(dst)).to.throw();
    expect(() => lstatSync(`${dst}.partial`)).to.throw();
  });

  it("GIVEN an archive with ../ in a path or the same path twice WHEN encrypted THEN refused", async () => {
    for (const [names, expected] of [
      [["../escape.txt"], "is not a safe relative path"],
      [["a.txt", "a.txt"], "appears twice"],
      [["a", "a/b"], "lies under a path that is a file"],
    ] as const) {
      const archive = `${fresh("bad")}.tar`;
      const pack = tarPack();
      const done = pipeline(pack, createWriteStream(archive));
      for (const name of names) pack.entry({ name }, "x");
      pack.finalize();
      await done;
      const err = await rejected(encryptTree(archive, fresh("enc"), generateDataKey()));
      expect(err.code, names.join(",")).to.equal("invalid-argument");
      expect(err.message).to.contain(expected);
    }
  });

  it("GIVEN a directory holding a symbolic link WHEN encrypted THEN refused (links are never followed)", async () => {
    const root = fresh("dir");
    mkdirSync(root);
    writeFileSync(join(root, "a.txt"), "a");
    symlinkSync("/etc/hostname", join(root, "host"));
    const err = await rejected(encryptTree(root, fresh("enc"), generateDataKey()));
    expect(err.message).to.contain("host").and.to.contain("symbolic link");
  });

  it("GIVEN a plain file that is not an archive WHEN encrypted as a tree THEN refused saying what --dir takes", async () => {
    const f = fresh("file.csv");
    writeFileSync(f, "a,b\n");
    const err = await rejected(encryptTree(f, fresh("enc"), generateDataKey()));
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.contain("neither a directory nor a .tar/.tar.gz archive");
  });

  for (const change of ["grows", "shrinks"] as const) {
    it(`GIVEN a file that ${change} while it is read WHEN encrypted THEN refused as changed, and no ciphertext is left`, async () => {
      const root = fresh("changing");
      mkdirSync(root);
      const path = join(root, "weights.bin");
      writeFileSync(path, Buffer.alloc(3 * 1024 * 1024, 1));
      const dst = fresh("enc");
      let changed = false;
      const onBytes = () => {
        if (changed) return;
        changed = true;
        if (change === "grows") appendFileSync(path, "more");
        else truncateSync(path, 1000);
      };
      const err = await rejected(encryptTree(root, dst, generateDataKey(), { segmentSize: 64 * 1024, onBytes }));
      expect(err.code).to.equal("io-error");
      expect(err.message).to.match(/changed while it was being provisioned/);
      expect(readdirSync(work).filter((f) => f.startsWith(dst.slice(work.length + 1)))).to.deep.equal([]);
    });
  }

  describe("hostile containers (sealed with the right key)", () => {
    const key = generateDataKey();
    const refused = async (parts: Buffer[], expected: string) => {
      const out = fresh("out");
      const err = await rejected(extractTree(Readable.from([await sealed(key, parts)]), key, out));
      expect(err.code).to.equal("invalid-manifest");
      expect(err.message).to.contain(expected);
      // Nothing of a refused tree stays on disk.
      expect(() => lstatSync(out)).to.throw();
      return err;
    };

    it("GIVEN an absolute path, a .. path or a backslash THEN refused by record number, never echoing the name", async () => {
      for (const p of ["/etc/cron.d/x", "../../x", "a/../../x", "a\\b", "a//b", "./a"]) {
        const err = await refused([MAGIC, fileRecord(p, Buffer.from("x")), endRecord(1, 1)], "record 1 is not a safe relative path");
        expect(err.message).not.to.contain(p);
      }
    });

    it("GIVEN a link or device record type THEN refused", async () => {
      await refused([MAGIC, fileRecord("lnk", Buffer.alloc(0), 0, 2), endRecord(1, 0)], "record 1 has type 2; only regular files");
    });

    it("GIVEN the same path twice, or a file under a file THEN refused", async () => {
      await refused([MAGIC, fileRecord("a", Buffer.from("1")), fileRecord("a", Buffer.from("2")), endRecord(2, 2)], "record 2 appears twice");
      await refused([MAGIC, fileRecord("a", Buffer.from("1")), fileRecord("a/b", Buffer.from("2")), endRecord(2, 2)], "record 2 lies under a path that is a file");
      await refused([MAGIC, fileRecord("a/b", Buffer.from("1")), fileRecord("a", Buffer.from("2")), endRecord(2, 2)], "record 2 is both a file and a directory");
    });

    it("GIVEN sizes that disagree with the end record, a stream that stops inside a file, or bytes after the end THEN refused", async () => {
      await refused([MAGIC, fileRecord("a", Buffer.from("12345")), endRecord(1, 4)], "announces 1 files and 4 bytes, but it held 1 files and 5 bytes");
      await refused([MAGIC, fileRecord("a", Buffer.from("12"), 5)], "it ends inside record 1");
      await refused([MAGIC, fileRecord("a", Buffer.from("1")), endRecord(1, 1), Buffer.from("more")], "bytes follow its end record");
    });

    it("GIVEN a table's plaintext (no tree header) THEN refused as not a tree", async () => {
      await refused([Buffer.from("age,sex\n30,f\n")], "does not start with the acr-tree-v1 header");
    });

    it("GIVEN a tampered ciphertext THEN the envelope refuses it before any file is written", async () => {
      const ct = await sealed(key, [MAGIC, fileRecord("a", Buffer.alloc(500, 1)), endRecord(1, 500)]);
      ct[ct.length - 40] = (ct[ct.length - 40] as number) ^ 1;
      const out = fresh("out");
      const err = await rejected(extractTree(Readable.from([ct]), key, out));
      expect(err.code).to.equal("digest-mismatch");
      expect(() => lstatSync(out)).to.throw();
    });
  });

  it("GIVEN what the provider gave and the dataset's kind WHEN they disagree THEN refused naming the option to use", () => {
    const files = { name: "weights", kind: "files", stage1Method: "none", epsilon: 1, delta: 1e-9 };
    const table = { name: "claims", stage1Method: "none", epsilon: 1, delta: 1e-9 };
    expect(provisionsTree("m", files, { kind: "files" })).to.equal(true);
    expect(provisionsTree("m", files, {})).to.equal(true);
    expect(provisionsTree("m", table, { format: "csv" })).to.equal(false);
    expect(() => provisionsTree("m", files, { kind: "table", format: "csv" })).to.throw(/kind: "files"\), not a table: provision its directory .* with --dir <tree>/);
    expect(() => provisionsTree("m", table, { kind: "files" })).to.throw(/is a table in the room's spec, not a files dataset: provision it with --csv <file>/);
  });
});

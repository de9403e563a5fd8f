import { expect } from "chai";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  assertDigest,
  canonicalDigest,
  canonicalJson,
  CleanRoomError,
  compareManifests,
  hashFile,
  type JobManifest,
  jobDigest,
  listFiles,
  type Manifest,
  manifestBytes,
  manifestDigest,
  manifestOf,
} from "../../src/core/index.js";

const ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // FIPS 180-2 "abc"
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("core/digest: canonical JSON (RFC 8785 vectors)", () => {
  it("GIVEN the §3.2.2 example input THEN the output is the RFC's canonical text", () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalJson(JSON.parse(input))).to.equal(expected);
  });

  it("GIVEN the §3.2.3 sorting example THEN keys are ordered by UTF-16 code units (emoji before U+FB33)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    // (Object.keys would put the integer-like key "1" first: JS property order, not JSON order; compare the text.)
    expect(canonicalJson(input)).to.equal(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  describe("Appendix B number serialization (IEEE 754 bit patterns)", () => {
    const vectors: [string, string][] = [
      ["0000000000000000", "0"],
      ["8000000000000000", "0"], // minus zero
      ["0000000000000001", "5e-324"],
      ["8000000000000001", "-5e-324"],
      ["7fefffffffffffff", "1.7976931348623157e+308"],
      ["ffefffffffffffff", "-1.7976931348623157e+308"],
      ["4340000000000000", "9007199254740992"],
      ["c340000000000000", "-9007199254740992"],
      ["4430000000000000", "295147905179352830000"],
      ["44b52d02c7e14af5", "9.999999999999997e+22"],
      ["44b52d02c7e14af6", "1e+23"],
      ["44b52d02c7e14af7", "1.0000000000000001e+23"],
      ["444b1ae4d6e2ef4e", "999999999999999700000"],
      ["444b1ae4d6e2ef4f", "999999999999999900000"],
      ["444b1ae4d6e2ef50", "1e+21"],
      ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
      ["3eb0c6f7a0b5ed8d", "0.000001"],
      ["41b3de4355555553", "333333333.3333332"],
      ["41b3de4355555554", "333333333.33333325"],
      ["41b3de4355555555", "333333333.3333333"],
      ["41b3de4355555556", "333333333.3333334"],
      ["41b3de4355555557", "333333333.33333343"],
      ["becbf647612f3696", "-0.0000033333333333333333"],
      ["43143ff3c1cb0959", "1424953923781206.2"],
    ];
    for (const [hex, text] of vectors) {
      it(`GIVEN 0x${hex} THEN ${text}`, () => {
        expect(canonicalJson(Buffer.from(hex, "hex").readDoubleBE(0))).to.equal(text);
      });
    }
    for (const [hex, name] of [["7fffffffffffffff", "NaN"], ["7ff0000000000000", "Infinity"]]) {
      it(`GIVEN 0x${hex} (${name}) THEN invalid-argument: JSON cannot represent it`, () => {
        expect(() => canonicalJson(Buffer.from(hex!, "hex").readDoubleBE(0))).to.throw(CleanRoomError).with.property("code", "invalid-argument");
      });
    }
    it("GIVEN the brief's spot checks THEN 1e30 -> 1e+30, 4.50 -> 4.5, 2e-3 -> 0.002, 1e-7 -> 1e-7", () => {
      // Note: RFC 8785 (Appendix B, 0x3eb0c6f7a0b5ed8d) writes 0.000001 as "0.000001"; exponent form starts at 1e-7.
      expect(canonicalJson([1e30, 4.5, 2e-3, 0.000001, 1e-7])).to.equal("[1e+30,4.5,0.002,0.000001,1e-7]");
    });
  });

  it("GIVEN control characters THEN they use the short escapes or lowercase \\u00XX; unicode stays literal", () => {
    const s = "\u0000\u0001\b\t\n\u000b\f\r\u001f \"\\/\u007f\u00e9\u20ac\ud83d\ude00";
    expect(canonicalJson(s)).to.equal('"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u00e9\u20ac\ud83d\ude00"');
  });

  it("GIVEN nested objects THEN keys sort at every depth and whitespace is removed; arrays keep their order", () => {
    expect(canonicalJson({ b: [3, 1, { z: 1, a: 2 }], a: { d: null, c: true } })).to.equal('{"a":{"c":true,"d":null},"b":[3,1,{"a":2,"z":1}]}');
  });

  it("GIVEN values JSON cannot represent THEN invalid-argument", () => {
    for (const bad of [undefined, () => 1, 10n, Symbol("s"), { a: Number.NaN }]) {
      expect(() => canonicalJson(bad)).to.throw(CleanRoomError).with.property("code", "invalid-argument");
    }
  });

  it("GIVEN a value THEN canonicalDigest is sha256: of its canonical UTF-8 bytes", () => {
    const expected = createHash("sha256").update('{"a":1,"é":"€"}', "utf8").digest("hex");
    expect(canonicalDigest({ "é": "€", a: 1 })).to.equal(`sha256:${expected}`);
  });
});

describe("core/digest: files and manifests", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "acr-core-digest-"));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function tree(dir: string, files: Record<string, string>): Promise<string> {
    await mkdir(dir, { recursive: true });
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(join(dir, ...rel.split("/").slice(0, -1)), { recursive: true });
      await writeFile(join(dir, ...rel.split("/")), content);
    }
    return dir;
  }

  it("GIVEN a file THEN hashFile streams it to the known sha256 and size", async () => {
    await writeFile(join(root, "abc"), "abc");
    await writeFile(join(root, "empty"), "");
    expect(await hashFile(join(root, "abc"))).to.deep.equal({ sha256: ABC_SHA256, bytes: 3 });
    expect(await hashFile(join(root, "empty"))).to.deep.equal({ sha256: EMPTY_SHA256, bytes: 0 });
  });

  it("GIVEN a file larger than one read chunk THEN the digest matches a one-shot hash", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await writeFile(join(root, "big"), big);
    expect((await hashFile(join(root, "big"))).sha256).to.equal(createHash("sha256").update(big).digest("hex"));
  });

  it("GIVEN a missing file or a directory THEN hashFile throws io-error", async () => {
    for (const p of [join(root, "nope"), root]) {
      const err = await hashFile(p).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("io-error");
    }
  });

  it("GIVEN nested files THEN the manifest lists POSIX paths sorted by code unit, and its digest is sha256 of the canonical JSON", async () => {
    await tree(root, { "b.txt": "abc", "a/z.txt": "", "A.txt": "abc" });
    const m = await manifestOf(root);
    expect(m.map((e) => e.path)).to.deep.equal(["A.txt", "a/z.txt", "b.txt"]);
    expect(m[1]).to.deep.equal({ path: "a/z.txt", bytes: 0, sha256: EMPTY_SHA256 });
    // Independent of canonicalize: the canonical form written out by hand.
    const text = `[{"bytes":3,"path":"A.txt","sha256":"${ABC_SHA256}"},{"bytes":0,"path":"a/z.txt","sha256":"${EMPTY_SHA256}"},{"bytes":3,"path":"b.txt","sha256":"${ABC_SHA256}"}]`;
    expect(manifestDigest(m)).to.equal(`sha256:${createHash("sha256").update(text).digest("hex")}`);
    expect(manifestBytes(m)).to.equal(6);
  });

  it("GIVEN the same content created in a different order with different mtimes THEN the same digest", async () => {
    const one = await tree(join(root, "one"), { "x/1.csv": "1,2\n", "x/2.csv": "3,4\n", "main.py": "print(1)\n" });
    const two = await tree(join(root, "two"), { "main.py": "print(1)\n", "x/2.csv": "3,4\n", "x/1.csv": "1,2\n" });
    await utimes(join(two, "main.py"), new Date(0), new Date(86_400_000));
    await utimes(join(one, "x", "1.csv"), new Date(), new Date(2_000_000_000_000));
    expect(manifestDigest(await manifestOf(one))).to.equal(manifestDigest(await manifestOf(two)));
  });

  it("GIVEN one changed byte, a renamed file, an added file or a removed file THEN the digest changes", async () => {
    const dir = await tree(join(root, "d"), { "a.csv": "hello\n", "sub/b.csv": "world\n" });
    const base = manifestDigest(await manifestOf(dir));
    const seen = new Set([base]);

    await writeFile(join(dir, "a.csv"), "hellp\n"); // same size, one byte differs
    const changed = manifestDigest(await manifestOf(dir));
    expect(seen.has(changed)).to.equal(false);
    seen.add(changed);
    await writeFile(join(dir, "a.csv"), "hello\n");
    expect(manifestDigest(await manifestOf(dir))).to.equal(base);

    await rename(join(dir, "sub", "b.csv"), join(dir, "sub", "c.csv"));
    const renamed = manifestDigest(await manifestOf(dir));
    expect(seen.has(renamed)).to.equal(false);
    seen.add(renamed);
    await rename(join(dir, "sub", "c.csv"), join(dir, "sub", "b.csv"));

    await writeFile(join(dir, "extra"), "");
    const added = manifestDigest(await manifestOf(dir));
    expect(seen.has(added)).to.equal(false);
    await rm(join(dir, "extra"));
    await rm(join(dir, "sub", "b.csv"));
    expect(seen.has(manifestDigest(await manifestOf(dir)))).to.equal(false);
  });

  it("GIVEN an empty subdirectory THEN it is not part of the manifest (only regular files are)", async () => {
    await tree(root, { "a.txt": "abc" });
    const before = manifestDigest(await manifestOf(root));
    await mkdir(join(root, "empty"));
    expect(manifestDigest(await manifestOf(root))).to.equal(before);
  });

  it("GIVEN a symbolic link THEN rejected by default, skipped with onSpecial 'skip', never followed", async () => {
    await tree(root, { "real.txt": "abc", "dir/inner.txt": "x" });
    await symlink(join(root, "real.txt"), join(root, "link.txt"));
    await symlink(join(root, "dir"), join(root, "linkdir"));
    const err = await manifestOf(root).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("invalid-manifest");
    expect((err as Error).message).to.match(/link(dir|\.txt) .* symbolic link/);
    const m = await manifestOf(root, { onSpecial: "skip" });
    expect(m.map((e) => e.path)).to.deep.equal(["dir/inner.txt", "real.txt"]);
  });

  it("GIVEN exclude paths THEN those files and directories are left out", async () => {
    await tree(root, { "keep.txt": "1", "skip.txt": "2", "cache/x": "3" });
    expect(await listFiles(root, { exclude: ["skip.txt", "cache"] })).to.deep.equal(["keep.txt"]);
  });

  it("GIVEN a missing root or a file as root THEN io-error / invalid-argument", async () => {
    await writeFile(join(root, "f"), "x");
    const missing = await manifestOf(join(root, "nope")).then(() => undefined, (e: unknown) => e);
    expect((missing as CleanRoomError).code).to.equal("io-error");
    const notDir = await manifestOf(join(root, "f")).then(() => undefined, (e: unknown) => e);
    expect((notDir as CleanRoomError).code).to.equal("invalid-argument");
  });
});

describe("core/digest: compareManifests", () => {
  const e = (path: string, sha: string, bytes = 1) => ({ path, bytes, sha256: sha.repeat(64) });
  it("GIVEN expected and actual manifests THEN changed, missing and extra files are listed by path", () => {
    const expected: Manifest = [e("a", "1"), e("b", "2"), e("c", "3"), e("d", "4")];
    const actual: Manifest = [e("a", "1"), e("b", "9"), e("d", "4", 2), e("e", "5")];
    expect(compareManifests(expected, actual)).to.deep.equal([
      { path: "b", kind: "changed" },
      { path: "c", kind: "missing" },
      { path: "d", kind: "changed" },
      { path: "e", kind: "extra" },
    ]);
    expect(compareManifests(expected, expected)).to.deep.equal([]);
  });
  it("GIVEN something that is not a manifest THEN invalid-manifest", () => {
    expect(() => compareManifests(null as unknown as Manifest, [])).to.throw(CleanRoomError).with.property("code", "invalid-manifest");
    expect(() => manifestDigest([{ path: "a", bytes: 1 }] as unknown as Manifest)).to.throw(CleanRoomError).with.property("code", "invalid-manifest");
  });
});

describe("core/digest: the job digest", () => {
  const job: JobManifest = {
    version: 1,
    entrypoint: ["python3", "main.py"],
    inputs: [{ provider: "hospital-a", dataset: "patients" }],
    files: [{ path: "main.py", bytes: 3, sha256: ABC_SHA256 }],
  };
  it("GIVEN a job manifest THEN its digest is sha256: of the canonical JSON, independent of key order", () => {
    const text = `{"entrypoint":["python3","main.py"],"files":[{"bytes":3,"path":"main.py","sha256":"${ABC_SHA256}"}],"inputs":[{"dataset":"patients","provider":"hospital-a"}],"version":1}`;
    expect(jobDigest(job)).to.equal(`sha256:${createHash("sha256").update(text).digest("hex")}`);
    const reordered = { files: job.files, inputs: job.inputs, entrypoint: job.entrypoint, version: 1 } as const;
    expect(jobDigest(reordered)).to.equal(jobDigest(job));
  });
  it("GIVEN a change to the code, the entrypoint or the inputs THEN the digest changes", () => {
    const base = jobDigest(job);
    const variants: JobManifest[] = [
      { ...job, entrypoint: ["python3", "-O", "main.py"] },
      { ...job, inputs: [{ provider: "hospital-a", dataset: "claims" }] },
      { ...job, inputs: [] },
      { ...job, files: [{ path: "main.py", bytes: 3, sha256: EMPTY_SHA256 }] },
      { ...job, files: [{ path: "Main.py", bytes: 3, sha256: ABC_SHA256 }] },
    ];
    const digests = new Set(variants.map(jobDigest));
    expect(digests.size).to.equal(variants.length);
    expect(digests.has(base)).to.equal(false);
  });
  it("GIVEN a malformed job manifest THEN invalid-manifest naming the field", () => {
    const bad: [unknown, string][] = [
      [null, "job manifest must be a JSON object"],
      [{ ...job, version: 2 }, "job.version"],
      [{ ...job, entrypoint: [] }, "job.entrypoint"],
      [{ ...job, inputs: [{ provider: "p" }] }, "job.inputs[0]"],
      [{ ...job, files: [{ path: "x", bytes: 1, sha256: "nothex" }] }, "job.files[0].sha256"],
    ];
    for (const [value, fragment] of bad) {
      expect(() => jobDigest(value as JobManifest)).to.throw(CleanRoomError, fragment).with.property("code", "invalid-manifest");
    }
  });
  it("GIVEN assertDigest THEN only sha256:<64 lowercase hex> passes", () => {
    expect(() => assertDigest(`sha256:${ABC_SHA256}`, "job digest")).not.to.throw();
    expect(() => assertDigest(ABC_SHA256, "job digest")).to.throw(CleanRoomError, "job digest must be sha256:");
  });
});

/**
 * Digests and manifests at their edges: the order files are listed in, failures that keep their cause, manifests and
 * job manifests with fields of the wrong type, and the typed errors' problem lists.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  CleanRoomError,
  assertDigest,
  canonicalJson,
  compareManifests,
  comparePaths,
  hashFile,
  isDigest,
  jobDigest,
  jobManifestProblems,
  listFiles,
  manifestBytes,
  manifestDigest,
  manifestProblems,
  messageOf,
  throwIfProblems,
} from "../../src/core/index.js";
import { thrown, rejected } from "../thrown.js";

const HEX = "a".repeat(64);
const DIGEST = `sha256:${HEX}`;

function job(): Record<string, unknown> {
  return { version: 1, entrypoint: ["python3", "main.py"], inputs: [{ provider: "a", dataset: "d" }], files: [{ path: "main.py", bytes: 1, sha256: HEX }] };
}

describe("core/digest: edges", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-digest-edges-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN files whose names sort around '/' (a-b, a.c, a/c, a0) WHEN listed THEN in code-unit order of the whole path, not directory by directory", async () => {
    for (const f of ["a0", "a.c", "a-b"]) writeFileSync(join(dir, f), f);
    mkdirSync(join(dir, "a"));
    writeFileSync(join(dir, "a", "c"), "c");
    expect(await listFiles(dir)).to.deep.equal(["a-b", "a.c", "a/c", "a0"]);
  });

  it("GIVEN no exclude option WHEN listed THEN nothing is left out, whatever the names (spaces included)", async () => {
    // Pins the default exclusion list as empty: a default holding any name would silently drop that file from a job.
    for (const f of ["Stryker was here", "notes x.txt"]) writeFileSync(join(dir, f), f);
    expect(await listFiles(dir)).to.deep.equal(["Stryker was here", "notes x.txt"]);
  });

  it("GIVEN two paths WHEN compared THEN -1, 1 or 0 by UTF-16 code units (not locale: 'B' before 'a')", () => {
    expect(comparePaths("B", "a")).to.equal(-1);
    expect(comparePaths("a", "B")).to.equal(1);
    expect(comparePaths("a/b", "a/b")).to.equal(0);
    expect(["b", "a/c", "B", "a-b"].sort(comparePaths)).to.deep.equal(["B", "a-b", "a/c", "b"]);
  });

  it("GIVEN a value canonical JSON cannot hold (a bigint) WHEN serialized THEN invalid-argument keeping the serializer's error as cause", () => {
    const err = thrown(() => canonicalJson({ n: 1n }));
    expect(err.code).to.equal("invalid-argument");
    expect(err.cause).to.be.instanceOf(Error);
  });

  it("GIVEN a missing file or directory WHEN hashed or listed THEN io-error keeping the system error (ENOENT) as cause", async () => {
    const hashErr = await rejected(hashFile(join(dir, "missing")));
    expect(hashErr.code).to.equal("io-error");
    expect((hashErr.cause as NodeJS.ErrnoException).code).to.equal("ENOENT");
    const listErr = await rejected(listFiles(join(dir, "missing")));
    expect(listErr.code).to.equal("io-error");
    expect((listErr.cause as NodeJS.ErrnoException).code).to.equal("ENOENT");
  });

  it("GIVEN a directory under the root this process may not read WHEN listed THEN io-error naming that directory, with EACCES as the cause (never a silently shorter list)", async () => {
    // The root and the directory's own entry are readable (lstat succeeds), but listing the directory is refused: the
    // failure must stop the manifest, since a job or result missing the files it holds would still be digested.
    writeFileSync(join(dir, "a.txt"), "a");
    const locked = join(dir, "locked");
    mkdirSync(locked);
    writeFileSync(join(locked, "secret.txt"), "s");
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o000);
    // root lists any directory: for the listing, drop the effective uid to nobody's (restored at once), as a provider's
    // ordinary account would run.
    const asRoot = process.getuid?.() === 0;
    let err: CleanRoomError;
    if (asRoot) process.seteuid?.(65534);
    try {
      err = await rejected(listFiles(dir));
    } finally {
      if (asRoot) process.seteuid?.(0);
      chmodSync(locked, 0o700);
    }
    expect(process.geteuid?.()).to.equal(process.getuid?.());
    expect(err).to.be.instanceOf(CleanRoomError);
    expect(err.code).to.equal("io-error");
    expect(err.message).to.contain(`Cannot list ${locked}:`);
    expect((err.cause as NodeJS.ErrnoException).code).to.equal("EACCES");
  });

  it("GIVEN a tree deeper than the system's path limit WHEN listed THEN io-error keeping the system error (ENAMETOOLONG) as cause", async () => {
    // 17 directories of 250 characters: every step is a relative mkdir/cd, but the absolute path passes PATH_MAX (4096).
    const deep = join(dir, "deep");
    mkdirSync(deep);
    try {
      execFileSync("bash", ["-c", 'cd "$1" && for i in $(seq 17); do mkdir "$2" && cd -P "$2"; done && echo x > f', "bash", deep, "d".repeat(250)]);
      const err = await rejected(listFiles(deep));
      expect(err.code).to.equal("io-error");
      expect((err.cause as NodeJS.ErrnoException).code).to.equal("ENAMETOOLONG");
    } finally {
      // Node's recursive rm walks absolute paths too; rm(1) descends relative to each directory.
      execFileSync("rm", ["-rf", deep]);
    }
  });

  it("GIVEN manifests that are not arrays, or entries with a field missing or mistyped WHEN checked THEN one problem per entry, named by index", () => {
    expect(manifestProblems("x")).to.deep.equal(["manifest must be an array of {path, bytes, sha256}"]);
    const shape = (i: number) => `manifest[${i}] must be {path (non-empty), bytes (integer >= 0), sha256 (64 lowercase hex)}`;
    expect(manifestProblems([null, "x", { path: 1, bytes: 1, sha256: HEX }, { path: "", bytes: 1, sha256: HEX }, { path: "p", bytes: -1, sha256: HEX }])).to.deep.equal(
      [0, 1, 2, 3, 4].map(shape),
    );
    expect(manifestProblems([{ path: "p", bytes: 0, sha256: [HEX] }])).to.deep.equal(["manifest[0].sha256 must be 64 lowercase hex characters"]);
    expect(manifestProblems([{ path: "p", bytes: 0, sha256: HEX }])).to.deep.equal([]);
  });

  it("GIVEN a bad manifest WHEN digested, summed or compared THEN invalid-manifest listing its problems under the manifest's role", () => {
    const bad = [{ path: "", bytes: 1, sha256: HEX }] as never;
    const good = [{ path: "p", bytes: 1, sha256: HEX }];
    const shape = "[0] must be {path (non-empty), bytes (integer >= 0), sha256 (64 lowercase hex)}";
    expect(thrown(() => manifestDigest(bad)).problems).to.deep.equal([`manifest${shape}`]);
    expect(thrown(() => manifestBytes(bad)).problems).to.deep.equal([`manifest${shape}`]);
    expect(thrown(() => compareManifests(bad, good)).problems).to.deep.equal([`expected manifest${shape}`]);
    expect(thrown(() => compareManifests(good, bad)).problems).to.deep.equal([`actual manifest${shape}`]);
  });

  it("GIVEN a missing file and an extra one that sorts before it WHEN manifests are compared THEN the differences come sorted by path", () => {
    const e = (path: string) => ({ path, bytes: 1, sha256: HEX });
    expect(compareManifests([e("b")], [e("a")])).to.deep.equal([
      { path: "a", kind: "extra" },
      { path: "b", kind: "missing" },
    ]);
  });

  it("GIVEN job manifests with a mistyped entrypoint or input WHEN checked THEN each is named; jobDigest lists them in problems", () => {
    expect(jobManifestProblems({ ...job(), entrypoint: ["python3", 1] })).to.deep.equal(["job.entrypoint must be a non-empty array of strings (argv)"]);
    expect(jobManifestProblems({ ...job(), inputs: {} })).to.deep.equal(["job.inputs must be an array of {provider, dataset}"]);
    expect(jobManifestProblems({ ...job(), inputs: [null, "x", { provider: 1, dataset: "d" }, { provider: "a", dataset: 1 }] })).to.deep.equal(
      [0, 1, 2, 3].map((i) => `job.inputs[${i}] must be {provider, dataset}`),
    );
    expect(thrown(() => jobDigest({ ...job(), version: 2 } as never)).problems).to.deep.equal(["job.version must be 1 (got 2)"]);
  });

  it("GIVEN a digest inside an array, or a non-string WHEN asserted or tested THEN refused; a real digest THEN accepted", () => {
    expect(() => assertDigest([DIGEST], "job digest")).to.throw(CleanRoomError);
    expect(() => assertDigest(DIGEST, "job digest")).not.to.throw();
    expect(isDigest(DIGEST)).to.equal(true);
    expect(isDigest([DIGEST])).to.equal(false);
    expect(isDigest(`sha256:${"A".repeat(64)}`)).to.equal(false);
    expect(isDigest(undefined)).to.equal(false);
  });
});

describe("core/errors: edges", () => {
  it("GIVEN an error built without problems WHEN read THEN its problem list is empty", () => {
    expect(new CleanRoomError("io-error", "x").problems).to.deep.equal([]);
  });

  it("GIVEN one or two problems WHEN thrown together THEN the heading counts them in the right number", () => {
    expect(thrown(() => throwIfProblems("invalid-spec", "spec", ["a"])).message).to.equal("Invalid spec: 1 problem:\n  - a");
    expect(thrown(() => throwIfProblems("invalid-spec", "spec", ["a", "b"])).message).to.equal("Invalid spec: 2 problems:\n  - a\n  - b");
  });

  it("GIVEN an Error, a string or a number WHEN turned into a message THEN the message, or the value as text", () => {
    expect(messageOf(new TypeError("bad"))).to.equal("bad");
    expect(messageOf("plain")).to.equal("plain");
    expect(messageOf(42)).to.equal("42");
  });
});

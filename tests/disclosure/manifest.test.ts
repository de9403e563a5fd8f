import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  MAX_OUTPUT_MANIFEST_BYTES,
  parseOutputDeclarations,
  readOutputDeclarations,
} from "../../src/runtime/disclosure/manifest.js";

const PATHS = ["counts.csv", "fit.json", "w.bin", "notes.txt"];

function valid(): Record<string, unknown> {
  return {
    version: 1,
    outputs: [
      { path: "counts.csv", kind: "table", cells: [{ count: 12 }, { count: 30, contributions: { top: [1, 9], total: 40 } }] },
      { path: "fit.json", kind: "regression", residualDf: 42 },
      { path: "w.bin", kind: "model" },
      { path: "notes.txt", kind: "text" },
    ],
  };
}

describe("runtime/disclosure/manifest: parseOutputDeclarations", () => {
  it("GIVEN the documented example THEN every output is declared and top contributions are sorted largest first", () => {
    const d = parseOutputDeclarations(JSON.stringify(valid()), PATHS);
    expect(d.manifestProblems).to.deep.equal([]);
    expect(d.problemsByPath.size).to.equal(0);
    expect([...d.byPath.keys()]).to.deep.equal(PATHS);
    expect(d.byPath.get("counts.csv")?.cells?.[1].contributions?.top).to.deep.equal([9, 1]);
    expect(d.byPath.get("fit.json")?.residualDf).to.equal(42);
  });

  it("GIVEN text that is not JSON THEN one manifest problem that does not quote the text", () => {
    const d = parseOutputDeclarations('{"version": 1, "outputs": [SECRET-ROW-42', PATHS);
    expect(d.manifestProblems).to.have.length(1);
    expect(d.manifestProblems[0]).to.match(/not valid JSON/);
    expect(JSON.stringify(d.manifestProblems)).not.to.contain("SECRET");
  });

  it("GIVEN a wrong version or top-level shape THEN a manifest problem", () => {
    expect(parseOutputDeclarations('{"version":2,"outputs":[]}', PATHS).manifestProblems[0]).to.match(/"version": 1/);
    expect(parseOutputDeclarations("[]", PATHS).manifestProblems).to.have.length(1);
    expect(parseOutputDeclarations('{"version":1,"outputs":[],"x":1}', PATHS).manifestProblems[0]).to.match(/does not take/);
  });

  it("GIVEN an entry naming a file that is not an output THEN a manifest problem naming the entry by position, not by its path", () => {
    const m = valid();
    (m.outputs as unknown[]).push({ path: "Alice Smith 1970-01-01", kind: "text" });
    const d = parseOutputDeclarations(JSON.stringify(m), PATHS);
    expect(d.manifestProblems).to.deep.equal([
      "outputs[4].path names no output file of the job (paths are relative to $CLEANROOM_OUTPUT, with /)",
    ]);
  });

  it("GIVEN a manifest over the size bound THEN it is refused before parsing", () => {
    const d = parseOutputDeclarations(" ".repeat(MAX_OUTPUT_MANIFEST_BYTES + 1), PATHS);
    expect(d.manifestProblems[0]).to.match(/larger than/);
  });

  const broken: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown kind", { path: "counts.csv", kind: "histogram" }, /kind must be one of/],
    ["a table without cells", { path: "counts.csv", kind: "table" }, /cells must be an array/],
    ["a negative count", { path: "counts.csv", kind: "table", cells: [{ count: -1 }] }, /cells\[0\]\.count/],
    ["a fractional count", { path: "counts.csv", kind: "table", cells: [{ count: 1.5 }] }, /cells\[0\]\.count/],
    ["a negative contribution", { path: "counts.csv", kind: "table", cells: [{ count: 3, contributions: { top: [-5], total: 5 } }] }, /top must be/],
    ["a total below its top", { path: "counts.csv", kind: "table", cells: [{ count: 3, contributions: { top: [5, 4], total: 6 } }] }, /total is smaller/],
    ["more top contributions than records", { path: "counts.csv", kind: "table", cells: [{ count: 1, contributions: { top: [5, 4], total: 9 } }] }, /more contributions than/],
    ["a margin below the count", { path: "counts.csv", kind: "table", cells: [{ count: 5, margin: 4 }] }, /margin must be/],
    ["an unknown cell key", { path: "counts.csv", kind: "table", cells: [{ count: 5, value: 1234 }] }, /does not take/],
    ["a regression without residualDf", { path: "fit.json", kind: "regression" }, /residualDf/],
    ["a table key on a model", { path: "w.bin", kind: "model", cells: [] }, /does not take/],
  ];
  for (const [what, entry, message] of broken) {
    it(`GIVEN ${what} THEN that output alone has a problem and no declaration`, () => {
      const d = parseOutputDeclarations(JSON.stringify({ version: 1, outputs: [entry] }), PATHS);
      expect(d.manifestProblems).to.deep.equal([]);
      const path = entry.path as string;
      expect(d.byPath.has(path)).to.equal(false);
      expect(d.problemsByPath.get(path)?.join("\n")).to.match(message);
    });
  }

  it("GIVEN an output declared twice THEN it has a problem and no declaration", () => {
    const m = { version: 1, outputs: [{ path: "notes.txt", kind: "text" }, { path: "notes.txt", kind: "model" }] };
    const d = parseOutputDeclarations(JSON.stringify(m), PATHS);
    expect(d.byPath.has("notes.txt")).to.equal(false);
    expect(d.problemsByPath.get("notes.txt")?.[0]).to.match(/earlier entry/);
  });

  it("GIVEN a huge broken table THEN the problems are capped", () => {
    const cells = Array.from({ length: 500 }, () => ({ count: -1 }));
    const d = parseOutputDeclarations(JSON.stringify({ version: 1, outputs: [{ path: "counts.csv", kind: "table", cells }] }), PATHS);
    expect(d.problemsByPath.get("counts.csv")).to.have.length(20);
  });
});

describe("runtime/disclosure/manifest: readOutputDeclarations", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "acr-disc-manifest-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("GIVEN no outputs.json THEN no declarations and no problems", async () => {
    const d = await readOutputDeclarations(dir, PATHS);
    expect(d.byPath.size).to.equal(0);
    expect(d.manifestProblems).to.deep.equal([]);
  });

  it("GIVEN a valid outputs.json on disk THEN it is read", async () => {
    await writeFile(join(dir, "outputs.json"), JSON.stringify(valid()));
    expect((await readOutputDeclarations(dir, PATHS)).byPath.size).to.equal(4);
  });

  it("GIVEN outputs.json is a symbolic link THEN it is not followed and is a manifest problem", async () => {
    await writeFile(join(dir, "elsewhere.json"), JSON.stringify(valid()));
    await symlink(join(dir, "elsewhere.json"), join(dir, "outputs.json"));
    const d = await readOutputDeclarations(dir, PATHS);
    expect(d.byPath.size).to.equal(0);
    expect(d.manifestProblems[0]).to.match(/regular file/);
  });

  it("GIVEN an oversized outputs.json on disk THEN a manifest problem, not a crash", async () => {
    await writeFile(join(dir, "outputs.json"), Buffer.alloc(MAX_OUTPUT_MANIFEST_BYTES + 10, 0x20));
    expect((await readOutputDeclarations(dir, PATHS)).manifestProblems[0]).to.match(/larger than/);
  });
});

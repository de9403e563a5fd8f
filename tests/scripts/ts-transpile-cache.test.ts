/**
 * scripts/ts-transpile-cache.js, the ts-node transpiler tsconfig.json names: through the real ts-node, a cached
 * transpile gives exactly what ts-node's own transpile-only mode gives, and the cache stays bounded.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create as createService } from "ts-node";
import { REPO_ROOT } from "../components/harness.js";

const TRANSPILER = join(REPO_ROOT, "scripts", "ts-transpile-cache.js");
const PROJECT = join(REPO_ROOT, "tsconfig.json");
const DAY_MS = 24 * 3600 * 1000;

/** Every entry file under the cache directory (`<salt>/<key>.json`). */
function entries(cacheDir: string): string[] {
  if (!existsSync(cacheDir)) return [];
  return readdirSync(cacheDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(cacheDir, d.name)).map((f) => join(cacheDir, d.name, f)));
}

describe("scripts/ts-transpile-cache.js: ts-node's transpiler, cached by content", function () {
  this.timeout(60_000);
  let cacheDir: string;

  beforeEach(() => {
    cacheDir = mkdtempSync(join(tmpdir(), "acr-ts-cache-"));
  });
  afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

  const cached = () => createService({ projectSearchDir: REPO_ROOT, transpileOnly: true, transpiler: [TRANSPILER, { cacheDir }] });

  it("GIVEN the repository's tsconfig WHEN ts-node reads it THEN its transpiler is this cache (a lost setting would make every test process transpile again)", () => {
    const service = createService({ projectSearchDir: REPO_ROOT, transpileOnly: true });
    expect(service.options.transpiler).to.equal("./scripts/ts-transpile-cache.js");
  });

  it("GIVEN every tsconfig a Pulumi language host reads (the examples' programs, the plugin) WHEN ts-node is created type-checking, as PULUMI_NODEJS_TRANSPILE_ONLY=false and run-plugin do THEN it starts (ts-node refuses the inherited custom transpiler when type-checking)", () => {
    const dirs = ["examples/quickstart", "examples/gpu", "examples/multi-party", "examples/multi-party/hospital", "examples/multi-party/insurer", "plugin"];
    for (const dir of dirs) {
      expect(existsSync(join(REPO_ROOT, dir, "tsconfig.json")), dir).to.equal(true);
      const service = createService({ projectSearchDir: join(REPO_ROOT, dir), transpileOnly: false });
      expect(service.options.transpiler, dir).to.equal(null);
    }
  });

  it("GIVEN source files of every kind in the repository WHEN compiled cold and then from the cache THEN both equal ts-node's own transpile-only output", () => {
    // ts-node without a transpiler of its own: the repository's compiler options, not its ts-node section.
    const { compilerOptions } = JSON.parse(readFileSync(PROJECT, "utf8")) as { compilerOptions: object };
    const plain = createService({ skipProject: true, transpileOnly: true, compilerOptions });
    expect(plain.options.transpiler).to.equal(undefined);
    // A CLI module (enums, classes, async), a test (chai, mocha globals) and a component (Pulumi classes).
    for (const rel of ["src/runtime/cli.ts", "tests/verify/token.test.ts", "src/components/data-clean-room.ts", "src/core/errors.ts"]) {
      const file = join(REPO_ROOT, rel);
      const code = readFileSync(file, "utf8");
      const expected = plain.compile(code, file);
      expect(cached().compile(code, file), `${rel}, cold`).to.equal(expected);
      expect(cached().compile(code, file), `${rel}, from the cache`).to.equal(expected);
    }
    expect(entries(cacheDir)).to.have.length(4);
  });

  it("GIVEN an entry for a file WHEN the same name and text are compiled again THEN the entry's output is what is used (no transpile)", () => {
    const file = join(REPO_ROOT, "src", "example.ts");
    cached().compile("export const answer: number = 42;\n", file);
    const [entry] = entries(cacheDir);
    const stored = JSON.parse(readFileSync(entry!, "utf8")) as { outputText: string };
    writeFileSync(entry!, JSON.stringify({ ...stored, outputText: stored.outputText.replace("42", "43") }));
    expect(cached().compile("export const answer: number = 42;\n", file)).to.match(/exports\.answer = 43;/);
    // Another text of the same file is another key: transpiled, never the old output.
    expect(cached().compile("export const answer: number = 7;\n", file)).to.match(/exports\.answer = 7;/);
  });

  it("GIVEN a syntax error WHEN compiled THEN ts-node reports it as without the cache, and nothing is cached", () => {
    const file = join(REPO_ROOT, "src", "broken.ts");
    expect(() => cached().compile("export const = ;\n", file)).to.throw(/Unable to compile TypeScript/);
    expect(entries(cacheDir)).to.deep.equal([]);
  });

  it("GIVEN entries older than 7 days and a marker older than a day WHEN a transpiler is created THEN the old entries go and the recent one stays", () => {
    const salt = join(cacheDir, "0123456789abcdef");
    mkdirSync(salt, { recursive: true });
    const old = Date.now() / 1000 - 8 * 24 * 3600;
    for (const name of ["old.json", "recent.json"]) writeFileSync(join(salt, name), "{}");
    utimesSync(join(salt, "old.json"), old, old);
    writeFileSync(join(cacheDir, ".pruned"), "");
    utimesSync(join(cacheDir, ".pruned"), (Date.now() - 2 * DAY_MS) / 1000, (Date.now() - 2 * DAY_MS) / 1000);
    cached().compile("export {};\n", join(REPO_ROOT, "src", "x.ts"));
    expect(existsSync(join(salt, "old.json"))).to.equal(false);
    expect(existsSync(join(salt, "recent.json"))).to.equal(true);
  });

  it("GIVEN a cache directory that cannot be created WHEN compiling THEN the file is transpiled all the same", () => {
    writeFileSync(join(cacheDir, "file"), "");
    const service = createService({ projectSearchDir: REPO_ROOT, transpileOnly: true, transpiler: [TRANSPILER, { cacheDir: join(cacheDir, "file", "cache") }] });
    expect(service.compile("export const x = 1;\n", join(REPO_ROOT, "src", "x.ts"))).to.match(/exports\.x = 1;/);
  });
});

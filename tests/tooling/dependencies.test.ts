/**
 * The project's own tooling declares what it imports: a package that is only installed because another one depends on
 * it can disappear (or change major) on any `npm install`, and the script breaks without any change of ours.
 */
import { readFileSync, readdirSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { expect } from "chai";
import ts from "typescript";

const ROOT = join(__dirname, "..", "..");

interface PackageJson {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

interface Lock {
  packages: Record<string, { version?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as Lock;

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`); undefined for relative and built-in imports. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:")) return undefined;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  return builtinModules.includes(name) ? undefined : name;
}

/** Every package imported (statically, dynamically or with require) by the files of a folder. */
function importsOf(dir: string): Array<{ file: string; name: string }> {
  const out: Array<{ file: string; name: string }> = [];
  for (const entry of readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name)) continue;
    const file = join(entry.parentPath, entry.name);
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const imported of info.importedFiles) {
      const name = packageOf(imported.fileName);
      if (name !== undefined) out.push({ file: file.slice(ROOT.length + 1), name });
    }
  }
  return out;
}

describe("tooling: declared dependencies", () => {
  it("GIVEN the scripts (mutation counting, docs, goldens, preview) WHEN their imports are listed THEN each package is a direct dependency or devDependency", () => {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]);
    const found = importsOf("scripts");
    expect(found.map((i) => i.name)).to.include("@stryker-mutator/instrumenter");
    const undeclared = found.filter((i) => !declared.has(i.name)).map((i) => `${i.file} imports ${i.name}`);
    expect(undeclared, "add them to package.json (npm install -D <name>@<the version the lock resolves>)").to.deep.equal([]);
  });

  it("GIVEN package.json WHEN compared with package-lock.json THEN the lock's root lists the same ranges and every @stryker-mutator package resolves to core's version", () => {
    const root = lock.packages[""]!;
    expect(root.dependencies).to.deep.equal(pkg.dependencies);
    expect(root.devDependencies).to.deep.equal(pkg.devDependencies);
    const core = lock.packages["node_modules/@stryker-mutator/core"]?.version;
    expect(core).to.match(/^\d+\.\d+\.\d+/);
    for (const name of Object.keys(pkg.devDependencies).filter((n) => n.startsWith("@stryker-mutator/"))) {
      expect(lock.packages[`node_modules/${name}`]?.version, name).to.equal(core);
    }
  });
});

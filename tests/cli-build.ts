/**
 * The `cleanroom` command as tests run it in a child process (the docs' local sessions, the DP seed refusal, the fake
 * VM's executor): this checkout's sources transpiled ONCE into a directory laid out like the installed package
 * (package.json, node_modules, dist/src, bin/), instead of a ts-node start per command (~2.5 s of CPU each, the bulk of
 * a doc session on a busy machine; ~0.4 s compiled).
 *
 * The transform is the one `ts-node/register/transpile-only` applies (TypeScript's `transpileModule`, CommonJS, the
 * tsconfig's target), so what runs is what the rest of the suite runs; type errors are `npm run typecheck`'s job.
 * Running the package layout also exercises the bin's dist path and the local backend's installed-package path
 * (`buildClosure` copying `dist/`), which a ts-node run never takes.
 */
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { REPO_ROOT } from "./components/harness.js";

let built: string | undefined;

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Compiler options of the checkout (tsconfig.json), as ts-node reads them, forced to CommonJS like the package. */
function compilerOptions(): ts.CompilerOptions {
  const file = join(REPO_ROOT, "tsconfig.json");
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(file, ts.sys.readFile).config, ts.sys, REPO_ROOT);
  return { ...parsed.options, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, sourceMap: false, inlineSourceMap: true, declaration: false, noEmit: false };
}

/** Everything the build depends on, hashed: a build is reused (across mocha workers and runs) until one changes. */
function contentHash(files: readonly string[]): string {
  const h = createHash("sha256");
  for (const f of [...files, join(REPO_ROOT, "package.json"), join(REPO_ROOT, "tsconfig.json"), join(REPO_ROOT, "bin", "cleanroom.js")]) {
    h.update(relative(REPO_ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * Builds the package (once per content: parallel workers and later runs reuse it) and returns its root, a directory
 * of the OS temp dir. The `cleanroom` command of that build is `node <root>/bin/cleanroom.js`.
 */
export function builtPackage(): string {
  if (built) return built;
  const files = sources(join(REPO_ROOT, "src")).sort();
  const prefix = `acr-cli-${createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 8)}-`;
  const root = join(tmpdir(), `${prefix}${contentHash(files)}`);
  if (!existsSync(root)) {
    // Built aside and renamed into place: a directory that exists is complete, whichever worker got there first.
    const tmp = mkdtempSync(join(tmpdir(), `${prefix}tmp-`));
    const options = compilerOptions();
    for (const f of files) {
      const out = ts.transpileModule(readFileSync(f, "utf8"), { fileName: f, compilerOptions: options });
      const dest = join(tmp, "dist", relative(REPO_ROOT, f).replace(/\.ts$/, ".js"));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, out.outputText);
    }
    cpSync(join(REPO_ROOT, "package.json"), join(tmp, "package.json"));
    cpSync(join(REPO_ROOT, "bin"), join(tmp, "bin"), { recursive: true });
    chmodSync(join(tmp, "bin", "cleanroom.js"), 0o755);
    // As `npm install` would leave it: the dependencies beside the package (a link to the checkout's, not a copy).
    symlinkSync(join(REPO_ROOT, "node_modules"), join(tmp, "node_modules"), "dir");
    try {
      renameSync(tmp, root);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another worker renamed its identical build first
    }
    // Bounded: builds of older sources of this checkout go (and builds an interrupted run left half-done).
    for (const name of readdirSync(tmpdir())) {
      const p = join(tmpdir(), name);
      if (!name.startsWith(prefix) || p === root) continue;
      if (name.startsWith(`${prefix}tmp-`) && Date.now() - statSync(p).mtimeMs < 600_000) continue; // maybe in progress
      rmSync(p, { recursive: true, force: true });
    }
  }
  built = root;
  return root;
}

/**
 * The `cleanroom` command as tests run it in a child process (the docs' local sessions, the DP seed refusal): this
 * checkout's sources transpiled ONCE per test process into a directory laid out like the installed package
 * (package.json, node_modules, dist/src, bin/), instead of a ts-node start per command (~2.5 s of CPU each, the bulk of
 * a doc session on a busy machine; ~0.4 s compiled).
 *
 * The transform is the one `ts-node/register/transpile-only` applies (TypeScript's `transpileModule`, CommonJS, the
 * tsconfig's target), so what runs is what the rest of the suite runs; type errors are `npm run typecheck`'s job.
 * Running the package layout also exercises the bin's dist path and the local backend's installed-package path
 * (`buildClosure` copying `dist/`), which a ts-node run never takes.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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

/**
 * Builds the package once per process and returns its root (removed when the process exits). The `cleanroom` command
 * of that build is `node <root>/bin/cleanroom.js`.
 */
export function builtPackage(): string {
  if (built) return built;
  const root = mkdtempSync(join(tmpdir(), "acr-doctest-pkg-"));
  process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  const options = compilerOptions();
  for (const f of sources(join(REPO_ROOT, "src"))) {
    const out = ts.transpileModule(readFileSync(f, "utf8"), { fileName: f, compilerOptions: options });
    const dest = join(root, "dist", relative(REPO_ROOT, f).replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, out.outputText);
  }
  cpSync(join(REPO_ROOT, "package.json"), join(root, "package.json"));
  cpSync(join(REPO_ROOT, "bin"), join(root, "bin"), { recursive: true });
  chmodSync(join(root, "bin", "cleanroom.js"), 0o755);
  // As `npm install` would leave it: the dependencies beside the package (a link to the checkout's, not a copy).
  symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"), "dir");
  built = root;
  return root;
}

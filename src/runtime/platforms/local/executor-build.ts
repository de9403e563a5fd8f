/**
 * The local "executor image": the executor's JavaScript, built once at `cleanroom local up` into `<dir>/executor/`.
 *
 * Its digest (the manifest digest of exactly the files that run) is what local tokens carry as
 * `submods.container.image_digest` and what the room's condition pins, just as GCP pins the image manifest digest.
 * From a source checkout the TypeScript is transpiled here (no `npm run build` needed, and no ts-node start-up cost per
 * job); from an installed package the compiled `dist/` files are copied.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { manifestDigest, manifestOf } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";

/** The built executor. */
export interface ExecutorBuild {
  /** `<dir>/executor` */
  readonly dir: string;
  /** The script node runs. */
  readonly entry: string;
  /** `sha256:` manifest digest of `dir`. */
  readonly digest: string;
  /**
   * `<dir>/node_modules`: the packages the executor loads, copied in at build time, so the digest covers every file
   * that runs (a package edited in the checkout's `node_modules` cannot change what a token's digest stands for).
   */
  readonly nodeModules: string;
}

/** The package root (the directory of this library's package.json). */
export function packageRoot(): string {
  let d = __dirname;
  for (;;) {
    const pj = join(d, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "attested-cleanroom") return d;
      } catch {
        // not ours; keep walking up
      }
    }
    const up = dirname(d);
    if (up === d) throw new CleanRoomError("io-error", "Cannot find the attested-cleanroom package root above " + __dirname);
    d = up;
  }
}

const RELATIVE_IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** Relative-import closure of `entry` (TypeScript sources, `.js` specifiers mapped back to `.ts`). */
async function closure(entry: string): Promise<string[]> {
  const fromTs = entry.endsWith(".ts");
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = await readFile(f, "utf8");
    for (const m of text.matchAll(RELATIVE_IMPORT)) {
      const spec = m[1]!;
      const target = resolve(dirname(f), fromTs ? spec.replace(/\.js$/, ".ts") : spec);
      if (existsSync(target)) queue.push(target);
    }
  }
  return [...seen].sort();
}

/**
 * Transpiles (source checkout) or copies (installed package) the import closure of one entry module into `destDir`,
 * replacing what was there. Returns the path of the built entry.
 *
 * @param entry the entry module relative to `src/`, without extension, e.g. `runtime/executor/main`
 */
export async function buildClosure(destDir: string, entry: string): Promise<string> {
  const root = packageRoot();
  await rm(destDir, { recursive: true, force: true });
  await mkdir(destDir, { recursive: true, mode: 0o755 });
  const srcEntry = join(root, "src", `${entry}.ts`);
  const distEntry = join(root, "dist", "src", `${entry}.js`);
  try {
    if (__filename.endsWith(".ts") && existsSync(srcEntry)) {
      const files = await closure(srcEntry);
      // Transpiling costs seconds on a busy machine; the same sources always give the same output, so cache by content.
      const h = createHash("sha256");
      for (const f of files) h.update(relative(root, f)).update("\0").update(await readFile(f)).update("\0");
      const cache = join(root, "node_modules", ".cache", "attested-cleanroom", `${entry.replace(/\//g, "_")}-${h.digest("hex").slice(0, 32)}`);
      if (existsSync(join(cache, "package.json"))) {
        await cp(cache, destDir, { recursive: true });
        return join(destDir, "src", `${entry}.js`);
      }
      // Loaded lazily: typescript is needed only when running from a source checkout.
      const ts = (await import("typescript")).default;
      for (const f of files) {
        const out = ts.transpileModule(await readFile(f, "utf8"), {
          fileName: f,
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
        });
        const dest = join(destDir, relative(root, f).replace(/\.ts$/, ".js"));
        await mkdir(dirname(dest), { recursive: true });
        await writeFile(dest, out.outputText, { mode: 0o644 });
      }
      await writeFile(join(destDir, "package.json"), '{ "type": "commonjs" }\n', { mode: 0o644 });
      const tmp = `${cache}.${process.pid}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      await cp(destDir, tmp, { recursive: true });
      await rename(tmp, cache).catch(() => rm(tmp, { recursive: true, force: true }));
      // Bounded: older builds of the same entry are dropped, so edits do not grow the cache forever.
      const prefix = `${entry.replace(/\//g, "_")}-`;
      for (const name of await readdir(dirname(cache)).catch(() => [] as string[])) {
        if (name.startsWith(prefix) && join(dirname(cache), name) !== cache && !name.endsWith(".tmp")) {
          await rm(join(dirname(cache), name), { recursive: true, force: true }).catch(() => undefined);
        }
      }
    } else if (existsSync(distEntry)) {
      for (const f of await closure(distEntry)) {
        const dest = join(destDir, "src", relative(join(root, "dist", "src"), f));
        await mkdir(dirname(dest), { recursive: true });
        await writeFile(dest, await readFile(f), { mode: 0o644 });
      }
    } else {
      throw new Error(`neither ${srcEntry} nor ${distEntry} exists`);
    }
    await writeFile(join(destDir, "package.json"), '{ "type": "commonjs" }\n', { mode: 0o644 });
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot build ${entry} into ${destDir}: ${messageOf(err)}`, { cause: err });
  }
  return join(destDir, "src", `${entry}.js`);
}

/**
 * Files node may load from a package: code, JSON (package.json, data), native addons and the shared libraries they load
 * (DuckDB's `libduckdb.so` beside its `.node` binding: the disclosure checker reads Parquet inputs with it).
 */
const LOADABLE = /\.(c?js|mjs|json|node|wasm|so(\.\d+)*)$/;

const REQUIRE = /require\(\s*["']([^"']+)["']\s*\)/g;

/** `@scope/name` or `name` of a bare specifier (`jose`, `@bufbuild/cel/dist/x`). */
function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/**
 * The packages a built entry loads at run time: the bare `require`s of the compiled JavaScript reachable from it (type-only
 * imports are gone after compilation, and lazily computed paths such as the GCP platform's are not followed).
 */
async function runtimePackages(entryJs: string): Promise<string[]> {
  const builtins = new Set(builtinModules);
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [entryJs];
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of (await readFile(f, "utf8")).matchAll(REQUIRE)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) {
        const base = resolve(dirname(f), spec);
        const target = [base, `${base}.js`, join(base, "index.js")].find((c) => existsSync(c) && c.endsWith(".js"));
        if (target) queue.push(target);
      } else if (!spec.startsWith("node:") && !builtins.has(spec) && !builtins.has(spec.split("/")[0]!)) {
        packages.add(packageName(spec));
      }
    }
  }
  return [...packages].sort();
}

/** Where node would find package `name` from `fromDir` (walking up `node_modules` directories, not above `root`). */
function findPackage(name: string, fromDir: string, root: string): string | undefined {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (d === root || dirname(d) === d) return undefined;
  }
}

/**
 * Copies `packages` and everything they depend on from the package root's `node_modules` into `destDir`, keeping npm's
 * layout (a nested `node_modules/a/node_modules/b` stays nested), without anything the executor does not load.
 */
async function vendorPackages(packages: readonly string[], destDir: string): Promise<void> {
  const root = packageRoot();
  const queue = packages.map((name) => ({ name, from: root, required: true }));
  const copied = new Set<string>();
  while (queue.length > 0) {
    const { name, from, required } = queue.pop()!;
    const dir = findPackage(name, from, root);
    if (!dir) {
      if (required) throw new Error(`the executor needs the package ${name}, which is not installed (run \`npm ci\`)`);
      continue;
    }
    if (copied.has(dir)) continue;
    copied.add(dir);
    await cp(dir, join(destDir, relative(root, dir)), {
      recursive: true,
      verbatimSymlinks: true,
      // Only what node loads (no type declarations, sources or docs), and nested node_modules package by package, as
      // they are needed.
      filter: async (src) => {
        if (src === dir) return true;
        if (relative(dir, src).split(sep).includes("node_modules")) return false;
        return (await lstat(src)).isDirectory() || LOADABLE.test(src);
      },
    });
    const pj = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
    for (const dep of Object.keys(pj.dependencies ?? {})) queue.push({ name: dep, from: dir, required: true });
    for (const dep of [...Object.keys(pj.optionalDependencies ?? {}), ...Object.keys(pj.peerDependencies ?? {})]) queue.push({ name: dep, from: dir, required: false });
  }
}

/**
 * Builds the executor into `destDir` (its code and, in `destDir/node_modules`, the packages it loads) and returns
 * its digest: the manifest digest of everything under `destDir`.
 *
 * @throws CleanRoomError `io-error` when the sources cannot be read or transpiled, or a package is missing
 */
export async function buildExecutor(destDir: string): Promise<ExecutorBuild> {
  const entry = await buildClosure(destDir, "runtime/executor/main");
  try {
    await vendorPackages(await runtimePackages(entry), destDir);
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot copy the executor's packages into ${destDir}: ${messageOf(err)}`, { cause: err });
  }
  const digest = manifestDigest(await manifestOf(destDir));
  return { dir: destDir, entry, digest, nodeModules: join(destDir, "node_modules") };
}

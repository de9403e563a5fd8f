/**
 * The local "executor image": the executor's JavaScript, built once at `cleanroom local up` into `<dir>/executor/`.
 *
 * Its digest (the manifest digest of exactly the files that run) is what local tokens carry as
 * `submods.container.image_digest` and what the room's condition pins, just as GCP pins the image manifest digest.
 * From a source checkout the TypeScript is transpiled here (no `npm run build` needed, and no ts-node start-up cost per
 * job); from an installed package the compiled `dist/` files are copied.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join, relative, resolve } from "node:path";
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
  /** The package's `node_modules` (bound read-only into the sandbox, passed as `NODE_PATH`). */
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
 * Builds the executor into `destDir` and returns its digest.
 *
 * @throws CleanRoomError `io-error` when the sources cannot be read or transpiled
 */
export async function buildExecutor(destDir: string): Promise<ExecutorBuild> {
  const entry = await buildClosure(destDir, "runtime/executor/main");
  const digest = manifestDigest(await manifestOf(destDir));
  return { dir: destDir, entry, digest, nodeModules: join(packageRoot(), "node_modules") };
}

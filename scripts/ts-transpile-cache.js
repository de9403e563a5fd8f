/**
 * The ts-node transpiler of this repository (tsconfig.json, "ts-node": { "transpiler": ... }): TypeScript's own
 * `transpileModule`, with the options ts-node's transpile-only mode gives it, its output kept on disk by content.
 *
 * Why: every process that runs the TypeScript sources (each mocha worker, every `node -r ts-node/register/...` a test
 * starts, `npx cleanroom` in a checkout) transpiled the same ~200 files again: ~7 of the ~10 CPU-seconds of a
 * `cleanroom --help` on this 2-core machine, and the largest single cost of `npm test`. The output of one file depends
 * only on its name, its text, the compiler options and TypeScript's version, which make the key; so a hit gives
 * exactly what a transpile would. Files with syntax errors are never cached (ts-node reports them as before).
 *
 * Where: node_modules/.cache/attested-cleanroom/ts-transpile/ (what `npm ci` recreates). Bounded: entries older than
 * 7 days are removed, at most once a day. When the directory cannot be written the files are simply transpiled.
 *
 * Example (what tsconfig.json does): ts-node's `transpiler: "./scripts/ts-transpile-cache.js"` with transpileOnly.
 */
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const CACHE = path.join(__dirname, "..", "node_modules", ".cache", "attested-cleanroom", "ts-transpile");
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const PRUNE_EVERY_MS = 24 * 3600 * 1000;

/** Removes entries older than MAX_AGE_MS, at most once per PRUNE_EVERY_MS (a marker file's mtime says when). */
function prune(cache, now = Date.now()) {
  const marker = path.join(cache, ".pruned");
  try {
    if (now - fs.statSync(marker).mtimeMs < PRUNE_EVERY_MS) return;
  } catch {
    // no marker yet: prune now
  }
  try {
    fs.mkdirSync(cache, { recursive: true });
    fs.writeFileSync(marker, "");
    for (const salt of fs.readdirSync(cache, { withFileTypes: true })) {
      if (!salt.isDirectory()) continue;
      const dir = path.join(cache, salt.name);
      let kept = 0;
      for (const name of fs.readdirSync(dir)) {
        const f = path.join(dir, name);
        if (now - fs.statSync(f).mtimeMs > MAX_AGE_MS) fs.rmSync(f, { force: true });
        else kept++;
      }
      if (kept === 0) fs.rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // another process is pruning, or the cache is not writable: nothing to do
  }
}

/** Writes atomically (a reader sees a whole entry or none); failures only cost a later transpile. */
function store(file, value) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, file);
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the directory itself could not be made: nothing was written
    }
  }
}

/**
 * ts-node's transpiler factory: `create(createOptions)` returns `{ transpile(input, { fileName }) }`. `cacheDir`
 * (ts-node passes the transpiler's options, `"transpiler": [path, { cacheDir }]`) replaces the default directory.
 */
exports.create = function create({ service, nodeModuleEmitKind, cacheDir = CACHE }) {
  const ts = require(service.projectLocalResolveHelper(service.options.compiler || "typescript", true));
  const compilerOptions = service.config.options;
  // What ts-node itself does without a transpiler (TypeScript >= 4.7): its transpileModule with the file's format.
  const format = nodeModuleEmitKind === "nodeesm" ? "module" : "commonjs";
  // (internal to ts-node, not in its "exports": reached by path beside its main file)
  const { createTsTranspileModule } = require(path.join(path.dirname(require.resolve("ts-node")), "ts-transpile-module.js"));
  const transpileModule = createTsTranspileModule(ts, { compilerOptions, reportDiagnostics: true });
  const salt = createHash("sha256")
    .update(`${ts.version}\0${nodeModuleEmitKind ?? ""}\0${JSON.stringify(compilerOptions)}`)
    .digest("hex")
    .slice(0, 16);
  prune(cacheDir);
  return {
    transpile(input, { fileName }) {
      const key = createHash("sha256").update(fileName).update("\0").update(input).digest("hex");
      const file = path.join(cacheDir, salt, `${key}.json`);
      try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
      } catch {
        // not cached yet (or being written): transpile
      }
      const out = transpileModule(input, { fileName }, format);
      if (!out.diagnostics || out.diagnostics.length === 0) store(file, { outputText: out.outputText, sourceMapText: out.sourceMapText });
      return out;
    },
  };
};

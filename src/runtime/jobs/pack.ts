/**
 * `packJob`: a deterministic job bundle. The same sources give the same bytes and the same job digest on any machine:
 * sorted paths, mtime 0, mode 0644/0755, uid/gid 0, no owner names, no symlinks.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdtemp, writeFile } from "node:fs/promises";
import { makeDirectory } from "../directory.js";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import { type JobInput, type JobManifest, canonicalJson, comparePaths, jobDigest, listFiles, manifestOf } from "../../core/digest.js";
import { CleanRoomError, messageOf, throwIfProblems } from "../../core/errors.js";
import { DATASET_NAME_PATTERN, PROVIDER_NAME_PATTERN } from "../../core/patterns.js";
import type { PackedJob } from "../platforms/platform.js";
import { entrypointFile, normalizeEntrypoint } from "./entrypoint.js";

/** Directory names never packed: caches and VCS data change without the code changing. */
export const IGNORED_NAMES: readonly string[] = ["__pycache__", ".git", ".ipynb_checkpoints", "node_modules", ".DS_Store"];

/** Options of `packJob`. */
export interface PackOptions {
  /** `"main.py"`, `"main.js"`, `"analysis.ipynb"` or an argv such as `["python3", "main.py", "--alpha", "1"]`. */
  readonly entrypoint: string | readonly string[];
  /** The datasets the job reads, as `{provider, dataset}` or `"provider/dataset"`. At least one. */
  readonly inputs: ReadonlyArray<JobInput | string>;
  /** Where to write `bundle.tar` and `job.json`. @default - a new temporary directory */
  readonly outDir?: string;
}

/** Parses `provider/dataset` or checks a `{provider, dataset}`. */
export function parseInput(input: JobInput | string): JobInput {
  const v = typeof input === "string" ? { provider: input.split("/")[0] ?? "", dataset: input.split("/").slice(1).join("/") } : input;
  if (!PROVIDER_NAME_PATTERN.test(v.provider) || !DATASET_NAME_PATTERN.test(v.dataset)) {
    throw new CleanRoomError("invalid-argument", `Input ${JSON.stringify(input)} must be "<provider>/<dataset>" with valid names, e.g. "insurer/claims"`);
  }
  return { provider: v.provider, dataset: v.dataset };
}

/** Inputs sorted by provider then dataset, duplicates removed. */
export function sortInputs(inputs: readonly JobInput[]): JobInput[] {
  const seen = new Set<string>();
  const out: JobInput[] = [];
  for (const i of inputs) {
    const k = `${i.provider}/${i.dataset}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ provider: i.provider, dataset: i.dataset });
    }
  }
  return out.sort((a, b) => comparePaths(a.provider, b.provider) || comparePaths(a.dataset, b.dataset));
}

async function packableFiles(dir: string): Promise<string[]> {
  const all = await listFiles(dir, { onSpecial: "error", exclude: [] }).catch(async (err: unknown) => {
    // A symlink inside an ignored directory (e.g. node_modules/.bin) must not block packing: retry skipping specials,
    // then refuse any special file outside the ignored directories below.
    if (err instanceof CleanRoomError && err.code === "invalid-manifest") {
      const skipped = await listFiles(dir, { onSpecial: "skip" });
      const specials = await findSpecials(dir);
      const bad = specials.filter((p) => !isIgnored(p));
      if (bad.length > 0) {
        throw new CleanRoomError("invalid-argument", `Cannot pack ${dir}: ${bad.join(", ")} ${bad.length === 1 ? "is a symlink or special file" : "are symlinks or special files"}; bundles hold regular files only (copy the target instead)`);
      }
      return skipped;
    }
    throw err;
  });
  return all.filter((p) => !isIgnored(p));
}

function isIgnored(path: string): boolean {
  return path.split("/").some((s) => IGNORED_NAMES.includes(s));
}

async function findSpecials(dir: string): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  const out: string[] = [];
  async function walk(d: string, rel: string): Promise<void> {
    for (const name of await readdir(d)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(d, name));
      if (st.isDirectory()) await walk(join(d, name), r);
      else if (!st.isFile()) out.push(r);
    }
  }
  await walk(dir, "");
  return out;
}

/**
 * Packs the job in `dir` into a deterministic `bundle.tar` plus its `job.json` (the `JobManifest`), and returns the
 * job digest a provider approves.
 *
 * @example
 * const job = await packJob("examples/quickstart/jobs/regression", { entrypoint: "main.py", inputs: ["insurer/claims"] });
 * console.log(job.jobDigest); // sha256:…, add it to the provider's approvedJobs
 *
 * @throws CleanRoomError `invalid-argument` (bad entrypoint, missing entrypoint file, bad input, symlinks), `io-error`
 */
export async function packJob(dir: string, options: PackOptions): Promise<PackedJob> {
  const root = resolve(dir);
  const problems: string[] = [];
  let argv: string[] = [];
  try {
    argv = normalizeEntrypoint(options.entrypoint);
  } catch (err) {
    problems.push(messageOf(err));
  }
  const inputs: JobInput[] = [];
  if (!Array.isArray(options.inputs) || options.inputs.length === 0) problems.push("inputs must list at least one <provider>/<dataset>");
  else
    for (const i of options.inputs) {
      try {
        inputs.push(parseInput(i));
      } catch (err) {
        problems.push(messageOf(err));
      }
    }
  const st = await lstat(root).catch(() => undefined);
  if (!st?.isDirectory()) problems.push(`${dir} is not a directory`);
  throwIfProblems("invalid-argument", "job", problems);

  const files = await packableFiles(root);
  const entry = entrypointFile(argv);
  if (!files.includes(entry)) {
    throw new CleanRoomError("invalid-argument", `The entrypoint file ${entry} is not in ${dir} (files: ${files.slice(0, 10).join(", ")}${files.length > 10 ? ", …" : ""})`);
  }
  const manifest: JobManifest = {
    version: 1,
    entrypoint: argv,
    inputs: sortInputs(inputs),
    files: await manifestOf(root, { exclude: await ignoredPaths(root) }),
  };
  const outDir = options.outDir ? resolve(options.outDir) : await mkdtemp(join(tmpdir(), "cleanroom-job-"));
  await makeDirectory(outDir, "--out");
  const bundlePath = join(outDir, "bundle.tar");
  await writeTar(root, files, bundlePath);
  await writeFile(join(outDir, "job.json"), `${canonicalJson(manifest)}\n`);
  return { bundlePath, manifest, jobDigest: jobDigest(manifest) };
}

/** Relative paths of ignored directories (excluded from the manifest exactly as from the tar). */
async function ignoredPaths(root: string): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  const out: string[] = [];
  async function walk(d: string, rel: string): Promise<void> {
    for (const name of await readdir(d)) {
      const r = rel ? `${rel}/${name}` : name;
      if (IGNORED_NAMES.includes(name)) {
        out.push(r);
        continue;
      }
      const s = await lstat(join(d, name));
      if (s.isDirectory()) await walk(join(d, name), r);
    }
  }
  await walk(root, "");
  return out;
}

async function writeTar(root: string, files: readonly string[], dest: string): Promise<void> {
  const tar = tarPack();
  const done = pipeline(tar, createWriteStream(dest, { mode: 0o644 }));
  try {
    for (const rel of files) {
      const abs = join(root, ...rel.split("/"));
      const s = await lstat(abs);
      // Fixed metadata: only content and the executable bit reach the bundle, so the bytes do not depend on the machine.
      const header = {
        name: rel,
        size: s.size,
        mode: s.mode & 0o111 ? 0o755 : 0o644,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        uname: "",
        gname: "",
        type: "file" as const,
      };
      await new Promise<void>((resolveP, reject) => {
        const entry = tar.entry(header, (err) => (err ? reject(err) : resolveP()));
        createReadStream(abs).on("error", reject).pipe(entry);
      });
    }
    tar.finalize();
    await done;
  } catch (err) {
    tar.destroy();
    throw new CleanRoomError("io-error", `Cannot write the job bundle ${dest}: ${messageOf(err)}`, { cause: err });
  }
}

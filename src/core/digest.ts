/**
 * Canonical JSON (RFC 8785), streaming sha256 of files and directories, manifests and the job digest.
 *
 * A manifest is the sorted list `{path, bytes, sha256}` of every regular file under a directory; its digest is the
 * sha256 of its canonical JSON. The same files give the same digest on any machine: paths are POSIX, relative and
 * sorted by code point; modes and mtimes are not part of it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import canonicalize from "canonicalize";
import { CleanRoomError, messageOf } from "./errors.js";
import { DIGEST_PATTERN } from "./patterns.js";

/** One file of a manifest. */
export interface ManifestEntry {
  /** POSIX path relative to the manifest's root. */
  readonly path: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** Lowercase hex sha256 of the content. */
  readonly sha256: string;
}

/** Sorted list of files under a root. */
export type Manifest = readonly ManifestEntry[];

/**
 * Serializes a JSON value canonically (RFC 8785 / JCS): sorted keys, no whitespace, ECMAScript number formatting.
 *
 * @throws CleanRoomError `invalid-argument` for values JSON cannot represent (NaN, Infinity, undefined, bigint)
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `Cannot serialize canonically: ${messageOf(err)}`, { cause: err });
  }
  if (text === undefined) {
    throw new CleanRoomError("invalid-argument", "Cannot serialize canonically: the value is not representable in JSON");
  }
  return text;
}

/** Lowercase hex sha256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `sha256:<hex>` of the canonical JSON of a value. */
export function canonicalDigest(value: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(value))}`;
}

const READ_CHUNK = 1024 * 1024;

/** Streams a file through sha256. Returns its hex digest and size; memory use is one chunk. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read ${path}: ${messageOf(err)}`, { cause: err });
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Options for `manifestOf`. */
export interface ManifestOptions {
  /** What to do with a symbolic link or special file: `"error"` (default) or `"skip"`. Links are never followed. */
  readonly onSpecial?: "error" | "skip";
  /** Relative POSIX paths (files or directories) to leave out. */
  readonly exclude?: readonly string[];
}

/** Lists the regular files under `root`, as sorted POSIX relative paths. Symlinks are never followed. */
export async function listFiles(root: string, options: ManifestOptions = {}): Promise<string[]> {
  const files: string[] = [];
  const exclude = new Set(options.exclude ?? []);
  async function walk(dir: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot list ${dir}: ${messageOf(err)}`, { cause: err });
    }
    for (const name of entries) {
      const abs = join(dir, name);
      const rel = relative(root, abs).split(sep).join(posix.sep);
      if (exclude.has(rel)) continue;
      const st = await lstat(abs).catch((err: unknown) => {
        throw new CleanRoomError("io-error", `Cannot read ${abs}: ${messageOf(err)}`, { cause: err });
      });
      if (st.isDirectory()) await walk(abs);
      else if (st.isFile()) files.push(rel);
      else if (options.onSpecial !== "skip") {
        throw new CleanRoomError(
          "invalid-manifest",
          `${rel} under ${root} is ${st.isSymbolicLink() ? "a symbolic link" : "not a regular file"}; only regular files are allowed`,
        );
      }
    }
  }
  const st = await lstat(root).catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read directory ${root}: ${messageOf(err)}`, { cause: err });
  });
  if (!st.isDirectory()) throw new CleanRoomError("invalid-argument", `${root} is not a directory`);
  await walk(root);
  return files.sort(comparePaths);
}

/** UTF-16 code-unit order of POSIX paths (as RFC 8785 sorts keys; not locale order), so every machine sorts alike. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Hashes every regular file under `root` (streamed) into a sorted manifest. */
export async function manifestOf(root: string, options: ManifestOptions = {}): Promise<Manifest> {
  const paths = await listFiles(root, options);
  const out: ManifestEntry[] = new Array(paths.length);
  // Two files in flight keep the disk busy while the other is hashed, without holding more than two chunks.
  let next = 0;
  async function worker(): Promise<void> {
    while (next < paths.length) {
      const i = next++;
      const p = paths[i]!;
      const { sha256, bytes } = await hashFile(join(root, ...p.split("/")));
      out[i] = { path: p, bytes, sha256 };
    }
  }
  await Promise.all([worker(), worker()]);
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Collects the problems of a parsed manifest (e.g. from a job.json), each with its path. Pure; never throws. */
export function manifestProblems(manifest: unknown, path = "manifest"): string[] {
  if (!Array.isArray(manifest)) return [`${path} must be an array of {path, bytes, sha256}`];
  const out: string[] = [];
  manifest.forEach((e: unknown, i: number) => {
    const r = e !== null && typeof e === "object" ? (e as Record<string, unknown>) : undefined;
    if (!r || typeof r.path !== "string" || r.path === "" || !Number.isSafeInteger(r.bytes) || (r.bytes as number) < 0) {
      out.push(`${path}[${i}] must be {path (non-empty), bytes (integer >= 0), sha256 (64 lowercase hex)}`);
    } else if (typeof r.sha256 !== "string" || !HEX64.test(r.sha256)) {
      out.push(`${path}[${i}].sha256 must be 64 lowercase hex characters`);
    }
  });
  return out;
}

function assertManifest(manifest: unknown, what: string): asserts manifest is Manifest {
  const problems = manifestProblems(manifest, what);
  if (problems.length > 0) {
    throw new CleanRoomError("invalid-manifest", `Invalid ${what}: ${problems.join("; ")}`, { problems });
  }
}

/**
 * `sha256:<hex>` of a manifest's canonical JSON.
 *
 * @throws CleanRoomError `invalid-manifest` when an entry lacks a path, size or digest (a digest of garbage proves nothing)
 */
export function manifestDigest(manifest: Manifest): string {
  assertManifest(manifest, "manifest");
  return canonicalDigest(manifest.map((e) => ({ path: e.path, bytes: e.bytes, sha256: e.sha256 })));
}

/** Total bytes of a manifest. @throws CleanRoomError `invalid-manifest` */
export function manifestBytes(manifest: Manifest): number {
  assertManifest(manifest, "manifest");
  return manifest.reduce((n, e) => n + e.bytes, 0);
}

/** Where a manifest and the files on disk disagree. */
export interface ManifestDifference {
  readonly path: string;
  /** `changed` (content or size), `missing` (in the manifest, not on disk) or `extra` (on disk only). */
  readonly kind: "changed" | "missing" | "extra";
}

/** Compares an expected manifest with an actual one and lists every difference by path. */
export function compareManifests(expected: Manifest, actual: Manifest): ManifestDifference[] {
  assertManifest(expected, "expected manifest");
  assertManifest(actual, "actual manifest");
  const diffs: ManifestDifference[] = [];
  const act = new Map(actual.map((e) => [e.path, e]));
  const exp = new Map(expected.map((e) => [e.path, e]));
  for (const e of expected) {
    const a = act.get(e.path);
    if (!a) diffs.push({ path: e.path, kind: "missing" });
    else if (a.sha256 !== e.sha256 || a.bytes !== e.bytes) diffs.push({ path: e.path, kind: "changed" });
  }
  for (const a of actual) if (!exp.has(a.path)) diffs.push({ path: a.path, kind: "extra" });
  return diffs.sort((x, y) => comparePaths(x.path, y.path));
}

/** A dataset a job reads: `$CLEANROOM_INPUTS/<provider>/<dataset>.csv` (or `.parquet`, the dataset's format). */
export interface JobInput {
  readonly provider: string;
  readonly dataset: string;
}

/** What a job digest covers: the code, how it is started, and which data it may read. */
export interface JobManifest {
  readonly version: 1;
  /** argv of the job, run from the bundle root, e.g. `["python3", "main.py"]`. */
  readonly entrypoint: readonly string[];
  /** Inputs sorted by provider then dataset. */
  readonly inputs: readonly JobInput[];
  /** Every file of the bundle. */
  readonly files: Manifest;
}

/** The job digest: `sha256:<hex>` of the job manifest's canonical JSON. This is what providers approve. */
export function jobDigest(job: JobManifest): string {
  const problems = jobManifestProblems(job);
  if (problems.length > 0) {
    throw new CleanRoomError("invalid-manifest", `Invalid job manifest: ${problems.join("; ")}`, { problems });
  }
  return canonicalDigest(job);
}

/** Collects the problems of a parsed job manifest (`job.json`). Pure; never throws. */
export function jobManifestProblems(job: unknown): string[] {
  if (job === null || typeof job !== "object" || Array.isArray(job)) return ["job manifest must be a JSON object"];
  const j = job as Record<string, unknown>;
  const out: string[] = [];
  if (j.version !== 1) out.push(`job.version must be 1 (got ${JSON.stringify(j.version)})`);
  if (!Array.isArray(j.entrypoint) || j.entrypoint.length === 0 || j.entrypoint.some((a) => typeof a !== "string")) {
    out.push("job.entrypoint must be a non-empty array of strings (argv)");
  }
  if (!Array.isArray(j.inputs)) out.push("job.inputs must be an array of {provider, dataset}");
  else
    j.inputs.forEach((x: unknown, i: number) => {
      const r = x !== null && typeof x === "object" ? (x as Record<string, unknown>) : undefined;
      if (!r || typeof r.provider !== "string" || typeof r.dataset !== "string") {
        out.push(`job.inputs[${i}] must be {provider, dataset}`);
      }
    });
  out.push(...manifestProblems(j.files, "job.files"));
  return out;
}

/** Throws unless `s` is a `sha256:<64 hex>` digest. */
export function assertDigest(s: unknown, what: string): asserts s is string {
  if (typeof s !== "string" || !DIGEST_PATTERN.test(s)) {
    throw new CleanRoomError("invalid-argument", `${what} must be sha256:<64 lowercase hex> (got ${JSON.stringify(s)})`);
  }
}

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
      const st = await lstat(abs);
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

/** Code-point order of POSIX paths (not locale order), so every machine sorts alike. */
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

/** `sha256:<hex>` of a manifest's canonical JSON. */
export function manifestDigest(manifest: Manifest): string {
  return canonicalDigest(manifest.map((e) => ({ path: e.path, bytes: e.bytes, sha256: e.sha256 })));
}

/** Total bytes of a manifest. */
export function manifestBytes(manifest: Manifest): number {
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

/** A dataset a job reads: `$CLEANROOM_INPUTS/<provider>/<dataset>.csv`. */
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
  return canonicalDigest(job);
}

/** Throws unless `s` is a `sha256:<64 hex>` digest. */
export function assertDigest(s: unknown, what: string): asserts s is string {
  if (typeof s !== "string" || !DIGEST_PATTERN.test(s)) {
    throw new CleanRoomError("invalid-argument", `${what} must be sha256:<64 lowercase hex> (got ${JSON.stringify(s)})`);
  }
}

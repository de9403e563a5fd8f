/**
 * A dataset's **stand-in**: what stage 1 shows in place of data no DP method can describe (a mock model, a small
 * public sample, a schema-only description), supplied by the provider and public by definition.
 *
 * Layout (contract, read by the console): `<stage1>/<provider>/<dataset>/stand-in/<path>` holds the stand-in's files
 * (a single file keeps its base name), and `<stage1>/<provider>/<dataset>/stand-in.json` (a `StandInManifest`) lists
 * them with their sizes and digests. The manifest is written **last**: a stand-in without one is incomplete and is
 * not shown. On GCP every object is created create-only (the provider may only create under `<provider>/`).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, lstat, mkdir, mkdtemp, readdir, realpath, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { type CleanRoomDescriptor, type DescriptorDataset, findDataset } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { datasetStandIn } from "../../core/spec.js";
import { loadGcp } from "../platforms/index.js";
import { localStage1Dir } from "./stage1.js";

/** Names inside `<stage1>/<provider>/<dataset>/`: the stand-in's folder and its manifest. */
export const STAND_IN_FILES = { dir: "stand-in", manifest: "stand-in.json" } as const;

/** Most files a stand-in may hold: it is a sample for exploring, not a copy of a corpus. */
export const MAX_STAND_IN_FILES = 10_000;

/** The public manifest of a published stand-in (`stand-in.json`). */
export interface StandInManifest {
  readonly format: "cleanroom-stand-in/1";
  readonly provider: string;
  readonly dataset: string;
  /** Always true: whoever may read stage-1 data may read a stand-in; it must hold nothing private. */
  readonly public: true;
  /** Each file under `stand-in/`: its `/`-separated path, size in bytes and `sha256:` digest. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly bytes: number; readonly sha256: string }>;
  /** When it was published (ISO 8601). */
  readonly publishedAt: string;
}

/** One file of a stand-in on the provider's machine. */
interface LocalFile {
  /** `/`-separated path under `stand-in/`. */
  readonly path: string;
  readonly abs: string;
  readonly bytes: number;
}

/** What `publishStandIn` did. */
export interface StandInResult {
  /** Where the stand-in's files are (`…/<provider>/<dataset>/stand-in`). */
  readonly location: string;
  /** Where its manifest is (`…/stand-in.json`). */
  readonly manifest: string;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Why `--stand-in` must not (or must) be given for a dataset, or undefined when the call is right. Pure.
 *
 * @param given whether a stand-in was given
 * @param stage1 whether stage-1 publishing is on (`--no-stage1` turns it off, stand-in included)
 */
export function standInArgumentProblem(provider: string, ds: Pick<DescriptorDataset, "name" | "standIn">, given: boolean, stage1: boolean): string | undefined {
  const where = `${provider}/${ds.name}`;
  if (!stage1) {
    return given ? "--stand-in and --no-stage1 contradict each other: --no-stage1 publishes nothing to stage 1; drop one of them" : undefined;
  }
  const provided = datasetStandIn(ds) === "provided";
  if (given && !provided) {
    return `${where} has no stand-in in the room's spec (standIn: "none": consumers explore on nothing), so --stand-in is refused; set standIn: "provided" on the dataset and redeploy the room to publish one`;
  }
  if (!given && provided) {
    return `${where} has standIn: "provided" in the room's spec: give the public stand-in with --stand-in <file|dir> (or --no-stage1 to publish nothing to stage 1 now)`;
  }
  return undefined;
}

/** The files of a stand-in (one file, or every regular file under a directory), refusing links and special files. */
export async function collectStandIn(path: string): Promise<LocalFile[]> {
  const root = resolve(path);
  const st = await lstat(root).catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read the stand-in ${path}: ${messageOf(err)}`, { cause: err });
  });
  if (st.isFile()) return [{ path: basename(root), abs: root, bytes: st.size }];
  if (!st.isDirectory()) throw new CleanRoomError("invalid-argument", `The stand-in ${path} must be a regular file or a directory (not a link or a device)`);
  const out: LocalFile[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split(sep).join("/");
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        if (out.length >= MAX_STAND_IN_FILES) throw new CleanRoomError("invalid-argument", `The stand-in ${path} has more than ${MAX_STAND_IN_FILES} files: a stand-in is a small public sample; give fewer files`);
        out.push({ path: rel, abs, bytes: (await lstat(abs)).size });
      } else {
        // A link could point at the protected original (or anywhere): only regular files are published.
        throw new CleanRoomError("invalid-argument", `The stand-in holds ${rel}, which is not a regular file or directory (a link or a device): replace it with a copy of the file, or remove it`);
      }
    }
  }
  await walk(root);
  if (out.length === 0) throw new CleanRoomError("invalid-argument", `The stand-in directory ${path} holds no file: give the files consumers explore, or set standIn: "none"`);
  return out;
}

/** Every regular file of the protected original (a file, or a tree), with its size. */
async function originalFiles(path: string): Promise<Array<{ abs: string; bytes: number }>> {
  const st = await lstat(path);
  if (st.isFile()) return [{ abs: path, bytes: st.size }];
  if (!st.isDirectory()) return [];
  const out: Array<{ abs: string; bytes: number }> = [];
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out.push({ abs, bytes: (await lstat(abs)).size });
  }
  return out;
}

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), h);
  return `sha256:${h.digest("hex")}`;
}

function inside(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r === "" || (r !== ".." && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/**
 * Refuses a stand-in that is, holds or sits inside the protected original, or that has a file with the same bytes
 * as one of the original's: a stand-in is published to everyone who may explore stage 1.
 * Only original files of the same size as a stand-in file are read (and hashed), so a large original costs little.
 */
export async function checkStandInIsNotOriginal(standIn: string, files: readonly LocalFile[], original: string): Promise<void> {
  const a = await realpath(standIn);
  const b = await realpath(original);
  if (inside(a, b) || inside(b, a)) {
    throw new CleanRoomError(
      "invalid-argument",
      `The stand-in ${standIn} is, holds or sits inside the protected original ${original}: a stand-in is public, so give a separate file or directory (a mock model, a public sample)`,
    );
  }
  const sizes = new Map<number, LocalFile[]>();
  for (const f of files) if (f.bytes > 0) sizes.set(f.bytes, [...(sizes.get(f.bytes) ?? []), f]);
  if (sizes.size === 0) return;
  const digests = new Map<string, string>();
  for (const o of await originalFiles(b)) {
    const same = sizes.get(o.bytes);
    if (!same) continue;
    const od = await sha256OfFile(o.abs);
    for (const f of same) {
      const fd = digests.get(f.abs) ?? (await sha256OfFile(f.abs));
      digests.set(f.abs, fd);
      if (fd === od) {
        throw new CleanRoomError(
          "invalid-argument",
          `The stand-in file ${f.path} has exactly the bytes of a file of the protected original: a stand-in is published to everyone who explores stage 1, so it must not be the original; give a mock or a public sample`,
        );
      }
    }
  }
}

/** A stand-in, collected and checked on the provider's machine, ready to publish. */
export interface PreparedStandIn {
  readonly path: string;
  readonly files: readonly LocalFile[];
}

/**
 * Collects and checks a stand-in before anything is stored: regular files only, at least one, not the original.
 *
 * @param original the protected original being provisioned (a file or a tree), compared byte for byte
 */
export async function prepareStandIn(path: string, original: string): Promise<PreparedStandIn> {
  const files = await collectStandIn(path);
  await checkStandInIsNotOriginal(path, files, original);
  return { path, files };
}

async function manifestOf(provider: string, dataset: string, files: readonly LocalFile[]): Promise<StandInManifest> {
  const listed = [];
  for (const f of files) listed.push({ path: f.path, bytes: f.bytes, sha256: await sha256OfFile(f.abs) });
  return { format: "cleanroom-stand-in/1", provider, dataset, public: true, files: listed, publishedAt: new Date().toISOString() };
}

/** Options of `publishStandIn`. */
export interface PublishStandInOptions {
  /** Local rooms: replace a stand-in already published (GCP stage-1 objects are never replaced). @default false */
  readonly overwrite?: boolean;
  /** Progress messages (for the CLI). */
  readonly onProgress?: (message: string) => void;
}

/** Copies the stand-in into a local room's stage-1 directory: staged, then renamed into place, manifest last. */
async function publishLocal(room: CleanRoomDescriptor, provider: string, dataset: string, s: PreparedStandIn, manifest: StandInManifest, options: PublishStandInOptions): Promise<StandInResult> {
  const dir = localStage1Dir(room, provider, dataset);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const target = join(dir, STAND_IN_FILES.dir);
  const manifestPath = join(dir, STAND_IN_FILES.manifest);
  const exists = await lstat(target).then(
    () => true,
    () => false,
  );
  if (exists && options.overwrite !== true) {
    throw new CleanRoomError("already-exists", `${provider}/${dataset} already has a published stand-in; pass --overwrite to replace it`);
  }
  const staging = await mkdtemp(join(dir, ".stand-in-staging-"));
  try {
    for (const f of s.files) {
      const to = join(staging, ...f.path.split("/"));
      await mkdir(dirname(to), { recursive: true });
      await copyFile(f.abs, to);
    }
    // The manifest goes first out of the way: a reader never sees a manifest that lists files of another stand-in.
    await rm(manifestPath, { force: true });
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { location: target, manifest: manifestPath, files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.bytes, 0) };
}

/** Uploads the stand-in create-only to a GCP room's stage-1 bucket, manifest last. */
async function publishGcs(room: CleanRoomDescriptor, provider: string, dataset: string, s: PreparedStandIn, manifest: StandInManifest, options: PublishStandInOptions): Promise<StandInResult> {
  const prefix = `${room.storage.stage1.replace(/\/+$/, "")}/${provider}/${dataset}`;
  const staging = await mkdtemp(join(tmpdir(), "acr-stand-in-"));
  try {
    const manifestPath = join(staging, STAND_IN_FILES.manifest);
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    await loadGcp().uploadStage1StandIn(room, {
      prefix,
      files: s.files.map((f) => ({ path: f.path, localPath: f.abs })),
      manifestPath,
      onFile: (path) => options.onProgress?.(`stand-in: uploaded ${path}`),
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return {
    location: `${prefix}/${STAND_IN_FILES.dir}`,
    manifest: `${prefix}/${STAND_IN_FILES.manifest}`,
    files: manifest.files.length,
    bytes: manifest.files.reduce((n, f) => n + f.bytes, 0),
  };
}

/**
 * Publishes a prepared stand-in to the room's stage-1 storage beside the dataset's stage-1 artefacts:
 * `<stage1>/<provider>/<dataset>/stand-in/…` and its manifest `stand-in.json` (written last). A local room's
 * stage-1 directory, or a GCP room's stage-1 bucket (create-only: a stand-in is published once).
 *
 * @throws CleanRoomError `invalid-argument` when the dataset's spec says `standIn: "none"`; `already-exists` when
 *   one is already published (local: without `overwrite`)
 */
export async function publishStandIn(room: CleanRoomDescriptor, provider: string, dataset: string, standIn: PreparedStandIn, options: PublishStandInOptions = {}): Promise<StandInResult> {
  const ds = findDataset(room, provider, dataset);
  const problem = standInArgumentProblem(provider, ds, true, true);
  if (problem) throw new CleanRoomError("invalid-argument", problem);
  const manifest = await manifestOf(provider, dataset, standIn.files);
  options.onProgress?.(`stand-in: publishing ${manifest.files.length} file(s) of ${standIn.path} to stage 1 (public)`);
  return room.storage.stage1.startsWith("gs://")
    ? publishGcs(room, provider, dataset, standIn, manifest, options)
    : publishLocal(room, provider, dataset, standIn, manifest, options);
}

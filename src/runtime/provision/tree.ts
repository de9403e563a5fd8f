/**
 * `files` datasets: a directory tree (model weights, tokenizer files, images) as one "acr-tree-v1" stream, encrypted in
 * the chunked "acr-envelope-v1" framing of `envelope.ts` (same key handling, same authentication per segment).
 *
 * The tree container is the plaintext of the envelope (all integers big-endian):
 *
 * ```
 * header       = "ACRTREE" | version u8 (=1)
 * file record  = type u8 (=1) | pathLength u16 | path (UTF-8) | size u64 | size bytes of content
 * end record   = type u8 (=0) | files u32 | bytes u64            (nothing may follow it)
 * ```
 *
 * Only regular files are recorded (no directories, links or devices; empty directories are not kept). Paths are POSIX,
 * relative, without empty, `.` or `..` segments, backslashes or control characters, at most 4096 bytes. Neither side
 * ever holds a whole file: the encryptor streams each file through, the decryptor writes each file as its bytes come.
 *
 * The tree's identity is its manifest (`core/digest.ts`: path, bytes and sha256 of every file, sorted, canonical JSON):
 * `manifestDigest()` of it is what `manifest.json` and the receipt record as the dataset's `sha256`, whatever order the
 * records came in.
 */
import { createHash } from "node:crypto";
import { createReadStream, constants as fsConstants } from "node:fs";
import { chmod, type FileHandle, lstat, mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import type { DescriptorDataset } from "../../core/descriptor.js";
import { comparePaths, listFiles, type Manifest, type ManifestEntry, manifestDigest } from "../../core/digest.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { isSafeRelativePath } from "../../core/receipt.js";
import { isFilesDataset } from "../../core/spec.js";
import { createDecryptStream, type DatasetManifest, DEFAULT_SEGMENT_SIZE, ENVELOPE_FORMAT, type EncryptOptions } from "./envelope.js";
import { EnvelopeSealer } from "./envelope-sealer.js";

/** Name of the tree container, recorded as `manifest.json`'s `container` for a `files` dataset. */
export const TREE_FORMAT = "acr-tree-v1";

const MAGIC = Buffer.from("ACRTREE\u0001", "latin1");
const TYPE_END = 0;
const TYPE_FILE = 1;
/** Longest path accepted, in UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_TREE_PATH_BYTES = 4096;
// 256 KiB reads: with 1 MiB reads the dead buffers between two collections pushed the peak RSS of a tree up by ~80 MiB.
const READ_CHUNK = DEFAULT_SEGMENT_SIZE / 4;

/** What a tree held: its sorted manifest, the number of files, their total bytes, and the hex of its manifest digest. */
export interface TreeSummary {
  readonly manifest: Manifest;
  readonly files: number;
  readonly bytes: number;
  /** Lowercase hex of `manifestDigest(manifest)` (without `sha256:`): the dataset's `sha256`. */
  readonly sha256: string;
}

function summarize(entries: ManifestEntry[]): TreeSummary {
  const manifest = [...entries].sort((a, b) => comparePaths(a.path, b.path));
  return {
    manifest,
    files: manifest.length,
    bytes: manifest.reduce((n, e) => n + e.bytes, 0),
    sha256: manifestDigest(manifest).slice("sha256:".length),
  };
}

/**
 * One file of a tree being encrypted: its path in the tree, its size as announced, and its bytes: an open file (read
 * straight into the envelope's segments) or a stream (an archive entry, copied in).
 */
interface TreeFile {
  readonly path: string;
  readonly size: number;
  readonly content: { readonly file: FileHandle } | { readonly stream: AsyncIterable<Buffer> };
}

/**
 * Remembers the paths of a tree and refuses what would make it ambiguous on disk: a duplicate, or a path that is both
 * a file and a directory (`a` and `a/b`). `describe` names the entry in errors.
 */
class PathSet {
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();

  add(path: string, describe: string, code: "invalid-argument" | "invalid-manifest"): void {
    if (this.files.has(path)) throw new CleanRoomError(code, `${describe} appears twice in the tree; each path may hold one file`);
    if (this.dirs.has(path)) throw new CleanRoomError(code, `${describe} is both a file and a directory of the tree`);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (this.files.has(dir)) throw new CleanRoomError(code, `${describe} lies under a path that is a file of the tree`);
      this.dirs.add(dir);
    }
    this.files.add(path);
  }
}

function checkTreePath(path: string, describe: string, code: "invalid-argument" | "invalid-manifest"): Buffer {
  const bytes = Buffer.from(path, "utf8");
  if (!isSafeRelativePath(path) || bytes.length > MAX_TREE_PATH_BYTES) {
    throw new CleanRoomError(
      code,
      `${describe} is not a safe relative path: it must be relative, without empty, "." or ".." segments, backslashes or control characters, and at most ${MAX_TREE_PATH_BYTES} bytes`,
    );
  }
  return bytes;
}

/**
 * Writes the plaintext of "acr-tree-v1" for a sequence of files into `sealer`. Each file's sha256 is computed as it
 * passes (on the sealer's hashing worker) and its entry added to `entries` once known; a file whose bytes disagree
 * with its announced size fails.
 */
async function sealTree(files: AsyncIterable<TreeFile>, sealer: EnvelopeSealer, entries: Promise<ManifestEntry>[], onBytes?: (bytes: number) => void): Promise<void> {
  await sealer.write(MAGIC);
  const seen = new PathSet();
  let total = 0;
  let count = 0;
  for await (const f of files) {
    const describe = JSON.stringify(f.path);
    const pathBytes = checkTreePath(f.path, describe, "invalid-argument");
    seen.add(f.path, describe, "invalid-argument");
    const head = Buffer.alloc(1 + 2 + pathBytes.length + 8);
    head[0] = TYPE_FILE;
    head.writeUInt16BE(pathBytes.length, 1);
    pathBytes.copy(head, 3);
    head.writeBigUInt64BE(BigInt(f.size), 3 + pathBytes.length);
    await sealer.write(head);
    const id = sealer.openDigest();
    const n = "file" in f.content ? await sealFile(f.content.file, f.size, sealer, id, onBytes) : await sealStream(f.content.stream, f.size, sealer, id, onBytes);
    if (n !== f.size) {
      throw new CleanRoomError("io-error", `${describe} changed while it was being provisioned (${f.size} bytes announced, ${n > f.size ? "more" : n} read); provision again once nothing writes to the tree`);
    }
    const path = f.path;
    // Resolved at the end: waiting for each file's digest here would stall the pipeline once per file.
    const entry = sealer.digest(id).then((sha256) => ({ path, bytes: n, sha256 }));
    entry.catch(() => undefined);
    entries.push(entry);
    total += n;
    count++;
  }
  const end = Buffer.alloc(1 + 4 + 8);
  end[0] = TYPE_END;
  end.writeUInt32BE(count, 1);
  end.writeBigUInt64BE(BigInt(total), 5);
  await sealer.write(end);
}

/**
 * Reads an open file straight into the sealer's segments (no copy), up to `size` bytes; returns the bytes read, or
 * `size + 1` if the file holds more (it grew since it was listed).
 */
async function sealFile(file: FileHandle, size: number, sealer: EnvelopeSealer, id: number, onBytes?: (bytes: number) => void): Promise<number> {
  let n = 0;
  while (n < size) {
    const space = await sealer.reserve();
    const { bytesRead } = await file.read(space, 0, Math.min(space.length, size - n), n);
    if (bytesRead === 0) return n;
    sealer.commit(bytesRead, id);
    n += bytesRead;
    onBytes?.(sealer.bytes);
  }
  // A file that grows while it is read would make the record lie about its size.
  const { bytesRead } = await file.read(Buffer.alloc(1), 0, 1, size);
  return bytesRead === 0 ? n : n + 1;
}

/** Copies a stream into the sealer, stopping as soon as it exceeds `size` bytes; returns the bytes it held (so far). */
async function sealStream(stream: AsyncIterable<Buffer>, size: number, sealer: EnvelopeSealer, id: number, onBytes?: (bytes: number) => void): Promise<number> {
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    // A file that grows while it is read would make the record lie about its size: stop at once.
    if (n > size) break;
    await sealer.write(chunk, id);
    onBytes?.(sealer.bytes);
  }
  return n;
}

/** The regular files under a directory, sorted; a link or special file anywhere is refused (`listFiles`). */
async function* directoryFiles(root: string): AsyncGenerator<TreeFile> {
  for (const path of await listFiles(root)) {
    const abs = join(root, ...path.split("/"));
    let fh: FileHandle;
    try {
      // Never through a link swapped in since the listing, and a FIFO cannot block the open.
      fh = await open(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot read ${abs}: ${messageOf(err)}`, { cause: err });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new CleanRoomError("invalid-argument", `${abs} is no longer a regular file; only regular files are allowed in a files dataset`);
      yield { path, size: st.size, content: { file: fh } };
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/** The regular files of a tar archive (gzip-compressed or not), in archive order. Links and devices are refused. */
async function* archiveFiles(path: string): AsyncGenerator<TreeFile> {
  const fh = await open(path, "r").catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read the archive ${path}: ${messageOf(err)}`, { cause: err });
  });
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const ex = tarExtract();
  const source = createReadStream(path, { highWaterMark: READ_CHUNK });
  let feedError: unknown;
  const feed = (gzip ? pipeline(source, createGunzip(), ex) : pipeline(source, ex)).catch((err: unknown) => {
    feedError = err;
  });
  try {
    for await (const entry of ex) {
      const h = entry.header;
      if (h.type === "directory") {
        entry.resume();
        continue;
      }
      const name = h.name.replace(/^(\.\/)+/, "");
      if (h.type !== "file" && h.type !== "contiguous-file") {
        throw new CleanRoomError("invalid-argument", `The archive ${path} holds ${JSON.stringify(name)}, a ${h.type}; a files dataset takes regular files only (no links or devices)`);
      }
      yield { path: name, size: h.size ?? 0, content: { stream: entry as AsyncIterable<Buffer> } };
      entry.resume();
    }
  } catch (err) {
    source.destroy();
    await feed;
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("invalid-argument", `${path} is not a readable tar or .tar.gz archive: ${messageOf(err)}`, { cause: err });
  }
  await feed;
  if (feedError !== undefined) {
    throw new CleanRoomError("invalid-argument", `${path} is not a readable tar or .tar.gz archive: ${messageOf(feedError)}`, { cause: feedError });
  }
}

/**
 * Whether this provisioning is of a `files` tree, after checking that what the provider gave (`--dir`, i.e.
 * `kind: "files"`, or a table format from `--csv`/`--parquet`) agrees with the dataset's kind in the spec.
 *
 * @throws CleanRoomError `invalid-argument` naming the option the dataset's kind needs
 */
export function provisionsTree(provider: string, dataset: DescriptorDataset, given: { readonly kind?: string; readonly format?: string }): boolean {
  if (given.kind !== undefined && given.kind !== "table" && given.kind !== "files") {
    throw new CleanRoomError("invalid-argument", `Unknown dataset kind ${JSON.stringify(given.kind)}; use table or files`);
  }
  const tree = isFilesDataset(dataset);
  if (tree && (given.format !== undefined || given.kind === "table")) {
    throw new CleanRoomError(
      "invalid-argument",
      `Dataset ${provider}/${dataset.name} is a files dataset in the room's spec (kind: "files"), not a table: provision its directory (or .tar/.tar.gz archive) with --dir <tree>`,
    );
  }
  if (!tree && given.kind === "files") {
    throw new CleanRoomError(
      "invalid-argument",
      `Dataset ${provider}/${dataset.name} is a table in the room's spec, not a files dataset: provision it with --csv <file> (or --parquet), or set kind: "files" on the dataset in the spec`,
    );
  }
  return tree;
}

/** The `manifest.json` of a tree just encrypted by `encryptTree`. */
export function treeDatasetManifest(provider: string, dataset: string, enc: EncryptedTree): DatasetManifest {
  return {
    format: ENVELOPE_FORMAT,
    provider,
    dataset,
    kind: "files",
    files: enc.files,
    bytes: enc.bytes,
    sha256: enc.sha256,
    createdAt: new Date().toISOString(),
  };
}

/** Whether a `--dir` argument names an archive (`.tar`, `.tar.gz`, `.tgz`) rather than a directory. */
export function isTreeArchive(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(path);
}

/** Options of `encryptTree`. */
export interface EncryptTreeOptions extends EncryptOptions {
  /** Called with the plaintext bytes read so far (for a progress bar). @default - none */
  readonly onBytes?: (bytes: number) => void;
  /** Also return the ciphertext's base64 MD5 (see `SealerOptions.md5`). @default false */
  readonly md5?: boolean;
}

/** What `encryptTree` wrote. */
export interface EncryptedTree extends TreeSummary {
  /** Base64 MD5 of the ciphertext file, with the `md5` option. */
  readonly ciphertextMd5?: string;
}

/**
 * Encrypts a directory tree, or a `.tar`/`.tar.gz` archive of one, into an "acr-tree-v1" container inside
 * "acr-envelope-v1", streamed to `dst` (0600). `dst` appears only when the whole tree was read and encrypted.
 *
 * @param src a directory, or an archive (`isTreeArchive`)
 * @throws CleanRoomError `invalid-argument` for links, devices, unsafe or duplicate paths; `io-error` for unreadable
 *   files or a file that changed while it was read
 */
export async function encryptTree(src: string, dst: string, key: Buffer, options: EncryptTreeOptions = {}): Promise<EncryptedTree> {
  const st = await lstat(src).catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read ${src}: ${messageOf(err)}`, { cause: err });
  });
  const archive = st.isFile() && isTreeArchive(src);
  if (!st.isDirectory() && !archive) {
    throw new CleanRoomError("invalid-argument", `${src} is neither a directory nor a .tar/.tar.gz archive; give the tree to provision with --dir`);
  }
  const sealer = await EnvelopeSealer.create(dst, key, { ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }), md5: options.md5 === true });
  const entries: Promise<ManifestEntry>[] = [];
  let sealed = false;
  try {
    await sealTree(archive ? archiveFiles(src) : directoryFiles(src), sealer, entries, options.onBytes);
    // The sealer's `bytes` count the container's records too; the summary's are the files'.
    const { bytes: _container, ...digests } = await sealer.finish();
    sealed = true;
    return { ...summarize(await Promise.all(entries)), ...digests };
  } catch (err) {
    await sealer.abort();
    // Without its manifest the ciphertext must not look complete.
    if (sealed) await rm(dst, { force: true });
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("io-error", `Cannot encrypt the tree ${src} into ${dst}: ${messageOf(err)}`, { cause: err });
  }
}

function badTree(what: string): CleanRoomError {
  // Record numbers, never the provider's file names: this message can end up in a receipt.
  return new CleanRoomError("invalid-manifest", `The files dataset's tree is malformed: ${what}. Re-provision the dataset with \`cleanroom data provision --dir\``);
}

/**
 * Writes the records of an "acr-tree-v1" plaintext under a directory as they arrive. See `extractTree`.
 */
class TreeWriter extends Writable {
  private state: "magic" | "type" | "pathLength" | "path" | "size" | "content" | "end" | "done" = "magic";
  private need = MAGIC.length;
  private readonly acc: Buffer[] = [];
  private accLength = 0;
  private record = 0;
  private path = "";
  private size = 0;
  private remaining = 0;
  private file: FileHandle | undefined;
  private hash = createHash("sha256");
  private readonly seen = new PathSet();
  private readonly dirs = new Set<string>();
  readonly entries: ManifestEntry[] = [];

  constructor(private readonly root: string) {
    super({ highWaterMark: READ_CHUNK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    callback(this.state === "done" ? null : badTree(`it ends inside record ${this.record}`));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const f = this.file;
    this.file = undefined;
    if (f === undefined) callback(err);
    else
      f.close().then(
        () => callback(err),
        () => callback(err),
      );
  }

  /** Directories created, deepest first (for making them read-only once every file is in). */
  createdDirs(): string[] {
    return [...this.dirs].sort((a, b) => b.split("/").length - a.split("/").length);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === "done") throw badTree("bytes follow its end record");
      if (this.state === "content") {
        const n = Math.min(this.remaining, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        off += n;
        this.hash.update(part);
        await this.writeAll(part);
        this.remaining -= n;
        if (this.remaining === 0) await this.closeFile();
        continue;
      }
      const n = Math.min(this.need - this.accLength, chunk.length - off);
      this.acc.push(chunk.subarray(off, off + n));
      this.accLength += n;
      off += n;
      if (this.accLength === this.need) {
        const field = this.acc.length === 1 ? (this.acc[0] as Buffer) : Buffer.concat(this.acc);
        this.acc.length = 0;
        this.accLength = 0;
        await this.field(field);
      }
    }
  }

  private expect(state: TreeWriter["state"], need: number): void {
    this.state = state;
    this.need = need;
  }

  private async field(b: Buffer): Promise<void> {
    switch (this.state) {
      case "magic":
        if (!b.equals(MAGIC)) throw badTree(`it does not start with the ${TREE_FORMAT} header (is the dataset a table?)`);
        return this.expect("type", 1);
      case "type":
        this.record++;
        if (b[0] === TYPE_END) return this.expect("end", 12);
        if (b[0] !== TYPE_FILE) throw badTree(`record ${this.record} has type ${b[0]}; only regular files are allowed (no links, devices or directories)`);
        return this.expect("pathLength", 2);
      case "pathLength": {
        const n = b.readUInt16BE(0);
        if (n === 0 || n > MAX_TREE_PATH_BYTES) throw badTree(`record ${this.record} has a path of ${n} bytes`);
        return this.expect("path", n);
      }
      case "path": {
        const path = new TextDecoder("utf-8", { fatal: false }).decode(b);
        const describe = `record ${this.record}`;
        if (!Buffer.from(path, "utf8").equals(b)) throw badTree(`${describe} has a path that is not UTF-8`);
        checkTreePath(path, describe, "invalid-manifest");
        this.seen.add(path, describe, "invalid-manifest");
        this.path = path;
        return this.expect("size", 8);
      }
      case "size": {
        const size = b.readBigUInt64BE(0);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw badTree(`record ${this.record} announces ${size} bytes`);
        this.size = Number(size);
        this.remaining = this.size;
        await this.openFile();
        if (this.remaining === 0) return this.closeFile();
        return this.expect("content", 0);
      }
      case "end": {
        const files = b.readUInt32BE(0);
        const bytes = b.readBigUInt64BE(4);
        const total = this.entries.reduce((n, e) => n + e.bytes, 0);
        if (files !== this.entries.length || bytes !== BigInt(total)) {
          throw badTree(`its end record announces ${files} files and ${bytes} bytes, but it held ${this.entries.length} files and ${total} bytes`);
        }
        this.state = "done";
        return;
      }
      default:
        throw badTree(`unexpected state ${this.state}`);
    }
  }

  private async openFile(): Promise<void> {
    const parts = this.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      if (!this.dirs.has(rel)) {
        await mkdir(join(this.root, ...parts.slice(0, i)), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
        this.dirs.add(rel);
      }
    }
    this.hash = createHash("sha256");
    // O_EXCL: never through anything already at that path (nothing is, in a fresh directory: defence in depth).
    this.file = await open(join(this.root, ...parts), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o444);
  }

  private async writeAll(b: Buffer): Promise<void> {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await (this.file as FileHandle).write(b, off, b.length - off);
      off += bytesWritten;
    }
  }

  private async closeFile(): Promise<void> {
    const f = this.file as FileHandle;
    this.file = undefined;
    await f.close();
    this.entries.push({ path: this.path, bytes: this.size, sha256: this.hash.digest("hex") });
    this.expect("type", 1);
  }
}

/**
 * Decrypts an "acr-tree-v1" envelope into `destDir`, which must not exist yet: it is created (0555 when done), each
 * file is written as its bytes arrive (0444), and each directory is made read-only (0555) once every file is in.
 *
 * Links, devices, absolute or `..` paths, duplicates, a file under another file, sizes that disagree with the end
 * record, and anything after it are refused with `invalid-manifest`; tampering with `digest-mismatch` (envelope).
 * On failure `destDir` is removed.
 *
 * @returns the tree's manifest, file count, total bytes and manifest digest (hex)
 */
export async function extractTree(ciphertext: AsyncIterable<unknown> | NodeJS.ReadableStream, key: Buffer, destDir: string): Promise<TreeSummary> {
  await mkdir(destDir, { mode: 0o755 }).catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot create ${destDir} for the files dataset: ${messageOf(err)}`, { cause: err });
  });
  const writer = new TreeWriter(destDir);
  try {
    await pipeline(ciphertext as NodeJS.ReadableStream, createDecryptStream(key), writer);
    for (const d of writer.createdDirs()) await chmod(join(destDir, ...d.split("/")), 0o555);
    await chmod(destDir, 0o555);
  } catch (err) {
    await makeWritable(destDir);
    await rm(destDir, { recursive: true, force: true });
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("io-error", `Cannot write the files dataset into ${destDir}: ${messageOf(err)}`, { cause: err });
  }
  return summarize(writer.entries);
}

/** Makes every directory under `dir` writable again, so a failed extraction can be removed (best effort). */
async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755).catch(() => undefined);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await makeWritable(join(dir, e.name));
  }
}

/** Decrypts an "acr-tree-v1" envelope file into `destDir` (see `extractTree`). */
export async function decryptTreeFile(src: string, key: Buffer, destDir: string): Promise<TreeSummary> {
  return extractTree(createReadStream(src, { highWaterMark: READ_CHUNK }), key, destDir);
}

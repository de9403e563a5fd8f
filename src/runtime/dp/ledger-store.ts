/**
 * Where a privacy ledger's entries live: one create-only object per entry, named by its sequence number.
 *
 * Both backends give the same guarantee: creating entry `n` succeeds for exactly one writer, and an entry once created
 * is never replaced. Two spenders racing for the same slot therefore cannot both win; the loser re-reads the ledger and
 * checks the budget again. Locally an entry is written to a private temporary file and hard-linked to its name (`link`
 * fails with EEXIST, and a reader never sees half an entry); on GCP it is uploaded with `ifGenerationMatch=0`
 * (`platforms/gcp/ledger-store.ts`).
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CleanRoomError, messageOf } from "../../core/errors.js";

/** File/object name of entry `seq`: zero-padded so that names sort in order. */
export function entryName(seq: number): string {
  return `${String(seq).padStart(8, "0")}.json`;
}

const ENTRY_NAME = /^(\d{8})\.json$/;

/** Parses an entry's file name; undefined for anything else (temporary files, stray objects). */
export function seqOfName(name: string): number | undefined {
  const m = ENTRY_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The storage of one ledger. */
export interface LedgerStore {
  /** Where the ledger is, for messages (`/path/to/ledger` or `gs://bucket/…/ledger`). */
  readonly location: string;
  /** Every entry's bytes, in sequence order (the caller checks the sequence has no gaps). */
  list(): Promise<{ seq: number; bytes: Buffer }[]>;
  /**
   * Creates entry `seq`, only if no entry `seq` exists.
   *
   * @returns false when another writer created it first (nothing was written)
   */
  create(seq: number, bytes: Buffer): Promise<boolean>;
}

/** A ledger kept in a local directory (a local room's provider directory, or a provider's own machine). */
export class DirectoryLedgerStore implements LedgerStore {
  constructor(readonly location: string) {}

  async list(): Promise<{ seq: number; bytes: Buffer }[]> {
    let names: string[];
    try {
      names = await readdir(this.location);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return [];
      if ((err as { code?: string }).code === "ENOTDIR") {
        throw new CleanRoomError("invalid-argument", `The privacy ledger ${this.location} is a file, not a ledger directory`);
      }
      throw new CleanRoomError("io-error", `Cannot read the privacy ledger ${this.location}: ${messageOf(err)}`, { cause: err });
    }
    const out: { seq: number; bytes: Buffer }[] = [];
    for (const name of names) {
      const seq = seqOfName(name);
      if (seq === undefined) continue;
      out.push({ seq, bytes: await readFile(join(this.location, name)) });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async create(seq: number, bytes: Buffer): Promise<boolean> {
    const tmp = join(this.location, `.tmp-${randomBytes(8).toString("hex")}`);
    try {
      await mkdir(this.location, { recursive: true, mode: 0o700 });
      await writeFile(tmp, bytes, { mode: 0o600, flag: "wx" });
      try {
        // link(2) is atomic and refuses an existing name: exactly one racing writer gets slot `seq`.
        await link(tmp, join(this.location, entryName(seq)));
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === "EEXIST") return false;
        throw err;
      }
    } catch (err) {
      throw new CleanRoomError("io-error", `Cannot write entry ${seq} of the privacy ledger ${this.location}: ${messageOf(err)}`, { cause: err });
    } finally {
      // Nothing to remove when the directory itself could not be made (ENOTDIR): the error above says why.
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}

/** What a GCP ledger store needs (provided by the lazily loaded GCP platform, so local use never loads the SDKs). */
export type GcsLedgerStoreFactory = (uri: string, projectId?: string) => LedgerStore;

/**
 * Opens the ledger at a path, a `file://` URI or a `gs://` URI.
 *
 * @param gcs creates a Cloud Storage store (e.g. `loadGcp().gcsLedgerStore`); required for `gs://`
 * @throws CleanRoomError `invalid-argument` for any other scheme
 */
export function openLedgerStore(location: string, gcs?: GcsLedgerStoreFactory, projectId?: string): LedgerStore {
  if (location.startsWith("gs://")) {
    if (!gcs) throw new CleanRoomError("invalid-argument", `The ledger ${location} is in Cloud Storage but this build has no GCP platform`);
    return gcs(location.replace(/\/+$/, ""), projectId);
  }
  if (location.startsWith("file://")) return new DirectoryLedgerStore(fileURLToPath(location));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new CleanRoomError("invalid-argument", `A privacy ledger is a local directory or a gs:// prefix (got ${location})`);
  }
  return new DirectoryLedgerStore(location);
}

/** `true` when a local path is an existing regular file (e.g. a version-1 `ledger.json`). */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

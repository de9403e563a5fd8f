/**
 * The data scientist's workspace: the job entrypoints it holds (`.py`, `.js`, `.ipynb` files, a few folders deep).
 * A job is the folder of its entrypoint, packed as `cleanroom job pack <folder> --entrypoint <file>` packs it.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { CleanRoomError } from "../../core/errors.js";
import { IGNORED_NAMES } from "../jobs/pack.js";

/** How deep the workspace is searched for entrypoints. */
export const MAX_DEPTH = 4;
/** At most this many entrypoints are listed. */
const MAX_ENTRYPOINTS = 500;

/** An entrypoint found in the workspace. */
export interface Entrypoint {
  /** Path relative to the workspace, `/`-separated: what the form sends. */
  readonly path: string;
  /** The job folder (relative; `""` for the workspace itself). */
  readonly folder: string;
  /** The entrypoint file inside the folder. */
  readonly file: string;
}

const ENTRYPOINT = /\.(py|js|ipynb)$/;

/** Every entrypoint in the workspace, sorted by path. Hidden and ignored folders (caches, .git, node_modules) are skipped. */
export async function findEntrypoints(workspace: string): Promise<Entrypoint[]> {
  const out: Entrypoint[] = [];
  async function walk(dir: string, rel: string, depth: number): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (rel === "") throw new CleanRoomError("not-found", `The workspace ${workspace} cannot be read: start the console with --workspace <folder of your job sources>`, { cause: err });
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (out.length >= MAX_ENTRYPOINTS) return;
      if (e.name.startsWith(".") || IGNORED_NAMES.includes(e.name)) continue;
      if (e.isFile() && ENTRYPOINT.test(e.name)) out.push({ path: rel ? `${rel}/${e.name}` : e.name, folder: rel, file: e.name });
      else if (e.isDirectory() && depth < MAX_DEPTH) await walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, depth + 1);
    }
  }
  await walk(workspace, "", 1);
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

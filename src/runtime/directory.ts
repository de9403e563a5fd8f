/** Creating the directories the CLI is told to write to, with a clear error when the path is a file. */
import { mkdir } from "node:fs/promises";
import { CleanRoomError, messageOf } from "../core/errors.js";

/**
 * `mkdir -p path` that explains a path (or a parent of it) that is a file instead of failing with `EEXIST`/`ENOTDIR`.
 *
 * @param option the option or argument that named the path, for the message (e.g. `--out`)
 * @throws CleanRoomError `already-exists` when the path or a parent is a file; `io-error` when it cannot be created
 * @example
 * await makeDirectory("./packed", "--out");
 */
export async function makeDirectory(path: string, option: string, mode?: number): Promise<void> {
  try {
    await mkdir(path, { recursive: true, ...(mode === undefined ? {} : { mode }) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EEXIST" || code === "ENOTDIR") {
      throw new CleanRoomError("already-exists", `${option} ${path}: ${code === "EEXIST" ? "that path" : "a parent of that path"} is a file, not a directory; pass a new or existing directory`, { cause: err });
    }
    throw new CleanRoomError("io-error", `${option} ${path}: cannot create the directory: ${messageOf(err)}`, { cause: err });
  }
}

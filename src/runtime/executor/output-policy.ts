/**
 * The output policy: what may leave the room. Checked after the job exits and before anything is written to
 * quarantine.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Manifest, manifestOf } from "../../core/digest.js";
import { CleanRoomError } from "../../core/errors.js";

/**
 * Checks the output directory: regular files and directories only (a symlink could point at the decrypted inputs, a
 * FIFO could block the executor), total size within `maxBytes`. Returns the output manifest.
 *
 * @throws CleanRoomError `output-policy` naming the offending path
 */
export async function checkOutputs(outputDir: string, maxBytes: number): Promise<Manifest> {
  let total = 0;
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dir, name));
      if (st.isSymbolicLink()) throw new CleanRoomError("output-policy", `Output ${r} is a symbolic link; outputs must be regular files`);
      if (st.isDirectory()) await walk(join(dir, name), r);
      else if (!st.isFile()) throw new CleanRoomError("output-policy", `Output ${r} is not a regular file (device, FIFO or socket)`);
      else {
        total += st.size;
        // Checked before hashing, so an oversized output costs no hashing time.
        if (total > maxBytes) {
          throw new CleanRoomError("output-policy", `The outputs exceed the room's limit of ${maxBytes} bytes (output.maxBytes); write less, or ask the room owner to raise it`);
        }
      }
    }
  }
  await walk(outputDir, "");
  return manifestOf(outputDir);
}

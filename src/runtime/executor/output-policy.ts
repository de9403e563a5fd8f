/**
 * The output policy: what may leave the room. Checked after the job (and every process it started) has exited and
 * before anything is written to quarantine.
 *
 * Output names are chosen by code that has read the raw data, so no message here repeats one: a name in an error
 * would reach `job status` (and the consumer) before any provider reviewed the result.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Manifest, comparePaths, manifestOf } from "../../core/digest.js";
import { CleanRoomError } from "../../core/errors.js";
import { UNPRINTABLE_PATTERN } from "../../core/receipt.js";

/** At most this many output files and directories: each file is an entry of the receipt, which verifiers read whole. */
export const MAX_OUTPUT_ENTRIES = 10_000;
/** The longest output path, in UTF-8 bytes. */
export const MAX_OUTPUT_PATH_BYTES = 1024;
/**
 * The sum of every output path's UTF-8 bytes. With `MAX_OUTPUT_ENTRIES` this keeps the largest possible receipt well
 * under the 4 MiB a verifier reads (about 1.3 MB of digests and sizes plus 1 MiB of names).
 */
export const MAX_OUTPUT_PATHS_BYTES = 1024 * 1024;

const WHY_NO_NAME = "(the receipt and this message do not name it: a name chosen after reading the data could carry it past the release review)";

function refuse(what: string): CleanRoomError {
  return new CleanRoomError("output-policy", `${what} ${WHY_NO_NAME}`);
}

/**
 * The error when outputs change after the policy checked them: a process the job started is still writing.
 */
export function changedOutputs(): CleanRoomError {
  return refuse(
    "The job's outputs changed after the output policy checked them: a process the job started is still running and writing to them. Nothing was released; make the job wait for every process it starts before it exits",
  );
}

/**
 * Checks the output directory: regular files and directories only (a symlink could point at the decrypted inputs, a
 * FIFO could block the executor), printable UTF-8 names without a backslash, at most `MAX_OUTPUT_ENTRIES` entries
 * and `MAX_OUTPUT_PATH_BYTES` per path, total size within `maxBytes`. Returns the output manifest, of exactly the
 * files the checks saw (a process the job left behind that adds or grows files meanwhile fails the check).
 *
 * @throws CleanRoomError `output-policy` saying which rule was broken (never by which name)
 */
export async function checkOutputs(outputDir: string, maxBytes: number): Promise<Manifest> {
  let total = 0;
  let entries = 0;
  let pathBytes = 0;
  /** The regular files the walk checked. */
  const files: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for (const raw of await readdir(dir, { encoding: "buffer" })) {
      const name = raw.toString("utf8");
      // Invalid UTF-8 would be recorded under a name that is not the file's (U+FFFD), and could not be verified.
      if (!Buffer.from(name, "utf8").equals(raw)) throw refuse("An output's name is not valid UTF-8: use printable UTF-8 names");
      if (UNPRINTABLE_PATTERN.test(name) || name.includes("\\")) {
        throw refuse("An output's name holds a control or formatting character or a backslash: use printable names without `\\`");
      }
      const r = rel ? `${rel}/${name}` : name;
      if (++entries > MAX_OUTPUT_ENTRIES) {
        throw refuse(`The job wrote more than ${MAX_OUTPUT_ENTRIES} output files and directories; write fewer (e.g. one archive or table)`);
      }
      const bytes = Buffer.byteLength(r);
      pathBytes += bytes;
      if (bytes > MAX_OUTPUT_PATH_BYTES) throw refuse(`An output's path is longer than ${MAX_OUTPUT_PATH_BYTES} bytes; use shorter names`);
      if (pathBytes > MAX_OUTPUT_PATHS_BYTES) throw refuse(`The outputs' paths add up to more than ${MAX_OUTPUT_PATHS_BYTES} bytes; write fewer or shorter-named files`);
      const st = await lstat(join(dir, name));
      if (st.isSymbolicLink()) throw refuse("An output is a symbolic link; outputs must be regular files");
      if (st.isDirectory()) await walk(join(dir, name), r);
      else if (!st.isFile()) throw refuse("An output is not a regular file (a device, FIFO or socket)");
      else {
        files.push(r);
        total += st.size;
        // Checked before hashing, so an oversized output costs no hashing time.
        if (total > maxBytes) {
          throw new CleanRoomError("output-policy", `The outputs exceed the room's limit of ${maxBytes} bytes (output.maxBytes); write less, or ask the room owner to raise it`);
        }
      }
    }
  }
  try {
    await walk(outputDir, "");
    files.sort(comparePaths);
    const manifest = await manifestOf(outputDir);
    // A process the job left behind (possible where the job shares the executor's container, on GCP) can add, remove or
    // grow files between the walk and the hashing: only what the walk checked may be recorded.
    const hashed = manifest.reduce((n, e) => n + e.bytes, 0);
    if (manifest.length !== files.length || manifest.some((e, i) => e.path !== files[i]) || hashed > maxBytes) throw changedOutputs();
    return manifest;
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "output-policy") throw err;
    // A file system error names the path it failed on: report only that reading the outputs failed.
    throw refuse("The job's outputs could not be read");
  }
}

/**
 * Unpacking a job bundle safely, for the executor: regular files only, relative normalized paths, no duplicates, a size
 * limit. The job digest is then recomputed from the unpacked files, never trusted from the tar.
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { CleanRoomError, messageOf } from "../../core/errors.js";

/** Largest unpacked bundle: code, not data (data comes through the encrypted inputs). */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

function checkName(name: string): string {
  const clean = name.replace(/^\.\//, "");
  const parts = clean.split("/");
  // Stops path traversal ("../x", "/etc/x") out of the work directory.
  if (clean.length === 0 || clean.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new CleanRoomError("invalid-manifest", `The bundle holds an unsafe path ${JSON.stringify(name)}`);
  }
  return clean;
}

/**
 * Extracts a bundle stream into `destDir` (which must exist and be empty). Entries are taken one at a time from tar's
 * async iterator, so a bad entry anywhere (not only the first) rejects this promise: nothing is thrown outside it
 * (an uncaught error would kill the executor before it could commit a failure receipt).
 *
 * @returns the extracted relative paths
 * @throws CleanRoomError `invalid-manifest` for links, devices, unsafe or duplicate paths, or an oversized bundle
 */
export async function extractBundle(source: Readable, destDir: string, maxBytes = MAX_BUNDLE_BYTES): Promise<string[]> {
  const ex = tarExtract();
  const seen = new Set<string>();
  let total = 0;
  let feedError: unknown;
  // The feed ends with an error when the iteration below stops early (it destroys the extractor): that is expected.
  const feed = pipeline(source, ex).catch((err: unknown) => {
    feedError = err;
  });
  try {
    for await (const entry of ex) {
      const header = entry.header;
      if (header.type === "directory") {
        entry.resume();
        continue;
      }
      if (header.type !== "file") throw new CleanRoomError("invalid-manifest", `The bundle holds ${header.name}, a ${header.type}; only regular files are allowed`);
      const name = checkName(header.name);
      if (seen.has(name)) throw new CleanRoomError("invalid-manifest", `The bundle holds ${name} twice`);
      seen.add(name);
      total += header.size ?? 0;
      if (total > maxBytes) throw new CleanRoomError("invalid-manifest", `The bundle is larger than ${maxBytes} bytes`);
      const dest = join(destDir, ...name.split("/"));
      await mkdir(dirname(dest), { recursive: true });
      await pipeline(entry, createWriteStream(dest, { mode: (header.mode ?? 0o644) & 0o100 ? 0o755 : 0o644, flags: "wx" }));
    }
  } catch (err) {
    source.destroy();
    await feed;
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("invalid-manifest", `The job bundle is not a readable tar: ${messageOf(err)}`, { cause: err });
  }
  await feed;
  if (feedError !== undefined) {
    throw new CleanRoomError("invalid-manifest", `The job bundle is not a readable tar: ${messageOf(feedError)}`, { cause: feedError });
  }
  return [...seen].sort();
}

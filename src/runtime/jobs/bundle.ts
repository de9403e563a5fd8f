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
 * Extracts a bundle stream into `destDir` (which must exist and be empty).
 *
 * @returns the extracted relative paths
 * @throws CleanRoomError `invalid-manifest` for links, devices, unsafe or duplicate paths, or an oversized bundle
 */
export async function extractBundle(source: Readable, destDir: string, maxBytes = MAX_BUNDLE_BYTES): Promise<string[]> {
  const ex = tarExtract();
  const seen = new Set<string>();
  let total = 0;
  ex.on("entry", (header, stream, next) => {
    const fail = (err: unknown) => {
      stream.resume();
      ex.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    try {
      if (header.type === "directory") {
        stream.resume();
        stream.on("end", next);
        return;
      }
      if (header.type !== "file") throw new CleanRoomError("invalid-manifest", `The bundle holds ${header.name}, a ${header.type}; only regular files are allowed`);
      const name = checkName(header.name);
      if (seen.has(name)) throw new CleanRoomError("invalid-manifest", `The bundle holds ${name} twice`);
      seen.add(name);
      total += header.size ?? 0;
      if (total > maxBytes) throw new CleanRoomError("invalid-manifest", `The bundle is larger than ${maxBytes} bytes`);
      const dest = join(destDir, ...name.split("/"));
      mkdir(dirname(dest), { recursive: true })
        .then(() => pipeline(stream, createWriteStream(dest, { mode: (header.mode ?? 0o644) & 0o100 ? 0o755 : 0o644, flags: "wx" })))
        .then(() => next(), fail);
    } catch (err) {
      fail(err);
    }
  });
  try {
    await pipeline(source, ex);
  } catch (err) {
    if (err instanceof CleanRoomError) throw err;
    throw new CleanRoomError("invalid-manifest", `The job bundle is not a readable tar: ${messageOf(err)}`, { cause: err });
  }
  return [...seen].sort();
}

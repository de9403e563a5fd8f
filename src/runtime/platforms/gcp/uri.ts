/** `gs://bucket/path` URIs. */
import { CleanRoomError } from "../../../core/errors.js";

/** A parsed `gs://` URI. */
export interface GsUri {
  readonly bucket: string;
  /** Object name or prefix, without a leading slash (may be empty). */
  readonly name: string;
}

/** Parses `gs://bucket[/name]`. @throws CleanRoomError `invalid-argument` */
export function parseGsUri(uri: string): GsUri {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220})(?:\/(.*))?$/.exec(uri);
  if (!m) throw new CleanRoomError("invalid-argument", `Expected a gs://bucket/object URI (got ${JSON.stringify(uri)})`);
  const name = m[2] ?? "";
  if (name.split("/").some((s) => s === ".." || s === ".")) {
    throw new CleanRoomError("invalid-argument", `Object names with . or .. segments are not allowed (got ${JSON.stringify(uri)})`);
  }
  return { bucket: m[1]!, name };
}

/** Joins a base URI and relative segments with single slashes. */
export function joinUri(base: string, ...parts: string[]): string {
  return [base.replace(/\/+$/, ""), ...parts.map((p) => p.replace(/^\/+|\/+$/g, ""))].filter((p) => p !== "").join("/");
}

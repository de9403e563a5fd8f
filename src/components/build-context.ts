/**
 * The content hash of an image's build context, for the executor's default tag.
 *
 * The repository has immutable tags, so a fixed tag (`v1`) can be pushed once: the next `pulumi up` after a change
 * to the executor would fail to push. The default tag is therefore derived from what the image is built from: the
 * Dockerfile and every file its `COPY` / `ADD` lines take from the context.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";

/** Directories never sent to a build as part of a `COPY` of their parent. */
const SKIPPED = new Set(["node_modules", ".git"]);

/** The context-relative sources of a Dockerfile's `COPY` and `ADD` lines (not `--from=` stages). Pure. */
export function copySources(dockerfileText: string): string[] {
  const out: string[] = [];
  const joined = dockerfileText.replace(/\\\r?\n/g, " ");
  for (const line of joined.split(/\r?\n/)) {
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    let rest = m[2]!.trim();
    const flags: string[] = [];
    while (rest.startsWith("--")) {
      const sp = rest.search(/\s/);
      flags.push(sp === -1 ? rest : rest.slice(0, sp));
      rest = sp === -1 ? "" : rest.slice(sp).trim();
    }
    if (flags.some((f) => f.startsWith("--from"))) continue;
    let words: string[];
    if (rest.startsWith("[")) {
      try {
        words = JSON.parse(rest) as string[];
      } catch {
        continue;
      }
    } else {
      words = rest.split(/\s+/).filter(Boolean);
    }
    out.push(...words.slice(0, -1));
  }
  return out;
}

function globRegExp(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`);
}

function* filesUnder(root: string, rel: string): Generator<string> {
  const abs = path.join(root, rel);
  if (!existsSync(abs)) return;
  const st = statSync(abs);
  if (st.isFile()) {
    yield rel;
    return;
  }
  if (!st.isDirectory()) return;
  for (const e of readdirSync(abs).sort()) {
    if (SKIPPED.has(e)) continue;
    yield* filesUnder(root, rel === "." ? e : path.posix.join(rel, e));
  }
}

/**
 * sha256 (hex) of the Dockerfile's text and of every file (path and bytes) its `COPY` / `ADD` lines take from the
 * context. A glob source (`*.json`) matches the files of its directory.
 */
export function buildContextDigest(context: string, dockerfile: string): string {
  const hash = createHash("sha256");
  const text = readFileSync(dockerfile, "utf8");
  hash.update(`dockerfile\0${text}\0`);
  const files = new Set<string>();
  for (const src of copySources(text)) {
    const clean = path.posix.normalize(src.replace(/^\.\/+/, "")).replace(/\/+$/, "") || ".";
    if (clean.startsWith("..")) continue;
    if (/[*?]/.test(clean)) {
      const dir = path.posix.dirname(clean);
      const re = globRegExp(path.posix.basename(clean));
      const abs = path.join(context, dir);
      if (!existsSync(abs)) continue;
      for (const e of readdirSync(abs).sort()) if (re.test(e)) for (const f of filesUnder(context, dir === "." ? e : path.posix.join(dir, e))) files.add(f);
    } else {
      for (const f of filesUnder(context, clean)) files.add(f);
    }
  }
  for (const f of [...files].sort()) {
    const bytes = readFileSync(path.join(context, f));
    hash.update(`${f}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/** The default executor tag: `ctx-` and the first 16 hex characters of `buildContextDigest`. */
export function contextTag(context: string, dockerfile: string): string {
  return `ctx-${buildContextDigest(context, dockerfile).slice(0, 16)}`;
}

/**
 * What changed between an approved version of a job and a new one: per file (added, removed, changed, unchanged),
 * with a line diff of text files (jsdiff), plus changes to the entrypoint and the inputs (both part of the digest).
 */
import { structuredPatch } from "diff";
import type { JobManifest } from "../../core/digest.js";
import type { BundleFile } from "./requests.js";

/** One changed line block. */
export interface DiffHunk {
  readonly header: string;
  /** Lines prefixed with "+", "-" or " ". */
  readonly lines: readonly string[];
}

/** How one file differs. */
export interface FileChange {
  readonly path: string;
  readonly kind: "added" | "removed" | "changed" | "unchanged";
  /** Line diff (text files that changed). */
  readonly hunks?: readonly DiffHunk[];
  /** Why there is no line diff (binary or large files). */
  readonly note?: string;
}

/** The difference between two versions of a job. */
export interface BundleDiff {
  readonly entrypoint?: { readonly before: readonly string[]; readonly after: readonly string[] };
  readonly inputs?: { readonly before: readonly string[]; readonly after: readonly string[] };
  readonly files: readonly FileChange[];
}

const inputsOf = (m: JobManifest) => m.inputs.map((i) => `${i.provider}/${i.dataset}`);

/** Compares a job (after) with an earlier version (before). */
export function diffBundles(before: { manifest: JobManifest; files: Map<string, BundleFile> }, after: { manifest: JobManifest; files: Map<string, BundleFile> }): BundleDiff {
  const b = new Map(before.manifest.files.map((f) => [f.path, f]));
  const a = new Map(after.manifest.files.map((f) => [f.path, f]));
  const paths = [...new Set([...b.keys(), ...a.keys()])].sort();
  const files: FileChange[] = paths.map((path) => {
    const x = b.get(path);
    const y = a.get(path);
    if (!x) return { path, kind: "added" };
    if (!y) return { path, kind: "removed" };
    if (x.sha256 === y.sha256) return { path, kind: "unchanged" };
    const bx = before.files.get(path);
    const by = after.files.get(path);
    if (bx && by && "text" in bx && "text" in by) {
      const p = structuredPatch(`a/${path}`, `b/${path}`, bx.text, by.text, "", "", { context: 3 });
      return { path, kind: "changed", hunks: p.hunks.map((h) => ({ header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, lines: h.lines })) };
    }
    return { path, kind: "changed", note: `binary or larger than the text limit (${x.bytes} → ${y.bytes} bytes; sha256 differs)` };
  });
  const same = (p: readonly string[], q: readonly string[]) => p.length === q.length && p.every((v, i) => v === q[i]);
  return {
    ...(same(before.manifest.entrypoint, after.manifest.entrypoint) ? {} : { entrypoint: { before: before.manifest.entrypoint, after: after.manifest.entrypoint } }),
    ...(same(inputsOf(before.manifest), inputsOf(after.manifest)) ? {} : { inputs: { before: inputsOf(before.manifest), after: inputsOf(after.manifest) } }),
    files,
  };
}

/**
 * Golden plans: the sanitized inputs of every resource an example registers, as stable JSON, so a reviewer sees
 * every plan change in a diff. `scripts/update-golden.ts` writes them; `golden.test.ts` fails when they are stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { EXAMPLES, REPO_ROOT, type RecordedResource, runExampleUnderMocks } from "./harness.js";

/** The command that regenerates the golden files. */
export const UPDATE_GOLDEN_COMMAND = "npm run golden";

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Sorts keys, masks secrets, drops engine-internal keys and replaces this checkout's path with `<repo>`. */
export function sanitize(value: unknown): unknown {
  // The executor's default tag hashes the build context (this checkout's sources): it changes with every edit.
  if (typeof value === "string") return value.split(REPO_ROOT).join("<repo>").replace(/:ctx-[0-9a-f]{16}$/, ":ctx-<build context hash>");
  if (Array.isArray(value)) return value.map(sanitize);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (SECRET_SIG_KEY in o) return "[secret]";
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) {
      if (k.startsWith("__")) continue;
      out[k] = sanitize(o[k]);
    }
    return out;
  }
  return value;
}

/** One golden entry: where the resource sits in the tree, and its inputs. */
export function goldenEntry(r: RecordedResource): Record<string, unknown> {
  const typePath = r.urn.split("::")[2] ?? r.type;
  return { type: r.type, name: r.name, parent: typePath.split("$").slice(0, -1).join("$") || null, inputs: sanitize(r.inputs) };
}

/** The golden text of one example. */
export async function goldenText(example: string): Promise<string> {
  const run = await runExampleUnderMocks(example);
  return `${JSON.stringify(run.resources.map(goldenEntry), null, 2)}\n`;
}

/** Path of an example's golden file. */
export function goldenPath(example: string): string {
  return path.join(REPO_ROOT, "tests", "golden", `${example.replace(/\//g, "-")}.json`);
}

/** Reads the committed golden text, or undefined when missing. */
export function readGolden(example: string): string | undefined {
  try {
    return readFileSync(goldenPath(example), "utf8");
  } catch {
    return undefined;
  }
}

/** Regenerates every example's golden file. */
export async function updateGolden(): Promise<string[]> {
  const written: string[] = [];
  for (const example of Object.keys(EXAMPLES)) {
    writeFileSync(goldenPath(example), await goldenText(example));
    written.push(path.relative(REPO_ROOT, goldenPath(example)));
  }
  return written;
}

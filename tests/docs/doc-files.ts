/** The documentation files whose commands are checked (tests/docs/*.test.ts), and their bash blocks. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../components/harness.js";
import { type BashBlock, bashBlocks } from "./markdown.js";

/** Every example program (a directory of examples/ with an index.ts) must have a README. */
export const EXAMPLE_READMES = readdirSync(join(REPO_ROOT, "examples"), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(REPO_ROOT, "examples", e.name, "index.ts")))
  .map((e) => `examples/${e.name}/README.md`);

/** README.md, every example's README and docs/operations.md. */
export const DOC_FILES = ["README.md", ...EXAMPLE_READMES, "docs/operations.md"].filter((f) => existsSync(join(REPO_ROOT, f)));

/** The bash blocks of a repo-relative markdown file. */
export function blocksOf(file: string): BashBlock[] {
  return bashBlocks(file, readFileSync(join(REPO_ROOT, file), "utf8"));
}

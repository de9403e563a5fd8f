#!/usr/bin/env node
/**
 * The `cleanroom` command (package.json "bin"). Runs the compiled CLI of an installed package (`dist/`), or, in a
 * source checkout (where `src/` is present), the TypeScript sources through ts-node: `npx cleanroom` works right after
 * `npm ci`, with no build step, and what runs is always what is checked out (a `dist/` left from an older build is
 * never picked up by mistake).
 *
 * Example: npx cleanroom local up --spec examples/quickstart/spec.json --dir ./room
 */
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const fromSource = existsSync(join(root, "src", "runtime", "cli.ts"));
if (fromSource) {
  let tsNode;
  try {
    tsNode = require("ts-node");
  } catch {
    process.stderr.write("cleanroom: this is a source checkout and ts-node is not installed: run `npm ci` (with dev dependencies) or `npm run build`\n");
    process.exit(1);
  }
  tsNode.register({ transpileOnly: true, project: join(root, "tsconfig.json") });
}
const dir = fromSource ? join(root, "src", "runtime") : join(root, "dist", "src", "runtime");
const { buildProgram } = require(join(dir, "cli"));
const { runCli } = require(join(dir, "cli", "common"));
void runCli(buildProgram(), process.argv);

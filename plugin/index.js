// The plugin entry of the source-based component package (PulumiPlugin.yaml `main: plugin`), run by Pulumi's Node.js
// language host from a git checkout: no build step. The package is named `cleanroom`, like the components' type
// tokens (`cleanroom:index:*`).
//
// The sources import each other with `.js` specifiers (nodenext), so they load through ts-node with its resolver,
// transpile-only: the repository's own `npm test` type-checks them. The language host's launcher has already
// registered a type-checking ts-node, which would type-check every file of the package again at each start (minutes
// on a small machine); `.ts` files of this package are therefore compiled by this entry's service alone.
const fs = require("node:fs");
const path = require("node:path");
const tsNode = require("ts-node");

const service = tsNode.register({ projectSearchDir: path.join(__dirname, ".."), transpileOnly: true, experimentalResolver: true });
require.extensions[".ts"] = function loadTs(module, filename) {
  if (/[\\/]node_modules[\\/]/.test(filename)) throw new Error(`cleanroom plugin: refusing to compile ${filename} from node_modules`);
  // Compiled and run here, not handed on to the `.js` loader: the launcher's ts-node wraps that one too, and would
  // type-check every file (through a program holding all of @pulumi/gcp's typings) before this transpiled it.
  module._compile(service.compile(fs.readFileSync(filename, "utf8"), filename), filename);
};
module.exports = require("./index.ts");

// Loaded by stryker.config.mjs into Stryker's main process and, as `--require`, into each test runner worker.
//
// @stryker-mutator/mocha-runner 9.x reaches into mocha's CLI internals with extensionless requires
// (`mocha/lib/cli/run-helpers`, `.../options`, `.../collect-files`). Mocha 12 renamed those files to `.cjs`, so the
// runner cannot load (upstream: stryker-js PR #6205, open; Stryker 10 has the same requires and needs Node 22).
// Registering `.cjs` as a CommonJS extension makes Node's resolver also try `<name>.cjs`. Nothing else changes: `.cjs`
// files already load through the `.js` loader. Remove this file, its two uses in stryker.config.mjs
// and the mocha override in package.json once the runner resolves mocha 12 itself.
const Module = require("node:module");

if (!Object.hasOwn(Module._extensions, ".cjs")) Module._extensions[".cjs"] = Module._extensions[".js"];

// @ts-check
// Mutation testing of the security and privacy core (`npm run mutate`; not part of `npm test`).
//
// Scope, ignorers and the equivalent-mutant list: reports/README.md. `npm run mutate` runs one Stryker process per
// path of scripts/mutation/paths.mjs (scripts/mutation/run.mjs), each with its own test files and its own committed
// incremental file `reports/stryker-incremental-<path>.json`, so a re-run only tests mutants whose code or covering
// tests changed. One path while working: `npm run mutate -- --path verify`.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MUTATE, htmlReportOf, incrementalFileOf, jsonReportOf, pathNamed, testFilesOf } from "./scripts/mutation/paths.mjs";

const root = dirname(fileURLToPath(import.meta.url));

// Mocha 12 with the 9.x mocha runner (see the file): in this process, which loads the plugins, and in each test
// runner worker through its exec arguments (not NODE_OPTIONS, which the rooms' own child processes would inherit).
const MOCHA12_SHIM = join(root, "scripts", "mutation", "mocha12-cjs.cjs");
createRequire(import.meta.url)(MOCHA12_SHIM);

// Stryker runs the tests from a copy under .stryker-tmp/, where `../shared` (beside the checkout) is not beside the
// copy: point the fixtures at the real one (the test helpers read these overrides).
process.env.CLEANROOM_SHARED_DATA ??= resolve(root, "..", "shared", "data");
process.env.CLEANROOM_REFERENCE_TESTDATA ??= resolve(root, "..", "shared", "reference", "testdata");

/** The whole scope: every path issue 20 names (scripts/mutation/paths.mjs). */
export { MUTATE };

/**
 * `npm run mutate` (scripts/mutation/run.mjs) runs Stryker once per path, naming it in this variable: the path's own
 * mutate globs, test files, incremental file and report files. Unset, a plain `npx stryker run` covers the whole scope
 * with every test file (slow: see reports/README.md).
 */
const PATH_ENV = "CLEANROOM_MUTATE_PATH";
const path = process.env[PATH_ENV] ? pathNamed(process.env[PATH_ENV]) : undefined;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const config = {
  packageManager: "npm",
  testRunner: "mocha",
  testRunnerNodeArgs: ["--require", MOCHA12_SHIM],
  mochaOptions: { config: join(root, ".mocharc.json") },
  // The TypeScript checker (mutants that do not compile count as CompileError, not as survivors) is installed but off
  // by default: its watch rebuild re-checks the whole program for every mutant, about a minute each on this 2-core
  // machine, which alone would take days for ~7,500 mutants. Turn it on for a few files:
  // `npm run mutate -- --checkers typescript --mutate src/core/attestation.ts`.
  checkers: [],
  tsconfigFile: "tsconfig.stryker.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // Each mutant runs only the tests that executed its code in the dry run.
  coverageAnalysis: "perTest",
  // Mutants only reached while modules load (top-level constants and regexes) would each need a fresh process and the
  // whole suite; they are counted as ignored, and listed in the report.
  ignoreStatic: true,
  mutate: path ? path.mutate : MUTATE,
  ...(path ? { testFiles: testFilesOf(path, root) } : {}),
  plugins: ["@stryker-mutator/mocha-runner", "@stryker-mutator/typescript-checker", "./scripts/mutation/ignorers.mjs"],
  ignorers: ["human-messages"],
  incremental: true,
  incrementalFile: path ? incrementalFileOf(path.name) : "reports/stryker-incremental.json",
  concurrency: 2,
  // 20 s plus twice the covering tests' dry-run time; a path with fast tests sets its own (`timeoutMS` in paths.mjs).
  timeoutMS: path?.timeoutMS ?? 20_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: path ? htmlReportOf(path.name) : "reports/mutation/index.html" },
  jsonReporter: { fileName: path ? jsonReportOf(path.name) : "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0, reportScoreTable: true, reportMutants: true },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};

export default config;

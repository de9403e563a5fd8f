// @ts-check
/**
 * The paths `npm run mutate` scores (issue 20), one Stryker run each (scripts/mutation/run.mjs): the files each path
 * mutates and the test files that exercise them.
 *
 * Only fast, in-process test files belong in `tests`. Stryker's per-test coverage sees only code that runs in its own
 * test-runner process: a test that drives a room, a built CLI or a browser in a child process covers nothing here,
 * yet costs its full time for every mutant whose code it happens to load. Each path writes its own incremental file
 * (`reports/stryker-incremental-<name>.json`) and JSON report (`reports/mutation/<name>/mutation.json`).
 */

import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * @typedef {object} MutationPath
 * @property {string} name       short name, used in file names and `--path`
 * @property {string} title      what the path covers, for `--list`
 * @property {string[]} mutate   Stryker `mutate` globs (`!` excludes)
 * @property {string[]} tests    the in-process test files that exercise the path: paths, or `<dir>/*.test.ts`
 * @property {string[]} [skip]   test files the `tests` globs match but that are slow end-to-end runs (child processes)
 * @property {number} [timeoutMS] Stryker's `timeoutMS` for this path (the fixed part of a mutant's time limit, beside
 *                                 twice its tests' dry-run time), when its tests take milliseconds: a mutant that loops
 *                                 forever then costs seconds, not the default 20 s and a worker restart
 */

/**
 * `timeoutMS` of the paths whose tests run in milliseconds: a limit of 3 s plus twice the covering tests' dry-run time
 * still leaves a loaded machine (load 10+) several times the time a correct run needs.
 */
const FAST_TIMEOUT_MS = 3_000;

/** Barrels re-export only: nothing to mutate. */
const NO_BARRELS = "!**/index.ts";

/**
 * The files `src/runtime/dp/<name>.ts`.
 * @param {...string} names
 * @returns {string[]}
 */
const dpFiles = (...names) => names.map((n) => `src/runtime/dp/${n}.ts`);

/** @type {readonly MutationPath[]} */
export const PATHS = [
  {
    name: "core",
    title: "src/core (the contract: attestation condition, descriptor, digests, receipt, spec)",
    mutate: ["src/core/**/*.ts", NO_BARRELS],
    tests: ["tests/core/*.test.ts"],
  },
  {
    name: "verify",
    title: "src/runtime/verify (token, chain, claims and result verification)",
    mutate: ["src/runtime/verify/**/*.ts", NO_BARRELS],
    // cli.test.ts runs the built CLI in a child process.
    tests: ["tests/verify/*.test.ts"],
    skip: ["tests/verify/cli.test.ts"],
  },
  {
    name: "executor",
    title: "src/runtime/executor (the workload: env, approval, run, job process, output policy, DP noise)",
    // main.ts is the process entry (env reading, exit codes), run by the end-to-end tests in child processes.
    mutate: ["src/runtime/executor/**/*.ts", NO_BARRELS, "!src/runtime/executor/main.ts"],
    tests: ["tests/executor/*.test.ts"],
  },
  {
    name: "broker",
    title: "src/runtime/platforms/local/broker.ts (the local key broker's release decision)",
    mutate: ["src/runtime/platforms/local/broker.ts"],
    tests: ["tests/local/broker-release.test.ts", "tests/local/broker-http.test.ts"],
  },
  // src/runtime/dp is scored in five paths: its mechanisms (accounting, samplers, query, ledger) are on every release
  // path, so one run with every in-process dp test ran each of their mutants against the slow release tests too
  // (Stryker's estimate: 3 h 30 min cold). Each path below keeps only the test files that exercise its own files.
  // Left out of every dp path (one reason each): stage2.test.ts drives a local room end to end; release-input.test.ts
  // runs the built CLI in child processes (and SIGTERMs one); rng.test.ts's CLI and `cleanroom` process tests and
  // ledger-chain.test.ts's three spending processes run in child processes (invisible to per-test coverage);
  // mst.test.ts trains random forests on three MST runs per ε (seconds per mutant); stage1-gcp.test.ts runs four
  // spenders on a loopback GCS; ledger.test.ts's CLI and produceStage1 tests cost about a second for every mutant they
  // reach, and ledger.edges, ledger-store and release test the same code in memory or on small inputs. The DuckDB and
  // BigQuery tests (aggregate-source.test.ts, sources.test.ts) run only in dp-sources, for the SQL sources' mutants:
  // in dp-release they made the run 55 min (every release.ts mutant ran them).
  {
    name: "dp-core",
    title: "src/runtime/dp mechanisms (zCDP accounting, samplers, aggregates, queries, the privacy ledger)",
    mutate: dpFiles("accounting", "samplers", "aggregates", "query", "ledger"),
    // the samplers' loop mutants time out (23 in the first cold run)
    timeoutMS: FAST_TIMEOUT_MS,
    tests: [
      "tests/dp/accounting.test.ts",
      "tests/dp/accounting.edges.test.ts",
      "tests/dp/samplers.test.ts",
      "tests/dp/samplers.edges.test.ts",
      "tests/dp/aggregates.edges.test.ts",
      "tests/dp/noise-scale.test.ts",
      "tests/dp/ledger.edges.test.ts",
    ],
  },
  {
    name: "dp-ledger",
    title: "src/runtime/dp ledger storage (entry store, provider keys, chain verification, v1 migration, room ledger URI)",
    mutate: dpFiles("ledger-store", "ledger-keys", "ledger-verify", "ledger-migrate", "room-ledger"),
    tests: ["tests/dp/ledger.edges.test.ts", "tests/dp/ledger-store.test.ts"],
  },
  {
    name: "dp-base",
    title: "src/runtime/dp building blocks (randomness, exponential mechanism, public domain, encoded tables)",
    mutate: dpFiles("rng", "exponential", "domain", "table"),
    // rng's and exponential's loop mutants (rejection sampling that never accepts) time out: 34 of them, each 20 s and
    // a worker restart with the default limit, were 14 of the path's 19 cold minutes.
    timeoutMS: FAST_TIMEOUT_MS,
    tests: ["tests/dp/base.test.ts", "tests/dp/samplers.test.ts", "tests/dp/unknown.test.ts"],
  },
  {
    name: "dp-model",
    title: "src/runtime/dp synthesizer internals (tree model, domain compression, sampling, marginals)",
    mutate: dpFiles("tree-model", "compress", "sample", "marginals"),
    tests: ["tests/dp/synth.test.ts", "tests/dp/tree-model.test.ts", "tests/dp/sample-unit.test.ts", "tests/dp/tree-fit.test.ts"],
    // the gradient descent's and the sampler's loop mutants time out (64 in the first cold run)
    timeoutMS: FAST_TIMEOUT_MS,
  },
  {
    name: "dp-mst",
    title: "src/runtime/dp synthesizers (MST, AIM, product of marginals)",
    mutate: dpFiles("mst", "aim", "independent"),
    // Small exact tables, about a second per file. Left out: order.test.ts and unknown.test.ts (mst() and three
    // synthesizer runs on insurance.csv, seconds per mutant; what they check of these files the unit files check exactly).
    tests: ["tests/dp/mst-unit.test.ts", "tests/dp/aim-unit.test.ts", "tests/dp/aim-schedule.test.ts", "tests/dp/independent-unit.test.ts"],
  },
  {
    name: "dp-release",
    title: "src/runtime/dp releases (checks, artefact writing, synthesizer and aggregate releases, the in-process marginal source)",
    mutate: dpFiles("release", "marginal-source"),
    tests: ["tests/dp/release.test.ts", "tests/dp/order.test.ts"],
  },
  {
    name: "dp-sources",
    title: "src/runtime/dp SQL sources (DuckDB and BigQuery counting queries, the DuckDB aggregate source)",
    mutate: dpFiles("aggregate-source", "marginal-sql", "marginal-duckdb", "marginal-bigquery"),
    // The only path that runs DuckDB and the loopback BigQuery: each mutant here costs about a second per test.
    tests: ["tests/dp/sql.test.ts", "tests/dp/aggregate-source.test.ts", "tests/dp/sources.test.ts"],
  },
  {
    name: "pack",
    title: "policy-packs/cleanroom-guardrails (the CrossGuard policy pack)",
    mutate: ["policy-packs/cleanroom-guardrails/**/*.ts", NO_BARRELS],
    // pack.e2e.test.ts runs the pack under the Pulumi engine; preview.test.ts runs `npm run preview`; examples.test.ts
    // runs every example's Pulumi program (mocked) through the pack: slow, and the hand-built args cover each rule.
    tests: ["tests/policy/*.test.ts"],
    skip: ["tests/policy/pack.e2e.test.ts", "tests/policy/preview.test.ts", "tests/policy/examples.test.ts"],
  },
];

/** The whole scope (every path's `mutate` globs), for a single run and for count.mjs. */
export const MUTATE = [...new Set(PATHS.flatMap((p) => p.mutate))].sort((a, b) => Number(a.startsWith("!")) - Number(b.startsWith("!")));

/**
 * The path named `name`.
 * @param {string} name
 * @returns {MutationPath}
 */
export function pathNamed(name) {
  const p = PATHS.find((x) => x.name === name);
  if (!p) throw new Error(`Unknown mutation path "${name}"; one of: ${PATHS.map((x) => x.name).join(", ")} (\`npm run mutate -- --list\`)`);
  return p;
}

/**
 * The test files of a path, as explicit paths (Stryker's `testFiles` has no negation, and mocha is given them as its
 * `spec`): `<dir>/*.test.ts` globs expanded, `skip` removed. Relative to `root`.
 * @param {MutationPath} path
 * @param {string} [root]
 * @returns {string[]}
 */
export function testFilesOf(path, root = process.cwd()) {
  const files = path.tests.flatMap((t) => {
    const m = t.match(/^(.*)\/\*\.test\.ts$/);
    if (!m) return [t];
    return readdirSync(join(root, m[1]))
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => `${m[1]}/${f}`);
  });
  return [...new Set(files)].filter((f) => !(path.skip ?? []).includes(f)).sort();
}

/** @param {string} name */
export const incrementalFileOf = (name) => `reports/stryker-incremental-${name}.json`;
/** @param {string} name */
export const jsonReportOf = (name) => `reports/mutation/${name}/mutation.json`;
/** @param {string} name */
export const htmlReportOf = (name) => `reports/mutation/${name}/index.html`;

/**
 * The newest result of a path: its JSON report (not committed: only where the path was run) or its committed
 * incremental file (the same Stryker report schema), whichever was written last; `undefined` when neither exists.
 * So the summary built from a fresh checkout, or after one path's run, still covers every path.
 * @param {string} name
 * @param {string} [root]
 * @returns {string | undefined}
 */
export function latestResultOf(name, root = process.cwd()) {
  const found = [jsonReportOf(name), incrementalFileOf(name)].filter((f) => existsSync(join(root, f)));
  return found.sort((a, b) => statSync(join(root, b)).mtimeMs - statSync(join(root, a)).mtimeMs)[0];
}

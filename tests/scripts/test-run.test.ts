/**
 * What keeps CI from passing by accident: scripts/test-run.ts (the overall limit, `npm run test:file`), .mocharc.json's
 * forbidOnly / forbidPending, and scripts/test-summary.sh (the closing `N passed, N failed` line of .ci/run).
 * The fixtures under tests/scripts/fixtures are not *.test.ts files: only these tests run them.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { expandSpec, longestFirst, mochaArgs, orderedSpec, slowestFiles, timeoutMessage } from "../../scripts/test-run.js";
import { REPO_ROOT } from "../components/harness.js";

const FIXTURES = "tests/scripts/fixtures";

/** `npm run test:file -- <files>`, without npm in between. */
function testRun(files: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/test-run.ts", ...files], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** scripts/test-summary.sh over a log with the given text and exit status. */
function summary(log: string, rc: number): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "acr-summary-"));
  try {
    writeFileSync(join(dir, "log"), log);
    const r = spawnSync("bash", [join(REPO_ROOT, "scripts", "test-summary.sh"), join(dir, "log"), String(rc)], { encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("scripts/test-run.ts: the suite's runner", function () {
  this.timeout(60_000);

  it("GIVEN .mocharc.json and named files WHEN turned into mocha's arguments THEN the config comes without --config and only the named files run", () => {
    const config = { require: ["ts-node/register/transpile-only", "tests/setup.ts"], spec: ["tests/**/*.test.ts"], timeout: 60000, exit: true, forbidOnly: true };
    expect(mochaArgs(config, ["tests/a.test.ts"])).to.deep.equal([
      "--no-config", "--require", "ts-node/register/transpile-only", "--require", "tests/setup.ts", "--timeout", "60000", "--exit", "--forbid-only", "tests/a.test.ts",
    ]);
    expect(mochaArgs(config, [], ["--grep", "x"]).slice(-3)).to.deep.equal(["--grep", "x", "tests/**/*.test.ts"]);
  });

  it("GIVEN what two workers run WHEN the limit is reached THEN the message names each test or hook, its file and how long it ran", () => {
    const msg = timeoutMessage(
      900,
      [
        { kind: "hook", title: 'local rooms "before all" hook', file: "tests/local/lifecycle.test.ts", since: 1_000 },
        { kind: "test", title: "docs README.md GIVEN its blocks", file: "tests/docs/commands.test.ts", since: 40_000 },
      ],
      43_000,
    );
    expect(msg).to.equal(
      'test-run: the suite did not finish within 900 s (CLEANROOM_TEST_TIMEOUT): it was running the hook "local rooms "before all" hook" of tests/local/lifecycle.test.ts, for 42 s; and the test "docs README.md GIVEN its blocks" of tests/docs/commands.test.ts, for 3 s. Stopping it.',
    );
    expect(timeoutMessage(900, [], 0)).to.include("no test or hook was running");
  });

  it("GIVEN per-process file times WHEN summed THEN the slowest files come first, across processes", () => {
    const table = slowestFiles([{ files: { "a.test.ts": 1_000, "b.test.ts": 5_000 } }, { files: { "a.test.ts": 6_000, "c.test.ts": 10 } }], 2);
    expect(table).to.equal("     7.0 s  a.test.ts\n     5.0 s  b.test.ts");
  });

  it("GIVEN a tree of test files WHEN .mocharc's kind of spec is expanded THEN every file with the suffix, at any depth, repo-relative and sorted; another form is left to mocha", () => {
    const root = mkdtempSync(join(tmpdir(), "acr-spec-"));
    try {
      for (const f of ["tests/b.test.ts", "tests/a/deep/c.test.ts", "tests/a/x.ts", "tests/a/fixture.test.ts.orig", "other/d.test.ts"]) {
        mkdirSync(join(root, f, ".."), { recursive: true });
        writeFileSync(join(root, f), "");
      }
      expect(expandSpec(root, "tests/**/*.test.ts")).to.deep.equal(["tests/a/deep/c.test.ts", "tests/b.test.ts"]);
      expect(expandSpec(root, "nowhere/**/*.test.ts")).to.deep.equal([]);
      expect(expandSpec(root, "tests/*.test.ts")).to.equal(undefined);
      expect(expandSpec(root, "tests/**/{a,b}.test.ts")).to.equal(undefined);
      // The whole suite's order: the cache when it can be read, else the seed; a file in neither first.
      writeFileSync(join(root, "cache.json"), JSON.stringify({ "tests/b.test.ts": 5, "tests/a/deep/c.test.ts": 9 }));
      writeFileSync(join(root, "seed.json"), JSON.stringify({ "tests/b.test.ts": 9, "tests/a/deep/c.test.ts": 5 }));
      writeFileSync(join(root, "broken.json"), "{");
      const spec = { spec: ["tests/**/*.test.ts"] };
      const files = (...d: string[]) => orderedSpec(root, spec, d.map((f) => join(root, f)));
      expect(files("cache.json", "seed.json")).to.deep.equal(["tests/a/deep/c.test.ts", "tests/b.test.ts"]);
      expect(files("missing.json", "seed.json")).to.deep.equal(["tests/b.test.ts", "tests/a/deep/c.test.ts"]);
      expect(files("broken.json", "seed.json")).to.deep.equal(["tests/b.test.ts", "tests/a/deep/c.test.ts"]);
      expect(files("missing.json")).to.deep.equal(["tests/a/deep/c.test.ts", "tests/b.test.ts"]);
      expect(orderedSpec(root, { spec: ["tests/*.ts"] }, [])).to.equal(undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("GIVEN last run's file times WHEN ordering THEN the longest runs first and files without a time before all of them, in their given order", () => {
    expect(longestFirst(["a", "b", "new1", "c", "new2"], { a: 10, b: 3_000, c: 700, gone: 9_999 })).to.deep.equal(["new1", "new2", "b", "c", "a"]);
    expect(longestFirst([], { a: 1 })).to.deep.equal([]);
  });

  it("GIVEN CLEANROOM_TEST_SLOWEST WHEN it is not a whole number THEN exit 2 saying what it takes; 0 lists no files", () => {
    const bad = testRun([`${FIXTURES}/skip.fixture.ts`], { CLEANROOM_TEST_SLOWEST: "five" });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('CLEANROOM_TEST_SLOWEST must be a whole number of files (0 for none), got "five"');
    expect(testRun([`${FIXTURES}/skip.fixture.ts`], { CLEANROOM_TEST_SLOWEST: "0" }).stdout).to.not.include("slowest files");
    const two = testRun([`${FIXTURES}/skip.fixture.ts`], { CLEANROOM_TEST_SLOWEST: "2" }).stdout;
    expect(two).to.match(/slowest files:\n +\d+\.\d s {2}tests\/scripts\/fixtures\/skip\.fixture\.ts\n/);
  });

  it("GIVEN a test that blocks its process forever WHEN the overall limit passes THEN the run stops (exit 124) naming that test and its file", () => {
    const r = testRun([`${FIXTURES}/hang.fixture.ts`], { CLEANROOM_TEST_TIMEOUT: "8" });
    expect(r.status, r.stderr).to.equal(124);
    expect(r.stderr).to.match(/did not finish within 8 s \(CLEANROOM_TEST_TIMEOUT\): it was running the test "fixture: a hang GIVEN a test that never returns THEN only the overall limit stops it" of tests\/scripts\/fixtures\/hang\.fixture\.ts, for \d+ s/);
  });

  it("GIVEN a forgotten it.only WHEN the suite runs THEN it fails before running anything, and the closing line counts a failure", () => {
    const r = testRun([`${FIXTURES}/only.fixture.ts`]);
    expect(r.status).to.not.equal(0);
    // forbidOnly's error, or, with `parallel` (where workers always forbid it), mocha's refusal of `.only`.
    expect(r.stdout + r.stderr).to.match(/ERR_MOCHA_FORBIDDEN_EXCLUSIVITY|`\.only` is not supported in parallel mode/);
    expect(r.stdout).to.match(/ 0 passing/);
    expect(summary(r.stdout + r.stderr, r.status ?? 1)).to.deep.include({ status: 1, stdout: "0 passed, 1 failed\n" });
  });

  it("GIVEN an it.skip WHEN the suite runs THEN the skipped test fails the run and the closing line counts it", () => {
    const r = testRun([`${FIXTURES}/skip.fixture.ts`]);
    expect(r.status).to.not.equal(0);
    expect(r.stdout).to.include("Pending test forbidden");
    expect(summary(r.stdout, r.status ?? 1)).to.deep.include({ status: 1, stdout: "1 passed, 1 failed\n" });
  });

  it("GIVEN a file that does not exist WHEN named THEN exit 2 naming it (not the whole suite)", () => {
    const r = testRun(["tests/nope.test.ts"]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include("no such test file: tests/nope.test.ts");
  });
});

describe("scripts/test-summary.sh: the closing line of .ci/run", () => {
  it("GIVEN a green mocha epilogue and exit 0 THEN `N passed, 0 failed` and exit 0", () => {
    expect(summary("  slowest files:\n  737 passing (3m)\n", 0)).to.deep.include({ status: 0, stdout: "737 passed, 0 failed\n" });
  });

  it("GIVEN pending tests THEN they count as failed, even with exit 0 (a run without forbidPending)", () => {
    const r = summary("  735 passing (3m)\n  2 pending\n", 0);
    expect(r).to.deep.include({ status: 1, stdout: "735 passed, 2 failed\n" });
    expect(r.stderr).to.include("2 pending (skipped) test(s) count as failed");
  });

  it("GIVEN failing and pending tests THEN both are counted", () => {
    expect(summary("  730 passing (3m)\n  2 pending\n  5 failing\n\n  1) x\n", 1)).to.deep.include({ status: 1, stdout: "730 passed, 7 failed\n" });
  });

  it("GIVEN a non-zero exit with no failing line (a crash, the overall limit) THEN one failure", () => {
    expect(summary("  12 passing (1s)\ntest-run: the suite did not finish within 900 s\n", 124)).to.deep.include({ status: 1, stdout: "12 passed, 1 failed\n" });
  });

  it("GIVEN nothing ran and exit 0 THEN a failure (`0 passing` is not green)", () => {
    expect(summary("  0 passing (1ms)\n", 0)).to.deep.include({ status: 1, stdout: "0 passed, 1 failed\n" });
  });

  it("GIVEN test titles that contain 'N passing' THEN only the epilogue's figure counts (the last one)", () => {
    expect(summary("    ✔ GIVEN 3 passing checks THEN ok\n  3 passing (1s)\n", 0)).to.deep.include({ status: 0, stdout: "3 passed, 0 failed\n" });
  });
});

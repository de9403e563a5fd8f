/**
 * What each mocha process (the main one, or each worker with `parallel`) is running and where its time went: written
 * by tests/monitor.ts as each test or hook starts and ends, one `<pid>.json` per process in `$CLEANROOM_TEST_STATE`,
 * read by scripts/test-run.ts when the suite runs out of time and at its end (the slowest files).
 */

/** Environment variable naming the state directory. */
export const STATE_ENV = "CLEANROOM_TEST_STATE";

/** The test or hook that started last in one process. */
export interface RunningState {
  readonly kind: "test" | "hook";
  /** The full title, e.g. `local clean room "before all" hook`. */
  readonly title: string;
  /** Repo-relative test file, when mocha knows it. */
  readonly file?: string;
  /** `Date.now()` when it started. */
  readonly since: number;
}

/** One process's state file. */
export interface ProcessState {
  /** What runs now; absent between runnables. */
  readonly running?: RunningState;
  /** Milliseconds spent in each file's tests and hooks so far. */
  readonly files: Record<string, number>;
}

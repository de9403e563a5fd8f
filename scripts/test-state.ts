/**
 * What the suite is running now: written by the mocha reporter (tests/reporter.ts) as each test or hook starts, read by
 * scripts/test-run.ts when the suite runs out of time.
 */

/** Environment variable naming the state file. */
export const STATE_ENV = "CLEANROOM_TEST_STATE";

/** The test or hook that started last. */
export interface RunningState {
  readonly kind: "test" | "hook";
  /** The full title, e.g. `local clean room "before all" hook`. */
  readonly title: string;
  /** Repo-relative test file, when mocha knows it. */
  readonly file?: string;
  /** `Date.now()` when it started. */
  readonly since: number;
}

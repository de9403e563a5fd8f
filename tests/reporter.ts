/**
 * The suite's mocha reporter: mocha's `spec` output, plus
 *
 * - what is running now (test or hook, its file, since when), written to `$CLEANROOM_TEST_STATE` as each one starts, so
 *   the overall time limit of scripts/test-run.ts can say what hung, even when a synchronous loop has stopped this
 *   process from doing anything else;
 * - the slowest test files, printed before the closing `N passing` lines (where the suite's time goes).
 */
import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import Mocha from "mocha";
import { type RunningState, STATE_ENV } from "../scripts/test-state.js";

const { EVENT_HOOK_BEGIN, EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_TEST_BEGIN } = Mocha.Runner.constants;

/** Number of slowest files listed at the end. */
const SLOWEST = 5;

class CleanRoomReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const stateFile = process.env[STATE_ENV];
    const rel = (f: string | undefined) => (f ? relative(process.cwd(), f) : undefined);
    const record = (state: RunningState) => {
      if (stateFile) writeFileSync(stateFile, JSON.stringify(state));
    };
    runner.on(EVENT_TEST_BEGIN, (t: Mocha.Test) => record({ kind: "test", title: t.fullTitle(), ...(t.file ? { file: rel(t.file) } : {}), since: Date.now() }));
    runner.on(EVENT_HOOK_BEGIN, (h: Mocha.Hook) => record({ kind: "hook", title: h.fullTitle(), ...(h.file ?? h.parent?.file ? { file: rel(h.file ?? h.parent?.file) } : {}), since: Date.now() }));

    const perFile = new Map<string, number>();
    let current: { file: string; since: number } | undefined;
    const close = () => {
      if (current) perFile.set(current.file, (perFile.get(current.file) ?? 0) + Date.now() - current.since);
    };
    runner.on(EVENT_SUITE_BEGIN, (s: Mocha.Suite) => {
      if (!s.file || s.file === current?.file) return;
      close();
      current = { file: s.file, since: Date.now() };
    });
    // Before the epilogue (registered by Spec), so `N passing` / `N failing` stay the last lines.
    runner.prependOnceListener(EVENT_RUN_END, () => {
      close();
      const rows = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST);
      if (rows.length < 2) return;
      process.stdout.write(`\n  slowest files:\n${rows.map(([f, ms]) => `    ${(ms / 1000).toFixed(1).padStart(6)} s  ${rel(f)}`).join("\n")}\n`);
    });
  }
}

export = CleanRoomReporter;

/**
 * Records, in every mocha process (the main one and each parallel worker), what test or hook is running and how long
 * each file's tests and hooks take (scripts/test-state.ts). The suite's overall limit (scripts/test-run.ts) reads it
 * from outside, so it can name what hung even when a synchronous loop has stopped the process from doing anything
 * else; at the end it lists the slowest files. Wraps `Runnable#run`, through which mocha runs every test and hook.
 */
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import Mocha from "mocha";
import { type ProcessState, type RunningState, STATE_ENV } from "../scripts/test-state.js";

type Done = (err?: unknown) => void;

/** Installs the recorder when `$CLEANROOM_TEST_STATE` names a directory (scripts/test-run.ts sets it). */
export function installMonitor(dir: string | undefined = process.env[STATE_ENV]): void {
  if (!dir) return;
  const file = join(dir, `${process.pid}.json`);
  const files: Record<string, number> = {};
  const save = (running?: RunningState) => {
    const state: ProcessState = { ...(running ? { running } : {}), files };
    writeFileSync(file, JSON.stringify(state));
  };
  const proto = Mocha.Runnable.prototype as unknown as { run(this: Mocha.Runnable, fn: Done): void };
  const run = proto.run;
  proto.run = function (this: Mocha.Runnable, fn: Done): void {
    const where = this.file ?? this.parent?.file;
    const rel = where ? relative(process.cwd(), where) : undefined;
    const since = Date.now();
    save({ kind: this instanceof Mocha.Hook ? "hook" : "test", title: this.fullTitle(), ...(rel ? { file: rel } : {}), since });
    run.call(this, (err?: unknown) => {
      if (rel) files[rel] = (files[rel] ?? 0) + Date.now() - since;
      save();
      fn(err);
    });
  };
}

/**
 * The local "executor image": its digest must cover every file that runs, including the packages it loads (issue 18:
 * it used to load them from the checkout's node_modules, outside the digest).
 */
import { spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { buildExecutor } from "../../src/runtime/platforms/local/executor-build.js";
import { tempDir } from "./helpers.js";

describe("local executor build", function () {
  this.timeout(120_000);
  let work: string;

  before(async () => {
    work = await tempDir("executor-build");
  });
  after(async () => work && rm(work, { recursive: true, force: true }));

  it("GIVEN the built executor WHEN node loads it with no NODE_PATH THEN every module it loads is inside the digested directory", async () => {
    const build = await buildExecutor(join(work, "executor"));
    const probe = spawnSync(process.execPath, ["-e", "require(process.argv[1]); process.stdout.write(JSON.stringify(Object.keys(require.cache)))", build.entry], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      encoding: "utf8",
    });
    expect(probe.status, probe.stderr).to.equal(0);
    const loaded = JSON.parse(probe.stdout) as string[];
    expect(loaded.length).to.be.greaterThan(30);
    expect(loaded.filter((f) => !f.startsWith(`${build.dir}/`))).to.deep.equal([]);
    expect(loaded.some((f) => f.startsWith(join(build.dir, "node_modules", "jose")))).to.equal(true);
  });
});

/**
 * The README's walkthrough runs `npx cleanroom …` right after `npm ci` in a fresh clone: no `dist/`, no global link.
 * Its doctest session (commands.test.ts) runs each command through a build of the package made once per test run;
 * this test checks the other half, that `npx cleanroom` itself resolves and runs in such a clone. The clone is a copy
 * of what git would clone (tracked and unignored files), with node_modules as `npm ci` leaves it (a link to this
 * checkout's), and the real `npx`, offline, with an empty npm cache.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { REPO_ROOT } from "../components/harness.js";

describe("docs: `npx cleanroom` in a fresh clone after npm ci", function () {
  this.timeout(120_000);
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), "acr-clone-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("GIVEN a clone without dist/ WHEN `npx cleanroom job pack` runs THEN the package bin runs the sources and prints the digest the library computes", async () => {
    const clone = join(work, "clone");
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO_ROOT, encoding: "utf8" })
      .split("\0")
      .filter((f) => f !== "" && existsSync(join(REPO_ROOT, f)));
    for (const f of files) {
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      copyFileSync(join(REPO_ROOT, f), join(clone, f));
    }
    symlinkSync(join(REPO_ROOT, "node_modules"), join(clone, "node_modules"), "dir");
    expect(existsSync(join(clone, "dist")), "a fresh clone has no build").to.equal(false);

    const job = ["examples/quickstart/jobs/regression", "--entrypoint", "main.py", "--input", "insurer/claims"];
    const r = spawnSync("npx", ["cleanroom", "job", "pack", ...job, "--out", join(work, "packed-npx"), "--json"], {
      cwd: clone,
      encoding: "utf8",
      // An empty cache: npx has nothing but the clone's package.json "bin" to go on; offline: nothing is downloaded.
      env: { ...process.env, npm_config_cache: join(work, "npm-cache"), npm_config_offline: "true", npm_config_update_notifier: "false" },
      timeout: 100_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
    const printed = (JSON.parse(r.stdout) as { jobDigest: string }).jobDigest;
    const expected = await packJob(join(REPO_ROOT, "examples/quickstart/jobs/regression"), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed-lib") });
    expect(printed).to.equal(expected.jobDigest);
  });
});

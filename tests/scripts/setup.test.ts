/**
 * scripts/setup.sh, the one set-up step of `npm run demo`, `npm test` and `.ci/run`, on a machine that lacks a tool.
 * "Lacks" is real: the script runs with this machine's PATH minus the tool (each PATH directory that holds it is
 * replaced by a copy of symlinks without it). Nothing is installed: apt-get is a fake this test writes, which records
 * its arguments and "installs" bubblewrap as a stub. Root and not-root are real too: as root, the not-root cases run
 * under setpriv as nobody; as another user, the root cases run in a user namespace that maps it to root (`unshare -r`).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { REPO_ROOT } from "../components/harness.js";

const SCRIPT = join(REPO_ROOT, "scripts", "setup.sh");
const IS_ROOT = process.getuid?.() === 0;

describe("scripts/setup.sh: the system tools of the demo and the tests", function () {
  this.timeout(60_000);
  let work: string;

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), "acr-setup-"));
    chmodSync(work, 0o755); // readable by nobody, for the not-root case
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** This machine's PATH without the named commands. */
  function pathWithout(tools: readonly string[]): string {
    const dirs = (process.env.PATH ?? "").split(":").filter((d) => d !== "");
    return dirs
      .map((d, i) => {
        if (!tools.some((t) => existsSync(join(d, t)))) return d;
        const shadow = join(work, `path-${i}`);
        mkdirSync(shadow, { mode: 0o755 });
        for (const name of readdirSync(d)) if (!tools.includes(name)) symlinkSync(join(d, name), join(shadow, name));
        return shadow;
      })
      .join(":");
  }

  /**
   * A fake apt-get: appends its arguments to `calls`; `install` drops an executable `bwrap` stub into `installDir`
   * (a PATH directory), or fails with `fail`.
   */
  function fakeApt(opts: { fail?: boolean } = {}): { apt: string; calls: () => string[]; installDir: string } {
    const installDir = join(work, "installed");
    mkdirSync(installDir, { mode: 0o755 });
    const calls = join(work, "apt-calls");
    const apt = join(work, "apt-get");
    writeFileSync(
      apt,
      `#!/bin/sh
echo "$*" >> ${JSON.stringify(calls)}
[ "$1" = install ] || exit 0
${opts.fail ? 'echo "E: Unable to locate package bubblewrap" >&2; exit 100' : `printf '#!/bin/sh\\nexit 0\\n' > ${JSON.stringify(join(installDir, "bwrap"))}; chmod 755 ${JSON.stringify(join(installDir, "bwrap"))}`}
`,
      { mode: 0o755 },
    );
    return { apt, installDir, calls: () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []) };
  }

  function setup(args: readonly string[], env: Record<string, string>, as: "root" | "user"): { status: number | null; stderr: string } {
    const wrap = as === "user" && IS_ROOT ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : as === "root" && !IS_ROOT ? ["unshare", "--map-root-user"] : [];
    const argv = [...wrap, "bash", SCRIPT, ...args];
    // PATH is resolved by this (unrestricted) process for the first word only; the script sees `env.PATH`.
    const r = spawnSync(argv[0]!, argv.slice(1), { env: { HOME: work, ...env }, encoding: "utf8" });
    return { status: r.status, stderr: r.stderr };
  }

  it("GIVEN every tool on PATH WHEN setup runs for the tests THEN it exits 0 silently and runs no apt-get", () => {
    const { apt, calls } = fakeApt();
    const r = setup(["test"], { PATH: process.env.PATH ?? "", CLEANROOM_SETUP_APT_GET: apt }, "root");
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.equal("");
    expect(calls()).to.deep.equal([]);
  });

  it("GIVEN a PATH lacking bwrap, as root with apt-get WHEN setup runs THEN it installs bubblewrap saying why, and exits 0 once bwrap is there", () => {
    const { apt, calls, installDir } = fakeApt();
    const r = setup(["demo"], { PATH: `${pathWithout(["bwrap"])}:${installDir}`, CLEANROOM_SETUP_APT_GET: apt }, "root");
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/setup: bwrap is missing: the local backend's job sandbox/);
    expect(r.stderr).to.include("setup: installing bubblewrap with apt-get");
    expect(calls()).to.deep.equal(["update -qq", "install -y -qq --no-install-recommends bubblewrap"]);
  });

  it("GIVEN a PATH lacking bwrap, not root WHEN setup runs THEN it stops (exit 1) with the exact sudo apt-get command and installs nothing", () => {
    const { apt, calls } = fakeApt();
    const r = setup(["demo"], { PATH: pathWithout(["bwrap"]), CLEANROOM_SETUP_APT_GET: apt }, "user");
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stderr).to.include("setup: bwrap is missing");
    expect(r.stderr).to.include("  sudo apt-get install -y --no-install-recommends bubblewrap\n");
    expect(calls()).to.deep.equal([]);
  });

  it("GIVEN a PATH lacking bwrap and apt-get, as root WHEN setup runs THEN it stops with the packages to install", () => {
    const r = setup(["demo"], { PATH: pathWithout(["bwrap", "apt-get"]) }, "root");
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stderr).to.include("apt-get is not available here");
    expect(r.stderr).to.include("apt-get install -y --no-install-recommends bubblewrap");
  });

  it("GIVEN a PATH lacking bwrap WHEN apt-get fails THEN setup fails (exit 1) naming the packages: CI stops instead of testing less", () => {
    const { apt } = fakeApt({ fail: true });
    const r = setup(["test"], { PATH: pathWithout(["bwrap"]), CLEANROOM_SETUP_APT_GET: apt }, "root");
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stderr).to.include("E: Unable to locate package bubblewrap");
    expect(r.stderr).to.include("setup: could not install bubblewrap");
  });

  it("GIVEN a PATH lacking jupyter WHEN setup runs for the tests, not root THEN it names the notebook packages; for the demo THEN jupyter is not needed", () => {
    const path = pathWithout(["jupyter"]);
    const forTests = setup(["test"], { PATH: path }, "user");
    expect(forTests.status, forTests.stderr).to.equal(1);
    expect(forTests.stderr).to.include("setup: jupyter nbconvert is missing: notebook (.ipynb) job entrypoints");
    expect(forTests.stderr).to.include("sudo apt-get install -y --no-install-recommends jupyter-nbconvert python3-ipykernel python3-nbclient\n");
    const forDemo = setup(["demo"], { PATH: path }, "user");
    expect(forDemo.status, forDemo.stderr).to.equal(0);
  });

  it("GIVEN an unknown purpose THEN exit 2 with the usage", () => {
    const r = setup(["bench"], { PATH: process.env.PATH ?? "" }, "user");
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include("use demo or test");
  });

  it("GIVEN package.json and .ci/run WHEN read THEN `npm run demo`, `npm test` and .ci/run all run scripts/setup.sh first", () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).to.match(/^bash scripts\/setup\.sh demo && /);
    expect(scripts.test).to.match(/^bash scripts\/setup\.sh test && /);
    expect(readFileSync(join(REPO_ROOT, ".ci", "run"), "utf8")).to.match(/\nbash scripts\/setup\.sh test \|\|/);
  });
});

describe("scripts/cpu-hog.sh: a loaded machine on demand", function () {
  this.timeout(30_000);

  it("GIVEN a command WHEN run beside the hog THEN the busy loops run alongside it, its exit status is kept, and the loops are gone after", () => {
    // The command lists its siblings (the hog script's children): the loops must be among them.
    const r = spawnSync("bash", [join(REPO_ROOT, "scripts", "cpu-hog.sh"), "bash", "-c", "ps -o pid= --ppid $PPID; exit 3"], { env: { ...process.env, CPU_HOG_PROCS: "2" }, encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(3);
    const pids = (/pids ([\d ]+)\)/.exec(r.stderr)?.[1] ?? "").split(" ").map(Number);
    expect(pids).to.have.length(2);
    const siblings = r.stdout.trim().split(/\s+/).map(Number);
    expect(siblings).to.include.members(pids);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `busy loop ${pid} still running`).to.equal(false);
  });
});

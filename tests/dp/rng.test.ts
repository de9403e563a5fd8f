// The randomness rules: OS CSPRNG by default, seeded stream only in tests, never Math.random.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildProgram } from "../../src/runtime/cli.js";
import { rngFromEnvironment, runningAsCli, SecureRng, TEST_MODE_ENV, TEST_SEED_ENV, testRng } from "../../src/runtime/dp/rng.js";
import { builtPackage } from "../cli-build.js";
import { INSURANCE_CSV, INSURANCE_SCHEMA } from "./utility.js";

const REPO = join(__dirname, "..", "..");

/** Runs the real `cleanroom` command (the package's bin, of this checkout built once) in a child process with exactly `env`. */
function runCleanroom(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(builtPackage(), "bin", "cleanroom.js"), ...args],
      { cwd: REPO, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Runs `fn` with environment overrides, restoring the previous values afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("dp randomness", () => {
  it("GIVEN the DP sources WHEN searched THEN no code calls Math.random (V8's xorshift128+ is predictable)", () => {
    const root = join(__dirname, "..", "..", "src");
    const files = [...filesUnder(join(root, "runtime", "dp")), join(root, "runtime", "provision", "stage1.ts"), join(root, "runtime", "cli", "dp.ts")];
    expect(files.length).to.be.greaterThan(5);
    const offenders = files.filter((f) => /Math\s*\.\s*random\s*\(/.test(readFileSync(f, "utf8")));
    expect(offenders).to.deep.equal([]);
  });

  it("GIVEN no seed WHEN asking for the generator THEN it is the OS CSPRNG (two generators differ)", () => {
    const a = rngFromEnvironment({});
    const b = rngFromEnvironment({});
    expect(a.deterministic).to.equal(false);
    expect(a.bytes(32).equals(b.bytes(32))).to.equal(false);
  });

  it("GIVEN CLEANROOM_TEST=1 and a seed THEN the stream is deterministic and differs across seeds", () => {
    const a = rngFromEnvironment({ [TEST_MODE_ENV]: "1", [TEST_SEED_ENV]: "s1" });
    const b = rngFromEnvironment({ [TEST_MODE_ENV]: "1", [TEST_SEED_ENV]: "s1" });
    const c = rngFromEnvironment({ [TEST_MODE_ENV]: "1", [TEST_SEED_ENV]: "s2" });
    expect(a.deterministic).to.equal(true);
    const x = a.bytes(64);
    expect(x.equals(b.bytes(64))).to.equal(true);
    expect(x.equals(c.bytes(64))).to.equal(false);
  });

  it("GIVEN a seed WITHOUT CLEANROOM_TEST=1 THEN the library refuses to create a generator", async () => {
    expect(() => rngFromEnvironment({ [TEST_SEED_ENV]: "s1" })).to.throw(CleanRoomError, /tests only/);
    await withEnv({ [TEST_MODE_ENV]: undefined }, () => {
      expect(() => testRng("s1")).to.throw(CleanRoomError, /tests only/);
      expect(() => SecureRng.seededForTests("s1")).to.throw(CleanRoomError, /tests only/);
    });
  });

  it("GIVEN a seed outside tests WHEN running `cleanroom dp synthesize` THEN the CLI refuses before reading anything", async () => {
    await withEnv({ [TEST_MODE_ENV]: undefined, [TEST_SEED_ENV]: "1234" }, async () => {
      const program = buildProgram().exitOverride();
      let err: unknown;
      try {
        await program.parseAsync(
          ["dp", "synthesize", "--input", "/nonexistent.csv", "--schema", "/nonexistent.json", "--epsilon", "1", "--out", "/tmp/never.csv"],
          { from: "user" },
        );
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).message).to.match(/CLEANROOM_TEST_DP_SEED/);
    });
  });

  it("GIVEN main modules WHEN asking whether this is the cleanroom command THEN only runtime/cli.{ts,js} and the package's bin count", () => {
    expect(runningAsCli("/repo/src/runtime/cli.ts")).to.equal(true);
    expect(runningAsCli("/usr/lib/node_modules/attested-cleanroom/dist/src/runtime/cli.js")).to.equal(true);
    expect(runningAsCli("/usr/lib/node_modules/attested-cleanroom/bin/cleanroom.js")).to.equal(true);
    expect(runningAsCli("/repo/bin/cleanroom.js")).to.equal(true);
    expect(runningAsCli("/repo/bin/other.js")).to.equal(false);
    expect(runningAsCli("/repo/node_modules/mocha/bin/mocha.js")).to.equal(false);
    expect(runningAsCli(undefined)).to.equal(false);
    // In-process, even a test-mode environment cannot seed when the main module is the command.
    expect(() => rngFromEnvironment({ [TEST_MODE_ENV]: "1", [TEST_SEED_ENV]: "s" }, "/repo/src/runtime/cli.ts")).to.throw(CleanRoomError, /never uses seeded/);
  });

  it("GIVEN the real cleanroom process WHEN only the seed is set, or the seed with CLEANROOM_TEST=1, THEN it refuses and writes nothing", async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), "acr-dp-seed-"));
    try {
      const args = (out: string) => ["dp", "synthesize", "--input", INSURANCE_CSV, "--schema", INSURANCE_SCHEMA, "--epsilon", "2", "--out", join(dir, out)];
      const [seedOnly, both] = await Promise.all([
        runCleanroom(args("a.csv"), { [TEST_SEED_ENV]: "1234" }),
        runCleanroom(args("b.csv"), { [TEST_SEED_ENV]: "1234", [TEST_MODE_ENV]: "1" }),
      ]);
      for (const r of [seedOnly, both]) {
        expect(r.code, r.stderr).to.not.equal(0);
        expect(r.stderr).to.match(/CLEANROOM_TEST_DP_SEED/);
      }
      expect(both.stderr).to.match(/never uses seeded/);
      expect(readdirSync(dir)).to.deep.equal([]);
      expect(existsSync(join(dir, "a.csv")) || existsSync(join(dir, "b.csv"))).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

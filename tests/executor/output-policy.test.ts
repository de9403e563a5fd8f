/**
 * checkOutputs: the output policy the executor applies before anything reaches quarantine. `output.maxBytes` bounds
 * what a job can carry out of the room in one run, so it is a cap on the total, wherever the bytes are.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CleanRoomError } from "../../src/core/errors.js";
import { checkOutputs } from "../../src/runtime/executor/output-policy.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "accepted";
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    return (err as CleanRoomError).code;
  }
}

describe("executor/checkOutputs", () => {
  let work: string;
  let n = 0;

  beforeEach(async () => {
    work ??= await mkdtemp(join(tmpdir(), "output-policy-"));
  });
  after(async () => work && rm(work, { recursive: true, force: true }));

  /** An output directory holding `files` (relative path → size in bytes). */
  async function outputs(files: Record<string, number>): Promise<string> {
    const dir = join(work, `out${n++}`);
    await mkdir(dir);
    for (const [rel, size] of Object.entries(files)) {
      await mkdir(join(dir, rel, ".."), { recursive: true });
      await writeFile(join(dir, rel), Buffer.alloc(size, 7));
    }
    return dir;
  }

  it("GIVEN two outputs each under the cap but over it together THEN output-policy", async () => {
    expect(await codeOf(checkOutputs(await outputs({ "a.csv": 600, "b.csv": 600 }), 1000))).to.equal("output-policy");
  });

  it("GIVEN outputs spread over directories, each directory under the cap but not all of them THEN output-policy", async () => {
    const dir = await outputs({ "x/a.bin": 400, "y/b.bin": 400, "y/z/c.bin": 400 });
    expect(await codeOf(checkOutputs(dir, 1000))).to.equal("output-policy");
  });

  it("GIVEN outputs totalling exactly the cap THEN accepted, with every file in the manifest", async () => {
    const dir = await outputs({ "a.csv": 600, "t/b.csv": 400 });
    const manifest = await checkOutputs(dir, 1000);
    expect(manifest.map((e) => [e.path, e.bytes])).to.deep.equal([
      ["a.csv", 600],
      ["t/b.csv", 400],
    ]);
  });

  it("GIVEN many small outputs whose sum exceeds the cap by one byte THEN output-policy", async () => {
    const files: Record<string, number> = {};
    for (let i = 0; i < 10; i++) files[`part-${i}.csv`] = 100;
    files["last.csv"] = 1;
    expect(await codeOf(checkOutputs(await outputs(files), 1000))).to.equal("output-policy");
  });

  it("GIVEN a symbolic link among the outputs (e.g. to a decrypted input) THEN output-policy", async () => {
    const dir = await outputs({ "a.csv": 10 });
    await symlink("/etc/hostname", join(dir, "inputs.csv"));
    expect(await codeOf(checkOutputs(dir, 1000))).to.equal("output-policy");
  });

  // The job's author reads the message to fix the job: a link is named as a link (not as a device, FIFO or socket),
  // whether it points at a file, a directory or nothing, and without naming its path.
  for (const [what, target] of [
    ["a file", "/etc/hostname"],
    ["a directory", "/etc"],
    ["nothing (dangling)", "/nonexistent-output-target"],
  ] as const) {
    it(`GIVEN a symbolic link to ${what} among the outputs THEN output-policy saying an output is a symbolic link`, async () => {
      const dir = await outputs({ "sub/a.csv": 10 });
      await symlink(target, join(dir, "sub", "link"));
      const err = await checkOutputs(dir, 1000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).code).to.equal("output-policy");
      expect((err as CleanRoomError).message).to.include("An output is a symbolic link; outputs must be regular files");
      expect((err as CleanRoomError).message).not.to.include(dir);
    });
  }

  it("GIVEN a FIFO among the outputs THEN output-policy (it would block the executor)", async () => {
    const dir = await outputs({ "sub/a.csv": 10 });
    execFileSync("mkfifo", [join(dir, "sub", "pipe")]);
    expect(await codeOf(checkOutputs(dir, 1000))).to.equal("output-policy");
  });

  it("GIVEN an output directory that cannot be read (gone) THEN output-policy, saying so without naming any path", async () => {
    const dir = join(work, `gone${n++}`);
    const err = await checkOutputs(dir, 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("output-policy");
    expect((err as CleanRoomError).message).to.include("The job's outputs could not be read");
    expect((err as CleanRoomError).message).not.to.include(dir);
  });
});

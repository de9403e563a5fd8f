/**
 * Bad input to the CLI (issue 19): each mistake gets a one-line message naming the fix, a non-zero exit and leaves
 * nothing behind. The first suite needs no room; the second runs one real local room (bubblewrap, broker, launcher).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { cliInProcess } from "../cli-harness.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

const ROOT = join(__dirname, "..", "..");

describe("cli: bad input without a room (issue 19)", function () {
  this.timeout(60_000);
  let work: string;

  before(async () => {
    work = await tempDir("bad-input");
    writeFileSync(join(work, "a-file"), "not a directory\n");
    writeFileSync(join(work, "spec.json"), JSON.stringify({ providers: [{ name: "insurer", datasets: [{ name: "claims" }] }] }));
    await pythonJob(work, "hello", `${PRELUDE}print("hi")\n`);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const cmd of ["status", "down"]) {
    it(`GIVEN a directory that holds no room WHEN \`local ${cmd}\` THEN not-found, a non-zero exit and how to start one`, async () => {
      const empty = join(work, `empty-${cmd}`);
      mkdirSync(empty);
      const r = await cliInProcess(["local", cmd, "--dir", empty]);
      expect(r.code, r.stdout).to.equal(1);
      expect(r.stderr).to.contain("error [not-found]").and.to.contain("holds no local room").and.to.contain(`cleanroom local up --spec <spec.json> --dir ${empty}`);
      expect(readdirSync(empty)).to.deep.equal([]);
    });
  }

  it("GIVEN `job wait --timeout abc` THEN invalid-argument before anything is read (not: wait forever)", async () => {
    const r = await cliInProcess(["job", "wait", "job-abc-12345678", "--room", join(work, "no-room.json"), "--timeout", "abc"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [invalid-argument]: --timeout must be a whole number of seconds");
  });

  it("GIVEN `--room <dir>` instead of the descriptor THEN a message suggesting <dir>/descriptor.json (not EISDIR)", async () => {
    const r = await cliInProcess(["job", "status", "job-abc-12345678", "--room", work]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [invalid-argument]").and.to.contain(`--room ${join(work, "descriptor.json")}`);
    expect(r.stderr).not.to.contain("EISDIR");
  });

  it("GIVEN `job pack --out <a file>` THEN already-exists saying the path is a file (not internal error: EEXIST)", async () => {
    const r = await cliInProcess(["job", "pack", join(work, "jobs", "hello"), "--entrypoint", "main.py", "--input", "insurer/claims", "--out", join(work, "a-file")]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [already-exists]: --out").and.to.contain("is a file, not a directory");
    expect(r.stderr).not.to.contain("internal error");
  });

  it("GIVEN `local up --dir <a file>` THEN already-exists saying the path is a file, and the file is untouched", async () => {
    const r = await cliInProcess(["local", "up", "--spec", join(work, "spec.json"), "--dir", join(work, "a-file")]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [already-exists]: --dir").and.to.contain("is a file, not a directory");
    expect(r.stderr).not.to.contain("internal error");
    expect(existsSync(join(work, "a-file"))).to.equal(true);
  });
});

describe("cli: bad input against a local room (issue 19)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let room: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  let hello: PackedJob;
  let sleepy: PackedJob;
  const schema = {
    columns: [
      { name: "age", type: "numeric", min: 18, max: 90, integer: true, bins: 8 },
      { name: "sex", type: "categorical", categories: ["F", "M"] },
    ],
  };

  const datasetDir = (name: string) => join(roomLayout(dir).providersDir, "insurer", name);
  const provision = (dataset: string, csv: string, ...more: string[]) =>
    cliInProcess(["data", "provision", "--room", room, "--provider", "insurer", "--dataset", dataset, "--csv", join(work, csv), ...more]);

  before(async () => {
    work = await tempDir("bad-input-room");
    dir = join(work, "room");
    hello = await packJob(await pythonJob(work, "hello", `${PRELUDE}open(os.path.join(OUT, "hello.txt"), "w").write("hi")\n`), {
      entrypoint: "main.py",
      inputs: ["insurer/claims"],
      outDir: join(work, "packed", "hello"),
    });
    sleepy = await packJob(await pythonJob(work, "sleepy", `${PRELUDE}import time\ntime.sleep(4)\n`), {
      entrypoint: "main.py",
      inputs: ["insurer/claims"],
      outDir: join(work, "packed", "sleepy"),
    });
    const spec = {
      providers: [
        {
          name: "insurer",
          datasets: [
            { name: "claims", schema, stage1Method: "aggregates", epsilon: 2 },
            { name: "visits", schema, stage1Method: "aggregates", epsilon: 2 },
          ],
          approvedJobs: [hello.jobDigest, sleepy.jobDigest],
        },
      ],
      output: { maxBytes: 4096, requireRelease: true },
    };
    const up = await localUp({ spec, dir });
    room = up.descriptorPath;
    descriptor = loadDescriptor(room);
    client = await roomClientFor(descriptor);
    writeFileSync(join(work, "good.csv"), "age,sex\n34,F\n51,M\n40,F\n");
    // Line 3 opens a quote that is never closed: csv-parse only notices at the end of the file.
    writeFileSync(join(work, "broken.csv"), 'age,sex\n34,F\n"51,M\n40,F\n22,M\n');
    writeFileSync(join(work, "ragged.csv"), "age,sex\n34,F\n51,M,extra\n40,F\n");
    writeFileSync(join(work, "abc.csv"), "age,sex\n34,F\nabc,M\n40,F\n?,M\n,F\n");
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a CSV with a quote never closed WHEN `data provision` THEN refused naming line 3, nothing stored, and the retry with the fixed file works", async () => {
    const r = await provision("claims", "broken.csv");
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.contain("error [invalid-argument]").and.to.contain("line 3").and.to.contain("nothing was stored");
    expect(existsSync(datasetDir("claims")), "no data.enc, key.wrapped or manifest.json").to.equal(false);
    expect(readdirSync(join(roomLayout(dir).providersDir, "insurer")).filter((n) => n.startsWith(".staging")), "no staging left").to.deep.equal([]);
    const retry = await provision("claims", "good.csv");
    expect(retry.code, retry.stderr).to.equal(0);
    expect(retry.stdout).to.contain("Provisioned insurer/claims: 3 rows");
  });

  it("GIVEN a CSV whose line 3 has another number of fields WHEN `data provision --json` THEN one error naming line 3 and the field counts", async () => {
    const r = await provision("visits", "ragged.csv", "--json");
    expect(r.code).to.equal(1);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.match(/line 3: 3 fields where the header has 2/);
    expect(err.message.match(/line \d+/g)).to.deep.equal(["line 3"]);
    expect(existsSync(datasetDir("visits"))).to.equal(false);
  });

  it("GIVEN numeric cells that are not numbers (age = abc) WHEN `data provision` THEN they are counted and reported, with the first line", async () => {
    const r = await provision("visits", "abc.csv");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("Provisioned insurer/visits: 5 rows").and.to.contain("column age: 2 cell(s) are not numbers (first at line 3)");
    const json = await provision("visits", "abc.csv", "--overwrite", "--no-stage1", "--json");
    expect((JSON.parse(json.stdout) as { unparsable: unknown }).unparsable).to.deep.equal([{ column: "age", count: 2, firstLine: 3 }]);
  });

  it("GIVEN a job id the room never saw WHEN `job fetch` THEN not-found pointing to `cleanroom job list --room …` (not: awaits release)", async () => {
    const r = await cliInProcess(["job", "fetch", "job-zzzzzzzz-12345678", "--room", room, "--out", join(work, "nothing")]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("error [not-found]").and.to.contain(`cleanroom job list --room ${room}`);
    expect(r.stderr).not.to.contain("awaits release");
    expect(existsSync(join(work, "nothing"))).to.equal(false);
  });

  it("GIVEN jobs in the room WHEN `job list` THEN each with its state, digest and times, oldest first; --json gives the same", async () => {
    const { jobId } = await client.submit(hello);
    const done = await client.wait(jobId, { timeoutMs: 90_000 });
    expect(done.state, done.detail).to.equal("succeeded");
    const r = await cliInProcess(["job", "list", "--room", room]);
    expect(r.code, r.stderr).to.equal(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith(jobId));
    expect(line, r.stdout).to.match(new RegExp(`^${jobId}  succeeded  ${hello.jobDigest}  submitted \\d{4}-\\d\\d-\\d\\dT[^,]+Z, finished \\d{4}-`));
    const json = JSON.parse((await cliInProcess(["job", "list", "--room", room, "--json"])).stdout) as { jobId: string; state: string; jobDigest: string; submittedAt: string; finishedAt: string }[];
    const mine = json.find((j) => j.jobId === jobId);
    expect(mine).to.include({ state: "succeeded", jobDigest: hello.jobDigest });
    expect(Date.parse(mine!.finishedAt)).to.be.at.least(Date.parse(mine!.submittedAt));
  });

  it("GIVEN a fetched result WHEN the CLI prints how to verify it THEN the hint includes the required --room and runs as printed", async () => {
    const { jobId } = await client.submit(hello);
    await client.wait(jobId, { timeoutMs: 90_000 });
    await client.release(jobId);
    const out = join(work, "review");
    const r = await cliInProcess(["job", "fetch", jobId, "--room", room, "--out", out]);
    expect(r.code, r.stderr).to.equal(0);
    const hint = /`cleanroom (verify [^`]+)`/.exec(r.stdout)?.[1];
    expect(hint, r.stdout).to.equal(`verify ${out} --room ${room}`);
    const verified = await cliInProcess(hint!.split(" "));
    expect(verified.code, verified.stderr).to.equal(0);
  });

  it("GIVEN a job still running WHEN `wait` gives up THEN its hint to wait again includes the required --room", async () => {
    const { jobId } = await client.submit(sleepy);
    let err: unknown;
    try {
      await client.wait(jobId, { timeoutMs: 1 });
    } catch (e) {
      err = e;
    }
    expect((err as CleanRoomError).code).to.equal("timeout");
    expect((err as Error).message).to.contain(`\`cleanroom job wait ${jobId} --room ${room}\``);
    await client.wait(jobId, { timeoutMs: 90_000 });
  });

  it("GIVEN `cleanroom verify … | head` WHEN the reader goes away THEN no EPIPE stack trace", async () => {
    const { jobId } = await client.submit(hello);
    await client.wait(jobId, { timeoutMs: 90_000 });
    const out = join(work, "piped");
    await client.fetch(jobId, out, { from: "quarantine" });
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "src", "runtime", "cli.ts"), "verify", out, "--room", room], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Like `| head -0`: the reading end is closed before the CLI writes its summary.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).not.to.match(/EPIPE|at .*\(.*:\d+:\d+\)/);
    expect(code).to.equal(0);
  });
});

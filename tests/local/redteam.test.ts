/**
 * Red-team findings on the local room (issue 18), each reproduced against a real room: real processes, real unix
 * sockets, real bubblewrap. The room lives beneath the Python installation, a prefix both sandboxes bind read-only,
 * so every test also runs with the room's own directory inside the sandboxes' view.
 *
 * The tests of one room run in order; the last one kills the room process and restarts it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { pack as tarPack } from "tar-stream";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { type JobManifest, jobDigest, sha256Hex } from "../../src/core/digest.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { type Receipt, nonceForReceipt, parseReceipt, policyDigest } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { unixRequest } from "../../src/runtime/platforms/local/http.js";
import { type LauncherConfig, executorSandboxFor, readJobState } from "../../src/runtime/platforms/local/launcher.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localStatus, localUp } from "../../src/runtime/platforms/local/room.js";
import { LocalResultWriter } from "../../src/runtime/platforms/local/store.js";
import type { JobStatus, PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { cliInProcess } from "../cli-harness.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

/** The raw rows of the provider's table: no test may ever see them outside the sandbox. */
const CLAIMS = "id,secret\n1,SECRET-ROW-ONE\n2,SECRET-ROW-TWO\n";
const BWRAP = "/usr/bin/bwrap";

/** Where python3's installation lives: the sandboxes bind it read-only. */
function pythonPrefix(): string {
  return execFileSync("python3", ["-c", "import sys; print(sys.base_prefix)"], { encoding: "utf8" }).trim();
}

/** True when `s` holds a C0/C1 control character (escape sequences, newlines). */
function hasControl(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f));
}

describe("local room: red-team findings (issue 18)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let spec: unknown;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  const jobs: Record<string, PackedJob> = {};

  async function pack(name: string, source: string, inputs: string[] = ["insurer/claims"]): Promise<PackedJob> {
    const d = await pythonJob(work, name, source);
    const p = await packJob(d, { entrypoint: "main.py", inputs, outDir: join(work, "packed", name) });
    jobs[name] = p;
    return p;
  }

  /** `job` with its job.json edited after packing (what the red team did), re-digested. */
  async function edited(name: string, base: PackedJob, change: (m: JobManifest) => JobManifest): Promise<PackedJob> {
    const manifest = change(base.manifest);
    const out = join(work, "packed", name);
    await mkdir(out, { recursive: true });
    await copyFile(base.bundlePath, join(out, "bundle.tar"));
    await writeFile(join(out, "job.json"), JSON.stringify(manifest));
    jobs[name] = { bundlePath: join(out, "bundle.tar"), manifest, jobDigest: jobDigest(manifest) };
    return jobs[name]!;
  }

  async function run(name: string, timeoutMs = 60_000): Promise<{ jobId: string; status: JobStatus }> {
    const { jobId } = await client.submit(jobs[name]!);
    return { jobId, status: await client.wait(jobId, { timeoutMs }) };
  }

  function quarantine(jobId: string): string {
    return join(roomLayout(dir).quarantineDir, jobId);
  }

  /** Fetches a job's quarantined result and verifies it (the provider's review). */
  async function fetchAndVerify(jobId: string, label: string) {
    const out = join(work, `fetched-${label}`);
    await client.fetch(jobId, out, { from: "quarantine" });
    return verifyResult(out, { descriptor });
  }

  async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until a job's executor is running its job (the broker released its key). */
  async function waitForJobProcess(jobId: string, digest: string): Promise<void> {
    const layout = roomLayout(dir);
    await waitUntil(`job ${jobId} to run`, async () => readFileSync(layout.logFile, "utf8").includes(`released to job ${digest}`) && (await readJobState(layout, jobId))?.state === "running");
  }

  before(async () => {
    work = await tempDir("redteam");
    // A room directory beneath a prefix that every sandbox binds read-only (finding 5).
    // (Where that prefix is not writable, e.g. a non-root run against /usr, the room goes to a temp dir instead.)
    dir = await mkdtemp(join(pythonPrefix(), "cleanroom-redteam-")).catch(() => mkdtemp(join(tmpdir(), "cleanroom-redteam-")));
    await chmod(dir, 0o755);

    await pack("approved", `${PRELUDE}
rows = open(os.path.join(IN, "insurer", "claims.csv")).read().strip().split("\\n")
json.dump({"rows": len(rows) - 1}, open(os.path.join(OUT, "count.json"), "w"))
`);
    await pack("no-inputs-base", `${PRELUDE}
open(os.path.join(OUT, "ran.txt"), "w").write("this code ran without any provider's approval")
`);
    await pack("two-providers", `${PRELUDE}
open(os.path.join(OUT, "both.txt"), "w").write("read both")
`, ["hospital/visits", "insurer/claims"]);
    await pack("control-names", `${PRELUDE}
open(os.path.join(OUT, "report.csv"), "w").write("n\\n2\\n")
open(os.path.join(OUT, "\\x1b[2J\\x1b[H  report.csv  sha256 forged"), "w").write("x")
open(os.path.join(OUT, "two\\nlines.txt"), "w").write("x")
`);
    await pack("backslash-name", `${PRELUDE}
open(os.path.join(OUT, "a\\\\b"), "w").write("x")
`);
    await pack("rows-in-name", `${PRELUDE}
rows = open(os.path.join(IN, "insurer", "claims.csv")).read().strip().split("\\n")[1:]
os.symlink("/etc/hostname", os.path.join(OUT, "_".join(r.replace(",", "-") for r in rows)))
`);
    await pack("slow", `${PRELUDE}
import time
open(os.path.join(OUT, "partial.txt"), "w").write("half")
time.sleep(600)
`);
    await pack("room-reader", `${PRELUDE}
ROOM = ${JSON.stringify(dir)}
res = {}
for name, path in [("broker_key", ROOM + "/private/broker-keys/insurer.key"), ("pki_key", ROOM + "/private/pki/leaf.pk8"),
                   ("room_log", ROOM + "/room.log"), ("descriptor", ROOM + "/descriptor.json")]:
    try:
        open(path, "rb").read(1)
        res[name] = "read"
    except OSError as e:
        res[name] = "blocked"
try:
    res["quarantine"] = os.listdir(ROOM + "/buckets/quarantine")
except OSError:
    res["quarantine"] = "blocked"
json.dump(res, open(os.path.join(OUT, "room.json"), "w"))
`);
    await pack("privileges", `${PRELUDE}
import ctypes
res = {}
try:
    os.chmod(OUT, 0o700)
    res["chmod_output_dir"] = "allowed"
except OSError:
    res["chmod_output_dir"] = "refused"
libc = ctypes.CDLL(None, use_errno=True)
res["new_user_namespace"] = "allowed" if libc.unshare(0x10000000) == 0 else "refused"
json.dump(res, open(os.path.join(OUT, "privileges.json"), "w"))
`);
    await pack("daemon", `${PRELUDE}
import time
open(os.path.join(OUT, "steady.txt"), "w").write("0" * 64)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        fd = os.open(os.path.join(OUT, "steady.txt"), os.O_WRONLY)
        end, i = time.time() + 8, 0
        while time.time() < end:
            os.pwrite(fd, str(i).zfill(64).encode(), 0)
            i += 1
    os._exit(0)
os.waitpid(pid, 0)
`);
    await pack("many-outputs", `${PRELUDE}
for i in range(10001):
    open(os.path.join(OUT, "f%05d" % i), "w").close()
`);
    await pack("oversize", `${PRELUDE}
open(os.path.join(OUT, "big.bin"), "wb").write(b"x" * 5000)
`);
    await edited("no-inputs", jobs["no-inputs-base"]!, (m) => ({ ...m, inputs: [] }));

    // A bundle whose second tar entry is unsafe, with a job.json describing only its first (a consumer's upload).
    const main = "print('never runs')\n";
    const badTar = join(work, "packed", "bad-tar");
    await mkdir(badTar, { recursive: true });
    const tar = tarPack();
    tar.entry({ name: "main.py", size: main.length, mode: 0o644, mtime: new Date(0) }, main);
    tar.entry({ name: "../evil.py", size: 1, mode: 0o644, mtime: new Date(0) }, "x");
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    await writeFile(join(badTar, "bundle.tar"), Buffer.concat(chunks));
    const badManifest: JobManifest = {
      version: 1,
      entrypoint: ["python3", "main.py"],
      inputs: [{ provider: "insurer", dataset: "claims" }],
      files: [{ path: "main.py", bytes: main.length, sha256: sha256Hex(main) }],
    };
    jobs["bad-tar"] = { bundlePath: join(badTar, "bundle.tar"), manifest: badManifest, jobDigest: jobDigest(badManifest) };

    const insurer = ["approved", "two-providers", "control-names", "backslash-name", "rows-in-name", "slow", "room-reader", "privileges", "daemon", "many-outputs", "oversize", "bad-tar"];
    spec = {
      providers: [
        { name: "insurer", datasets: [{ name: "claims" }], approvedJobs: insurer.map((n) => jobs[n]!.jobDigest) },
        { name: "hospital", datasets: [{ name: "visits" }], approvedJobs: [] },
      ],
      output: { maxBytes: 4096, requireRelease: true },
    };
    const up = await localUp({ spec, dir, jobTimeoutSeconds: 10 });
    descriptor = loadDescriptor(up.descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "claims.csv"), CLAIMS);
    await writeFile(join(work, "visits.csv"), "id,ward\n1,a\n");
    await client.provision("insurer", "claims", join(work, "claims.csv"));
    await client.provision("hospital", "visits", join(work, "visits.csv"));
  });

  after(async () => {
    if (dir) {
      await localDown(dir, { force: true }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe("finding 1: code no provider approved", () => {
    it("GIVEN a job whose job.json was edited to declare no inputs WHEN submitted THEN the launcher never starts it: failed [denied] with a verifiable receipt", async () => {
      const { jobId, status } = await run("no-inputs");
      expect(status.state, status.detail).to.equal("failed");
      expect(status.errorCode).to.equal("denied");
      expect(status.detail).to.match(/declares no inputs/);
      // No executor was started for it: no executor log, and the receipt says its code never ran.
      expect(existsSync(join(roomLayout(dir).stateDir, "jobs", `${jobId}.log`))).to.equal(false);
      const receipt = parseReceipt(readFileSync(join(quarantine(jobId), "receipt.json"), "utf8"));
      expect(receipt.exitCode).to.equal(undefined);
      expect(receipt.outputs).to.deep.equal([]);
      const s = await fetchAndVerify(jobId, "no-inputs");
      expect(s.verdict).to.match(/^VERIFIED FAILURE/);
    });

    it("GIVEN a job reading two providers' data that only one approved WHEN submitted THEN it never starts: no key is released to it at all", async () => {
      const { jobId, status } = await run("two-providers");
      expect(status.state).to.equal("failed");
      expect(status.errorCode).to.equal("denied");
      expect(status.detail).to.contain('provider "hospital" refused');
      expect(readFileSync(roomLayout(dir).logFile, "utf8")).to.not.contain(`released to job ${jobs["two-providers"]!.jobDigest}`);
      expect(existsSync(join(roomLayout(dir).stateDir, "jobs", `${jobId}.log`))).to.equal(false);
    });
  });

  describe("finding 2: output names that redraw the screen", () => {
    it("GIVEN a job whose output names hold escape sequences and newlines THEN it fails output-policy, and neither status nor verify prints a control character", async () => {
      const { jobId, status } = await run("control-names");
      expect(status.state).to.equal("failed");
      expect(status.errorCode).to.equal("output-policy");
      expect(hasControl(status.detail ?? "")).to.equal(false);
      const s = await fetchAndVerify(jobId, "control-names");
      expect(s.outputs).to.deep.equal([]);
      const cli = await cliInProcess(["verify", join(work, "fetched-control-names"), "--room", roomLayout(dir).descriptor]);
      expect(cli.code, cli.stderr).to.equal(0);
      expect(hasControl(cli.stdout.replace(/\n/g, ""))).to.equal(false);
    });
  });

  describe("finding 3: raw rows past the release review", () => {
    it("GIVEN a job that names an output after the raw rows and breaks the output policy THEN `job status` never shows them", async () => {
      const { jobId, status } = await run("rows-in-name");
      expect(status.state).to.equal("failed");
      expect(status.errorCode).to.equal("output-policy");
      const cli = await cliInProcess(["job", "status", jobId, "--room", roomLayout(dir).descriptor, "--json"]);
      expect(cli.code, cli.stderr).to.equal(0);
      expect(cli.stdout).to.not.match(/SECRET-ROW/);
      expect(readFileSync(join(quarantine(jobId), "receipt.json"), "utf8")).to.not.match(/SECRET-ROW/);
    });

    it("GIVEN a local room THEN quarantine is readable by the room's owner only", async () => {
      expect((await import("node:fs")).statSync(roomLayout(dir).quarantineDir).mode & 0o777).to.equal(0o700);
    });
  });

  describe("finding 4: the room process and its after-exit handler", () => {
    it("GIVEN a staged result of job X WHEN a job whose id is a prefix of X's finishes THEN X's staging survives and X commits", async () => {
      const layout = roomLayout(dir);
      const writer = new LocalResultWriter(join(layout.quarantineDir, "job-rt-abc-def"));
      await writer.write("receipt.json", Buffer.from("{}"));
      const jobId = "job-rt-abc";
      await mkdir(join(layout.jobsDir, jobId));
      await copyFile(jobs.approved!.bundlePath, join(layout.jobsDir, jobId, "bundle.tar"));
      await writeFile(join(layout.jobsDir, jobId, "job.json"), JSON.stringify(jobs.approved!.manifest));
      const res = await unixRequest(layout.controlSocket, "POST", "/v1/jobs", { jobId, jobDigest: jobs.approved!.jobDigest });
      expect(res.status, res.body).to.equal(202);
      await client.wait(jobId, { timeoutMs: 60_000 });
      await waitUntil("the launcher to finish job-rt-abc", async () => (await readJobState(layout, jobId))?.finishedAt !== undefined);
      await writer.commit();
      expect(existsSync(join(layout.quarantineDir, "job-rt-abc-def", "receipt.json"))).to.equal(true);
    });

    it("GIVEN a job's state file that cannot be written when the job ends THEN the room keeps running and the job reports its receipt", async () => {
      const layout = roomLayout(dir);
      const { jobId } = await client.submit(jobs.slow!);
      await waitForJobProcess(jobId, jobs.slow!.jobDigest);
      const st = await readJobState(layout, jobId);
      // The state file becomes something no rename can replace (as a full disk makes every write fail).
      const statePath = join(layout.stateDir, "jobs", `${jobId}.json`);
      await rm(statePath);
      await mkdir(join(statePath, "blocked"), { recursive: true });
      process.kill(st!.pid!, "SIGKILL");
      await waitUntil("the job to end", () => existsSync(join(quarantine(jobId), "receipt.json")));
      await new Promise((r) => setTimeout(r, 500));
      expect((await localStatus(dir)).running, "the room survived").to.equal(true);
      expect((await client.status(jobId)).state).to.equal("failed");
      const again = await run("approved");
      expect(again.status.state).to.equal("succeeded");
    });
  });

  describe("finding 5: the job's user outside the sandbox", () => {
    it("GIVEN the room directory beneath a prefix bound into the sandboxes WHEN a job reads the room's keys, log, descriptor and quarantine THEN it can read none of them", async () => {
      const { jobId, status } = await run("room-reader");
      expect(status.state, status.detail).to.equal("succeeded");
      const seen = JSON.parse(await readFile(join(quarantine(jobId), "outputs", "room.json"), "utf8"));
      expect(seen).to.deep.equal({ broker_key: "blocked", pki_key: "blocked", room_log: "blocked", descriptor: "blocked", quarantine: "blocked" });
    });

    it("GIVEN a job THEN it is an unprivileged user outside: it cannot chmod the executor's directory nor create a user namespace", async () => {
      const { jobId, status } = await run("privileges");
      expect(status.state, status.detail).to.equal("succeeded");
      const seen = JSON.parse(await readFile(join(quarantine(jobId), "outputs", "privileges.json"), "utf8"));
      expect(seen).to.deep.equal({ chmod_output_dir: "refused", new_user_namespace: "refused" });
    });
  });

  describe("finding 6: leftover processes", () => {
    it("GIVEN jobs that leave a daemon rewriting their outputs THEN every committed result verifies", async () => {
      const subs = await Promise.all([1, 2, 3].map(() => client.submit(jobs.daemon!)));
      for (const [i, s] of subs.entries()) {
        const st = await client.wait(s.jobId, { timeoutMs: 60_000 });
        expect(st.state, st.detail).to.equal("succeeded");
        const v = await fetchAndVerify(s.jobId, `daemon-${i}`);
        expect(v.outputs.map((o) => o.path)).to.deep.equal(["steady.txt"]);
      }
    });
  });

  describe("finding 7: failures without a failure receipt", () => {
    it("GIVEN a bundle whose second tar entry is unsafe THEN the job fails invalid-manifest with a verifiable receipt", async () => {
      const { jobId, status } = await run("bad-tar");
      expect(status.state, status.detail).to.equal("failed");
      expect(status.errorCode).to.equal("invalid-manifest");
      expect((await fetchAndVerify(jobId, "bad-tar")).status).to.equal("failed");
    });

    it("GIVEN an output named a\\b THEN the job fails output-policy with a verifiable receipt", async () => {
      const { jobId, status } = await run("backslash-name");
      expect(status.state, status.detail).to.equal("failed");
      expect(status.errorCode).to.equal("output-policy");
      expect((await fetchAndVerify(jobId, "backslash")).status).to.equal("failed");
    });

    it("GIVEN more than 10,000 outputs THEN the job fails output-policy with a verifiable receipt", async () => {
      const { jobId, status } = await run("many-outputs");
      expect(status.state, status.detail).to.equal("failed");
      expect(status.errorCode).to.equal("output-policy");
      expect(status.detail).to.match(/10000/);
      expect((await fetchAndVerify(jobId, "many")).status).to.equal("failed");
    });

    it("GIVEN a job that outlives the room's job timeout THEN it fails [timeout] with a verifiable receipt", async () => {
      const { jobId, status } = await run("slow", 60_000);
      expect(status.state, status.detail).to.equal("failed");
      expect(status.errorCode).to.equal("timeout");
      expect((await fetchAndVerify(jobId, "timeout")).errorCode).to.equal("timeout");
    });

    it("GIVEN a running executor WHEN it is killed THEN the job fails with a verifiable receipt and no outputs", async () => {
      const layout = roomLayout(dir);
      const { jobId } = await client.submit(jobs.slow!);
      await waitForJobProcess(jobId, jobs.slow!.jobDigest);
      process.kill((await readJobState(layout, jobId))!.pid!, "SIGKILL");
      const s = await client.wait(jobId, { timeoutMs: 30_000 });
      expect(s.state).to.equal("failed");
      expect(s.errorCode).to.equal("executor-died");
      const v = await fetchAndVerify(jobId, "killed");
      expect(v.outputs).to.deep.equal([]);
      expect((await readdir(layout.quarantineDir)).filter((n) => n.includes(jobId))).to.deep.equal([jobId]);
    });
  });

  describe("finding 8: what a token and the output cap are bound to", () => {
    it("GIVEN a room-owner process that asks a running job's attestation socket for a token WHEN it names another job id in the receipt THEN verify refuses it", async () => {
      const layout = roomLayout(dir);
      const { jobId } = await client.submit(jobs.slow!);
      await waitForJobProcess(jobId, jobs.slow!.jobDigest);
      const now = new Date();
      const forged: Receipt = {
        version: 1,
        room: descriptor.name,
        jobId: "job-forged-1",
        jobDigest: jobs.slow!.jobDigest,
        executorImageDigest: descriptor.executor.imageDigest,
        policyDigest: policyDigest(descriptor.attestation.condition),
        platform: "local",
        sandbox: "bubblewrap",
        inputs: [{ provider: "insurer", dataset: "claims", sha256: sha256Hex(CLAIMS), bytes: CLAIMS.length }],
        outputs: [{ path: "report.csv", bytes: 4, sha256: sha256Hex("n,1\n") }],
        startedAt: now.toISOString(),
        finishedAt: now.toISOString(),
        status: "succeeded",
        exitCode: 0,
      };
      const res = await unixRequest(join(layout.jobSocketsDir, jobId, "teeserver.sock"), "POST", "/v1/token", {
        audience: descriptor.attestation.audience,
        nonces: [nonceForReceipt(forged)],
        token_type: "PKI",
      });
      expect(res.status, res.body).to.equal(200);
      const out = join(work, "forged");
      await mkdir(join(out, "outputs"), { recursive: true });
      await writeFile(join(out, "outputs", "report.csv"), "n,1\n");
      await writeFile(join(out, "receipt.json"), JSON.stringify(forged));
      await writeFile(join(out, "attestation.jwt"), res.body);
      let err: unknown;
      try {
        await verifyResult(out, { descriptor });
      } catch (e) {
        err = e;
      }
      expect((err as CleanRoomError | undefined)?.code, String(err)).to.equal("policy");
      expect((err as Error).message).to.match(/job-forged-1/);
      await client.wait(jobId, { timeoutMs: 60_000 });
    });

    it("GIVEN the room's descriptor.json edited to a larger output cap WHEN a job runs THEN the cap the room started with still applies", async () => {
      const path = roomLayout(dir).descriptor;
      const original = await readFile(path, "utf8");
      try {
        const d = JSON.parse(original) as CleanRoomDescriptor;
        await writeFile(path, JSON.stringify({ ...d, output: { ...d.output, maxBytes: 10_000_000 } }, null, 2));
        const { status } = await run("oversize");
        expect(status.state, status.detail).to.equal("failed");
        expect(status.errorCode).to.equal("output-policy");
      } finally {
        await writeFile(path, original);
      }
    });
  });

  describe("also checked", () => {
    it("GIVEN the executor's sandbox THEN it can write its own job's staging but no other job's quarantine entry, and cannot see the room's private keys", async () => {
      const layout = roomLayout(dir);
      const config = JSON.parse(await readFile(layout.config, "utf8")) as LauncherConfig;
      const jobId = "job-probe-1";
      await mkdir(join(layout.quarantineDir, "job-other-1"), { recursive: true });
      const sock = join(layout.jobSocketsDir, jobId, "teeserver.sock");
      await mkdir(join(layout.jobSocketsDir, jobId), { recursive: true });
      await writeFile(sock, "");
      await mkdir(join(layout.jobsDir, jobId), { recursive: true });
      await mkdir(join(layout.quarantineDir, `.staging-${jobId}`), { recursive: true });
      const args = executorSandboxFor(layout, config, descriptor, { jobId, launcherSocket: sock, env: {} });
      const probe = spawnSync(BWRAP, [...args, "--", "/bin/sh", "-c", `
        touch ${layout.quarantineDir}/job-other-1/planted 2>/dev/null && echo other:written || echo other:refused
        touch ${layout.quarantineDir}/.staging-${jobId}/x 2>/dev/null && echo own:written || echo own:refused
        ls ${layout.privateDir}/broker-keys >/dev/null 2>&1 && echo keys:visible || echo keys:hidden`], { encoding: "utf8" });
      expect(probe.stdout.trim().split("\n"), probe.stderr).to.deep.equal(["other:refused", "own:written", "keys:hidden"]);
      await rm(join(layout.jobSocketsDir, jobId), { recursive: true, force: true });
      await rm(join(layout.quarantineDir, `.staging-${jobId}`), { recursive: true, force: true });
    });
  });

  describe("finding 4 (last: kills the room)", () => {
    it("GIVEN the room process killed with SIGKILL while a job runs THEN `job wait` returns, and after `local up` the job is failed with a verifiable receipt", async () => {
      const layout = roomLayout(dir);
      const { jobId } = await client.submit(jobs.slow!);
      await waitForJobProcess(jobId, jobs.slow!.jobDigest);
      const roomPid = Number.parseInt(readFileSync(layout.pidFile, "utf8"), 10);
      process.kill(roomPid, "SIGKILL");
      const lost = await client.wait(jobId, { timeoutMs: 15_000 });
      expect(lost.state).to.equal("lost");
      expect(lost.detail).to.match(/cleanroom local up/);
      await localUp({ spec, dir, jobTimeoutSeconds: 10 });
      const s = await client.wait(jobId, { timeoutMs: 30_000 });
      expect(s.state).to.equal("failed");
      expect(s.errorCode).to.equal("executor-died");
      expect((await fetchAndVerify(jobId, "orphan")).status).to.equal("failed");
    });
  });
});

describe("local room without a sandbox: leftover processes (issue 18, finding 6)", function () {
  this.timeout(120_000);
  let work: string;
  let dir: string;
  let client: RoomClient;
  let descriptor: CleanRoomDescriptor;
  let job: PackedJob;

  before(async () => {
    work = await tempDir("redteam-nosandbox");
    dir = join(work, "room");
    // The job starts a child that keeps rewriting its output, and exits as soon as the child has begun.
    const src = await pythonJob(work, "leftover", `${PRELUDE}
import subprocess, sys, time
f = os.path.join(OUT, "steady.txt")
open(f, "w").write("0" * 64)
subprocess.Popen([sys.executable, "-c", """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
end, i = time.time() + 5, 1
while time.time() < end:
    os.pwrite(fd, str(i).zfill(64).encode(), 0)
    i += 1
""", f])
while open(f).read() == "0" * 64:
    time.sleep(0.001)
`);
    job = await packJob(src, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed") });
    const up = await localUp({ spec: { providers: [{ name: "insurer", datasets: [{ name: "claims" }], approvedJobs: [job.jobDigest] }] }, dir, insecureNoSandbox: true });
    descriptor = loadDescriptor(up.descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "claims.csv"), CLAIMS);
    await client.provision("insurer", "claims", join(work, "claims.csv"));
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a job whose child process keeps rewriting its output after the job exits THEN the committed result verifies", async () => {
    const { jobId } = await client.submit(job);
    const st = await client.wait(jobId, { timeoutMs: 60_000 });
    expect(st.state, st.detail).to.equal("succeeded");
    const out = join(work, "fetched");
    await client.fetch(jobId, out, { from: "quarantine" });
    const s = await verifyResult(out, { descriptor });
    expect(s.outputs.map((o) => o.path)).to.deep.equal(["steady.txt"]);
  });
});

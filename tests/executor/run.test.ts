/**
 * runExecutor, in this process: a real job bundle, real encrypted inputs and a real job process (Python, no sandbox),
 * with the platform (storage, key release, attester) faked at its interface. What it checks is what a provider and a
 * verifier rely on: nothing of the job runs and no key is asked for unless the bundle is the approved one; the receipt
 * names exactly what ran on exactly which bytes; a failure commits a failure receipt and no outputs.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { jobDigest } from "../../src/core/digest.js";
import { resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import { nonceForReceipt, policyDigest, type Receipt, receiptProblems } from "../../src/core/receipt.js";
import { runExecutor } from "../../src/runtime/executor/run.js";
import { encryptTree } from "../../src/runtime/provision/tree.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { AUDIENCE, FakePlatform, IMAGE, type StagedJob, provision, room, stageJob } from "./fake-platform.js";

const CLAIMS = "id,amount\n1,10\n2,32\n";
const PRICES = "sku,price\na,3\n";
const VISITS = "id,days\n7,2\n";
const OUTPUT_URI = "mem://room/q/job-1";

/** A job that copies its inputs to its outputs and records what it saw of its environment and files. */
const COPY_JOB = `import json, os, stat
IN = os.environ["CLEANROOM_INPUTS"]
OUT = os.environ["CLEANROOM_OUTPUT"]
seen = {"env": dict(os.environ), "cwd": os.getcwd(), "modes": {}}
for root, dirs, files in os.walk(IN):
    for n in dirs + files:
        p = os.path.join(root, n)
        seen["modes"][os.path.relpath(p, IN)] = stat.S_IMODE(os.stat(p).st_mode)
seen["modes"]["."] = stat.S_IMODE(os.stat(IN).st_mode)
seen["modes"]["job"] = stat.S_IMODE(os.stat(os.getcwd()).st_mode)
seen["modes"]["job/.."] = stat.S_IMODE(os.stat(os.path.dirname(os.getcwd())).st_mode)
os.makedirs(os.path.join(OUT, "copy"))
for root, dirs, files in os.walk(IN):
    for n in files:
        with open(os.path.join(root, n), "rb") as f, open(os.path.join(OUT, "copy", os.path.basename(root) + "-" + n), "wb") as g:
            g.write(f.read())
with open(os.path.join(OUT, "seen.json"), "w") as f:
    json.dump(seen, f)
`;

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("executor/runExecutor", function () {
  this.timeout(20_000);
  let platform: FakePlatform;

  async function setUp(files: Record<string, string>, opts: Parameters<typeof stageJob>[3] = {}, roomOverrides: Partial<CleanRoomDescriptor> = {}, approve = true): Promise<{ job: StagedJob; d: CleanRoomDescriptor }> {
    platform = new FakePlatform(OUTPUT_URI);
    const probe = room([]);
    const job = await stageJob(platform, probe, files, opts);
    const d = room(approve ? [job.env.jobDigest] : [], roomOverrides);
    await provision(platform, d, "acme", "claims", CLAIMS);
    await provision(platform, d, "acme", "prices", PRICES);
    await provision(platform, d, "beta", "visits", VISITS);
    return { job, d };
  }

  function receiptOf(): { receipt: Receipt; token: string; files: Map<string, Buffer> } {
    // Nothing of the executor's work directory is left behind (it held the decrypted inputs). Checked here, in the
    // tests themselves: a failing afterEach hook is not a failing test to Stryker.
    const work = platform.commands[0]?.workDir;
    if (work) expect(existsSync(dirname(work)), "executor work directory left behind").to.equal(false);
    const r = platform.committed();
    return { receipt: JSON.parse(r.files.get("receipt.json")!.toString("utf8")) as Receipt, token: r.files.get("attestation.jwt")!.toString("utf8"), files: r.files };
  }

  describe("GIVEN an approved job reading two providers' datasets", () => {
    let outcome: Awaited<ReturnType<typeof runExecutor>>;
    let d: CleanRoomDescriptor;
    let job: StagedJob;
    let startedBefore: number;
    // beforeEach, not before: Stryker attributes coverage to a test only for code that runs inside it or its beforeEach.
    beforeEach(async () => {
      ({ job, d } = await setUp({ "main.py": COPY_JOB, "lib/util.py": "X = 1\n" }, { inputs: ["beta/visits", "acme/prices", "acme/claims", "acme/claims"] }));
      startedBefore = Date.now();
      outcome = await runExecutor(platform, d, job.env);
    });

    it("THEN the result is committed once, with a succeeded receipt, its token and the outputs", () => {
      expect(outcome.committed).to.equal(true);
      expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
      expect(platform.results).to.have.length(1);
      const { files } = receiptOf();
      expect([...files.keys()].sort()).to.deep.equal([
        "attestation.jwt",
        "outputs.check.json",
        "outputs/copy/acme-claims.csv",
        "outputs/copy/acme-prices.csv",
        "outputs/copy/beta-visits.csv",
        "outputs/seen.json",
        "receipt.json",
      ]);
    });

    it("THEN the receipt carries the disclosure checks (the copied inputs fail verbatim-rows; review mode keeps them), equal to outputs.check.json", () => {
      const { files, receipt } = receiptOf();
      const report = receipt.disclosure!;
      expect(JSON.parse(files.get("outputs.check.json")!.toString())).to.deep.equal(report);
      expect(report).to.include({ verdict: "fail", withheld: false });
      expect(report.policy.mode).to.equal("review");
      expect(report.outputs.map((o) => o.path)).to.deep.equal(receipt.outputs.map((o) => o.path));
      for (const o of report.outputs.filter((x) => x.path.startsWith("copy/"))) expect(o.findings.map((f) => f.rule), o.path).to.include("verbatim-rows");
    });

    it("THEN each output holds the decrypted bytes of its input, and the receipt names each input by the digest of those bytes, in order", () => {
      const { files, receipt } = receiptOf();
      expect(files.get("outputs/copy/acme-claims.csv")!.toString()).to.equal(CLAIMS);
      expect(files.get("outputs/copy/beta-visits.csv")!.toString()).to.equal(VISITS);
      expect(receipt.inputs).to.deep.equal([
        { provider: "acme", dataset: "claims", sha256: sha(CLAIMS), bytes: CLAIMS.length },
        { provider: "acme", dataset: "prices", sha256: sha(PRICES), bytes: PRICES.length },
        { provider: "beta", dataset: "visits", sha256: sha(VISITS), bytes: VISITS.length },
      ]);
      expect(platform.unwrapCalls).to.deep.equal(["acme/claims", "acme/prices", "beta/visits"]);
    });

    it("THEN the receipt's outputs are the files committed, by size and digest", () => {
      const { files, receipt } = receiptOf();
      const committed = [...files].filter(([p]) => p.startsWith("outputs/")).map(([p, b]) => ({ path: p.slice("outputs/".length), bytes: b.length, sha256: sha(b) }));
      expect(receipt.outputs).to.deep.equal(committed);
    });

    it("THEN the receipt names the room, job, attested image, policy, platform and times, and one admission per provider", () => {
      const { receipt } = receiptOf();
      expect(receipt).to.include({ version: 1, room: "exec-test", jobId: "job-1", jobDigest: job.env.jobDigest, executorImageDigest: IMAGE, platform: "fake", sandbox: "none", exitCode: 0 });
      expect(receipt.policyDigest).to.equal(policyDigest(d.attestation.condition));
      expect(receipt).not.to.have.any.keys("error", "errorCode", "dp");
      expect(receipt.admittedBy).to.deep.equal([
        { provider: "acme", policyDigest: policyDigest(d.attestation.condition), own: false },
        { provider: "beta", policyDigest: policyDigest(d.attestation.condition), own: false },
      ]);
      const started = Date.parse(receipt.startedAt);
      expect(started).to.be.within(startedBefore - 1, Date.parse(receipt.finishedAt));
      expect(Date.parse(receipt.finishedAt)).to.be.at.most(Date.now());
    });

    it("THEN the token was requested for the room's audience with the receipt's nonce, and is the one committed", () => {
      const { receipt, token } = receiptOf();
      expect(platform.tokenRequests).to.deep.equal([{ audience: AUDIENCE, nonces: [nonceForReceipt(receipt)] }]);
      expect(token).to.equal(`token.${nonceForReceipt(receipt)}\n`);
    });

    it("THEN every data key was wiped after use", () => {
      expect(platform.released).to.have.length(3);
      for (const k of platform.released) expect(k.equals(Buffer.alloc(32)), "key wiped").to.equal(true);
    });

    it("THEN the job saw a clean environment: its own variables only, no executor socket or URI", () => {
      const seen = JSON.parse(receiptOf().files.get("outputs/seen.json")!.toString()) as { env: Record<string, string> };
      const env = { ...seen.env };
      // Added by the Python runtime itself, not by the executor.
      delete env.LC_CTYPE;
      expect(Object.keys(env).sort()).to.deep.equal(["CLEANROOM_INPUTS", "CLEANROOM_OUTPUT", "HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"]);
      expect(env).to.include({ HOME: "/tmp", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" });
    });

    it("THEN the job's code and inputs were read-only to it, and the work directory not listable", () => {
      const seen = JSON.parse(receiptOf().files.get("outputs/seen.json")!.toString()) as { modes: Record<string, number> };
      expect(seen.modes).to.deep.equal({ ".": 0o555, acme: 0o555, beta: 0o555, "acme/claims.csv": 0o444, "acme/prices.csv": 0o444, "beta/visits.csv": 0o444, job: 0o555, "job/..": 0o711 });
    });

    it("THEN the runtime was probed in the job's own plan before the job ran, and both ran in the work directory", () => {
      expect(platform.commands.map((c) => c.argv)).to.deep.equal([
        ["sh", "-c", 'command -v "$0" >/dev/null', "python3"],
        ["python3", "main.py"],
      ]);
      const [probe, main] = platform.commands;
      expect(probe!.workDir).to.equal(main!.workDir);
      expect(main!.env).to.deep.equal({ HOME: "/tmp", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" });
    });
  });

  it("GIVEN a job asking for DP noise THEN the spend goes to the platform's ledger for that dataset, the receipt lists it, and the protocol files are not outputs", async () => {
    const { job, d } = await setUp({
      "main.py": `import json, os, time
DP = os.path.join(os.environ["CLEANROOM_OUTPUT"], ".cleanroom-dp")
with open(os.path.join(DP, ".q.tmp"), "w") as f:
    json.dump({"provider": "acme", "dataset": "claims", "count": 2, "sensitivity": 1, "rho": 0.01}, f)
os.rename(os.path.join(DP, ".q.tmp"), os.path.join(DP, "request-q.json"))
r = os.path.join(DP, "response-q.json")
while not os.path.exists(r):
    time.sleep(0.01)
with open(os.path.join(os.environ["CLEANROOM_OUTPUT"], "answer.json"), "w") as f:
    f.write(open(r).read())
`,
    });
    const ledgerDir = await mkdtemp(join(tmpdir(), "exec-ledger-"));
    const { key } = await loadOrCreateLedgerKey(join(ledgerDir, "provider.key"));
    const store = new DirectoryLedgerStore(join(ledgerDir, "claims"));
    await PrivacyLedger.open({ store, dataset: "claims", budget: { epsilon: 1, delta: 1e-9 }, signer: providerSigner(key) });
    const asked: string[] = [];
    platform.ledgerStore = (provider, dataset) => {
      asked.push(`${provider.name}/${dataset}`);
      return store;
    };
    try {
      const outcome = await runExecutor(platform, d, job.env);
      expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
      const { receipt, files } = receiptOf();
      expect(asked).to.deep.equal(["acme/claims"]);
      const answer = JSON.parse(files.get("outputs/answer.json")!.toString()) as { noise: number[]; entry: string };
      expect(answer.noise).to.have.length(2);
      expect(receipt.outputs.map((o) => o.path)).to.deep.equal(["answer.json"]);
      expect(receipt.dp).to.have.length(1);
      expect(receipt.dp![0]).to.include({ provider: "acme", dataset: "claims", seq: 1, entry: answer.entry, count: 2, sensitivity: 1 });
      const state = await (await PrivacyLedger.open({ store, dataset: "claims", signer: providerSigner(key) })).state();
      expect((state.entries[1] as unknown as { job: unknown }).job).to.deep.equal({ jobId: "job-1", jobDigest: job.env.jobDigest });
      // The spend's token and the result's: both from the platform's attester, for the room's audience.
      expect(platform.tokenRequests.map((t) => t.audience)).to.deep.equal([AUDIENCE, AUDIENCE]);
    } finally {
      await rm(ledgerDir, { recursive: true, force: true });
    }
  });

  it("GIVEN a job asking for no noise THEN the receipt has no dp field", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    await runExecutor(platform, d, job.env);
    expect(receiptOf().receipt).not.to.have.property("dp");
  });

  /** Runs a job that must fail, and returns its (committed) failure receipt. */
  async function failed(files: Record<string, string>, opts: Parameters<typeof stageJob>[3] = {}, roomOverrides: Partial<CleanRoomDescriptor> = {}, change?: (job: StagedJob, d: CleanRoomDescriptor) => void | Promise<void>, approve = true): Promise<Receipt> {
    const { job, d } = await setUp(files, opts, roomOverrides, approve);
    await change?.(job, d);
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(true);
    const { receipt, files: written } = receiptOf();
    expect(receipt.status).to.equal("failed");
    expect(receipt.outputs).to.deep.equal([]);
    expect([...written.keys()].sort(), "no outputs committed").to.deep.equal(["attestation.jwt", "receipt.json"]);
    expect(outcome.receipt).to.deep.equal(receipt);
    return receipt;
  }

  /** A job that writes a file marking that its code ran. */
  const MARK = `import os\nopen(os.path.join(os.environ["CLEANROOM_OUTPUT"], "ran"), "w").write("x")\n`;

  it("GIVEN a job the provider has not approved THEN denied before any key is asked for or any code runs", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, undefined, false);
    expect(receipt.errorCode).to.equal("denied");
    expect(platform.unwrapCalls).to.deep.equal([]);
    expect(platform.commands).to.deep.equal([]);
    expect(receipt.inputs).to.deep.equal([]);
    expect(receipt).not.to.have.property("exitCode");
  });

  it("GIVEN a room under any-job and a job no provider approved THEN it runs", async () => {
    const { job, d } = await setUp({ "main.py": MARK }, {}, { codePolicy: "any-job" }, false);
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
    expect(receiptOf().receipt.outputs.map((o) => o.path)).to.deep.equal(["ran"]);
  });

  it("GIVEN job.json changed after submission (another entrypoint argument) THEN digest-mismatch, and nothing ran", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, (job) => {
      const tampered = { ...job.manifest, entrypoint: ["python3", "main.py", "--all-rows"] };
      platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(JSON.stringify(tampered)));
    });
    expect(receipt.errorCode).to.equal("digest-mismatch");
    expect(platform.unwrapCalls).to.deep.equal([]);
    expect(platform.commands).to.deep.equal([]);
  });

  it("GIVEN job.json listing its inputs in another order THEN the same digest: the job runs", async () => {
    const { job, d } = await setUp({ "main.py": MARK }, { inputs: ["acme/claims", "beta/visits"] });
    const reordered = { ...job.manifest, inputs: [...job.manifest.inputs].reverse() };
    platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(JSON.stringify(reordered)));
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
  });

  it("GIVEN a launcher digest that is not the bundle's THEN digest-mismatch", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, (job) => {
      (job as { env: { jobDigest: string } }).env.jobDigest = `sha256:${"b".repeat(64)}`;
    });
    expect(receipt.errorCode).to.equal("digest-mismatch");
    expect(receipt.jobDigest).to.equal(`sha256:${"b".repeat(64)}`);
  });

  for (const [what, body, code] of [
    ["not JSON", "{", "invalid-manifest"],
    ["JSON null", "null", "invalid-manifest"],
    ["of version 2", JSON.stringify({ version: 2, entrypoint: [], inputs: [], files: [] }), "invalid-manifest"],
    ["without an entrypoint array", JSON.stringify({ version: 1, entrypoint: "main.py", inputs: [], files: [] }), "invalid-manifest"],
    ["without an inputs array", JSON.stringify({ version: 1, entrypoint: [], inputs: {}, files: [] }), "invalid-manifest"],
    ["without a files array", JSON.stringify({ version: 1, entrypoint: [], inputs: [], files: {} }), "invalid-manifest"],
    ["with an input that is not {provider, dataset}", JSON.stringify({ version: 1, entrypoint: [], inputs: [{ provider: "acme" }], files: [] }), "invalid-manifest"],
    ["with an input whose provider is not a string", JSON.stringify({ version: 1, entrypoint: [], inputs: [{ provider: 1, dataset: "claims" }], files: [] }), "invalid-manifest"],
    ["with a null input", JSON.stringify({ version: 1, entrypoint: [], inputs: [null], files: [] }), "invalid-manifest"],
  ] as const) {
    it(`GIVEN a job.json ${what} THEN ${code}, and nothing ran`, async () => {
      const receipt = await failed({ "main.py": MARK }, { jobJson: body });
      expect(receipt.errorCode).to.equal(code);
      expect(platform.commands).to.deep.equal([]);
    });
  }

  it("GIVEN a job.json over 16 MiB (valid JSON, padded) THEN invalid-manifest (it is not read whole)", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, (job) => {
      platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(JSON.stringify(job.manifest).padEnd(16 * 1024 * 1024 + 1, " ")));
    });
    expect(receipt.errorCode).to.equal("invalid-manifest");
    expect(receipt.error).to.include("larger than");
  });

  for (const [what, change] of [
    ["of version 2", (m: Record<string, unknown>) => ({ ...m, version: 2 })],
    ["with an input whose provider is a number", (m: Record<string, unknown>) => ({ ...m, inputs: [{ provider: 1, dataset: "claims" }] })],
    ["with an input whose dataset is a number", (m: Record<string, unknown>) => ({ ...m, inputs: [{ provider: "acme", dataset: 1 }] })],
  ] as const) {
    it(`GIVEN the approved job.json but ${what} THEN invalid-manifest`, async () => {
      const receipt = await failed({ "main.py": MARK }, {}, {}, (job) => {
        platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(JSON.stringify(change(job.manifest as unknown as Record<string, unknown>))));
      });
      expect(receipt.errorCode).to.equal("invalid-manifest");
    });
  }

  it("GIVEN a wrapped key of exactly 64 KiB THEN it is sent to the key release", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, () => {
      platform.objects.set("mem://room/acme/claims/key.wrapped", Buffer.alloc(64 * 1024));
    });
    expect(receipt.errorCode).to.equal("denied");
    expect(platform.unwrapCalls).to.deep.equal(["acme/claims"]);
  });

  /** Runs a job writing `out.csv` (1000 bytes), doing `swap` to it once the output policy has checked it. */
  async function swapped(swap: (file: string) => Promise<void>): Promise<Receipt> {
    return failed({ "main.py": `import os\nopen(os.path.join(os.environ["CLEANROOM_OUTPUT"], "out.csv"), "wb").write(b"a" * 1000)\n` }, {}, {}, () => {
      const open = platform.openResult.bind(platform);
      // The result is opened after the policy checked and hashed the outputs, before they are copied.
      platform.openResult = async (uri) => {
        if (platform.results.length === 0) await swap(join(platform.commands[1]!.outputDir, "out.csv"));
        return open(uri);
      };
    });
  }

  it("GIVEN an output that grows after the policy checked it THEN output-policy, nothing released", async () => {
    const receipt = await swapped((f) => appendFile(f, "more"));
    expect(receipt.errorCode).to.equal("output-policy");
  });

  it("GIVEN an output rewritten (same size) after the policy checked it THEN output-policy", async () => {
    const receipt = await swapped((f) => writeFile(f, "b".repeat(1000)));
    expect(receipt.errorCode).to.equal("output-policy");
  });

  it("GIVEN an output replaced by a directory after the policy checked it THEN output-policy", async () => {
    const receipt = await swapped(async (f) => {
      await rm(f);
      await mkdir(f);
    });
    expect(receipt.errorCode).to.equal("output-policy");
  });

  it("GIVEN an output replaced by a symbolic link after the policy checked it THEN output-policy", async () => {
    const receipt = await swapped(async (f) => {
      await rm(f);
      await symlink("/etc/hostname", f);
    });
    expect(receipt.errorCode).to.equal("output-policy");
  });

  it("GIVEN a job.json of exactly 16 MiB (valid JSON, padded) THEN it is read", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    const text = JSON.stringify(job.manifest);
    platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(text.padEnd(16 * 1024 * 1024, " ")));
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
  });

  it("GIVEN a job whose manifest names an entrypoint file the bundle lacks (digest and approval matching) THEN invalid-manifest, nothing ran", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, (job, d) => {
      const other = { ...job.manifest, entrypoint: ["python3", "other.py"] };
      platform.objects.set(`${job.jobUri}/job.json`, Buffer.from(JSON.stringify(other)));
      const digest = jobDigest(other);
      (job as { env: { jobDigest: string } }).env.jobDigest = digest;
      for (const p of d.providers) (p.approvedJobs as string[]).push(digest);
    });
    expect(receipt.errorCode).to.equal("invalid-manifest");
    expect(platform.commands).to.deep.equal([]);
    expect(platform.unwrapCalls).to.deep.equal([]);
  });

  it("GIVEN no python3 where the job runs THEN runtime-missing before any key is asked for", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, async () => {
      // A PATH with a shell (the probe's) and nothing else.
      const bin = await mkdtemp(join(tmpdir(), "exec-path-"));
      await symlink("/bin/sh", join(bin, "sh"));
      platform.path = bin;
    });
    expect(receipt.errorCode).to.equal("runtime-missing");
    expect(platform.unwrapCalls).to.deep.equal([]);
    expect(platform.commands.map((c) => c.argv[0])).to.deep.equal(["sh"]);
  });

  it("GIVEN a dataset never provisioned THEN not-found naming it", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, () => {
      platform.objects.delete("mem://room/acme/claims/key.wrapped");
    });
    expect(receipt.errorCode).to.equal("not-found");
    expect(receipt.error).to.include("Dataset acme/claims has not been provisioned");
  });

  it("GIVEN a wrapped key over 64 KiB THEN invalid-argument (never sent to the key release)", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, () => {
      platform.objects.set("mem://room/acme/claims/key.wrapped", Buffer.alloc(64 * 1024 + 1));
    });
    expect(receipt.errorCode).to.equal("invalid-argument");
    expect(platform.unwrapCalls).to.deep.equal([]);
  });

  it("GIVEN a storage error other than not-found on the wrapped key THEN that error, unchanged", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, () => {
      const read = platform.readObject.bind(platform);
      platform.readObject = async (uri: string) => {
        if (uri.endsWith("key.wrapped")) throw new CleanRoomError("io-error", "disk on fire");
        return read(uri);
      };
    });
    expect(receipt.errorCode).to.equal("io-error");
    expect(receipt.error).to.equal("disk on fire");
  });

  it("GIVEN the second provider refusing its key THEN denied, the job never ran, the first provider's key was wiped", async () => {
    const receipt = await failed({ "main.py": MARK }, { inputs: ["acme/claims", "beta/visits"] }, {}, () => {
      platform.refusing.add("beta");
    });
    expect(receipt.errorCode).to.equal("denied");
    expect(platform.commands.map((c) => c.argv[0])).to.deep.equal(["sh"]);
    expect(receipt.inputs).to.deep.equal([]);
    expect(receipt.admittedBy).to.deep.equal([{ provider: "acme", policyDigest: receipt.policyDigest, own: false }]);
    expect(platform.released.every((k) => k.equals(Buffer.alloc(32)))).to.equal(true);
  });

  it("GIVEN a job that exits 3 THEN job-failed, its exit code in the receipt, nothing it wrote released", async () => {
    const receipt = await failed({ "main.py": `${MARK}raise SystemExit(3)\n` });
    expect(receipt.errorCode).to.equal("job-failed");
    expect(receipt.exitCode).to.equal(3);
    expect(receipt.error).to.match(/reproduce with the stage-1 data\)\.$/);
  });

  it("GIVEN a room enforcing the disclosure checks and a job copying its inputs THEN a disclosure failure: every output withheld, the report kept (withheld, named by place) in the receipt and outputs.check.json", async () => {
    const { job, d } = await setUp({ "main.py": COPY_JOB }, {}, { output: { maxBytes: 1_000_000, requireRelease: true, disclosure: resolveOutputDisclosure({ mode: "enforce" }) } });
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(true);
    const { receipt, files } = receiptOf();
    expect(receipt.status).to.equal("failed");
    expect(receipt.errorCode).to.equal("disclosure");
    expect(receipt.outputs).to.deep.equal([]);
    expect(receipt.disclosure?.withheld).to.equal(true);
    expect(receipt.disclosure?.outputs.map((o) => o.path)).to.deep.equal(["withheld-1", "withheld-2"]);
    expect([...files.keys()].sort()).to.deep.equal(["attestation.jwt", "outputs.check.json", "receipt.json"]);
    expect(JSON.parse(files.get("outputs.check.json")!.toString())).to.deep.equal(receipt.disclosure);
    expect(receiptProblems(receipt)).to.deep.equal([]);
  });

  it("GIVEN a files dataset (a tree) THEN the job sees its files, the receipt names the tree, its key is wiped, and an output copying one of its files fails verbatim-rows (an empty output does not)", async () => {
    const providers = room([]).providers.map((p) => (p.name === "acme" ? { ...p, datasets: [{ name: "weights", kind: "files", stage1Method: "none" }, ...p.datasets] } : p));
    const main = `import os, shutil
IN = os.path.join(os.environ["CLEANROOM_INPUTS"], "acme", "weights")
OUT = os.environ["CLEANROOM_OUTPUT"]
shutil.copyfile(os.path.join(IN, "model", "w.json"), os.path.join(OUT, "copy.json"))
open(os.path.join(OUT, "empty.txt"), "w").close()
open(os.path.join(OUT, "seen.txt"), "w").write(",".join(sorted(os.listdir(IN))))
`;
    const { job, d } = await setUp({ "main.py": main }, { inputs: ["acme/weights"] }, { codePolicy: "any-job", providers } as Partial<CleanRoomDescriptor>);
    // The tree, encrypted as `cleanroom data provision --dir` does, under a fresh key the fake releases.
    const base = await mkdtemp(join(tmpdir(), "exec-tree-"));
    const src = join(base, "tree");
    await mkdir(join(src, "model"), { recursive: true });
    await writeFile(join(src, "model", "w.json"), '{"w": [0.731, -1.25]}');
    await writeFile(join(src, "empty"), "");
    const key = randomBytes(32);
    const wrapped = randomBytes(48);
    const enc = await encryptTree(src, join(base, "data.enc"), key);
    platform.objects.set("mem://room/acme/weights/data.enc", await readFile(join(base, "data.enc")));
    platform.objects.set("mem://room/acme/weights/key.wrapped", wrapped);
    platform.keys.set(wrapped.toString("base64"), key);
    await rm(base, { recursive: true, force: true });
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
    const { receipt, files } = receiptOf();
    expect(receipt.inputs).to.deep.equal([{ provider: "acme", dataset: "weights", kind: "files", sha256: enc.sha256, bytes: enc.bytes, files: 2 }]);
    expect(files.get("outputs/seen.txt")!.toString()).to.equal("empty,model");
    expect(platform.released.every((k) => k.equals(Buffer.alloc(32)))).to.equal(true);
    const checks = Object.fromEntries(receipt.disclosure!.outputs.map((o) => [o.path, o.findings.map((f) => f.rule)]));
    expect(checks["copy.json"]).to.include("verbatim-rows");
    expect(checks["empty.txt"]).not.to.include("verbatim-rows");
  });

  it("GIVEN a Parquet dataset THEN the job sees <dataset>.parquet and the receipt names the input with its format", async () => {
    // A failing job: the encrypted bytes are not a Parquet file, and the disclosure step (which would read it) never runs.
    const main = 'import os, sys\nsys.exit(4 if os.path.isfile(os.path.join(os.environ["CLEANROOM_INPUTS"], "acme", "claims.parquet")) else 5)\n';
    const providers = room([]).providers.map((p) => (p.name === "acme" ? { ...p, datasets: [{ name: "claims", stage1Method: "none", format: "parquet" }, ...p.datasets.slice(1)] } : p));
    const receipt = await failed({ "main.py": main }, {}, { codePolicy: "any-job", providers } as Partial<CleanRoomDescriptor>);
    expect(receipt.exitCode).to.equal(4);
    expect(receipt.inputs).to.deep.equal([{ provider: "acme", dataset: "claims", format: "parquet", sha256: sha(CLAIMS), bytes: CLAIMS.length }]);
  });

  it("GIVEN a room with job limits and a job stopped by SIGXCPU (exit 152) THEN cpu-limit", async () => {
    const receipt = await failed({ "main.py": "raise SystemExit(152)\n" }, {}, { local: { dir: "/nonexistent-room", attestationSocket: "a", brokerSocket: "b", insecureNoSandbox: true, jobLimits: { memoryMiB: 64, processes: 8, cpuSeconds: 7 } } } as Partial<CleanRoomDescriptor>);
    expect(receipt.errorCode).to.equal("cpu-limit");
    expect(receipt.exitCode).to.equal(152);
    expect(receipt.error).to.include("7 s");
  });

  it("GIVEN a room with job limits and a job exiting 1 THEN job-failed, naming the limits it ran with", async () => {
    const receipt = await failed({ "main.py": "raise SystemExit(1)\n" }, {}, { local: { dir: "/nonexistent-room", attestationSocket: "a", brokerSocket: "b", insecureNoSandbox: true, jobLimits: { memoryMiB: 64, processes: 8, cpuSeconds: 7 } } } as Partial<CleanRoomDescriptor>);
    expect(receipt.errorCode).to.equal("job-failed");
    expect(receipt.error).to.include("64 MiB").and.include("8 processes");
  });

  it("GIVEN a room without job limits and a job exiting 152 THEN job-failed, not cpu-limit", async () => {
    const receipt = await failed({ "main.py": "raise SystemExit(152)\n" });
    expect(receipt.errorCode).to.equal("job-failed");
  });

  it("GIVEN a job running past the room's time limit THEN timeout, stopped at the limit", async () => {
    const started = Date.now();
    const receipt = await failed({ "main.py": `${MARK}import time\ntime.sleep(30)\n` }, {}, { jobs: { timeoutSeconds: 1 } } as Partial<CleanRoomDescriptor>);
    expect(receipt.errorCode).to.equal("timeout");
    expect(receipt.error).to.include("1 s");
    expect(Date.now() - started).to.be.below(10_000);
  });

  it("GIVEN outputs over the room's output.maxBytes THEN output-policy, and the result writer never opened before the check", async () => {
    const receipt = await failed({ "main.py": `import os\nopen(os.path.join(os.environ["CLEANROOM_OUTPUT"], "big"), "wb").write(b"x" * 2000)\n` }, {}, { output: { maxBytes: 1999, requireRelease: true } });
    expect(receipt.errorCode).to.equal("output-policy");
    expect(platform.results).to.have.length(1);
  });

  it("GIVEN outputs of exactly output.maxBytes THEN released", async () => {
    const { job, d } = await setUp({ "main.py": `import os\nopen(os.path.join(os.environ["CLEANROOM_OUTPUT"], "big"), "wb").write(b"x" * 2000)\n` }, {}, { output: { maxBytes: 2000, requireRelease: true } });
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
    expect(receiptOf().files.get("outputs/big")).to.have.length(2000);
  });

  it("GIVEN a job URI and an output URI for different jobs THEN invalid-argument before the bundle is read", async () => {
    const receipt = await failed({ "main.py": MARK }, { jobId: "job-2" });
    expect(receipt.errorCode).to.equal("invalid-argument");
    expect(receipt.jobId).to.equal("job-2");
    expect(receipt.executorImageDigest).to.equal(`sha256:${"0".repeat(64)}`);
    expect(platform.commands).to.deep.equal([]);
  });

  it("GIVEN job and output URIs ending in the same id with trailing slashes THEN the job runs", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    (platform as unknown as { outputUri: string }).outputUri = `${OUTPUT_URI}//`;
    platform.objects.set(`${job.jobUri}///bundle.tar`, platform.objects.get(`${job.jobUri}/bundle.tar`)!);
    platform.objects.set(`${job.jobUri}///job.json`, platform.objects.get(`${job.jobUri}/job.json`)!);
    const outcome = await runExecutor(platform, d, { ...job.env, jobUri: `${job.jobUri}//`, outputUri: `${OUTPUT_URI}//` });
    expect(outcome.receipt.status, outcome.receipt.error).to.equal("succeeded");
    expect(outcome.receipt.jobId).to.equal("job-1");
  });

  it("GIVEN a job id that is not a valid id THEN invalid-argument", async () => {
    const receipt = await failed({ "main.py": MARK }, { jobId: "Job_1!" }, {}, (job) => {
      (platform as unknown as { outputUri: string }).outputUri = "mem://room/q/Job_1!";
      (job.env as { outputUri: string }).outputUri = "mem://room/q/Job_1!";
    });
    expect(receipt.errorCode).to.equal("invalid-argument");
  });

  it("GIVEN the attester failing with a plain error THEN an internal failure receipt, with the default image digest", async () => {
    const receipt = await failed({ "main.py": MARK }, {}, {}, () => {
      platform.fail.imageDigest = new Error("launcher gone");
    });
    expect(receipt.errorCode).to.equal("internal");
    expect(receipt.error).to.equal("launcher gone");
    expect(receipt.executorImageDigest).to.equal(`sha256:${"0".repeat(64)}`);
  });

  /** Makes the result store's first output write throw `error(path)`; later writes go through. */
  function failFirstWrite(error: (path: string) => Error): void {
    let writes = 0;
    const open = platform.openResult.bind(platform);
    platform.openResult = async (uri) => {
      const w = await open(uri);
      return {
        write: async (p, from) => {
          if (writes++ === 0) throw error(p);
          return w.write(p, from);
        },
        commit: () => w.commit(),
        abort: () => w.abort(),
      };
    };
  }

  it("GIVEN copying an output into the result failing THEN io-error, the partial result aborted, a failure receipt committed", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    failFirstWrite(() => new Error("bucket full"));
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(true);
    expect(outcome.receipt.errorCode).to.equal("io-error");
    expect(platform.results).to.have.length(2);
    expect(platform.results[0]!.aborted).to.be.at.least(1);
    expect(platform.results[0]!.committed).to.equal(false);
    expect([...platform.committed().files.keys()].sort()).to.deep.equal(["attestation.jwt", "receipt.json"]);
  });

  it("GIVEN the result store refusing an output with an error of its own THEN io-error (its message could name the output)", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    failFirstWrite((p) => new CleanRoomError("invalid-argument", `bad path ${p}`));
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.receipt.errorCode).to.equal("io-error");
    expect(outcome.receipt.error).not.to.include("ran");
  });

  it("GIVEN the attester refusing the result's token THEN not committed, and what was written aborted", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    platform.fail.requestToken = new Error("no token");
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(false);
    expect(outcome.receipt.status).to.equal("succeeded");
    expect(platform.results.every((r) => !r.committed && r.aborted >= 1)).to.equal(true);
  });

  it("GIVEN a result that cannot be opened at all THEN not committed (and the failure is returned, not thrown)", async () => {
    const { job, d } = await setUp({ "main.py": MARK });
    platform.fail.openResult = new Error("store gone");
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(false);
    expect(outcome.receipt.errorCode).to.equal("internal");
  });

  afterEach(() => {
    // Nothing of the executor's work directory is left behind (it held the decrypted inputs).
    const work = platform.commands[0]?.workDir;
    if (work) expect(existsSync(dirname(work)), "executor work directory left behind").to.equal(false);
  });
});

/**
 * A large `files` dataset through one real local room (issue 15's acceptance check): the tree provisions and the
 * executor decrypts it into the job's sandbox with a peak RSS under 300 MiB in **each** process, the provisioning
 * process (a child running the room client, measured by its own `maxRSS`) and the executor (its `VmHWM`, read from
 * /proc while the job runs, after every input was decrypted).
 *
 * The suite runs 256 MiB (like tests/gcp/envelope-large.test.ts). The acceptance size, 2 GiB, is `npm run bench files`
 * (it runs this file with `CLEANROOM_TEST_FILES_BYTES=2147483648`): 47 s alone on a loaded 2-core machine, 136 s
 * beside other tests, above the suite's 90 s budget for one file; measured peaks: provisioning 259–266 MiB, executor
 * 106–108 MiB. It needs ~4 GiB of free temp space (the source tree is deleted once provisioned). Holding the data in either process would need far more than
 * 300 MiB, so the limit proves the streaming on both sides.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { type ManifestEntry, manifestDigest } from "../../src/core/digest.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { readJobState } from "../../src/runtime/platforms/local/launcher.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

const MIB = 1024 * 1024;
const SIZE = Number(process.env.CLEANROOM_TEST_FILES_BYTES ?? 256 * MIB);
const LIMIT_MIB = 300;

/** The job: hashes every file of its tree in 1 MiB blocks and writes the manifest it saw. */
const HASHER = `${PRELUDE}root = os.path.join(IN, "modelco", "weights")
seen = []
for d, _, names in os.walk(root):
    for n in names:
        p = os.path.join(d, n)
        h = hashlib.sha256()
        size = 0
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
                size += len(b)
        seen.append({"path": os.path.relpath(p, root), "bytes": size, "sha256": h.hexdigest()})
json.dump(sorted(seen, key=lambda e: e["path"]), open(os.path.join(OUT, "manifest.json"), "w"))
`;

/**
 * Writes a model-like tree of `total` bytes from 8 random 1 MiB blocks (fast): shards of at most 512 MiB plus a few
 * small files, hashing as it writes. Returns the expected manifest.
 */
function makeTree(root: string, total: number): ManifestEntry[] {
  mkdirSync(join(root, "tokenizer"), { recursive: true });
  const blocks = Array.from({ length: 8 }, () => randomBytes(MIB));
  const out: ManifestEntry[] = [];
  const write = (path: string, bytes: number, seed: number) => {
    const h = createHash("sha256");
    const fd = openSync(join(root, ...path.split("/")), "w");
    let left = bytes;
    for (let i = 0; left > 0; i++) {
      const b = (blocks[(i * 3 + seed) % blocks.length] as Buffer).subarray(0, Math.min(MIB, left));
      writeSync(fd, b);
      h.update(b);
      left -= b.length;
    }
    closeSync(fd);
    out.push({ path, bytes, sha256: h.digest("hex") });
  };
  write("config.json", 1000, 1);
  write("tokenizer/vocab.txt", 50_000, 2);
  let left = total - 51_000;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(512 * MIB + 123, left);
    write(`shard-${String(i).padStart(3, "0")}.bin`, n, i);
    left -= n;
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The peak RSS (VmHWM, MiB) of every process below `pid` whose command is node (the executor), read now. */
function nodeDescendantsHwm(pid: number): number {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  let max = 0;
  for (const [p] of parent) {
    let q: number | undefined = p;
    while (q !== undefined && q > 1 && q !== pid) q = parent.get(q);
    if (q !== pid) continue;
    try {
      if (!readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0]!.endsWith("node")) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (hwm) max = Math.max(max, Number(hwm[1]) / 1024);
    } catch {
      // gone
    }
  }
  return max;
}

describe("local: a large files dataset streams through provisioning and the executor (issue 15)", function () {
  this.timeout(1_200_000);
  let work: string;
  let dir: string;

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it(`GIVEN a ${Math.round(SIZE / MIB)} MiB tree WHEN provisioned and read by the approved job THEN the job sees every byte and the provisioning process and the executor each peak under ${LIMIT_MIB} MiB`, async () => {
    const t0 = Date.now();
    work = await tempDir("files-large");
    dir = join(work, "room");
    const tree = join(work, "model");
    const expected = makeTree(tree, SIZE);
    const job = await packJob(await pythonJob(work, "hasher", HASHER), { entrypoint: "main.py", inputs: ["modelco/weights"], outDir: join(work, "packed") });
    const spec = { providers: [{ name: "modelco", datasets: [{ name: "weights", kind: "files" }], approvedJobs: [job.jobDigest] }], output: { maxBytes: 1 << 20, requireRelease: false }, jobs: { timeoutSeconds: 1800 } };
    const up = await localUp({ spec, dir });

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", join(__dirname, "fixtures", "provision-tree-rss.ts"), up.descriptorPath, "modelco", "weights", tree],
      { encoding: "utf8", maxBuffer: MIB },
    );
    const prov = JSON.parse(stdout.trim().split("\n").pop() as string) as { files: number; bytes: number; sha256: string; maxRssMiB: number; ms: number };
    expect(prov).to.include({ files: expected.length, bytes: SIZE, sha256: manifestDigest(expected).slice(7) });
    expect(prov.maxRssMiB, "provisioning peak RSS (MiB)").to.be.lessThan(LIMIT_MIB);
    // The source tree is no longer needed: free the disk before the executor writes its copy.
    await rm(tree, { recursive: true, force: true });

    const client = await roomClientFor(loadDescriptor(up.descriptorPath));
    const { jobId } = await client.submit(job);
    let executorHwm = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const pid = (await readJobState(roomLayout(dir), jobId))?.pid;
        if (pid !== undefined) executorHwm = Math.max(executorHwm, nodeDescendantsHwm(pid));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const done = await client.wait(jobId, { timeoutMs: 1_500_000 }).finally(() => {
      polling = false;
    });
    await poll;
    expect(done.state, done.detail).to.equal("succeeded");
    const fetched = join(work, "result");
    // manifest.json is undeclared (`other` to the disclosure checks): a provider releases it first.
    await client.release(jobId);
    await client.fetch(jobId, fetched);
    expect(JSON.parse(readFileSync(join(fetched, "outputs", "manifest.json"), "utf8"))).to.deep.equal(expected);
    const receipt = parseReceipt(readFileSync(join(fetched, "receipt.json"), "utf8"));
    expect(receipt.inputs).to.deep.equal([{ provider: "modelco", dataset: "weights", kind: "files", sha256: prov.sha256, bytes: SIZE, files: expected.length }]);
    // Seen at all: a poll that never found the executor must not pass as "under the limit".
    expect(executorHwm, "executor VmHWM was read").to.be.greaterThan(20);
    expect(executorHwm, "executor peak RSS (MiB)").to.be.lessThan(LIMIT_MIB);
    process.stderr.write(
      `      files-large: ${Math.round(SIZE / MIB)} MiB, provisioning ${(prov.ms / 1000).toFixed(1)} s peak ${prov.maxRssMiB.toFixed(0)} MiB, executor peak ${executorHwm.toFixed(0)} MiB, total ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
    );
  });
});

/**
 * Local backend: end-to-end latency of a trivial job (submit → verified result) against running the same script bare
 * with python3, measured in the same run. Target: overhead ≤ 1.5 s.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDescriptor } from "../src/core/descriptor.js";
import { packJob } from "../src/runtime/jobs/pack.js";
import { roomClientFor } from "../src/runtime/platforms/index.js";
import { localDown, localUp } from "../src/runtime/platforms/local/room.js";
import { verifyResult } from "../src/runtime/verify/result.js";
import type { Bench, BenchResult } from "./types.js";

const TARGET_OVERHEAD_MS = 1500;
const RUNS = 3;

const SCRIPT = `import os
rows = open(os.path.join(os.environ["CLEANROOM_INPUTS"], "bench", "data.csv")).read().splitlines()
open(os.path.join(os.environ["CLEANROOM_OUTPUT"], "count.txt"), "w").write(str(len(rows) - 1))
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function run(): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), "cleanroom-bench-local-"));
  const dir = join(work, "room");
  try {
    const src = join(work, "job");
    await mkdir(src);
    await writeFile(join(src, "main.py"), SCRIPT);
    await writeFile(join(work, "data.csv"), `id\n${Array.from({ length: 1000 }, (_, i) => i).join("\n")}\n`);
    const job = await packJob(src, { entrypoint: "main.py", inputs: ["bench/data"], outDir: join(work, "packed") });
    const up = await localUp({ spec: { providers: [{ name: "bench", datasets: [{ name: "data" }], approvedJobs: [job.jobDigest] }] }, dir });
    const descriptor = loadDescriptor(up.descriptorPath);
    const client = await roomClientFor(descriptor);
    await client.provision("bench", "data", join(work, "data.csv"));

    // Baseline: the same script, bare python3, same input (plaintext), same machine, same run.
    const bareIn = join(work, "bare-in", "bench");
    await mkdir(bareIn, { recursive: true });
    await writeFile(join(bareIn, "data.csv"), `id\n${Array.from({ length: 1000 }, (_, i) => i).join("\n")}\n`);
    const bare: number[] = [];
    const e2e: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out = join(work, `bare-out-${i}`);
      await mkdir(out);
      const t0 = performance.now();
      const r = spawnSync("python3", [join(src, "main.py")], { env: { ...process.env, CLEANROOM_INPUTS: join(work, "bare-in"), CLEANROOM_OUTPUT: out } });
      bare.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`bare python3 failed: ${r.stderr}`);

      const t1 = performance.now();
      const { jobId } = await client.submit(job);
      const s = await client.wait(jobId, { timeoutMs: 60_000 });
      if (s.state !== "succeeded") throw new Error(`bench job ${s.state}: ${s.detail}`);
      const fetched = join(work, `fetched-${i}`);
      await client.fetch(jobId, fetched, { from: "quarantine" });
      await verifyResult(fetched, { descriptor });
      e2e.push(performance.now() - t1);
    }
    const b = median(bare);
    const e = median(e2e);
    const overhead = e - b;
    return [
      {
        name: "local: trivial job submit → verified (median of 3)",
        figure: `${e.toFixed(0)} ms (overhead ${overhead.toFixed(0)} ms)`,
        baseline: `bare python3 ${b.toFixed(0)} ms`,
        ratio: e / b,
        target: `overhead ≤ ${TARGET_OVERHEAD_MS} ms`,
        ok: overhead <= TARGET_OVERHEAD_MS,
      },
    ];
  } finally {
    await localDown(dir, { force: true }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

export const benches: Bench[] = [{ name: "local", run }];

// `files` datasets (issue 15): provisioning throughput of a tree against raw AES-256-GCM of the same bytes.
//
// A 512 MiB tree (4 files of 128 MiB, repeated random blocks; CLEANROOM_BENCH_FILES_MIB overrides) is written once to
// a temp dir. Each round then times, interleaved, best of 3:
// - `encryptTree` (provision/tree.ts): read every file, SHA-256 of each file (the tree's manifest digest), the
//   acr-tree-v1 records, AES-256-GCM in 1 MiB envelope segments, written to a file (provision/envelope-sealer.ts);
// - the baseline: the same files read the same way, one raw `createCipheriv("aes-256-gcm")` stream over them, written
//   to a file in the same directory. Same disk, same bytes: the ratio is what the format and the hashing cost.
// Target ≥ 0.8× (wall time). AES runs in libuv's thread pool (WebCrypto, three segments at once) and the SHA-256 on
// a worker thread (provision/hash-worker.ts), in parallel; together they need about twice the baseline's CPU (SHA-256
// costs more per byte than AES-GCM here), so the ratio depends on free cores (the CPU-time ratio is printed too; on
// 2 cores 0.8× is the ceiling, docs/gcp-runtime.md). On a loaded machine give the bench the CPU with
// `setsid sh -c 'echo -20 > /proc/$$/autogroup; exec nice -n -10 npm run bench -- files'` (nice alone ranks only
// within the session's autogroup).
//
// 2 GiB through a local room: runs tests/local/files-large.test.ts with CLEANROOM_TEST_FILES_BYTES=2 GiB (the
// acceptance size; the suite runs it at 256 MiB) and reports the peak RSS of the provisioning process and of the
// executor against the 300 MiB limit. Needs bubblewrap and ~4 GiB of free temp space.
import { spawnSync } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { generateDataKey } from "../src/runtime/provision/envelope.js";
import { encryptTree } from "../src/runtime/provision/tree.js";
import type { Bench, BenchResult } from "./types.js";

const MIB = 1024 * 1024;
const TARGET = 0.8;
const ROUNDS = 3;

interface Timing {
  readonly ms: number;
  readonly cpuMs: number;
}

async function timed(f: () => Promise<unknown>): Promise<Timing> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await f();
  const c = process.cpuUsage(c0);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (c.user + c.system) / 1000 };
}

/** Writes `files` files of `mib` MiB each from 8 random 1 MiB blocks (fast; content does not change AES or SHA speed). */
function makeTree(root: string, files: number, mib: number): string[] {
  mkdirSync(root, { recursive: true });
  const blocks = Array.from({ length: 8 }, () => randomBytes(MIB));
  const paths: string[] = [];
  for (let f = 0; f < files; f++) {
    const p = join(root, `shard-${f}.bin`);
    const fd = openSync(p, "w");
    for (let i = 0; i < mib; i++) writeSync(fd, blocks[(i + f) % blocks.length] as Buffer);
    closeSync(fd);
    paths.push(p);
  }
  return paths;
}

async function rawGcm(paths: readonly string[], dst: string, key: Buffer): Promise<void> {
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const p of paths) for await (const c of createReadStream(p, { highWaterMark: MIB })) yield c as Buffer;
  }
  await pipeline(Readable.from(bytes()), createCipheriv("aes-256-gcm", key, randomBytes(12)), createWriteStream(dst, { mode: 0o600 }));
}

async function throughput(): Promise<BenchResult[]> {
  const totalMib = Number(process.env.CLEANROOM_BENCH_FILES_MIB ?? 512);
  const dir = mkdtempSync(join(tmpdir(), "acr-bench-files-"));
  try {
    const paths = makeTree(join(dir, "tree"), 4, Math.max(1, Math.floor(totalMib / 4)));
    const key = generateDataKey();
    let tree: Timing = { ms: Number.POSITIVE_INFINITY, cpuMs: Number.POSITIVE_INFINITY };
    let raw: Timing = tree;
    for (let r = 0; r < ROUNDS; r++) {
      const a = join(dir, `tree-${r}.enc`);
      const b = join(dir, `raw-${r}.enc`);
      const t = await timed(() => encryptTree(join(dir, "tree"), a, key));
      const g = await timed(() => rawGcm(paths, b, key));
      rmSync(a);
      rmSync(b);
      tree = { ms: Math.min(tree.ms, t.ms), cpuMs: Math.min(tree.cpuMs, t.cpuMs) };
      raw = { ms: Math.min(raw.ms, g.ms), cpuMs: Math.min(raw.cpuMs, g.cpuMs) };
    }
    const mib = 4 * Math.max(1, Math.floor(totalMib / 4));
    const rate = (ms: number) => `${((mib * 1000) / ms).toFixed(0)} MiB/s`;
    const ratio = raw.ms / tree.ms;
    return [
      {
        name: `files: provision a ${mib} MiB tree (encryptTree)`,
        figure: `${rate(tree.ms)} (CPU time ${(tree.cpuMs / 1000).toFixed(1)} s vs ${(raw.cpuMs / 1000).toFixed(1)} s)`,
        baseline: `raw AES-256-GCM, same files ${rate(raw.ms)}`,
        ratio,
        target: `>= ${TARGET}x`,
        ok: ratio >= TARGET,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const RSS_LIMIT_MIB = 300;

async function largeTree(): Promise<BenchResult[]> {
  const bytes = Number(process.env.CLEANROOM_BENCH_FILES_LARGE_BYTES ?? 2048 * MIB);
  const run = spawnSync(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", join(__dirname, "..", "scripts", "test-run.ts"), join("tests", "local", "files-large.test.ts")],
    { cwd: join(__dirname, ".."), encoding: "utf8", env: { ...process.env, CLEANROOM_TEST_FILES_BYTES: String(bytes) }, maxBuffer: 16 * MIB },
  );
  // The test prints its figures on stderr; mocha's report is on stdout.
  const out = `${run.stdout}\n${run.stderr}`;
  if (run.status !== 0) throw new Error(`tests/local/files-large.test.ts failed at ${bytes} bytes:\n${out}`);
  const m = /files-large: (\d+) MiB, provisioning ([\d.]+) s peak (\d+) MiB, executor peak (\d+) MiB, total (\d+) s/.exec(out);
  if (!m) throw new Error(`tests/local/files-large.test.ts printed no figures:\n${out}`);
  const [, size, provS, provMiB, execMiB, totalS] = m;
  const peak = Math.max(Number(provMiB), Number(execMiB));
  return [
    {
      name: `files: ${size} MiB tree through a local room, peak RSS`,
      figure: `provisioning ${provMiB} MiB (${provS} s), executor ${execMiB} MiB; ${totalS} s in all`,
      baseline: `limit ${RSS_LIMIT_MIB} MiB`,
      ratio: peak / RSS_LIMIT_MIB,
      target: "< 1x",
      ok: peak < RSS_LIMIT_MIB,
    },
  ];
}

export const benches: Bench[] = [
  { name: "files: tree provisioning throughput vs raw AES-256-GCM", run: throughput },
  { name: "files: 2 GiB tree through a local room RSS", run: largeTree },
];

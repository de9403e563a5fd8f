// `files` datasets (issue 15): provisioning throughput of a tree against raw AES-256-GCM of the same bytes.
//
// A 512 MiB tree (4 files of 128 MiB, repeated random blocks; CLEANROOM_BENCH_FILES_MIB overrides) is written once to
// a temp dir. Each round then times, interleaved, best of 3:
// - `encryptTree` (provision/tree.ts): read every file, SHA-256 of each file and of the ciphertext (the manifest and
//   `manifest.json`), the acr-tree-v1 records, AES-256-GCM in 1 MiB envelope segments, written to a file;
// - the baseline: the same files read the same way, one raw `createCipheriv("aes-256-gcm")` stream over them, written
//   to a file in the same directory. Same disk, same bytes: the ratio is what the format and the hashing cost.
// Target ≥ 0.8× (wall time). Hashing runs on a worker thread (provision/hash-worker.ts), in parallel with the
// encryption; on a machine with one free core the two compete and the ratio drops (the CPU-time ratio is printed too).
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

export const benches: Bench[] = [{ name: "files: tree provisioning throughput vs raw AES-256-GCM", run: throughput }];

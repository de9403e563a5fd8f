/** Shared fixtures of the local-backend integration tests: job sources written to temp dirs, one room per suite. */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temp directory under the OS temp dir. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `cleanroom-test-${prefix}-`));
}

/** Writes a one-file python job and returns its directory. */
export async function pythonJob(root: string, name: string, source: string): Promise<string> {
  const dir = join(root, "jobs", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "main.py"), source);
  return dir;
}

/** Python prelude every test job uses. */
export const PRELUDE = `import glob, hashlib, json, os
IN = os.environ["CLEANROOM_INPUTS"]
OUT = os.environ["CLEANROOM_OUTPUT"]
`;

/** A spec with three providers: insurer (claims), hospital (visits), multi (d0..d9). */
export function testSpec(approved: { insurer?: string[]; hospital?: string[]; multi?: string[] }, maxBytes = 4096): unknown {
  return {
    providers: [
      { name: "insurer", datasets: [{ name: "claims" }], approvedJobs: approved.insurer ?? [] },
      { name: "hospital", datasets: [{ name: "visits" }], approvedJobs: approved.hospital ?? [] },
      { name: "multi", datasets: Array.from({ length: 10 }, (_, i) => ({ name: `d${i}` })), approvedJobs: approved.multi ?? [] },
    ],
    output: { maxBytes, requireRelease: true },
  };
}

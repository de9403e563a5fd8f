/**
 * Writes a job result to the quarantine bucket so that it becomes visible at once: every object is staged on the
 * VM's private disk, then `commit()` uploads them create-only, `receipt.json` last. Readers treat `receipt.json` as
 * the commit marker, so a crash mid-commit leaves no result that looks complete. The workload principal only holds
 * `roles/storage.objectCreator` on quarantine: it can neither read nor overwrite nor delete what is there.
 */
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CleanRoomError } from "../../../core/errors.js";
import { RESULT_FILES } from "../../../core/receipt.js";
import type { ResultWriter } from "../platform.js";
import type { GcsStore } from "./storage.js";
import { joinUri } from "./uri.js";

function checkPath(p: string): void {
  if (p === "" || p.startsWith("/") || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new CleanRoomError("invalid-argument", `Result path ${JSON.stringify(p)} must be relative and stay inside the result`);
  }
}

/** The GCS result writer (see module comment). */
export class GcsResultWriter implements ResultWriter {
  private staged: string[] = [];
  private dir?: string;
  private done = false;

  constructor(
    private readonly store: GcsStore,
    private readonly outputUri: string,
  ) {}

  private async stageDir(): Promise<string> {
    this.dir ??= await mkdtemp(join(tmpdir(), "cleanroom-result-"));
    return this.dir;
  }

  async write(relativePath: string, from: Readable | Buffer): Promise<void> {
    checkPath(relativePath);
    if (this.done) throw new CleanRoomError("invalid-argument", "This result was already committed or aborted");
    const dest = join(await this.stageDir(), ...relativePath.split("/"));
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    if (Buffer.isBuffer(from)) await writeFile(dest, from, { mode: 0o600, flag: "wx" });
    else await pipeline(from, createWriteStream(dest, { mode: 0o600, flags: "wx" }));
    this.staged.push(relativePath);
  }

  async commit(): Promise<void> {
    if (this.done) throw new CleanRoomError("invalid-argument", "This result was already committed or aborted");
    if (!this.staged.includes(RESULT_FILES.receipt)) throw new CleanRoomError("invalid-argument", "A result cannot be committed without receipt.json");
    const dir = await this.stageDir();
    const order = [...this.staged.filter((p) => p !== RESULT_FILES.receipt), RESULT_FILES.receipt];
    for (const p of order) {
      await this.store.putFile(joinUri(this.outputUri, p), join(dir, ...p.split("/")), {
        role: `roles/storage.objectCreator on the quarantine bucket for the room's workload principals (granted by the ResultStore component)`,
      });
    }
    this.done = true;
    await rm(dir, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    this.done = true;
    this.staged = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

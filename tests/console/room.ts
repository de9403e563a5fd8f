/** One local room for a console test file: the quickstart spec, the insurer's claims provisioned, stage 1 produced. */
import { cp, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { openRoom } from "../../src/runtime/jobs/client.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import { produceStage1 } from "../../src/runtime/provision/stage1.js";
import { tempDir } from "../local/helpers.js";

export const ROOT = join(__dirname, "..", "..");
export const QUICKSTART = join(ROOT, "examples", "quickstart");

/** A running room and a data scientist's workspace (a copy of the quickstart jobs). */
export interface ConsoleRoom {
  readonly work: string;
  readonly dir: string;
  readonly descriptorPath: string;
  readonly workspace: string;
  down(): Promise<void>;
}

/** Starts the room (the quickstart spec: outputs need a provider's release). `provision: false` skips the data. */
export async function startRoom(prefix: string, options: { provision?: boolean } = {}): Promise<ConsoleRoom> {
  const work = await tempDir(prefix);
  const dir = join(work, "room");
  const spec = JSON.parse(await readFile(join(QUICKSTART, "spec.json"), "utf8")) as unknown;
  const r = await localUp({ spec, dir });
  const csv = join(QUICKSTART, "data", "insurance.csv");
  if (options.provision !== false) {
    await (await openRoom(r.descriptorPath)).provision("insurer", "claims", csv);
    await produceStage1(loadDescriptor(r.descriptorPath), "insurer", "claims", csv);
  }
  const workspace = join(work, "workspace");
  await mkdir(workspace);
  await cp(join(QUICKSTART, "jobs"), workspace, { recursive: true });
  return { work, dir, descriptorPath: r.descriptorPath, workspace, down: async () => void (await localDown(dir, { force: true })) };
}

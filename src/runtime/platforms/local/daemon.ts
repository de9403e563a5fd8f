/**
 * The local room's background process (started detached by `cleanroom local up`): the key broker, and the launcher's
 * control socket through which `submit` starts jobs. Logs go to `<dir>/room.log`.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { loadDescriptor } from "../../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { LocalTokenSigner } from "./attestation-service.js";
import { type BrokerHandle, startBroker } from "./broker.js";
import { type Reply, closeServer, serveUnix } from "./http.js";
import { Launcher, type LauncherConfig, readJobState } from "./launcher.js";
import { roomLayout } from "./layout.js";
import { loadLocalPki } from "./pki.js";

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** Runs the room's services until SIGTERM/SIGINT. */
export async function runDaemon(dir: string): Promise<void> {
  const layout = roomLayout(dir);
  const descriptor = loadDescriptor(layout.descriptor);
  const config = JSON.parse(await readFile(layout.config, "utf8")) as LauncherConfig;
  const signer = new LocalTokenSigner(await loadLocalPki(layout.pkiDir));
  const launcher = new Launcher(layout, descriptor, config, signer, log);
  let broker: BrokerHandle | undefined;
  let control: Server | undefined;
  let shuttingDown = false;
  const shutdown = async (why: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`stopping (${why})`);
    // No new job from here on.
    if (control) await closeServer(control, layout.controlSocket).catch(() => undefined);
    // Every job still running ends now, each with a failure receipt (`stopped`), before the room goes away.
    const stopped = await launcher.stopAll().catch((err: unknown) => {
      log(`stopping the running jobs failed: ${messageOf(err)}`);
      return [] as string[];
    });
    if (stopped.length > 0) log(`stopped ${stopped.length} running job(s): ${stopped.join(", ")}`);
    await broker?.close().catch(() => undefined);
    await rm(layout.pidFile, { force: true });
    process.exit(0);
  };
  try {
    broker = await startBroker(layout.brokerSocket, layout.brokerKeysDir, descriptor, log);
    control = await serveUnix(layout.controlSocket, 0o600, async (req, body): Promise<Reply> => {
      const url = (req.url ?? "").split("?")[0] ?? "";
      if (req.method === "GET" && url === "/v1/health") {
        return { status: 200, body: { room: descriptor.name, pid: process.pid, running: launcher.active, runningJobs: launcher.activeJobs, imageDigest: config.executor.digest } };
      }
      if (req.method === "POST" && url === "/v1/jobs") {
        const o = JSON.parse(body) as { jobId?: unknown; jobDigest?: unknown };
        if (typeof o.jobId !== "string" || typeof o.jobDigest !== "string") throw new CleanRoomError("invalid-argument", "jobId and jobDigest are required");
        return { status: 202, body: await launcher.start(o.jobId, o.jobDigest) };
      }
      const m = /^\/v1\/jobs\/([a-z0-9-]+)$/.exec(url);
      if (req.method === "GET" && m) {
        const s = await readJobState(layout, m[1]!);
        return s ? { status: 200, body: s } : { status: 404, body: { code: "not-found", message: `no job ${m[1]}` } };
      }
      return { status: 404, body: { code: "not-found", message: `unknown endpoint ${req.method} ${url}` } };
    });
  } catch (err) {
    log(`cannot start: ${messageOf(err)}`);
    await broker?.close().catch(() => undefined);
    process.exit(1);
  }
  // Jobs a previous run of the room left unfinished (e.g. it was killed) end now, each with a failure receipt.
  await launcher.recover().catch((err: unknown) => log(`recovering unfinished jobs failed: ${messageOf(err)}`));
  // The pid file appears only once every socket is up: `local up` waits for it.
  await writeFile(layout.pidFile, `${process.pid}\n`);
  log(`room ${descriptor.name} ready (executor ${config.executor.digest}, sandbox ${config.bwrap ? "bubblewrap" : "NONE (--insecure-no-sandbox)"})`);
  // Whatever fails around one job must not take the room (and every other job's bookkeeping) down with it.
  process.on("unhandledRejection", (err) => log(`unexpected error (the room keeps running): ${messageOf(err)}`));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: daemon <room dir>\n");
    process.exit(2);
  }
  runDaemon(dir).catch((err: unknown) => {
    log(`fatal: ${messageOf(err)}`);
    process.exit(1);
  });
}

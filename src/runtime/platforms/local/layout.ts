/**
 * Where a local room keeps everything: directory "buckets", private keys, sockets, state and logs.
 *
 * `<dir>/descriptor.json` is public (what the runtime reads); `<dir>/private/` (0700) holds the signing keys and the
 * broker keys and is never bound into a sandbox.
 */
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CleanRoomError } from "../../../core/errors.js";

/** Every path of a local room, derived from its directory. */
export interface RoomLayout {
  readonly dir: string;
  readonly descriptor: string;
  /** The spec the room was started with (to make `local up` idempotent). */
  readonly spec: string;
  /** Launcher configuration the daemon reads (runtime dirs, sandbox choice). */
  readonly config: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly privateDir: string;
  readonly pkiDir: string;
  readonly brokerKeysDir: string;
  readonly bucketsDir: string;
  readonly providersDir: string;
  readonly jobsDir: string;
  readonly quarantineDir: string;
  readonly resultsDir: string;
  readonly stage1Dir: string;
  readonly runDir: string;
  readonly brokerSocket: string;
  readonly controlSocket: string;
  /** Per-job launcher sockets live in `<jobSocketsDir>/<jobId>/teeserver.sock`. */
  readonly jobSocketsDir: string;
  readonly stateDir: string;
  /** The executor build (transpiled JS) that jobs run, and whose digest the tokens carry. */
  readonly executorDir: string;
  /** The room services' build (broker, launcher, attestation service). */
  readonly servicesDir: string;
}

/** Computes the layout of a room directory (nothing is created). */
export function roomLayout(dir: string): RoomLayout {
  const d = resolve(dir);
  const priv = join(d, "private");
  const buckets = join(d, "buckets");
  const run = join(d, "run");
  return {
    dir: d,
    descriptor: join(d, "descriptor.json"),
    spec: join(d, "spec.json"),
    config: join(d, "launcher.json"),
    pidFile: join(d, "room.pid"),
    logFile: join(d, "room.log"),
    privateDir: priv,
    pkiDir: join(priv, "pki"),
    brokerKeysDir: join(priv, "broker-keys"),
    bucketsDir: buckets,
    providersDir: join(buckets, "providers"),
    jobsDir: join(buckets, "jobs"),
    quarantineDir: join(buckets, "quarantine"),
    resultsDir: join(buckets, "results"),
    stage1Dir: join(buckets, "stage1"),
    runDir: run,
    brokerSocket: join(run, "broker.sock"),
    controlSocket: join(run, "control.sock"),
    jobSocketsDir: join(run, "jobs"),
    stateDir: join(d, "state"),
    executorDir: join(d, "executor"),
    servicesDir: join(d, "services"),
  };
}

/** `file:///abs/path` of a local path. */
export function fileUri(path: string): string {
  return pathToFileURL(resolve(path)).href;
}

/**
 * The local path of a `file:///` URI.
 *
 * @throws CleanRoomError `invalid-argument` for any other scheme (the local backend never reads `gs://`)
 */
export function uriToPath(uri: string): string {
  if (!uri.startsWith("file:///")) {
    throw new CleanRoomError("invalid-argument", `The local backend only reads file:/// URIs (got ${JSON.stringify(uri)})`);
  }
  const p = fileURLToPath(uri);
  if (!isAbsolute(p)) throw new CleanRoomError("invalid-argument", `Not an absolute file URI: ${uri}`);
  return p;
}

/** Joins URI path segments with `/`, without doubling separators. */
export function joinUri(base: string, ...parts: string[]): string {
  return [base.replace(/\/+$/, ""), ...parts.map((p) => p.replace(/^\/+|\/+$/g, ""))].join("/");
}

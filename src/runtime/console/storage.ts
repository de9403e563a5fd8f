/**
 * What the console reads from a room's storage besides the job lifecycle: which jobs exist (the jobs and quarantine
 * locations), and the stage-1 artefacts and ledgers. `file:///` locations are directories (local rooms); `gs://`
 * locations are read with the caller's own Google credentials (Application Default Credentials), so the console can
 * see exactly what its user's IAM roles allow and nothing more.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { JOB_ID_PATTERN } from "../../core/patterns.js";

type GcpIndex = typeof import("../platforms/gcp/index.js");

/** The GCP platform, loaded only for gs:// locations (local rooms never load the Google Cloud SDKs). */
function gcp(): GcpIndex {
  const path = ["..", "platforms", "gcp", "index.js"].join("/");
  return require(path) as GcpIndex;
}

/** The client, made once per endpoint (and test token): a console started after the environment changed uses the new one. */
let storageClient: { key: string; storage: import("@google-cloud/storage").Storage } | undefined;
function gcs(): import("@google-cloud/storage").Storage {
  const g = gcp();
  const override = g.endpointOverrideFromEnv();
  const key = JSON.stringify([override, override ? process.env[g.TEST_TOKEN_ENV] : undefined]);
  if (storageClient?.key !== key) storageClient = { key, storage: g.createGcpClients(override).storage };
  return storageClient.storage;
}

function parseGs(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new CleanRoomError("invalid-argument", `Not a gs:// URI: ${uri}`);
  return { bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, "") };
}

function localPath(uri: string): string {
  if (!uri.startsWith("file:///")) throw new CleanRoomError("invalid-argument", `Unsupported storage location ${uri}: expected file:/// or gs://`);
  return fileURLToPath(uri);
}

/** Names and sizes of the objects under a location (relative to it, `/`-separated), at most `limit`. */
export async function listObjects(uri: string, limit = 10_000): Promise<Array<{ name: string; bytes: number }>> {
  if (uri.startsWith("gs://")) {
    const { bucket, prefix } = parseGs(uri);
    const p = prefix === "" ? "" : `${prefix}/`;
    try {
      const [files] = await gcs().bucket(bucket).getFiles({ prefix: p, autoPaginate: false, maxResults: limit });
      return files.map((f) => ({ name: f.name.slice(p.length), bytes: Number(f.metadata.size ?? 0) }));
    } catch (err) {
      throw denialOrIo(err, `list ${uri}`);
    }
  }
  const root = localPath(uri);
  const out: Array<{ name: string; bytes: number }> = [];
  async function walk(dir: string, rel: string): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return;
      throw new CleanRoomError("io-error", `Cannot list ${dir}: ${messageOf(err)}`, { cause: err });
    }
    for (const e of entries) {
      if (out.length >= limit) return;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else if (e.isFile()) out.push({ name: r, bytes: (await stat(join(dir, e.name))).size });
    }
  }
  await walk(root, "");
  return out;
}

/** The job ids that have something under a location (`<location>/<jobId>/…`). */
export async function listJobIds(uri: string): Promise<string[]> {
  if (uri.startsWith("file:///")) {
    const entries = await readdir(localPath(uri), { withFileTypes: true }).catch((err: unknown) => {
      if ((err as { code?: string }).code === "ENOENT") return [];
      throw new CleanRoomError("io-error", `Cannot list ${uri}: ${messageOf(err)}`, { cause: err });
    });
    return entries.filter((e) => e.isDirectory() && JOB_ID_PATTERN.test(e.name)).map((e) => e.name);
  }
  const ids = new Set<string>();
  for (const o of await listObjects(uri)) {
    const id = o.name.split("/")[0] ?? "";
    if (JOB_ID_PATTERN.test(id)) ids.add(id);
  }
  return [...ids];
}

/** Reads a small object (at most `limit` bytes); `undefined` when it does not exist. */
export async function readSmallObject(uri: string, limit = 4 * 1024 * 1024): Promise<Buffer | undefined> {
  if (uri.startsWith("gs://")) {
    const { bucket, prefix } = parseGs(uri);
    const file = gcs().bucket(bucket).file(prefix);
    try {
      const [meta] = await file.getMetadata();
      if (Number(meta.size ?? 0) > limit) throw new CleanRoomError("invalid-argument", `${uri} is larger than ${limit} bytes`);
      const [data] = await file.download();
      return data;
    } catch (err) {
      if (err instanceof CleanRoomError) throw err;
      if ((err as { code?: number }).code === 404) return undefined;
      throw denialOrIo(err, `read ${uri}`);
    }
  }
  const p = localPath(uri);
  const st = await stat(p).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  if (st.size > limit) throw new CleanRoomError("invalid-argument", `${p} is ${st.size} bytes; at most ${limit} are shown`);
  return readFile(p);
}

function denialOrIo(err: unknown, action: string): CleanRoomError {
  const code = (err as { code?: number }).code;
  if (code === 401 || code === 403) {
    return new CleanRoomError("denied", `You may not ${action} with your credentials (HTTP ${code}); ask the room's operator for the role that allows it`, { cause: err });
  }
  return new CleanRoomError("io-error", `Cannot ${action}: ${messageOf(err)}`, { cause: err });
}

/** `<location>/<a>/<b>`. */
export function joinLocation(uri: string, ...parts: string[]): string {
  return [uri.replace(/\/+$/, ""), ...parts].join("/");
}

/** When a job id made by `submitJob` (`job-<base36 ms>-<hex>`) was created, if it says. */
export function jobIdTime(jobId: string): Date | undefined {
  const m = /^job-([0-9a-z]+)-[0-9a-f]+$/.exec(jobId);
  if (!m) return undefined;
  const ms = Number.parseInt(m[1]!, 36);
  return Number.isFinite(ms) && ms > 1_500_000_000_000 && ms < 4_000_000_000_000 ? new Date(ms) : undefined;
}

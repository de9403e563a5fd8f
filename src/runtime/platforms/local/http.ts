/**
 * Small HTTP-over-unix-socket helpers shared by the local services (attestation, broker, launcher control) and their
 * clients. No TCP: only processes that can reach the socket file can talk to a service.
 */
import { existsSync } from "node:fs";
import { chmod, unlink } from "node:fs/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from "node:http";
import { connect } from "node:net";
import { CleanRoomError, messageOf } from "../../../core/errors.js";

/** Largest request body a local service accepts: tokens and wrapped keys are a few KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

/** A request handler's answer. */
export interface Reply {
  readonly status: number;
  /** A string is sent as `text/plain` (tokens, errors, like the launcher); anything else as JSON. */
  readonly body: unknown;
}

/** Reads a request body up to `MAX_BODY_BYTES`. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    // Bounded: a client cannot make a service buffer an unbounded body.
    if (size > limit) throw new CleanRoomError("invalid-argument", `request body larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, reply: Reply): void {
  const isText = typeof reply.body === "string";
  const payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(reply.status, { "content-type": isText ? "text/plain; charset=utf-8" : "application/json" });
  res.end(payload);
}

/** True when something accepts connections on the socket path. */
export function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolveP) => {
    if (!existsSync(path)) {
      resolveP(false);
      return;
    }
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolveP(true);
    });
    s.once("error", () => resolveP(false));
  });
}

/**
 * Serves `handler` on a unix socket with the given mode. Refuses a socket path another process is serving; removes a
 * stale socket file left by a crashed process.
 *
 * @throws CleanRoomError `already-exists` when the socket is in use
 */
export async function serveUnix(
  path: string,
  mode: number,
  handler: (req: IncomingMessage, body: string) => Promise<Reply> | Reply,
): Promise<Server> {
  if (await socketInUse(path)) {
    throw new CleanRoomError(
      "already-exists",
      `The socket ${path} is already in use by another process; stop it (\`cleanroom local down --dir <dir>\`) or use another --dir.`,
    );
  }
  if (existsSync(path)) await unlink(path);
  const server = createServer((req, res) => {
    readBody(req)
      .then((body) => handler(req, body))
      .then(
        (reply) => send(res, reply),
        (err: unknown) => {
          const code = err instanceof CleanRoomError ? err.code : "internal";
          const status = err instanceof CleanRoomError && code !== "io-error" ? 400 : 500;
          send(res, { status, body: `${code}: ${messageOf(err)}` });
        },
      );
  });
  await new Promise<void>((resolveP, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolveP();
    });
  });
  await chmod(path, mode);
  return server;
}

/** Closes a server and removes its socket file. */
export async function closeServer(server: Server, path: string): Promise<void> {
  await new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections?.();
  await unlink(path).catch(() => undefined);
}

/** A response from a unix-socket service. */
export interface UnixResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * Sends one HTTP request over a unix socket.
 *
 * @throws CleanRoomError `io-error` when the service cannot be reached
 */
export function unixRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<UnixResponse> {
  return new Promise((resolveP, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        path,
        method,
        headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolveP({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) =>
      reject(new CleanRoomError("io-error", `Cannot reach ${socketPath}: ${messageOf(err)}. Is the room running (\`cleanroom local status\`)?`, { cause: err })),
    );
    req.end(payload);
  });
}

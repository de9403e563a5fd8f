/**
 * `startConsole`: the room console's HTTP server (node:http). It binds to 127.0.0.1 (or a private Unix socket behind
 * jupyter-server-proxy), authenticates every request (see auth.ts), checks origin and CSRF token on every POST, sends
 * a strict Content-Security-Policy, and routes to the pages. Every action calls the same library functions as the
 * CLI (packJob, submitJob, jobStatus, fetchResult, releaseResult, verifyResult; the stage-1 ledgers with summarize).
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type CleanRoomDescriptor, loadDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.js";
import { type AuthMode, ConsoleAuth, CSRF_FIELD } from "./auth.js";
import type { ConsoleApp, ConsoleSession, Route, RouteRequest } from "./context.js";
import { htmlReply, type Reply, readForm, redirect, send, statusOf } from "./http.js";
import { JobBook } from "./jobs.js";
import { jobsRoutes } from "./pages/jobs.js";
import { providerRoutes } from "./pages/provider.js";
import { uploadDir, verifyRoutes } from "./pages/verify.js";
import { workspaceRoutes } from "./pages/workspace.js";
import { RequestStore } from "./requests.js";
import { receiveUpload, type Upload } from "./upload.js";
import { errorPage, type PageContext } from "./views/layout.js";

/** Options of `startConsole`. */
export interface ConsoleOptions {
  /** The room's descriptor file (`<dir>/descriptor.json`, `room.json`). Read again on every request. */
  readonly room: string;
  /** The data scientist's folder of job sources. @default - none: the Workspace page cannot pack */
  readonly workspace?: string;
  /** TCP port on 127.0.0.1. @default 0 - any free port (printed in the URL) */
  readonly port?: number;
  /** Listen on this Unix socket instead of a port (behind jupyter-server-proxy; no token: the socket is the auth). */
  readonly unixSocket?: string;
  /** URL path prefix of every page (behind a proxy, e.g. `/user/alice/cleanroom/`). @default "/" */
  readonly basePath?: string;
  /** Act for this provider: read quarantine, approve jobs, release results. @default - a data scientist */
  readonly provider?: string;
  /** Private directory for packed jobs, fetched results and uploads. @default - a directory under the OS temp dir */
  readonly stateDir?: string;
  /** Where approval requests are kept. @default - `<room dir>/requests` (local rooms), `<stateDir>/requests` (GCP) */
  readonly requestsDir?: string;
  /** PEM roots to verify results against. @default - the library's (Google's pinned root; a local room's own) */
  readonly trustedRoots?: readonly string[];
}

/** A running console. */
export interface RunningConsole {
  /** The URL to open: with the one-time login token (TCP), or the base URL (Unix socket). */
  readonly url: string;
  /** The listening port (TCP), or undefined. */
  readonly port?: number;
  close(): Promise<void>;
}

const ASSETS: Record<string, { type: string; body: string }> = {
  "assets/console.css": { type: "text/css; charset=utf-8", body: CONSOLE_CSS },
  "assets/console.js": { type: "text/javascript; charset=utf-8", body: CONSOLE_JS },
};

function normalizeBase(base: string | undefined): string {
  const b = base ?? "/";
  if (!b.startsWith("/") || /[\s?#]/.test(b)) throw new CleanRoomError("invalid-argument", `--base-path must be a URL path starting with / (got ${JSON.stringify(b)})`);
  return b.endsWith("/") ? b : `${b}/`;
}

function defaultStateDir(room: string, workspace: string | undefined): string {
  const key = createHash("sha256").update(`${resolve(room)}\n${workspace ? resolve(workspace) : ""}`).digest("hex").slice(0, 16);
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  return join(tmpdir(), `cleanroom-console-${uid}`, key);
}

/**
 * Starts the console.
 *
 * @example
 * const c = await startConsole({ room: "room/descriptor.json", workspace: "jobs" });
 * console.log(`Open ${c.url}`);
 *
 * @throws CleanRoomError `invalid-argument` (unknown provider, bad base path), `invalid-descriptor`, `io-error`
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const roomPath = resolve(options.room);
  const first = loadDescriptor(roomPath);
  if (options.provider !== undefined && !first.providers.some((p) => p.name === options.provider)) {
    throw new CleanRoomError("invalid-argument", `Provider ${JSON.stringify(options.provider)} is not in room ${first.name} (providers: ${first.providers.map((p) => p.name).join(", ")})`);
  }
  const base = normalizeBase(options.basePath);
  const stateDir = resolve(options.stateDir ?? defaultStateDir(roomPath, options.workspace));
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const descriptor = (): CleanRoomDescriptor => loadDescriptor(roomPath);
  const requestsDir = options.requestsDir ?? (first.platform === "local" && first.local ? join(first.local.dir, "requests") : join(stateDir, "requests"));
  const app: ConsoleApp = {
    base,
    roomPath,
    descriptor,
    stateDir,
    requests: new RequestStore(resolve(requestsDir)),
    jobs: new JobBook(descriptor, stateDir, options.provider),
    ...(options.workspace !== undefined ? { workspace: resolve(options.workspace) } : {}),
    ...(options.provider !== undefined ? { provider: options.provider } : {}),
    ...(options.trustedRoots !== undefined ? { trustedRoots: options.trustedRoots } : {}),
  };
  const routes: Route[] = [...workspaceRoutes, ...jobsRoutes, ...verifyRoutes, ...providerRoutes];
  const mode: AuthMode = options.unixSocket ? "socket" : "token";
  const hosts: string[] = [];
  const auth = new ConsoleAuth(mode, hosts);

  const server = createServer((req, res) => {
    handle(app, auth, routes, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, { status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: `Internal error: ${messageOf(err)}\n` });
      else res.destroy();
    });
  });
  // Slow or stuck clients cannot hold the console forever.
  server.requestTimeout = 15 * 60_000;
  server.headersTimeout = 30_000;

  if (options.unixSocket) {
    await rm(options.unixSocket, { force: true });
    await listen(server, options.unixSocket);
    await chmod(options.unixSocket, 0o600);
    return { url: base, close: () => close(server) };
  }
  await listen(server, options.port ?? 0, "127.0.0.1");
  const port = (server.address() as AddressInfo).port;
  hosts.push(`127.0.0.1:${port}`, `localhost:${port}`);
  return { url: `http://127.0.0.1:${port}${base}login?token=${auth.loginToken}`, port, close: () => close(server) };
}

function listen(server: Server, where: number | string, host?: string): Promise<void> {
  return new Promise((resolveP, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new CleanRoomError("already-exists", `Port ${where} is in use: pass another --port, or --port 0 for any free one`)
          : new CleanRoomError("io-error", `Cannot listen on ${where}: ${err.message}`),
      ),
    );
    if (typeof where === "number") server.listen(where, host, () => resolveP());
    else server.listen(where, () => resolveP());
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolveP) => {
    server.close(() => resolveP());
    server.closeAllConnections();
  });
}

function plain(status: number, text: string): Reply {
  return { status, headers: { "content-type": "text/plain; charset=utf-8" }, body: `${text}\n` };
}

async function handle(app: ConsoleApp, auth: ConsoleAuth, routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hostProblem = auth.hostProblem(req);
  if (hostProblem) return send(res, plain(403, `Refused: ${hostProblem}. Open the URL the console printed.`));
  const url = new URL(req.url ?? "/", "http://console.invalid");
  if (!url.pathname.startsWith(app.base) && `${url.pathname}/` !== app.base) return send(res, plain(404, "Not found"));
  const path = url.pathname.slice(app.base.length);
  const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");

  if (path === "login" && method === "GET") {
    const s = auth.exchange(url.searchParams.get("token") ?? "");
    if (!s) {
      return send(res, plain(403, "This login link is not valid: its token works once. Use the session you opened with it, or restart `cleanroom console` for a new URL."));
    }
    return send(res, redirect(`${app.base}workspace`), { "set-cookie": auth.cookie(s, app.base) });
  }

  let session = auth.session(req) as ConsoleSession | undefined;
  const extra: Record<string, string> = {};
  if (!session && auth.mode === "socket" && method === "GET") {
    session = auth.issue();
    extra["set-cookie"] = auth.cookie(session, app.base);
  }
  if (!session) {
    return send(res, plain(401, "Not signed in: open the URL with the token that `cleanroom console` printed (it works once, in one browser)."));
  }

  const asset = ASSETS[path];
  if (asset && method === "GET") return send(res, { status: 200, headers: { "content-type": asset.type }, body: asset.body }, extra);
  if (path === "" && method === "GET") return send(res, redirect(`${app.base}workspace`), extra);

  const s = session;
  const ctx: PageContext = {
    base: app.base,
    room: safeRoomName(app),
    platform: safePlatform(app),
    csrf: s.csrf,
    ...(app.provider ? { provider: app.provider } : {}),
    get notice() {
      const n = s.notice;
      s.notice = undefined;
      return n;
    },
  };

  for (const route of routes) {
    if (route.method !== method) continue;
    const m = route.pattern.exec(path);
    if (!m) continue;
    try {
      let form = new URLSearchParams();
      if (method === "POST") {
        const originProblem = auth.originProblem(req);
        if (originProblem) {
          req.resume();
          return send(res, plain(403, originProblem), extra);
        }
        if (!route.upload) {
          form = await readForm(req);
          const csrfProblem = auth.csrfProblem(s, form.get(CSRF_FIELD) ?? undefined);
          if (csrfProblem) return send(res, plain(403, csrfProblem), extra);
        }
      }
      const r: RouteRequest = {
        app,
        req,
        params: m.slice(1),
        query: url.searchParams,
        session: s,
        ctx,
        form,
        flash: (n) => {
          s.notice = n;
        },
        upload: async (): Promise<Upload> => {
          const dir = uploadDir(app.stateDir);
          try {
            return await receiveUpload(req, dir, (token) => auth.csrfProblem(s, token));
          } catch (err) {
            await rm(dir, { recursive: true, force: true });
            throw err;
          }
        },
      };
      return send(res, await route.handle(r), extra);
    } catch (err) {
      const code = err instanceof CleanRoomError ? err.code : "internal";
      if (code === "internal" && process.env.CLEANROOM_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? messageOf(err)}\n`);
      req.resume();
      return send(res, htmlReply(errorPage(ctx, code, messageOf(err)), code === "internal" ? 500 : statusOf(code)), extra);
    }
  }
  return send(res, htmlReply(errorPage(ctx, "not-found", `There is no page /${path} here.`), 404), extra);
}

function safeRoomName(app: ConsoleApp): string {
  try {
    return app.descriptor().name;
  } catch {
    return "(descriptor unreadable)";
  }
}

function safePlatform(app: ConsoleApp): string {
  try {
    return app.descriptor().platform;
  } catch {
    return "?";
  }
}

/** Raw HTTP against a running console (no browser): one request, and a signed-in session per console. */
import { request } from "node:http";
import type { RunningConsole } from "../../src/runtime/console/server.js";

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP request (to a port or a Unix socket), headers exactly as given. */
export function raw(target: { port?: number; socketPath?: string }, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
  return new Promise((resolveP, reject) => {
    const req = request({ host: "127.0.0.1", ...target, method, path, headers: { ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...headers } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolveP({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sessions = new Map<RunningConsole, { cookie: string; csrf: string; host: string; origin: string }>();

/** Signs in once per console (the login token works once) and returns the session. */
export async function signIn(c: RunningConsole): Promise<{ cookie: string; csrf: string; host: string; origin: string }> {
  const known = sessions.get(c);
  if (known) return known;
  const u = new URL(c.url);
  const login = await raw({ port: c.port! }, "GET", `${u.pathname}${u.search}`, { host: u.host });
  const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
  // The verify page always has a form (the workspace page only with a workspace).
  const page = await raw({ port: c.port! }, "GET", "/verify", { host: u.host, cookie });
  const csrf = /name="_csrf" value="([0-9a-f]+)"/.exec(page.body)![1]!;
  const s = { cookie, csrf, host: u.host, origin: u.origin };
  sessions.set(c, s);
  return s;
}

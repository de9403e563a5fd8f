/**
 * Who may use the console, and how a state-changing request proves it comes from the console's own page.
 *
 * - `token` mode (a TCP port on 127.0.0.1): the console prints a URL with a random one-time token; opening it
 *   exchanges the token for a session cookie (HttpOnly, SameSite=Strict) and the token stops working. Every other
 *   request needs the cookie. The Host header must name the loopback address (stops DNS rebinding).
 * - `socket` mode (a Unix socket, behind jupyter-server-proxy): whoever can connect to the socket is already the
 *   notebook's authenticated user (the proxy checks JupyterHub's login; the socket's directory is private to that
 *   user), so the first page load gets a session cookie without a token.
 *
 * Every POST must carry the session's CSRF token and come from the console's own origin (Origin, or Sec-Fetch-Site
 * when a browser omits Origin): a page on another site cannot submit, approve or release anything.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Name of the session cookie. */
export const SESSION_COOKIE = "cleanroom_console";
/** Form field and header that carry the CSRF token. */
export const CSRF_FIELD = "_csrf";
export const CSRF_HEADER = "x-csrf-token";

/** Sessions idle longer than this are forgotten. */
const SESSION_IDLE_MS = 12 * 3600_000;
/** At most this many live sessions (the oldest is dropped). */
const MAX_SESSIONS = 64;

/** A browser session. */
export interface Session {
  readonly id: string;
  readonly csrf: string;
  lastSeen: number;
}

/** How the console is reached (see the file comment). */
export type AuthMode = "token" | "socket";

function equalSecrets(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** The console's sessions, login token and request checks. */
export class ConsoleAuth {
  private readonly sessions = new Map<string, Session>();
  private token: string | undefined;

  constructor(
    readonly mode: AuthMode,
    /** `host:port` values the Host header may take (token mode). */
    private readonly allowedHosts: readonly string[] = [],
  ) {
    this.token = mode === "token" ? randomBytes(24).toString("hex") : undefined;
  }

  /** The one-time login token (token mode), until it has been used. */
  get loginToken(): string | undefined {
    return this.token;
  }

  /** Exchanges the login token for a new session; the token then stops working. */
  exchange(token: string): Session | undefined {
    if (this.token === undefined || !equalSecrets(token, this.token)) return undefined;
    this.token = undefined;
    return this.issue();
  }

  /** Creates a session (socket mode: on first load). */
  issue(): Session {
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.sessions.values()].sort((a, b) => a.lastSeen - b.lastSeen)[0]!;
      this.sessions.delete(oldest.id);
    }
    const s: Session = { id: randomBytes(24).toString("hex"), csrf: randomBytes(24).toString("hex"), lastSeen: Date.now() };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The request's session, from its cookie. */
  session(req: IncomingMessage): Session | undefined {
    const id = cookiesOf(req).get(SESSION_COOKIE);
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s || !equalSecrets(id, s.id)) return undefined;
    if (Date.now() - s.lastSeen > SESSION_IDLE_MS) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeen = Date.now();
    return s;
  }

  /** The Set-Cookie header of a session. */
  cookie(s: Session, path: string): string {
    // HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it.
    return `${SESSION_COOKIE}=${s.id}; Path=${path}; HttpOnly; SameSite=Strict`;
  }

  /** Why the Host header is refused, if it is (token mode: only the loopback names the console printed). */
  hostProblem(req: IncomingMessage): string | undefined {
    if (this.mode !== "token") return undefined;
    const host = (req.headers.host ?? "").toLowerCase();
    return this.allowedHosts.includes(host) ? undefined : `Host ${JSON.stringify(host)} is not this console's address`;
  }

  /** Why a state-changing request is refused for its origin, if it is: it must come from this console's own page. */
  originProblem(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    const host = (req.headers.host ?? "").toLowerCase();
    if (origin === "null") return "Cross-site request refused: Origin null (a sandboxed or opaque page)";
    if (origin !== undefined) {
      let originHost: string;
      try {
        originHost = new URL(origin).host.toLowerCase();
      } catch {
        return `Origin ${JSON.stringify(origin)} is not a URL`;
      }
      if (originHost !== host) return `Cross-site request refused: Origin ${origin} is not this console`;
      return undefined;
    }
    const site = req.headers["sec-fetch-site"];
    return site === "same-origin" ? undefined : "Request refused: it does not say it comes from this console (no Origin, Sec-Fetch-Site is not same-origin)";
  }

  /** Why a form's CSRF token is refused, if it is. */
  csrfProblem(s: Session | undefined, csrf: string | undefined): string | undefined {
    if (!s) return "No session: open the console's URL (with its token) first";
    if (!csrf || !equalSecrets(csrf, s.csrf)) return "The form's CSRF token is missing or stale: reload the page and try again";
    return undefined;
  }
}

/** Responses of the console: security headers on every one, and small helpers for HTML, JSON, files, redirects. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { CleanRoomError } from "../../core/errors.js";
import type { SafeHtml } from "./html.js";

/**
 * Every response's security headers. The CSP allows only the console's own script and stylesheet files: no inline
 * script or style, no other origin, no framing, forms post only to the console.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** What a route returns. */
export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer | Readable;
}

/** An HTML page. */
export function htmlReply(body: SafeHtml, status = 200): Reply {
  return { status, headers: { "content-type": "text/html; charset=utf-8" }, body: body.value };
}

/** A JSON value. */
export function jsonReply(value: unknown, status = 200): Reply {
  return { status, headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify(value) };
}

/** A redirect after a POST (303: the browser follows with GET). */
export function redirect(location: string): Reply {
  return { status: 303, headers: { location } };
}

/**
 * A file to download. Job outputs are data, not pages: always an attachment, as plain bytes, in a sandbox, so an
 * output that happens to be HTML or SVG can never run in the console's origin.
 */
export function downloadReply(name: string, body: Buffer | Readable, contentType = "application/octet-stream"): Reply {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_") || "file";
  return {
    status: 200,
    headers: { "content-type": contentType, "content-disposition": `attachment; filename="${safe}"`, "content-security-policy": "sandbox; default-src 'none'" },
    body,
  };
}

/** Writes a reply with the security headers. */
export function send(res: ServerResponse, reply: Reply, extraHeaders: Readonly<Record<string, string>> = {}): void {
  res.writeHead(reply.status, { ...SECURITY_HEADERS, ...extraHeaders, ...(reply.headers ?? {}) });
  const body = reply.body;
  if (body === undefined) res.end();
  else if (typeof body === "string" || Buffer.isBuffer(body)) res.end(body);
  else {
    body.on("error", () => res.destroy());
    body.pipe(res);
  }
}

/** Reads an urlencoded form body (at most `limit` bytes). */
export async function readForm(req: IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    req.resume();
    throw new CleanRoomError("invalid-argument", `Expected a form (application/x-www-form-urlencoded), got ${JSON.stringify(type)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new CleanRoomError("invalid-argument", `The form is larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** The HTTP status of an error code. */
export function statusOf(code: string): number {
  if (code === "not-found") return 404;
  if (code === "denied") return 403;
  if (["invalid-argument", "invalid-manifest", "invalid-receipt", "digest-mismatch", "already-exists", "budget-exceeded"].includes(code)) return 400;
  return 500;
}

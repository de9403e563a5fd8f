/** The page frame shared by every page: header with the room and role, navigation, notices, main content. */
import { type SafeHtml, html } from "../html.js";

/** A one-shot message shown on the next page (after a redirect). */
export interface Notice {
  readonly kind: "ok" | "error" | "info";
  readonly text: string;
}

/** What every page needs to know. */
export interface PageContext {
  readonly base: string;
  readonly room: string;
  readonly platform: string;
  /** The provider this console acts for, if any. */
  readonly provider?: string;
  readonly csrf: string;
  readonly notice?: Notice;
}

const PAGES = [
  ["workspace", "Workspace"],
  ["jobs", "Jobs"],
  ["verify", "Verify a result"],
  ["provider", "Provider"],
] as const;

/** The hidden CSRF field every form carries (first, so uploads can check it before any file). */
export function csrfField(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

/** A notice box. */
export function notice(n: Notice | undefined): SafeHtml {
  if (!n) return html``;
  return html`<div class="notice ${n.kind}" role="${n.kind === "error" ? "alert" : "status"}">${n.text}</div>`;
}

/** A whole page. */
export function page(ctx: PageContext, current: string, title: string, body: SafeHtml): SafeHtml {
  const role = ctx.provider ? `provider ${ctx.provider}` : "data scientist";
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${ctx.room} · Clean room</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ctx.base}assets/console.css">
<script src="${ctx.base}assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="room">Clean room <code>${ctx.room}</code> <span class="muted">(${ctx.platform})</span></span>
  <span class="role">You act as: ${role}</span>
  <nav aria-label="Pages"><ul>
    ${PAGES.map(([id, label]) => html`<li><a href="${ctx.base}${id}"${current === id ? html` aria-current="page"` : html``}>${label}</a></li>`)}
  </ul></nav>
</header>
<main id="main">
<h1>${title}</h1>
${notice(ctx.notice)}
<div id="live" class="skip" aria-live="polite"></div>
${body}
</main>
</body>
</html>`;
}

/** The error page: what went wrong (code and message) and where to go. */
export function errorPage(ctx: PageContext, code: string, message: string): SafeHtml {
  return page(
    ctx,
    "",
    "Something needs your attention",
    html`<div class="notice error" role="alert"><strong>${code}</strong>: ${message}</div>
<p>Nothing was changed. <a href="${ctx.base}workspace">Back to the workspace</a> · <a href="${ctx.base}jobs">Jobs</a></p>`,
  );
}

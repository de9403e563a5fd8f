/**
 * The console's stylesheet and script, served as files (`/assets/console.css`, `/assets/console.js`) so the
 * Content-Security-Policy can forbid inline script and style entirely. Kept as strings so the build ships them with
 * the compiled code.
 */

/** The stylesheet: readable at 1280×800 and on a narrow window (tables scroll inside their own box). */
export const CONSOLE_CSS = `
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; --accent: #0b57d0;
  --ok: #116329; --ok-bg: #dafbe1; --bad: #a40e26; --bad-bg: #ffebe9; --warn: #7d4e00; --warn-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .room { font-weight: 600; }
header.top .role { color: var(--muted); font-size: 13px; }
nav ul { display: flex; flex-wrap: wrap; gap: 4px; list-style: none; margin: 0; padding: 0; }
nav a { display: inline-block; padding: 6px 12px; border-radius: 6px; text-decoration: none; color: var(--fg); }
nav a[aria-current="page"] { background: var(--accent); color: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 24px; margin: 8px 0 16px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
p.lead { color: var(--muted); margin-top: -8px; }
.panel { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 12px 0; background: var(--bg); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; overflow-wrap: anywhere; }
pre { background: var(--panel); padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 13px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; font-weight: 600; white-space: nowrap; }
.badge.pass, .badge.succeeded, .badge.released { background: var(--ok-bg); color: var(--ok); }
.badge.fail, .badge.failed, .badge.lost { background: var(--bad-bg); color: var(--bad); }
.badge.running, .badge.queued, .badge.not-reached, .badge.not-applicable, .badge.awaiting-release, .badge.pending { background: var(--warn-bg); color: var(--warn); }
.notice, td, dd, p, li, summary { overflow-wrap: anywhere; }
.notice { padding: 10px 14px; border-radius: 6px; margin: 12px 0; border: 1px solid var(--line); }
.notice.ok { background: var(--ok-bg); color: var(--ok); }
.notice.error { background: var(--bad-bg); color: var(--bad); }
.notice.info { background: var(--warn-bg); color: var(--warn); }
form.inline { display: inline; }
fieldset { border: 1px solid var(--line); border-radius: 8px; margin: 12px 0; padding: 10px 14px; }
legend { font-weight: 600; padding: 0 4px; }
label { cursor: pointer; }
.choices { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 4px 16px; }
button, .button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: not-allowed; }
input[type=file] { max-width: 100%; }
.digest { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.diff .add { background: var(--ok-bg); }
.diff .del { background: var(--bad-bg); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
@media (max-width: 640px) {
  main { padding: 12px; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 6px; }
  th, td { padding: 4px 6px; }
  h1 { font-size: 20px; }
}
`;

/**
 * The script: copy buttons, and live refresh of the jobs table and of a running job's page. Everything works without
 * it except copying and live updates.
 */
export const CONSOLE_JS = `
"use strict";
(function () {
  function announce(el, text) {
    var live = document.getElementById("live");
    if (live) live.textContent = text;
    if (el) { var old = el.textContent; el.textContent = text; setTimeout(function () { el.textContent = old; }, 1500); }
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target && ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!b) return;
    var text = b.getAttribute("data-copy");
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { announce(b, "Copied"); }, function () { announce(b, "Select and copy it"); });
    } else {
      announce(b, "Select and copy it");
    }
  });
  var table = document.querySelector("tbody[data-live]");
  if (table) {
    var url = table.getAttribute("data-live");
    setInterval(function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { "accept": "text/html" } }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (t) { if (t !== null && t !== table.innerHTML) table.innerHTML = t; }).catch(function () {});
    }, 2000);
  }
  var watch = document.querySelector("[data-watch-state]");
  if (watch) {
    var stateUrl = watch.getAttribute("data-watch-state");
    var current = watch.getAttribute("data-state");
    var timer = setInterval(function () {
      fetch(stateUrl, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
        if (s && s.state !== current) { clearInterval(timer); location.reload(); }
      }).catch(function () {});
    }, 1500);
  }
})();
`;

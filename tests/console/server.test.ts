/**
 * The console's HTTP boundary without a browser: security headers, the Host check, origin and CSRF on POST, the Unix
 * socket mode behind jupyter-server-proxy, a data scientist's console refusing the provider's routes, and the CLI.
 */
import { spawn } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type RunningConsole, startConsole } from "../../src/runtime/console/server.js";
import { cliInProcess } from "../cli-harness.js";
import { raw, signIn } from "./http.js";
import { type ConsoleRoom, ROOT, startRoom } from "./room.js";

describe("console: the HTTP boundary (headers, host, origin, CSRF, socket mode, roles, CLI)", function () {
  this.timeout(120_000);
  let room: ConsoleRoom;
  let ds: RunningConsole;

  before(async () => {
    room = await startRoom("console-server", { provision: false });
    ds = await startConsole({ room: room.descriptorPath, workspace: room.workspace, stateDir: join(room.work, "ds") });
  });
  after(async () => {
    await ds?.close();
    await room?.down();
  });

  it("GIVEN a signed-in page WHEN served THEN a strict CSP (own script and style files only, no framing) and no-sniff are set", async () => {
    const s = await signIn(ds);
    const res = await raw({ port: ds.port! }, "GET", "/jobs", { host: s.host, cookie: s.cookie });
    expect(res.status).to.equal(200);
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).to.include("script-src 'self'").and.include("style-src 'self'").and.include("frame-ancestors 'none'").and.include("default-src 'none'");
    expect(csp).to.not.include("unsafe");
    expect(res.headers["x-content-type-options"]).to.equal("nosniff");
    expect(res.body).to.not.match(/<script>|style="/);
  });

  it("GIVEN a Host header that is not the console's loopback address (DNS rebinding) WHEN requested THEN it is refused", async () => {
    const s = await signIn(ds);
    const res = await raw({ port: ds.port! }, "GET", "/workspace", { host: `attacker.example:${ds.port}`, cookie: s.cookie });
    expect(res.status).to.equal(403);
    expect(res.body).to.match(/not this console's address/);
  });

  it("GIVEN a signed-in session WHEN a POST lacks the CSRF token, comes from another origin, or from a cross-site fetch THEN each is refused and nothing is packed", async () => {
    const s = await signIn(ds);
    const form = `entrypoint=regression%2Fmain.py&input=insurer%2Fclaims`;
    const noToken = await raw({ port: ds.port! }, "POST", "/workspace/pack", { host: s.host, cookie: s.cookie, origin: s.origin }, form);
    expect([noToken.status, noToken.body]).to.deep.equal([403, "The form's CSRF token is missing or stale: reload the page and try again\n"]);
    const otherOrigin = await raw({ port: ds.port! }, "POST", "/workspace/pack", { host: s.host, cookie: s.cookie, origin: "http://127.0.0.1:1" }, `_csrf=${s.csrf}&${form}`);
    expect(otherOrigin.status).to.equal(403);
    const crossSite = await raw({ port: ds.port! }, "POST", "/workspace/pack", { host: s.host, cookie: s.cookie, "sec-fetch-site": "cross-site" }, `_csrf=${s.csrf}&${form}`);
    expect(crossSite.status).to.equal(403);
    expect(await readdir(join(room.work, "ds", "packed")).catch(() => [])).to.deep.equal([]);
    const ok = await raw({ port: ds.port! }, "POST", "/workspace/pack", { host: s.host, cookie: s.cookie, origin: s.origin }, `_csrf=${s.csrf}&${form}`);
    expect(ok.status).to.equal(303);
    expect(ok.headers.location).to.match(/^\/workspace\/packed\/[0-9a-f]{64}$/);
  });

  it("GIVEN a data scientist's console WHEN the provider's routes are asked for THEN it shows no quarantine and refuses to release or approve", async () => {
    const s = await signIn(ds);
    const page = await raw({ port: ds.port! }, "GET", "/provider", { host: s.host, cookie: s.cookie });
    expect(page.body).to.include('id="no-provider"');
    const release = await raw({ port: ds.port! }, "GET", "/provider/release/job-abc-0123abcd", { host: s.host, cookie: s.cookie });
    expect(release.status).to.equal(403);
    const approve = await raw({ port: ds.port! }, "POST", "/provider/approve", { host: s.host, cookie: s.cookie, origin: s.origin }, `_csrf=${s.csrf}&digest=sha256%3A${"a".repeat(64)}`);
    expect(approve.status).to.equal(403);
    expect(approve.body).to.include("only a provider&#39;s console");
  });

  it("GIVEN the Unix socket mode behind jupyter-server-proxy WHEN a page is opened THEN it needs no token, lives under the base path, the socket is private, and POSTs still need origin and CSRF", async () => {
    const socketPath = join(room.work, "console.sock");
    const c = await startConsole({ room: room.descriptorPath, unixSocket: socketPath, basePath: "/user/alice/cleanroom/", workspace: room.workspace, stateDir: join(room.work, "sock") });
    try {
      expect((await stat(socketPath)).mode & 0o777).to.equal(0o600);
      const host = "hub.example.org";
      const first = await raw({ socketPath }, "GET", "/user/alice/cleanroom/workspace", { host });
      expect(first.status).to.equal(200);
      const cookie = String(first.headers["set-cookie"]).split(";")[0]!;
      expect(String(first.headers["set-cookie"])).to.include("Path=/user/alice/cleanroom/");
      expect(first.body).to.include('href="/user/alice/cleanroom/jobs"');
      const csrf = /name="_csrf" value="([0-9a-f]+)"/.exec(first.body)![1]!;
      const cross = await raw({ socketPath }, "POST", "/user/alice/cleanroom/workspace/request", { host, cookie, origin: "https://evil.example" }, `_csrf=${csrf}&digest=x`);
      expect(cross.status).to.equal(403);
      const sameOrigin = await raw({ socketPath }, "POST", "/user/alice/cleanroom/workspace/request", { host, cookie, origin: `https://${host}` }, `_csrf=${csrf}&digest=x`);
      expect(sameOrigin.status, sameOrigin.body).to.equal(404);
      expect(sameOrigin.body).to.include("No packed job x");
    } finally {
      await c.close();
    }
  });

  it("GIVEN `cleanroom console --provider` naming no provider of the room WHEN run THEN it exits 1 naming the room's providers", async () => {
    const r = await cliInProcess(["console", "--room", room.descriptorPath, "--provider", "nobody"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/error \[invalid-argument\]: Provider "nobody" is not in room .* \(providers: insurer\)/);
  });

  it("GIVEN `cleanroom console --json` WHEN started THEN it prints the token URL on 127.0.0.1 and serves it until stopped", async () => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "src", "runtime", "cli.ts"), "console", "--room", room.descriptorPath, "--port", "0", "--json", "--state-dir", join(room.work, "cli")], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      const deadline = Date.now() + 60_000;
      while (!out.includes("}") && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      const { url, port } = JSON.parse(out) as { url: string; port: number };
      expect(url).to.match(new RegExp(`^http://127\\.0\\.0\\.1:${port}/login\\?token=[0-9a-f]{48}$`));
      const res = await fetch(url, { redirect: "manual" });
      expect(res.status).to.equal(303);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
    }
    expect(child.exitCode).to.equal(0);
  });
});

/**
 * `npm run demo -- --keep`: the demo ends with the room still up and the room console's URLs printed; the URLs open.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { localDown, localStatus } from "../../src/runtime/platforms/local/room.js";
import { ROOT } from "./room.js";

describe("console: the demo with --keep", function () {
  this.timeout(180_000);
  let child: ChildProcess | undefined;
  let roomDir: string | undefined;

  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGTERM");
    if (roomDir) {
      await localDown(roomDir, { force: true });
      await rm(dirname(roomDir), { recursive: true, force: true });
    }
  });

  it("GIVEN `demo --keep` WHEN it ends THEN it prints the console URLs, they open, and the room stays up after Ctrl-C", async () => {
    child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "examples", "quickstart", "demo.ts"), "--keep"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const deadline = Date.now() + 150_000;
    while (!/insurer: +http:\/\/127\.0\.0\.1:\d+\/login\?token=[0-9a-f]+/.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not print the console URLs:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    roomDir = /cleanroom local down --dir (\S+)/.exec(out)?.[1];
    const scientist = /data scientist: +(http:\S+)/.exec(out)![1]!;
    const res = await fetch(scientist, { redirect: "manual" });
    expect(res.status).to.equal(303);
    expect(res.headers.get("set-cookie")).to.match(/^cleanroom_console=[0-9a-f]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGINT");
    await exited;
    expect(roomDir).to.be.a("string");
    expect((await localStatus(roomDir!)).running).to.equal(true);
  });
});

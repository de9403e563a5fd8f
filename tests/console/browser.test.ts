/**
 * The console in a real headless Chromium: a data scientist and a provider, each with their own console and
 * browser session, on one local room. The tests run in order (the job the data scientist packs is the one the
 * provider approves and releases); each checks one behaviour.
 */
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { fetchResult } from "../../src/runtime/jobs/client.js";
import { type RunningConsole, startConsole } from "../../src/runtime/console/server.js";
import { cliInProcess } from "../cli-harness.js";
import { launchChromium, NARROW, SCREENSHOT_DIR, WIDE } from "./browser.js";
import { type ConsoleRoom, startRoom } from "./room.js";

/**
 * Every visible form control and button has an accessible name (label, aria-label or text). Runs in the page (a
 * string, so this file needs no DOM types).
 */
const UNLABELLED = `(() => {
  const bad = [];
  for (const e of document.querySelectorAll("input, select, textarea, button")) {
    if (e.type === "hidden") continue;
    const byFor = e.id ? document.querySelector('label[for="' + e.id + '"]') : null;
    const name = (e.getAttribute("aria-label") || "") || (byFor ? byFor.textContent : "") || (e.closest("label") ? e.closest("label").textContent : "") || (e.tagName === "BUTTON" ? e.textContent : "");
    if (!name || name.trim() === "") bad.push(e.outerHTML.slice(0, 120));
  }
  return bad;
})()`;

async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(UNLABELLED) as Promise<string[]>;
}

async function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1") as Promise<boolean>;
}

describe("console: the data scientist's and the provider's loop in a real browser (chromium)", function () {
  this.timeout(240_000);
  let room: ConsoleRoom;
  let browser: Browser;
  let dsConsole: RunningConsole;
  let provConsole: RunningConsole;
  let ds: BrowserContext;
  let prov: BrowserContext;
  let dsPage: Page;
  let provPage: Page;
  let dsBase: string;
  let provBase: string;
  let digest = "";
  let jobId = "";

  before(async () => {
    browser = await launchChromium();
    room = await startRoom("console-browser");
    dsConsole = await startConsole({ room: room.descriptorPath, workspace: room.workspace, stateDir: join(room.work, "ds-state") });
    provConsole = await startConsole({ room: room.descriptorPath, provider: "insurer", stateDir: join(room.work, "prov-state") });
    dsBase = new URL(dsConsole.url).origin;
    provBase = new URL(provConsole.url).origin;
    ds = await browser.newContext({ viewport: WIDE });
    prov = await browser.newContext({ viewport: WIDE });
    dsPage = await ds.newPage();
    provPage = await prov.newPage();
    await dsPage.goto(dsConsole.url);
    await provPage.goto(provConsole.url);
  });

  after(async () => {
    await browser?.close();
    await dsConsole?.close();
    await provConsole?.close();
    await room?.down();
    if (room) await rm(room.work, { recursive: true, force: true });
  });

  it("GIVEN the workspace page WHEN the data scientist packs regression/main.py on insurer/claims THEN it shows the digest `cleanroom job pack` prints", async () => {
    await dsPage.goto(`${dsBase}/workspace`);
    await dsPage.getByLabel("regression/main.py").check();
    await dsPage.getByLabel("insurer/claims").check();
    await dsPage.getByRole("button", { name: "Pack and show the digest" }).click();
    digest = (await dsPage.locator("#digest").textContent()) ?? "";
    const cli = await cliInProcess(["job", "pack", join(room.workspace, "regression"), "--entrypoint", "main.py", "--input", "insurer/claims", "--out", join(room.work, "cli-packed"), "--json"]);
    expect(cli.code, cli.stderr).to.equal(0);
    expect(digest).to.equal((JSON.parse(cli.stdout) as { jobDigest: string }).jobDigest);
    expect(await dsPage.getByRole("button", { name: "Copy the job digest" }).count()).to.equal(1);
  });

  it("GIVEN a packed job WHEN the data scientist asks for approval THEN the provider sees the pending digest with the bundle's files and approves it (the room restarts with it)", async () => {
    await dsPage.getByRole("button", { name: "Ask the providers to approve it" }).click();
    await dsPage.getByText("Approval requested").first().waitFor();
    await provPage.goto(`${provBase}/provider`);
    const pending = provPage.locator(`#pending tr[data-digest="${digest}"]`);
    expect(await pending.count()).to.equal(1);
    await pending.getByRole("link").click();
    await provPage.getByText("main.py").first().waitFor();
    expect(await provPage.locator("#no-base").count(), "the first version has no earlier approved one").to.equal(1);
    await provPage.getByRole("button", { name: "Approve this digest" }).click();
    await provPage.getByText(`Approved ${digest}`).waitFor({ timeout: 60_000 });
    const d = JSON.parse(await readFile(room.descriptorPath, "utf8")) as { providers: Array<{ name: string; approvedJobs: string[] }> };
    expect(d.providers.find((p) => p.name === "insurer")?.approvedJobs).to.include(digest);
    expect(await provPage.locator(`#pending tr[data-digest="${digest}"]`).count()).to.equal(0);
  });

  it("GIVEN an approved digest WHEN the data scientist submits it THEN the live jobs table shows it succeed, and their job page keeps the quarantined result from them", async () => {
    await dsPage.goto(`${dsBase}/workspace/packed/${digest.slice(7)}`);
    await dsPage.getByRole("button", { name: "Submit to the room" }).click();
    await dsPage.waitForURL(/\/jobs\/job-/);
    jobId = dsPage.url().split("/").pop() ?? "";
    await dsPage.goto(`${dsBase}/jobs`);
    await dsPage.locator(`#jobs tr[data-job="${jobId}"][data-state="succeeded"]`).waitFor({ timeout: 60_000 });
    await dsPage.goto(`${dsBase}/jobs/${jobId}`);
    // The room requires a provider's release: the data scientist's page says so and shows no output.
    expect(await dsPage.locator("#result-unavailable").textContent()).to.match(/awaits release by a provider/);
    expect(await dsPage.locator(".report").count()).to.equal(0);
  });

  it("GIVEN a succeeded job in quarantine WHEN the provider reviews it and confirms the release THEN it is released and the data scientist's report shows every check passing", async () => {
    await provPage.goto(`${provBase}/provider`);
    await provPage.locator(`#quarantine tr[data-job="${jobId}"]`).getByRole("link", { name: "Review and release" }).click();
    expect(await provPage.locator(".report [data-state=fail]").count()).to.equal(0);
    // Without the confirmation the browser does not submit (required checkbox); with it, the result is released.
    await provPage.getByLabel("I reviewed these outputs; they may leave the room").check();
    await provPage.getByRole("button", { name: `Release ${jobId}` }).click();
    await provPage.getByText(`Released ${jobId}`).waitFor();
    await dsPage.goto(`${dsBase}/jobs/${jobId}`);
    const states = await dsPage.locator(".report tr[data-check]").evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-check")}=${r.getAttribute("data-state")}`));
    expect(states).to.include.members(["files=pass", "chain=pass", "signature=pass", "nonce=pass", "policy=pass", "binding=pass", "outputs=pass"]);
    expect(states.filter((s) => !s.endsWith("=pass") && !s.endsWith("=not-applicable"))).to.deep.equal([]);
    expect(await dsPage.locator("#verdict").textContent()).to.match(/^VERIFIED: job/);
    expect(await dsPage.getByText("No hardware protection").count()).to.equal(1);
    expect(await dsPage.getByRole("link", { name: "model.json" }).count()).to.equal(1);
  });

  it("GIVEN a new version of the approved job WHEN the provider reviews it THEN the page shows the diff from the approved version", async () => {
    const main = join(room.workspace, "regression", "main.py");
    await writeFile(main, `${await readFile(main, "utf8")}\nprint("exfiltrate")\n`);
    await dsPage.goto(`${dsBase}/workspace`);
    await dsPage.getByLabel("regression/main.py").check();
    await dsPage.getByRole("button", { name: "Pack and show the digest" }).click();
    const v2 = (await dsPage.locator("#digest").textContent()) ?? "";
    expect(v2).to.not.equal(digest);
    await dsPage.getByRole("button", { name: "Ask the providers to approve it" }).click();
    await dsPage.getByText("Approval requested").first().waitFor();
    await provPage.goto(`${provBase}/provider/requests/${v2.slice(7)}`);
    const diff = (await provPage.locator("#diff").textContent()) ?? "";
    expect(diff).to.include("main.py");
    expect(diff).to.include('+print("exfiltrate")');
    expect(await provPage.getByText(`Compared with ${digest}`).count()).to.equal(1);
  });

  it("GIVEN a fetched result with an edited output WHEN it is uploaded as a folder on the verify page THEN the report shows the outputs check failing", async () => {
    const dir = join(room.work, "tampered");
    await fetchResult(room.descriptorPath, jobId, dir);
    await writeFile(join(dir, "outputs", "model.json"), '{"r2": 0.99}\n');
    await dsPage.goto(`${dsBase}/verify`);
    await dsPage.locator("#result-folder").setInputFiles(dir);
    await dsPage.getByRole("button", { name: "Verify the folder" }).click();
    await dsPage.locator("#verdict").waitFor();
    expect(await dsPage.locator("#verdict").textContent()).to.match(/^NOT VERIFIED/);
    expect(await dsPage.locator('tr[data-check="outputs"]').getAttribute("data-state")).to.equal("fail");
    expect(await dsPage.locator('tr[data-check="outputs"]').textContent()).to.include("outputs/model.json: content differs from the receipt");
    expect(await dsPage.locator('tr[data-check="nonce"]').getAttribute("data-state")).to.equal("pass");
  });

  it("GIVEN a result whose receipt was edited WHEN it is uploaded as a zip THEN the nonce check fails (the token no longer matches the receipt)", async () => {
    const dir = join(room.work, "edited-receipt");
    await fetchResult(room.descriptorPath, jobId, dir);
    const receipt = JSON.parse(await readFile(join(dir, "receipt.json"), "utf8")) as Record<string, unknown>;
    await writeFile(join(dir, "receipt.json"), JSON.stringify({ ...receipt, finishedAt: new Date(0).toISOString() }));
    const zip = join(room.work, "edited.zip");
    const py = spawnSync("python3", ["-m", "zipfile", "-c", zip, "receipt.json", "attestation.jwt", "outputs"], { cwd: dir, encoding: "utf8" });
    expect(py.status, py.stderr).to.equal(0);
    await dsPage.goto(`${dsBase}/verify`);
    await dsPage.locator("#result-archive").setInputFiles(zip);
    await dsPage.getByRole("button", { name: "Verify the archive" }).click();
    await dsPage.locator("#verdict").waitFor();
    expect(await dsPage.locator('tr[data-check="nonce"]').getAttribute("data-state")).to.equal("fail");
    expect(await dsPage.locator('tr[data-check="outputs"]').getAttribute("data-state")).to.equal("not-reached");
  });

  it("GIVEN files that are not a result WHEN they are uploaded THEN the page says it is not a job result and what was received", async () => {
    const notes = join(room.work, "notes.txt");
    await writeFile(notes, "hello\n");
    await dsPage.goto(`${dsBase}/verify`);
    await dsPage.locator("#result-archive").setInputFiles(notes);
    await dsPage.getByRole("button", { name: "Verify the archive" }).click();
    const msg = (await dsPage.locator("#not-result").textContent()) ?? "";
    expect(msg).to.include("This upload is not a job result");
    expect(msg).to.include("notes.txt");
    expect(await dsPage.locator(".report").count()).to.equal(0);
  });

  it("GIVEN an unknown job id WHEN it is opened THEN the page says there is no such job", async () => {
    const res = await dsPage.goto(`${dsBase}/jobs/job-zzzzzzzz-00000000`);
    expect(res?.status()).to.equal(404);
    expect(await dsPage.getByRole("alert").textContent()).to.match(/not-found.*No job job-zzzzzzzz-00000000/);
  });

  it("GIVEN a workspace without an entrypoint WHEN its workspace page opens THEN it says what to add and offers no pack button", async () => {
    const empty = join(room.work, "empty-workspace");
    await mkdir(join(empty, "data"), { recursive: true });
    await writeFile(join(empty, "data", "notes.csv"), "a,b\n1,2\n");
    const c = await startConsole({ room: room.descriptorPath, workspace: empty, stateDir: join(room.work, "empty-state") });
    const ctx = await browser.newContext({ viewport: WIDE });
    try {
      const page = await ctx.newPage();
      await page.goto(c.url);
      expect(await page.getByRole("alert").textContent()).to.match(/No entrypoint in .*empty-workspace: add a main\.py, main\.js or a notebook/);
      expect(await page.getByRole("button", { name: "Pack and show the digest" }).count()).to.equal(0);
    } finally {
      await ctx.close();
      await c.close();
    }
  });

  it("GIVEN a browser without the login token WHEN it opens the console THEN it is refused, and a used token does not work twice", async () => {
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      const res = await page.goto(`${dsBase}/jobs`);
      expect(res?.status()).to.equal(401);
      const again = await page.goto(dsConsole.url);
      expect(again?.status()).to.equal(403);
      expect(await page.textContent("body")).to.include("works once");
    } finally {
      await ctx.close();
    }
  });

  it("GIVEN a page on another site WHEN it posts a form to the console in the signed-in browser THEN the console refuses it and no job is submitted", async () => {
    const before = (await readFile(room.descriptorPath, "utf8")).length;
    const jobsBefore = await dsPage.goto(`${dsBase}/jobs/rows`).then(async () => (await dsPage.locator("tr[data-job]").count()));
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<form method="post" action="${dsBase}/workspace/submit"><input name="digest" value="${digest}"><button>go</button></form>`);
    });
    await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
    try {
      const evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
      await dsPage.goto(evilUrl);
      const [response] = await Promise.all([dsPage.waitForResponse((r) => r.url().startsWith(`${dsBase}/workspace/submit`)), dsPage.click("button")]);
      expect(response.status()).to.be.oneOf([401, 403]);
      await dsPage.goto(`${dsBase}/jobs/rows`);
      expect(await dsPage.locator("tr[data-job]").count()).to.equal(jobsBefore);
      expect((await readFile(room.descriptorPath, "utf8")).length).to.equal(before);
    } finally {
      evil.close();
    }
  });

  for (const [label, viewport] of [["1280×800", WIDE], ["a narrow window", NARROW]] as const) {
    it(`GIVEN ${label} WHEN the workspace, jobs, verify and provider pages open THEN every control is labelled and nothing overflows sideways`, async () => {
      const pages: Array<[Page, string]> = [
        [dsPage, `${dsBase}/workspace`],
        [dsPage, `${dsBase}/jobs`],
        [dsPage, `${dsBase}/jobs/${jobId}`],
        [dsPage, `${dsBase}/verify`],
        [provPage, `${provBase}/provider`],
      ];
      for (const [page, url] of pages) {
        await page.setViewportSize(viewport);
        await page.goto(url);
        expect(await unlabelledControls(page), url).to.deep.equal([]);
        expect(await overflowsHorizontally(page), `${url} overflows at ${viewport.width}px`).to.equal(false);
        for (const name of ["Workspace", "Jobs", "Provider"]) expect(await page.getByRole("navigation").getByRole("link", { name, exact: true }).isVisible(), `${name} link on ${url}`).to.equal(true);
      }
      await dsPage.setViewportSize(WIDE);
      await provPage.setViewportSize(WIDE);
    });
  }

  it("GIVEN the loop above WHEN the run ends THEN screenshots of the three pages are written (not committed)", async () => {
    const shots: Array<[Page, string, string]> = [
      [dsPage, `${dsBase}/workspace`, "console-workspace.png"],
      [dsPage, `${dsBase}/jobs/${jobId}`, "console-jobs.png"],
      [provPage, `${provBase}/provider`, "console-provider.png"],
    ];
    for (const [page, url, file] of shots) {
      await page.goto(url);
      await page.screenshot({ path: join(SCREENSHOT_DIR, file), fullPage: true });
      expect((await readFile(join(SCREENSHOT_DIR, file))).subarray(1, 4).toString()).to.equal("PNG");
    }
  });
});

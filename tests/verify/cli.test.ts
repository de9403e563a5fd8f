/** `cleanroom verify`, run in-process through commander: exit code, human summary, JSON, error with what to do. */
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { printSummary } from "../../src/runtime/cli/verify.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { cliInProcess } from "../cli-harness.js";
import { buildResult, descriptor } from "./fixtures.js";
import { IMAGE, testChains, type Chain } from "./pki.js";

/** Runs `cleanroom …` in this process through the whole real program. */
const cleanroom = (args: string[]) => cliInProcess(args);

describe("verify/cli", function () {
  this.timeout(30_000);
  let tmp: string;
  let chain: Chain;
  let room: CleanRoomDescriptor;
  let roomPath: string;
  let rootPath: string;

  before(async () => {
    ({ local: chain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-cli-"));
    room = descriptor("local", undefined, { imageDigests: [IMAGE], platform: "local" });
    roomPath = join(tmp, "room.json");
    rootPath = join(tmp, "root.pem");
    await writeFile(roomPath, JSON.stringify(room));
    await writeFile(rootPath, chain.root.pem);
  });
  after(async () => tmp && rm(tmp, { recursive: true, force: true }));

  it("GIVEN a good result and --trusted-root THEN exit 0 and a summary naming job, image, inputs and outputs", async () => {
    const { dir } = await buildResult(tmp, room, chain);
    const r = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^VERIFIED: /);
    expect(r.stdout).to.include(IMAGE).and.include("acme/claims").and.include("report.csv").and.include("Hardware:");
  });

  it("GIVEN --json THEN the summary is JSON with verified true", async () => {
    const { dir } = await buildResult(tmp, room, chain);
    const r = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath, "--json"]);
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({ verified: true, status: "succeeded" });
  });

  it("GIVEN a changed output THEN exit 1, NOT VERIFIED with the code, the file and what to do", async () => {
    const { dir } = await buildResult(tmp, room, chain);
    await writeFile(join(dir, "outputs", "report.csv"), "tampered\n");
    const r = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("NOT VERIFIED [digest-mismatch]").and.include("outputs/report.csv").and.include("What to do:");
    const j = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath, "--json"]);
    expect(j.code).to.equal(1);
    expect(JSON.parse(j.stdout).error.code).to.equal("digest-mismatch");
  });

  it("GIVEN a result of code no provider approved THEN exit 1, NOT VERIFIED [unapproved] with what to do", async () => {
    const { dir } = await buildResult(tmp, room, chain, { inputs: [] });
    const r = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("NOT VERIFIED [unapproved]").and.include("--allow-unapproved");
  });

  it("GIVEN an unapproved result and --allow-unapproved THEN exit 0 with a warning that no provider approved the code", async () => {
    const { dir } = await buildResult(tmp, room, chain, { inputs: [] });
    const r = await cleanroom(["verify", dir, "--room", roomPath, "--trusted-root", rootPath, "--allow-unapproved"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^VERIFIED, BUT UNAPPROVED/).and.match(/WARNING/);
  });

  it("GIVEN a verified summary whose strings hold control characters THEN the printed summary shows them escaped", async () => {
    const { dir } = await buildResult(tmp, room, chain, { status: "failed", error: "boom\u001b[2J\nVERIFIED: forged\u009b" });
    const s = await verifyResult(dir, { descriptor: room, trustedRoots: [chain.root.pem] });
    const lines: string[] = [];
    printSummary(s, (l) => lines.push(l));
    const text = lines.join("\n");
    const controls = [...text].filter((c) => c !== "\n" && (c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)));
    expect(controls).to.deep.equal([]);
    expect(lines.some((l) => l.startsWith("VERIFIED: forged"))).to.equal(false);
    expect(text).to.include("\\u001b[2J\\nVERIFIED: forged\\u009b");
  });

  it("GIVEN no root for a local room THEN exit 1 telling to pass --trusted-root", async () => {
    const { dir } = await buildResult(tmp, room, chain);
    const r = await cleanroom(["verify", dir, "--room", roomPath]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("[invalid-argument]").and.include("--trusted-root");
  });
});

/**
 * Stand-ins (issue 15): `cleanroom data provision --stand-in` publishes a provider's public stand-in to the room's
 * stage-1 storage beside the protected original, which stage 1 never holds; the console lists and serves only the
 * files the stand-in's manifest names. One local room (no job runs), driven through the CLI.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type RunningConsole, startConsole } from "../../src/runtime/console/server.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { StandInManifest } from "../../src/runtime/provision/stand-in.js";
import { cliInProcess } from "../cli-harness.js";
import { raw, signIn } from "../console/http.js";
import { tempDir } from "./helpers.js";

/** Every regular file under a directory, with its bytes. */
function filesUnder(dir: string): Array<{ path: string; bytes: Buffer }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((p) => join(dir, p))
    .filter((p) => statSync(p).isFile())
    .map((p) => ({ path: p, bytes: readFileSync(p) }));
}

/** The original's records: every line but the (public) header. */
const ORIGINAL = "member,score,label\nm-81723,0.91,1\nm-20931,0.12,0\nm-55410,0.77,1\n";
const SAMPLE = "member,score,label\nsample-1,0.50,1\nsample-2,0.25,0\n";

describe("stand-ins: data provision --stand-in publishes to stage 1, never the original (local room)", function () {
  this.timeout(120_000);
  let work: string;
  let dir: string;
  let descriptorPath: string;
  let stage1: string;
  let ds: RunningConsole | undefined;

  const provision = (dataset: string, ...extra: string[]) =>
    cliInProcess(["data", "provision", "--room", descriptorPath, "--provider", "lab", "--dataset", dataset, "--csv", join(work, "original.csv"), ...extra]);

  before(async () => {
    work = await tempDir("stand-in");
    dir = join(work, "room");
    await writeFile(join(work, "original.csv"), ORIGINAL);
    await writeFile(join(work, "sample.csv"), SAMPLE);
    await mkdir(join(work, "mock", "weights"), { recursive: true });
    await writeFile(join(work, "mock", "config.json"), '{"kind":"mock"}\n');
    await writeFile(join(work, "mock", "weights", "model weights.json"), '{"w":[0,0,0]}\n');
    const spec = {
      providers: [
        {
          name: "lab",
          datasets: [
            { name: "scores", standIn: "provided" },
            { name: "model", standIn: "provided" },
            { name: "hidden" },
          ],
        },
      ],
    };
    descriptorPath = (await localUp({ spec, dir })).descriptorPath;
    stage1 = join(dir, "buckets", "stage1");
  });
  after(async () => {
    await ds?.close();
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN standIn provided WHEN provisioned without --stand-in THEN it is refused naming the option, and nothing is stored", async () => {
    const r = await provision("scores");
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('standIn: "provided"').and.include("--stand-in <file|dir>");
    expect(existsSync(join(dir, "buckets", "providers", "lab", "scores"))).to.equal(false);
    expect(filesUnder(stage1)).to.deep.equal([]);
  });

  it("GIVEN standIn none WHEN provisioned with --stand-in THEN it is refused (explore on nothing), and nothing is stored", async () => {
    const r = await provision("hidden", "--stand-in", join(work, "sample.csv"));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('standIn: "none"').and.include("explore on nothing");
    expect(existsSync(join(dir, "buckets", "providers", "lab", "hidden"))).to.equal(false);
  });

  it("GIVEN a stand-in with the original's bytes (a copy) WHEN provisioned THEN it is refused before anything is stored", async () => {
    await cp(join(work, "original.csv"), join(work, "copy.csv"));
    const r = await provision("scores", "--stand-in", join(work, "copy.csv"));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include("exactly the bytes of a file of the protected original");
    expect(existsSync(join(dir, "buckets", "providers", "lab", "scores"))).to.equal(false);
    expect(filesUnder(stage1)).to.deep.equal([]);
  });

  it("GIVEN --stand-in with --no-stage1 WHEN provisioned THEN the contradiction is refused", async () => {
    const r = await provision("scores", "--stand-in", join(work, "sample.csv"), "--no-stage1");
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include("--stand-in and --no-stage1 contradict each other");
  });

  it("GIVEN a sample file WHEN provisioned with --stand-in THEN stage 1 holds the sample and its manifest, the output says it is public, and no byte of the original is in stage 1", async () => {
    const r = await provision("scores", "--stand-in", join(work, "sample.csv"));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("Stand-in published to stage 1 (PUBLIC");
    expect(readFileSync(join(stage1, "lab", "scores", "stand-in", "sample.csv"), "utf8")).to.equal(SAMPLE);
    const manifest = JSON.parse(readFileSync(join(stage1, "lab", "scores", "stand-in.json"), "utf8")) as StandInManifest;
    expect(manifest).to.include({ format: "cleanroom-stand-in/1", provider: "lab", dataset: "scores", public: true });
    expect(manifest.files.map((f) => [f.path, f.bytes])).to.deep.equal([["sample.csv", SAMPLE.length]]);
    // The original is provisioned (encrypted) in the provider's bucket, and none of its records is anywhere in stage 1.
    expect(existsSync(join(dir, "buckets", "providers", "lab", "scores", "data.enc"))).to.equal(true);
    const records = ORIGINAL.trim().split("\n").slice(1);
    const published = filesUnder(stage1);
    expect(published.length).to.be.greaterThan(0);
    for (const f of published) for (const rec of records) expect(f.bytes.includes(rec), `${f.path} holds an original record`).to.equal(false);
  });

  it("GIVEN a directory WHEN provisioned with --stand-in THEN its tree is published under stand-in/ and the JSON output marks it public", async () => {
    const r = await provision("model", "--stand-in", join(work, "mock"), "--json");
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { standIn: { files: number; public: boolean } };
    expect(out.standIn).to.include({ files: 2, public: true });
    expect(readFileSync(join(stage1, "lab", "model", "stand-in", "weights", "model weights.json"), "utf8")).to.equal('{"w":[0,0,0]}\n');
    expect(readFileSync(join(stage1, "lab", "model", "stand-in", "config.json"), "utf8")).to.equal('{"kind":"mock"}\n');
  });

  it("GIVEN a published stand-in WHEN provisioned again without --overwrite THEN it is refused; with --overwrite THEN it is replaced", async () => {
    await writeFile(join(work, "sample2.csv"), "member,score,label\nsample-9,0.10,0\n");
    const again = await provision("scores", "--stand-in", join(work, "sample2.csv"));
    expect(again.code).to.not.equal(0);
    const r = await provision("scores", "--stand-in", join(work, "sample2.csv"), "--overwrite");
    expect(r.code, r.stderr).to.equal(0);
    expect(readdirSync(join(stage1, "lab", "scores", "stand-in"))).to.deep.equal(["sample2.csv"]);
    expect(readdirSync(join(stage1, "lab", "scores")).filter((n) => n.startsWith(".stand-in-staging"))).to.deep.equal([]);
  });

  it("GIVEN published stand-ins WHEN the console's workspace page opens THEN it lists and serves the manifest's files, and nothing else under stage 1", async () => {
    ds = await startConsole({ room: descriptorPath, stateDir: join(work, "ds") });
    const s = await signIn(ds);
    const page = await raw({ port: ds.port! }, "GET", "/workspace", { host: s.host, cookie: s.cookie });
    expect(page.status).to.equal(200);
    const row = /<tr data-dataset="lab\/model">([\s\S]*?)<\/tr>/.exec(page.body)?.[1] ?? "";
    expect(row).to.include('href="/stage1/lab/model/stand-in/weights/model%20weights.json"');
    const file = await raw({ port: ds.port! }, "GET", "/stage1/lab/model/stand-in/weights/model%20weights.json", { host: s.host, cookie: s.cookie });
    expect(file.status).to.equal(200);
    expect(file.body).to.equal('{"w":[0,0,0]}\n');
    // Not in the manifest (the manifest itself, a path out of the stand-in, another dataset's stand-in): not served.
    for (const path of ["/stage1/lab/model/stand-in/../stand-in.json", "/stage1/lab/model/stand-in/nope.json", "/stage1/lab/hidden/stand-in/sample.csv"]) {
      const res = await raw({ port: ds.port! }, "GET", path, { host: s.host, cookie: s.cookie });
      expect(res.status, path).to.not.equal(200);
    }
  });
});

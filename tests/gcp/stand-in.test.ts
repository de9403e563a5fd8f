/**
 * Stand-ins on a GCP room (issue 15), against the loopback Storage fake with the real Google client: the stand-in's
 * files go to `<provider>/<dataset>/stand-in/` of the stage-1 bucket, create-only, its manifest `stand-in.json` last;
 * a second stand-in is refused (stage-1 objects are never replaced); no object of the stage-1 bucket holds the
 * original's bytes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { prepareStandIn, publishStandIn, type StandInManifest } from "../../src/runtime/provision/stand-in.js";
import { gcpDescriptor } from "../core/fixtures.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { type LoopbackWorld, startLoopbackWorld } from "./room-fixtures.js";

const STAGE1_BUCKET = "demo-stage1-1a2b";

describe("gcp: data provision --stand-in publishes to the stage-1 bucket through the real client (issue 15)", function () {
  this.timeout(60_000);
  let world: LoopbackWorld | undefined;
  let fake: GcpFake;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  const stage1 = () => fake.buckets.get(STAGE1_BUCKET) ?? new Map();

  before(async () => {
    world = await startLoopbackWorld();
    fake = world.fake;
    dir = mkdtempSync(join(tmpdir(), "acr-gcp-stand-in-"));
    mkdirSync(join(dir, "model"));
    writeFileSync(join(dir, "model", "weights.json"), '{"w":[0.8123,-1.2277,3.14159]}\n');
    mkdirSync(join(dir, "mock", "nested"), { recursive: true });
    writeFileSync(join(dir, "mock", "weights.json"), '{"w":[0,0,0]}\n');
    writeFileSync(join(dir, "mock", "nested", "config.json"), '{"mock":true}\n');
    const base = gcpDescriptor();
    descriptor = {
      ...base,
      providers: base.providers.map((p) => ({
        ...p,
        datasets: [
          { name: "weights", kind: "files", stage1Method: "none", standIn: "provided", epsilon: 1, delta: 1e-9 },
          { name: "hidden", kind: "files", stage1Method: "none", epsilon: 1, delta: 1e-9 },
        ],
      })),
    };
  });
  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("GIVEN a prepared stand-in WHEN published THEN its files are under <provider>/<dataset>/stand-in/, the manifest lists them and is uploaded last, and nothing holds the original's bytes", async () => {
    const provider = descriptor.providers[0]!.name;
    fake.requests.length = 0;
    const prepared = await prepareStandIn(join(dir, "mock"), join(dir, "model"));
    const r = await publishStandIn(descriptor, provider, "weights", prepared);
    expect(r).to.include({ location: `gs://${STAGE1_BUCKET}/${provider}/weights/stand-in`, manifest: `gs://${STAGE1_BUCKET}/${provider}/weights/stand-in.json`, files: 2 });
    const prefix = `${provider}/weights/`;
    expect([...stage1().keys()].sort()).to.deep.equal([`${prefix}stand-in.json`, `${prefix}stand-in/nested/config.json`, `${prefix}stand-in/weights.json`]);
    expect(stage1().get(`${prefix}stand-in/weights.json`)!.data.toString()).to.equal('{"w":[0,0,0]}\n');
    const manifest = JSON.parse(stage1().get(`${prefix}stand-in.json`)!.data.toString()) as StandInManifest;
    expect(manifest).to.include({ format: "cleanroom-stand-in/1", provider, dataset: "weights", public: true });
    expect(manifest.files.map((f) => f.path)).to.deep.equal(["nested/config.json", "weights.json"]);
    // The manifest is the last object created: a reader never takes a half-uploaded stand-in for a whole one.
    const uploads = fake.sent(/^\/upload\/storage\/v1\/b\//, "POST").map((q) => JSON.stringify(q));
    expect(uploads.length).to.equal(3);
    expect(uploads[2]).to.include("stand-in.json");
    const original = readFileSync(join(dir, "model", "weights.json"));
    for (const [name, o] of stage1()) expect(o.data.includes(original.subarray(0, 20)), name).to.equal(false);
  });

  it("GIVEN a published stand-in WHEN another is published for the same dataset THEN already-exists, naming the prefix, and the first stays", async () => {
    const provider = descriptor.providers[0]!.name;
    writeFileSync(join(dir, "mock", "weights.json"), '{"w":[1,1,1]}\n');
    let err: CleanRoomError | undefined;
    try {
      await publishStandIn(descriptor, provider, "weights", await prepareStandIn(join(dir, "mock"), join(dir, "model")));
    } catch (e) {
      err = e as CleanRoomError;
    }
    expect(err?.code).to.equal("already-exists");
    expect(err?.message).to.include("stage-1 objects are never replaced");
    expect(stage1().get(`${provider}/weights/stand-in/weights.json`)!.data.toString()).to.equal('{"w":[0,0,0]}\n');
  });

  it("GIVEN a dataset whose spec says standIn none WHEN a stand-in is published THEN invalid-argument, and nothing is uploaded", async () => {
    const provider = descriptor.providers[0]!.name;
    const before = stage1().size;
    let err: CleanRoomError | undefined;
    try {
      await publishStandIn(descriptor, provider, "hidden", await prepareStandIn(join(dir, "mock"), join(dir, "model")));
    } catch (e) {
      err = e as CleanRoomError;
    }
    expect(err?.code).to.equal("invalid-argument");
    expect(err?.message).to.include("explore on nothing");
    expect(stage1().size).to.equal(before);
  });
});

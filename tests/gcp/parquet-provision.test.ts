/**
 * Parquet tables on a GCP room (issue 15, first slice), against the loopback Compute, Storage, KMS and Confidential
 * Space fakes with the real Google clients: `data provision --parquet` refuses a column outside the public schema
 * before any object is uploaded or key wrapped, uploads the ciphertext of the file's exact bytes with a manifest naming
 * the format, publishes DuckDB-counted DP aggregates to the stage-1 bucket, and the approved job sees the file as
 * `<dataset>.parquet`, which the receipt names.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import {
  GcpRoomClient,
} from "../../src/runtime/platforms/gcp/index.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { cliInProcess } from "../cli-harness.js";
import { INSURANCE_CSV, loadSchema } from "../dp/utility.js";
import type { GcpFake } from "./fakes/gcp-fake.js";
import { FAST, type LoopbackWorld, loopbackRoom, startLoopbackWorld } from "./room-fixtures.js";

const DATA_BUCKET = "demo-hospital-a-data";

/** The job: reports the names it sees and the Parquet file's size, sha256 and magic (node, no library needed). */
const READER = `const fs = require("fs"), path = require("path"), crypto = require("crypto");
const dir = path.join(process.env.CLEANROOM_INPUTS, "hospital-a");
const data = fs.readFileSync(path.join(dir, "patients.parquet"));
const magic = data.subarray(0, 4).toString() === "PAR1" && data.subarray(data.length - 4).toString() === "PAR1";
fs.writeFileSync(path.join(process.env.CLEANROOM_OUTPUT, "seen.json"), JSON.stringify({ files: fs.readdirSync(dir), bytes: data.length, sha256: crypto.createHash("sha256").update(data).digest("hex"), magic }));
`;

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("gcp: Parquet tables provisioned and read through the real clients (issue 15)", function () {
  this.timeout(120_000);
  let fake: GcpFake;
  let dir: string;
  let root: string;
  let descriptor: CleanRoomDescriptor;
  let roomFile: string;
  let reader: PackedJob;
  let parquet: string;
  let world: LoopbackWorld | undefined;

  function client(): GcpRoomClient {
    return new GcpRoomClient(descriptor, { retry: FAST, pollIntervalMs: 20, maxPollIntervalMs: 50, trustedRoots: [root] });
  }
  const dataObjects = () => [...(fake.buckets.get(DATA_BUCKET)?.keys() ?? [])].filter((k) => !k.includes(".dp-ledger"));

  before(async () => {
    world = await startLoopbackWorld();
    ({ fake, root } = world);

    dir = mkdtempSync(join(tmpdir(), "acr-gcp-parquet-"));
    parquet = join(dir, "patients.parquet");
    await withDuckdb({}, async (run) => {
      await run(`COPY (SELECT * FROM read_csv('${INSURANCE_CSV}', header = true)) TO '${parquet}' (FORMAT parquet)`);
      await run(`COPY (SELECT *, 'P-' || CAST(age AS VARCHAR) AS patient_id FROM read_csv('${INSURANCE_CSV}', header = true)) TO '${join(dir, "extra.parquet")}' (FORMAT parquet)`);
    });
    const src = join(dir, "reader");
    mkdirSync(src);
    writeFileSync(join(src, "main.js"), READER);
    reader = await packJob(src, { entrypoint: "main.js", inputs: ["hospital-a/patients"], outDir: join(dir, "packed") });
    descriptor = loopbackRoom(fake, {
      approved: [reader.jobDigest],
      datasets: (d) => ({ ...d, format: "parquet", schema: loadSchema() as never, stage1Method: "aggregates", epsilon: 1 }),
    });
    roomFile = join(dir, "room.json");
    writeFileSync(roomFile, JSON.stringify(descriptor));
  });

  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("GIVEN a Parquet file with a column outside the public schema WHEN provisioning through GcpRoomClient THEN invalid-argument naming it, no object uploaded and no key wrapped", async () => {
    let err: CleanRoomError | undefined;
    try {
      await client().provision("hospital-a", "patients", join(dir, "extra.parquet"), { format: "parquet" });
    } catch (e) {
      err = e as CleanRoomError;
    }
    expect(err?.code, err?.message).to.equal("invalid-argument");
    expect(err?.message).to.contain('"patient_id" are outside the dataset\'s public schema').and.to.contain("nothing was stored");
    expect(fake.sent(/^\/upload\/storage\/v1\/b\/demo-hospital-a-data\/o$/)).to.deep.equal([]);
    expect(fake.sent(/:encrypt$/, "POST")).to.deep.equal([]);
    expect(dataObjects()).to.deep.equal([]);
  });

  it("GIVEN the spec's Parquet table WHEN `data provision --parquet` on the gs:// room THEN the ciphertext, wrapped key and manifest (format parquet) are uploaded, and DuckDB's DP aggregates reach the stage-1 bucket", async () => {
    const r = await cliInProcess(["data", "provision", "--room", roomFile, "--provider", "hospital-a", "--dataset", "patients", "--parquet", parquet, "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { rows: number; format: string; sha256: string; uri: string; stage1: { artefactPath: string } };
    expect(out).to.include({ rows: 1338, format: "parquet", sha256: sha256(parquet), uri: `gs://${DATA_BUCKET}/patients` });
    expect(dataObjects().sort()).to.deep.equal(["patients/data.enc", "patients/key.wrapped", "patients/manifest.json"]);
    const manifest = JSON.parse((fake.getObject(DATA_BUCKET, "patients/manifest.json") as Buffer).toString("utf8")) as Record<string, unknown>;
    expect(manifest).to.include({ format: "acr-envelope-v1", tableFormat: "parquet", sha256: sha256(parquet), bytes: statSync(parquet).size });
    // The bytes stored are the ciphertext, not the file.
    expect((fake.getObject(DATA_BUCKET, "patients/data.enc") as Buffer).includes(Buffer.from("PAR1"))).to.equal(false);
    expect(out.stage1.artefactPath).to.equal("gs://demo-stage1-1a2b/hospital-a/patients/aggregates.json");
    const aggregates = JSON.parse((fake.getObject("demo-stage1-1a2b", "hospital-a/patients/aggregates.json") as Buffer).toString("utf8")) as { count: number; columns: { name: string }[] };
    expect(aggregates.columns.map((c) => c.name)).to.deep.equal(["age", "sex", "bmi", "children", "smoker", "region", "charges"]);
    expect(Math.abs(aggregates.count - 1338)).to.be.below(100);
  });

  it("GIVEN the provisioned Parquet table WHEN the approved job runs on the Confidential Space VM THEN it sees exactly the file's bytes as patients.parquet and the receipt names format and digest", async () => {
    const c = client();
    const { jobId } = await c.submit(reader);
    const st = await c.wait(jobId, { timeoutMs: 60_000 });
    expect(st.state, st.detail).to.equal("succeeded");
    const fetched = join(dir, "result");
    // seen.json is undeclared (`other` to the disclosure checks): a provider releases it first.
    await c.release(jobId);
    await c.fetch(jobId, fetched);
    const seen = JSON.parse(readFileSync(join(fetched, "outputs", "seen.json"), "utf8")) as Record<string, unknown>;
    expect(seen).to.deep.equal({ files: ["patients.parquet"], bytes: statSync(parquet).size, sha256: sha256(parquet), magic: true });
    const receipt = parseReceipt(readFileSync(join(fetched, "receipt.json"), "utf8"));
    expect(receipt.inputs).to.deep.equal([{ provider: "hospital-a", dataset: "patients", format: "parquet", sha256: sha256(parquet), bytes: statSync(parquet).size }]);
    expect((await verifyResult(fetched, { descriptor, trustedRoots: [root] })).status).to.equal("succeeded");
    // The same result checked against a room that declares the table a CSV: the job read another format than declared.
    const asCsv = { ...descriptor, providers: descriptor.providers.map((p) => ({ ...p, datasets: p.datasets.map(({ format: _f, ...d }) => d) })) };
    let err: Error | undefined;
    try {
      await verifyResult(fetched, { descriptor: asCsv, trustedRoots: [root] });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('receipt.inputs[hospital-a/patients].format: expected "csv", got "parquet"');
  });
});

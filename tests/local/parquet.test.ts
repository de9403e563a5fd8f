/**
 * Parquet tables as provider inputs (issue 15, first slice), end to end through the CLI and one real local room
 * (bubblewrap, key broker, launcher): `data provision --parquet` checks the file's columns against the public schema
 * with DuckDB before anything is stored, publishes the stage-1 artefact counted by DuckDB, and the approved job sees
 * the exact bytes as `$CLEANROOM_INPUTS/<provider>/<dataset>.parquet`, which the receipt names and `verify` accepts.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { checkDatasetCsv, describeUnparsable } from "../../src/runtime/provision/csv-check.js";
import { checkDatasetParquet } from "../../src/runtime/provision/parquet-check.js";
import { withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { cliInProcess } from "../cli-harness.js";
import { INSURANCE_CSV, loadSchema } from "../dp/utility.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

/** Writes `SELECT <columns> FROM insurance.csv` as Parquet with DuckDB itself. */
async function insuranceParquet(path: string, select = "*"): Promise<string> {
  await withDuckdb({}, async (run) => {
    await run(`COPY (SELECT ${select} FROM read_csv('${INSURANCE_CSV}', header = true)) TO '${path}' (FORMAT parquet)`);
  });
  return path;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The job: checks the Parquet magic at both ends of its input and reports the file's name, size and sha256. */
const READER = `${PRELUDE}p = os.path.join(IN, "insurer", "claims.parquet")
data = open(p, "rb").read()
json.dump({"files": sorted(os.listdir(os.path.join(IN, "insurer"))), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
           "magic": data[:4] == b"PAR1" and data[-4:] == b"PAR1", "writable": os.access(p, os.W_OK)}, open(os.path.join(OUT, "seen.json"), "w"))
`;

describe("provision: the Parquet check (no room)", function () {
  this.timeout(60_000);
  let work: string;
  const schema = {
    columns: [
      { name: "age", type: "numeric", min: 18, max: 64, integer: true },
      { name: "bmi", type: "numeric", min: 15, max: 55 },
      { name: "sex", type: "categorical", categories: ["female", "male"] },
    ],
  };
  before(async () => {
    work = await tempDir("parquet-check");
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN the same table as CSV and as Parquet, with non-numbers in a numeric column WHEN checked THEN both checks count the same rows and unparsable values, at the same first line", async () => {
    // bmi is text in both files: 'n/a' on rows 3, 10, 17, …, blank on every 11th row (blank is missing, not unparsable).
    const table = `SELECT CAST(age AS VARCHAR) AS age, CASE WHEN i % 7 = 2 THEN 'n/a' WHEN i % 11 = 0 THEN '' ELSE CAST(bmi AS VARCHAR) END AS bmi, sex
      FROM (SELECT *, row_number() OVER () - 1 AS i FROM read_csv('${INSURANCE_CSV}', header = true)) ORDER BY i`;
    const csv = join(work, "t.csv");
    const parquet = join(work, "t.parquet");
    await withDuckdb({}, async (run) => {
      await run(`COPY (${table}) TO '${csv}' (HEADER, DELIMITER ',')`);
      await run(`COPY (${table}) TO '${parquet}' (FORMAT parquet)`);
    });
    const fromCsv = await checkDatasetCsv(csv, schema);
    const fromParquet = await checkDatasetParquet(parquet, schema);
    expect(fromCsv.unparsable).to.deep.equal([{ column: "bmi", count: 191, firstLine: 4 }]);
    expect(fromParquet.unparsable).to.deep.equal(fromCsv.unparsable);
    expect(fromParquet.rows).to.equal(fromCsv.rows);
    expect(fromParquet.sha256).to.equal(sha256(parquet));
    expect(describeUnparsable(fromParquet.unparsable, "parquet")).to.deep.equal(["column bmi: 191 value(s) are not numbers (first at row 3); DP releases count them as unknown"]);
  });

  it("GIVEN a file name DuckDB would read as a pattern (claims[0].parquet) WHEN checked THEN refused before DuckDB reads anything, naming the fix", async () => {
    const table = await insuranceParquet(join(work, "claims0.parquet"), "age, bmi, sex");
    let err: Error | undefined;
    try {
      await checkDatasetParquet(join(work, "claims[0].parquet"), schema);
    } catch (e) {
      err = e as Error;
    }
    // The pattern would match claims0.parquet: the check must not pass on a file other than the one given.
    expect(existsSync(table)).to.equal(true);
    expect((err as { code?: string } | undefined)?.code).to.equal("invalid-argument");
    expect(err?.message).to.contain("which DuckDB reads as a pattern of file names; rename the file");
  });

  it("GIVEN a schema column stored as a nested type (a list) WHEN checked THEN refused naming the column and its type", async () => {
    const nested = join(work, "nested.parquet");
    await withDuckdb({}, async (run) => {
      await run(`COPY (SELECT age, bmi, [sex] AS sex FROM read_csv('${INSURANCE_CSV}', header = true)) TO '${nested}' (FORMAT parquet)`);
    });
    let err: Error | undefined;
    try {
      await checkDatasetParquet(nested, schema);
    } catch (e) {
      err = e as Error;
    }
    expect((err as { code?: string } | undefined)?.code).to.equal("invalid-argument");
    expect(err?.message).to.contain('column "sex" has the nested type VARCHAR[]: store it as a plain value');
  });
});

describe("local: Parquet tables as provider inputs (issue 15)", function () {
  this.timeout(240_000);
  let work: string;
  let dir: string;
  let room: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  let reader: PackedJob;
  let claims: string;

  const datasetDir = (name: string) => join(roomLayout(dir).providersDir, "insurer", name);
  const stagingLeft = () => readdirSync(join(roomLayout(dir).providersDir, "insurer")).filter((n) => n.startsWith(".staging"));
  const provision = (dataset: string, ...more: string[]) => cliInProcess(["data", "provision", "--room", room, "--provider", "insurer", "--dataset", dataset, ...more]);

  before(async () => {
    work = await tempDir("parquet");
    dir = join(work, "room");
    claims = await insuranceParquet(join(work, "claims.parquet"));
    reader = await packJob(await pythonJob(work, "reader", READER), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed", "reader") });
    const schema = loadSchema();
    const spec = {
      providers: [
        {
          name: "insurer",
          datasets: [
            { name: "claims", format: "parquet", schema, stage1Method: "mst", epsilon: 2 },
            { name: "totals", format: "parquet", schema, stage1Method: "aggregates", epsilon: 2 },
            { name: "plain", schema, stage1Method: "aggregates", epsilon: 2 },
          ],
          approvedJobs: [reader.jobDigest],
        },
      ],
      output: { maxBytes: 4096, requireRelease: false },
    };
    const up = await localUp({ spec, dir });
    room = up.descriptorPath;
    descriptor = loadDescriptor(room);
    client = await roomClientFor(descriptor);
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a Parquet file with a column outside the public schema WHEN `data provision --parquet` THEN refused naming the column and the fix, and nothing stored", async () => {
    const extra = await insuranceParquet(join(work, "extra.parquet"), "*, 'A-' || CAST(age AS VARCHAR) AS member_id");
    const r = await provision("totals", "--parquet", extra);
    expect(r.code, r.stdout).to.equal(1);
    const line = r.stderr.trim();
    expect(line.split("\n"), "one line").to.have.length(1);
    expect(line)
      .to.contain("error [invalid-argument]")
      .and.to.contain('"member_id"')
      .and.to.contain("outside the dataset's public schema")
      .and.to.contain("drop them from the file or declare them in the spec's schema")
      .and.to.contain("nothing was stored");
    expect(existsSync(datasetDir("totals")), "no data.enc, key.wrapped or manifest.json").to.equal(false);
    expect(existsSync(join(roomLayout(dir).stage1Dir, "insurer", "totals")), "no stage-1 artefact").to.equal(false);
    expect(stagingLeft()).to.deep.equal([]);
  });

  it("GIVEN a Parquet file missing a schema column WHEN provisioning THEN refused naming the missing column", async () => {
    const missing = await insuranceParquet(join(work, "missing.parquet"), "age, sex, bmi, children, smoker, region");
    const r = await provision("totals", "--parquet", missing, "--json");
    expect(r.code).to.equal(1);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(err.code).to.equal("invalid-argument");
    expect(err.message).to.contain(`the schema's column(s) "charges" are missing`);
    expect(existsSync(datasetDir("totals"))).to.equal(false);
  });

  it("GIVEN the option that disagrees with the spec's format, or both, or neither WHEN provisioning THEN one line naming the option to use, and nothing stored", async () => {
    const csvForParquet = await provision("totals", "--csv", INSURANCE_CSV);
    expect(csvForParquet.code).to.equal(1);
    expect(csvForParquet.stderr).to.contain('insurer/totals is a parquet table in the room\'s spec (format: "parquet"), not csv: provision it with --parquet <file>');
    const parquetForCsv = await provision("plain", "--parquet", claims);
    expect(parquetForCsv.code).to.equal(1);
    expect(parquetForCsv.stderr).to.contain("provision it with --csv <file>");
    const both = await provision("totals", "--csv", INSURANCE_CSV, "--parquet", claims);
    expect(both.stderr).to.contain("--csv and --parquet are mutually exclusive");
    const neither = await provision("totals");
    expect(neither.code).to.equal(1);
    expect(neither.stderr).to.contain("Give the data to provision: --csv <file>, --parquet <file> for a dataset of format parquet, or --dir <tree>");
    expect(existsSync(datasetDir("totals"))).to.equal(false);
    expect(existsSync(datasetDir("plain"))).to.equal(false);
  });

  it("GIVEN a CSV given as --parquet for a parquet dataset WHEN provisioning THEN DuckDB's refusal says to give a Parquet file", async () => {
    const r = await provision("totals", "--parquet", INSURANCE_CSV);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`DuckDB cannot read ${INSURANCE_CSV} as Parquet`).and.to.contain("give a Parquet file");
    expect(existsSync(datasetDir("totals"))).to.equal(false);
  });

  it("GIVEN a Parquet table of the schema's columns WHEN provisioned (aggregates) THEN rows are counted, the manifest names the format and DuckDB's DP aggregates are published", async () => {
    const r = await provision("totals", "--parquet", claims, "--json");
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { rows: number; format: string; sha256: string; bytes: number; unparsable: unknown[]; stage1: { method: string; artefactPath: string } };
    expect(out).to.include({ rows: 1338, format: "parquet", sha256: sha256(claims), bytes: statSync(claims).size });
    expect(out.unparsable).to.deep.equal([]);
    expect(JSON.parse(readFileSync(join(datasetDir("totals"), "manifest.json"), "utf8"))).to.include({ format: "acr-envelope-v1", tableFormat: "parquet", sha256: sha256(claims) });
    const aggregates = JSON.parse(readFileSync(join(roomLayout(dir).stage1Dir, "insurer", "totals", "aggregates.json"), "utf8")) as { count: number; columns: { name: string }[] };
    expect(aggregates.columns.map((c) => c.name)).to.deep.equal(["age", "sex", "bmi", "children", "smoker", "region", "charges"]);
    expect(Math.abs(aggregates.count - 1338)).to.be.below(100);
  });

  it("GIVEN a Parquet table WHEN provisioned (mst) and the approved job runs THEN the job sees exactly its bytes as claims.parquet, read-only; the receipt names format and digest; verify passes", async () => {
    const p = await provision("claims", "--parquet", claims);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.contain("Provisioned insurer/claims: 1338 rows");
    const synthetic = readFileSync(join(roomLayout(dir).stage1Dir, "insurer", "claims", "synthetic.csv"), "utf8").split("\n");
    expect(synthetic[0]).to.equal("age,sex,bmi,children,smoker,region,charges");
    expect(synthetic.length).to.be.greaterThan(100);

    const { jobId } = await client.submit(reader);
    const done = await client.wait(jobId, { timeoutMs: 120_000 });
    expect(done.state, done.detail).to.equal("succeeded");
    const fetched = join(work, "result");
    await client.fetch(jobId, fetched);
    const seen = JSON.parse(readFileSync(join(fetched, "outputs", "seen.json"), "utf8")) as Record<string, unknown>;
    expect(seen).to.deep.equal({ files: ["claims.parquet"], bytes: statSync(claims).size, sha256: sha256(claims), magic: true, writable: false });
    const receipt = parseReceipt(readFileSync(join(fetched, "receipt.json"), "utf8"));
    expect(receipt.inputs).to.deep.equal([{ provider: "insurer", dataset: "claims", format: "parquet", sha256: sha256(claims), bytes: statSync(claims).size }]);
    const verified = await cliInProcess(["verify", fetched, "--room", room]);
    expect(verified.code, verified.stderr + verified.stdout).to.equal(0);
  });
});

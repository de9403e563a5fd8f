/**
 * The disclosure step of a whole executor run reads the job's decrypted table inputs as the room declared them: a
 * Parquet dataset as Parquet and a CSV dataset as CSV (an output that copies rows of either fails `verbatim-rows`), and
 * each input under its `<provider>/<dataset>` key, the key of the quasi-identifiers the dataset's provider declared (an
 * output releasing a combination of them that only one input record has fails `unique-quasi-identifiers`).
 *
 * These run `runExecutor` in process on the fake platform (the job itself is a short Python process), so that the
 * mutation run's per-test coverage sees the executor's own code: how it lists the inputs and maps their formats.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import type { DisclosureReport } from "../../src/core/disclosure.js";
import { type DatasetDisclosure, resolveOutputDisclosure } from "../../src/core/disclosure-policy.js";
import type { Receipt } from "../../src/core/receipt.js";
import { withDuckdb } from "../../src/runtime/dp/marginal-duckdb.js";
import { runExecutor } from "../../src/runtime/executor/run.js";
import { FakePlatform, provision, room, stageJob } from "./fake-platform.js";

const OUTPUT_URI = "mem://room/q/job-1";

/** The Parquet input's rows (written by DuckDB in `before`). */
const PEOPLE_SQL = "SELECT * FROM (VALUES (1, 'Alice Moor', 34, 10001), (2, 'Bob Stone', 45, 10002), (3, 'Cleo Hart', 29, 10003)) t(id, name, age, zip)";
const VISITS = "id,clinic,days\n7,north,2\n8,south,5\n";
/** zip and age: 10001/34 twice, 10003/29 once. */
const CENSUS = "zip,age,income\n10001,34,51000\n10001,34,62000\n10003,29,48000\n";

/**
 * A job writing `files` (name → text) to its output directory. It writes the input rows it leaks as literals: the job
 * has no Parquet reader (no pyarrow where the tests run), and the checker judges an output by its lines, whatever code
 * wrote them.
 */
function writer(files: Record<string, string>): string {
  return `import json, os\nOUT = os.environ["CLEANROOM_OUTPUT"]\nfor name, text in json.loads(${JSON.stringify(JSON.stringify(files))}).items():\n    open(os.path.join(OUT, name), "w").write(text)\n`;
}

/** Room `room()` with acme/claims a Parquet dataset and acme/prices declaring quasi-identifiers. */
function roomWith(overrides: Partial<CleanRoomDescriptor>, pricesDisclosure?: DatasetDisclosure): CleanRoomDescriptor {
  const providers = room([]).providers.map((p) =>
    p.name === "acme"
      ? {
          ...p,
          datasets: [
            { name: "claims", stage1Method: "none", format: "parquet" },
            { name: "prices", stage1Method: "none", ...(pricesDisclosure ? { disclosure: pricesDisclosure } : {}) },
          ],
        }
      : p,
  );
  return room([], { codePolicy: "any-job", providers, ...overrides } as Partial<CleanRoomDescriptor>);
}

describe("executor: the disclosure step reads each input as its dataset declares it", function () {
  this.timeout(20_000);
  let parquet: Buffer;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "acr-exec-pq-"));
    try {
      const path = join(dir, "people.parquet");
      await withDuckdb({ threads: 1 }, async (sql) => {
        await sql(`COPY (${PEOPLE_SQL}) TO '${path}' (FORMAT parquet)`);
      });
      parquet = await readFile(path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  async function run(d: CleanRoomDescriptor, files: Record<string, string>, inputs: string[], census?: string): Promise<{ receipt: Receipt; released: string[] }> {
    const platform = new FakePlatform(OUTPUT_URI);
    const job = await stageJob(platform, d, { "main.py": writer(files) }, { inputs });
    await provision(platform, d, "acme", "claims", parquet);
    await provision(platform, d, "acme", "prices", census ?? "sku,price\na,3\n");
    await provision(platform, d, "beta", "visits", VISITS);
    const outcome = await runExecutor(platform, d, job.env);
    expect(outcome.committed).to.equal(true);
    const written = platform.committed().files;
    const receipt = JSON.parse(written.get("receipt.json")!.toString("utf8")) as Receipt;
    return { receipt, released: [...written.keys()].filter((k) => k.startsWith("outputs/")).sort() };
  }

  const rulesOf = (report: DisclosureReport | undefined) => Object.fromEntries((report?.outputs ?? []).map((o) => [o.path, o.findings.map((f) => [f.rule, f.cells ?? []])]));

  it("GIVEN a Parquet input and a CSV input WHEN the job releases a row of each THEN both outputs fail verbatim-rows on that line (the Parquet file read as Parquet), the other output does not", async () => {
    const d = roomWith({});
    const { receipt } = await run(
      d,
      {
        "people.txt": "summary of people\n2,Bob Stone,45,10002\n",
        "visits.txt": "summary of visits\nnone\n8,south,5\n",
        "total.txt": "3 people, 2 visits\n",
      },
      ["acme/claims", "beta/visits"],
    );
    expect(receipt.status, receipt.error).to.equal("succeeded");
    expect(receipt.inputs.map((i) => [i.provider, i.dataset, i.format])).to.deep.equal([
      ["acme", "claims", "parquet"],
      ["beta", "visits", undefined],
    ]);
    const rules = rulesOf(receipt.disclosure);
    expect(rules["people.txt"]).to.deep.include(["verbatim-rows", [1]]);
    expect(rules["visits.txt"]).to.deep.include(["verbatim-rows", [2]]);
    expect(rules["total.txt"]!.map(([rule]) => rule)).not.to.include("verbatim-rows");
    expect(receipt.disclosure!.verdict).to.equal("fail");
  });

  it("GIVEN a dataset declaring quasi-identifiers (zip, age) in an enforcing room WHEN the job releases a combination only one record has THEN unique-quasi-identifiers fails that line and every output is withheld", async () => {
    const d = roomWith({ output: { maxBytes: 1_000_000, requireRelease: true, disclosure: resolveOutputDisclosure({ mode: "enforce" }) } }, { quasiIdentifiers: ["zip", "age"] });
    const { receipt, released } = await run(d, { "ages.txt": "zip,age,n\n10001,34,2\n10003,29,1\n" }, ["acme/prices"], CENSUS);
    expect(receipt.status).to.equal("failed");
    expect(receipt.errorCode).to.equal("disclosure");
    expect(released).to.deep.equal([]);
    expect(receipt.disclosure!.policy.quasiIdentifiers).to.deep.equal({ "acme/prices": ["age", "zip"] });
    // The output is undeclared (unjudgeable: review); the quasi-identifier rule is what fails it.
    expect(Object.keys(rulesOf(receipt.disclosure))).to.deep.equal(["withheld-1"]);
    expect(rulesOf(receipt.disclosure)["withheld-1"]).to.deep.equal([
      ["unjudgeable", []],
      ["unique-quasi-identifiers", [2]],
    ]);
  });

  it("GIVEN the same dataset and release WITHOUT quasi-identifiers declared THEN nothing fails: the output is released", async () => {
    const d = roomWith({ output: { maxBytes: 1_000_000, requireRelease: true, disclosure: resolveOutputDisclosure({ mode: "enforce" }) } });
    const { receipt, released } = await run(d, { "ages.txt": "zip,age,n\n10001,34,2\n10003,29,1\n" }, ["acme/prices"], CENSUS);
    expect(receipt.status, receipt.error).to.equal("succeeded");
    expect(released).to.deep.equal(["outputs/ages.txt"]);
    expect(rulesOf(receipt.disclosure)["ages.txt"]!.map(([rule]) => rule)).not.to.include("unique-quasi-identifiers");
  });
});

/**
 * checkOutputs' limits on names and counts, each refused with a message that says which rule was broken (the job's
 * author reads it in `job status`) and never the name itself (chosen by code that read the data).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { MAX_OUTPUT_ENTRIES, MAX_OUTPUT_PATHS_BYTES, MAX_OUTPUT_PATH_BYTES, checkOutputs } from "../../src/runtime/executor/output-policy.js";

async function refusal(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(CleanRoomError);
    expect((err as CleanRoomError).code).to.equal("output-policy");
    return err as CleanRoomError;
  }
  throw new Error("accepted");
}

describe("executor/checkOutputs: names and counts", function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "output-names-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("GIVEN an output named with a backslash THEN refused, saying so, without the name", async () => {
    await writeFile(join(dir, "secret\\row-42.csv"), "x");
    const err = await refusal(checkOutputs(dir, 1000));
    expect(err.message).to.include("backslash").and.not.include("row-42");
  });

  it("GIVEN more than MAX_OUTPUT_ENTRIES outputs THEN refused, saying how many are allowed", async function () {
    this.timeout(180_000); // 10,001 files: over 30 s under Stryker's instrumentation on a loaded machine
    await Promise.all(Array.from({ length: MAX_OUTPUT_ENTRIES + 1 }, (_, i) => writeFile(join(dir, `f${i}`), "")));
    const err = await refusal(checkOutputs(dir, 1000));
    expect(err.message).to.include(`more than ${MAX_OUTPUT_ENTRIES} output files`);
  });

  it("GIVEN a path longer than MAX_OUTPUT_PATH_BYTES THEN refused, saying so", async () => {
    const deep = join(dir, ...Array.from({ length: 5 }, () => "d".repeat(200)));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, "f".repeat(30)), "x");
    const err = await refusal(checkOutputs(dir, 1000));
    expect(err.message).to.include(`longer than ${MAX_OUTPUT_PATH_BYTES} bytes`);
  });

  it("GIVEN paths that add up to more than MAX_OUTPUT_PATHS_BYTES THEN refused, saying so", async () => {
    const base = join(dir, ...Array.from({ length: 4 }, () => "d".repeat(200)));
    await mkdir(base, { recursive: true });
    const perFile = 804 + 200;
    const n = Math.ceil(MAX_OUTPUT_PATHS_BYTES / perFile) + 5;
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(base, `${String(i).padStart(5, "0")}${"f".repeat(194)}`), "")));
    const err = await refusal(checkOutputs(dir, 1000));
    expect(err.message).to.include(`add up to more than ${MAX_OUTPUT_PATHS_BYTES} bytes`);
  });
});

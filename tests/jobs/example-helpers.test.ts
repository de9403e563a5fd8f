/** The quickstart's safe-output jobs carry a copy of the job-author helper (a bundle holds only its own files): the same bytes as the library's. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";

const ROOT = join(__dirname, "..", "..");

describe("examples: the job-author helper copies", () => {
  it("GIVEN the quickstart jobs that write declared tables THEN their cleanroom_outputs.py is the library's (src/runtime/disclosure/helpers)", () => {
    const source = readFileSync(join(ROOT, "src", "runtime", "disclosure", "helpers", "cleanroom_outputs.py"), "utf8");
    for (const job of ["counts", "crosstab"]) {
      expect(readFileSync(join(ROOT, "examples", "quickstart", "jobs", job, "cleanroom_outputs.py"), "utf8"), `${job}: copy it again from src/runtime/disclosure/helpers`).to.equal(source);
    }
  });
});

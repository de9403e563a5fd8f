import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { renderReadme } from "../../scripts/cli-reference.js";

describe("README CLI reference", () => {
  it("GIVEN the commander definitions WHEN the reference is regenerated THEN README.md is unchanged (run `npm run docs:cli` if this fails)", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    expect(renderReadme(readme) === readme, "README.md CLI reference is stale: run `npm run docs:cli`").to.equal(true);
  });
});

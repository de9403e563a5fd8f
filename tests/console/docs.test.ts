/** docs/console.md must not drift from the CLI: every `cleanroom` line parses against the real command tree. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { checkCleanroomArgs } from "../docs/cli-check.js";
import { bashBlocks, invocations } from "../docs/markdown.js";
import { ROOT } from "./room.js";

describe("console: docs/console.md", () => {
  it("GIVEN docs/console.md WHEN its cleanroom lines are parsed against the CLI THEN each parses, and the console is started in it", () => {
    const file = "docs/console.md";
    const lines = bashBlocks(file, readFileSync(join(ROOT, file), "utf8"))
      .flatMap((b) => invocations(b))
      .filter((i) => i.tool === "cleanroom");
    expect(lines.map((i) => checkCleanroomArgs(i.args).path)).to.include("cleanroom console");
    for (const i of lines) expect(checkCleanroomArgs(i.args).problems, `${file}:${i.line}: ${i.text}`).to.deep.equal([]);
  });
});

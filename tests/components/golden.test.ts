import { expect } from "chai";
import { UPDATE_GOLDEN_COMMAND, goldenText, readGolden } from "./golden.js";
import { EXAMPLES } from "./harness.js";

/** Lines around the first difference, so the failure shows what changed. */
function firstDifference(want: string, got: string): string {
  const a = want.split("\n");
  const b = got.split("\n");
  const i = a.findIndex((line, k) => line !== b[k]);
  const at = i === -1 ? Math.min(a.length, b.length) : i;
  return `line ${at + 1}:\n  golden:  ${a[at] ?? "<end>"}\n  current: ${b[at] ?? "<end>"}`;
}

describe("components: golden plans of the examples", function () {
  this.timeout(60_000);
  for (const example of Object.keys(EXAMPLES)) {
    it(`GIVEN examples/${example} WHEN mock-run THEN its plan equals tests/golden/${example}.json`, async () => {
      const current = await goldenText(example);
      const golden = readGolden(example);
      const hint = `tests/golden/${example}.json is stale or missing: run \`${UPDATE_GOLDEN_COMMAND}\` and review the diff`;
      expect(golden, hint).to.be.a("string");
      if (current !== golden) expect.fail(`${hint}\nfirst difference at ${firstDifference(golden!, current)}`);
    });
  }
});

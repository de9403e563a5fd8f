/**
 * `npm run preview -- <program>`: a platform engineer sees the plan and the guardrails' verdicts without a cloud
 * account. Every example passes; a program with a seeded violation fails, through the real npm script.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";
import { previewProgram } from "../../scripts/preview.js";
import { EXAMPLES, REPO_ROOT } from "../components/harness.js";

const SEEDED = join(__dirname, "fixtures", "seeded-program");

describe("npm run preview: the plan and the pack's verdicts, no cloud account", function () {
  this.timeout(120_000);

  for (const example of Object.keys(EXAMPLES)) {
    it(`GIVEN examples/${example} WHEN previewed THEN it lists the resources with key inputs and zero violations`, async () => {
      const r = await previewProgram(join(REPO_ROOT, "examples", example));
      expect(r.violations, r.text).to.deep.equal([]);
      expect(r.text).to.match(/mocked: nothing was deployed/).and.match(/0 mandatory violation\(s\)/);
      // Every custom resource is listed with its type and name, and pool providers with their condition.
      const custom = r.run.resources.filter((x) => x.custom);
      for (const x of custom) expect(r.text).to.include(`+ ${x.type}  ${x.name}`);
      expect(r.text).to.match(/attributeCondition: assertion\.swname == 'CONFIDENTIAL_SPACE'/);
    });
  }

  it("GIVEN a program with a seeded project-wide objectViewer WHEN previewed in-process THEN the violation is named", async () => {
    const r = await previewProgram(SEEDED);
    expect(r.violations).to.have.length(1);
    expect(r.violations[0]).to.match(/^project-iam-least-privilege seeded-read-everything: .*roles\/storage\.objectViewer/);
  });

  it("GIVEN the seeded program WHEN `npm run preview` runs THEN it prints the plan and the verdict and exits 1", () => {
    const r = spawnSync("npm", ["run", "--silent", "preview", "--", SEEDED], { cwd: REPO_ROOT, encoding: "utf8", timeout: 110_000 });
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/\+ gcp:projects\/iAMMember:IAMMember {2}seeded-read-everything/);
    expect(r.stdout).to.match(/✗ project-iam-least-privilege seeded-read-everything/);
  });
});

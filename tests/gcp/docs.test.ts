/**
 * docs/gcp-runtime.md must not drift from the CLI: every `cleanroom …` line in its bash blocks parses against the real
 * commander tree (subcommand, options, required options and arguments), and the metadata keys and labels it
 * documents are the ones the runtime sends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { EXECUTOR_ENV_OVERRIDES } from "../../src/core/executor-env.js";
import { IMAGE_REFERENCE_KEY, LABELS, TEE_ENV_PREFIX } from "../../src/runtime/platforms/gcp/index.js";
import { checkCleanroomArgs } from "../docs/cli-check.js";
import { bashBlocks, invocations } from "../docs/markdown.js";

const FILE = "docs/gcp-runtime.md";
const text = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

describe("gcp/docs: docs/gcp-runtime.md", () => {
  it("GIVEN its bash blocks THEN every cleanroom line parses against the real CLI", () => {
    const lines = bashBlocks(FILE, text).flatMap((b) => invocations(b)).filter((i) => i.tool === "cleanroom");
    expect(lines.length).to.be.greaterThan(6);
    const problems = lines.flatMap((i) => checkCleanroomArgs(i.args).problems.map((p) => `${FILE}:${i.line}: ${p}`));
    expect(problems).to.deep.equal([]);
  });

  it("GIVEN the metadata and label tables THEN they list exactly what the runtime sends", () => {
    for (const k of [IMAGE_REFERENCE_KEY, ...EXECUTOR_ENV_OVERRIDES.map((e) => `${TEE_ENV_PREFIX}${e}`), ...Object.values(LABELS)]) {
      expect(text, k).to.include(`| \`${k}\` |`);
    }
    const documented = [...text.matchAll(/^\| `(tee-env-[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).to.deep.equal(EXECUTOR_ENV_OVERRIDES.map((e) => `${TEE_ENV_PREFIX}${e}`).sort());
  });
});

describe("gcp/docs: docs/gcp-runtime.md on whose condition opens a key", () => {
  it("GIVEN the executor's credentials step THEN it exchanges the token at each provider's own pool and names admittedBy, not one pool for storage and KMS", () => {
    const step = /2\. \*\*Credentials\*\*[\s\S]*?\n3\. /.exec(text)?.[0] ?? "";
    expect(step).to.include("provider's own pool").and.include("poolProviderName").and.include("admittedBy");
    expect(step).to.not.match(/Storage and KMS both use it/);
  });
});

import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { expect } from "chai";
import { DataCleanRoom } from "../../src/components/index.js";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "./harness.js";

/**
 * The package as the analyzer sees it: entry `src/index.ts` (which re-exports the component types), but a tsconfig
 * that roots only that entry instead of every test and example, so the analysis takes seconds, not a minute.
 */
const SCHEMA_PACKAGE = path.join(__dirname, "fixtures", "schema-package");

interface SchemaProperty {
  readonly type?: string;
  readonly $ref?: string;
  readonly description?: string;
}
interface Schema {
  readonly resources: Record<string, { inputProperties: Record<string, SchemaProperty>; requiredInputs: string[]; properties: Record<string, SchemaProperty> }>;
  readonly types: Record<string, { properties?: Record<string, SchemaProperty> }>;
}

describe("components: Pulumi schema analyzer over the package", function () {
  it("GIVEN the repository root WHEN read THEN PulumiPlugin.yaml declares a nodejs source-based component package", () => {
    const plugin = readFileSync(path.join(REPO_ROOT, "PulumiPlugin.yaml"), "utf8");
    expect(plugin).to.match(/^runtime:\s*nodejs\s*$/m);
  });

  // The analyzer type-checks the package's sources (~7 s on an idle 2-core machine).
  this.timeout(120_000);

  it("GIVEN the package sources WHEN ComponentProvider infers the schema THEN DataCleanRoom and its inputs are there, documented", async () => {
    const provider = new ComponentProvider({ components: [DataCleanRoom], name: "cleanroom", dirname: SCHEMA_PACKAGE, version: "0.1.0" });
    const schema = JSON.parse(await provider.getSchema()) as Schema;
    const room = schema.resources["cleanroom:index:DataCleanRoom"];
    expect(room, Object.keys(schema.resources).join(", ")).to.not.equal(undefined);
    expect(room!.inputProperties).to.include.keys("providers", "codePolicy", "attestation", "output", "project", "region", "zone", "executor", "sandbox", "confidentialVm", "network", "storage");
    expect(room!.requiredInputs.sort()).to.deep.equal(["executor", "project", "providers", "region"]);
    expect(room!.inputProperties.codePolicy!.description).to.match(/"approved-jobs"/);
    expect(room!.properties).to.include.keys("descriptorJson", "imageDigest", "condition");
    expect(schema.types["cleanroom:index:ProviderSpec"]!.properties).to.include.keys("name", "project", "datasets", "approvedJobs");
    expect(schema.types["cleanroom:index:SandboxOptions"]!.properties).to.include.keys("github", "google", "insecureDummyAuthenticator");
  });
});

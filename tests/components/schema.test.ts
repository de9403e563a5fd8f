/**
 * Multi-language for real: the plugin entry PulumiPlugin.yaml names is started the way Pulumi's Node.js language host
 * starts it (`node @pulumi/pulumi/cmd/run-plugin <plugin directory>`, from the git checkout, no build), and asked for
 * its schema over its own gRPC server (`ResourceProvider.GetSchema`), as `pulumi package add` does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { REPO_ROOT } from "./harness.js";

interface SchemaProperty {
  readonly type?: string;
  readonly $ref?: string;
  readonly description?: string;
}
interface Schema {
  readonly name: string;
  readonly resources: Record<string, { isComponent?: boolean; inputProperties: Record<string, SchemaProperty>; requiredInputs: string[]; properties: Record<string, SchemaProperty> }>;
  readonly types: Record<string, { properties?: Record<string, SchemaProperty> }>;
}

/** The plugin directory PulumiPlugin.yaml points the language host at. */
function pluginDirectory(): string {
  const yaml = readFileSync(path.join(REPO_ROOT, "PulumiPlugin.yaml"), "utf8");
  expect(yaml).to.match(/^runtime:\s*nodejs\s*$/m);
  const main = /^main:\s*(\S+)\s*$/m.exec(yaml)?.[1];
  return path.join(REPO_ROOT, main ?? ".");
}

/** Starts the plugin like the language host and resolves with the port it prints. */
function startPlugin(dir: string): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const runPlugin = path.dirname(require.resolve("@pulumi/pulumi/cmd/run-plugin/index.js"));
  const child = spawn(process.execPath, [runPlugin, dir], { cwd: dir, env: { ...process.env, PULUMI_NODEJS_TYPESCRIPT: "true" }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
    child.once("exit", (code) => reject(new Error(`the plugin exited ${code} before listening:\n${out}\n${err}`)));
  });
}

describe("components: the real plugin entry serves the package schema", function () {
  // GetSchema's analyzer builds a TypeScript program of the package (all of @pulumi/gcp's typings): tens of seconds on a
  // shared 2-core machine.
  this.timeout(180_000);
  let schema: Schema;

  before(async () => {
    const { child, port, stderr } = await startPlugin(pluginDirectory());
    try {
      const { ResourceProviderClient } = require("@pulumi/pulumi/proto/provider_grpc_pb") as {
        ResourceProviderClient: new (addr: string, creds: grpc.ChannelCredentials) => {
          getSchema(req: unknown, cb: (err: Error | null, res: { getSchema(): string }) => void): void;
          close(): void;
        };
      };
      const { GetSchemaRequest } = require("@pulumi/pulumi/proto/provider_pb") as { GetSchemaRequest: new () => unknown };
      const client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const text = await new Promise<string>((resolve, reject) =>
        client.getSchema(new GetSchemaRequest(), (err, res) => (err ? reject(new Error(`${err.message}\n${stderr()}`)) : resolve(res.getSchema()))),
      );
      client.close();
      schema = JSON.parse(text) as Schema;
    } finally {
      child.kill();
    }
  });

  it("GIVEN the plugin WHEN asked for its schema THEN the package is `cleanroom`, like the components' type tokens", () => {
    expect(schema.name).to.equal("cleanroom");
    expect(Object.keys(schema.resources).sort()).to.deep.equal(["cleanroom:index:DataCleanRoom", "cleanroom:index:DataProvider"]);
  });

  it("GIVEN the schema WHEN read THEN DataCleanRoom's inputs and outputs are there, documented", () => {
    const room = schema.resources["cleanroom:index:DataCleanRoom"]!;
    expect(room.inputProperties).to.include.keys("providers", "externalProviders", "codePolicy", "attestation", "output", "project", "region", "zone", "executor", "sandbox", "confidentialVm", "network", "storage", "vpcServiceControls", "protectKeys");
    expect(room.requiredInputs.sort()).to.deep.equal(["executor", "project", "region"]);
    expect(room.inputProperties.codePolicy!.description).to.match(/"approved-jobs"/);
    expect(room.properties).to.include.keys("descriptorJson", "imageDigest", "condition", "workloadServiceAccount", "quarantineUri");
    expect(schema.types["cleanroom:index:ProviderSpec"]!.properties).to.include.keys("name", "project", "datasets", "approvedJobs", "attestation");
    expect(schema.types["cleanroom:index:ExternalProviderArgs"]!.properties).to.include.keys("name", "published");
  });

  it("GIVEN the schema WHEN read THEN DataProvider can be deployed on its own from another language, publishing what the room reads", () => {
    const provider = schema.resources["cleanroom:index:DataProvider"]!;
    expect(provider.requiredInputs.sort()).to.deep.equal(["datasets", "project", "providerName", "region", "room"]);
    expect(provider.properties).to.include.keys("publishedJson", "poolProviderName", "condition", "keyName", "dataUri");
    expect(schema.types["cleanroom:index:ProviderRoomArgs"]!.properties).to.include.keys("executorImageDigest", "project", "namePrefix");
  });
});

describe("components: the plugin entry compiles the package's sources itself", function () {
  this.timeout(120_000);
  let pkg: string;

  before(() => {
    // A package laid out like this repository: PulumiPlugin.yaml's plugin/ (the REAL entry file, copied) loading a
    // component from ../src, with this checkout's dependencies beside it.
    pkg = mkdtempSync(path.join(tmpdir(), "acr-plugin-"));
    mkdirSync(path.join(pkg, "plugin"));
    mkdirSync(path.join(pkg, "src"));
    copyFileSync(path.join(REPO_ROOT, "plugin", "index.js"), path.join(pkg, "plugin", "index.js"));
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(pkg, "node_modules"), "dir");
    const compilerOptions = { module: "node20", moduleResolution: "nodenext", target: "ES2022", strict: true, rootDir: ".", types: ["node"] };
    writeFileSync(path.join(pkg, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src/**/*.ts", "plugin/**/*.ts"] }));
    writeFileSync(path.join(pkg, "plugin", "tsconfig.json"), JSON.stringify({ extends: "../tsconfig.json", include: ["index.ts"] }));
    writeFileSync(path.join(pkg, "plugin", "package.json"), JSON.stringify({ name: "fixture", version: "0.0.1", main: "index.js" }));
    writeFileSync(path.join(pkg, "plugin", "index.ts"), 'export { Widget } from "../src/widget.js";\n');
    writeFileSync(
      path.join(pkg, "src", "widget.ts"),
      [
        'import * as pulumi from "@pulumi/pulumi";',
        "// A type error: only a type-checking compiler refuses it (the repository's npm test would; the plugin does not).",
        'export const notANumber: number = "forty-two" as unknown as string;',
        "export interface WidgetArgs { readonly size: number }",
        "export class Widget extends pulumi.ComponentResource {",
        "  constructor(name: string, args: WidgetArgs, opts?: pulumi.ComponentResourceOptions) {",
        '    super("fixture:index:Widget", name, args, opts);',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });
  after(() => rmSync(pkg, { recursive: true, force: true }));

  it("GIVEN package sources with a type error WHEN the entry starts under the language host's type-checking ts-node THEN only the entry's transpile-only compiler sees them and the plugin serves (each start used to type-check the package over all of @pulumi/gcp's typings)", async () => {
    const { child } = await startPlugin(path.join(pkg, "plugin"));
    child.kill();
  });
});

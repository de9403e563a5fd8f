/**
 * End to end over the analyzer's gRPC interface, without the Pulumi CLI: the pack's `index.ts` runs in a child
 * process exactly as `pulumi preview --policy-pack` would start it (ts-node, cwd = the pack directory), prints its
 * port, and answers GetAnalyzerInfo / Configure / Analyze / AnalyzeStack. The violations must be the ones the unit
 * path reports for the same resources.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as pb from "@pulumi/pulumi/proto/analyzer_pb";
import { expect } from "chai";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { PACK_NAME, allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import { broken, dataBucket, decrypterMember, happyStack, pool, poolProvider, projectIamMember } from "./fixtures/happy.js";
import { manateeResources } from "./fixtures/manatee.js";
import { type PackViolation, type PlannedResource, UNKNOWN_STRING, runPack, sortViolations, urnOf } from "./helpers.js";

const PACK_DIR = path.resolve(__dirname, "../../policy-packs/cleanroom-guardrails");

/** Starts the pack and resolves with its port (the first stdout line that is a number). */
function startPack(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "index.ts"], {
      cwd: PACK_DIR,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`the pack did not print a port within 30 s: ${out}${err}`)), 30_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the pack exited (${code}) before serving: ${out}${err}`));
    });
  });
}

function call<Req, Res>(fn: (req: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

function analyzerResource(r: PlannedResource, urnByName: ReadonlyMap<string, string>): pb.AnalyzerResource {
  const res = new pb.AnalyzerResource()
    .setType(r.type)
    .setName(r.name)
    .setUrn(r.urn ?? urnOf(r.type, r.name))
    .setProperties(Struct.fromJavaScript(r.props as Record<string, never>))
    .setOptions(new pb.AnalyzerResourceOptions());
  for (const [prop, names] of Object.entries(r.propertyDependencies ?? {})) {
    const deps = new pb.AnalyzerPropertyDependencies().setUrnsList(names.map((n) => urnByName.get(n) ?? n));
    res.getPropertydependenciesMap().set(prop, deps);
  }
  return res;
}

interface Diagnosed extends PackViolation {
  readonly level: pb.EnforcementLevel;
}

describe("policy pack: cleanroom-guardrails over gRPC (child process)", function () {
  this.timeout(60_000);
  let child: ChildProcess | undefined;
  let client: AnalyzerClient;

  /** Analyze every resource, then AnalyzeStack over all of them, as the engine does. */
  async function analyzeAll(resources: readonly PlannedResource[]): Promise<Diagnosed[]> {
    const out: Diagnosed[] = [];
    const nameOfUrn = new Map(resources.map((r) => [r.urn ?? urnOf(r.type, r.name), r.name]));
    const collect = (resp: pb.AnalyzeResponse, fallback: string) => {
      for (const d of resp.getDiagnosticsList()) {
        out.push({
          policy: d.getPolicyname(),
          resource: nameOfUrn.get(d.getUrn()) ?? fallback,
          message: d.getMessage(),
          level: d.getEnforcementlevel(),
        });
      }
    };
    for (const r of resources) {
      const req = new pb.AnalyzeRequest()
        .setType(r.type)
        .setName(r.name)
        .setUrn(r.urn ?? urnOf(r.type, r.name))
        .setProperties(Struct.fromJavaScript(r.props as Record<string, never>))
        // Without options the server answers "A more recent version of the Pulumi CLI is required".
        .setOptions(new pb.AnalyzerResourceOptions());
      collect(await call(client.analyze.bind(client), req), r.name);
    }
    const urnByName = new Map(resources.map((r) => [r.name, r.urn ?? urnOf(r.type, r.name)]));
    const stackReq = new pb.AnalyzeStackRequest().setResourcesList(resources.map((r) => analyzerResource(r, urnByName)));
    collect(await call(client.analyzeStack.bind(client), stackReq), "(stack)");
    return out;
  }

  const descriptions = new Map(allPolicies.map((p) => [p.name, p.description]));
  /** The server sends `<policy description>\n<violation message>`; keep the violation message (and check the rest). */
  const withoutLevel = (ds: Diagnosed[]): PackViolation[] =>
    sortViolations(
      ds.map(({ policy, resource, message }) => {
        const prefix = `${descriptions.get(policy)}\n`;
        expect(message.startsWith(prefix), message).to.equal(true);
        return { policy, resource, message: message.slice(prefix.length) };
      }),
    );

  before(async () => {
    const started = await startPack();
    child = started.child;
    client = new AnalyzerClient(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client?.close();
    if (child?.pid !== undefined && child.exitCode === null) child.kill("SIGTERM");
  });

  it("GIVEN the running pack WHEN asked for its info THEN it names every policy of allPolicies and the package version", async () => {
    const info = await call<Empty, pb.AnalyzerInfo>(client.getAnalyzerInfo.bind(client), new Empty());
    expect(info.getName()).to.equal(PACK_NAME);
    expect(info.getVersion()).to.equal("0.1.0");
    expect(info.getPoliciesList().map((p) => p.getName())).to.deep.equal(allPolicies.map((p) => p.name));
  });

  it("GIVEN the ManaTEE fixture WHEN analyzed over gRPC THEN the violations equal the unit path's, all mandatory", async () => {
    const resources = manateeResources();
    const overGrpc = await analyzeAll(resources);
    expect(withoutLevel(overGrpc)).to.deep.equal(await runPack(allPolicies, resources));
    expect(overGrpc.length).to.be.greaterThan(0);
    expect(new Set(overGrpc.map((d) => d.level))).to.deep.equal(new Set([pb.EnforcementLevel.MANDATORY]));
  });

  it("GIVEN a compliant stack WHEN analyzed over gRPC THEN no violation", async () => {
    expect(await analyzeAll(happyStack())).to.deep.equal([]);
  });

  it("GIVEN preview unknowns on the wire WHEN analyzed THEN CMEK-unknown passes, an unknown objectAdmin member fails closed, and rule 7 follows the pool dependency", async () => {
    const resources: PlannedResource[] = [
      broken(dataBucket(), "encryption.defaultKmsKeyName", UNKNOWN_STRING),
      broken(broken(projectIamMember(), "role", "roles/storage.objectAdmin"), "member", UNKNOWN_STRING),
      pool(),
      broken(poolProvider(), "attributeCondition", "assertion.swname == 'CONFIDENTIAL_SPACE'"),
      { ...broken(decrypterMember(), "member", UNKNOWN_STRING), propertyDependencies: { member: [pool().name] } },
    ];
    const ds = withoutLevel(await analyzeAll(resources));
    expect(ds).to.deep.equal(await runPack(allPolicies, resources));
    expect(ds.map((d) => `${d.policy} ${d.resource}`)).to.deep.equal([
      "attestation-condition-strict room-attestation",
      "project-iam-least-privilege workload-user",
      "provider-keys-attestation-gated acme-decrypt-job",
    ]);
  });

  it("GIVEN a policy configured as advisory WHEN analyzed THEN its violations come back advisory; others stay mandatory", async () => {
    const req = new pb.ConfigureAnalyzerRequest();
    const level = (l: pb.EnforcementLevel) => new pb.PolicyConfig().setEnforcementlevel(l).setProperties(Struct.fromJavaScript({}));
    req.getPolicyconfigMap().set("gke-sandbox-hardened", level(pb.EnforcementLevel.ADVISORY));
    req.getPolicyconfigMap().set("storage-bucket-hardened", level(pb.EnforcementLevel.DISABLED));
    await call(client.configure.bind(client), req);
    try {
      const ds = await analyzeAll(manateeResources());
      const levels = new Map(ds.map((d) => [d.policy, d.level]));
      expect(levels.get("gke-sandbox-hardened")).to.equal(pb.EnforcementLevel.ADVISORY);
      expect(levels.get("project-iam-least-privilege")).to.equal(pb.EnforcementLevel.MANDATORY);
      expect(levels.has("storage-bucket-hardened")).to.equal(false);
    } finally {
      await call(client.configure.bind(client), new pb.ConfigureAnalyzerRequest());
    }
  });
});

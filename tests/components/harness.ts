/**
 * Runs a Pulumi program under `setMocks` and returns every resource it registered, with its inputs.
 *
 * The mock answers like GCP would (deterministic ids, names, emails, self links, project numbers) so IAM member
 * strings and the descriptor are checkable; it throws on any invoke it does not know, and `runProgramUnderMocks`
 * fails when a program leaves an error behind (a rejected output, an unknown invoke) instead of passing silently.
 * Reused by the golden-file test, the policy-pack tests and the benchmark.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/** One registered resource. */
export interface RecordedResource {
  /** Type token, e.g. `gcp:storage/bucket:Bucket`. */
  readonly type: string;
  /** Logical name. */
  readonly name: string;
  /** URN (encodes the parent chain). */
  readonly urn: string;
  /** Inputs as the program sent them (secrets unwrapped as `{ secret: value }`). */
  readonly inputs: Record<string, unknown>;
  /** The mock id (undefined for components). */
  readonly id?: string;
  /** URNs this resource depends on (explicit `dependsOn` and the resources its inputs came from), as the engine sees them. */
  readonly dependencies: readonly string[];
  /** The provider reference it was registered with (`<provider urn>::<id>`), when not the default provider. */
  readonly provider?: string;
  /** Whether it was registered with `protect`. */
  readonly protect: boolean;
  /** True for custom resources, false for components and providers' parents. */
  readonly custom: boolean;
}

/** What a mocked run produced. */
export interface MockRun {
  readonly resources: RecordedResource[];
  /** The program's return value (e.g. its module exports) with every Output resolved. */
  readonly outputs: unknown;
  /** The order in which registrations and invokes completed (`register <type>::<name>`, `invoke <token>`). */
  readonly timeline: readonly string[];
}

/** The parts of a RegisterResourceRequest the harness reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
  getProvider(): string;
  getProtect(): boolean | undefined;
  getPropertydependenciesMap(): { entries(): Iterable<[string, { getUrnsList(): string[] }]> };
}

/** Options of a mocked run. */
export interface MockRunOptions {
  /** Pulumi project name (the namespace of un-prefixed config keys). @default "cleanroom-test" */
  readonly project?: string;
  /** Stack name. @default "test" */
  readonly stack?: string;
  /** Configuration as `namespace:key` → value. @default {} */
  readonly config?: Record<string, string>;
  /** Outputs of other stacks, by stack name, for `pulumi.StackReference`s. @default {} */
  readonly stacks?: Record<string, Record<string, unknown>>;
  /** Types whose registration the mock answers this many milliseconds late (to show what waits for them). @default {} */
  readonly slowTypes?: Record<string, number>;
}

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** A deterministic 12-digit project number for a project id. */
export function projectNumberOf(projectId: string): string {
  const n = BigInt(`0x${createHash("sha256").update(projectId).digest("hex").slice(0, 15)}`) % 900_000_000_000n;
  return String(100_000_000_000n + n);
}

function str(v: unknown, fallback: string): string {
  return typeof v === "string" && v.length > 0 ? v : fallback;
}

/** Deterministic id and output state for a resource, shaped like the real provider's. */
export function mockState(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  const project = str(inputs.project, "mock-project");
  const state: Record<string, unknown> = { ...inputs };
  let id = `${name}-id`;
  switch (type) {
    case "gcp:storage/bucket:Bucket": {
      const bucket = str(inputs.name, `${name}-physical`);
      Object.assign(state, { name: bucket, url: `gs://${bucket}`, selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}` });
      id = bucket;
      break;
    }
    case "gcp:kms/keyRing:KeyRing":
      id = `projects/${project}/locations/${str(inputs.location, "global")}/keyRings/${str(inputs.name, name)}`;
      break;
    case "gcp:kms/cryptoKey:CryptoKey":
      id = `${str(inputs.keyRing, "projects/x/locations/global/keyRings/x")}/cryptoKeys/${str(inputs.name, name)}`;
      break;
    case "gcp:serviceaccount/account:Account": {
      const email = `${str(inputs.accountId, name)}@${project}.iam.gserviceaccount.com`;
      id = `projects/${project}/serviceAccounts/${email}`;
      Object.assign(state, { email, name: id, member: `serviceAccount:${email}`, uniqueId: projectNumberOf(email) });
      break;
    }
    case "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
      id = `projects/${projectNumberOf(project)}/locations/global/workloadIdentityPools/${str(inputs.workloadIdentityPoolId, name)}`;
      state.name = id;
      break;
    case "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
      id = `projects/${projectNumberOf(project)}/locations/global/workloadIdentityPools/${str(inputs.workloadIdentityPoolId, "pool")}/providers/${str(inputs.workloadIdentityPoolProviderId, name)}`;
      state.name = id;
      break;
    case "gcp:compute/instanceTemplate:InstanceTemplate": {
      const tname = `${str(inputs.namePrefix, `${name}-`)}00000000000000000000000001`;
      id = `projects/${project}/global/instanceTemplates/${tname}`;
      Object.assign(state, { name: tname, selfLink: `https://www.googleapis.com/compute/v1/${id}`, selfLinkUnique: `https://www.googleapis.com/compute/v1/${id}?uniqueId=1` });
      break;
    }
    case "gcp:compute/network:Network":
      id = `projects/${project}/global/networks/${str(inputs.name, name)}`;
      Object.assign(state, { name: str(inputs.name, name), selfLink: `https://www.googleapis.com/compute/v1/${id}` });
      break;
    case "gcp:compute/subnetwork:Subnetwork":
      id = `projects/${project}/regions/${str(inputs.region, "r")}/subnetworks/${str(inputs.name, name)}`;
      Object.assign(state, { name: str(inputs.name, name), selfLink: `https://www.googleapis.com/compute/v1/${id}` });
      break;
    case "gcp:artifactregistry/repository:Repository":
      id = `projects/${project}/locations/${str(inputs.location, "us")}/repositories/${str(inputs.repositoryId, name)}`;
      state.name = str(inputs.repositoryId, name);
      break;
    case "gcp:container/cluster:Cluster":
      id = `projects/${project}/locations/${str(inputs.location, "r")}/clusters/${str(inputs.name, name)}`;
      Object.assign(state, {
        name: str(inputs.name, name),
        endpoint: "34.0.0.2",
        // GKE gives every private cluster an internal control-plane address as well.
        privateClusterConfig: { ...(inputs.privateClusterConfig as Record<string, unknown> | undefined), privateEndpoint: "10.0.0.2" },
        masterAuth: { clusterCaCertificate: Buffer.from("mock-ca").toString("base64") },
      });
      break;
    case "gcp:dns/managedZone:ManagedZone":
      state.name = str(inputs.name, name);
      break;
    case "gcp:compute/router:Router":
      state.name = str(inputs.name, name);
      break;
    case "random:index/randomId:RandomId": {
      // Deterministic under mocks (golden plans); random in a real deployment, and kept in the stack's state.
      const hex = createHash("sha256").update(name).digest("hex").slice(0, 2 * Number(inputs.byteLength ?? 4));
      Object.assign(state, { hex, b64Std: Buffer.from(hex, "hex").toString("base64"), b64Url: Buffer.from(hex, "hex").toString("base64url"), dec: BigInt(`0x${hex}`).toString() });
      id = hex;
      break;
    }
    case "gcp:projects/iAMCustomRole:IAMCustomRole":
      id = `projects/${project}/roles/${str(inputs.roleId, name)}`;
      state.name = id;
      break;
    case "docker:index/image:Image": {
      const imageName = str(inputs.imageName, name);
      const repo = imageName.replace(/:[^/:]+$/, "");
      // From the repository, not the tag: the default tag is the build context's hash, which any edit of the sources
      // changes, and golden plans must not churn with it.
      const digest = `sha256:${createHash("sha256").update(repo).digest("hex")}`;
      Object.assign(state, { repoDigest: `${repo}@${digest}`, baseImageName: imageName });
      id = `${repo}@${digest}`;
      break;
    }
    default:
      break;
  }
  return { id, state };
}

/** Answers of the invokes the components use; anything else is an error. */
export function mockCall(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (token) {
    case "gcp:organizations/getProject:getProject": {
      const projectId = str(inputs.projectId, "mock-project");
      return { projectId, number: projectNumberOf(projectId), name: projectId, id: `projects/${projectId}` };
    }
    case "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": {
      const project = str(inputs.project, "mock-project");
      return { project, emailAddress: `service-${projectNumberOf(project)}@gs-project-accounts.iam.gserviceaccount.com`, id: project };
    }
    default:
      throw new Error(`unexpected invoke ${token}: add a realistic answer to mockCall in tests/components/harness.ts`);
  }
}

interface MockMonitorLike {
  getRegisteredResources(): Map<string, { urn: string; id: string | null }>;
}

function isMockMonitor(m: unknown): m is MockMonitorLike {
  return typeof (m as { getRegisteredResources?: unknown } | undefined)?.getRegisteredResources === "function";
}

type WaitForRpcs = () => Promise<void>;

function waitForRpcs(): WaitForRpcs {
  // Internal but stable since 3.x: the same barrier `pulumi` uses before it disconnects.
  const settings: { waitForRPCs?: unknown } = require("@pulumi/pulumi/runtime/settings");
  if (typeof settings.waitForRPCs !== "function") throw new Error("@pulumi/pulumi/runtime/settings.waitForRPCs is gone: update the harness");
  return settings.waitForRPCs as WaitForRpcs;
}

/** Resolves every Output inside a value (objects, arrays), so errors inside `apply` surface here. */
export async function resolveOutputs(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    // `promise()` is internal to @pulumi/pulumi but it is the only way that also rejects when an apply threw.
    const promise = (value as unknown as { promise?: () => Promise<unknown> }).promise;
    if (typeof promise !== "function") throw new Error("Output.promise is gone: update the harness");
    return resolveOutputs(await promise.call(value));
  }
  if (value instanceof pulumi.Resource) return value;
  if (Array.isArray(value)) return Promise.all(value.map(resolveOutputs));
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolveOutputs(v);
    return out;
  }
  return value;
}

let running = false;

/**
 * Installs fresh mocks, runs `program`, waits until every registration and output settled, and returns every
 * registered resource. Throws when the program failed, an unknown invoke was made, an output rejected, or a custom
 * resource came back without an id (which would mean the mocks were not in effect).
 */
export async function runProgramUnderMocks(program: () => unknown, options: MockRunOptions = {}): Promise<MockRun> {
  if (running) throw new Error("runProgramUnderMocks is not re-entrant: await the previous run");
  running = true;
  const recorded: Array<{ type: string; name: string; inputs: Record<string, unknown>; id: string | undefined; custom: boolean }> = [];
  /** `type::name` → dependency URNs, captured from the registration requests themselves. */
  const dependencies = new Map<string, string[]>();
  const registration = new Map<string, { provider: string; protect: boolean }>();
  /** Completion order of registrations and invokes (`register <type>::<name>`, `invoke <token>`). */
  const timeline: string[] = [];
  const errors: unknown[] = [];
  const onRejection = (err: unknown) => errors.push(err);
  process.on("unhandledRejection", onRejection);
  // @pulumi/pulumi captures `new Error().stack` for every internal promise, and ts-node source-maps each one: with
  // full stacks that is most of a mocked run's CPU time. One frame keeps the runs fast; messages stay complete.
  const stackTraceLimit = Error.stackTraceLimit;
  const previousConfig = pulumi.runtime.allConfig();
  Error.stackTraceLimit = 1;
  try {
    pulumi.runtime.setAllConfig(options.config ?? {});
    await pulumi.runtime.setMocks(
      {
        async newResource(args: pulumi.runtime.MockResourceArgs) {
          let answer: { id: string | undefined; state: Record<string, unknown> };
          if (args.type === "pulumi:pulumi:StackReference") {
            const stack = String(args.inputs.name);
            const outputs = options.stacks?.[stack];
            if (!outputs) {
              const err = new Error(`unknown stack reference ${stack}: give its outputs in MockRunOptions.stacks (known: ${Object.keys(options.stacks ?? {}).join(", ") || "none"})`);
              errors.push(err);
              throw err;
            }
            answer = { id: stack, state: { name: stack, outputs, secretOutputNames: [] } };
          } else {
            answer = args.custom ? mockState(args.type, args.name, args.inputs) : { id: undefined, state: args.inputs };
          }
          recorded.push({ type: args.type, name: args.name, inputs: args.inputs, id: answer.id, custom: args.custom ?? false });
          const delay = options.slowTypes?.[args.type];
          if (delay !== undefined) await new Promise((r) => setTimeout(r, delay));
          timeline.push(`register ${args.type}::${args.name}`);
          return { id: answer.id ?? "", state: answer.state };
        },
        call(args: pulumi.runtime.MockCallArgs) {
          try {
            const result = mockCall(args.token, args.inputs);
            timeline.push(`invoke ${args.token}`);
            return result;
          } catch (err) {
            errors.push(err);
            throw err;
          }
        },
      },
      options.project ?? "cleanroom-test",
      options.stack ?? "test",
      false,
    );
    const monitor = pulumi.runtime.getMonitor();
    if (!isMockMonitor(monitor)) throw new Error("setMocks did not install the mock monitor");
    // The mocks never see a registration's dependencies: read them from the request the SDK sends.
    const mm = monitor as unknown as { registerResource: (req: RegisterRequest, cb: unknown) => unknown };
    const register = mm.registerResource.bind(monitor);
    mm.registerResource = (req: RegisterRequest, cb: unknown) => {
      const deps = new Set(req.getDependenciesList());
      for (const [, v] of req.getPropertydependenciesMap().entries()) for (const u of v.getUrnsList()) deps.add(u);
      dependencies.set(`${req.getType()}::${req.getName()}`, [...deps].sort());
      registration.set(`${req.getType()}::${req.getName()}`, { provider: req.getProvider(), protect: req.getProtect() === true });
      return register(req, cb);
    };
    let outputs: unknown;
    let failure: unknown;
    try {
      outputs = await resolveOutputs(await program());
    } catch (err) {
      failure = err;
    }
    const wait = waitForRpcs();
    let last = -1;
    while (last !== recorded.length) {
      last = recorded.length;
      await wait();
      await new Promise((r) => setImmediate(r));
    }
    // The mock's own error (e.g. an unknown invoke) says more than the engine's wrapped copy of it.
    if (errors.length > 0 || failure !== undefined) {
      const first = errors[0] ?? failure;
      throw first instanceof Error ? first : new Error(String(first));
    }
    const byKey = new Map<string, (typeof recorded)[number]>();
    for (const r of recorded) {
      const key = `${r.type}::${r.name}`;
      if (byKey.has(key)) throw new Error(`two resources share type and name ${key}`);
      byKey.set(key, r);
    }
    const resources: RecordedResource[] = [];
    for (const [urn] of monitor.getRegisteredResources()) {
      const [, , typePath, name] = urn.split("::");
      const type = typePath!.split("$").pop()!;
      const r = byKey.get(`${type}::${name}`);
      if (!r) throw new Error(`registered resource ${urn} was not recorded`);
      if (r.custom && (r.id === undefined || r.id === "")) throw new Error(`${urn} has no id: were the mocks in effect?`);
      const reg = registration.get(`${type}::${name}`);
      resources.push({
        type,
        name: name!,
        urn,
        inputs: r.inputs,
        custom: r.custom,
        dependencies: dependencies.get(`${type}::${name}`) ?? [],
        protect: reg?.protect ?? false,
        ...(reg?.provider ? { provider: reg.provider } : {}),
        ...(r.id === undefined ? {} : { id: r.id }),
      });
    }
    if (resources.length !== recorded.length) throw new Error(`recorded ${recorded.length} resources but ${resources.length} registered`);
    resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
    return { resources, outputs, timeline };
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    pulumi.runtime.setAllConfig(previousConfig);
    process.off("unhandledRejection", onRejection);
    running = false;
  }
}

/** How an example is mock-run: its Pulumi project, config, and the examples whose outputs its StackReferences read. */
export interface ExampleRun {
  readonly project: string;
  readonly config: Record<string, string>;
  /** Stack name → the example (deployed first) whose outputs that StackReference reads. @default {} */
  readonly stacks?: Record<string, string>;
}

const MULTI_PARTY_EXECUTOR = `sha256:${"c".repeat(64)}`;

/** The examples and the configuration each one is mock-run with (providers' own programs before the room that references them). */
export const EXAMPLES: Readonly<Record<string, ExampleRun>> = {
  // The quickstart builds the executor from this checkout's executor/Dockerfile, as `pulumi up` from a clone does.
  quickstart: {
    project: "cleanroom-quickstart",
    config: {
      "gcp:project": "acme-cleanroom",
      "gcp:region": "europe-west4",
      "cleanroom-quickstart:adminCidr": "203.0.113.7/32",
      "cleanroom-quickstart:githubClientId": "Iv1.0123456789abcdef",
      "cleanroom-quickstart:githubClientSecret": "test-secret-not-real",
      "cleanroom-quickstart:githubOrg": "acme-research",
      "cleanroom-quickstart:approvedJobs": JSON.stringify([`sha256:${"1".repeat(64)}`]),
      "cleanroom-quickstart:consumer": "user:analyst@acme.example",
      "cleanroom-quickstart:provisioner": "user:data-steward@insurer.example",
    },
  },
  // Each provider deploys its own program in its own project; the room references both.
  "multi-party/hospital": {
    project: "cleanroom-hospital",
    config: {
      "gcp:project": "hospital-data-eu",
      "gcp:region": "us-central1",
      "cleanroom-hospital:roomProject": "consortium-room",
      "cleanroom-hospital:executorDigest": MULTI_PARTY_EXECUTOR,
      "cleanroom-hospital:jointJob": `sha256:${"a".repeat(64)}`,
      "cleanroom-hospital:hospitalOnlyJob": `sha256:${"b".repeat(64)}`,
    },
  },
  "multi-party/insurer": {
    project: "cleanroom-insurer",
    config: {
      "gcp:project": "insurer-data-eu",
      "gcp:region": "us-central1",
      "cleanroom-insurer:roomProject": "consortium-room",
      "cleanroom-insurer:executorDigest": MULTI_PARTY_EXECUTOR,
      "cleanroom-insurer:jointJob": `sha256:${"a".repeat(64)}`,
    },
  },
  "multi-party": {
    project: "cleanroom-multi-party",
    stacks: { "hospital-org/cleanroom-hospital/prod": "multi-party/hospital", "insurer-org/cleanroom-insurer/prod": "multi-party/insurer" },
    config: {
      "gcp:project": "consortium-room",
      "gcp:region": "us-central1",
      "cleanroom-multi-party:hospitalStack": "hospital-org/cleanroom-hospital/prod",
      "cleanroom-multi-party:insurerStack": "insurer-org/cleanroom-insurer/prod",
      "cleanroom-multi-party:executorImage": `us-central1-docker.pkg.dev/consortium-room/cleanroom/executor@${MULTI_PARTY_EXECUTOR}`,
      "cleanroom-multi-party:adminCidr": "198.51.100.0/28",
      "cleanroom-multi-party:googleClientId": "1234-abc.apps.googleusercontent.com",
      "cleanroom-multi-party:googleClientSecret": "test-secret-not-real",
      "cleanroom-multi-party:hostedDomain": "consortium.example",
    },
  },
  gpu: {
    project: "cleanroom-gpu",
    config: {
      "gcp:project": "ml-cleanroom",
      "gcp:region": "us-central1",
      // The evaluator approved one more job than modelco: only the digest both list opens both keys.
      "cleanroom-gpu:approvedJobs": JSON.stringify({ modelco: [`sha256:${"d".repeat(64)}`], evaluator: [`sha256:${"d".repeat(64)}`, `sha256:${"e".repeat(64)}`] }),
      "cleanroom-gpu:executorImage": `us-central1-docker.pkg.dev/ml-cleanroom/cleanroom/executor@sha256:${"f".repeat(64)}`,
    },
  },
};

/**
 * Runs `construct` under mocks and returns what it threw with the recorded run, for validation tests: a component
 * given bad args must throw before it registers anything.
 */
export async function constructUnderMocks(construct: () => unknown): Promise<{ run: MockRun; error: unknown }> {
  let error: unknown;
  const run = await runProgramUnderMocks(() => {
    try {
      construct();
    } catch (err) {
      error = err;
    }
  });
  return { run, error };
}

/**
 * Runs `examples/<name>/index.ts` under mocks with its test configuration (fresh module each time), after the examples
 * whose stacks it references. `overrides[example]` is merged over that example's configuration (for this run and for
 * the referenced ones).
 */
export async function runExampleUnderMocks(name: string, overrides: Readonly<Record<string, Record<string, string>>> = {}): Promise<MockRun> {
  const example = EXAMPLES[name];
  if (!example) throw new Error(`unknown example ${name}; known: ${Object.keys(EXAMPLES).join(", ")}`);
  // The stacks it references are deployed first (under mocks too); their exports are what the references read.
  const stacks: Record<string, Record<string, unknown>> = {};
  for (const [stack, other] of Object.entries(example.stacks ?? {})) stacks[stack] = (await runExampleUnderMocks(other, overrides)).outputs as Record<string, unknown>;
  const file = require.resolve(path.join(REPO_ROOT, "examples", name, "index.ts"));
  return runProgramUnderMocks(
    () => {
      delete require.cache[file];
      return { ...require(file) };
    },
    { project: example.project, config: { ...example.config, ...overrides[name] }, stacks },
  );
}

/** Resources of one type. */
export function ofType(resources: readonly RecordedResource[], type: string): RecordedResource[] {
  return resources.filter((r) => r.type === type);
}

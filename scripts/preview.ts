/**
 * See a clean room's plan without a cloud account or the Pulumi CLI:
 *
 *   npm run preview -- <program dir> [--config <ns:key>=<value>]... [--stack <name>=<program dir>]...
 *
 * Runs the Pulumi program of <program dir> (its Pulumi.yaml, `main` honoured) under mocks, prints every resource it
 * would create with its key inputs, then runs the cleanroom-guardrails pack over them and prints each verdict. Exits 1
 * when a mandatory rule is violated (all rules are mandatory), 2 when the program itself fails.
 *
 * For the examples, the configuration the tests use is the default (override any key with --config), and the stacks
 * an example's StackReferences read are the mocked runs of the examples they name. `--stack NAME=DIR` runs DIR first
 * and hands its exports to `new pulumi.StackReference("NAME")`.
 *
 * Examples:
 *   npm run preview -- examples/quickstart
 *   npm run preview -- examples/multi-party/hospital --config cleanroom-hospital:roomProject=my-room
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { allPolicies } from "../policy-packs/cleanroom-guardrails/policies/index.js";
import { EXAMPLES, type MockRun, REPO_ROOT, type RecordedResource, runProgramUnderMocks } from "../tests/components/harness.js";
import { runPack } from "../tests/policy/helpers.js";

/** Inputs worth showing per resource type (anything else shows its first few scalar inputs). */
const KEY_INPUTS: Readonly<Record<string, readonly string[]>> = {
  "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": ["project", "workloadIdentityPoolId", "attributeCondition"],
  "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": ["project", "workloadIdentityPoolId"],
  "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ["cryptoKeyId", "role", "member"],
  "gcp:storage/bucketIAMMember:BucketIAMMember": ["bucket", "role", "member"],
  "gcp:projects/iAMMember:IAMMember": ["project", "role", "member"],
  "gcp:serviceaccount/iAMMember:IAMMember": ["serviceAccountId", "role", "member"],
  "gcp:storage/bucket:Bucket": ["project", "name", "location", "encryption"],
  "gcp:kms/cryptoKey:CryptoKey": ["keyRing", "name", "rotationPeriod"],
  "gcp:compute/instanceTemplate:InstanceTemplate": ["project", "machineType", "confidentialInstanceConfig", "metadata"],
  "gcp:compute/firewall:Firewall": ["name", "direction", "targetServiceAccounts", "destinationRanges"],
};

/** What `previewProgram` found. */
export interface PreviewResult {
  readonly run: MockRun;
  /** The printable plan and verdicts. */
  readonly text: string;
  /** `<policy> <resource>: <message>` for every violation. */
  readonly violations: string[];
}

function show(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

function describeResource(r: RecordedResource): string {
  const keys = KEY_INPUTS[r.type] ?? Object.keys(r.inputs).filter((k) => !k.startsWith("__") && typeof r.inputs[k] !== "object").slice(0, 4);
  const lines = keys.filter((k) => r.inputs[k] !== undefined).map((k) => `      ${k}: ${show(r.inputs[k])}`);
  return [`  + ${r.type}  ${r.name}`, ...lines].join("\n");
}

/** The program directory and Pulumi project of `dir` (its Pulumi.yaml, `main` honoured). */
export function programOf(dir: string): { file: string; project: string; example?: string } {
  const yaml = join(dir, "Pulumi.yaml");
  if (!existsSync(yaml)) throw new Error(`${dir} has no Pulumi.yaml`);
  const text = readFileSync(yaml, "utf8");
  const project = /^name:\s*(\S+)/m.exec(text)?.[1];
  if (!project) throw new Error(`${yaml} has no name`);
  const main = /^main:\s*(\S+)/m.exec(text)?.[1];
  const file = main ? (main.endsWith(".ts") ? resolve(dir, main) : join(resolve(dir, main), "index.ts")) : join(dir, "index.ts");
  const rel = relative(join(REPO_ROOT, "examples"), dirname(file));
  return { file, project, ...(EXAMPLES[rel] ? { example: rel } : {}) };
}

/** Runs a program under mocks and the pack over its plan. */
export async function previewProgram(dir: string, options: { config?: Record<string, string>; stacks?: Record<string, string> } = {}): Promise<PreviewResult> {
  const p = programOf(resolve(dir));
  const example = p.example ? EXAMPLES[p.example] : undefined;
  const stacks: Record<string, Record<string, unknown>> = {};
  const stackDirs: Record<string, string> = { ...Object.fromEntries(Object.entries(example?.stacks ?? {}).map(([s, e]) => [s, join(REPO_ROOT, "examples", e)])), ...options.stacks };
  for (const [name, other] of Object.entries(stackDirs)) stacks[name] = (await previewProgram(other)).run.outputs as Record<string, unknown>;
  const run = await runProgramUnderMocks(
    () => {
      delete require.cache[p.file];
      return { ...require(p.file) };
    },
    { project: p.project, config: { ...example?.config, ...options.config }, stacks },
  );
  const planned = run.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: r.inputs }));
  const found = await runPack(allPolicies, planned);
  const violations = found.map((v) => `${v.policy} ${v.resource}: ${v.message}`);
  const text = [
    `Plan of ${relative(REPO_ROOT, p.file)} (project ${p.project}, mocked: nothing was deployed): ${run.resources.length} resources`,
    ...run.resources.filter((r) => r.custom).map(describeResource),
    "",
    `Policy pack cleanroom-guardrails: ${allPolicies.length} policies, ${violations.length} mandatory violation(s)`,
    ...violations.map((v) => `  ✗ ${v}`),
  ].join("\n");
  return { run, text: `${text}\n`, violations };
}

function parseArgs(argv: readonly string[]): { dir: string; config: Record<string, string>; stacks: Record<string, string> } {
  const config: Record<string, string> = {};
  const stacks: Record<string, string> = {};
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--config" || a === "--stack") {
      const v = argv[++i] ?? "";
      const eq = v.indexOf("=");
      if (eq < 1) throw new Error(`${a} needs NAME=VALUE (got ${JSON.stringify(v)})`);
      (a === "--config" ? config : stacks)[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (dir === undefined) dir = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (dir === undefined) throw new Error("usage: npm run preview -- <program dir> [--config ns:key=value]... [--stack NAME=DIR]...");
  return { dir, config, stacks };
}

if (require.main === module) {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  previewProgram(args.dir, { config: args.config, stacks: args.stacks }).then(
    (r) => {
      process.stdout.write(r.text);
      process.exitCode = r.violations.length > 0 ? 1 : 0;
    },
    (err: unknown) => {
      console.error(`The program failed under mocks: ${(err as Error).message ?? String(err)}`);
      process.exitCode = 2;
    },
  );
}

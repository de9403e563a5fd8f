/**
 * What a documented `pulumi …` line means for an example, checked under the component test harness's mocks:
 * `pulumi config set K V` must name configuration the program really reads (and that changes the plan), and
 * `pulumi stack output X` must name one of the program's exports.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { EXAMPLES, type MockRun, REPO_ROOT, runExampleUnderMocks, runProgramUnderMocks } from "../components/harness.js";

/** The Pulumi program a directory deploys (its Pulumi.yaml). */
export interface PulumiProgram {
  /** Name in tests/components/harness.ts EXAMPLES. */
  readonly example: string;
  /** Pulumi project name: the namespace of un-prefixed config keys. */
  readonly project: string;
  /** Absolute path of the program's index.ts. */
  readonly file: string;
}

/** Reads `<dir>/Pulumi.yaml` (`name:` and optional `main:`) and maps it to one of the harness's examples. */
export function pulumiProgramOf(dir: string): PulumiProgram | undefined {
  const yaml = join(dir, "Pulumi.yaml");
  if (!existsSync(yaml)) return undefined;
  const text = readFileSync(yaml, "utf8");
  const project = /^name:\s*(\S+)/m.exec(text)?.[1];
  const main = /^main:\s*(\S+)/m.exec(text)?.[1];
  const programDir = main ? resolve(dir, main.endsWith(".ts") ? dirname(main) : main) : dir;
  const rel = relative(join(REPO_ROOT, "examples"), programDir);
  if (!project || rel.startsWith("..") || !EXAMPLES[rel]) return undefined;
  return { example: rel, project, file: join(programDir, "index.ts") };
}

/** A parsed `pulumi` word list (the words after `pulumi`). */
export type PulumiCommand =
  | { readonly kind: "config-set"; readonly key: string; readonly value: string | undefined; readonly secret: boolean }
  | { readonly kind: "config-rm"; readonly key: string }
  | { readonly kind: "stack-output"; readonly name: string | undefined; readonly json: boolean }
  | { readonly kind: "deploy"; readonly verb: string; readonly policyPacks: string[] }
  | { readonly kind: "other"; readonly verb: string };

const VALUE_FLAGS = new Set(["--stack", "-s", "--config-file", "--cwd", "-C", "--policy-pack", "--policy-pack-config", "--message", "-m", "--target", "-t"]);

/** Splits flags from positional words (`--flag value` pairs for the flags that take one). */
function split(args: readonly string[]): { flags: Map<string, string[]>; words: string[] } {
  const flags = new Map<string, string[]>();
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-")) {
      words.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const list = flags.get(flag) ?? [];
    if (eq > 0) list.push(a.slice(eq + 1));
    else if (VALUE_FLAGS.has(flag) && args[i + 1] !== undefined) list.push(args[++i]!);
    else list.push("");
    flags.set(flag, list);
  }
  return { flags, words };
}

/** Parses the words after `pulumi`. */
export function parsePulumi(args: readonly string[]): PulumiCommand {
  const { flags, words } = split(args);
  if (words[0] === "config" && words[1] === "set") {
    return { kind: "config-set", key: words[2] ?? "", value: words[3], secret: flags.has("--secret") };
  }
  if (words[0] === "config" && words[1] === "rm") return { kind: "config-rm", key: words[2] ?? "" };
  if (words[0] === "stack" && words[1] === "output") return { kind: "stack-output", name: words[2], json: flags.has("--json") };
  if (words[0] === "up" || words[0] === "preview") return { kind: "deploy", verb: words[0], policyPacks: flags.get("--policy-pack") ?? [] };
  return { kind: "other", verb: words.slice(0, 2).join(" ") };
}

/** `namespace:key` of a config key as `pulumi config set` stores it. */
export function fullKey(program: PulumiProgram, key: string): string {
  return key.includes(":") ? key : `${program.project}:${key}`;
}

/** True when a documented value is a placeholder (`<…>`, or a shell variable the tokenizer marked `<$…>`). */
export function isPlaceholder(value: string): boolean {
  return /<[^>]*>/.test(value);
}

/** The value a mocked run uses for a documented setting: the literal, or the harness's value for a placeholder. */
export function mockValue(program: PulumiProgram, key: string, value: string | undefined): string {
  const harness = EXAMPLES[program.example]!.config[fullKey(program, key)];
  if (value === undefined || isPlaceholder(value)) return harness ?? "placeholder";
  return value;
}

type ConfigProto = { getImpl: (this: { name: string }, key: string, ...rest: unknown[]) => unknown };

/** The outputs of the stacks an example's StackReferences read, from the harness's runs of the referenced examples. */
export async function harnessStacks(program: PulumiProgram): Promise<Record<string, Record<string, unknown>>> {
  const stacks: Record<string, Record<string, unknown>> = {};
  for (const [stack, other] of Object.entries(EXAMPLES[program.example]?.stacks ?? {})) {
    stacks[stack] = (await runExampleUnderMocks(other)).outputs as Record<string, unknown>;
  }
  return stacks;
}

/** Runs a program under mocks with `config`, recording every `namespace:key` it reads through `pulumi.Config`. */
export async function runWithConfig(
  program: PulumiProgram,
  config: Record<string, string>,
  stacks?: Record<string, Record<string, unknown>>,
): Promise<{ run?: MockRun; error?: Error; reads: Set<string> }> {
  const referenced = stacks ?? (await harnessStacks(program));
  const proto = pulumi.Config.prototype as unknown as ConfigProto;
  const original = proto.getImpl;
  if (typeof original !== "function") throw new Error("pulumi.Config.prototype.getImpl is gone: update tests/docs/pulumi-check.ts");
  const reads = new Set<string>();
  proto.getImpl = function (this: { name: string }, key: string, ...rest: unknown[]) {
    reads.add(`${this.name}:${key}`);
    return original.call(this, key, ...rest);
  };
  try {
    const run = await runProgramUnderMocks(
      () => {
        delete require.cache[program.file];
        return { ...require(program.file) };
      },
      { project: program.project, config, stacks: referenced },
    );
    return { run, reads };
  } catch (err) {
    return { error: err instanceof Error ? err : new Error(String(err)), reads };
  } finally {
    proto.getImpl = original;
  }
}

/** Everything a reviewer would see change in the plan: every resource's inputs, and the stack outputs. */
export function planSnapshot(run: MockRun): string {
  return JSON.stringify({ resources: run.resources.map((r) => [r.urn, r.inputs]), outputs: run.outputs });
}

/** A documented `pulumi config set`. */
export interface DocumentedSetting {
  readonly where: string;
  readonly key: string;
  readonly value: string | undefined;
}

/**
 * Problems of the documented settings of one program: the program (with the harness's other values and these
 * values) must run; it must read each key; and leaving each key out must fail the run or change the plan.
 */
export async function settingProblems(program: PulumiProgram, settings: readonly DocumentedSetting[]): Promise<string[]> {
  const base: Record<string, string> = { ...EXAMPLES[program.example]!.config };
  for (const s of settings) base[fullKey(program, s.key)] = mockValue(program, s.key, s.value);
  const stacks = await harnessStacks(program);
  const first = await runWithConfig(program, base, stacks);
  if (!first.run) return [`examples/${program.example} fails under mocks with the documented config: ${first.error?.message}`];
  const snapshot = planSnapshot(first.run);
  const problems: string[] = [];
  for (const s of settings) {
    const key = fullKey(program, s.key);
    if (!first.reads.has(key)) {
      problems.push(`${s.where}: \`pulumi config set ${s.key}\` — examples/${program.example}/index.ts never reads ${key} (it reads ${[...first.reads].sort().join(", ")})`);
      continue;
    }
    const without = { ...base };
    delete without[key];
    const r = await runWithConfig(program, without, stacks);
    if (r.run && planSnapshot(r.run) === snapshot) {
      problems.push(`${s.where}: \`pulumi config set ${s.key}\` — leaving ${key} out changes nothing in examples/${program.example}'s plan`);
    }
  }
  return problems;
}

/** The names a program exports (what `pulumi stack output` can show). */
export async function exportsOf(program: PulumiProgram): Promise<string[]> {
  const r = await runWithConfig(program, { ...EXAMPLES[program.example]!.config });
  if (!r.run) throw new Error(`examples/${program.example} fails under mocks: ${r.error?.message}`);
  return Object.keys(r.run.outputs as Record<string, unknown>).sort();
}

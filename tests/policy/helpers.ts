/**
 * Calling policies without the Pulumi CLI (awsguard `src/tests/util.ts` style, updated for @pulumi/policy 1.21).
 *
 * `createResourceValidationArgs` / `createStackValidationArgs` build the argument bags the analyzer would build;
 * `notApplicable` throws a sentinel that the runners catch, as the real server does. Properties go through
 * @pulumi/policy's own unknown-checking proxy so the policies see what they see under `pulumi preview`.
 */
import * as policySdk from "@pulumi/policy";
import type {
  Policies,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

/**
 * What the engine sends for a string it does not know yet (preview): the sentinel of @pulumi/pulumi's RPC layer,
 * which @pulumi/policy's proxy turns into `UnknownValueError` on read.
 */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Thrown by `notApplicable`; the runners catch it. */
export class NotApplicable extends Error {
  constructor(readonly reason?: string) {
    super(`not applicable: ${reason ?? ""}`);
  }
}

type ResourceClass = { __pulumiType?: string };

const unknownCheckingProxy = (policySdk as unknown as Record<string, unknown>)["unknownCheckingProxy"] as <T>(v: T) => T;

const emptyOptions = (): PolicyResourceOptions => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
});

function typeOf(cls: unknown): string | undefined {
  return (cls as ResourceClass | undefined)?.__pulumiType;
}

/** A resource as a plan shows it: type token, name and properties (inputs, or outputs for stack policies). */
export interface PlannedResource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, unknown>;
  /** @default - a URN built from type and name */
  readonly urn?: string;
  /** Property name → names of the resources it was computed from (what preview knows for unknown values). */
  readonly propertyDependencies?: Record<string, string[]>;
}

/** The URN the analyzer would use for a resource of this type and name in stack `test`. */
export function urnOf(type: string, name: string): string {
  return `urn:pulumi:test::cleanroom::${type}::${name}`;
}

/** Builds `ResourceValidationArgs` by hand. `config` is what `getConfig()` returns (as configured, no defaults). */
export function createResourceValidationArgs(
  resource: PlannedResource,
  config: Record<string, unknown> = {},
): ResourceValidationArgs {
  const props = unknownCheckingProxy(structuredClone(resource.props));
  return {
    type: resource.type,
    props,
    urn: resource.urn ?? urnOf(resource.type, resource.name),
    name: resource.name,
    opts: emptyOptions(),
    stackTags: new Map(),
    isType: (cls) => typeOf(cls) === resource.type,
    asType: ((cls: unknown) => (typeOf(cls) === resource.type ? props : undefined)) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
}

/** What one policy said about one resource. */
export interface ResourceOutcome {
  readonly violations: string[];
  /** True when every validation of the policy declared itself not applicable. */
  readonly notApplicable: boolean;
}

/** Runs every validation of a resource policy, collecting violations (as the analyzer server does). */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  args: ResourceValidationArgs,
): Promise<ResourceOutcome> {
  const violations: string[] = [];
  const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
  let applicable = 0;
  for (const validate of validations) {
    if (validate === undefined) continue;
    try {
      await validate(args, (message) => violations.push(message));
      applicable++;
    } catch (err) {
      if (!(err instanceof NotApplicable)) throw err;
    }
  }
  return { violations, notApplicable: applicable === 0 };
}

/** Shortcut: the violations a policy reports for one planned resource. */
export async function resourceViolations(
  policy: ResourceValidationPolicy,
  resource: PlannedResource,
  config: Record<string, unknown> = {},
): Promise<string[]> {
  return (await runResourcePolicy(policy, createResourceValidationArgs(resource, config))).violations;
}

/** Builds `StackValidationArgs` (with dependencies resolved to the resource objects, like the server). */
export function createStackValidationArgs(
  resources: readonly PlannedResource[],
  config: Record<string, unknown> = {},
): StackValidationArgs {
  const byName = new Map<string, PolicyResource>();
  const policyResources: PolicyResource[] = resources.map((r) => {
    const props = unknownCheckingProxy(structuredClone(r.props));
    const pr: PolicyResource = {
      type: r.type,
      props,
      urn: r.urn ?? urnOf(r.type, r.name),
      name: r.name,
      opts: emptyOptions(),
      dependencies: [],
      propertyDependencies: {},
      isType: (cls) => typeOf(cls) === r.type,
      asType: ((cls: unknown) => (typeOf(cls) === r.type ? props : undefined)) as PolicyResource["asType"],
    };
    byName.set(r.name, pr);
    return pr;
  });
  resources.forEach((r, i) => {
    for (const [prop, names] of Object.entries(r.propertyDependencies ?? {})) {
      const deps = names.map((n) => byName.get(n)).filter((d): d is PolicyResource => d !== undefined);
      policyResources[i]!.propertyDependencies[prop] = deps;
      policyResources[i]!.dependencies.push(...deps);
    }
  });
  return {
    resources: policyResources,
    stackTags: new Map(),
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
}

/** A stack violation: the message and the URN it points at (if any). */
export interface StackViolation {
  readonly message: string;
  readonly urn?: string;
}

/** Runs a stack policy, collecting violations. */
export async function runStackPolicy(policy: StackValidationPolicy, args: StackValidationArgs): Promise<StackViolation[]> {
  const out: StackViolation[] = [];
  try {
    await policy.validateStack(args, (message, urn) => out.push(urn === undefined ? { message } : { message, urn }));
  } catch (err) {
    if (!(err instanceof NotApplicable)) throw err;
  }
  return out;
}

/** One violation of a whole pack run. */
export interface PackViolation {
  readonly policy: string;
  /** The resource name the violation is about (for stack policies: the resource its URN names). */
  readonly resource: string;
  readonly message: string;
}

function isResourcePolicy(p: Policies[number]): p is ResourceValidationPolicy {
  return "validateResource" in p && p.validateResource !== undefined;
}

/**
 * Runs every policy over a planned stack: resource policies on each resource, then stack policies on all of them.
 * Sorted, so two runs (or this and the gRPC path) compare with `deep.equal`.
 */
export async function runPack(
  policies: Policies,
  resources: readonly PlannedResource[],
  config: Record<string, Record<string, unknown>> = {},
): Promise<PackViolation[]> {
  const out: PackViolation[] = [];
  const nameOfUrn = new Map(resources.map((r) => [r.urn ?? urnOf(r.type, r.name), r.name]));
  for (const policy of policies) {
    const cfg = config[policy.name] ?? {};
    if (isResourcePolicy(policy)) {
      for (const r of resources) {
        const { violations } = await runResourcePolicy(policy, createResourceValidationArgs(r, cfg));
        for (const message of violations) out.push({ policy: policy.name, resource: r.name, message });
      }
    } else {
      for (const v of await runStackPolicy(policy, createStackValidationArgs(resources, cfg))) {
        out.push({ policy: policy.name, resource: (v.urn && nameOfUrn.get(v.urn)) ?? "(stack)", message: v.message });
      }
    }
  }
  return sortViolations(out);
}

/** Sorts violations by policy, resource, message. */
export function sortViolations(vs: PackViolation[]): PackViolation[] {
  return [...vs].sort(
    (a, b) =>
      a.policy.localeCompare(b.policy) || a.resource.localeCompare(b.resource) || a.message.localeCompare(b.message),
  );
}

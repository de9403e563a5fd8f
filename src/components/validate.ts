/**
 * Pure validators of the components' arguments. Each collects every problem (with its path) and never throws, so a
 * constructor can report all of them in one `CleanRoomError` before any resource exists.
 */
import { existsSync, readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { ALLOW_ENV_OVERRIDE_LABEL, EXECUTOR_ENV_OVERRIDES, LOG_REDIRECT_LABEL, LOG_REDIRECT_POLICY } from "../core/executor-env.js";
import { PROJECT_ID_PATTERN, PROVIDER_NAME_PATTERN } from "../core/patterns.js";
import { specProblems } from "../core/spec.js";
import { COMPONENT_DEFAULTS, GOOGLE_APIS_ACCESS, PROVISIONING_MODELS, TEE_TYPES } from "./defaults.js";
import { NAME_PREFIX_PATTERN, digestOfReference } from "./naming.js";
import { vpcServiceControlsProblems } from "./vpc-sc.js";
import type { ConfidentialVmOptions, ExecutorImageOptions, NetworkOptions, SandboxOptions, StorageOptions } from "./options.js";

/** The keys `DataCleanRoomArgs` adds to a `CleanRoomSpec`. */
export const GCP_ARG_KEYS = [
  "project",
  "region",
  "zone",
  "namePrefix",
  "network",
  "executor",
  "confidentialVm",
  "sandbox",
  "storage",
  "poolId",
  "enableApis",
  "externalProviders",
  "vpcServiceControls",
  "protectKeys",
] as const;

const REGION_PATTERN = /^[a-z]+-[a-z]+[0-9]{1,2}$/;
const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const POOL_ID_PATTERN = /^(?!gcp-)[a-z0-9-]{4,32}$/;

function isPromiseLike(v: unknown): boolean {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function unknownKeys(o: Record<string, unknown>, allowed: readonly string[], p: string, out: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) out.push(`${p}.${k} is not a known option (known: ${allowed.join(", ")})`);
}

function optBool(o: Record<string, unknown>, k: string, p: string, out: string[]): void {
  if (o[k] !== undefined && typeof o[k] !== "boolean") out.push(`${p}.${k} must be a boolean`);
}

function optString(o: Record<string, unknown>, k: string, p: string, out: string[]): void {
  if (o[k] !== undefined && (typeof o[k] !== "string" || (o[k] as string).length === 0)) out.push(`${p}.${k} must be a non-empty string`);
}

/** Parses `a.b.c.d/n` into [first address, last address] as numbers, or undefined when malformed. */
export function cidrRange(cidr: string): [number, number] | undefined {
  const m = CIDR_PATTERN.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const ip = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const start = ip - (ip % size);
  return [start, start + size - 1];
}

/** Problems of the network options. */
export function networkOptionProblems(input: NetworkOptions | undefined, p = "network"): string[] {
  const out: string[] = [];
  if (input === undefined) return out;
  if (!isObject(input)) return [`${p} must be an object`];
  const o = input as NetworkOptions & Record<string, unknown>;
  unknownKeys(o, ["teeSubnetCidr", "sandboxSubnetCidr", "podsCidr", "servicesCidr", "googleApisAccess"], p, out);
  const ranges: Array<[string, [number, number]]> = [];
  const cidrs: Record<string, string> = {
    teeSubnetCidr: o.teeSubnetCidr ?? COMPONENT_DEFAULTS.teeSubnetCidr,
    sandboxSubnetCidr: o.sandboxSubnetCidr ?? COMPONENT_DEFAULTS.sandboxSubnetCidr,
    podsCidr: o.podsCidr ?? COMPONENT_DEFAULTS.podsCidr,
    servicesCidr: o.servicesCidr ?? COMPONENT_DEFAULTS.servicesCidr,
  };
  for (const [k, v] of Object.entries(cidrs)) {
    const r = typeof v === "string" ? cidrRange(v) : undefined;
    if (!r) out.push(`${p}.${k} must be an IPv4 CIDR like 10.10.0.0/24 (got ${JSON.stringify(v)})`);
    else ranges.push([k, r]);
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const [a, ra] = ranges[i]!;
      const [b, rb] = ranges[j]!;
      if (ra[0] <= rb[1] && rb[0] <= ra[1]) out.push(`${p}.${a} (${cidrs[a]}) overlaps ${p}.${b} (${cidrs[b]})`);
    }
  }
  if (o.googleApisAccess !== undefined && !GOOGLE_APIS_ACCESS.includes(o.googleApisAccess as never)) {
    out.push(`${p}.googleApisAccess must be one of ${GOOGLE_APIS_ACCESS.join(", ")} (got ${JSON.stringify(o.googleApisAccess)})`);
  }
  return out;
}

/** Reads the `LABEL key=value` pairs of a Dockerfile (quoted or bare, several per line, `\` continuations). */
export function dockerfileLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const joined = text.replace(/\\\r?\n/g, " ");
  for (const line of joined.split(/\r?\n/)) {
    const m = /^\s*LABEL\s+(.*)$/i.exec(line);
    if (!m) continue;
    const pair = /("([^"]*)"|[^\s="]+)\s*=\s*("([^"]*)"|[^\s"]+)/g;
    for (let p = pair.exec(m[1]!); p !== null; p = pair.exec(m[1]!)) {
      labels[p[2] ?? p[1]!] = p[4] ?? p[3]!;
    }
  }
  return labels;
}

/** Problems of a Dockerfile's launch-policy labels, compared with `EXECUTOR_ENV_OVERRIDES`. */
export function dockerfileLabelProblems(dockerfile: string, p = "executor.dockerfile"): string[] {
  if (!existsSync(dockerfile)) return [`${p} ${dockerfile} does not exist: point executor.context/dockerfile at the executor's Dockerfile`];
  const labels = dockerfileLabels(readFileSync(dockerfile, "utf8"));
  const out: string[] = [];
  const want = EXECUTOR_ENV_OVERRIDES.join(",");
  const got = labels[ALLOW_ENV_OVERRIDE_LABEL];
  if (got === undefined || got.split(",").map((s) => s.trim()).sort().join(",") !== [...EXECUTOR_ENV_OVERRIDES].sort().join(",")) {
    out.push(`${p} must set LABEL "${ALLOW_ENV_OVERRIDE_LABEL}"="${want}" exactly (got ${JSON.stringify(got)}): the launcher refuses any other tee-env-*`);
  }
  const redirect = labels[LOG_REDIRECT_LABEL];
  // Required even though it is the launcher's default: the image itself must say that logs never leave a production VM,
  // so a launcher (or a reviewer) that assumes another default cannot be wrong about it.
  if (redirect === undefined) {
    out.push(`${p} must set LABEL "${LOG_REDIRECT_LABEL}"="${LOG_REDIRECT_POLICY}" so production VMs never export logs`);
  } else if (redirect !== LOG_REDIRECT_POLICY) {
    out.push(`${p} sets "${LOG_REDIRECT_LABEL}"="${redirect}": it must be "${LOG_REDIRECT_POLICY}" so production VMs never export logs`);
  }
  for (const k of Object.keys(labels)) {
    if (/^tee\.launch_policy\.allow_(cmd_override|capabilities|cgroups)$/.test(k) && labels[k] === "true") {
      out.push(`${p} sets "${k}"="true": an operator could change what runs without changing the image digest`);
    }
  }
  return out;
}

/** Problems of the executor image options. */
export function executorImageProblems(input: ExecutorImageOptions | undefined, p = "executor"): string[] {
  if (!isObject(input)) return [`${p} is required: give imageReference (repo@sha256:…) or context (a directory to build)`];
  const o = input as ExecutorImageOptions & Record<string, unknown>;
  const out: string[] = [];
  unknownKeys(o, ["imageReference", "context", "dockerfile", "tag", "platform"], p, out);
  // The image reference may be another resource's output (an image pushed in the same program): checked when known.
  for (const k of ["context", "dockerfile", "tag", "platform"]) optString(o, k, p, out);
  if (o.imageReference !== undefined && !pulumi.Output.isInstance(o.imageReference) && !isPromiseLike(o.imageReference)) optString(o, "imageReference", p, out);
  if (o.imageReference !== undefined && o.context !== undefined) {
    out.push(`${p}.imageReference and ${p}.context are mutually exclusive: use an existing image or build one`);
  } else if (o.imageReference === undefined && o.context === undefined) {
    out.push(`${p} needs imageReference (repo@sha256:…) or context (a directory to build)`);
  }
  if (typeof o.imageReference === "string" && digestOfReference(o.imageReference) === undefined) {
    out.push(`${p}.imageReference must be pinned by digest: <registry>/<path>@sha256:<64 lowercase hex> (got ${JSON.stringify(o.imageReference)}); tags move`);
  }
  if (o.imageReference !== undefined && (o.dockerfile !== undefined || o.tag !== undefined)) {
    out.push(`${p}.dockerfile and ${p}.tag only apply when building from ${p}.context`);
  }
  if (typeof o.tag === "string" && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(o.tag)) out.push(`${p}.tag is not a valid Docker tag`);
  if (typeof o.context === "string" && o.imageReference === undefined) {
    const dockerfile = typeof o.dockerfile === "string" ? o.dockerfile : path.join(o.context, "Dockerfile");
    out.push(...dockerfileLabelProblems(dockerfile, `${p}.dockerfile`));
  }
  return out;
}

/** Problems of the Confidential VM options, given whether debug images are allowed. */
export function confidentialVmProblems(input: ConfidentialVmOptions | undefined, allowDebug: boolean, p = "confidentialVm"): string[] {
  const out: string[] = [];
  if (input === undefined) return out;
  if (!isObject(input)) return [`${p} must be an object`];
  const o = input as ConfidentialVmOptions & Record<string, unknown>;
  unknownKeys(o, ["teeType", "gpu", "machineType", "bootDiskSizeGb", "provisioningModel", "maxRunDurationHours", "debugLogRedirect"], p, out);
  optBool(o, "gpu", p, out);
  optBool(o, "debugLogRedirect", p, out);
  optString(o, "machineType", p, out);
  const tee = o.teeType ?? COMPONENT_DEFAULTS.teeType;
  if (!(tee in TEE_TYPES)) out.push(`${p}.teeType must be one of ${Object.keys(TEE_TYPES).join(", ")} (got ${JSON.stringify(o.teeType)})`);
  if (o.gpu === true && tee !== "TDX") out.push(`${p}.gpu needs teeType "TDX": confidential H100s run only on TDX`);
  if (o.bootDiskSizeGb !== undefined) {
    const min = o.gpu === true ? 30 : 10;
    if (!Number.isInteger(o.bootDiskSizeGb) || o.bootDiskSizeGb < min || o.bootDiskSizeGb > 65536) {
      out.push(`${p}.bootDiskSizeGb must be an integer from ${min} to 65536 (got ${JSON.stringify(o.bootDiskSizeGb)})`);
    }
  }
  if (o.provisioningModel !== undefined) {
    if (!PROVISIONING_MODELS.includes(o.provisioningModel as never)) {
      out.push(`${p}.provisioningModel must be one of ${PROVISIONING_MODELS.join(", ")} (got ${JSON.stringify(o.provisioningModel)})`);
    } else if (o.provisioningModel !== "STANDARD" && o.gpu !== true) {
      out.push(`${p}.provisioningModel "${o.provisioningModel}" is for GPU VMs only: set gpu: true or use "STANDARD"`);
    } else if (o.provisioningModel === "STANDARD" && o.gpu === true) {
      out.push(`${p}.provisioningModel must be "SPOT" or "FLEX_START" with gpu: confidential H100s are offered only that way`);
    }
  }
  if (o.maxRunDurationHours !== undefined) {
    if (!Number.isInteger(o.maxRunDurationHours) || o.maxRunDurationHours < 1 || o.maxRunDurationHours > 168) {
      out.push(`${p}.maxRunDurationHours must be an integer from 1 to 168 (got ${JSON.stringify(o.maxRunDurationHours)})`);
    }
    if (o.provisioningModel !== "FLEX_START") out.push(`${p}.maxRunDurationHours applies only to provisioningModel "FLEX_START"`);
  }
  if (o.debugLogRedirect === true && !allowDebug) {
    out.push(`${p}.debugLogRedirect needs attestation.allowDebug: production images refuse log redirection (and logs could leak data)`);
  }
  return out;
}

function stringList(v: unknown, p: string, out: string[]): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x.length === 0)) out.push(`${p} must be an array of non-empty strings`);
}

/** A single-user image pinned by digest, with a tag for people: `<repository>:<tag>@sha256:<64 hex>`. */
export const SINGLE_USER_IMAGE = /^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(\/[a-z0-9][a-z0-9._-]*)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}$/;

/** Problems of the sandbox options. */
export function sandboxProblems(input: SandboxOptions | undefined, p = "sandbox"): string[] {
  const out: string[] = [];
  if (input === undefined) return [`${p} is required: configure an authenticator and authorizedNetworks, or set ${p}.enabled to false`];
  if (!isObject(input)) return [`${p} must be an object`];
  const o = input as SandboxOptions & Record<string, unknown>;
  unknownKeys(o, ["enabled", "authorizedNetworks", "chartVersion", "github", "google", "insecureDummyAuthenticator", "confidentialNodes", "privateEndpoint", "namespace", "singleUserImage"], p, out);
  optBool(o, "enabled", p, out);
  optBool(o, "insecureDummyAuthenticator", p, out);
  optBool(o, "confidentialNodes", p, out);
  optBool(o, "privateEndpoint", p, out);
  if (o.enabled === false) return out;
  if (!Array.isArray(o.authorizedNetworks) || o.authorizedNetworks.length === 0) {
    out.push(`${p}.authorizedNetworks must list the CIDRs allowed to reach the GKE control plane (e.g. your office or CI egress /32)`);
  } else {
    o.authorizedNetworks.forEach((c, i) => {
      if (typeof c !== "string" || !cidrRange(c)) out.push(`${p}.authorizedNetworks[${i}] must be an IPv4 CIDR (got ${JSON.stringify(c)})`);
      else if (c.endsWith("/0")) out.push(`${p}.authorizedNetworks[${i}] ${c} would open the control plane to the whole internet`);
    });
  }
  if (o.chartVersion !== undefined && (typeof o.chartVersion !== "string" || !/^\d+\.\d+\.\d+$/.test(o.chartVersion))) {
    out.push(`${p}.chartVersion must be an exact version like 4.2.0 (got ${JSON.stringify(o.chartVersion)}): ranges change the sandbox without review`);
  }
  if (o.singleUserImage !== undefined && (typeof o.singleUserImage !== "string" || !SINGLE_USER_IMAGE.test(o.singleUserImage))) {
    out.push(`${p}.singleUserImage must be <repository>:<tag>@sha256:<64 hex> (got ${JSON.stringify(o.singleUserImage)}): a tag alone can be moved to other code`);
  }
  if (o.namespace !== undefined && (typeof o.namespace !== "string" || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(o.namespace))) {
    out.push(`${p}.namespace must be a Kubernetes namespace name`);
  }
  const auths = [o.github !== undefined, o.google !== undefined, o.insecureDummyAuthenticator === true].filter(Boolean).length;
  if (auths === 0) {
    out.push(`${p} needs an authenticator: github, google, or (demos only) insecureDummyAuthenticator: true`);
  } else if (auths > 1) {
    out.push(`${p}.github, ${p}.google and ${p}.insecureDummyAuthenticator are mutually exclusive: configure exactly one`);
  }
  for (const [k, lists] of [
    ["github", ["allowedOrganizations", "allowedUsers"]],
    ["google", ["hostedDomains", "allowedUsers"]],
  ] as const) {
    const a = o[k];
    if (a === undefined) continue;
    if (!isObject(a)) {
      out.push(`${p}.${k} must be an object`);
      continue;
    }
    unknownKeys(a, ["clientId", "clientSecret", "callbackUrl", ...lists], `${p}.${k}`, out);
    optString(a, "clientId", `${p}.${k}`, out);
    if (a.clientId === undefined) out.push(`${p}.${k}.clientId is required`);
    if (a.clientSecret === undefined) out.push(`${p}.${k}.clientSecret is required (pass config.requireSecret(...))`);
    for (const l of lists) stringList(a[l], `${p}.${k}.${l}`, out);
    if (lists.every((l) => !Array.isArray(a[l]) || (a[l] as unknown[]).length === 0)) {
      out.push(`${p}.${k} must restrict who may log in: set ${lists.join(" or ")}`);
    }
    if (a.callbackUrl !== undefined && (typeof a.callbackUrl !== "string" || !/^https?:\/\/[^\s]+\/hub\/oauth_callback$/.test(a.callbackUrl))) {
      out.push(`${p}.${k}.callbackUrl must be http(s)://<host>/hub/oauth_callback`);
    }
  }
  return out;
}

/** Problems of the storage options. */
export function storageProblems(input: StorageOptions | undefined, p = "storage"): string[] {
  const out: string[] = [];
  if (input === undefined) return out;
  if (!isObject(input)) return [`${p} must be an object`];
  const o = input as StorageOptions & Record<string, unknown>;
  unknownKeys(o, ["retentionDays", "lockRetention", "forceDestroy"], p, out);
  optBool(o, "lockRetention", p, out);
  optBool(o, "forceDestroy", p, out);
  if (o.retentionDays !== undefined && (!Number.isInteger(o.retentionDays) || o.retentionDays < 1 || o.retentionDays > 3650)) {
    out.push(`${p}.retentionDays must be an integer from 1 to 3650 (got ${JSON.stringify(o.retentionDays)})`);
  }
  return out;
}

/** Problems of a GCP region. */
export function regionProblems(region: unknown): string[] {
  return typeof region === "string" && REGION_PATTERN.test(region) ? [] : [`region must be a GCP region like europe-west4 (got ${JSON.stringify(region)})`];
}

/** Problems of a GCP project id, region and zone. */
export function locationProblems(project: unknown, region: unknown, zone: unknown): string[] {
  const out: string[] = [];
  // A project may be another resource's output (e.g. a project created in the same program): checked when known.
  const deferred = pulumi.Output.isInstance(project) || isPromiseLike(project);
  if (!deferred && (typeof project !== "string" || !PROJECT_ID_PATTERN.test(project))) {
    out.push(`project must be a GCP project id (6-30 chars, [a-z0-9-], starts with a letter) (got ${JSON.stringify(project)})`);
  }
  if (typeof region !== "string" || !REGION_PATTERN.test(region)) {
    out.push(`region must be a GCP region like europe-west4 (got ${JSON.stringify(region)})`);
  } else if (zone !== undefined) {
    if (typeof zone !== "string" || !new RegExp(`^${region}-[a-z]$`).test(zone)) {
      out.push(`zone ${JSON.stringify(zone)} is not in region ${region}: use ${region}-a, ${region}-b, …`);
    }
  }
  return out;
}

/** Problems of a room name prefix and pool id. */
export function namingProblems(namePrefix: unknown, poolId: unknown, fromResourceName: boolean): string[] {
  const out: string[] = [];
  if (typeof namePrefix !== "string" || !NAME_PREFIX_PATTERN.test(namePrefix)) {
    out.push(
      fromResourceName
        ? `the resource name ${JSON.stringify(namePrefix)} cannot prefix cloud resource ids: set namePrefix (4-20 chars of [a-z0-9-], starting with a letter)`
        : `namePrefix must be 4-20 chars of [a-z0-9-], starting with a letter and not ending with a hyphen (got ${JSON.stringify(namePrefix)})`,
    );
  }
  if (poolId !== undefined && (typeof poolId !== "string" || !POOL_ID_PATTERN.test(poolId))) {
    out.push(`poolId must be 4-32 chars of [a-z0-9-] and not start with "gcp-" (got ${JSON.stringify(poolId)})`);
  }
  return out;
}

/**
 * Every problem of a `DataCleanRoom`'s arguments: the spec (through core's `specProblems`, so the local backend and
 * GCP accept exactly the same specs) plus the GCP options.
 */
export function dataCleanRoomProblems(name: string, args: unknown): string[] {
  if (!isObject(args)) return ["args must be an object: a CleanRoomSpec plus project, region and executor"];
  const external = args.externalProviders;
  const hasExternal = Array.isArray(external) && external.length > 0;
  const out = specProblems({ ...args, providers: args.providers ?? (hasExternal ? [] : undefined) }, { extraTopLevelKeys: GCP_ARG_KEYS, allowNoProviders: hasExternal });
  if (external !== undefined) {
    if (!Array.isArray(external)) out.push("externalProviders must be an array of { name, published }");
    else {
      const names = new Set((Array.isArray(args.providers) ? args.providers : []).map((p) => (isObject(p) ? p.name : undefined)));
      external.forEach((e: unknown, i: number) => {
        const p = `externalProviders[${i}]`;
        if (!isObject(e)) {
          out.push(`${p} must be an object with name and published`);
          return;
        }
        unknownKeys(e, ["name", "published"], p, out);
        if (typeof e.name !== "string" || !PROVIDER_NAME_PATTERN.test(e.name)) out.push(`${p}.name must be the provider's name (1-24 chars of [a-z0-9-]) (got ${JSON.stringify(e.name)})`);
        else if (names.has(e.name)) out.push(`${p}.name "${e.name}" is a duplicate: provider names must be unique`);
        else names.add(e.name);
        if (e.published === undefined) out.push(`${p}.published is required: the provider stack's publishedJson output (a StackReference output or its text)`);
      });
    }
  }
  if (args.protectKeys !== undefined && typeof args.protectKeys !== "boolean") out.push("protectKeys must be a boolean");
  out.push(...vpcServiceControlsProblems(args.vpcServiceControls));
  out.push(...locationProblems(args.project, args.region, args.zone));
  out.push(...namingProblems(args.namePrefix ?? name, args.poolId, args.namePrefix === undefined));
  const attestation = isObject(args.attestation) ? args.attestation : {};
  const allowDebug = attestation.allowDebug === true;
  out.push(...networkOptionProblems(args.network as NetworkOptions | undefined));
  out.push(...executorImageProblems(args.executor as ExecutorImageOptions | undefined));
  out.push(...confidentialVmProblems(args.confidentialVm as ConfidentialVmOptions | undefined, allowDebug));
  out.push(...sandboxProblems(args.sandbox as SandboxOptions | undefined));
  out.push(...storageProblems(args.storage as StorageOptions | undefined));
  if (args.enableApis !== undefined && typeof args.enableApis !== "boolean") out.push("enableApis must be a boolean");
  if (isObject(args.confidentialVm) && args.confidentialVm.gpu === true && Array.isArray(attestation.hwModels)) {
    if (!(attestation.hwModels as unknown[]).includes("GCP_INTEL_TDX")) out.push("attestation.hwModels must include GCP_INTEL_TDX when confidentialVm.gpu is set");
  }
  return out;
}

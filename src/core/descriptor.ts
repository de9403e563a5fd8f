/**
 * The clean room descriptor: what a deployed room exports (`pulumi stack output descriptor --json > room.json`, or
 * `<dir>/descriptor.json` after `cleanroom local up`) and what every runtime command reads.
 *
 * Both backends produce the same shape, so the code above the platform interface is identical.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type AttestationPolicyInput, attestationPolicyProblems, buildAttestationCondition } from "./attestation.js";
import { type DatasetDisclosure, type ResolvedOutputDisclosure, datasetDisclosureProblems, resolvedOutputDisclosureProblems } from "./disclosure-policy.js";
import { CleanRoomError, messageOf, throwIfProblems } from "./errors.js";
import { DATASET_NAME_PATTERN, DIGEST_PATTERN, PROVIDER_NAME_PATTERN } from "./patterns.js";
import { DATASET_FORMATS, DATASET_KINDS, type DatasetSchema, SPEC_DEFAULTS, STAGE1_METHODS, filesDatasetProblems, jobTimeoutProblem, schemaProblems, standInProblem } from "./spec.js";

const STAGE1_METHOD_PATTERN = new RegExp(`^(${STAGE1_METHODS.join("|")})$`);

/** The descriptor format version this library reads and writes. */
export const DESCRIPTOR_VERSION = 1;

/** A dataset as deployed. */
export interface DescriptorDataset {
  readonly name: string;
  /** `files` for a directory tree, or absent for a table (`datasetKind()` reads it). */
  readonly kind?: string;
  /** `parquet`, or absent for a CSV table (`datasetFormat()` reads it). */
  readonly format?: string;
  /** `mst`, `aggregates` or `none`. */
  readonly stage1Method: string;
  /** `provided` when the provider publishes a stand-in to stage 1 (`datasetStandIn()` reads it), absent for none. */
  readonly standIn?: string;
  /** Total ε budget of stage-1 releases. */
  readonly epsilon: number;
  /** δ of the stage-1 budget. */
  readonly delta: number;
  /** The public schema, when the spec gave one. */
  readonly schema?: DatasetSchema;
  /** The provider's disclosure settings for jobs reading this dataset (only tighten the room's), when set. */
  readonly disclosure?: DatasetDisclosure;
}

/**
 * A provider's own trust: the policy and CEL condition that decide whether **its** key opens, set by the provider
 * (its own Workload Identity pool on GCP, in its own project; the broker's check for its key locally).
 */
export interface DescriptorProviderAttestation {
  /** The provider's policy (production image, STABLE, the executor digests it reviewed, hardware, output location). */
  readonly policy: AttestationPolicyInput;
  /** `buildAttestationCondition(policy)`: the text the provider's pool provider (or the broker, for its key) enforces. */
  readonly condition: string;
  /** GCP: full name of the provider's own pool provider; the executor exchanges its attestation token there for this provider's key. */
  readonly poolProviderName?: string;
}

/**
 * The folder of a provider's data where its datasets' privacy ledgers live (`<dataUri>/.dp-ledger/<dataset>/`): a name
 * no dataset can take. The components grant stage-2 executors create-only access to exactly this prefix.
 */
export const LEDGER_FOLDER = ".dp-ledger";

/** A data provider as deployed. */
export interface DescriptorProvider {
  readonly name: string;
  /** GCP project holding the provider's key and bucket (GCP only). */
  readonly project?: string;
  /** Job digests this provider approved. */
  readonly approvedJobs: readonly string[];
  readonly datasets: readonly DescriptorDataset[];
  /** Where the provider's encrypted data lives: `gs://<bucket>` or `file:///<dir>`. */
  readonly dataUri: string;
  /** The key that wraps the provider's data keys: a Cloud KMS CryptoKey resource name, or `local:<provider>`. */
  readonly keyName: string;
  /**
   * The provider's own attestation policy. Absent in a single-organisation room, where the room's condition decides
   * for every key (the room operator is trusted).
   */
  readonly attestation?: DescriptorProviderAttestation;
}

/** What decides whether a provider's key opens: its own policy, or the room's when it has none. */
export interface ProviderTrust {
  readonly policy: AttestationPolicyInput;
  readonly condition: string;
  /** GCP: where to exchange the attestation token for this provider's key (the room's pool when the provider has none). */
  readonly poolProviderName?: string;
  /** True when the provider set its own policy; false when it relies on the room operator's. */
  readonly own: boolean;
}

/** The policy and condition that decide whether `provider`'s key opens in room `d`. */
export function providerTrust(d: CleanRoomDescriptor, provider: DescriptorProvider): ProviderTrust {
  const a = provider.attestation;
  if (a !== undefined) {
    return { policy: a.policy, condition: a.condition, own: true, ...(a.poolProviderName === undefined ? {} : { poolProviderName: a.poolProviderName }) };
  }
  const pool = d.gcp?.poolProviderName;
  return { policy: d.attestation.policy, condition: d.attestation.condition, own: false, ...(pool === undefined ? {} : { poolProviderName: pool }) };
}

/** The attestation part of a descriptor. */
export interface DescriptorAttestation {
  /** The policy the condition was built from (so verifiers can rebuild and compare it). */
  readonly policy: AttestationPolicyInput;
  /** The CEL text of the pool provider's `attributeCondition` (or the local broker's condition). */
  readonly condition: string;
  /** The audience of the custom tokens the executor requests for receipts. */
  readonly audience: string;
  /** PEM roots a verifier trusts for this room's PKI tokens (the local root for a local room). @default - Google's pinned root */
  readonly trustedRoots?: readonly string[];
}

/** GCP specifics of a deployed room. */
export interface DescriptorGcp {
  readonly project: string;
  readonly projectNumber: string;
  readonly region: string;
  readonly zone: string;
  /** Instance template the jobs' Confidential Space VMs are created from (`projects/…/global/instanceTemplates/…` or a selfLink). */
  readonly instanceTemplate: string;
  /** Email of the workload service account attached to the VMs. */
  readonly workloadServiceAccount: string;
  /** Full name of the Workload Identity Pool: `projects/<number>/locations/global/workloadIdentityPools/<id>`. */
  readonly poolName: string;
  /** Full name of the pool's OIDC provider (STS audience is `//iam.googleapis.com/<this>`). */
  readonly poolProviderName: string;
}

/** Local-backend specifics of a room started with `cleanroom local up`. */
export interface DescriptorLocal {
  /** The room's directory (buckets, keys, sockets, logs). */
  readonly dir: string;
  /** Unix socket of the local attestation service (`POST /v1/token`). */
  readonly attestationSocket: string;
  /** Unix socket of the key broker. */
  readonly brokerSocket: string;
  /** Whether jobs run without the bubblewrap sandbox (`--insecure-no-sandbox`); every receipt says so. */
  readonly insecureNoSandbox: boolean;
  /**
   * The resource limits every job process runs under (rlimits set inside the job's sandbox): what the executor
   * enforces, from the descriptor the room started it with. @default - none (a room started before they existed)
   */
  readonly jobLimits?: LocalJobLimits;
}

/** Resource limits of a local room's jobs (`cleanroom local up --job-memory/--job-processes/--job-cpu-seconds`). */
export interface LocalJobLimits {
  /** Memory a job process may allocate (RLIMIT_DATA), in MiB. */
  readonly memoryMiB: number;
  /** Processes and threads the job may have at once (RLIMIT_NPROC, counted in the job's own user namespace). */
  readonly processes: number;
  /** CPU time each job process may use (RLIMIT_CPU), in seconds: it is then stopped with SIGXCPU. */
  readonly cpuSeconds: number;
}

/** The problems of local job limits (each a positive whole number). Pure. */
export function localJobLimitsProblems(l: unknown, path: string): string[] {
  if (!isObject(l)) return [`${path} must be an object with memoryMiB, processes and cpuSeconds`];
  const out: string[] = [];
  for (const [k, min, max] of [
    ["memoryMiB", 16, 16 * 1024 * 1024],
    ["processes", 8, 1_000_000],
    ["cpuSeconds", 1, 1_000_000_000],
  ] as const) {
    const v = l[k];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) out.push(`${path}.${k} must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  for (const k of Object.keys(l)) if (!["memoryMiB", "processes", "cpuSeconds"].includes(k)) out.push(`${path}.${k} is not a known field`);
  return out;
}

/** What a deployed room exports and the runtime reads. */
export interface CleanRoomDescriptor {
  readonly version: number;
  /** The room's name. */
  readonly name: string;
  /** `gcp` or `local`. */
  readonly platform: string;
  /** `approved-jobs` or `any-job`. */
  readonly codePolicy: string;
  /** The executor image: its manifest digest, and on GCP its `repository@sha256:` reference. */
  readonly executor: { readonly imageDigest: string; readonly imageReference?: string };
  readonly attestation: DescriptorAttestation;
  readonly output: {
    readonly maxBytes: number;
    readonly requireRelease: boolean;
    /**
     * The room's disclosure control, resolved (`resolveDisclosurePolicy` tightens it by the datasets a job reads).
     * @default - mode "review" with ACRO's thresholds, for a descriptor exported before this field existed
     */
    readonly disclosure?: ResolvedOutputDisclosure;
  };
  /**
   * The limits every job runs under (`jobs.timeoutSeconds` of the spec, or `local up --job-timeout`). The executor
   * enforces the value of the descriptor the room started it with (attested in its token).
   * @default - { timeoutSeconds: 21600 } for a descriptor exported before this field existed
   */
  readonly jobs?: { readonly timeoutSeconds: number };
  readonly providers: readonly DescriptorProvider[];
  /** Buckets (`gs://…`) or directories (`file:///…`) of the room. */
  readonly storage: { readonly jobs: string; readonly quarantine: string; readonly results: string; readonly stage1: string };
  readonly gcp?: DescriptorGcp;
  readonly local?: DescriptorLocal;
  /**
   * Local rooms only (`cleanroom local up --debug-logs`): a failed job's stderr (its last `DEBUG_STDERR_MAX_BYTES`) is
   * kept as `stderr.txt` beside its failure receipt, and every receipt of the room says `debugLogs: true`. A job's
   * strings then reach its submitter unchecked: for throwaway data only. Absent (never `false`) in every other room;
   * a GCP descriptor that carries it is refused.
   * @default - absent: a job's stderr never leaves the sandbox
   */
  readonly debugLogs?: boolean;
}

/** How much of a failed job's stderr a debug-logs room keeps (the last bytes: where a traceback ends). */
export const DEBUG_STDERR_MAX_BYTES = 64 * 1024;

/** Why a GCP room (its descriptor, its executor, its client) refuses `debugLogs`. */
export const GCP_DEBUG_LOGS_REFUSAL =
  "descriptor.debugLogs is only for local rooms (`cleanroom local up --debug-logs`): a GCP room never keeps a job's stderr; remove it, and reproduce a failure on the stage-1 data or in a local room";

/** Whether room `d` keeps failed jobs' stderr (`cleanroom local up --debug-logs`; local rooms only). */
export function debugLogsOn(d: CleanRoomDescriptor): boolean {
  return d.platform === "local" && d.debugLogs === true;
}

/** The wall-clock limit of a job in room `d`, in seconds (`descriptor.jobs.timeoutSeconds`, 6 hours when absent). */
export function jobTimeoutSeconds(d: CleanRoomDescriptor): number {
  return d.jobs?.timeoutSeconds ?? SPEC_DEFAULTS.jobTimeoutSeconds;
}

/** The default custom-token audience of a room's receipts. */
export function roomAudience(roomName: string): string {
  return `urn:attested-cleanroom:room:${roomName}`;
}

const URI_PATTERN = /^(gs:\/\/[a-z0-9][a-z0-9._-]{1,220}(\/.*)?|file:\/\/\/.+)$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string, path: string, out: string[], pattern?: RegExp): void {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0) out.push(`${path}.${key} must be a non-empty string`);
  else if (pattern && !pattern.test(v)) out.push(`${path}.${key} is malformed (got ${JSON.stringify(v)})`);
}

/** Collects every problem of a descriptor, each with its path. Pure; never throws. */
export function descriptorProblems(d: unknown): string[] {
  const out: string[] = [];
  if (!isObject(d)) return ["descriptor must be a JSON object"];
  if (d.version !== DESCRIPTOR_VERSION) {
    out.push(`descriptor.version must be ${DESCRIPTOR_VERSION} (got ${JSON.stringify(d.version)}); upgrade attested-cleanroom`);
  }
  str(d, "name", "descriptor", out);
  if (d.platform !== "gcp" && d.platform !== "local") out.push(`descriptor.platform must be "gcp" or "local"`);
  if (d.codePolicy !== "approved-jobs" && d.codePolicy !== "any-job") {
    out.push(`descriptor.codePolicy must be "approved-jobs" or "any-job"`);
  }
  if (!isObject(d.executor)) out.push("descriptor.executor must be an object with imageDigest");
  else str(d.executor, "imageDigest", "descriptor.executor", out, DIGEST_PATTERN);

  if (!isObject(d.attestation)) {
    out.push("descriptor.attestation must be an object with policy, condition and audience");
  } else {
    const a = d.attestation;
    str(a, "condition", "descriptor.attestation", out);
    str(a, "audience", "descriptor.attestation", out);
    if (!isObject(a.policy)) out.push("descriptor.attestation.policy must be an object");
    else {
      out.push(...attestationPolicyProblems(a.policy as unknown as AttestationPolicyInput, "descriptor.attestation.policy"));
      // A gcp room whose policy is the local variant would accept locally signed tokens: the two must agree.
      const policyPlatform = a.policy.platform ?? "gcp";
      if ((d.platform === "gcp" || d.platform === "local") && policyPlatform !== d.platform) {
        out.push(
          `descriptor.attestation.policy.platform is ${JSON.stringify(policyPlatform)} but the room's platform is ${JSON.stringify(d.platform)}; they must match`,
        );
      }
    }
    if (a.trustedRoots !== undefined) {
      if (d.platform === "gcp") {
        // Whoever hands out a descriptor must not be able to replace Google's root: a root of their own would let them
        // sign "Confidential Space" tokens for results that never ran in one.
        out.push(
          "descriptor.attestation.trustedRoots is only for local rooms: a GCP room's tokens chain to Google's pinned root; " +
            "remove it, and if Google rotated its root pass the new one to the verifier (--trusted-root, trustedRoots)",
        );
      } else if (!Array.isArray(a.trustedRoots) || a.trustedRoots.some((r) => typeof r !== "string" || !r.includes("BEGIN CERTIFICATE"))) {
        out.push("descriptor.attestation.trustedRoots must be an array of PEM certificates");
      }
    }
  }
  if (!isObject(d.output)) {
    out.push("descriptor.output must be an object with maxBytes and requireRelease");
  } else {
    if (!Number.isSafeInteger(d.output.maxBytes) || (d.output.maxBytes as number) < 1) {
      out.push("descriptor.output.maxBytes must be a positive integer");
    }
    if (typeof d.output.requireRelease !== "boolean") out.push("descriptor.output.requireRelease must be a boolean");
    if (d.output.disclosure !== undefined) out.push(...resolvedOutputDisclosureProblems(d.output.disclosure, "descriptor.output.disclosure"));
  }
  if (d.jobs !== undefined) {
    if (!isObject(d.jobs)) out.push("descriptor.jobs must be an object with timeoutSeconds");
    else {
      const p = jobTimeoutProblem(d.jobs.timeoutSeconds, "descriptor.jobs.timeoutSeconds");
      if (p) out.push(p);
    }
  }
  if (!Array.isArray(d.providers) || d.providers.length === 0) {
    out.push("descriptor.providers must be a non-empty array");
  } else {
    d.providers.forEach((p: unknown, i: number) => {
      providerProblems(p, `descriptor.providers[${i}]`, out);
      providerAttestationDescriptorProblems(p, d, `descriptor.providers[${i}]`, out);
    });
  }
  if (!isObject(d.storage)) {
    out.push("descriptor.storage must be an object with jobs, quarantine, results and stage1");
  } else {
    for (const k of ["jobs", "quarantine", "results", "stage1"]) str(d.storage, k, "descriptor.storage", out, URI_PATTERN);
  }
  // A pinned output location must be this room's quarantine: otherwise keys would open for jobs writing elsewhere.
  const prefix = isObject(d.attestation) && isObject(d.attestation.policy) ? d.attestation.policy.outputUriPrefix : undefined;
  if (prefix !== undefined && isObject(d.storage) && typeof d.storage.quarantine === "string" && prefix !== `${d.storage.quarantine.replace(/\/+$/, "")}/`) {
    out.push(
      `descriptor.attestation.policy.outputUriPrefix (${JSON.stringify(prefix)}) must be the room's quarantine followed by "/" (${JSON.stringify(`${d.storage.quarantine.replace(/\/+$/, "")}/`)})`,
    );
  }
  if (d.platform === "gcp") {
    if (!isObject(d.gcp)) out.push("descriptor.gcp is required when platform is gcp");
    else {
      for (const k of ["project", "projectNumber", "region", "zone", "instanceTemplate", "workloadServiceAccount", "poolName", "poolProviderName"]) {
        str(d.gcp, k, "descriptor.gcp", out);
      }
    }
  }
  if (d.debugLogs !== undefined) {
    if (d.platform === "gcp") {
      // A GCP room never lets a job's strings out unchecked: there is no production setting that keeps its stderr.
      out.push(GCP_DEBUG_LOGS_REFUSAL);
    } else if (typeof d.debugLogs !== "boolean") out.push("descriptor.debugLogs must be a boolean");
  }
  if (d.platform === "local") {
    if (!isObject(d.local)) out.push("descriptor.local is required when platform is local");
    else {
      for (const k of ["dir", "attestationSocket", "brokerSocket"]) str(d.local, k, "descriptor.local", out);
      if (typeof d.local.insecureNoSandbox !== "boolean") out.push("descriptor.local.insecureNoSandbox must be a boolean");
      if (d.local.jobLimits !== undefined) out.push(...localJobLimitsProblems(d.local.jobLimits, "descriptor.local.jobLimits"));
    }
  }
  return out;
}

/** Full name of a Workload Identity pool provider. */
const POOL_PROVIDER_PATTERN = /^projects\/[^/\s]+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}\/providers\/[a-z0-9-]{4,32}$/;

function providerAttestationDescriptorProblems(p: unknown, d: Record<string, unknown>, path: string, out: string[]): void {
  if (!isObject(p) || p.attestation === undefined) return;
  const a = p.attestation;
  const ap = `${path}.attestation`;
  if (!isObject(a)) {
    out.push(`${ap} must be an object with policy and condition`);
    return;
  }
  str(a, "condition", ap, out);
  if (!isObject(a.policy)) out.push(`${ap}.policy must be an object`);
  else {
    out.push(...attestationPolicyProblems(a.policy as unknown as AttestationPolicyInput, `${ap}.policy`));
    const platform = a.policy.platform ?? "gcp";
    if ((d.platform === "gcp" || d.platform === "local") && platform !== d.platform) {
      out.push(`${ap}.policy.platform is ${JSON.stringify(platform)} but the room's platform is ${JSON.stringify(d.platform)}; they must match`);
    }
    // A provider's output clause must name this room's quarantine: any other prefix means its key never opens here.
    const prefix = a.policy.outputUriPrefix;
    const quarantine = isObject(d.storage) && typeof d.storage.quarantine === "string" ? `${d.storage.quarantine.replace(/\/+$/, "")}/` : undefined;
    if (prefix !== undefined && quarantine !== undefined && prefix !== quarantine) {
      out.push(`${ap}.policy.outputUriPrefix (${JSON.stringify(prefix)}) must be the room's quarantine followed by "/" (${JSON.stringify(quarantine)})`);
    }
  }
  if (d.platform === "gcp") {
    if (typeof a.poolProviderName !== "string" || !POOL_PROVIDER_PATTERN.test(a.poolProviderName)) {
      out.push(
        `${ap}.poolProviderName must be the provider's own pool provider, projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<id> (got ${JSON.stringify(a.poolProviderName)})`,
      );
    }
  } else if (a.poolProviderName !== undefined) {
    out.push(`${ap}.poolProviderName is only for GCP rooms`);
  }
}

function providerProblems(p: unknown, path: string, out: string[]): void {
  if (!isObject(p)) {
    out.push(`${path} must be an object`);
    return;
  }
  str(p, "name", path, out, PROVIDER_NAME_PATTERN);
  str(p, "dataUri", path, out, URI_PATTERN);
  str(p, "keyName", path, out);
  if (!Array.isArray(p.approvedJobs) || p.approvedJobs.some((j) => typeof j !== "string" || !DIGEST_PATTERN.test(j))) {
    out.push(`${path}.approvedJobs must be an array of sha256:<64 hex> digests`);
  }
  if (!Array.isArray(p.datasets) || p.datasets.length === 0) {
    out.push(`${path}.datasets must be a non-empty array`);
    return;
  }
  p.datasets.forEach((ds: unknown, j: number) => {
    const dp = `${path}.datasets[${j}]`;
    if (!isObject(ds)) {
      out.push(`${dp} must be an object`);
      return;
    }
    str(ds, "name", dp, out, DATASET_NAME_PATTERN);
    // The spec's list, not a copy: a room whose spec says "aim" must give a descriptor that loads.
    str(ds, "stage1Method", dp, out, STAGE1_METHOD_PATTERN);
    if (ds.kind !== undefined && !DATASET_KINDS.includes(ds.kind as never)) out.push(`${dp}.kind must be one of ${DATASET_KINDS.join(", ")} (got ${JSON.stringify(ds.kind)})`);
    if (ds.kind === "files") filesDatasetProblems(ds, dp, out);
    else if (ds.format !== undefined && !DATASET_FORMATS.includes(ds.format as never)) out.push(`${dp}.format must be one of ${DATASET_FORMATS.join(", ")} (got ${JSON.stringify(ds.format)})`);
    const standIn = standInProblem(ds.standIn, dp);
    if (standIn) out.push(standIn);
    if (typeof ds.epsilon !== "number" || !(ds.epsilon > 0)) out.push(`${dp}.epsilon must be a positive number`);
    if (typeof ds.delta !== "number" || !(ds.delta > 0 && ds.delta < 1)) out.push(`${dp}.delta must be in (0, 1)`);
    if (ds.schema !== undefined) schemaProblems(ds.schema, `${dp}.schema`, out);
    if (ds.disclosure !== undefined) datasetDisclosureProblems(ds.disclosure, ds.schema, `${dp}.disclosure`, out);
  });
}

/**
 * Loads and validates a descriptor from a JSON file path or an already-parsed object.
 *
 * Also checks that `attestation.condition` is exactly what `buildAttestationCondition(attestation.policy)` gives,
 * so a hand-edited condition cannot silently weaken what verifiers and the broker enforce.
 *
 * @throws CleanRoomError `invalid-descriptor` naming every bad field, or `io-error` when the file cannot be read
 */
export function loadDescriptor(pathOrObject: string | unknown): CleanRoomDescriptor {
  let value: unknown = pathOrObject;
  if (typeof pathOrObject === "string") {
    let text: string;
    try {
      text = readFileSync(pathOrObject, "utf8");
    } catch (err) {
      if ((err as { code?: string }).code === "EISDIR") {
        throw new CleanRoomError(
          "invalid-argument",
          `${pathOrObject} is a directory, not a room descriptor: pass the descriptor file, e.g. --room ${join(pathOrObject, "descriptor.json")}`,
          { cause: err },
        );
      }
      throw new CleanRoomError(
        "io-error",
        `Cannot read the room descriptor ${pathOrObject}: ${messageOf(err)}. Create it with \`pulumi stack output descriptor --json > room.json\` or \`cleanroom local up\`.`,
        { cause: err },
      );
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new CleanRoomError("invalid-descriptor", `The room descriptor ${pathOrObject} is not valid JSON: ${messageOf(err)}`);
    }
  }
  const problems = descriptorProblems(value);
  if (problems.length === 0) {
    const d = value as CleanRoomDescriptor;
    let expected: string | undefined;
    try {
      expected = buildAttestationCondition(d.attestation.policy);
    } catch (err) {
      problems.push(`descriptor.attestation.policy cannot produce a condition: ${messageOf(err)}`);
    }
    if (expected !== undefined && expected !== d.attestation.condition) {
      problems.push(
        "descriptor.attestation.condition does not match its policy: it was edited by hand or produced by another version; re-export the descriptor",
      );
    }
    d.providers.forEach((p, i) => {
      if (p.attestation === undefined) return;
      let own: string | undefined;
      try {
        own = buildAttestationCondition(p.attestation.policy);
      } catch (err) {
        problems.push(`descriptor.providers[${i}].attestation.policy cannot produce a condition: ${messageOf(err)}`);
      }
      if (own !== undefined && own !== p.attestation.condition) {
        problems.push(
          `descriptor.providers[${i}].attestation.condition does not match its policy: it was edited by hand or produced by another version; take the provider's published outputs again`,
        );
      }
    });
  }
  throwIfProblems("invalid-descriptor", "room descriptor", problems);
  return value as CleanRoomDescriptor;
}

/** Finds a provider by name, or throws a `not-found` error listing the room's providers. */
export function findProvider(d: CleanRoomDescriptor, name: string): DescriptorProvider {
  const p = d.providers.find((x) => x.name === name);
  if (!p) {
    throw new CleanRoomError(
      "not-found",
      `Provider "${name}" is not in room "${d.name}"; its providers are: ${d.providers.map((x) => x.name).join(", ")}`,
    );
  }
  return p;
}

/** Finds a dataset of a provider, or throws a `not-found` error listing the provider's datasets. */
export function findDataset(d: CleanRoomDescriptor, provider: string, dataset: string): DescriptorDataset {
  const p = findProvider(d, provider);
  const ds = p.datasets.find((x) => x.name === dataset);
  if (!ds) {
    throw new CleanRoomError(
      "not-found",
      `Dataset "${dataset}" is not in provider "${provider}"; its datasets are: ${p.datasets.map((x) => x.name).join(", ")}`,
    );
  }
  return ds;
}

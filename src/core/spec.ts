/**
 * `CleanRoomSpec`: one plain-data description of a clean room, deployed by `new DataCleanRoom()` on GCP or by
 * `cleanroom local up` on this machine.
 *
 * Field types stay inferable by Pulumi's component schema analyzer: interfaces, strings, numbers, booleans, arrays
 * and maps only. Enumerations are plain `string`s validated here at run time (union types break the analyzer).
 */
import { attestationPolicyProblems, providerAttestationProblems } from "./attestation.js";
import { type ResolvedOutputDisclosure, datasetDisclosureProblems, outputDisclosureProblems, resolveOutputDisclosure } from "./disclosure-policy.js";
import { throwIfProblems } from "./errors.js";
import { DATASET_NAME_PATTERN, DIGEST_PATTERN, PROJECT_ID_PATTERN, PROVIDER_NAME_PATTERN } from "./patterns.js";

/** One column of a dataset's **public** schema. Domains come from here, never from the data. */
export interface ColumnSchema {
  /** Column name as it appears in the CSV header. */
  readonly name: string;
  /** `"categorical"` or `"numeric"`. */
  readonly type: string;
  /** Categorical only: every value the column may take (public knowledge, not read from the data). */
  readonly categories?: string[];
  /** Numeric only: lower bound; values below are clamped. */
  readonly min?: number;
  /** Numeric only: upper bound; values above are clamped. Must be greater than `min`. */
  readonly max?: number;
  /** Numeric only: number of equal-width bins used for stage-1 data. @default 16 */
  readonly bins?: number;
  /** Numeric only: whether synthetic values are rounded to integers. @default false */
  readonly integer?: boolean;
}

/** The public schema of a dataset. */
export interface DatasetSchema {
  /** Columns in CSV order. */
  readonly columns: ColumnSchema[];
}

/** A dataset a provider contributes. */
export interface DatasetSpec {
  /**
   * Dataset name; inputs appear to jobs at `$CLEANROOM_INPUTS/<provider>/<dataset>.<format>` (`.csv` or `.parquet`) for a
   * table, and as the read-only directory `$CLEANROOM_INPUTS/<provider>/<dataset>/` for a `files` dataset.
   */
  readonly name: string;
  /**
   * What the provider contributes: `"table"` (a CSV or Parquet table, see `format`) or `"files"` (a directory tree of any
   * files: model weights, tokenizer files, images; provisioned with `cleanroom data provision --dir`). A `files` dataset
   * has no `format` and no `schema`, and its `stage1Method` can only be `"none"` (DP synthesis needs a table).
   * @default "table"
   */
  readonly kind?: string;
  /**
   * How the provider's table is stored and what file the job sees: `"csv"` (a header row, then one line per record) or
   * `"parquet"` (provisioned with `cleanroom data provision --parquet`; its columns must be exactly the public schema's).
   * @default "csv"
   */
  readonly format?: string;
  /** The public schema (domains, bounds, bins). Required for `mst` and `aggregates` stage-1 data. @default - none */
  readonly schema?: DatasetSchema;
  /** How stage-1 (exploration) data is produced: `"mst"`, `"aim"`, `"aggregates"` or `"none"`. @default "mst" when a schema is given, otherwise "none" */
  readonly stage1Method?: string;
  /**
   * The dataset's **stand-in**: what stage 1 shows in place of data no DP method can describe (a mock model, a small
   * public sample, a schema-only description). `"provided"`: the provider publishes one with
   * `cleanroom data provision --stand-in <file|dir>` (required then) to the stage-1 storage beside the protected
   * original; it is public by definition. `"none"`: there is none, consumers "explore on nothing" (and
   * `--stand-in` is refused). A table may have both a DP artefact (`stage1Method`) and a provided stand-in (e.g. a
   * public sample of the same schema).
   * @default "none"
   */
  readonly standIn?: string;
  /** Total ε privacy budget of this dataset: stage-1 releases, DP queries and stage-2 DP releases (the ledger refuses more). @default 1 */
  readonly epsilon?: number;
  /** δ of the stage-1 budget; must be well below 1/rows. @default 1e-9 */
  readonly delta?: number;
  /**
   * The provider's own disclosure settings for jobs that read this dataset: they can only tighten the room's
   * (`output.disclosure`); when a job reads several datasets the strictest value of each wins.
   * @default - the room's disclosure policy
   */
  readonly disclosure?: DatasetDisclosureSpec;
}

/**
 * The disclosure thresholds a room or a dataset may set (see `DisclosureThresholds` in `core/disclosure.ts`). Each left
 * out takes the room's value (ACRO/SACRO's default for the room).
 */
export interface DisclosureThresholdsSpec {
  /** Smallest number of records behind any cell of a `table` output. @default 10 */
  readonly minCellCount?: number;
  /** n of the dominance (n,k) rule: how many largest contributions are summed. @default 2 */
  readonly dominanceN?: number;
  /** k of the dominance (n,k) rule, in percent (0 < k <= 100): the n largest may not make up k% of a cell. @default 90 */
  readonly dominanceK?: number;
  /** p of the p% rule, in percent (0 < p <= 100). @default 10 */
  readonly pPercent?: number;
  /** Smallest residual degrees of freedom of a `regression` output. @default 10 */
  readonly minResidualDf?: number;
  /** Most data rows a `table` output may have. @default 10000 */
  readonly maxTableRows?: number;
}

/** A provider's disclosure settings for one dataset (`datasets[].disclosure`). */
export interface DatasetDisclosureSpec extends DisclosureThresholdsSpec {
  /**
   * `"review"` or `"enforce"`: the least strict mode a job reading this dataset may run under (`enforce` > `review` >
   * `off`; the strictest of the room and every dataset read wins). `"off"` is accepted but never loosens the room's.
   * @default - the room's mode
   */
  readonly mode?: string;
  /**
   * Whether outputs that all pass may leave quarantine without this provider's release. `false` makes every result of
   * a job reading this dataset wait for a provider's `cleanroom job release`.
   * @default true
   */
  readonly releaseOnPass?: boolean;
  /**
   * Columns that together could identify a person (e.g. `["age", "postcode", "sex"]`): an output line holding a
   * combination of them that is unique in the input fails the `unique-quasi-identifiers` rule. Must be columns of the
   * dataset's schema when it has one.
   * @default []
   */
  readonly quasiIdentifiers?: string[];
}

/** The room's disclosure control (`output.disclosure`): what the executor checks in the TEE before any output leaves. */
export interface OutputDisclosureSpec extends DisclosureThresholdsSpec {
  /**
   * `"review"`: outputs that fail a check, or that no rule can judge (`model`, `other`), stay in quarantine until a
   * provider releases them; `"enforce"`: a job with any failed check has every output withheld; `"off"`: no checks (the
   * receipt says so).
   * @default "review"
   */
  readonly mode?: string;
  /**
   * Whether outputs that all pass may leave quarantine without a provider's release (`output.requireRelease` and any
   * dataset's `releaseOnPass: false` still hold them).
   * @default true
   */
  readonly releaseOnPass?: boolean;
}

/** A data provider: owns a key and a data bucket, and approves the jobs that may decrypt its data. */
export interface ProviderSpec {
  /** Provider name (GCP id rules, 1–24 characters). */
  readonly name: string;
  /** GCP project that holds this provider's key and bucket. @default - the room's project */
  readonly project?: string;
  /** The datasets this provider contributes. At least one. */
  readonly datasets: DatasetSpec[];
  /** Job bundle digests (`sha256:<64 hex>`) this provider allows to decrypt its data. @default [] */
  readonly approvedJobs?: string[];
  /**
   * The provider's own attestation requirements for its key: its key then opens only for runs that satisfy them,
   * whatever the room's `attestation` says. Fields left out take the secure default, not the room's value.
   * @default - the room's attestation policy decides for this key (single organisation: the operator is trusted)
   */
  readonly attestation?: ProviderAttestationSpec;
}

/** A provider's own attestation requirements (see `ProviderSpec.attestation`). */
export interface ProviderAttestationSpec {
  /** Executor image digests (`sha256:<64 hex>`) the provider reviewed and accepts. @default - the room's executor digest */
  readonly executorImageDigests?: string[];
  /** Accept debug Confidential Space images for this provider's key. Never for real data. @default false */
  readonly allowDebug?: boolean;
  /** Require the `STABLE` support attribute. Cannot be set together with `allowDebug`. @default true */
  readonly requireStable?: boolean;
  /** Allowed hardware models, e.g. `["GCP_INTEL_TDX"]`. @default - the room's hardware */
  readonly hwModels?: string[];
  /** Lowest Confidential Space image version (`swversion`). @default - the room's floor, if any */
  readonly minImageVersion?: number;
}

/** What the attested workload must prove before any key is released. */
export interface AttestationSpec {
  /** Accept debug Confidential Space images. Never for real data. @default false */
  readonly allowDebug?: boolean;
  /** Require the `STABLE` support attribute. Cannot be set together with `allowDebug`. @default true */
  readonly requireStable?: boolean;
  /** Allowed hardware models, e.g. `["GCP_INTEL_TDX"]`. @default - any Confidential Space hardware */
  readonly hwModels?: string[];
  /** Lowest Confidential Space image version (`swversion`, e.g. 250300). @default - any */
  readonly minImageVersion?: number;
}

/** How outputs leave the room. */
export interface OutputSpec {
  /** Largest total size of a job's outputs, in bytes. @default 104857600 (100 MiB) */
  readonly maxBytes?: number;
  /** Outputs stay in quarantine until a provider releases them (whatever the disclosure checks say). @default false */
  readonly requireRelease?: boolean;
  /** Statistical disclosure control of the outputs, inside the TEE. @default - mode "review" with ACRO's thresholds */
  readonly disclosure?: OutputDisclosureSpec;
}

/** Limits every stage-2 job of the room runs under. */
export interface JobsSpec {
  /**
   * Wall-clock limit of one job, in whole seconds (1 to 604800, one week). The executor stops a job that runs longer
   * and commits a failure receipt with `errorCode: "timeout"`; on GCP the job's VM is also deleted once the limit plus
   * a grace period (`JOB_VM_GRACE_SECONDS`, for boot and the result's upload) has passed.
   * @default 21600 (6 hours, as ManaTEE's jobs)
   */
  readonly timeoutSeconds?: number;
}

/** The whole clean room, as plain data. */
export interface CleanRoomSpec {
  /** The data providers. At least one. */
  readonly providers: ProviderSpec[];
  /** `"approved-jobs"`: a provider's key opens only for its approved job digests; `"any-job"`: for any job the attested executor runs. @default "approved-jobs" */
  readonly codePolicy?: string;
  /** Attestation requirements. @default - production images only, STABLE required */
  readonly attestation?: AttestationSpec;
  /** Output policy. @default - 100 MiB cap, no release step */
  readonly output?: OutputSpec;
  /** Limits of every job. @default - a 6-hour wall-clock limit */
  readonly jobs?: JobsSpec;
}

/** Secure defaults, in one place. Weakening any of them is an explicit, named option. */
export const SPEC_DEFAULTS = {
  codePolicy: "approved-jobs",
  /** Debug images allow SSH and operator root: they would expose the data to the operator. */
  allowDebug: false,
  /** `STABLE` images are supported and patched; `LATEST` could be lost mid-job when the token refreshes. */
  requireStable: true,
  maxBytes: 100 * 1024 * 1024,
  requireRelease: false,
  epsilon: 1,
  delta: 1e-9,
  bins: 16,
  /** A job that spins forever must not hold the data, the VM or the machine forever: 6 hours, as ManaTEE's jobs. */
  jobTimeoutSeconds: 21_600,
} as const;

/** Longest `jobs.timeoutSeconds`: one week. */
export const MAX_JOB_TIMEOUT_SECONDS = 604_800;

/**
 * How long a GCP job VM may run beyond `jobs.timeoutSeconds` (pulling the image, decrypting the inputs, hashing and
 * uploading the result) before Compute Engine deletes it (`scheduling.maxRunDuration`) and the runtime records the job
 * as failed `timeout`. The executor itself stops the job at `timeoutSeconds` and commits its receipt well before.
 */
export const JOB_VM_GRACE_SECONDS = 1_800;

/** Allowed values of the string enumerations. */
export const CODE_POLICIES = ["approved-jobs", "any-job"] as const;
export const STAGE1_METHODS = ["mst", "aim", "aggregates", "none"] as const;
/** Allowed values of `DatasetSpec.standIn`; the first is the default. */
export const STAND_INS = ["none", "provided"] as const;

/** A dataset's stand-in: its `standIn`, or `none` when it has none (every room before stand-ins existed). */
export function datasetStandIn(d: { readonly standIn?: string }): string {
  return d.standIn ?? STAND_INS[0];
}

/** The problem of a `standIn` value, or undefined when it is absent or one of `STAND_INS`. Pure; shared with the descriptor. */
export function standInProblem(v: unknown, path: string): string | undefined {
  if (v === undefined || STAND_INS.includes(v as never)) return undefined;
  return `${path}.standIn must be one of ${STAND_INS.join(", ")} (got ${JSON.stringify(v)}): "provided" when you publish a stand-in with \`cleanroom data provision --stand-in\`, "none" to explore on nothing`;
}
export const COLUMN_TYPES = ["categorical", "numeric"] as const;
/** Table formats a dataset may have (`DatasetSpec.format`); the first is the default. */
export const DATASET_FORMATS = ["csv", "parquet"] as const;

/** Dataset kinds (`DatasetSpec.kind`); the first is the default. */
export const DATASET_KINDS = ["table", "files"] as const;

/** A dataset's kind: its `kind`, or `table` when it has none (every room before kinds existed). */
export function datasetKind(d: { readonly kind?: string }): string {
  return d.kind ?? DATASET_KINDS[0];
}

/** Whether a dataset is a directory tree (`kind: "files"`) rather than a table. */
export function isFilesDataset(d: { readonly kind?: string }): boolean {
  return datasetKind(d) === "files";
}

/** A dataset's table format: its `format`, or `csv` when it has none (every room before formats existed). */
export function datasetFormat(d: { readonly format?: string }): string {
  return d.format ?? DATASET_FORMATS[0];
}

/** The name a job sees for a dataset under its provider: `<dataset>.csv`, `<dataset>.parquet`, or the directory `<dataset>` of a `files` dataset. */
export function datasetFileName(d: { readonly name: string; readonly format?: string; readonly kind?: string }): string {
  return isFilesDataset(d) ? d.name : `${d.name}.${datasetFormat(d)}`;
}

const MAX_EPSILON = 20;
const MAX_BINS = 1000;

/** Options for `validateSpec`. */
export interface ValidateSpecOptions {
  /** Top-level keys that belong to the caller (e.g. the component's GCP options) and are not spec typos. */
  readonly extraTopLevelKeys?: readonly string[];
  /** Accept an empty `providers` list (the caller has providers from elsewhere, e.g. other stacks). @default false */
  readonly allowNoProviders?: boolean;
}

const TOP_KEYS = ["providers", "codePolicy", "attestation", "output", "jobs"];
const PROVIDER_KEYS = ["name", "project", "datasets", "approvedJobs", "attestation"];
const DATASET_KEYS = ["name", "kind", "format", "schema", "stage1Method", "standIn", "epsilon", "delta", "disclosure"];
const COLUMN_KEYS = ["name", "type", "categories", "min", "max", "bins", "integer"];
const ATTESTATION_KEYS = ["allowDebug", "requireStable", "hwModels", "minImageVersion"];
const OUTPUT_KEYS = ["maxBytes", "requireRelease", "disclosure"];
const JOBS_KEYS = ["timeoutSeconds"];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string, out: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) out.push(`${path}.${k} is not a known field (known: ${allowed.join(", ")})`);
  }
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * Collects every problem of a spec, each prefixed with its path (`providers[1].datasets[0].epsilon must be > 0`).
 * Pure; never throws.
 */
export function specProblems(spec: unknown, options: ValidateSpecOptions = {}): string[] {
  const out: string[] = [];
  if (!isObject(spec)) return ["spec must be a JSON object with a `providers` array"];
  if ("debugLogs" in spec) {
    // Not a spec field on purpose: a GCP room (and so the components and the policy pack) has no way to keep a job's stderr.
    out.push("spec.debugLogs is not a spec field: keeping a failed job's stderr is a local-only opt-in (`cleanroom local up --debug-logs`); a GCP room never keeps it");
  }
  unknownKeys(Object.fromEntries(Object.entries(spec).filter(([k]) => k !== "debugLogs")), [...TOP_KEYS, ...(options.extraTopLevelKeys ?? [])], "spec", out);

  if (spec.codePolicy !== undefined && !CODE_POLICIES.includes(spec.codePolicy as never)) {
    out.push(`codePolicy must be one of ${CODE_POLICIES.join(", ")} (got ${JSON.stringify(spec.codePolicy)})`);
  }
  if (!Array.isArray(spec.providers) || (spec.providers.length === 0 && options.allowNoProviders !== true)) {
    out.push("providers must be a non-empty array: a room needs at least one data provider");
  } else {
    const seen = new Set<string>();
    spec.providers.forEach((p: unknown, i: number) => {
      providerProblems(p, `providers[${i}]`, out);
      if (isObject(p) && typeof p.name === "string") {
        if (seen.has(p.name)) out.push(`providers[${i}].name "${p.name}" is a duplicate: provider names must be unique`);
        seen.add(p.name);
      }
    });
  }
  if (spec.attestation !== undefined) attestationProblems(spec.attestation, out);
  if (spec.output !== undefined) outputProblems(spec.output, out);
  if (spec.jobs !== undefined) jobsProblems(spec.jobs, out);
  return out;
}

function providerProblems(p: unknown, path: string, out: string[]): void {
  if (!isObject(p)) {
    out.push(`${path} must be an object with name and datasets`);
    return;
  }
  unknownKeys(p, PROVIDER_KEYS, path, out);
  if (typeof p.name !== "string" || !PROVIDER_NAME_PATTERN.test(p.name)) {
    out.push(
      `${path}.name must be 1-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen (got ${JSON.stringify(p.name)})`,
    );
  }
  if (p.project !== undefined && (typeof p.project !== "string" || !PROJECT_ID_PATTERN.test(p.project))) {
    out.push(`${path}.project must be a GCP project id (6-30 chars, [a-z0-9-], starts with a letter) (got ${JSON.stringify(p.project)})`);
  }
  if (!Array.isArray(p.datasets) || p.datasets.length === 0) {
    out.push(`${path}.datasets must be a non-empty array`);
  } else {
    const seen = new Set<string>();
    p.datasets.forEach((d: unknown, j: number) => {
      datasetProblems(d, `${path}.datasets[${j}]`, out);
      if (isObject(d) && typeof d.name === "string") {
        if (seen.has(d.name)) out.push(`${path}.datasets[${j}].name "${d.name}" is a duplicate within this provider`);
        seen.add(d.name);
      }
    });
  }
  out.push(...providerAttestationProblems(p.attestation, `${path}.attestation`));
  if (p.approvedJobs !== undefined) {
    if (!Array.isArray(p.approvedJobs)) {
      out.push(`${path}.approvedJobs must be an array of job digests`);
    } else {
      const seen = new Set<string>();
      p.approvedJobs.forEach((d: unknown, k: number) => {
        if (typeof d !== "string" || !DIGEST_PATTERN.test(d)) {
          out.push(`${path}.approvedJobs[${k}] must be sha256:<64 lowercase hex> (got ${JSON.stringify(d)}); get it from \`cleanroom job pack\``);
        } else if (seen.has(d)) {
          out.push(`${path}.approvedJobs[${k}] is listed twice`);
        } else {
          seen.add(d);
        }
      });
    }
  }
}

function datasetProblems(d: unknown, path: string, out: string[]): void {
  if (!isObject(d)) {
    out.push(`${path} must be an object with a name`);
    return;
  }
  unknownKeys(d, DATASET_KEYS, path, out);
  if (typeof d.name !== "string" || !DATASET_NAME_PATTERN.test(d.name)) {
    out.push(`${path}.name must be 1-48 chars of [a-z0-9_-], starting with a letter (got ${JSON.stringify(d.name)})`);
  }
  if (d.kind !== undefined && !DATASET_KINDS.includes(d.kind as never)) {
    out.push(`${path}.kind must be one of ${DATASET_KINDS.join(", ")} (got ${JSON.stringify(d.kind)}); leave it out for a table`);
  }
  if (d.kind === "files") filesDatasetProblems(d, path, out);
  else if (d.format !== undefined && !DATASET_FORMATS.includes(d.format as never)) {
    out.push(`${path}.format must be one of ${DATASET_FORMATS.join(", ")} (got ${JSON.stringify(d.format)}); leave it out for a CSV table`);
  }
  if (d.stage1Method !== undefined && !STAGE1_METHODS.includes(d.stage1Method as never)) {
    out.push(`${path}.stage1Method must be one of ${STAGE1_METHODS.join(", ")} (got ${JSON.stringify(d.stage1Method)})`);
  }
  if ((d.stage1Method === "mst" || d.stage1Method === "aim" || d.stage1Method === "aggregates") && d.schema === undefined) {
    out.push(`${path}.schema is required when stage1Method is "${d.stage1Method}": DP domains must come from a public schema`);
  }
  const standIn = standInProblem(d.standIn, path);
  if (standIn) out.push(standIn);
  if (d.epsilon !== undefined && (!isFiniteNumber(d.epsilon) || d.epsilon <= 0 || d.epsilon > MAX_EPSILON)) {
    out.push(`${path}.epsilon must be > 0 and <= ${MAX_EPSILON} (got ${JSON.stringify(d.epsilon)})`);
  }
  if (d.delta !== undefined && (!isFiniteNumber(d.delta) || d.delta <= 0 || d.delta >= 1e-3)) {
    out.push(`${path}.delta must be > 0 and < 0.001 (got ${JSON.stringify(d.delta)}); use about 1/(rows^2)`);
  }
  if (d.schema !== undefined) schemaProblems(d.schema, `${path}.schema`, out);
  if (d.disclosure !== undefined) datasetDisclosureProblems(d.disclosure, d.schema, `${path}.disclosure`, out);
}

/**
 * The problems of a `files` dataset's table-only fields: a directory tree has no table format, no column schema and no
 * DP synthesis. Shared with the descriptor's validation. Pure; never throws.
 */
export function filesDatasetProblems(d: Record<string, unknown>, path: string, out: string[]): void {
  if (d.format !== undefined) out.push(`${path}.format is for tables; a files dataset has none (remove format, or remove kind: "files" for a table)`);
  if (d.schema !== undefined) out.push(`${path}.schema is for tables; a files dataset has none (remove schema, or remove kind: "files" for a table)`);
  if (d.stage1Method !== undefined && d.stage1Method !== "none") {
    out.push(`${path}.stage1Method must be "none" for a files dataset (got ${JSON.stringify(d.stage1Method)}): DP synthesis needs a table`);
  }
}

/** Collects the problems of a public dataset schema. Pure; never throws. */
export function schemaProblems(schema: unknown, path: string, out: string[] = []): string[] {
  if (!isObject(schema) || !Array.isArray(schema.columns) || schema.columns.length === 0) {
    out.push(`${path}.columns must be a non-empty array of column definitions`);
    return out;
  }
  unknownKeys(schema, ["columns"], path, out);
  const seen = new Set<string>();
  schema.columns.forEach((c: unknown, i: number) => {
    const cp = `${path}.columns[${i}]`;
    if (!isObject(c)) {
      out.push(`${cp} must be an object with name and type`);
      return;
    }
    unknownKeys(c, COLUMN_KEYS, cp, out);
    if (typeof c.name !== "string" || c.name.length === 0) {
      out.push(`${cp}.name must be a non-empty string`);
    } else {
      if (seen.has(c.name)) out.push(`${cp}.name "${c.name}" is a duplicate column`);
      seen.add(c.name);
    }
    if (c.type === "categorical") {
      if (!Array.isArray(c.categories) || c.categories.length === 0) {
        out.push(`${cp}.categories must be a non-empty array of the values "${String(c.name)}" may take`);
      } else {
        const cats = new Set<string>();
        c.categories.forEach((v: unknown, k: number) => {
          if (typeof v !== "string") out.push(`${cp}.categories[${k}] must be a string`);
          else if (cats.has(v)) out.push(`${cp}.categories[${k}] "${v}" is listed twice`);
          else cats.add(v);
        });
      }
      for (const k of ["min", "max", "bins", "integer"]) {
        if (c[k] !== undefined) out.push(`${cp}.${k} applies to numeric columns only`);
      }
    } else if (c.type === "numeric") {
      if (!isFiniteNumber(c.min) || !isFiniteNumber(c.max)) {
        out.push(`${cp} needs finite numeric min and max (public bounds, not read from the data)`);
      } else if (!(c.min < c.max)) {
        out.push(`${cp}.min (${c.min}) must be less than max (${c.max})`);
      }
      if (c.bins !== undefined && (!Number.isInteger(c.bins) || (c.bins as number) < 1 || (c.bins as number) > MAX_BINS)) {
        out.push(`${cp}.bins must be an integer from 1 to ${MAX_BINS} (got ${JSON.stringify(c.bins)})`);
      }
      if (c.integer !== undefined && typeof c.integer !== "boolean") out.push(`${cp}.integer must be a boolean`);
      if (c.categories !== undefined) out.push(`${cp}.categories applies to categorical columns only`);
    } else {
      out.push(`${cp}.type must be one of ${COLUMN_TYPES.join(", ")} (got ${JSON.stringify(c.type)})`);
    }
  });
  return out;
}

function attestationProblems(a: unknown, out: string[]): void {
  if (!isObject(a)) {
    out.push("attestation must be an object");
    return;
  }
  unknownKeys(a, ATTESTATION_KEYS, "attestation", out);
  // Reuse the policy validator so the spec and the condition builder can never disagree.
  const probe = {
    imageDigests: [`sha256:${"0".repeat(64)}`],
    allowDebug: a.allowDebug,
    requireStable: a.requireStable,
    hwModels: a.hwModels,
    minImageVersion: a.minImageVersion,
  } as Parameters<typeof attestationPolicyProblems>[0];
  out.push(...attestationPolicyProblems(probe, "attestation"));
}

function outputProblems(o: unknown, out: string[]): void {
  if (!isObject(o)) {
    out.push("output must be an object");
    return;
  }
  unknownKeys(o, OUTPUT_KEYS, "output", out);
  if (o.maxBytes !== undefined && (!Number.isSafeInteger(o.maxBytes) || (o.maxBytes as number) < 1)) {
    out.push(`output.maxBytes must be a positive integer number of bytes (got ${JSON.stringify(o.maxBytes)})`);
  }
  if (o.requireRelease !== undefined && typeof o.requireRelease !== "boolean") {
    out.push("output.requireRelease must be a boolean");
  }
  if (o.disclosure !== undefined) outputDisclosureProblems(o.disclosure, "output.disclosure", out);
}

/** The problem of a job time limit, or undefined when it is a whole number of seconds within the bounds. Pure. */
export function jobTimeoutProblem(v: unknown, what = "jobs.timeoutSeconds"): string | undefined {
  if (Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_JOB_TIMEOUT_SECONDS) return undefined;
  return `${what} must be a whole number of seconds from 1 to ${MAX_JOB_TIMEOUT_SECONDS} (one week) (got ${JSON.stringify(v)})`;
}

function jobsProblems(j: unknown, out: string[]): void {
  if (!isObject(j)) {
    out.push("jobs must be an object");
    return;
  }
  unknownKeys(j, JOBS_KEYS, "jobs", out);
  if (j.timeoutSeconds !== undefined) {
    const p = jobTimeoutProblem(j.timeoutSeconds);
    if (p) out.push(p);
  }
}

/**
 * Validates a spec and returns it typed.
 *
 * @throws CleanRoomError `invalid-spec` listing every problem with its path
 */
export function validateSpec(spec: unknown, options: ValidateSpecOptions = {}): CleanRoomSpec {
  throwIfProblems("invalid-spec", "clean room spec", specProblems(spec, options));
  return spec as CleanRoomSpec;
}

/** A spec with every default filled in: what both backends actually deploy. */
export interface ResolvedSpec {
  readonly providers: ReadonlyArray<{
    readonly name: string;
    readonly project?: string;
    readonly approvedJobs: readonly string[];
    /** The provider's own attestation requirements, as given (resolved against the room by `providerAttestationPolicy`). */
    readonly attestation?: ProviderAttestationSpec;
    readonly datasets: ReadonlyArray<{
      readonly name: string;
      /** Present only when not the default `table`, so the descriptors of table rooms stay as they were. */
      readonly kind?: string;
      /** Present only when not the default `csv`, so the descriptors of CSV rooms stay as they were. */
      readonly format?: string;
      readonly schema?: DatasetSchema;
      readonly stage1Method: string;
      /** Present only when not the default `none`, so the descriptors of rooms without stand-ins stay as they were. */
      readonly standIn?: string;
      readonly epsilon: number;
      readonly delta: number;
      /** The provider's disclosure settings, as given (present only when set). */
      readonly disclosure?: DatasetDisclosureSpec;
    }>;
  }>;
  readonly codePolicy: string;
  readonly attestation: {
    readonly allowDebug: boolean;
    readonly requireStable: boolean;
    readonly hwModels?: readonly string[];
    readonly minImageVersion?: number;
  };
  readonly output: { readonly maxBytes: number; readonly requireRelease: boolean; readonly disclosure: ResolvedOutputDisclosure };
  readonly jobs: { readonly timeoutSeconds: number };
}

/**
 * Validates a spec and fills in the secure defaults of `SPEC_DEFAULTS`.
 *
 * @throws CleanRoomError `invalid-spec`
 */
export function resolveSpec(spec: unknown, options: ValidateSpecOptions = {}): ResolvedSpec {
  const s = validateSpec(spec, options);
  const allowDebug = s.attestation?.allowDebug ?? SPEC_DEFAULTS.allowDebug;
  return {
    providers: s.providers.map((p) => ({
      name: p.name,
      ...(p.project !== undefined ? { project: p.project } : {}),
      approvedJobs: [...(p.approvedJobs ?? [])],
      ...(p.attestation === undefined ? {} : { attestation: structuredClone(p.attestation) }),
      datasets: p.datasets.map((d) => ({
        name: d.name,
        ...(datasetKind(d) !== DATASET_KINDS[0] ? { kind: d.kind } : {}),
        ...(datasetFormat(d) !== DATASET_FORMATS[0] ? { format: d.format } : {}),
        ...(d.schema !== undefined ? { schema: d.schema } : {}),
        stage1Method: d.stage1Method ?? (d.schema ? "mst" : "none"),
        ...(datasetStandIn(d) !== STAND_INS[0] ? { standIn: d.standIn } : {}),
        epsilon: d.epsilon ?? SPEC_DEFAULTS.epsilon,
        delta: d.delta ?? SPEC_DEFAULTS.delta,
        ...(d.disclosure !== undefined ? { disclosure: structuredClone(d.disclosure) } : {}),
      })),
    })),
    codePolicy: s.codePolicy ?? SPEC_DEFAULTS.codePolicy,
    attestation: {
      allowDebug,
      requireStable: allowDebug ? false : (s.attestation?.requireStable ?? SPEC_DEFAULTS.requireStable),
      ...(s.attestation?.hwModels !== undefined ? { hwModels: [...s.attestation.hwModels] } : {}),
      ...(s.attestation?.minImageVersion !== undefined ? { minImageVersion: s.attestation.minImageVersion } : {}),
    },
    output: {
      maxBytes: s.output?.maxBytes ?? SPEC_DEFAULTS.maxBytes,
      requireRelease: s.output?.requireRelease ?? SPEC_DEFAULTS.requireRelease,
      disclosure: resolveOutputDisclosure(s.output?.disclosure),
    },
    jobs: { timeoutSeconds: s.jobs?.timeoutSeconds ?? SPEC_DEFAULTS.jobTimeoutSeconds },
  };
}

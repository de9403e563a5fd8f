/**
 * The attestation condition, written once.
 *
 * `buildAttestationCondition` produces the CEL text that the GCP component puts into the Workload Identity Pool
 * provider's `attributeCondition`. The local key broker, `verifyAttestation` and `cleanroom policy test` evaluate
 * that same text with a real CEL engine (`@bufbuild/cel`): there is no hand-written JavaScript twin of the rules.
 */
import { type CelInput, celEnv, isCelError, parse, plan, unparse } from "@bufbuild/cel";
import { CleanRoomError, messageOf, throwIfProblems } from "./errors.js";
import { DIGEST_PATTERN, PROJECT_ID_PATTERN } from "./patterns.js";

/** The issuer of Google Confidential Space attestation tokens (no trailing slash: it must match `iss` exactly). */
export const CONFIDENTIAL_SPACE_ISSUER = "https://confidentialcomputing.googleapis.com";
/** The issuer URI configured on a Workload Identity Pool OIDC provider for Confidential Space. */
export const CONFIDENTIAL_SPACE_PROVIDER_ISSUER_URI = "https://confidentialcomputing.googleapis.com/";
/** `swname` of a genuine Confidential Space image (production or debug). */
export const CONFIDENTIAL_SPACE_SWNAME = "CONFIDENTIAL_SPACE";
/** `swname` the local backend's attestation service puts in its tokens: it never claims to be Google's. */
export const LOCAL_SWNAME = "CLEANROOM_LOCAL";
/** `iss` of tokens signed by the local backend's attestation service (ES256, local 3-certificate chain). */
export const LOCAL_ISSUER = "https://attestation.cleanroom.local";
/** `hwmodel` of local tokens: there is no hardware TEE on a developer machine. */
export const LOCAL_HWMODEL = "NONE";
/** The environment variable through which the job bundle digest reaches the workload (and the token). */
export const JOB_DIGEST_ENV = "CLEANROOM_JOB_DIGEST";
/** `<quarantine>/<jobId>`: where the executor writes outputs, receipt and attestation token (also in the token). */
export const OUTPUT_URI_ENV = "CLEANROOM_OUTPUT_URI";
/** The Workload Identity Pool provider's attribute condition is limited to 4096 characters by IAM. */
export const MAX_CONDITION_LENGTH = 4096;
/** Hardware models a Confidential Space token can carry. */
export const KNOWN_HW_MODELS = ["GCP_INTEL_TDX", "GCP_AMD_SEV", "GCP_AMD_SEV_ES", "GCP_SHIELDED_VM", LOCAL_HWMODEL] as const;

/** What a relying party (a KMS key, the local broker, a verifier) demands of an attested workload. */
export interface AttestationPolicyInput {
  /** Executor image manifest digests (`sha256:<64 hex>`) allowed to run. At least one. */
  readonly imageDigests: readonly string[];
  /** Service accounts of which at least one must be attached to the VM (`google_service_accounts`). */
  readonly serviceAccounts?: readonly string[];
  /** GCP projects in which the VM may run (`submods.gce.project_id`). */
  readonly projectIds?: readonly string[];
  /** Accept debug Confidential Space images (SSH, operator root). Never for real data. @default false */
  readonly allowDebug?: boolean;
  /** Require the `STABLE` support attribute (a supported, patched image). Ignored when `allowDebug`. @default true */
  readonly requireStable?: boolean;
  /** Allowed hardware models, e.g. `["GCP_INTEL_TDX"]`. @default - any */
  readonly hwModels?: readonly string[];
  /** Lowest Confidential Space image version (`swversion`, e.g. 250300). @default - any */
  readonly minImageVersion?: number;
  /** Which attester issues the tokens: Google (`gcp`) or this machine's local service (`local`). @default "gcp" */
  readonly platform?: string;
  /**
   * Where every job must write its result: the token's `env_override.CLEANROOM_OUTPUT_URI` must start with this
   * prefix — the room's quarantine, ending in `/` (`gs://<bucket>/`, or `file:///…/` locally). The submitter sets that
   * variable; without this clause an approved job launched with an output location of the submitter's own would get
   * the keys and skip the provider's release review.
   * @default - not checked
   */
  readonly outputUriPrefix?: string;
}

/**
 * What one data provider demands before its own key opens, on top of the room it joins: the provider's **own**
 * choice, so a room operator who loosens the room's condition (debug images, another executor) changes nothing for
 * this provider's key. Fields left out take the secure default, never the room's value.
 */
export interface ProviderAttestationInput {
  /** Executor image digests (`sha256:<64 hex>`) the provider reviewed and accepts. @default - the room's executor digest */
  readonly executorImageDigests?: readonly string[];
  /** Accept debug Confidential Space images. Never for real data. @default false */
  readonly allowDebug?: boolean;
  /** Require the `STABLE` support attribute. @default true (false with `allowDebug`) */
  readonly requireStable?: boolean;
  /** Allowed hardware models. @default - the room's hardware models */
  readonly hwModels?: readonly string[];
  /** Lowest Confidential Space image version. @default - the room's floor, if any */
  readonly minImageVersion?: number;
}

/**
 * A provider's own attestation policy, built from the room's policy (which executor, which service account and
 * project, where outputs go, which hardware) and the provider's own requirements.
 *
 * With no `own` requirements the room's policy is taken as it is: that is the single-organisation form, in which the
 * room operator is trusted. With `own`, every security-relevant field the provider leaves out gets the secure default
 * (production image, `STABLE`), not the room's value, so a debug room cannot make a provider's key accept debug VMs.
 */
export function providerAttestationPolicy(room: AttestationPolicyInput, own?: ProviderAttestationInput): AttestationPolicyInput {
  if (own === undefined) return { ...room };
  const allowDebug = own.allowDebug ?? false;
  const hwModels = own.hwModels ?? room.hwModels;
  const minImageVersion = own.minImageVersion ?? room.minImageVersion;
  return {
    imageDigests: [...(own.executorImageDigests ?? room.imageDigests)],
    ...(room.serviceAccounts === undefined ? {} : { serviceAccounts: [...room.serviceAccounts] }),
    ...(room.projectIds === undefined ? {} : { projectIds: [...room.projectIds] }),
    allowDebug,
    requireStable: allowDebug ? false : (own.requireStable ?? true),
    ...(hwModels === undefined ? {} : { hwModels: [...hwModels] }),
    ...(minImageVersion === undefined ? {} : { minImageVersion }),
    ...(room.platform === undefined ? {} : { platform: room.platform }),
    ...(room.outputUriPrefix === undefined ? {} : { outputUriPrefix: room.outputUriPrefix }),
  };
}

/** Problems of a provider's own attestation requirements (the same rules as a policy's). Pure. */
export function providerAttestationProblems(own: unknown, path: string): string[] {
  if (own === undefined) return [];
  if (own === null || typeof own !== "object" || Array.isArray(own)) return [`${path} must be an object`];
  const o = own as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(o)) {
    if (!["executorImageDigests", "allowDebug", "requireStable", "hwModels", "minImageVersion"].includes(k)) {
      out.push(`${path}.${k} is not a known field (known: executorImageDigests, allowDebug, requireStable, hwModels, minImageVersion)`);
    }
  }
  const digests = o.executorImageDigests;
  if (digests !== undefined && (!Array.isArray(digests) || digests.length === 0)) {
    out.push(`${path}.executorImageDigests must list at least one executor image digest (sha256:<64 lowercase hex>)`);
  }
  const probe = {
    imageDigests: Array.isArray(digests) && digests.length > 0 ? digests : [`sha256:${"0".repeat(64)}`],
    ...(o.allowDebug === undefined ? {} : { allowDebug: o.allowDebug }),
    ...(o.requireStable === undefined ? {} : { requireStable: o.requireStable }),
    ...(o.hwModels === undefined ? {} : { hwModels: o.hwModels }),
    ...(o.minImageVersion === undefined ? {} : { minImageVersion: o.minImageVersion }),
  } as AttestationPolicyInput;
  out.push(...attestationPolicyProblems(probe, path).map((p) => p.replace(`${path}.imageDigests`, `${path}.executorImageDigests`)));
  return out;
}

/** `submods.container` of a Confidential Space token. */
export interface ContainerClaims {
  readonly image_reference?: string;
  readonly image_digest?: string;
  readonly image_id?: string;
  readonly restart_policy?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly env_override?: Readonly<Record<string, string>> | null;
  readonly cmd_override?: readonly string[] | null;
}

/** `submods.gce` of a Confidential Space token. */
export interface GceClaims {
  readonly zone?: string;
  readonly project_id?: string;
  readonly project_number?: string;
  readonly instance_name?: string;
  readonly instance_id?: string;
}

/** The claims of a Confidential Space (or local) attestation token that this library reads. */
export interface AttestationClaims {
  readonly iss?: string;
  readonly aud?: string | readonly string[];
  readonly sub?: string;
  readonly iat?: number;
  readonly nbf?: number;
  readonly exp?: number;
  readonly eat_nonce?: string | readonly string[];
  readonly secboot?: boolean;
  readonly hwmodel?: string;
  readonly swname?: string;
  readonly swversion?: readonly string[];
  readonly dbgstat?: string;
  readonly google_service_accounts?: readonly string[];
  readonly submods?: {
    readonly confidential_space?: { readonly support_attributes?: readonly string[] };
    readonly container?: ContainerClaims;
    readonly gce?: GceClaims;
    readonly [other: string]: unknown;
  };
  readonly [other: string]: unknown;
}

/** The result of evaluating a condition on claims. */
export interface ConditionResult {
  /** True only when the condition evaluated to exactly `true`. */
  readonly allowed: boolean;
  /** Why it was denied: the failing clauses, or the evaluation error. */
  readonly reason?: string;
  /** The top-level clauses that did not hold (empty when allowed). */
  readonly failedClauses?: readonly string[];
}

const EMAIL_PATTERN = /^[a-z0-9][a-z0-9._+-]{0,63}@[a-z0-9.-]{1,253}$/;

const HWMODEL_PATTERN = /^[A-Z0-9_]{1,40}$/;

/**
 * A bucket or directory prefix that is safe inside a CEL string literal: URL characters only (file URIs are
 * percent-encoded), so no quote, backslash, space or control character can end the literal.
 */
const OUTPUT_PREFIX_PATTERN = /^(gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/|file:\/\/\/[A-Za-z0-9._~!$&()*+,;=:@%/-]*\/)$/;

/**
 * Checks an attestation policy. Every value that ends up in CEL text is validated against a strict pattern, so no
 * input can inject CEL.
 *
 * @returns the list of problems (empty when valid)
 */
export function attestationPolicyProblems(policy: AttestationPolicyInput, path = "policy"): string[] {
  const problems: string[] = [];
  // Callers pass parsed JSON (descriptors, CLI files): a non-object must be a listed problem, not a TypeError.
  if (policy === null || typeof policy !== "object" || Array.isArray(policy)) {
    return [`${path} must be an object with at least imageDigests`];
  }
  const platform = policy.platform ?? "gcp";
  if (platform !== "gcp" && platform !== "local") {
    problems.push(`${path}.platform must be "gcp" or "local" (got ${JSON.stringify(platform)})`);
  }
  if (!Array.isArray(policy.imageDigests) || policy.imageDigests.length === 0) {
    problems.push(`${path}.imageDigests must list at least one executor image digest (sha256:<64 lowercase hex>)`);
  } else {
    policy.imageDigests.forEach((d, i) => {
      if (typeof d !== "string" || !DIGEST_PATTERN.test(d)) {
        problems.push(`${path}.imageDigests[${i}] must be sha256:<64 lowercase hex> (got ${JSON.stringify(d)})`);
      }
    });
  }
  listProblems(policy.serviceAccounts, `${path}.serviceAccounts`, EMAIL_PATTERN, "a service account email", problems);
  listProblems(policy.projectIds, `${path}.projectIds`, PROJECT_ID_PATTERN, "a GCP project id", problems);
  listProblems(policy.hwModels, `${path}.hwModels`, HWMODEL_PATTERN, `one of ${KNOWN_HW_MODELS.join(", ")}`, problems);
  if (policy.allowDebug !== undefined && typeof policy.allowDebug !== "boolean") {
    problems.push(`${path}.allowDebug must be a boolean`);
  }
  if (policy.requireStable !== undefined && typeof policy.requireStable !== "boolean") {
    problems.push(`${path}.requireStable must be a boolean`);
  }
  if (policy.allowDebug === true && policy.requireStable === true) {
    problems.push(
      `${path}: allowDebug cannot be combined with requireStable: debug images carry no support attributes; drop requireStable (or allowDebug)`,
    );
  }
  if (policy.outputUriPrefix !== undefined && (typeof policy.outputUriPrefix !== "string" || !OUTPUT_PREFIX_PATTERN.test(policy.outputUriPrefix))) {
    problems.push(
      `${path}.outputUriPrefix must be the quarantine's URI ending in "/", gs://<bucket>/ or file:///<dir>/ (got ${JSON.stringify(policy.outputUriPrefix)})`,
    );
  }
  if (policy.minImageVersion !== undefined) {
    const v = policy.minImageVersion;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 99_999_999) {
      problems.push(`${path}.minImageVersion must be an integer like 250300 (YYMM##) (got ${JSON.stringify(v)})`);
    }
  }
  return problems;
}

function listProblems(
  list: readonly string[] | undefined,
  path: string,
  pattern: RegExp,
  what: string,
  problems: string[],
): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) {
    problems.push(`${path} must be an array of strings`);
    return;
  }
  list.forEach((v, i) => {
    if (typeof v !== "string" || !pattern.test(v)) {
      problems.push(`${path}[${i}] must be ${what} (got ${JSON.stringify(v)})`);
    }
  });
}

/** Quotes a pre-validated string as a CEL string literal. */
function lit(s: string): string {
  return `'${s}'`;
}

function oneOf(expr: string, values: readonly string[]): string {
  return values.length === 1 ? `${expr} == ${lit(values[0]!)}` : `${expr} in [${values.map(lit).join(", ")}]`;
}

function anyIn(values: readonly string[], listExpr: string): string {
  // `exists()` would read better but cannot be unparsed for failure reports; an `||` chain is equivalent.
  const parts = values.map((v) => `${lit(v)} in ${listExpr}`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(" || ")})`;
}

/**
 * Builds the CEL text for a Workload Identity Pool provider's `attributeCondition` from a policy.
 *
 * Production defaults (platform `gcp`): `swname == 'CONFIDENTIAL_SPACE'`, `dbgstat == 'disabled-since-boot'` (a
 * debug image also reports `CONFIDENTIAL_SPACE`, so `swname` alone would admit it), `'STABLE' in
 * support_attributes` (not `LATEST`, which an hourly-refreshed token can lose mid-job), the image digest pinned (tags
 * move), and optionally the service account, project, hardware and image-version floor.
 *
 * The `local` platform swaps the platform claims for the honest local ones (`swname == 'CLEANROOM_LOCAL'`), so a
 * local condition never accepts a Google token and a GCP condition never accepts a local token.
 *
 * @throws CleanRoomError `invalid-policy` for a bad policy, `condition-too-long` beyond 4096 characters
 */
export function buildAttestationCondition(policy: AttestationPolicyInput): string {
  throwIfProblems("invalid-policy", "attestation policy", attestationPolicyProblems(policy));
  const clauses: string[] = [];
  const platform = policy.platform ?? "gcp";
  if (platform === "local") {
    clauses.push(`assertion.swname == ${lit(LOCAL_SWNAME)}`);
  } else {
    clauses.push(`assertion.swname == ${lit(CONFIDENTIAL_SPACE_SWNAME)}`);
    clauses.push("assertion.secboot == true");
    if (policy.allowDebug !== true) {
      clauses.push("assertion.dbgstat == 'disabled-since-boot'");
      if (policy.requireStable !== false) {
        clauses.push("'STABLE' in assertion.submods.confidential_space.support_attributes");
      }
    }
  }
  clauses.push(oneOf("assertion.submods.container.image_digest", policy.imageDigests));
  if (policy.serviceAccounts && policy.serviceAccounts.length > 0) {
    clauses.push(anyIn(policy.serviceAccounts, "assertion.google_service_accounts"));
  }
  if (policy.projectIds && policy.projectIds.length > 0) {
    clauses.push(oneOf("assertion.submods.gce.project_id", policy.projectIds));
  }
  if (policy.hwModels && policy.hwModels.length > 0) {
    clauses.push(oneOf("assertion.hwmodel", policy.hwModels));
  }
  if (policy.minImageVersion !== undefined) {
    clauses.push(`int(assertion.swversion[0]) >= ${policy.minImageVersion}`);
  }
  if (policy.outputUriPrefix !== undefined) {
    clauses.push(`assertion.submods.container.env_override.${OUTPUT_URI_ENV}.startsWith(${lit(policy.outputUriPrefix)})`);
  }
  const condition = clauses.join(" && ");
  if (condition.length > MAX_CONDITION_LENGTH) {
    throw new CleanRoomError(
      "condition-too-long",
      `The attestation condition is ${condition.length} characters; IAM allows at most ${MAX_CONDITION_LENGTH}. ` +
        `Pin fewer image digests (retire old executor images), list fewer service accounts or projects, ` +
        `or split the room into several pools.`,
    );
  }
  return condition;
}

/**
 * The attribute mapping of the Workload Identity Pool provider.
 *
 * `google.subject` uses the `gcpcs::` form (image digest, project number, instance id) which stays under IAM's
 * 127-byte limit, unlike the VM selfLink. `attribute.job_digest` comes from the operator-set environment variable
 * `CLEANROOM_JOB_DIGEST`, which the launcher records in `submods.container.env_override`.
 */
export function attributeMapping(): Record<string, string> {
  return {
    "google.subject":
      '"gcpcs::"+assertion.submods.container.image_digest+"::"+assertion.submods.gce.project_number+"::"+assertion.submods.gce.instance_id',
    "attribute.image_digest": "assertion.submods.container.image_digest",
    "attribute.job_digest": `assertion.submods.container.env_override.${JOB_DIGEST_ENV}`,
  };
}

/**
 * Evaluates an attribute mapping (by default `attributeMapping()`) on claims, as Workload Identity Federation does
 * after the condition held: each expression with `assertion` bound to the claims. An expression that fails or does not
 * give a string leaves its attribute out.
 *
 * @returns the mapped attributes, e.g. `{ "google.subject": "gcpcs::…", "attribute.job_digest": "sha256:…" }`
 */
export function mapAttributes(claims: unknown, mapping: Readonly<Record<string, string>> = attributeMapping()): Record<string, string> {
  const out: Record<string, string> = {};
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) return out;
  const env = celEnv();
  const bindings = { assertion: toCel(claims) };
  for (const [name, expr] of Object.entries(mapping)) {
    const v = plan(env, parseCondition(expr))(bindings);
    if (typeof v === "string") out[name] = v;
  }
  return out;
}

/** `principalSet://` member of every workload whose token carries this job digest. */
export function jobDigestPrincipalSet(poolName: string, jobDigest: string): string {
  return attributePrincipalSet(poolName, "job_digest", jobDigest);
}

/** `principalSet://` member of every workload running this executor image digest. */
export function imageDigestPrincipalSet(poolName: string, imageDigest: string): string {
  return attributePrincipalSet(poolName, "image_digest", imageDigest);
}

/**
 * `principalSet://iam.googleapis.com/<pool>/attribute.<name>/<value>`.
 *
 * @param poolName the pool's full resource name `projects/<number>/locations/global/workloadIdentityPools/<id>`
 */
export function attributePrincipalSet(poolName: string, attribute: string, value: string): string {
  const problems: string[] = [];
  if (!/^projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}$/.test(poolName)) {
    problems.push(
      `poolName must be projects/<project number>/locations/global/workloadIdentityPools/<pool id> (got ${JSON.stringify(poolName)})`,
    );
  }
  if (typeof attribute !== "string" || !/^[a-z0-9_]{1,100}$/.test(attribute)) {
    problems.push(`attribute must match [a-z0-9_]{1,100} (got ${JSON.stringify(attribute)})`);
  }
  // The value becomes the last segment of an IAM member string: no separators or whitespace that could widen it.
  if (typeof value !== "string" || !/^[^\s/]{1,256}$/.test(value)) {
    problems.push(`value must be 1-256 characters without "/" or whitespace (got ${JSON.stringify(value)})`);
  }
  if ((attribute === "job_digest" || attribute === "image_digest") && !DIGEST_PATTERN.test(value)) {
    problems.push(`${attribute} must be sha256:<64 lowercase hex> (got ${JSON.stringify(value)})`);
  }
  throwIfProblems("invalid-argument", "principal set", problems);
  return `principalSet://iam.googleapis.com/${poolName}/attribute.${attribute}/${value}`;
}

/** Converts JSON-shaped claims to CEL input: objects become maps, integral numbers become CEL ints. */
function toCel(value: unknown): CelInput {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(toCel);
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isInteger(value) ? BigInt(value) : value;
    case "object":
      return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toCel(v)]));
    default:
      return null;
  }
}

type ParsedCel = ReturnType<typeof parse>;
type CelExpr = ParsedCel["expr"];

function conjuncts(expr: CelExpr): CelExpr[] {
  if (expr.exprKind.case === "callExpr" && expr.exprKind.value.function === "_&&_") {
    return expr.exprKind.value.args.flatMap((a) => conjuncts(a as CelExpr));
  }
  return [expr];
}

function describe(expr: CelExpr, index: number): string {
  try {
    return unparse(expr);
  } catch {
    return `clause #${index + 1}`;
  }
}

/** Parses CEL text, throwing `CleanRoomError("cel-error")` with the parser's message when it is not valid CEL. */
export function parseCondition(condition: string): ParsedCel {
  if (typeof condition !== "string" || condition.trim() === "") {
    throw new CleanRoomError("cel-error", "The attestation condition is empty: build it with buildAttestationCondition().");
  }
  try {
    return parse(condition);
  } catch (err) {
    throw new CleanRoomError("cel-error", `The attestation condition is not valid CEL: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/**
 * Evaluates a condition (as built by `buildAttestationCondition`, or any WIF `attributeCondition`) on a token's
 * claims, with the variable `assertion` bound to the claims, exactly as Workload Identity Federation does.
 *
 * Missing fields, wrong types and evaluation errors deny; they never throw. When denied, `reason` names every
 * top-level clause that does not hold.
 *
 * @throws CleanRoomError `cel-error` only when the condition text itself does not parse
 */
export function evaluateAttestationCondition(condition: string, claims: unknown): ConditionResult {
  const parsed = parseCondition(condition);
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) {
    return { allowed: false, reason: "the claims are not a JSON object", failedClauses: [] };
  }
  const env = celEnv();
  const bindings = { assertion: toCel(claims) };
  const whole = plan(env, parsed)(bindings);
  if (whole === true) return { allowed: true, failedClauses: [] };
  const failed: string[] = [];
  conjuncts(parsed.expr).forEach((clause, i) => {
    const r = plan(env, clause)(bindings);
    if (r === true) return;
    const why = isCelError(r) ? ` (${r.message})` : "";
    failed.push(`${describe(clause, i)}${why}`);
  });
  if (failed.length === 0) {
    const why = isCelError(whole) ? whole.message : `evaluated to ${String(whole)}`;
    failed.push(`the condition ${why}`);
  }
  return { allowed: false, reason: `not satisfied: ${failed.join("; ")}`, failedClauses: failed };
}

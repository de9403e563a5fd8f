/**
 * The receipt a job produces, and the attestation nonce derived from it.
 *
 * The executor writes the receipt after the job, then asks the attester for a token whose nonce is
 * `nonceForReceipt(receipt)`. A verifier recomputes that nonce from the receipt it holds: any change to the receipt
 * (an output digest, the job digest, an input) breaks the binding to the hardware-signed token.
 */
import { CleanRoomError, throwIfProblems } from "./errors.js";
import { type Manifest, canonicalJson, sha256Hex } from "./digest.js";
import { DIGEST_PATTERN } from "./patterns.js";
import { DATASET_FORMATS } from "./spec.js";

/**
 * Layout of a job result, the same in quarantine, in the results bucket and in a fetched result directory:
 * `<dir>/outputs/**` (the job's output files), `<dir>/receipt.json`, `<dir>/attestation.jwt`, and in a debug-logs room
 * (`cleanroom local up --debug-logs`) a failed job's `<dir>/stderr.txt`, listed in its receipt's `stderr`.
 */
export const RESULT_FILES = { outputs: "outputs", receipt: "receipt.json", token: "attestation.jwt", stderr: "stderr.txt" } as const;

/** The receipt format version. */
export const RECEIPT_VERSION = 1;

/** An input the job read, identified by the digest of the exact bytes the executor decrypted. */
export interface ReceiptInput {
  readonly provider: string;
  readonly dataset: string;
  /**
   * The table format of the file the job saw (`<dataset>.parquet`): `parquet`. Absent for a CSV table (`<dataset>.csv`),
   * so CSV receipts are what they were before formats existed.
   */
  readonly format?: string;
  /**
   * `files` for a directory tree the job saw as `<dataset>/`. Absent for a table, so table receipts are what they were
   * before kinds existed.
   */
  readonly kind?: string;
  /**
   * Lowercase hex sha256 of the plaintext the job saw; for a `files` tree, the hex of `manifestDigest()` of its files
   * (path, bytes and sha256 of every file, canonical JSON).
   */
  readonly sha256: string;
  /** Plaintext bytes (of every file, for a tree). */
  readonly bytes: number;
  /** Number of files of a `files` tree; absent for a table. */
  readonly files?: number;
}

/** A provider policy that admitted the run: the provider's key opened for it. */
export interface ReceiptAdmission {
  readonly provider: string;
  /** `policyDigest()` of the condition that decided (the provider's own, or the room's when it has none). */
  readonly policyDigest: string;
  /** Whether that condition was the provider's own (true) or the room operator's (false). */
  readonly own: boolean;
}

/** One stage-2 DP spend a job made through the executor's noise protocol (its ledger entry, bound to the job). */
export interface ReceiptDpSpend {
  readonly provider: string;
  readonly dataset: string;
  /** The entry's number and `sha256:` digest in the dataset's privacy ledger. */
  readonly seq: number;
  readonly entry: string;
  /** zCDP cost. */
  readonly rho: number;
  /** Noise values drawn, and the L2 sensitivity they were drawn for. */
  readonly count: number;
  readonly sensitivity: number;
}

/** A failed job's stderr, kept by a debug-logs room as `stderr.txt` beside the receipt. */
export interface ReceiptStderr {
  /** Size of `stderr.txt` (at most `DEBUG_STDERR_MAX_BYTES`). */
  readonly bytes: number;
  /** Lowercase hex sha256 of `stderr.txt`. */
  readonly sha256: string;
  /** True when the job wrote more: only the last bytes were kept. */
  readonly truncated: boolean;
}

/** A job receipt. */
export interface Receipt {
  readonly version: number;
  /** The room's name. */
  readonly room: string;
  readonly jobId: string;
  /** The job bundle digest the executor verified before running. */
  readonly jobDigest: string;
  /** The executor image digest (as the attester reports it). */
  readonly executorImageDigest: string;
  /** Digest of the room's attestation condition text (`sha256:` of its UTF-8 bytes). */
  readonly policyDigest: string;
  /** `gcp` or `local`. */
  readonly platform: string;
  /** How the job was isolated: `confidential-space`, `bubblewrap`, or `none` (`--insecure-no-sandbox`). */
  readonly sandbox: string;
  readonly inputs: readonly ReceiptInput[];
  /** The provider policies that admitted the run, one per provider whose key opened (absent in older receipts). */
  readonly admittedBy?: readonly ReceiptAdmission[];
  /** Every output file (empty on failure: no partial outputs are ever released). */
  readonly outputs: Manifest;
  /** ISO-8601 UTC. */
  readonly startedAt: string;
  readonly finishedAt: string;
  /** `succeeded` or `failed`. */
  readonly status: string;
  /** The job process's exit code, when it ran. */
  readonly exitCode?: number;
  /** Why it failed, for people (never secrets). */
  readonly error?: string;
  /** Stable code of the failure (e.g. `denied`, `output-policy`, `digest-mismatch`). */
  readonly errorCode?: string;
  /** Stage-2 DP spends from the datasets' privacy ledgers (also present on failure: a spend is never undone). */
  readonly dp?: readonly ReceiptDpSpend[];
  /**
   * `true` when the room was started with `cleanroom local up --debug-logs`: its failed jobs' stderr reached their
   * submitters unchecked, so its results are not production-grade. Absent otherwise (never `false`).
   */
  readonly debugLogs?: true;
  /** The failed job's stderr kept as `stderr.txt` (debug-logs rooms only; absent when the job wrote none). */
  readonly stderr?: ReceiptStderr;
}

/** The nonce of a receipt's attestation token: lowercase hex sha256 of its canonical JSON (64 bytes, within 10–74). */
export function nonceForReceipt(receipt: Receipt): string {
  return sha256Hex(canonicalJson(receipt));
}

/** `sha256:<hex>` of a receipt's canonical JSON. */
export function receiptDigest(receipt: Receipt): string {
  return `sha256:${nonceForReceipt(receipt)}`;
}

/** `sha256:` of a condition text, as recorded in `Receipt.policyDigest`. */
export function policyDigest(condition: string): string {
  return `sha256:${sha256Hex(condition)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Control and formatting characters (C0, DEL, C1, bidi and other format controls, line separators): never valid in
 * an output path, which verifiers print (a crafted name could redraw the terminal or reorder what it shows).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
export const UNPRINTABLE_PATTERN = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/u;

/** A POSIX relative path with no empty, `.` or `..` segment, no backslash and no control or formatting character. */
export function isSafeRelativePath(p: string): boolean {
  if (p === "" || p.startsWith("/") || p.includes("\\") || UNPRINTABLE_PATTERN.test(p)) return false;
  return p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Collects every problem of a parsed receipt. Pure; never throws. */
export function receiptProblems(r: unknown): string[] {
  const out: string[] = [];
  if (!isObject(r)) return ["receipt must be a JSON object"];
  if (r.version !== RECEIPT_VERSION) out.push(`receipt.version must be ${RECEIPT_VERSION}`);
  for (const k of ["room", "jobId", "platform", "sandbox"]) {
    if (typeof r[k] !== "string" || (r[k] as string).length === 0) out.push(`receipt.${k} must be a non-empty string`);
  }
  for (const k of ["jobDigest", "executorImageDigest", "policyDigest"]) {
    if (typeof r[k] !== "string" || !DIGEST_PATTERN.test(r[k] as string)) out.push(`receipt.${k} must be sha256:<64 hex>`);
  }
  for (const k of ["startedAt", "finishedAt"]) {
    if (typeof r[k] !== "string" || !ISO.test(r[k] as string)) out.push(`receipt.${k} must be an ISO-8601 UTC time`);
  }
  if (r.status !== "succeeded" && r.status !== "failed") out.push(`receipt.status must be "succeeded" or "failed"`);
  if (r.exitCode !== undefined && !Number.isInteger(r.exitCode)) out.push("receipt.exitCode must be an integer");
  if (!Array.isArray(r.inputs)) out.push("receipt.inputs must be an array");
  else
    r.inputs.forEach((x: unknown, i: number) => {
      if (!isObject(x) || typeof x.provider !== "string" || typeof x.dataset !== "string" || typeof x.sha256 !== "string" || !HEX64.test(x.sha256) || !Number.isSafeInteger(x.bytes)) {
        out.push(`receipt.inputs[${i}] must be {provider, dataset, sha256 (64 hex), bytes}`);
      } else if (x.kind !== undefined) {
        if (x.kind !== "files") out.push(`receipt.inputs[${i}].kind must be absent (a table) or "files" (got ${JSON.stringify(x.kind)})`);
        else if (!Number.isSafeInteger(x.files) || (x.files as number) < 0) out.push(`receipt.inputs[${i}].files must be the number of files of the tree (an integer >= 0)`);
        else if (x.format !== undefined) out.push(`receipt.inputs[${i}].format must be absent for a files input`);
      } else if (x.files !== undefined) {
        out.push(`receipt.inputs[${i}].files is only for a files input (kind: "files")`);
      } else if (x.format !== undefined && (typeof x.format !== "string" || !DATASET_FORMATS.includes(x.format as never) || x.format === DATASET_FORMATS[0])) {
        out.push(`receipt.inputs[${i}].format must be absent (csv) or one of ${DATASET_FORMATS.slice(1).join(", ")} (got ${JSON.stringify(x.format)})`);
      }
    });
  if (r.admittedBy !== undefined) {
    if (!Array.isArray(r.admittedBy)) out.push("receipt.admittedBy must be an array");
    else {
      const seen = new Set<string>();
      r.admittedBy.forEach((x: unknown, i: number) => {
        if (!isObject(x) || typeof x.provider !== "string" || x.provider.length === 0 || typeof x.policyDigest !== "string" || !DIGEST_PATTERN.test(x.policyDigest) || typeof x.own !== "boolean") {
          out.push(`receipt.admittedBy[${i}] must be {provider, policyDigest (sha256:<64 hex>), own (boolean)}`);
        } else if (seen.has(x.provider)) {
          out.push(`receipt.admittedBy[${i}].provider ${JSON.stringify(x.provider)} is listed twice`);
        } else {
          seen.add(x.provider);
        }
      });
    }
  }
  if (!Array.isArray(r.outputs)) out.push("receipt.outputs must be an array");
  else {
    const seen = new Set<string>();
    r.outputs.forEach((x: unknown, i: number) => {
      if (!isObject(x) || typeof x.path !== "string" || typeof x.sha256 !== "string" || !HEX64.test(x.sha256) || !Number.isSafeInteger(x.bytes)) {
        out.push(`receipt.outputs[${i}] must be {path, bytes, sha256 (64 hex)}`);
      } else if (!isSafeRelativePath(x.path)) {
        // A verifier joins these paths to a local directory (`..`, absolute or backslash paths would escape it) and
        // prints them (a control character could forge what the terminal shows).
        out.push(`receipt.outputs[${i}].path must be relative, stay inside the output directory and hold no control character (got ${JSON.stringify(x.path)})`);
      } else if (seen.has(x.path)) {
        out.push(`receipt.outputs[${i}].path ${JSON.stringify(x.path)} is listed twice`);
      } else {
        seen.add(x.path);
      }
    });
  }
  if (r.dp !== undefined) {
    if (!Array.isArray(r.dp)) out.push("receipt.dp must be an array");
    else
      r.dp.forEach((x: unknown, i: number) => {
        if (!isObject(x) || typeof x.provider !== "string" || typeof x.dataset !== "string" || !Number.isSafeInteger(x.seq) || typeof x.entry !== "string" || !DIGEST_PATTERN.test(x.entry) || typeof x.rho !== "number") {
          out.push(`receipt.dp[${i}] must be {provider, dataset, seq, entry (sha256:<64 hex>), rho, count, sensitivity}`);
        }
      });
  }
  // One encoding per meaning (absent = off), so a receipt of a room without the flag stays byte-identical to before.
  if (r.debugLogs !== undefined && r.debugLogs !== true) out.push("receipt.debugLogs must be true when present (absent means the room keeps no job stderr)");
  if (r.debugLogs !== undefined && r.platform === "gcp") out.push("receipt.debugLogs is only for local rooms: a GCP room never keeps a job's stderr");
  if (r.stderr !== undefined) {
    const x = r.stderr;
    if (!isObject(x) || !Number.isSafeInteger(x.bytes) || (x.bytes as number) < 0 || typeof x.sha256 !== "string" || !HEX64.test(x.sha256) || typeof x.truncated !== "boolean") {
      out.push("receipt.stderr must be {bytes, sha256 (64 hex), truncated (boolean)}");
    }
    if (r.debugLogs !== true) out.push("receipt.stderr needs receipt.debugLogs: only a debug-logs room keeps a job's stderr");
    if (r.status !== "failed") out.push("receipt.stderr must be absent when status is succeeded: only a failed job's stderr is kept");
  }
  if (r.status === "succeeded" && r.error !== undefined) out.push("receipt.error must be absent when status is succeeded");
  if (r.status === "failed" && Array.isArray(r.outputs) && r.outputs.length > 0) {
    out.push("receipt.outputs must be empty when status is failed (no partial outputs)");
  }
  return out;
}

/**
 * Validates a parsed receipt and returns it typed.
 *
 * @throws CleanRoomError `invalid-receipt` listing every problem
 */
export function parseReceipt(value: unknown): Receipt {
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw new CleanRoomError("invalid-receipt", "The receipt is not valid JSON: it was truncated or is not a receipt.json");
    }
  }
  throwIfProblems("invalid-receipt", "receipt", receiptProblems(value));
  return value as Receipt;
}

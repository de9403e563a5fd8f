/**
 * The output checker: after the job and before the receipt, every output file gets a verdict from the declaration
 * rules (`rules.ts`, over what the job declared in `outputs.json`) and the verbatim-rows and quasi-identifier checks
 * (`verbatim.ts`, over the file's text). The report it returns goes into the receipt and beside the outputs.
 */
import { join, posix } from "node:path";
import type { Manifest } from "../../core/digest.js";
import {
  DISCLOSURE_MODES,
  type DisclosureFinding,
  type DisclosurePolicy,
  type DisclosureReport,
  disclosurePolicyDigest,
  OUTPUT_MANIFEST_FILE,
  type OutputCheck,
} from "../../core/disclosure.js";
import { CleanRoomError } from "../../core/errors.js";
import { type OutputDeclaration, readOutputDeclarations } from "./manifest.js";
import { judgeDeclaration, verdictOf, wholeOutputFinding, worstVerdict } from "./rules.js";
import { checkVerbatim, type TextFacts } from "./verbatim.js";

/** One input the job read, as the executor decrypted it. */
export interface DisclosureInput {
  /** `<provider>/<dataset>`: the key of its quasi-identifiers in `policy.quasiIdentifiers`. */
  readonly key: string;
  /** The decrypted file. */
  readonly path: string;
  /** `csv` or `parquet` (anything else is refused with `invalid-argument`). */
  readonly format: string;
}

/** What `checkDisclosure` checks. */
export interface CheckDisclosureOptions {
  /** The job's output directory (`$CLEANROOM_OUTPUT`). */
  readonly outputDir: string;
  /** Its output files, in receipt order; `outputs.json` may be among them and is then skipped (it is no output). */
  readonly outputs: Manifest;
  /** The inputs the job read. */
  readonly inputs: readonly DisclosureInput[];
  /** The job's effective disclosure policy. */
  readonly policy: DisclosurePolicy;
}

function assertPolicy(policy: DisclosurePolicy): void {
  const problems: string[] = [];
  if (!(DISCLOSURE_MODES as readonly string[]).includes(policy.mode)) problems.push(`mode must be one of ${DISCLOSURE_MODES.join(", ")}`);
  for (const [name, v] of Object.entries(policy.thresholds)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) problems.push(`thresholds.${name} must be a finite number >= 0`);
  }
  if (problems.length > 0) {
    throw new CleanRoomError("invalid-policy", `Invalid disclosure policy: ${problems.join("; ")}`, { problems });
  }
}

/** A receipt path that stays inside the output directory. */
function assertOutputPath(path: string): void {
  const norm = posix.normalize(path);
  if (path === "" || posix.isAbsolute(path) || norm !== path || norm.startsWith("../") || norm === "..") {
    throw new CleanRoomError("invalid-manifest", "An output path is absolute, not normalised or leaves the output directory; pass the receipt's manifest of the output directory");
  }
}

function textFindings(kind: string, facts: TextFacts): DisclosureFinding[] {
  const out: DisclosureFinding[] = [];
  if (facts.verbatimCount > 0) {
    out.push({
      rule: "verbatim-rows",
      cells: facts.verbatim,
      count: facts.verbatimCount,
      detail: `${facts.verbatimCount} line(s) reproduce a whole input record (cells are 0-based line indices, header included); publish aggregates, not records`,
    });
  }
  if (facts.quasiIdentifierCount > 0) {
    out.push({
      rule: "unique-quasi-identifiers",
      cells: facts.quasiIdentifier,
      count: facts.quasiIdentifierCount,
      detail: `${facts.quasiIdentifierCount} line(s) hold a combination of quasi-identifier values that only one input record has (cells are 0-based line indices); coarsen or drop those columns`,
    });
  }
  if (!facts.text && kind === "text") {
    out.push(wholeOutputFinding("invalid-declaration", "declared text, but the file is not UTF-8 text; declare it as model or other"));
  }
  if (!facts.text && kind === "regression") {
    out.push(wholeOutputFinding("unjudgeable", "the regression file is not UTF-8 text, so it could not be checked for input rows; a data provider must review it"));
  }
  return out;
}

/**
 * Checks a job's outputs against its disclosure policy.
 *
 * With mode `off` nothing is read and the report says so (no outputs, verdict `pass`). Otherwise each output (in
 * receipt order) gets an `OutputCheck`; a missing, bad or lying `outputs.json` never throws but fails the outputs it
 * concerns with `invalid-declaration`. `withheld` is true in `enforce` mode when any output fails.
 *
 * @throws CleanRoomError `invalid-argument` for an input format other than csv or parquet; `invalid-policy` for a policy with an unknown mode, a bad threshold, or a quasi-identifier
 *   column an input lacks; `invalid-manifest` for an output path outside the output directory; `io-error` when an
 *   input or output cannot be read
 * @example
 * const report = await checkDisclosure({ outputDir: "/out", outputs: await manifestOf("/out"), inputs, policy });
 * if (report.withheld) ... // do not release any output
 */
export async function checkDisclosure(opts: CheckDisclosureOptions): Promise<DisclosureReport> {
  const { policy } = opts;
  assertPolicy(policy);
  const head = { version: 1 as const, policyDigest: disclosurePolicyDigest(policy), policy };
  if (policy.mode === "off") return { ...head, outputs: [], verdict: "pass", withheld: false };

  const paths = opts.outputs.map((e) => e.path).filter((p) => p !== OUTPUT_MANIFEST_FILE);
  for (const p of paths) assertOutputPath(p);
  const inputs = opts.inputs.map((i) => {
    if (i.format !== "csv" && i.format !== "parquet") {
      throw new CleanRoomError("invalid-argument", `The input ${i.key} has format ${JSON.stringify(i.format)}; the checker reads csv or parquet`);
    }
    const format: "csv" | "parquet" = i.format;
    return { key: i.key, path: i.path, format, quasiIdentifiers: policy.quasiIdentifiers[i.key] ?? [] };
  });
  const declarations = await readOutputDeclarations(opts.outputDir, paths);
  const text = await checkVerbatim(
    paths.map((path) => ({ path, file: join(opts.outputDir, ...path.split("/")) })),
    inputs,
  );

  const outputs: OutputCheck[] = paths.map((path) => {
    const facts = text.get(path) as TextFacts;
    const problems = [...declarations.manifestProblems, ...(declarations.problemsByPath.get(path) ?? [])];
    const decl: OutputDeclaration = declarations.byPath.get(path) ?? { path, kind: "other" };
    const findings: DisclosureFinding[] = [];
    if (problems.length > 0) {
      // No declaration of a bad manifest is trusted: the output is judged on its text alone, and fails.
      findings.push({ rule: "invalid-declaration", count: problems.length, detail: `${OUTPUT_MANIFEST_FILE}: ${problems.join("; ")}` });
      findings.push(...textFindings("other", facts));
      return { path, kind: "other", verdict: verdictOf(findings), findings };
    }
    const dataRows = facts.text ? Math.max(facts.records - 1, 0) : undefined;
    findings.push(...judgeDeclaration(decl, policy.thresholds, dataRows === undefined ? {} : { dataRows }));
    findings.push(...textFindings(decl.kind, facts));
    return { path, kind: decl.kind, verdict: verdictOf(findings), findings };
  });
  const verdict = worstVerdict(outputs.map((o) => o.verdict));
  return { ...head, outputs, verdict, withheld: policy.mode === "enforce" && verdict === "fail" };
}

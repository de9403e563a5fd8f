/**
 * Static review of a Workload Identity Pool provider's `attributeCondition` for Confidential Space.
 *
 * The condition is parsed with the same CEL parser the runtime evaluates it with (`@bufbuild/cel`'s `parse`, which
 * core's `parseCondition` wraps), then put in disjunctive normal form over its top-level `&&` / `||`: every alternative ("branch")
 * that can make the condition true is a list of clauses that must all hold. A branch is acceptable only when it
 * contains, as one of its own clauses:
 *
 * - a production check: `assertion.dbgstat == 'disabled-since-boot'` or
 *   `'STABLE' in assertion.submods.confidential_space.support_attributes` (debug images report `swname ==
 *   'CONFIDENTIAL_SPACE'` too, so `swname` alone admits an image an operator can SSH into), and
 * - an image pin: `assertion.submods.container.image_digest == 'sha256:<64 hex>'` or `… in ['sha256:…', …]` (tags move;
 *   without a pin any image, including one written by the operator, gets the key).
 *
 * The test is sound: CEL's `&&` is true only when every argument is true and `||` only when one is, so when every
 * branch contains a clause, the condition implies that clause. Anything else (negations, ternaries, macros) is
 * treated as an opaque clause that proves nothing, so a clever condition fails closed.
 */
import { parse, unparse } from "@bufbuild/cel";

type CelExpr = ReturnType<typeof parse>["expr"];

// The pack is self-contained (`pulumi policy publish` uploads only this directory), so it does not import the
// library's core; tests/policy/self-contained.test.ts checks that these equal core's values.
/** `iss` of Confidential Space attestation tokens (core's `CONFIDENTIAL_SPACE_ISSUER`). */
export const CONFIDENTIAL_SPACE_ISSUER = "https://confidentialcomputing.googleapis.com";
/** An image manifest digest (core's `DIGEST_PATTERN`). */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** What is wrong with a condition. */
export type ConditionProblemCode =
  | "missing"
  | "not-cel"
  | "too-complex"
  | "always-true"
  | "swname-only"
  | "no-production-check"
  | "no-image-digest";

/** One finding about a condition, with a message that says what to change. */
export interface ConditionProblem {
  readonly code: ConditionProblemCode;
  readonly message: string;
}

/** Beyond this many alternatives the condition is not reviewable by a person either. */
export const MAX_BRANCHES = 64;

const DBGSTAT_PATH = "assertion.dbgstat";
const SUPPORT_ATTRIBUTES_PATH = "assertion.submods.confidential_space.support_attributes";
const IMAGE_DIGEST_PATH = "assertion.submods.container.image_digest";
const SWNAME_PATH = "assertion.swname";

const FIX_PRODUCTION = `add \`&& ${DBGSTAT_PATH} == 'disabled-since-boot'\` (and \`'STABLE' in ${SUPPORT_ATTRIBUTES_PATH}\`) as top-level conjuncts`;
const FIX_DIGEST = `add \`&& ${IMAGE_DIGEST_PATH} == 'sha256:<64 hex>'\` (or \`in ['sha256:…']\`) as a top-level conjunct`;
const FIX_ALL = "build the condition with buildAttestationCondition() from attested-cleanroom, which emits all of them";

/** True when an OIDC issuer URI is Confidential Space's (with or without the trailing slash). */
export function isConfidentialSpaceIssuer(issuerUri: unknown): boolean {
  return typeof issuerUri === "string" && issuerUri.trim().replace(/\/+$/, "") === CONFIDENTIAL_SPACE_ISSUER;
}

/**
 * Reviews an attribute condition of a Confidential Space pool provider.
 *
 * @returns every problem (empty when the condition requires a production image and pins the image digest in every
 *   alternative)
 */
export function conditionProblems(condition: string | undefined): ConditionProblem[] {
  if (condition === undefined || condition.trim() === "") {
    return [
      {
        code: "missing",
        message:
          "has no attributeCondition: every Confidential Space workload in the world, debug images included, can " +
          `federate through it. Set attributeCondition; ${FIX_ALL}.`,
      },
    ];
  }
  let expr: CelExpr;
  try {
    // The parser the runtime evaluates conditions with (core's `parseCondition` wraps this same call).
    expr = parse(condition).expr;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return [{ code: "not-cel", message: `has an attributeCondition that is not valid CEL (${why}); fix the syntax.` }];
  }
  const alternatives = branches(expr);
  if (alternatives === undefined) {
    return [
      {
        code: "too-complex",
        message:
          `has an attributeCondition with more than ${MAX_BRANCHES} alternative branches (nested \`||\`), too many ` +
          `to review; write it as top-level \`&&\` conjuncts (${FIX_ALL}).`,
      },
    ];
  }
  const problems: ConditionProblem[] = [];
  const single = alternatives.length === 1;
  for (const branch of alternatives) {
    const where = single ? "the condition" : `the \`||\` alternative \`${text(branch)}\``;
    if (branch.every(isTrueConstant)) {
      problems.push({
        code: "always-true",
        message:
          `admits every token: ${where} is the constant \`true\`, so nothing about the image or the VM is checked. ` +
          `Remove it; ${FIX_ALL}.`,
      });
      continue;
    }
    if (branch.every(isSwnameOrTrue)) {
      problems.push({
        code: "swname-only",
        message:
          `can be satisfied by swname alone: ${where} only checks \`${SWNAME_PATH}\`, which debug images report too, ` +
          `and pins no image. ${capitalize(FIX_PRODUCTION)}, and ${FIX_DIGEST.replace(/^add /, "")}.`,
      });
      continue;
    }
    if (!branch.some(isProductionCheck)) {
      problems.push({
        code: "no-production-check",
        message:
          `admits debug Confidential Space images (SSH, operator root): ${where} does not require ` +
          `\`${DBGSTAT_PATH} == 'disabled-since-boot'\` or the STABLE support attribute. ${capitalize(FIX_PRODUCTION)}.`,
      });
    }
    if (!branch.some(isImageDigestPin)) {
      problems.push({
        code: "no-image-digest",
        message:
          `admits any container image: ${where} does not pin \`${IMAGE_DIGEST_PATH}\` to sha256 digests (tags move, ` +
          `and image_reference echoes the tag). ${capitalize(FIX_DIGEST)}.`,
      });
    }
  }
  return problems;
}

/** Disjunctive normal form over `&&` / `||`, or undefined when it exceeds `MAX_BRANCHES`. */
function branches(expr: CelExpr): CelExpr[][] | undefined {
  const call = expr.exprKind.case === "callExpr" ? expr.exprKind.value : undefined;
  if (call?.function === "_||_") {
    const out: CelExpr[][] = [];
    for (const arg of call.args) {
      const b = branches(arg as CelExpr);
      if (b === undefined || out.length + b.length > MAX_BRANCHES) return undefined;
      out.push(...b);
    }
    return out;
  }
  if (call?.function === "_&&_") {
    let out: CelExpr[][] = [[]];
    for (const arg of call.args) {
      const b = branches(arg as CelExpr);
      if (b === undefined || out.length * b.length > MAX_BRANCHES) return undefined;
      out = out.flatMap((left) => b.map((right) => [...left, ...right]));
    }
    return out;
  }
  return [[expr]];
}

/** `assertion.a.b` (or `assertion['a'].b`) as a dotted path; undefined for anything else. */
function pathOf(expr: CelExpr): string | undefined {
  switch (expr.exprKind.case) {
    case "identExpr":
      return expr.exprKind.value.name;
    case "selectExpr": {
      const sel = expr.exprKind.value;
      if (sel.testOnly || sel.operand === undefined) return undefined;
      const base = pathOf(sel.operand as CelExpr);
      return base === undefined ? undefined : `${base}.${sel.field}`;
    }
    case "callExpr": {
      const call = expr.exprKind.value;
      if (call.function !== "_[_]" || call.args.length !== 2) return undefined;
      const base = pathOf(call.args[0] as CelExpr);
      const key = stringConst(call.args[1] as CelExpr);
      return base === undefined || key === undefined ? undefined : `${base}.${key}`;
    }
    default:
      return undefined;
  }
}

function stringConst(expr: CelExpr): string | undefined {
  if (expr.exprKind.case !== "constExpr") return undefined;
  const k = expr.exprKind.value.constantKind;
  return k.case === "stringValue" ? k.value : undefined;
}

function callOf(expr: CelExpr, fn: string): CelExpr[] | undefined {
  if (expr.exprKind.case !== "callExpr") return undefined;
  const call = expr.exprKind.value;
  if (call.function !== fn || call.target !== undefined) return undefined;
  return call.args as CelExpr[];
}

/** `path == 'value'` in either order: returns the literal compared with `path`. */
function equalsLiteral(expr: CelExpr, path: string): string | undefined {
  const args = callOf(expr, "_==_");
  if (args?.length !== 2) return undefined;
  const [a, b] = args as [CelExpr, CelExpr];
  if (pathOf(a) === path) return stringConst(b);
  if (pathOf(b) === path) return stringConst(a);
  return undefined;
}

function isProductionCheck(expr: CelExpr): boolean {
  if (equalsLiteral(expr, DBGSTAT_PATH) === "disabled-since-boot") return true;
  const args = callOf(expr, "@in");
  return (
    args?.length === 2 && stringConst(args[0]!) === "STABLE" && pathOf(args[1]!) === SUPPORT_ATTRIBUTES_PATH
  );
}

function isImageDigestPin(expr: CelExpr): boolean {
  const literal = equalsLiteral(expr, IMAGE_DIGEST_PATH);
  if (literal !== undefined) return DIGEST_PATTERN.test(literal);
  const args = callOf(expr, "@in");
  if (args?.length !== 2 || pathOf(args[0]!) !== IMAGE_DIGEST_PATH) return false;
  const list = args[1]!;
  if (list.exprKind.case !== "listExpr") return false;
  const elements = list.exprKind.value.elements as CelExpr[];
  return elements.length > 0 && elements.every((e) => DIGEST_PATTERN.test(stringConst(e) ?? ""));
}

function isTrueConstant(expr: CelExpr): boolean {
  if (expr.exprKind.case !== "constExpr") return false;
  const k = expr.exprKind.value.constantKind;
  return k.case === "boolValue" && k.value;
}

function isSwnameOrTrue(expr: CelExpr): boolean {
  if (isTrueConstant(expr)) return true;
  for (const fn of ["_==_", "@in", "_!=_"]) {
    const args = callOf(expr, fn);
    if (args?.length === 2 && args.some((a) => pathOf(a) === SWNAME_PATH)) return true;
  }
  return false;
}

function text(branch: readonly CelExpr[]): string {
  return branch
    .map((clause) => {
      try {
        return unparse(clause);
      } catch {
        return "…";
      }
    })
    .join(" && ");
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Why an attribute-mapping expression does not take its value from the attestation token, or undefined when it
 * does. Accepted: a path rooted at `assertion` (`assertion.submods.container.image_digest`,
 * `assertion['sub']`), or a `+` concatenation of such paths and string literals with at least one path (the
 * `"gcpcs::"+assertion…` subject form). Anything else — a constant, a ternary, a function — is refused: the value
 * would not be the claim the grant relies on.
 */
export function mappingProblem(expression: string | undefined): string | undefined {
  if (expression === undefined || expression.trim() === "") return "an empty expression";
  let expr: CelExpr;
  try {
    expr = parse(expression).expr;
  } catch {
    return `\`${expression}\`, which is not valid CEL`;
  }
  let paths = 0;
  const ok = (e: CelExpr): boolean => {
    const args = callOf(e, "_+_");
    if (args !== undefined) return args.every(ok);
    if (stringConst(e) !== undefined) return true;
    const p = pathOf(e);
    if (p !== undefined && (p === "assertion" || p.startsWith("assertion."))) {
      paths++;
      return true;
    }
    return false;
  };
  if (!ok(expr) || paths === 0) {
    return (
      `\`${expression}\`, which is not a claim of the attestation token: every workload the pool admits gets that ` +
      "value. Map it from the token (attributeMapping() from attested-cleanroom does)"
    );
  }
  return undefined;
}

/**
 * The object-name prefixes an IAM condition on a bucket role confines it to: for every alternative of its disjunctive
 * normal form, the longest `resource.name.startsWith('<literal>')` among that alternative's own conjuncts. Sound like
 * `conditionProblems`: when every alternative carries such a clause, the condition implies it.
 *
 * @returns one prefix per alternative, or undefined when some alternative has none (it could hold for any object),
 *   the text is not CEL, or it has more than `MAX_BRANCHES` alternatives
 */
export function objectNamePrefixes(expression: string): string[] | undefined {
  let expr: CelExpr;
  try {
    expr = parse(expression).expr;
  } catch {
    return undefined;
  }
  const alternatives = branches(expr);
  if (alternatives === undefined) return undefined;
  const out: string[] = [];
  for (const branch of alternatives) {
    const prefixes = branch.map(resourceNamePrefix).filter((p): p is string => p !== undefined);
    if (prefixes.length === 0) return undefined;
    out.push(prefixes.reduce((a, b) => (b.length > a.length ? b : a)));
  }
  return out;
}

/** `resource.name.startsWith('<literal>')`: the literal; undefined for anything else. */
function resourceNamePrefix(expr: CelExpr): string | undefined {
  if (expr.exprKind.case !== "callExpr") return undefined;
  const call = expr.exprKind.value;
  if (call.function !== "startsWith" || call.target === undefined || call.args.length !== 1) return undefined;
  return pathOf(call.target as CelExpr) === "resource.name" ? stringConst(call.args[0] as CelExpr) : undefined;
}

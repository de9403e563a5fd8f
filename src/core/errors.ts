/**
 * Typed errors with a stable, machine-readable `code`.
 *
 * Every entry point of the library validates its input and throws a `CleanRoomError` whose message says what is
 * wrong and how to fix it, so a user never has to read a stack trace from inside a dependency.
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type CleanRoomErrorCode =
  | "invalid-spec"
  | "invalid-descriptor"
  | "invalid-policy"
  | "invalid-argument"
  | "invalid-manifest"
  | "invalid-receipt"
  | "condition-too-long"
  | "cel-error"
  | "io-error"
  | "not-found"
  | "already-exists"
  | "denied"
  | "digest-mismatch"
  | "output-policy"
  | "disclosure"
  | "job-failed"
  | "timeout"
  | "busy"
  | "cpu-limit"
  | "sandbox-unavailable"
  | "runtime-missing"
  | "budget-exceeded"
  | "gcp-error"
  | (string & {});

/** The base error of the library: `code` is stable and meant for programs; `message` is meant for people. */
export class CleanRoomError extends Error {
  /** Stable machine-readable code, e.g. `invalid-spec`. */
  readonly code: CleanRoomErrorCode;
  /** Individual problems, when the error collects several (e.g. every spec problem with its path). */
  readonly problems: readonly string[];

  constructor(code: CleanRoomErrorCode, message: string, options?: { cause?: unknown; problems?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CleanRoomError";
    this.code = code;
    this.problems = options?.problems ?? [];
  }
}

/**
 * Throws one `CleanRoomError` that lists every problem, or returns when there are none.
 *
 * @param code the error code to use
 * @param what a short description of what was validated, e.g. "clean room spec"
 * @param problems each problem, prefixed with the path of the offending field
 */
export function throwIfProblems(code: CleanRoomErrorCode, what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const noun = problems.length === 1 ? "problem" : "problems";
  const list = problems.map((p) => `  - ${p}`).join("\n");
  throw new CleanRoomError(code, `Invalid ${what}: ${problems.length} ${noun}:\n${list}`, { problems });
}

/** Narrows `unknown` to a human-readable message without assuming it is an Error. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

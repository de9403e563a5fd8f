/**
 * Job entrypoints: what a job bundle may ask to run, checked at pack time and again by the executor.
 */
import { CleanRoomError } from "../../core/errors.js";

/** Notebooks run with `jupyter nbconvert --execute`; the executed copy lands in the output directory. */
const NOTEBOOK_SCRIPT = 'exec jupyter nbconvert --to notebook --execute "$0" --output-dir "$CLEANROOM_OUTPUT"';

/**
 * Turns a user's entrypoint into the argv recorded in the job manifest:
 * `"main.py"` → `["python3", "main.py"]`, `"main.js"` → `["node", "main.js"]`, `"analysis.ipynb"` →
 * `["jupyter", "nbconvert", "--execute", "analysis.ipynb"]`; an argv array is checked as is.
 *
 * @throws CleanRoomError `invalid-argument` for anything else
 */
export function normalizeEntrypoint(entrypoint: string | readonly string[]): string[] {
  const argv = typeof entrypoint === "string" ? inferArgv(entrypoint) : [...entrypoint];
  entrypointFile(argv);
  return argv;
}

function inferArgv(file: string): string[] {
  if (file.endsWith(".py")) return ["python3", file];
  if (file.endsWith(".js") || file.endsWith(".cjs") || file.endsWith(".mjs")) return ["node", file];
  if (file.endsWith(".ipynb")) return ["jupyter", "nbconvert", "--execute", file];
  throw new CleanRoomError("invalid-argument", `Cannot tell how to run ${JSON.stringify(file)}: use a .py, .js or .ipynb file, or give the argv, e.g. ["python3", "main.py"]`);
}

function safeFile(f: unknown): f is string {
  return typeof f === "string" && f.length > 0 && !f.startsWith("/") && !f.split("/").includes("..") && !f.startsWith("-");
}

/**
 * The bundle file an entrypoint runs; also validates its shape: `python3 <file.py> [args]`, `node <file.js> [args]`
 * or `jupyter nbconvert --execute <file.ipynb>`.
 *
 * @throws CleanRoomError `invalid-argument`
 */
export function entrypointFile(argv: readonly string[]): string {
  const bad = () =>
    new CleanRoomError(
      "invalid-argument",
      `Unsupported entrypoint ${JSON.stringify(argv)}: use ["python3", "<file>.py", ...args], ["node", "<file>.js", ...args] or ["jupyter", "nbconvert", "--execute", "<file>.ipynb"]`,
    );
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== "string")) throw bad();
  if ((argv[0] === "python3" || argv[0] === "node") && safeFile(argv[1])) return argv[1];
  if (argv.length === 4 && argv[0] === "jupyter" && argv[1] === "nbconvert" && argv[2] === "--execute" && safeFile(argv[3]) && argv[3].endsWith(".ipynb")) {
    return argv[3];
  }
  throw bad();
}

/** The command the executor actually spawns for an entrypoint (notebooks need their output directory). */
export function commandFor(argv: readonly string[]): string[] {
  const file = entrypointFile(argv);
  if (argv[0] === "jupyter") return ["sh", "-c", NOTEBOOK_SCRIPT, file];
  return [...argv];
}

/** How the executor checks, inside the job's own sandbox, that an entrypoint's runtime exists before any key is released. */
export interface RuntimeProbe {
  /** A command that exits 0 exactly when the runtime is usable. */
  readonly argv: readonly string[];
  /** What the entrypoint needs, for the error message. */
  readonly needs: string;
  /** How to get it, for the error message. */
  readonly fix: string;
}

/** The runtime probe of an entrypoint (`python3`, `node`, or `jupyter nbconvert` for notebooks). */
export function runtimeProbe(argv: readonly string[]): RuntimeProbe {
  const file = entrypointFile(argv);
  if (argv[0] === "jupyter") {
    return {
      argv: ["sh", "-c", "jupyter nbconvert --version >/dev/null 2>&1"],
      needs: "`jupyter nbconvert` (nbconvert, nbclient and a Python kernel)",
      fix:
        "install them where the executor runs (Debian: `apt-get install jupyter-nbconvert python3-ipykernel`; pip: `pip install nbconvert ipykernel`; " +
        `the GCP executor image has them), or export the notebook as a script (\`jupyter nbconvert --to script ${file}\`) and pack that`,
    };
  }
  const interpreter = argv[0] as "python3" | "node";
  return {
    argv: ["sh", "-c", 'command -v "$0" >/dev/null', interpreter],
    needs: `\`${interpreter}\``,
    fix: `install ${interpreter === "python3" ? "Python 3" : "Node.js"} on the machine that runs the room (the GCP executor image has it)`,
  };
}

/**
 * bubblewrap command lines: the executor's sandbox (started by the launcher) and the job's nested sandbox (started by
 * the executor). Both unshare every namespace, including the network, and see only what is bound in.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { dirname } from "node:path";

/** Host paths the job's runtimes need (Python, Node), detected at `local up`. */
export interface RuntimeDirs {
  /** Directories bound read-only into both sandboxes (e.g. a pyenv prefix outside /usr). */
  readonly bind: readonly string[];
  /** `PATH` of the job. */
  readonly path: string;
}

/** Where the job sees its bundle, inputs and output directory inside its sandbox. */
export const JOB_PATHS = { work: "/cleanroom/job", inputs: "/cleanroom/inputs", output: "/cleanroom/output" } as const;

/** The bwrap binary, or undefined when bubblewrap is not installed. */
export function findBwrap(): string | undefined {
  for (const p of ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]) if (existsSync(p)) return p;
  try {
    const out = execFileSync("sh", ["-c", "command -v bwrap"], { encoding: "utf8" }).trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}

function outsideUsr(p: string): boolean {
  return !(p === "/usr" || p.startsWith("/usr/"));
}

/** Detects the real Python and Node installations (following shims such as pyenv's). */
export function detectRuntimes(): RuntimeDirs {
  const bind = new Set<string>();
  const pathDirs: string[] = [];
  try {
    const prefix = execFileSync("python3", ["-c", "import sys; print(sys.base_prefix); print(sys.executable)"], {
      encoding: "utf8",
      timeout: 10_000,
    })
      .trim()
      .split("\n");
    const [base, exe] = [prefix[0]!, realpathSync(prefix[1]!)];
    if (outsideUsr(base)) bind.add(base);
    if (outsideUsr(exe)) bind.add(dirname(exe));
    pathDirs.push(dirname(prefix[1]!));
  } catch {
    // No python3: jobs with a python3 entrypoint fail with a clear error from the executor.
  }
  const nodeExe = realpathSync(process.execPath);
  const nodePrefix = dirname(dirname(nodeExe));
  if (outsideUsr(nodeExe)) bind.add(nodePrefix);
  pathDirs.push(dirname(process.execPath), dirname(nodeExe));
  pathDirs.push("/usr/local/bin", "/usr/bin", "/bin");
  return { bind: [...bind].sort(), path: [...new Set(pathDirs)].join(":") };
}

/** The system directories every sandbox needs, read-only; top-level symlinks (`/bin -> usr/bin`) are recreated. */
export function systemBinds(): string[] {
  const args: string[] = [];
  for (const d of ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(d), d);
    else args.push("--ro-bind", d, d);
  }
  return args;
}

/** What the launcher binds into the executor's sandbox. */
export interface ExecutorSandboxOptions {
  readonly runtimes: RuntimeDirs;
  /** Read-only: executor build, node_modules, the job's bundle dir, provider data dirs, the descriptor. */
  readonly readOnly: readonly string[];
  /** Writable: the quarantine dir (the executor commits its result there with one rename). */
  readonly writable: readonly string[];
  /** The job's attestation socket on the host; appears at `/run/container_launcher/teeserver.sock`. */
  readonly launcherSocket: string;
  readonly launcherSocketInside: string;
  /** The broker socket (same path inside). */
  readonly brokerSocket: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * bwrap arguments of the executor's sandbox: every namespace unshared (no network), dies with the launcher, a private
 * tmpfs `/tmp`, read-only code and data, and only the job's two sockets.
 */
export function executorSandboxArgs(o: ExecutorSandboxOptions): string[] {
  const args = ["--unshare-all", "--die-with-parent", "--new-session", ...systemBinds()];
  // /etc is needed by the executor's node (ld.so cache, certificates are not used: there is no network).
  args.push("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind-try", "/etc/localtime", "/etc/localtime");
  for (const d of o.runtimes.bind) args.push("--ro-bind", d, d);
  args.push("--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp");
  for (const d of o.readOnly) args.push("--ro-bind", d, d);
  for (const d of o.writable) args.push("--bind", d, d);
  args.push("--ro-bind", o.launcherSocket, o.launcherSocketInside);
  args.push("--ro-bind", o.brokerSocket, o.brokerSocket);
  // The sandbox root is a tmpfs bwrap creates: make it read-only so only /tmp and the binds above are writable.
  args.push("--remount-ro", "/", "--chdir", "/tmp", "--clearenv");
  for (const [k, v] of Object.entries(o.env)) args.push("--setenv", k, v);
  return args;
}

/** What the executor binds into the job's nested sandbox. */
export interface JobSandboxOptions {
  readonly runtimes: RuntimeDirs;
  readonly workDir: string;
  readonly inputsDir: string;
  readonly outputDir: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * bwrap arguments of the job's nested sandbox: no network, no sockets (the job cannot ask the attester for tokens or the
 * broker for keys), runs as `nobody`, its code and inputs read-only, only the output directory writable.
 */
export function jobSandboxArgs(o: JobSandboxOptions): string[] {
  const args = ["--unshare-all", "--uid", "65534", "--gid", "65534", "--die-with-parent", "--new-session", ...systemBinds()];
  args.push("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind-try", "/etc/localtime", "/etc/localtime");
  for (const d of o.runtimes.bind) args.push("--ro-bind", d, d);
  // No /proc: the job must not read the executor's memory or environment through /proc/<pid>.
  args.push("--dev", "/dev", "--tmpfs", "/tmp");
  args.push("--ro-bind", o.workDir, JOB_PATHS.work, "--ro-bind", o.inputsDir, JOB_PATHS.inputs, "--bind", o.outputDir, JOB_PATHS.output);
  // Read-only root: a write anywhere but the output dir (or scratch /tmp, discarded) fails instead of vanishing silently.
  args.push("--remount-ro", "/", "--chdir", JOB_PATHS.work, "--clearenv");
  for (const [k, v] of Object.entries(o.env)) args.push("--setenv", k, v);
  return args;
}

/**
 * bubblewrap command lines: the executor's sandbox (started by the launcher) and the job's nested sandbox (started by
 * the executor). Both unshare every namespace, including the network, and see only what is bound in.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { dirname } from "node:path";
import type { LocalJobLimits } from "../../../core/descriptor.js";

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

/** The prlimit binary (util-linux), or undefined when it is not installed. */
export function findPrlimit(): string | undefined {
  for (const p of ["/usr/bin/prlimit", "/bin/prlimit", "/usr/local/bin/prlimit"]) if (existsSync(p)) return p;
  return undefined;
}

/**
 * The command prefix that sets a job's resource limits before it runs (`prlimit … --`): memory (RLIMIT_DATA: the heap
 * and anonymous mappings, so a runaway allocation fails instead of exhausting the machine), CPU time per process
 * (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL 5 s later) and, inside the job's own user namespace, processes
 * (RLIMIT_NPROC, counted per user namespace since Linux 5.14, so it bounds this job's processes and no one else's).
 * Without a sandbox (no user namespace of its own) the process count would be the whole user's: it is left out.
 */
export function jobLimitPrefix(prlimit: string, limits: LocalJobLimits, ownUserNamespace: boolean): string[] {
  const bytes = limits.memoryMiB * 1024 * 1024;
  return [
    prlimit,
    `--data=${bytes}:${bytes}`,
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 5}`,
    ...(ownUserNamespace ? [`--nproc=${limits.processes}:${limits.processes}`] : []),
    "--",
  ];
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

/** The unprivileged host user and group jobs run as when the room runs as root (`nobody`). */
export const JOB_UID = 65534;
export const JOB_GID = 65534;

/**
 * Capabilities the executor keeps when the room runs as root (every other one is dropped): start the job's sandbox as
 * `nobody` (SETUID, SETGID), stop it (KILL), and read the files the job wrote, whatever their mode (DAC_READ_SEARCH).
 */
export const EXECUTOR_CAPABILITIES = ["CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_READ_SEARCH"] as const;

/** Whether the room runs as root (then jobs run as `nobody` on the host, not as a user mapped to root). */
export function runningAsRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/**
 * Builds a bwrap mount list in order, creating the parents of each mount point with mode 0755 where they would not
 * exist (bwrap otherwise copies the host parent's mode: a 0700 `/root` above a pyenv install would shut `nobody` out).
 */
class Mounts {
  readonly args: string[] = [];
  /** Mount points in order: `bind` trees exist as on the host; `empty` ones (tmpfs, created dirs) hold only what we add. */
  private readonly points: { readonly path: string; readonly kind: "bind" | "empty" }[] = [{ path: "/", kind: "empty" }];

  constructor(initial: readonly string[]) {
    this.args.push(...initial);
    for (let i = 0; i < initial.length; i++) {
      if (initial[i] === "--ro-bind" || initial[i] === "--bind") this.points.push({ path: initial[i + 2]!, kind: "bind" });
      if (initial[i] === "--symlink") this.points.push({ path: initial[i + 2]!, kind: "bind" });
    }
  }

  private exists(path: string): boolean {
    let best: { readonly path: string; readonly kind: "bind" | "empty" } | undefined;
    for (const p of this.points) if (isUnder(path, p.path) && (!best || p.path.length >= best.path.length)) best = p;
    if (!best) return false;
    return best.path === path || best.kind === "bind";
  }

  private parents(dest: string): void {
    const parts = dest.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join("/")}`;
      if (!this.exists(dir)) {
        this.args.push("--perms", "0755", "--dir", dir);
        this.points.push({ path: dir, kind: "empty" });
      }
    }
  }

  bind(kind: "--ro-bind" | "--bind" | "--ro-bind-try", src: string, dest = src): this {
    this.parents(dest);
    this.args.push(kind, src, dest);
    this.points.push({ path: dest, kind: "bind" });
    return this;
  }

  tmpfs(dest: string): this {
    this.parents(dest);
    this.args.push("--tmpfs", dest);
    this.points.push({ path: dest, kind: "empty" });
    return this;
  }

  raw(...a: string[]): this {
    this.args.push(...a);
    return this;
  }

  /** True when `path` is inside something bound from the host (and so visible unless hidden). */
  visible(path: string): boolean {
    return this.points.some((p) => p.kind === "bind" && isUnder(path, p.path));
  }
}

/** What the launcher binds into the executor's sandbox. */
export interface ExecutorSandboxOptions {
  readonly runtimes: RuntimeDirs;
  /** Read-only: executor build, the job's bundle dir, provider data dirs. */
  readonly readOnly: readonly string[];
  /** Writable: the job's own staging directory in quarantine (the launcher publishes the result from there). */
  readonly writable: readonly string[];
  /**
   * Directories hidden behind an empty tmpfs when a bound prefix (e.g. the Python installation) contains them: the
   * room's directory, so that its keys, logs and other jobs' results are never in view. `readOnly`/`writable` paths
   * inside them are bound again on top.
   */
  readonly hide: readonly string[];
  /** The job's attestation socket on the host; appears at `/run/container_launcher/teeserver.sock`. */
  readonly launcherSocket: string;
  readonly launcherSocketInside: string;
  /** The broker socket (same path inside). */
  readonly brokerSocket: string;
  readonly env: Readonly<Record<string, string>>;
  /** Run as root without a user namespace, keeping only `EXECUTOR_CAPABILITIES`. @default - whether the room runs as root */
  readonly asRoot?: boolean;
}

/**
 * bwrap arguments of the executor's sandbox: every namespace unshared (no network), dies with the launcher, a private
 * tmpfs `/tmp`, read-only code and data, only the job's own staging directory writable, and only the job's two
 * sockets. As root it stays in the host's user namespace (so that it can start the job as `nobody`) with every
 * capability dropped but `EXECUTOR_CAPABILITIES`; otherwise it runs rootless in a user namespace of its own.
 */
export function executorSandboxArgs(o: ExecutorSandboxOptions): string[] {
  const asRoot = o.asRoot ?? runningAsRoot();
  const namespaces = asRoot
    ? ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL", ...EXECUTOR_CAPABILITIES.flatMap((c) => ["--cap-add", c])]
    : ["--unshare-all"];
  const m = new Mounts([...namespaces, "--die-with-parent", "--new-session", ...systemBinds()]);
  // /etc is needed by the executor's node (ld.so cache, certificates are not used: there is no network).
  m.bind("--ro-bind-try", "/etc/ld.so.cache").bind("--ro-bind-try", "/etc/localtime");
  for (const d of o.runtimes.bind) m.bind("--ro-bind", d);
  m.raw("--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp");
  const hidden = o.hide.filter((h) => m.visible(h));
  for (const h of hidden) m.tmpfs(h);
  for (const d of o.readOnly) m.bind("--ro-bind", d);
  for (const d of o.writable) m.bind("--bind", d);
  m.bind("--ro-bind", o.launcherSocket, o.launcherSocketInside);
  m.bind("--ro-bind", o.brokerSocket);
  // The sandbox root is a tmpfs bwrap creates: make it read-only so only /tmp and the binds above are writable.
  m.raw("--remount-ro", "/");
  for (const h of hidden) m.raw("--remount-ro", h);
  m.raw("--chdir", "/tmp", "--clearenv");
  for (const [k, v] of Object.entries(o.env)) m.raw("--setenv", k, v);
  return m.args;
}

/** What the executor binds into the job's nested sandbox. */
export interface JobSandboxOptions {
  readonly runtimes: RuntimeDirs;
  readonly workDir: string;
  readonly inputsDir: string;
  readonly outputDir: string;
  /** Directories hidden behind an empty tmpfs when a bound prefix contains them (the room's directory). */
  readonly hide?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * bwrap arguments of the job's nested sandbox: no network, no sockets (the job cannot ask the attester for tokens or the
 * broker for keys), runs as `nobody` with no capabilities and no way to create user namespaces, its code and inputs
 * read-only, only the output directory writable. bwrap reports the pid of the sandbox's first process on fd 3, so
 * the executor can wait until every process of the job is gone.
 */
export function jobSandboxArgs(o: JobSandboxOptions): string[] {
  const m = new Mounts([
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--cap-drop",
    "ALL",
    "--uid",
    String(JOB_UID),
    "--gid",
    String(JOB_GID),
    "--die-with-parent",
    "--new-session",
    "--info-fd",
    "3",
    ...systemBinds(),
  ]);
  m.bind("--ro-bind-try", "/etc/ld.so.cache").bind("--ro-bind-try", "/etc/localtime");
  for (const d of o.runtimes.bind) m.bind("--ro-bind", d);
  // No /proc: the job must not read the executor's memory or environment through /proc/<pid>.
  m.raw("--dev", "/dev", "--tmpfs", "/tmp");
  const hidden = (o.hide ?? []).filter((x) => m.visible(x));
  for (const h of hidden) m.tmpfs(h);
  m.bind("--ro-bind", o.workDir, JOB_PATHS.work).bind("--ro-bind", o.inputsDir, JOB_PATHS.inputs).bind("--bind", o.outputDir, JOB_PATHS.output);
  // Read-only root: a write anywhere but the output dir (or scratch /tmp, discarded) fails instead of vanishing silently.
  m.raw("--remount-ro", "/");
  for (const h of hidden) m.raw("--remount-ro", h);
  m.raw("--chdir", JOB_PATHS.work, "--clearenv");
  for (const [k, v] of Object.entries(o.env)) m.raw("--setenv", k, v);
  return m.args;
}

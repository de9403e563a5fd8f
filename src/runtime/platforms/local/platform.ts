/**
 * `ExecutorPlatform` of the local backend: runs inside the launcher's bubblewrap sandbox and talks to the job's
 * attestation socket and the room's key broker.
 */
import { basename, dirname } from "node:path";
import type { Readable } from "node:stream";
import { decodeJwt } from "jose";
import type { CleanRoomDescriptor, DescriptorProvider, LocalJobLimits } from "../../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { CONTAINER_LAUNCHER_SOCKET, ENV_BROKER_SOCKET, ENV_INPUTS, ENV_LAUNCHER_SOCKET, ENV_OUTPUT, ENV_SANDBOX } from "../../executor/env.js";
import type { ExecutorPlatform, JobProcessCommand, JobProcessPlan, ResultWriter } from "../platform.js";
import { tokenError } from "./attestation-service.js";
import { unixRequest } from "./http.js";
import { uriToPath } from "./layout.js";
import { JOB_GID, JOB_PATHS, JOB_UID, type RuntimeDirs, findBwrap, findPrlimit, jobLimitPrefix, jobSandboxArgs, runningAsRoot } from "./sandbox.js";
import { LocalResultWriter, readLocalObject, sealedResultDir, stagingDirOf } from "./store.js";

/** Local only: JSON `RuntimeDirs` the launcher passes to the executor (binds and PATH of the job sandbox). */
export const ENV_LOCAL_RUNTIME = "CLEANROOM_LOCAL_RUNTIME";

/** The local executor platform. */
export class LocalExecutorPlatform implements ExecutorPlatform {
  readonly name = "local";
  readonly sandbox: string;
  private readonly launcherSocket: string;
  private readonly brokerSocket: string;
  private readonly runtimes: RuntimeDirs;
  private readonly roomDir: string | undefined;
  /** The limits of the attested descriptor (not of a file anyone may edit). */
  private readonly limits: LocalJobLimits | undefined;
  private digest?: string;

  constructor(
    descriptor: CleanRoomDescriptor,
    private readonly outputUri: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.sandbox = env[ENV_SANDBOX] === "bubblewrap" ? "bubblewrap" : "none";
    this.launcherSocket = env[ENV_LAUNCHER_SOCKET] || CONTAINER_LAUNCHER_SOCKET;
    this.brokerSocket = env[ENV_BROKER_SOCKET] || descriptor.local?.brokerSocket || "";
    let runtimes: RuntimeDirs = { bind: [], path: "/usr/local/bin:/usr/bin:/bin" };
    try {
      if (env[ENV_LOCAL_RUNTIME]) runtimes = JSON.parse(env[ENV_LOCAL_RUNTIME]!) as RuntimeDirs;
    } catch {
      // keep the defaults: a missing runtime shows up as a clear "command not found" failure
    }
    this.runtimes = runtimes;
    this.roomDir = descriptor.local?.dir;
    this.limits = descriptor.local?.jobLimits;
  }

  /** `prlimit … --` before the job's command, or nothing for a room without limits. */
  private limitPrefix(ownUserNamespace: boolean): string[] {
    if (!this.limits) return [];
    const prlimit = findPrlimit();
    if (!prlimit) throw new CleanRoomError("sandbox-unavailable", "prlimit (util-linux) is not installed, so the room's job limits cannot be set; install util-linux");
    return jobLimitPrefix(prlimit, this.limits, ownUserNamespace);
  }

  readObject(uri: string): Promise<Readable> {
    return readLocalObject(uri);
  }

  async openResult(outputUri: string): Promise<ResultWriter> {
    // Only this job's result: a confused executor cannot overwrite another job's quarantine entry.
    if (outputUri !== this.outputUri) {
      throw new CleanRoomError("invalid-argument", `This executor may only write its own result (${this.outputUri}), not ${outputUri}`);
    }
    // The launcher binds only this job's staging directory into the sandbox, and publishes the sealed result itself.
    const final = uriToPath(outputUri);
    return new LocalResultWriter(sealedResultDir(dirname(final), basename(final)), stagingDirOf(dirname(final), basename(final)));
  }

  private async defaultToken(): Promise<string> {
    const res = await unixRequest(this.launcherSocket, "GET", "/v1/token");
    if (res.status !== 200) throw tokenError(res.status, res.body);
    return res.body.trim();
  }

  async unwrapDataKey(provider: DescriptorProvider, dataset: string, wrapped: Buffer): Promise<Buffer> {
    const token = await this.defaultToken();
    const res = await unixRequest(this.brokerSocket, "POST", "/v1/unwrap", {
      provider: provider.name,
      dataset,
      wrapped: wrapped.toString("base64"),
      token,
    });
    let body: { key?: string; message?: string } = {};
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      body = { message: res.body };
    }
    if (res.status === 200 && typeof body.key === "string") return Buffer.from(body.key, "base64");
    if (res.status === 403) throw new CleanRoomError("denied", body.message ?? `provider "${provider.name}" refused the key`);
    throw new CleanRoomError("io-error", `The key broker failed for ${provider.name}/${dataset} (HTTP ${res.status}): ${body.message ?? res.body}`);
  }

  async requestToken(audience: string, nonces: readonly string[]): Promise<string> {
    const res = await unixRequest(this.launcherSocket, "POST", "/v1/token", { audience, nonces, token_type: "PKI" });
    if (res.status !== 200) throw tokenError(res.status, res.body);
    return res.body.trim();
  }

  async imageDigest(): Promise<string> {
    if (this.digest === undefined) {
      // As attested: read from the launcher's token, not from the descriptor (which anyone can edit).
      let claims: Record<string, unknown>;
      try {
        claims = decodeJwt(await this.defaultToken()) as Record<string, unknown>;
      } catch (err) {
        throw new CleanRoomError("io-error", `Cannot read the executor digest from the launcher's token: ${messageOf(err)}`, { cause: err });
      }
      const submods = claims.submods as { container?: { image_digest?: unknown } } | undefined;
      const d = submods?.container?.image_digest;
      if (typeof d !== "string") throw new CleanRoomError("io-error", "The launcher's token carries no submods.container.image_digest");
      this.digest = d;
    }
    return this.digest;
  }

  jobCommand(plan: JobProcessPlan): JobProcessCommand {
    const [cmd, ...rest] = plan.argv;
    if (cmd === undefined) throw new CleanRoomError("invalid-argument", "The job has an empty entrypoint");
    if (this.sandbox === "bubblewrap") {
      const bwrap = findBwrap();
      if (!bwrap) throw new CleanRoomError("sandbox-unavailable", "bubblewrap disappeared from the sandbox; the job cannot be isolated");
      const env = { ...plan.env, PATH: this.runtimes.path, [ENV_INPUTS]: JOB_PATHS.inputs, [ENV_OUTPUT]: JOB_PATHS.output };
      const args = jobSandboxArgs({
        runtimes: this.runtimes,
        workDir: plan.workDir,
        inputsDir: plan.inputsDir,
        outputDir: plan.outputDir,
        // The room's own directory may sit beneath a bound prefix (e.g. the Python installation): never in the job's view.
        hide: this.roomDir ? [this.roomDir] : [],
        env,
      });
      // As root, the sandbox starts as `nobody`: the job's user is unprivileged on the host, not root behind a uid map.
      const identity = runningAsRoot() ? { uid: JOB_UID, gid: JOB_GID } : {};
      return { command: bwrap, args: [...args, "--", ...this.limitPrefix(true), cmd, ...rest], cwd: "/", env: {}, ...identity, sandboxInfoFd: 3 };
    }
    // --insecure-no-sandbox: the job runs as a plain child process (the receipt says sandbox "none").
    const [command, ...prefixed] = [...this.limitPrefix(false), cmd, ...rest];
    return {
      command: command!,
      args: prefixed,
      cwd: plan.workDir,
      env: { ...plan.env, PATH: this.runtimes.path, [ENV_INPUTS]: plan.inputsDir, [ENV_OUTPUT]: plan.outputDir },
    };
  }
}

/**
 * The Confidential Space side of the loopback world: a fake launcher TEE server (`POST /v1/token` on a unix socket,
 * body checked with the launcher's DisallowUnknownFields rule, PKI tokens signed by a throwaway 3-level RSA chain) and
 * a fake VM that, when the fake Compute API inserts an instance, enforces the image's launch policy (every
 * `tee-env-*` name must be in the Dockerfile's `allow_env_override` label, exactly as the real launcher does),
 * writes the launcher's attestation token file, runs the real executor through `executorPlatformFor`, and powers off.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDescriptor } from "../../../src/core/descriptor.js";
import { readExecutorEnv } from "../../../src/runtime/executor/env.js";
import { runExecutor } from "../../../src/runtime/executor/run.js";
import { executorPlatformFor } from "../../../src/runtime/platforms/index.js";
import { builtPackage } from "../../cli-build.js";
import { type Chain, pkiToken } from "../../verify/pki.js";
import type { FakeInstance, GcpFake } from "./gcp-fake.js";

/** Reads a LABEL value from a Dockerfile (`LABEL "k"="v"` or `LABEL k=v`). */
export function dockerfileLabel(dockerfile: string, key: string): string | undefined {
  const text = readFileSync(dockerfile, "utf8").replace(/\\\n/g, " ");
  const re = new RegExp(`"?${key.replace(/\./g, "\\.")}"?\\s*=\\s*"([^"]*)"`);
  return re.exec(text)?.[1];
}

/** Claims the fake attester puts in every token of a VM. */
export function vmClaims(vm: FakeInstance, opts: { imageDigest: string; serviceAccount: string; project: string; debug?: boolean }): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const envOverride: Record<string, string> = {};
  for (const [k, v] of Object.entries(vm.metadata)) if (k.startsWith("tee-env-")) envOverride[k.slice("tee-env-".length)] = v;
  return {
    iss: "https://confidentialcomputing.googleapis.com",
    sub: `https://www.googleapis.com/compute/v1/projects/${opts.project}/zones/${vm.zone}/instances/${vm.name}`,
    iat: now,
    nbf: now,
    exp: now + 3600,
    secboot: true,
    hwmodel: "GCP_INTEL_TDX",
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["260100"],
    // A debug image says so, and carries no support attributes (D-img).
    dbgstat: opts.debug ? "enabled" : "disabled-since-boot",
    google_service_accounts: [opts.serviceAccount],
    submods: {
      confidential_space: opts.debug ? {} : { support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: {
        image_reference: vm.metadata["tee-image-reference"],
        image_digest: opts.imageDigest,
        restart_policy: "Never",
        env_override: envOverride,
      },
      gce: { zone: vm.zone, project_id: opts.project, project_number: "123456789012", instance_name: vm.name, instance_id: "4242" },
    },
  };
}

/** A fake launcher TEE server on a unix socket. */
export class FakeTeeServer {
  readonly dir = mkdtempSync(join(tmpdir(), "acr-tee-"));
  readonly socket = join(this.dir, "teeserver.sock");
  readonly tokenFile = join(this.dir, "attestation_verifier_claims_token");
  readonly requests: unknown[] = [];
  /** Claims of the VM currently "running" (set by FakeVm). */
  claims?: Record<string, unknown>;
  private server?: Server;

  constructor(private readonly chain: Chain) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        text += c;
      });
      req.on("end", () => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          res.writeHead(400);
          return void res.end("invalid JSON");
        }
        this.requests.push(body);
        const unknown = Object.keys(body).filter((k) => !["audience", "nonces", "token_type", "aws_principal_tag_options"].includes(k));
        if (req.method !== "POST" || req.url !== "/v1/token" || unknown.length > 0 || typeof body.audience !== "string" || body.token_type !== "PKI" || !this.claims) {
          res.writeHead(400);
          return void res.end(`bad request ${unknown.join(",")}`);
        }
        const nonces = body.nonces as string[];
        const payload = { ...this.claims, aud: body.audience, eat_nonce: nonces.length === 1 ? nonces[0] : nonces };
        res.writeHead(200, { "content-type": "text/html" });
        res.end(pkiToken(this.chain, payload));
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.socket, r));
    return this;
  }

  /** Writes the launcher's default token (audience STS) for the current claims. */
  writeDefaultToken(): void {
    writeFileSync(this.tokenFile, pkiToken(this.chain, { ...this.claims, aud: "https://sts.googleapis.com" }));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How a fake VM behaves after insert. */
export interface FakeVmBehaviour {
  /** Never leave PROVISIONING. */
  readonly neverBoots?: boolean;
  /** Boot, then power off without running the executor (e.g. the image could not be pulled). */
  readonly powerOffWithoutReceipt?: boolean;
  /** Boot and stay RUNNING without ever committing a result (an executor that hangs). */
  readonly hangs?: boolean;
  /**
   * Run the image's entrypoint program (`src/runtime/executor/main.ts`, what the Dockerfile's ENTRYPOINT runs compiled)
   * in a child process whose environment is only the `tee-env-*` variables plus the test redirections, instead of
   * calling `runExecutor` in this process. `exitCodes` records its exit code.
   */
  readonly asProcess?: boolean;
}

/** Wires a fake Compute API to the fake TEE server and the real executor. */
export class FakeVm {
  behaviour: FakeVmBehaviour = {};
  /** Launch-policy failures seen (the VM powered off because of them). */
  readonly launchFailures: string[] = [];
  /** The last executor run's promise (tests await it). */
  running?: Promise<void>;
  /** Exit codes of the executor processes (`asProcess`). */
  readonly exitCodes: number[] = [];

  constructor(
    fake: GcpFake,
    private readonly tee: FakeTeeServer,
    private readonly opts: { dockerfile: string; imageDigest: string; serviceAccount: string; project: string; debug?: boolean },
  ) {
    fake.onInsert = (vm) => {
      this.running = this.boot(vm);
    };
  }

  private async boot(vm: FakeInstance): Promise<void> {
    if (this.behaviour.neverBoots) return;
    vm.status = "RUNNING";
    if (this.behaviour.hangs) return;
    if (this.behaviour.powerOffWithoutReceipt) {
      vm.status = "TERMINATED";
      return;
    }
    // The launcher refuses any tee-env-* name the image does not allow, and powers the VM off (P9).
    const allowed = (dockerfileLabel(this.opts.dockerfile, "tee.launch_policy.allow_env_override") ?? "").split(",").filter(Boolean);
    const bad = Object.keys(vm.metadata).filter((k) => k.startsWith("tee-env-") && !allowed.includes(k.slice("tee-env-".length)));
    if (bad.length > 0) {
      this.launchFailures.push(...bad);
      vm.status = "TERMINATED";
      return;
    }
    this.tee.claims = vmClaims(vm, this.opts);
    this.tee.writeDefaultToken();
    const envVars: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(vm.metadata)) if (k.startsWith("tee-env-")) envVars[k.slice("tee-env-".length)] = v;
    if (this.behaviour.asProcess) {
      try {
        this.exitCodes.push(await runEntrypoint(envVars));
      } finally {
        vm.status = "TERMINATED";
      }
      return;
    }
    try {
      // What executor/main.ts does inside the container: env, inline descriptor, platform by descriptor.platform.
      const env = readExecutorEnv(envVars);
      const descriptor = loadDescriptor(JSON.parse(env.room) as unknown);
      const platform = await executorPlatformFor(descriptor, env);
      await runExecutor(platform, descriptor, env);
    } finally {
      vm.status = "TERMINATED";
    }
  }
}

/** Test-only variables a child executor needs to reach the fakes (the launcher could never set them: not allowed). */
const REDIRECTS = ["CLEANROOM_GCP_API_ENDPOINT", "CLEANROOM_GCP_TEESERVER_SOCKET", "CLEANROOM_GCP_TOKEN_FILE", "CLEANROOM_GCP_RETRY_BASE_MS"];

/**
 * Runs the executor's entrypoint as the container would: compiled (`dist/src/runtime/executor/main.js`, the image's
 * CMD; here this checkout built once per test run, tests/cli-build.ts), with `env` as its whole configuration.
 */
function runEntrypoint(env: NodeJS.ProcessEnv): Promise<number> {
  const main = join(builtPackage(), "dist", "src", "runtime", "executor", "main.js");
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmpdir(), ...env };
  for (const k of REDIRECTS) if (process.env[k] !== undefined) childEnv[k] = process.env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], { env: childEnv, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) process.stderr.write(`fake VM: executor exited ${code}: ${stderr}\n`);
      resolve(code ?? 1);
    });
  });
}

/**
 * The loopback "Google Cloud" a `<!-- doctest: gcp -->` session runs against: the fakes of tests/gcp/fakes (Cloud
 * Storage, Compute Engine, Cloud KMS, STS, the Confidential Space launcher and a VM that runs the real executor).
 * The session's `cleanroom` commands run in this process through the real program (`cliInProcess`, like
 * tests/gcp/runtime.test.ts), with every Google API pointed at the fakes; its `pulumi` commands go to a stand-in that
 * deploys the documented program under the component harness's mocks:
 *
 * - `pulumi config set [--secret] K V` / `pulumi config rm K` change the config of the program of the current
 *   directory (its Pulumi.yaml);
 * - `pulumi stack init NAME` names the stack of the current directory's program; a program's `StackReference` to
 *   NAME reads what that stack's last `pulumi up` exported (a provider's own program, deployed before the room);
 * - `pulumi up` runs the program under mocks with exactly that config (a missing setting fails like it would for
 *   real), then applies what every deployed plan says to the fakes: KMS decrypt is allowed for exactly the members of
 *   the plans' `roles/cloudkms.cryptoKeyDecrypter` bindings, STS enforces each plan's pool provider condition for its
 *   own pool provider, and the fake VM attests as the room's workload (executor digest, service account, project);
 * - `pulumi preview --policy-pack <policy-packs/cleanroom-guardrails>` runs the real pack over the mocked plan;
 * - `pulumi stack output NAME [--json]` prints the program's export, unchanged.
 *
 * The loopback attester cannot sign under Google's root, so `cleanroom verify`, `job release` and `job review` get
 * `--trusted-root <its throwaway root>` appended: the option a verifier uses after Google rotates its root. A GCP
 * descriptor cannot carry a root (the loader refuses it), so the documented commands still check everything else.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { allPolicies } from "../../policy-packs/cleanroom-guardrails/policies/index.js";
import type { CleanRoomDescriptor } from "../../src/core/descriptor.js";
import { GCP_API_ENDPOINT_ENV, POLL_INTERVAL_ENV, RETRY_BASE_ENV, TEESERVER_SOCKET_ENV, TOKEN_FILE_ENV } from "../../src/runtime/platforms/gcp/index.js";
import type { MockRun } from "../components/harness.js";
import { REPO_ROOT } from "../components/harness.js";
import { FakeTeeServer, FakeVm } from "../gcp/fakes/confidential-space.js";
import { GcpFake } from "../gcp/fakes/gcp-fake.js";
import { runPack } from "../policy/helpers.js";
import { testChains } from "../verify/pki.js";
import { cliInProcess } from "../cli-harness.js";
import { type PulumiProgram, fullKey, parsePulumi, pulumiProgramOf, runWithConfig } from "./pulumi-check.js";

const DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter";
const KMS_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember";
const POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider";
const GUARDRAILS = join(REPO_ROOT, "policy-packs", "cleanroom-guardrails");

interface Reply {
  stdout: string;
  stderr: string;
  code: number;
}

/** One loopback world per session. */
export class GcpWorld {
  readonly fake = new GcpFake();
  private tee?: FakeTeeServer;
  /** The fake attester's root, as a PEM file in the scratch directory. */
  private rootFile = "";
  private control?: Server;
  private scratch = "";
  private readonly config = new Map<string, Record<string, string>>();
  private readonly deployed = new Map<string, MockRun>();
  /** The stack name of each program (by example), from `pulumi stack init/select`. */
  private readonly stackNames = new Map<string, string>();
  private vm?: FakeVm;
  private readonly savedEnv: Record<string, string | undefined> = {};
  /** Errors of executor runs in the fake VM (a test asserts there are none). */
  readonly vmErrors: unknown[] = [];
  /** Every `pulumi` call of the session (args), for the test's own assertions. */
  readonly calls: string[][] = [];
  /** The loopback TCP port a gcp session's `cleanroom` and `pulumi` are forwarded to. */
  controlPort = 0;
  private outDir = "";
  private replies = 0;

  /** Starts the fakes and the `pulumi` control endpoint; `scratch` is the session's copy of the repo layout. */
  async start(scratch: string): Promise<this> {
    this.scratch = scratch;
    const chains = await testChains();
    this.rootFile = join(scratch, ".doctest-attester-root.pem");
    await writeFile(this.rootFile, chains.good.root.pem);
    await this.fake.start();
    this.tee = await new FakeTeeServer(chains.good).start();
    // The CLI and the executor (the fake VM) run in this process: point them at the fakes, as tests/gcp/runtime.test.ts does.
    const env: Record<string, string> = {
      [GCP_API_ENDPOINT_ENV]: this.fake.url,
      [TEESERVER_SOCKET_ENV]: this.tee.socket,
      [TOKEN_FILE_ENV]: this.tee.tokenFile,
      [RETRY_BASE_ENV]: "5",
      [POLL_INTERVAL_ENV]: "20",
    };
    for (const [k, v] of Object.entries(env)) {
      this.savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    // The session's forwarder (session.ts) is bash alone, over /dev/tcp: no process start per command. It sends
    // NUL-terminated fields — the word count, its cwd, then the tool and its args — and reads back one line
    // "<exit code> <stdout file> <stderr file>".
    this.outDir = await mkdtemp(join(tmpdir(), "acr-doctest-out-"));
    this.control = createServer((socket) => {
      let buf = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const fields = buf.toString("utf8").split("\0");
        const count = Number(fields[0]);
        if (fields.length < count + 3) return; // not all of it yet (the last element is what follows the last NUL)
        const [, cwd, tool, ...args] = fields.slice(0, count + 2) as [string, string, string, ...string[]];
        if (tool === "pulumi") this.calls.push(args);
        (tool === "cleanroom" ? cliInProcess(this.withAttesterRoot(args), cwd) : this.pulumi(args, cwd))
          .catch((err: unknown): Reply => ({ stdout: "", stderr: `doctest ${tool}: ${String(err)}\n`, code: 99 }))
          .then(async (r) => {
            const n = this.replies++;
            const out = join(this.outDir, `${n}.out`);
            const err = join(this.outDir, `${n}.err`);
            await writeFile(out, r.stdout);
            await writeFile(err, r.stderr);
            socket.end(`${r.code} ${out} ${err}\n`);
          });
      });
    });
    await new Promise<void>((r) => this.control!.listen(0, "127.0.0.1", r));
    this.controlPort = (this.control.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const [k, v] of Object.entries(this.savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await new Promise<void>((r) => this.control?.close(() => r()) ?? r());
    if (this.outDir) await rm(this.outDir, { recursive: true, force: true });
    await this.fake.stop();
    await this.tee?.stop();
  }

  private programAt(cwd: string): PulumiProgram | undefined {
    // The session runs in a scratch copy: map its directory back to the repository's.
    return pulumiProgramOf(resolve(REPO_ROOT, relative(this.scratch, cwd)));
  }

  private async pulumi(args: string[], cwd: string): Promise<Reply> {
    const ok = (stdout: string): Reply => ({ stdout, stderr: "", code: 0 });
    const fail = (stderr: string): Reply => ({ stdout: "", stderr: `error: ${stderr}\n`, code: 1 });
    const program = this.programAt(cwd);
    if (!program) return fail(`no Pulumi.yaml of an example in ${cwd}`);
    const config = this.config.get(program.example) ?? {};
    this.config.set(program.example, config);
    const cmd = parsePulumi(args);
    switch (cmd.kind) {
      case "config-set":
        if (cmd.value === undefined) return fail("the doctest stand-in does not prompt: give the value on the command line");
        config[fullKey(program, cmd.key)] = cmd.value;
        return ok("");
      case "config-rm":
        delete config[fullKey(program, cmd.key)];
        return ok("");
      case "deploy": {
        const stacks: Record<string, Record<string, unknown>> = {};
        for (const [example, run] of this.deployed) {
          const stack = this.stackNames.get(example);
          if (stack) stacks[stack] = run.outputs as Record<string, unknown>;
        }
        const r = await runWithConfig(program, { ...config }, stacks);
        if (!r.run) return fail(r.error?.message ?? "the program failed");
        if (cmd.verb === "preview") {
          const lines: string[] = [];
          for (const pack of cmd.policyPacks) {
            if (resolve(REPO_ROOT, relative(this.scratch, resolve(cwd, pack))) !== GUARDRAILS) return fail(`unknown policy pack ${pack}`);
            const planned = r.run.resources.map((x) => ({ type: x.type, name: x.name, urn: x.urn, props: x.inputs }));
            const violations = await runPack(allPolicies, planned);
            if (violations.length > 0) return fail(`policy violations:\n${violations.map((v) => `  ${v.policy} ${v.resource}: ${v.message}`).join("\n")}`);
            lines.push(`Policy pack cleanroom-guardrails: ${allPolicies.length} policies, 0 violations`);
          }
          return ok(`Previewed ${r.run.resources.length} resources (mocked)\n${lines.join("\n")}\n`);
        }
        this.deployed.set(program.example, r.run);
        this.apply();
        return ok(`Updated ${r.run.resources.length} resources (mocked)\n`);
      }
      case "stack-output": {
        const run = this.deployed.get(program.example);
        if (!run) return fail("no deployment yet: run `pulumi up` first");
        const outputs = run.outputs as Record<string, unknown>;
        if (!cmd.name || !(cmd.name in outputs)) return fail(`the stack has no output ${cmd.name ?? "(none given)"}; it has ${Object.keys(outputs).join(", ")}`);
        const value = outputs[cmd.name];
        return ok(`${typeof value === "string" && !cmd.json ? value : JSON.stringify(value, null, 2)}\n`);
      }
      case "other":
        if (cmd.verb === "stack init" || cmd.verb === "stack select") {
          const name = args.filter((a) => !a.startsWith("-"))[2];
          if (name) this.stackNames.set(program.example, name);
          return ok("");
        }
        return fail(`\`pulumi ${args.join(" ")}\` is not emulated by the doctest stand-in`);
    }
  }

  /** What every deployed stack would have changed in Google Cloud, applied to the fakes. */
  private apply(): void {
    this.fake.kmsApprovals.clear();
    this.fake.kmsPrincipals.clear();
    this.fake.poolConditions.clear();
    this.fake.attributeCondition = undefined;
    for (const run of this.deployed.values()) {
      for (const r of run.resources) {
        if (r.type === KMS_MEMBER && r.inputs.role === DECRYPTER && String(r.inputs.member).startsWith("principalSet://")) {
          const key = String(r.inputs.cryptoKeyId);
          const set = this.fake.kmsPrincipals.get(key) ?? new Set<string>();
          set.add(String(r.inputs.member));
          this.fake.kmsPrincipals.set(key, set);
        }
        // STS judges each pool provider by exactly the condition text its own plan gives it.
        if (r.type === POOL_PROVIDER) {
          if (typeof r.inputs.attributeCondition !== "string" || !r.id) throw new Error(`the plan's pool provider ${r.name} has no condition`);
          this.fake.poolConditions.set(r.id, r.inputs.attributeCondition);
        }
      }
    }
    const room = [...this.deployed.values()].find((run) => (run.outputs as { descriptor?: unknown }).descriptor !== undefined);
    if (!room) return;
    const d = (room.outputs as { descriptor: CleanRoomDescriptor }).descriptor;
    this.vm = new FakeVm(this.fake, this.tee!, {
      dockerfile: join(REPO_ROOT, "executor", "Dockerfile"),
      imageDigest: d.executor.imageDigest,
      serviceAccount: d.gcp!.workloadServiceAccount,
      project: d.gcp!.project,
    });
    const vm = this.vm;
    const boot = this.fake.onInsert!;
    this.fake.onInsert = (instance) => {
      boot(instance);
      vm.running?.catch((err: unknown) => this.vmErrors.push(err));
    };
  }

  /** `verify`, `job release` and `job review` check tokens: point them at the fake attester's root (see the header). */
  private withAttesterRoot(args: readonly string[]): string[] {
    const checksTokens = args[0] === "verify" || (args[0] === "job" && (args[1] === "release" || args[1] === "review"));
    return checksTokens && !args.includes("--help") ? [...args, "--trusted-root", this.rootFile] : [...args];
  }
}

/**
 * The room console in the stage-1 sandbox: the single-user image (sandbox/Dockerfile) carries the CLI and the console,
 * jupyter-server-proxy serves it as a "Clean room" launcher tile over a private Unix socket, and the Helm values pin
 * the image by digest and mount the room's descriptor where the tile's command reads it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { DataCleanRoom, SANDBOX_ROOM_PATH, type SandboxOptions, consoleValues, jupyterhubValues, sandboxProblems } from "../../src/components/index.js";
import { checkCleanroomArgs } from "../docs/cli-check.js";
import { twoProviderArgs } from "./fixtures.js";
import { REPO_ROOT, type RecordedResource, resolveOutputs, runProgramUnderMocks } from "./harness.js";

const IMAGE = `europe-west4-docker.pkg.dev/acme/cleanroom/sandbox:v1@sha256:${"ab".repeat(32)}`;
const SANDBOX: SandboxOptions = { authorizedNetworks: ["203.0.113.0/28"], insecureDummyAuthenticator: true, singleUserImage: IMAGE };
const DOCKERFILE = readFileSync(join(REPO_ROOT, "sandbox", "Dockerfile"), "utf8");
const PROXY_CONFIG = readFileSync(join(REPO_ROOT, "sandbox", "jupyter_server_config.py"), "utf8");

/** The console's argv in the proxy config, with the proxy's placeholders filled in as jupyter-server-proxy does. */
function proxyCommand(): string[] {
  const block = /"command": \[([\s\S]*?)\]/.exec(PROXY_CONFIG)?.[1] ?? "";
  const vars: Record<string, string> = { ROOM: SANDBOX_ROOM_PATH, HOME: "/home/jovyan" };
  return block
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => (t.startsWith('"') ? JSON.parse(t) : vars[t]) as string)
    .map((t) => t.replace("{unix_socket}", "/tmp/jsp/socket").replace("{base_url}", "/user/alice/"));
}

describe("components: the room console in the JupyterHub sandbox", function () {
  this.timeout(60_000);

  it("GIVEN singleUserImage WHEN the Helm values are built THEN the image is pinned by digest, JupyterLab opens, and the descriptor is mounted where the console reads it", () => {
    const values = jupyterhubValues(SANDBOX, "jupyter-user", "restricted", undefined, '{"name":"r"}') as { singleuser: Record<string, unknown> };
    expect(values.singleuser.image).to.deep.equal({ name: "europe-west4-docker.pkg.dev/acme/cleanroom/sandbox", tag: `v1@sha256:${"ab".repeat(32)}` });
    expect(values.singleuser.defaultUrl).to.equal("/lab");
    expect(values.singleuser.extraEnv).to.deep.equal({ CLEANROOM_ROOM_DESCRIPTOR: SANDBOX_ROOM_PATH });
    expect(values.singleuser.extraFiles).to.deep.equal({ "cleanroom-room": { mountPath: SANDBOX_ROOM_PATH, stringData: '{"name":"r"}', mode: 0o444 } });
    // The chart joins name:tag: the result is the pinned reference itself.
    const img = values.singleuser.image as { name: string; tag: string };
    expect(`${img.name}:${img.tag}`).to.equal(IMAGE);
  });

  it("GIVEN no singleUserImage WHEN the Helm values are built THEN the chart's own image is kept and nothing is mounted", () => {
    const { singleUserImage: _no, ...plain } = SANDBOX;
    const values = jupyterhubValues(plain, "jupyter-user", "restricted", undefined, '{"name":"r"}') as { singleuser: Record<string, unknown> };
    expect(values.singleuser).to.not.have.any.keys("image", "extraFiles", "extraEnv", "defaultUrl");
    expect(consoleValues(undefined)).to.deep.equal({});
  });

  it("GIVEN a singleUserImage that is only a tag WHEN validated THEN it is refused: a tag can be moved to other code", () => {
    expect(sandboxProblems({ ...SANDBOX, singleUserImage: "europe-west4-docker.pkg.dev/acme/cleanroom/sandbox:v1" }).join("\n")).to.match(/singleUserImage must be <repository>:<tag>@sha256:<64 hex>/);
    expect(sandboxProblems(SANDBOX)).to.deep.equal([]);
  });

  it("GIVEN a DataCleanRoom with the console image WHEN planned THEN the Helm release mounts exactly the room's descriptor", async () => {
    let room: DataCleanRoom | undefined;
    const run = await runProgramUnderMocks(() => {
      room = new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: SANDBOX });
    });
    const release = run.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release") as RecordedResource;
    const values = release.inputs.values as { singleuser: { extraFiles: Record<string, { stringData: string }> } };
    const mounted = values.singleuser.extraFiles["cleanroom-room"]!.stringData;
    expect(mounted).to.equal(await resolveOutputs(room!.descriptorJson));
    expect((JSON.parse(mounted) as { name: string }).name).to.equal("research");
  });

  it("GIVEN the server-proxy config WHEN read THEN a 'Clean room' launcher tile starts `cleanroom console` on a private Unix socket with the user's home as workspace", () => {
    expect(PROXY_CONFIG).to.match(/"title": "Clean room"/);
    expect(PROXY_CONFIG).to.match(/"unix_socket": True/);
    expect(PROXY_CONFIG).to.match(/"absolute_url": True/);
    const argv = proxyCommand();
    expect(argv.slice(0, 2)).to.deep.equal(["cleanroom", "console"]);
    expect(argv.slice(2)).to.deep.equal(["--room", SANDBOX_ROOM_PATH, "--workspace", "/home/jovyan", "--unix-socket", "/tmp/jsp/socket", "--base-path", "/user/alice/cleanroom/"]);
    // Every option exists in the real CLI.
    expect(checkCleanroomArgs(argv.slice(1))).to.deep.equal({ path: "cleanroom console", problems: [] });
  });

  it("GIVEN the sandbox Dockerfile WHEN read THEN it installs jupyter-server-proxy, the CLI and the proxy config, and points the console at the mounted descriptor", () => {
    expect(DOCKERFILE).to.match(/jupyter-server-proxy==\d+\.\d+\.\d+/);
    expect(DOCKERFILE).to.match(/jupyterhub==\d+\.\d+\.\d+/);
    expect(DOCKERFILE).to.include("COPY sandbox/jupyter_server_config.py /etc/jupyter/jupyter_server_config.py");
    expect(DOCKERFILE).to.match(/\/usr\/local\/bin\/cleanroom/);
    expect(DOCKERFILE).to.include(`CLEANROOM_ROOM_DESCRIPTOR=${SANDBOX_ROOM_PATH}`);
    // Base images pinned by digest, like the executor's.
    for (const from of DOCKERFILE.match(/^FROM .*$/gm) ?? []) expect(from).to.match(/@sha256:[0-9a-f]{64}/);
    expect(DOCKERFILE).to.match(/^USER 1000$/m);
  });
});

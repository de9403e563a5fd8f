/**
 * The stage-1 sandbox never ships an open login: no authenticator is an error, the OAuth ones restrict who may log
 * in, and the dummy authenticator (any name, no password) exists only behind an explicitly named insecure option.
 */
import { expect } from "chai";
import { DataCleanRoom, JUPYTERHUB_CHART, SandboxCluster, type SandboxOptions, jupyterhubValues } from "../../src/components/index.js";
import { CleanRoomError } from "../../src/core/errors.js";
import { PROJECT, REGION, twoProviderArgs } from "./fixtures.js";
import { constructUnderMocks, type RecordedResource, runProgramUnderMocks } from "./harness.js";

/** Every `key: value` pair anywhere inside a value. */
function* entries(value: unknown): Generator<[string, unknown]> {
  if (Array.isArray(value)) for (const v of value) yield* entries(v);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      yield [k, v];
      yield* entries(v);
    }
  }
}

function hubConfig(s: SandboxOptions): Record<string, Record<string, unknown>> {
  return (jupyterhubValues(s, "jupyter-user", "restricted") as { hub: { config: Record<string, Record<string, unknown>> } }).hub.config;
}

const NETWORKS = ["203.0.113.0/28"];
const GITHUB: SandboxOptions = { authorizedNetworks: NETWORKS, github: { clientId: "Iv1.abc", clientSecret: "s", allowedOrganizations: ["acme"] } };
const GOOGLE: SandboxOptions = { authorizedNetworks: NETWORKS, google: { clientId: "1-a.apps.googleusercontent.com", clientSecret: "s", hostedDomains: ["acme.example"] } };

describe("components: the JupyterHub sandbox's login", function () {
  this.timeout(60_000);

  it("GIVEN GitHub or Google login WHEN the Helm values are built THEN that authenticator is set, restricted, and nothing allows everyone", () => {
    for (const [s, cls, key, restriction] of [
      [GITHUB, "github", "GitHubOAuthenticator", { allowed_organizations: ["acme"] }],
      [GOOGLE, "google", "GoogleOAuthenticator", { hosted_domain: ["acme.example"] }],
    ] as const) {
      const config = hubConfig(s);
      expect(config.JupyterHub).to.deep.equal({ authenticator_class: cls });
      expect(config[key]).to.deep.include(restriction);
      expect([...entries(config)].filter(([k]) => /allow_all|allow_existing_users/.test(k))).to.deep.equal([]);
      expect(JSON.stringify(config)).not.to.include("dummy");
    }
  });

  it("GIVEN insecureDummyAuthenticator WHEN the Helm values are built THEN (and only then) the dummy authenticator lets anyone in", () => {
    const config = hubConfig({ authorizedNetworks: NETWORKS, insecureDummyAuthenticator: true });
    expect(config).to.deep.equal({ JupyterHub: { authenticator_class: "dummy" }, Authenticator: { allow_all: true } });
    // The values builder has no fallback of its own: without an authenticator it refuses, whatever the validation did.
    expect(() => hubConfig({ authorizedNetworks: NETWORKS })).to.throw(CleanRoomError, /needs an authenticator/);
    expect(() => hubConfig({ authorizedNetworks: NETWORKS, insecureDummyAuthenticator: false })).to.throw(/needs an authenticator/);
  });

  it("GIVEN a sandbox without an authenticator WHEN a SandboxCluster is constructed directly THEN it throws before registering anything", async () => {
    const { run, error: caught } = await constructUnderMocks(() => {
      new SandboxCluster("research-sandbox", {
        project: PROJECT,
        region: REGION,
        namePrefix: "research",
        network: "n",
        subnetwork: "s",
        stage1Bucket: "b",
        sandbox: { authorizedNetworks: NETWORKS },
      });
    });
    expect(run.resources).to.deep.equal([]);
    expect(caught).to.be.instanceOf(CleanRoomError);
    expect((caught as CleanRoomError).problems.join("\n")).to.match(/needs an authenticator/);
  });

  it("GIVEN a room that leaves the sandbox out WHEN constructed THEN it is refused: there is no default login to fall back to", async () => {
    const { sandbox: _omitted, ...args } = twoProviderArgs();
    const { run, error: caught } = await constructUnderMocks(() => {
      new DataCleanRoom("research", args);
    });
    expect(run.resources).to.deep.equal([]);
    expect((caught as CleanRoomError).problems).to.deep.equal([
      "sandbox is required: configure an authenticator and authorizedNetworks, or set sandbox.enabled to false",
    ]);
  });

  it("GIVEN privateEndpoint WHEN planned THEN the control plane has no public endpoint and the chart is installed through the private one", async () => {
    const kubeconfigOf = (resources: RecordedResource[]) =>
      JSON.parse(resources.find((r) => r.type === "pulumi:providers:kubernetes")!.inputs.kubeconfig as string) as {
        clusters: Array<{ cluster: { server: string } }>;
      };
    const privateRun = await runProgramUnderMocks(() => {
      new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { ...GITHUB, privateEndpoint: true } });
    });
    const cluster = privateRun.resources.find((r) => r.type === "gcp:container/cluster:Cluster")!;
    expect(cluster.inputs.privateClusterConfig).to.deep.equal({ enablePrivateNodes: true, enablePrivateEndpoint: true });
    expect(kubeconfigOf(privateRun.resources).clusters[0]!.cluster.server).to.equal("https://10.0.0.2");
    // The default keeps the (authorized-networks-only) public endpoint so `pulumi up` works from outside the VPC.
    const defaultRun = await runProgramUnderMocks(() => {
      new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: GITHUB });
    });
    const defaultCluster = defaultRun.resources.find((r) => r.type === "gcp:container/cluster:Cluster")!;
    expect(defaultCluster.inputs.privateClusterConfig).to.deep.equal({ enablePrivateNodes: true, enablePrivateEndpoint: false });
    expect(kubeconfigOf(defaultRun.resources).clusters[0]!.cluster.server).to.equal("https://34.0.0.2");
  });

  it("GIVEN a GitHub sandbox WHEN planned THEN the chart is pinned, the hub is not exposed, users' egress is limited and network policy is on", async () => {
    const run = await runProgramUnderMocks(() => {
      new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: GITHUB });
    });
    const release = run.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release") as RecordedResource;
    expect(release.inputs).to.deep.include({ chart: "jupyterhub", version: JUPYTERHUB_CHART.version });
    expect(JUPYTERHUB_CHART.version).to.match(/^\d+\.\d+\.\d+$/);
    const values = release.inputs.values as {
      proxy: { service: { type: string } };
      singleuser: { networkPolicy: { enabled: boolean; egressAllowRules: Record<string, boolean> } };
    };
    expect(values.proxy.service.type).to.equal("ClusterIP");
    expect(values.singleuser.networkPolicy.enabled).to.equal(true);
    expect(values.singleuser.networkPolicy.egressAllowRules).to.deep.include({ nonPrivateIPs: false, privateIPs: false });
    const cluster = run.resources.find((r) => r.type === "gcp:container/cluster:Cluster") as RecordedResource;
    expect(cluster.inputs).to.deep.include({ enableAutopilot: true, workloadIdentityConfig: { workloadPool: `${PROJECT}.svc.id.goog` } });
    expect(cluster.inputs.masterAuthorizedNetworksConfig).to.deep.equal({
      cidrBlocks: [{ cidrBlock: NETWORKS[0], displayName: "admin-0" }],
      gcpPublicCidrsAccessEnabled: false,
    });
  });
});

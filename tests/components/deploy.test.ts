/**
 * What a first real `pulumi up` needs and mocks alone would not show: Helm values the pinned chart accepts, the
 * dependency edges GCP needs (Workload Identity after the cluster, API enablement before the resources and invokes
 * that use the APIs), a fresh executor tag whenever the build context changes (the repository's tags are immutable),
 * and no way for a submitter to give a job VM an external IP.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as gcp from "@pulumi/gcp";
import Ajv from "ajv";
import { expect } from "chai";
import {
  DataCleanRoom,
  type DataCleanRoomArgs,
  JUPYTERHUB_CHART,
  SUBNET_USE_PERMISSIONS,
  type SandboxOptions,
  buildContextDigest,
  copySources,
  jupyterhubValues,
} from "../../src/components/index.js";
import { FIXTURE_DOCKERFILE, HOSPITAL_PROJECT, PROJECT, REGION, twoProviderArgs } from "./fixtures.js";
import { type MockRun, type RecordedResource, runProgramUnderMocks } from "./harness.js";

const SCHEMA = path.join(__dirname, "fixtures", "vendor", `jupyterhub-${JUPYTERHUB_CHART.version}.values.schema.json`);
const CHART_DEFAULTS = path.join(__dirname, "fixtures", "vendor", `jupyterhub-${JUPYTERHUB_CHART.version}.values.json`);

/** Helm's merge of user values over a chart's defaults: maps merge key by key, anything else replaces, null removes. */
function helmMerge(defaults: unknown, values: unknown): unknown {
  if (values === undefined) return defaults;
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isMap(defaults) || !isMap(values)) return values;
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(values)) {
    if (v === null) delete out[k];
    else out[k] = helmMerge(defaults[k], v);
  }
  return out;
}
const SERVICE = "gcp:projects/service:Service";

function one(resources: readonly RecordedResource[], type: string, name: string): RecordedResource {
  const r = resources.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name}`);
  return r;
}

describe("components: the pinned JupyterHub chart accepts the Helm values", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")) as object);
  const defaults = JSON.parse(readFileSync(CHART_DEFAULTS, "utf8")) as unknown;
  const NETWORKS = ["203.0.113.0/28"];
  const variants: Record<string, SandboxOptions> = {
    github: { authorizedNetworks: NETWORKS, github: { clientId: "Iv1.abc", clientSecret: "s", allowedOrganizations: ["acme"], allowedUsers: ["alice"] } },
    google: { authorizedNetworks: NETWORKS, google: { clientId: "1-a.apps.googleusercontent.com", clientSecret: "s", hostedDomains: ["acme.example"] } },
    dummy: { authorizedNetworks: NETWORKS, insecureDummyAuthenticator: true },
  };

  for (const [name, s] of Object.entries(variants)) {
    it(`GIVEN the ${name} sandbox WHEN its Helm values are checked against the chart's values.schema.json (${JUPYTERHUB_CHART.version}) THEN they pass`, () => {
      for (const access of ["restricted", "private"]) {
        const values = JSON.parse(JSON.stringify(jupyterhubValues(s, "jupyter-user", access, name === "dummy" ? undefined : "oauth-client")));
        const ok = validate(helmMerge(defaults, values));
        expect(ok, ajv.errorsText(validate.errors, { separator: "\n" })).to.equal(true);
      }
    });
  }

  it("GIVEN the chart's own defaults WHEN checked THEN they pass (the vendored pair is consistent)", () => {
    expect(validate(defaults), ajv.errorsText(validate.errors)).to.equal(true);
  });

  it("GIVEN a key the chart does not know (the old egressAllowRules.dnsPortsKubeDNSIP) WHEN checked THEN the schema refuses it: the check is real", () => {
    const values = JSON.parse(JSON.stringify(jupyterhubValues(variants.github!, "jupyter-user", "restricted", "oauth-client"))) as {
      singleuser: { networkPolicy: { egressAllowRules: Record<string, boolean> } };
    };
    values.singleuser.networkPolicy.egressAllowRules.dnsPortsKubeDNSIP = true;
    expect(validate(helmMerge(defaults, values))).to.equal(false);
    expect(ajv.errorsText(validate.errors)).to.match(/must NOT have additional properties/);
  });
});

describe("components: the plan's dependency edges", function () {
  this.timeout(60_000);
  let run: MockRun;

  before(async () => {
    // Enablement answers late, as on a fresh project: whatever waits for it shows in the order things complete.
    run = await runProgramUnderMocks(() => ({ d: new DataCleanRoom("research", twoProviderArgs()).descriptor }), { slowTypes: { [SERVICE]: 40 } });
  });

  it("GIVEN the sandbox WHEN planned THEN the Workload Identity binding depends on the cluster (its identity pool exists only then)", () => {
    const cluster = one(run.resources, "gcp:container/cluster:Cluster", "research-sandbox-gke");
    const wi = one(run.resources, "gcp:serviceaccount/iAMMember:IAMMember", "research-sandbox-jupyter-wi");
    expect(wi.dependencies).to.include(cluster.urn);
  });

  it("GIVEN the Autopilot cluster WHEN planned THEN its nodes run as their own account, which holds its node role before the cluster exists", () => {
    const cluster = one(run.resources, "gcp:container/cluster:Cluster", "research-sandbox-gke");
    const nodes = one(run.resources, "gcp:serviceaccount/account:Account", "research-sandbox-nodes");
    const role = one(run.resources, "gcp:projects/iAMMember:IAMMember", "research-sandbox-nodes-role");
    expect(cluster.inputs.clusterAutoscaling).to.deep.equal({
      autoProvisioningDefaults: { serviceAccount: `research-gke-nodes@${PROJECT}.iam.gserviceaccount.com`, oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"] },
    });
    expect(role.inputs).to.deep.include({ role: "roles/container.defaultNodeServiceAccount", member: `serviceAccount:research-gke-nodes@${PROJECT}.iam.gserviceaccount.com` });
    expect(cluster.dependencies).to.include(role.urn);
    expect(nodes.custom).to.equal(true);
  });

  it("GIVEN the room's and each provider's key ring WHEN planned THEN each waits for the APIs of its own project", () => {
    const roomKms = one(run.resources, SERVICE, "research-api-cloudkms");
    expect(one(run.resources, "gcp:kms/keyRing:KeyRing", "research-storage-keyring").dependencies).to.include(roomKms.urn);
    for (const p of ["hospital", "insurer"]) {
      const kms = one(run.resources, SERVICE, `research-${p}-api-cloudkms`);
      expect(one(run.resources, "gcp:kms/keyRing:KeyRing", `research-${p}-keyring`).dependencies, p).to.include(kms.urn);
      expect(one(run.resources, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool", `research-${p}-pool`).dependencies, p).to.include(one(run.resources, SERVICE, `research-${p}-api-iam`).urn);
    }
  });

  it("GIVEN slow API enablement WHEN planned THEN the Cloud Storage agent lookups (invokes) run only after the storage APIs are on", () => {
    const t = run.timeline;
    const lookups = t.map((e, i) => [e, i] as const).filter(([e]) => e === "invoke gcp:storage/getProjectServiceAccount:getProjectServiceAccount");
    expect(lookups.length).to.equal(3);
    const enabled = ["research-api-storage", "research-hospital-api-storage", "research-insurer-api-storage"].map((n) => t.indexOf(`register ${SERVICE}::${n}`));
    for (const i of enabled) expect(i).to.be.greaterThan(-1);
    // Each lookup depends on its own project's enablement; none may come before the earliest of them.
    for (const [, i] of lookups) expect(i).to.be.greaterThan(Math.min(...enabled));
  });
});

describe("components: the executor's tag follows its build context", function () {
  this.timeout(60_000);
  let ctx: string;

  before(() => {
    ctx = mkdtempSync(path.join(tmpdir(), "acr-context-"));
    cpSync(FIXTURE_DOCKERFILE, path.join(ctx, "Dockerfile"));
    writeFileSync(path.join(ctx, "dist.txt"), "not copied");
    cpSync(path.join(__dirname, "fixtures"), path.join(ctx, "dist"), { recursive: true });
  });
  after(() => rmSync(ctx, { recursive: true, force: true }));

  async function imageName(): Promise<string> {
    const args: DataCleanRoomArgs = { ...twoProviderArgs(), executor: { context: ctx, dockerfile: path.join(ctx, "Dockerfile") }, sandbox: { enabled: false } };
    const r = await runProgramUnderMocks(() => ({ d: new DataCleanRoom("research", args).descriptor }));
    return String(one(r.resources, "docker:index/image:Image", "research-executor-image").inputs.imageName);
  }

  it("GIVEN the Dockerfile's COPY lines WHEN read THEN their context sources are found (not --from stages, not the destination)", () => {
    expect(copySources('FROM a AS b\nCOPY --chown=1 package.json package-lock.json ./\nCOPY --from=build /src/dist /app\nADD ["src", "/s"]\n')).to.deep.equal([
      "package.json",
      "package-lock.json",
      "src",
    ]);
  });

  it("GIVEN a deployed room WHEN the executor's sources change and `up` runs again THEN the image gets a new tag; a file the image does not copy changes nothing", async () => {
    const first = await imageName();
    expect(first).to.match(new RegExp(`^${REGION}-docker\\.pkg\\.dev/${PROJECT}/research-executor/executor:ctx-[0-9a-f]{16}$`));
    writeFileSync(path.join(ctx, "dist.txt"), "still not copied");
    expect(await imageName()).to.equal(first);
    writeFileSync(path.join(ctx, "dist", "executor.Dockerfile"), "# changed\n");
    const second = await imageName();
    expect(second).to.not.equal(first);
    expect(second.slice(second.lastIndexOf(":") + 5)).to.equal(buildContextDigest(ctx, path.join(ctx, "Dockerfile")).slice(0, 16));
  });
});

describe("components: no external IP for job VMs", function () {
  this.timeout(60_000);

  it("GIVEN a submitter WHEN granted THEN on the TEE subnet it gets a custom role with compute.subnetworks.use only (no useExternalIp), never networkUser", async () => {
    const r = await runProgramUnderMocks(() => {
      const room = new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { enabled: false } });
      room.grantSubmit("user:analyst@acme.example");
      return {};
    });
    const subnet = r.resources.filter((x) => x.type === "gcp:compute/subnetworkIAMMember:SubnetworkIAMMember");
    expect(subnet.map((x) => x.inputs.role)).to.deep.equal([`projects/${PROJECT}/roles/research_subnet_use`]);
    const role = one(r.resources, "gcp:projects/iAMCustomRole:IAMCustomRole", "research-role-subnet-use");
    expect(role.inputs.permissions).to.deep.equal(["compute.subnetworks.use"]);
    expect(SUBNET_USE_PERMISSIONS).to.not.include("compute.subnetworks.useExternalIp");
    for (const x of r.resources) expect(x.inputs.role, x.name).to.not.equal("roles/compute.networkUser");
  });

  it("GIVEN vpcServiceControls WHEN planned THEN one perimeter holds the room's and the one-stack providers' projects and restricts storage and KMS", async () => {
    const r = await runProgramUnderMocks(() => ({
      d: new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { enabled: false }, vpcServiceControls: { accessPolicy: "123456789" } }).descriptor,
    }));
    const p = one(r.resources, "gcp:accesscontextmanager/servicePerimeter:ServicePerimeter", "research-perimeter");
    expect(p.inputs).to.deep.include({ parent: "accessPolicies/123456789", name: "accessPolicies/123456789/servicePerimeters/research_cleanroom" });
    const status = p.inputs.status as { resources: string[]; restrictedServices: string[]; vpcAccessibleServices: unknown };
    expect(status.resources).to.have.length(2);
    expect(status.restrictedServices).to.include.members(["storage.googleapis.com", "cloudkms.googleapis.com", "sts.googleapis.com"]);
    expect(status.vpcAccessibleServices).to.deep.equal({ enableRestriction: true, allowedServices: ["RESTRICTED-SERVICES"] });
  });
});

describe("components: per-project providers and protection are options", function () {
  this.timeout(60_000);

  it("GIVEN providerGcp for the hospital WHEN planned THEN the hospital's resources use that gcp.Provider and the room's do not", async () => {
    const r = await runProgramUnderMocks(() => {
      const hospitalGcp = new gcp.Provider("hospital-gcp", { project: HOSPITAL_PROJECT });
      return { d: new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { enabled: false } }, { providerGcp: { hospital: hospitalGcp } }).descriptor };
    });
    const ring = (p: string) => one(r.resources, "gcp:kms/keyRing:KeyRing", `research-${p}-keyring`);
    expect(ring("hospital").provider).to.match(/::pulumi:providers:gcp::hospital-gcp::/);
    expect(ring("insurer").provider ?? "").to.not.include("hospital-gcp");
    expect(one(r.resources, "gcp:kms/keyRing:KeyRing", "research-storage-keyring").provider ?? "").to.not.include("hospital-gcp");
  });

  it("GIVEN the default WHEN planned THEN every KMS key is protected; GIVEN protectKeys false THEN none is", async () => {
    const keys = async (protectKeys?: boolean) => {
      const r = await runProgramUnderMocks(() => ({
        d: new DataCleanRoom("research", { ...twoProviderArgs(), sandbox: { enabled: false }, ...(protectKeys === undefined ? {} : { protectKeys }) }).descriptor,
      }));
      return r.resources.filter((x) => x.type === "gcp:kms/cryptoKey:CryptoKey").map((x) => x.protect);
    };
    expect(await keys()).to.deep.equal([true, true, true]);
    expect(await keys(false)).to.deep.equal([false, false, false]);
  });
});

/**
 * `SandboxCluster`: stage 1. JupyterHub on a private GKE Autopilot cluster, where consumers explore DP stage-1 data
 * and never see raw rows.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CleanRoomError, throwIfProblems } from "../core/errors.js";
import { COMPONENT_DEFAULTS, GOOGLE_APIS_VIP, JUPYTERHUB_CHART, ROLES } from "./defaults.js";
import type { SandboxOptions } from "./options.js";
import { locationProblems, namingProblems, sandboxProblems } from "./validate.js";

/** Arguments of a `SandboxCluster`. */
export interface SandboxClusterArgs {
  /** Project of the cluster (may be another resource's output). */
  readonly project: pulumi.Input<string>;
  /** Region of the (regional) Autopilot cluster. */
  readonly region: string;
  /** Prefix of the resource ids. @default - the resource name */
  readonly namePrefix?: string;
  /** Network self link. */
  readonly network: pulumi.Input<string>;
  /** Subnetwork self link with secondary ranges `pods` and `services`. */
  readonly subnetwork: pulumi.Input<string>;
  /** Name of the stage-1 bucket: the only bucket JupyterHub users can read. */
  readonly stage1Bucket: pulumi.Input<string>;
  /** Authenticator, control-plane access and chart version. */
  readonly sandbox: SandboxOptions;
  /** How the cluster reaches Google APIs (`"restricted"` or `"private"`), for the user pods' egress policy. @default "restricted" */
  readonly googleApisAccess?: string;
  /** The room's descriptor (JSON), mounted in users' servers for the console when `sandbox.singleUserImage` is set. @default - none */
  readonly roomDescriptor?: pulumi.Input<string>;
}

interface Internals {
  readonly cluster: gcp.container.Cluster;
  readonly nodeServiceAccount: gcp.serviceaccount.Account;
  readonly serviceAccount: gcp.serviceaccount.Account;
  readonly release: k8s.helm.v3.Release;
}
const INTERNALS = new WeakMap<SandboxCluster, Internals>();

const DEFAULT_CALLBACK = "http://localhost:8080/hub/oauth_callback";

/**
 * A private Autopilot cluster (Workload Identity, private nodes, control plane reachable only from
 * `authorizedNetworks`, Dataplane V2 so network policies are enforced) running the official JupyterHub chart at a
 * pinned version. User pods run as a Kubernetes service account bound to a Google service account that can read
 * only the stage-1 bucket; their egress is limited to DNS and Google APIs. The hub is not exposed (ClusterIP):
 * reach it with `kubectl port-forward`.
 */
export class SandboxCluster extends pulumi.ComponentResource {
  /** Cluster name. */
  readonly clusterName: pulumi.Output<string>;
  /** Email of the Google service account JupyterHub users run as. */
  readonly userServiceAccountEmail: pulumi.Output<string>;
  /** Kubernetes namespace of JupyterHub. */
  readonly namespace: string;

  constructor(name: string, args: SandboxClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `SandboxCluster "${name}" arguments`, [
      ...locationProblems(args?.project, args?.region, undefined),
      ...namingProblems(args?.namePrefix ?? name, undefined, args?.namePrefix === undefined),
      ...sandboxProblems(args?.sandbox),
      ...(args?.sandbox?.enabled === false ? ["sandbox.enabled is false: do not create a SandboxCluster"] : []),
    ]);
    super("cleanroom:index:SandboxCluster", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const project = args.project;
    const s = args.sandbox;
    const namespace = s.namespace ?? COMPONENT_DEFAULTS.jupyterNamespace;
    const ksaName = "jupyter-user";

    // The nodes run as an account of their own with the one role GKE nodes need (logs, metrics, image pulls), not
    // the Compute Engine default account, which is Editor on the project in many organisations.
    const nodeServiceAccount = new gcp.serviceaccount.Account(
      `${name}-nodes`,
      { project, accountId: `${prefix}-gke-nodes`, displayName: "Clean room stage-1 sandbox GKE nodes" },
      { parent: this },
    );
    const nodeRole = new gcp.projects.IAMMember(
      `${name}-nodes-role`,
      { project, role: ROLES.gkeNode, member: nodeServiceAccount.member },
      { parent: this },
    );
    const cluster = new gcp.container.Cluster(
      `${name}-gke`,
      {
        project,
        name: `${prefix}-sandbox`,
        location: args.region,
        enableAutopilot: true,
        network: args.network,
        subnetwork: args.subnetwork,
        ipAllocationPolicy: { clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" },
        // Pods get Google credentials only through Workload Identity, never the node's account.
        workloadIdentityConfig: { workloadPool: pulumi.interpolate`${project}.svc.id.goog` },
        // Nodes have no external IPs. The control plane keeps a public endpoint (limited to `authorizedNetworks`)
        // unless `privateEndpoint`, so `pulumi up` can install the chart from outside the VPC.
        privateClusterConfig: { enablePrivateNodes: true, enablePrivateEndpoint: s.privateEndpoint === true },
        // The control plane answers only the listed networks (where `pulumi up` and admins run).
        masterAuthorizedNetworksConfig: {
          cidrBlocks: (s.authorizedNetworks ?? []).map((cidrBlock, i) => ({ cidrBlock, displayName: `admin-${i}` })),
          gcpPublicCidrsAccessEnabled: false,
        },
        releaseChannel: { channel: "REGULAR" },
        // Autopilot nodes take their account from the auto-provisioning defaults.
        clusterAutoscaling: {
          autoProvisioningDefaults: { serviceAccount: nodeServiceAccount.email, oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"] },
        },
        ...(s.confidentialNodes === true ? { confidentialNodes: { enabled: true } } : {}),
        // The cluster holds no data (stage-1 data lives in the bucket): let `pulumi destroy` remove it.
        deletionProtection: false,
      },
      { parent: this, dependsOn: [nodeRole] },
    );

    const serviceAccount = new gcp.serviceaccount.Account(
      `${name}-jupyter`,
      { project, accountId: `${prefix}-jupyter`, displayName: "Clean room stage-1 sandbox users (JupyterHub)" },
      { parent: this },
    );
    // The sandbox reads stage-1 data and nothing else: no provider bucket, no key, no project role.
    new gcp.storage.BucketIAMMember(
      `${name}-jupyter-stage1`,
      { bucket: args.stage1Bucket, role: ROLES.objectViewer, member: serviceAccount.member },
      { parent: this },
    );
    // The identity pool `<project>.svc.id.goog` exists only once a cluster with Workload Identity does: binding to it
    // before the cluster is created fails on a fresh project.
    new gcp.serviceaccount.IAMMember(
      `${name}-jupyter-wi`,
      {
        serviceAccountId: serviceAccount.name,
        role: ROLES.workloadIdentityUser,
        member: pulumi.interpolate`serviceAccount:${project}.svc.id.goog[${namespace}/${ksaName}]`,
      },
      { parent: this, dependsOn: [cluster] },
    );

    const endpoint = s.privateEndpoint === true ? cluster.privateClusterConfig.apply((c) => c?.privateEndpoint ?? "") : cluster.endpoint;
    const kubeconfig = pulumi
      .all([cluster.name, endpoint, cluster.masterAuth])
      .apply(([clusterName, host, auth]) => kubeconfigFor(clusterName, host, auth.clusterCaCertificate ?? ""));
    const k8sProvider = new k8s.Provider(`${name}-k8s`, { kubeconfig, enableServerSideApply: true }, { parent: this });
    const k8sOpts = { parent: this, provider: k8sProvider };
    const ns = new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: namespace } }, k8sOpts);
    const ksa = new k8s.core.v1.ServiceAccount(
      `${name}-ksa`,
      {
        metadata: {
          name: ksaName,
          namespace: ns.metadata.name,
          annotations: { "iam.gke.io/gcp-service-account": serviceAccount.email },
        },
      },
      k8sOpts,
    );

    const clientSecret = s.github?.clientSecret ?? s.google?.clientSecret;
    const oauthSecret =
      clientSecret === undefined
        ? undefined
        : new k8s.core.v1.Secret(
            `${name}-oauth`,
            { metadata: { name: "oauth-client", namespace: ns.metadata.name }, stringData: { "client-secret": pulumi.secret(clientSecret) } },
            k8sOpts,
          );
    const release = new k8s.helm.v3.Release(
      `${name}-jupyterhub`,
      {
        name: "jupyterhub",
        chart: JUPYTERHUB_CHART.name,
        // Pinned: a floating chart version would change the sandbox without review.
        version: s.chartVersion ?? JUPYTERHUB_CHART.version,
        repositoryOpts: { repo: JUPYTERHUB_CHART.repo },
        namespace: ns.metadata.name,
        atomic: true,
        values: jupyterhubValues(s, ksa.metadata.name, args.googleApisAccess ?? COMPONENT_DEFAULTS.googleApisAccess, oauthSecret?.metadata.name, args.roomDescriptor),
      },
      k8sOpts,
    );

    INTERNALS.set(this, { cluster, nodeServiceAccount, serviceAccount, release });
    this.clusterName = cluster.name;
    this.userServiceAccountEmail = serviceAccount.email;
    this.namespace = namespace;
    this.registerOutputs({ clusterName: this.clusterName, userServiceAccountEmail: this.userServiceAccountEmail });
  }

  /** The GKE cluster. */
  get cluster(): gcp.container.Cluster {
    return INTERNALS.get(this)!.cluster;
  }
  /** The Google service account the Autopilot nodes run as. */
  get nodeServiceAccount(): gcp.serviceaccount.Account {
    return INTERNALS.get(this)!.nodeServiceAccount;
  }
  /** The Google service account of JupyterHub users. */
  get userServiceAccount(): gcp.serviceaccount.Account {
    return INTERNALS.get(this)!.serviceAccount;
  }
  /** The JupyterHub Helm release. */
  get release(): k8s.helm.v3.Release {
    return INTERNALS.get(this)!.release;
  }
}

/** Helm values of the JupyterHub chart. Exported for tests. */
export function jupyterhubValues(
  s: SandboxOptions,
  ksaName: pulumi.Input<string>,
  googleApisAccess: string,
  oauthSecretName?: pulumi.Input<string>,
  roomDescriptor?: pulumi.Input<string>,
): Record<string, unknown> {
  return {
    hub: {
      config: authenticatorConfig(s),
      // The OAuth client secret reaches the hub from a Kubernetes Secret (OAuthenticator reads OAUTH_CLIENT_SECRET),
      // so the Helm values stay reviewable in the plan and never hold the secret.
      ...(oauthSecretName === undefined
        ? {}
        : { extraEnv: { OAUTH_CLIENT_SECRET: { valueFrom: { secretKeyRef: { name: oauthSecretName, key: "client-secret" } } } } }),
    },
    // Not exposed: a LoadBalancer would give the hub a public IP.
    proxy: { service: { type: "ClusterIP" }, chp: { networkPolicy: { enabled: true } } },
    singleuser: {
      serviceAccountName: ksaName,
      // Autopilot forbids the privileged init container that blocks the metadata server; Workload Identity
      // already limits the metadata server to the user account's (stage-1 only) credentials.
      cloudMetadata: { blockWithIptables: false },
      networkPolicy: {
        enabled: true,
        // Users cannot send stage-1 data (or anything) to the internet: DNS and Google APIs only.
        // cloudMetadataServer: the GKE metadata server hands out the Workload Identity token; DNS only to kube-system.
        egressAllowRules: { nonPrivateIPs: false, privateIPs: false, cloudMetadataServer: true, dnsPortsKubeSystemNamespace: true },
        egress: [{ to: [{ ipBlock: { cidr: GOOGLE_APIS_VIP[googleApisAccess] } }], ports: [{ port: 443, protocol: "TCP" }] }],
      },
      ...consoleValues(s.singleUserImage, roomDescriptor),
    },
    // Autopilot does not run the chart's custom scheduler or privileged pre-pullers.
    scheduling: { userScheduler: { enabled: false }, userPlaceholder: { enabled: false } },
    prePuller: { hook: { enabled: false }, continuous: { enabled: false } },
  };
}

/** Where the room's descriptor is mounted in users' servers (the console's `--room`, see sandbox/Dockerfile). */
export const SANDBOX_ROOM_PATH = "/etc/cleanroom/room.json";

/**
 * The single-user values of the console image (sandbox/Dockerfile): the image pinned by digest (the chart joins
 * `name:tag`, so the tag carries `<tag>@sha256:<digest>`), JupyterLab as the landing page, and the room's descriptor
 * mounted read-only where the console's launcher tile reads it.
 */
export function consoleValues(image: string | undefined, roomDescriptor?: pulumi.Input<string>): Record<string, unknown> {
  if (image === undefined) return {};
  const at = image.lastIndexOf(":", image.indexOf("@"));
  return {
    image: { name: image.slice(0, at), tag: image.slice(at + 1) },
    defaultUrl: "/lab",
    extraEnv: { CLEANROOM_ROOM_DESCRIPTOR: SANDBOX_ROOM_PATH },
    ...(roomDescriptor === undefined ? {} : { extraFiles: { "cleanroom-room": { mountPath: SANDBOX_ROOM_PATH, stringData: roomDescriptor, mode: 0o444 } } }),
  };
}

function authenticatorConfig(s: SandboxOptions): Record<string, unknown> {
  if (s.github) {
    return {
      JupyterHub: { authenticator_class: "github" },
      GitHubOAuthenticator: {
        client_id: s.github.clientId,
        oauth_callback_url: s.github.callbackUrl ?? DEFAULT_CALLBACK,
        allowed_organizations: s.github.allowedOrganizations ?? [],
        allowed_users: s.github.allowedUsers ?? [],
        scope: ["read:org"],
      },
    };
  }
  if (s.google) {
    return {
      JupyterHub: { authenticator_class: "google" },
      GoogleOAuthenticator: {
        client_id: s.google.clientId,
        oauth_callback_url: s.google.callbackUrl ?? DEFAULT_CALLBACK,
        hosted_domain: s.google.hostedDomains ?? [],
        allowed_users: s.google.allowedUsers ?? [],
      },
    };
  }
  // Any name logs in: only ever when the caller named the insecure option, never as a fallback.
  if (s.insecureDummyAuthenticator === true) {
    return { JupyterHub: { authenticator_class: "dummy" }, Authenticator: { allow_all: true } };
  }
  throw new CleanRoomError(
    "invalid-argument",
    "the sandbox needs an authenticator: github, google, or (demos only) insecureDummyAuthenticator: true",
  );
}

function kubeconfigFor(clusterName: string, endpoint: string, caCert: string): string {
  const ctx = `cleanroom-${clusterName}`;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: ctx, cluster: { server: `https://${endpoint}`, "certificate-authority-data": caCert } }],
    contexts: [{ name: ctx, context: { cluster: ctx, user: ctx } }],
    "current-context": ctx,
    users: [
      {
        name: ctx,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "gke-gcloud-auth-plugin",
            installHint: "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            provideClusterInfo: true,
          },
        },
      },
    ],
  });
}

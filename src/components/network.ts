/**
 * `CleanRoomNetwork`: a VPC with no route for TEE VMs to anything but Google APIs, and no external IPs anywhere.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { throwIfProblems } from "../core/errors.js";
import { COMPONENT_DEFAULTS, GOOGLE_APIS_VIP } from "./defaults.js";
import type { NetworkOptions } from "./options.js";
import { locationProblems, namingProblems, networkOptionProblems } from "./validate.js";

/** Arguments of a `CleanRoomNetwork`. */
export interface CleanRoomNetworkArgs {
  /** Project of the network (may be another resource's output). */
  readonly project: pulumi.Input<string>;
  /**
   * Email of the service account the Confidential Space VMs run as. The TEE firewall rules target this account, not a
   * network tag: a tag is set by whoever creates the VM and could be left off, the account is pinned by the attestation.
   */
  readonly workloadServiceAccount: pulumi.Input<string>;
  /** Region of the subnets. */
  readonly region: string;
  /** Prefix of the network's resource names. @default - the resource name */
  readonly namePrefix?: string;
  /** Address ranges and Google API access mode. @default - see `NetworkOptions` */
  readonly network?: NetworkOptions;
  /** Create the sandbox subnet (with Cloud NAT so GKE nodes can pull JupyterHub images). @default true */
  readonly sandbox?: boolean;
}

interface Internals {
  readonly network: gcp.compute.Network;
  readonly teeSubnet: gcp.compute.Subnetwork;
  readonly sandboxSubnet?: gcp.compute.Subnetwork;
}
const INTERNALS = new WeakMap<CleanRoomNetwork, Internals>();

/**
 * The room's VPC:
 * - a TEE subnet with Private Google Access and **no** NAT: Confidential Space VMs have no external IP and no path
 *   to the internet;
 * - an egress firewall on the workload service account (every VM that runs as it, whatever tags its creator set)
 *   that denies everything except HTTPS to the Google APIs VIP (restricted.googleapis.com by default), with DNS zones
 *   that send `*.googleapis.com` and `*.pkg.dev` there;
 * - optionally a sandbox subnet for GKE with Cloud NAT limited to that subnet (image pulls for JupyterHub).
 */
export class CleanRoomNetwork extends pulumi.ComponentResource {
  /** Network self link. */
  readonly networkId: pulumi.Output<string>;
  /** TEE subnet self link. */
  readonly teeSubnetId: pulumi.Output<string>;
  /** Sandbox subnet self link (empty when the sandbox is off). */
  readonly sandboxSubnetId: pulumi.Output<string>;
  /** The workload service account the TEE firewall rules target. */
  readonly workloadServiceAccount: pulumi.Output<string>;

  constructor(name: string, args: CleanRoomNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    throwIfProblems("invalid-argument", `CleanRoomNetwork "${name}" arguments`, [
      ...locationProblems(args?.project, args?.region, undefined),
      ...namingProblems(args?.namePrefix ?? name, undefined, args?.namePrefix === undefined),
      ...networkOptionProblems(args?.network),
      ...(args?.workloadServiceAccount === undefined ? ["workloadServiceAccount is required: the TEE firewall targets the account the job VMs run as"] : []),
    ]);
    super("cleanroom:index:CleanRoomNetwork", name, {}, opts);
    const prefix = args.namePrefix ?? name;
    const o = args.network ?? {};
    const project = args.project;
    const vip = GOOGLE_APIS_VIP[o.googleApisAccess ?? COMPONENT_DEFAULTS.googleApisAccess]!;
    const vipHost = `${o.googleApisAccess ?? COMPONENT_DEFAULTS.googleApisAccess}.googleapis.com.`;

    // Custom subnets only: auto mode would create a subnet with default firewall rules in every region.
    const network = new gcp.compute.Network(`${name}-vpc`, { project, name: `${prefix}-vpc`, autoCreateSubnetworks: false }, { parent: this });
    const teeSubnet = new gcp.compute.Subnetwork(
      `${name}-tee`,
      {
        project,
        region: args.region,
        network: network.id,
        name: `${prefix}-tee`,
        ipCidrRange: o.teeSubnetCidr ?? COMPONENT_DEFAULTS.teeSubnetCidr,
        // VMs without external IPs reach KMS, GCS, STS and the attestation service only this way.
        privateIpGoogleAccess: true,
        logConfig: { aggregationInterval: "INTERVAL_5_SEC", flowSampling: 0.5, metadata: "INCLUDE_ALL_METADATA" },
      },
      { parent: this },
    );

    // A workload (or a malicious approved job) cannot send data anywhere but Google APIs.
    new gcp.compute.Firewall(
      `${name}-tee-deny-egress`,
      {
        project,
        network: network.id,
        name: `${prefix}-tee-deny-egress`,
        direction: "EGRESS",
        priority: 1000,
        targetServiceAccounts: [args.workloadServiceAccount],
        destinationRanges: ["0.0.0.0/0"],
        denies: [{ protocol: "all" }],
        logConfig: { metadata: "INCLUDE_ALL_METADATA" },
      },
      { parent: this },
    );
    new gcp.compute.Firewall(
      `${name}-tee-allow-google-apis`,
      {
        project,
        network: network.id,
        name: `${prefix}-tee-allow-google-apis`,
        direction: "EGRESS",
        priority: 900,
        targetServiceAccounts: [args.workloadServiceAccount],
        destinationRanges: [vip],
        allows: [{ protocol: "tcp", ports: ["443"] }],
      },
      { parent: this },
    );
    // The TEE VMs serve nothing: no ingress at all, not even from inside the VPC.
    new gcp.compute.Firewall(
      `${name}-tee-deny-ingress`,
      {
        project,
        network: network.id,
        name: `${prefix}-tee-deny-ingress`,
        direction: "INGRESS",
        priority: 1000,
        targetServiceAccounts: [args.workloadServiceAccount],
        sourceRanges: ["0.0.0.0/0"],
        denies: [{ protocol: "all" }],
      },
      { parent: this },
    );

    // Private DNS: googleapis.com and pkg.dev resolve to the VIP, so API traffic never needs a public route.
    for (const [role, domain, aName] of [
      ["googleapis", "googleapis.com.", vipHost],
      ["pkg-dev", "pkg.dev.", "pkg.dev."],
    ] as const) {
      const zone = new gcp.dns.ManagedZone(
        `${name}-dns-${role}`,
        {
          project,
          name: `${prefix}-${role}`,
          dnsName: domain,
          visibility: "private",
          privateVisibilityConfig: { networks: [{ networkUrl: network.id }] },
        },
        { parent: this },
      );
      new gcp.dns.RecordSet(
        `${name}-dns-${role}-a`,
        { project, managedZone: zone.name, name: aName, type: "A", ttl: 300, rrdatas: vipAddresses(vip) },
        { parent: this },
      );
      new gcp.dns.RecordSet(
        `${name}-dns-${role}-cname`,
        {
          project,
          managedZone: zone.name,
          name: `*.${domain}`,
          type: "CNAME",
          ttl: 300,
          rrdatas: [aName],
        },
        { parent: this },
      );
    }

    let sandboxSubnet: gcp.compute.Subnetwork | undefined;
    if (args.sandbox !== false) {
      sandboxSubnet = new gcp.compute.Subnetwork(
        `${name}-sandbox`,
        {
          project,
          region: args.region,
          network: network.id,
          name: `${prefix}-sandbox`,
          ipCidrRange: o.sandboxSubnetCidr ?? COMPONENT_DEFAULTS.sandboxSubnetCidr,
          privateIpGoogleAccess: true,
          secondaryIpRanges: [
            { rangeName: "pods", ipCidrRange: o.podsCidr ?? COMPONENT_DEFAULTS.podsCidr },
            { rangeName: "services", ipCidrRange: o.servicesCidr ?? COMPONENT_DEFAULTS.servicesCidr },
          ],
        },
        { parent: this },
      );
      const router = new gcp.compute.Router(
        `${name}-router`,
        { project, region: args.region, network: network.id, name: `${prefix}-router` },
        { parent: this },
      );
      // NAT for the sandbox subnet only: the TEE subnet is deliberately left without any internet path.
      new gcp.compute.RouterNat(
        `${name}-nat`,
        {
          project,
          region: args.region,
          router: router.name,
          name: `${prefix}-nat`,
          natIpAllocateOption: "AUTO_ONLY",
          sourceSubnetworkIpRangesToNat: "LIST_OF_SUBNETWORKS",
          subnetworks: [{ name: sandboxSubnet.id, sourceIpRangesToNats: ["ALL_IP_RANGES"] }],
          logConfig: { enable: true, filter: "ERRORS_ONLY" },
        },
        { parent: this },
      );
    }

    INTERNALS.set(this, { network, teeSubnet, ...(sandboxSubnet ? { sandboxSubnet } : {}) });
    this.networkId = network.id;
    this.teeSubnetId = teeSubnet.id;
    this.sandboxSubnetId = sandboxSubnet ? sandboxSubnet.id : pulumi.output("");
    this.workloadServiceAccount = pulumi.output(args.workloadServiceAccount);
    this.registerOutputs({ networkId: this.networkId, teeSubnetId: this.teeSubnetId, sandboxSubnetId: this.sandboxSubnetId });
  }

  /** The VPC. */
  get network(): gcp.compute.Network {
    return INTERNALS.get(this)!.network;
  }
  /** The subnet of the Confidential Space VMs. */
  get teeSubnet(): gcp.compute.Subnetwork {
    return INTERNALS.get(this)!.teeSubnet;
  }
  /** The subnet of the sandbox cluster, when created. */
  get sandboxSubnet(): gcp.compute.Subnetwork | undefined {
    return INTERNALS.get(this)!.sandboxSubnet;
  }
}

/** The four addresses of a /30 VIP range. */
function vipAddresses(cidr: string): string[] {
  const [base] = cidr.split("/");
  const parts = base!.split(".").map(Number);
  return [0, 1, 2, 3].map((i) => `${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! + i}`);
}

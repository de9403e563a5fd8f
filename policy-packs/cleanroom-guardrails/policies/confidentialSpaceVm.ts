/**
 * Rule 1 — Confidential Space VMs (instances and instance templates) are locked down.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { Instance } from "@pulumi/gcp/compute/instance";
import { InstanceTemplate } from "@pulumi/gcp/compute/instanceTemplate";
import { RegionInstanceTemplate } from "@pulumi/gcp/compute/regionInstanceTemplate";
import { UNKNOWN, asArray, asString, isRecord, readProp, show } from "../lib/values.js";

/** The label that lets a VM boot a debug Confidential Space image (SSH, operator root). Value must be `"true"`. */
export const ALLOW_DEBUG_LABEL = "cleanroom-allow-debug";
/** Confidential instance types Confidential Space documents (SEV_SNP has no Confidential Space `hwmodel`). */
export const CONFIDENTIAL_SPACE_TYPES: readonly string[] = ["SEV", "TDX"];
/** CPU platforms on which SEV VMs may live-migrate (`MIGRATE`); everything else must `TERMINATE`. */
const SEV_MIGRATABLE_PLATFORMS: readonly string[] = ["AMD Milan", "AMD Genoa"];

/** The metadata key every Confidential Space VM needs: the workload image the launcher runs. */
const IMAGE_REFERENCE_KEY = "tee-image-reference";

/** What the rule reads from an Instance or an (regional) InstanceTemplate. */
interface VmShape {
  readonly kind: string;
  readonly images: readonly unknown[];
  readonly props: Record<string, unknown>;
}

/** True when the image reference names a Confidential Space image (project, family or image name). */
export function isConfidentialSpaceImage(image: unknown): boolean {
  return typeof image === "string" && image.includes("confidential-space");
}

/** True when the image reference names a debug Confidential Space family or image. */
export function isDebugConfidentialSpaceImage(image: unknown): boolean {
  return typeof image === "string" && /confidential-space-debug/.test(image);
}

function instanceShape(props: Record<string, unknown>): VmShape {
  const initializeParams = readProp(readProp(props, "bootDisk"), "initializeParams");
  return { kind: "instance", images: [readProp(initializeParams, "image")], props };
}

function templateShape(kind: string, props: Record<string, unknown>): VmShape {
  const disks = readProp(props, "disks");
  return { kind, images: asArray(disks === UNKNOWN ? [] : disks).map((d) => readProp(d, "sourceImage")), props };
}

/** A Confidential Space VM: boots a confidential-space image or carries `tee-image-reference` metadata. */
function isConfidentialSpaceVm(vm: VmShape): boolean {
  if (vm.images.some(isConfidentialSpaceImage)) return true;
  const metadata = readProp(vm.props, "metadata");
  return isRecord(metadata) && IMAGE_REFERENCE_KEY in metadata;
}

function checkVm(vm: VmShape, args: ResourceValidationArgs, report: ReportViolation): void {
  if (!isConfidentialSpaceVm(vm)) {
    args.notApplicable("not a Confidential Space VM (no confidential-space image, no tee-image-reference metadata)");
  }
  const what = `Confidential Space ${vm.kind} '${args.name}'`;

  // A public IP exposes the VM (and every port the workload opens in the host network namespace) to the internet.
  asArray(readProp(vm.props, "networkInterfaces")).forEach((nic, i) => {
    for (const key of ["accessConfigs", "ipv6AccessConfigs"]) {
      const configs = readProp(nic, key);
      if (configs === UNKNOWN || asArray(configs).length > 0) {
        report(
          `${what} has networkInterfaces[${i}].${key}: that gives it a public IP. Remove ${key}; reach Google APIs ` +
            "through Private Google Access (or Cloud NAT) instead.",
        );
      }
    }
  });

  // Without secure boot the measured boot chain can be swapped and the attestation means less.
  const secureBoot = readProp(readProp(vm.props, "shieldedInstanceConfig"), "enableSecureBoot");
  if (secureBoot !== true) {
    report(`${what} does not enable secure boot (${show(secureBoot)}). Set shieldedInstanceConfig.enableSecureBoot: true.`);
  }

  // Without a confidential instance type the VM is an ordinary VM: memory readable by the host.
  const confidential = readProp(vm.props, "confidentialInstanceConfig");
  const type = readProp(confidential, "confidentialInstanceType");
  if (typeof type !== "string" || !CONFIDENTIAL_SPACE_TYPES.includes(type)) {
    report(
      `${what} has confidentialInstanceConfig.confidentialInstanceType ${show(type)}. Set it to ` +
        `${CONFIDENTIAL_SPACE_TYPES.map((t) => `"${t}"`).join(" or ")} (the types Confidential Space supports).`,
    );
  }

  // A debug image lets the operator SSH in as root and read the data in the clear.
  const debugImage = vm.images.find(isDebugConfidentialSpaceImage);
  if (debugImage !== undefined) {
    const labels = readProp(vm.props, "labels");
    if (readProp(labels, ALLOW_DEBUG_LABEL) !== "true") {
      report(
        `${what} boots the debug image ${show(debugImage)} (SSH and operator root access). Use the production family ` +
          `projects/confidential-space-images/global/images/family/confidential-space, or, for a room that never sees ` +
          `real data, label the resource ${ALLOW_DEBUG_LABEL}=true.`,
      );
    }
  }

  // TDX, SEV on older CPUs and GPUs cannot live-migrate; MIGRATE either fails or moves memory through the host.
  const onHostMaintenance = readProp(readProp(vm.props, "scheduling"), "onHostMaintenance");
  if (onHostMaintenance !== "TERMINATE" && terminateRequired(vm.props, type)) {
    report(
      `${what} has scheduling.onHostMaintenance ${show(onHostMaintenance)}. Set it to "TERMINATE": only SEV on ` +
        `N2D / ${SEV_MIGRATABLE_PLATFORMS.join(" / ")} without GPUs may live-migrate.`,
    );
  }
}

function terminateRequired(props: Record<string, unknown>, type: unknown): boolean {
  if (type !== "SEV") return true;
  if (asArray(readProp(props, "guestAccelerators")).length > 0) return true;
  const machineType = asString(readProp(props, "machineType")) ?? "";
  const platform = asString(readProp(props, "minCpuPlatform")) ?? "";
  return !(/(^|\/)n2d-/.test(machineType) || SEV_MIGRATABLE_PLATFORMS.includes(platform));
}

/**
 * Confidential Space instances and instance templates: no public IP, secure boot, a confidential instance type,
 * the production image family (unless labelled `cleanroom-allow-debug=true`), `TERMINATE` on host maintenance where
 * live migration is not supported.
 */
export const confidentialSpaceVmHardened: ResourceValidationPolicy = {
  name: "confidential-space-vm-hardened",
  description:
    "Confidential Space VMs and instance templates have no public IP, secure boot, a confidential instance type " +
    "(SEV/TDX), the production image family (unless labelled cleanroom-allow-debug=true) and TERMINATE on host " +
    "maintenance where live migration is not supported.",
  severity: "critical",
  validateResource: [
    validateResourceOfType(Instance, (props, args, report) =>
      checkVm(instanceShape(props as Record<string, unknown>), args, report),
    ),
    validateResourceOfType(InstanceTemplate, (props, args, report) =>
      checkVm(templateShape("instance template", props as Record<string, unknown>), args, report),
    ),
    validateResourceOfType(RegionInstanceTemplate, (props, args, report) =>
      checkVm(templateShape("regional instance template", props as Record<string, unknown>), args, report),
    ),
  ],
};

/**
 * Pulumi components that declare an attested clean room on Google Cloud. Import them from
 * `attested-cleanroom/components` (the package root stays free of Pulumi so the runtime and CLI load fast).
 */
export * from "./apis.js";
export * from "./build-context.js";
export * from "./data-clean-room.js";
export * from "./data-provider.js";
export * from "./defaults.js";
export * from "./grant.js";
export * from "./naming.js";
export * from "./network.js";
export * from "./options.js";
export * from "./result-store.js";
export * from "./sandbox-cluster.js";
export * from "./validate.js";
export * from "./vpc-sc.js";
export * from "./workload-image.js";
export * from "./workload-pool.js";

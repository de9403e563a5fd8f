/** The contract shared by the components and the runtime: pure, no cloud SDKs. */
export * from "./attestation.js";
export * from "./descriptor.js";
export * from "./digest.js";
export * from "./disclosure.js";
export * from "./disclosure-policy.js";
export * from "./disclosure-report.js";
export * from "./errors.js";
export * from "./executor-env.js";
export * from "./patterns.js";
export * from "./receipt.js";
export * from "./spec.js";

/** The contract shared by the components and the runtime: pure, no cloud SDKs. */
export * from "./attestation.js";
export * from "./descriptor.js";
export * from "./digest.js";
export * from "./errors.js";
export * from "./executor-env.js";
export * from "./patterns.js";
export * from "./receipt.js";
export * from "./spec.js";

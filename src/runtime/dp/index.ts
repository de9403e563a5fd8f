/**
 * Differential privacy for stage-1 data: exact samplers on a CSPRNG, zCDP accounting, the privacy ledger, DP
 * aggregates, the product-of-marginals synthesizer and MST.
 */
export * from "./accounting.js";
export * from "./aggregates.js";
export * from "./compress.js";
export * from "./domain.js";
export * from "./exponential.js";
export * from "./independent.js";
export * from "./ledger.js";
export * from "./marginals.js";
export * from "./mst.js";
export * from "./release.js";
export { rngFromEnvironment, SecureRng, TEST_MODE_ENV, TEST_SEED_ENV } from "./rng.js";
export * from "./sample.js";
export * from "./samplers.js";
export * from "./table.js";
export * from "./tree-model.js";

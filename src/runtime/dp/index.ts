/**
 * Differential privacy for stage-1 data: exact samplers on a CSPRNG, zCDP accounting, the privacy ledger, DP
 * aggregates, the product-of-marginals synthesizer and MST.
 */
export * from "./accounting.js";
export * from "./aggregate-source.js";
export * from "./aggregates.js";
export * from "./compress.js";
export * from "./domain.js";
export * from "./exponential.js";
export * from "./independent.js";
export * from "./aim.js";
export * from "./ledger.js";
export * from "./ledger-keys.js";
export * from "./ledger-migrate.js";
export * from "./ledger-store.js";
export * from "./ledger-verify.js";
export * from "./marginal-bigquery.js";
export * from "./marginal-duckdb.js";
export * from "./marginal-source.js";
export * from "./marginal-sql.js";
export * from "./query.js";
export * from "./marginals.js";
export * from "./mst.js";
export * from "./release.js";
export { rngFromEnvironment, SecureRng, TEST_MODE_ENV, TEST_SEED_ENV } from "./rng.js";
export * from "./sample.js";
export * from "./samplers.js";
export * from "./table.js";
export * from "./tree-model.js";

/** Verification of attestation tokens and job results. */
export * from "./chain.js";
export * from "./claims.js";
export * from "./errors.js";
export * from "./jwks.js";
export * from "./roots.js";
export * from "./token.js";
export * from "./result.js";
export * from "./registered.js";
export * from "./attested-room.js";

/** Consumer side: pack, submit, wait for, fetch and release jobs. */
export * from "./client.js";
export { type JobReleaseOptions, type JobReleaseRecord, parseAcceptedRules, releaseRecordFor, resultHeld } from "./release.js";
export { type JobReview, reviewJob } from "./review.js";
export { commandFor, entrypointFile, normalizeEntrypoint } from "./entrypoint.js";
export { IGNORED_NAMES, type PackOptions, packJob, parseInput, sortInputs } from "./pack.js";

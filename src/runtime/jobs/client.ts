/**
 * The consumer's job lifecycle against any room (local or GCP): submit, wait, fetch, release.
 */
import { type CleanRoomDescriptor, loadDescriptor } from "../../core/descriptor.js";
import { type RoomOptions, roomClientFor } from "../platforms/index.js";
import type { FetchOptions, JobStatus, PackedJob, RoomClient, WaitOptions } from "../platforms/platform.js";
import type { JobReleaseOptions, JobReleaseRecord } from "./release.js";

/** A room: its descriptor object, or the path of its JSON file (`<dir>/descriptor.json`, `room.json`). */
export type RoomRef = CleanRoomDescriptor | string | RoomClient;

/** Opens a room's client from a descriptor (object or path), choosing the platform from `descriptor.platform`. */
export async function openRoom(room: RoomRef, options: RoomOptions = {}): Promise<RoomClient> {
  if (typeof room === "object" && room !== null && "submit" in room) return room;
  return roomClientFor(loadDescriptor(room), options);
}

/**
 * Uploads a packed job and starts it.
 *
 * @example
 * const job = await packJob("jobs/regression", { entrypoint: "main.py", inputs: ["insurer/claims"] });
 * const { jobId } = await submitJob("room/descriptor.json", job);
 */
export async function submitJob(room: RoomRef, job: PackedJob): Promise<{ jobId: string; jobDigest: string }> {
  return (await openRoom(room)).submit(job);
}

/** Waits until a job reaches a final state (`succeeded`, `failed`, `lost`), reporting each state change. */
export async function waitForJob(room: RoomRef, jobId: string, options?: WaitOptions): Promise<JobStatus> {
  return (await openRoom(room)).wait(jobId, options);
}

/** The state of a job now. */
export async function jobStatus(room: RoomRef, jobId: string): Promise<JobStatus> {
  return (await openRoom(room)).status(jobId);
}

/** Copies a job's committed result (`outputs/`, `receipt.json`, `attestation.jwt`) into `destDir`. Verify it with `verifyResult`. */
export async function fetchResult(room: RoomRef, jobId: string, destDir: string, options?: FetchOptions): Promise<string> {
  return (await openRoom(room)).fetch(jobId, destDir, options);
}

/**
 * Provider side: verifies a job's quarantined result, then releases it to the results location. A result whose outputs
 * failed a disclosure check is released only when `acceptFailedChecks` names every failed rule.
 */
export async function releaseResult(room: RoomRef, jobId: string, options: RoomOptions & JobReleaseOptions = {}): Promise<JobReleaseRecord> {
  const { acceptFailedChecks, ...roomOptions } = options;
  return (await openRoom(room, roomOptions)).release(jobId, acceptFailedChecks ? { acceptFailedChecks } : {});
}

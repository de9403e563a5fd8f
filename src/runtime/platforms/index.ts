/**
 * Chooses the platform implementation from `descriptor.platform`.
 *
 * The GCP implementation lives in `platforms/gcp/index.ts` and must export
 * `createGcpExecutorPlatform(descriptor, env): Promise<ExecutorPlatform> | ExecutorPlatform` and
 * `createGcpRoomClient(descriptor): Promise<RoomClient> | RoomClient`. It is loaded lazily, so the local backend (and
 * the local executor build) never loads the Google Cloud SDKs.
 */
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import type { ExecutorEnv } from "../executor/env.js";
import { LocalRoomClient } from "./local/client.js";
import { LocalExecutorPlatform } from "./local/platform.js";
import type { StagedStage1Release, StagedStandIn } from "./gcp/stage1-upload.js";
import type { ExecutorPlatform, RoomClient } from "./platform.js";
import type { LedgerStore } from "../dp/ledger-store.js";

/** How a room client is opened. */
export interface RoomOptions {
  /**
   * PEM roots that a provider's `release` verifies the quarantined result against, e.g. Google's new root after a
   * rotation. A GCP descriptor never carries roots (see docs/verify.md).
   * @default - Google's pinned root (gcp); the room's own root from its descriptor (local)
   */
  readonly trustedRoots?: readonly string[];
}

/** What the lazily loaded GCP platform provides (see platforms/gcp/index.ts). */
export interface GcpModule {
  createGcpExecutorPlatform(descriptor: CleanRoomDescriptor, env: ExecutorEnv): Promise<ExecutorPlatform> | ExecutorPlatform;
  createGcpRoomClient(descriptor: CleanRoomDescriptor, options?: RoomOptions): Promise<RoomClient> | RoomClient;
  uploadStage1Release(room: CleanRoomDescriptor, release: StagedStage1Release): Promise<{ artefactUri: string; summaryUri?: string }>;
  uploadStage1StandIn(room: CleanRoomDescriptor, standIn: StagedStandIn): Promise<void>;
  gcsLedgerStore(uri: string, projectId?: string): LedgerStore;
}

/** Loads the GCP platform on first use, so nothing that serves local rooms ever loads the Google Cloud SDKs. */
export function loadGcp(): GcpModule {
  // A computed path keeps the GCP SDKs out of the local executor build's import closure.
  const path = ["./gcp", "index.js"].join("/");
  try {
    return require(path) as GcpModule;
  } catch (err) {
    throw new CleanRoomError("invalid-descriptor", `The GCP platform is not available in this build: ${messageOf(err)}`, { cause: err });
  }
}

function unknownPlatform(d: CleanRoomDescriptor): CleanRoomError {
  return new CleanRoomError("invalid-descriptor", `Unknown platform ${JSON.stringify(d.platform)} in the room descriptor; expected "local" or "gcp"`);
}

/** The executor platform of a room (used inside the workload). */
export async function executorPlatformFor(descriptor: CleanRoomDescriptor, env: ExecutorEnv): Promise<ExecutorPlatform> {
  if (descriptor.platform === "local") {
    return new LocalExecutorPlatform(descriptor, env.outputUri);
  }
  if (descriptor.platform === "gcp") return loadGcp().createGcpExecutorPlatform(descriptor, env);
  throw unknownPlatform(descriptor);
}

/** The room client of a room (used by providers and consumers). */
export async function roomClientFor(descriptor: CleanRoomDescriptor, options: RoomOptions = {}): Promise<RoomClient> {
  if (descriptor.platform === "local") {
    return new LocalRoomClient(descriptor, options.trustedRoots ? { trustedRoots: options.trustedRoots } : {});
  }
  if (descriptor.platform === "gcp") return loadGcp().createGcpRoomClient(descriptor, options.trustedRoots ? { trustedRoots: options.trustedRoots } : {});
  throw unknownPlatform(descriptor);
}

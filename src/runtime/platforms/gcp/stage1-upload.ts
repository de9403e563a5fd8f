/**
 * A stage-1 release staged on the provider's machine, uploaded to a GCP room's stage-1 bucket create-only. Its spend
 * is already in the dataset's ledger (the provider's bucket) before the noise was drawn; the upload comes last.
 */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import { CleanRoomError } from "../../../core/errors.js";
import { createGcpClients } from "./clients.js";
import { endpointOverrideFromEnv } from "./endpoints.js";
import { retryFromEnv } from "./retry.js";
import { GcsStore } from "./storage.js";

/** Role a provider needs to write stage-1 artefacts, named in upload errors. */
const STAGE1_WRITE_ROLE = "roles/storage.objectCreator on <provider>/ of the room's stage-1 bucket (DataProvider.grantProvision)";

/** The staged artefact of one release. */
export interface StagedStage1Release {
  /** `gs://<stage1>/<provider>/<dataset>` */
  readonly prefix: string;
  readonly artefactPath: string;
  /** `synthetic.csv` or `aggregates.json`; a later release of the same dataset gets `-<ledger seq>` before the extension */
  readonly artefactName: string;
  /** The spend's sequence number in the dataset's ledger. */
  readonly seq: number;
  readonly contentType: string;
}

/**
 * Uploads a staged artefact create-only: `<prefix>/<artefactName>`, or `<name>-<seq>.<ext>` when an earlier release
 * already holds that name (objects are never replaced).
 *
 * @returns the `gs://` URI of the artefact
 */
export async function uploadStage1Release(room: CleanRoomDescriptor, release: StagedStage1Release): Promise<{ artefactUri: string }> {
  const store = new GcsStore(createGcpClients(endpointOverrideFromEnv(), { projectId: room.gcp?.project }).storage, retryFromEnv(), room.gcp?.project);
  const first = `${release.prefix}/${release.artefactName}`;
  try {
    await store.putFile(first, release.artefactPath, { role: STAGE1_WRITE_ROLE, contentType: release.contentType });
    return { artefactUri: first };
  } catch (err) {
    if (!(err instanceof CleanRoomError && err.code === "already-exists")) throw err;
  }
  const dot = release.artefactName.lastIndexOf(".");
  const numbered = `${release.prefix}/${release.artefactName.slice(0, dot)}-${release.seq}${release.artefactName.slice(dot)}`;
  await store.putFile(numbered, release.artefactPath, { role: STAGE1_WRITE_ROLE, contentType: release.contentType });
  return { artefactUri: numbered };
}

/**
 * A stage-1 release staged on the provider's machine, uploaded to a GCP room's stage-1 bucket: `ledger.json` first,
 * create-only (it exists only if an earlier release of the dataset was recorded), then the artefact.
 */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import { CleanRoomError } from "../../../core/errors.js";
import { createGcpClients } from "./clients.js";
import { endpointOverrideFromEnv } from "./endpoints.js";
import { retryFromEnv } from "./retry.js";
import { GcsStore } from "./storage.js";

/** Role a provider needs to write stage-1 artefacts, named in upload errors. */
const STAGE1_WRITE_ROLE = "roles/storage.objectCreator on <provider>/ of the room's stage-1 bucket (DataProvider.grantProvision)";

/** The staged files of one release. */
export interface StagedStage1Release {
  /** `gs://<stage1>/<provider>/<dataset>` */
  readonly prefix: string;
  readonly ledgerPath: string;
  readonly artefactPath: string;
  /** `synthetic.csv` or `aggregates.json` */
  readonly artefactName: string;
  readonly contentType: string;
}

/**
 * Uploads a staged release.
 *
 * @returns the `gs://` URIs of the artefact and the ledger
 * @throws CleanRoomError `budget-exceeded` when the dataset already has a recorded release (nothing is uploaded)
 */
export async function uploadStage1Release(room: CleanRoomDescriptor, release: StagedStage1Release): Promise<{ artefactUri: string; ledgerUri: string }> {
  const store = new GcsStore(createGcpClients(endpointOverrideFromEnv(), { projectId: room.gcp?.project }).storage, retryFromEnv(), room.gcp?.project);
  const ledgerUri = `${release.prefix}/ledger.json`;
  const artefactUri = `${release.prefix}/${release.artefactName}`;
  try {
    await store.putFile(ledgerUri, release.ledgerPath, { role: STAGE1_WRITE_ROLE, contentType: "application/json" });
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "already-exists") {
      throw new CleanRoomError(
        "budget-exceeded",
        `${ledgerUri} already exists: a stage-1 release of this dataset has been recorded, and a provisioner can neither read nor ` +
          `replace it, so this release cannot be accounted. Nothing was uploaded. Reuse the existing artefact (provision with --no-stage1), ` +
          `or have the room's owner archive ${release.prefix}/ if the dataset's budget really is to be renewed.`,
        { cause: err },
      );
    }
    throw err;
  }
  // The ledger is in place before the artefact: a failure from here on over-counts, never under-counts.
  await store.putFile(artefactUri, release.artefactPath, { role: STAGE1_WRITE_ROLE, contentType: release.contentType });
  return { artefactUri, ledgerUri };
}

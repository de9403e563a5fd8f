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
  /** The staged public ε summary (`privacy.json`), uploaded after the artefact. @default - none */
  readonly summaryPath?: string;
}

/** The summary's name (provision's `STAGE1_FILES.summary`; this module does not import provisioning). */
const STAGE1_SUMMARY_NAME = "privacy.json";

/** `<prefix>/<name>`, or `<prefix>/<base>-<seq>.<ext>` when `numbered` (a later release of the same dataset). */
function objectName(prefix: string, name: string, seq: number, numbered: boolean): string {
  if (!numbered) return `${prefix}/${name}`;
  const dot = name.lastIndexOf(".");
  return `${prefix}/${name.slice(0, dot)}-${seq}${name.slice(dot)}`;
}

/**
 * Uploads a staged artefact create-only: `<prefix>/<artefactName>`, or `<name>-<seq>.<ext>` when an earlier release
 * already holds that name (objects are never replaced); then its public ε summary (`privacy.json`) the same way, named
 * like the artefact (`privacy-<seq>.json` beside `synthetic-<seq>.csv`).
 *
 * @returns the `gs://` URIs of the artefact and of the summary
 */
export async function uploadStage1Release(room: CleanRoomDescriptor, release: StagedStage1Release): Promise<{ artefactUri: string; summaryUri?: string }> {
  const store = new GcsStore(createGcpClients(endpointOverrideFromEnv(), { projectId: room.gcp?.project }).storage, retryFromEnv(), room.gcp?.project);
  /** Uploads create-only under the plain name, else the numbered one; returns the name used. */
  async function put(name: string, path: string, contentType: string, numberedFirst: boolean): Promise<string> {
    if (!numberedFirst) {
      const first = objectName(release.prefix, name, release.seq, false);
      try {
        await store.putFile(first, path, { role: STAGE1_WRITE_ROLE, contentType });
        return first;
      } catch (err) {
        if (!(err instanceof CleanRoomError && err.code === "already-exists")) throw err;
      }
    }
    const numbered = objectName(release.prefix, name, release.seq, true);
    await store.putFile(numbered, path, { role: STAGE1_WRITE_ROLE, contentType });
    return numbered;
  }
  const artefactUri = await put(release.artefactName, release.artefactPath, release.contentType, false);
  if (release.summaryPath === undefined) return { artefactUri };
  const summaryUri = await put(STAGE1_SUMMARY_NAME, release.summaryPath, "application/json", artefactUri !== `${release.prefix}/${release.artefactName}`);
  return { artefactUri, summaryUri };
}

/** A stand-in checked on the provider's machine, to upload to `<prefix>/stand-in/…` (see provision/stand-in.ts). */
export interface StagedStandIn {
  /** `gs://<stage1>/<provider>/<dataset>` */
  readonly prefix: string;
  /** Each file: its `/`-separated path under `stand-in/`, and where it is on this machine. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly localPath: string }>;
  /** The staged manifest (`stand-in.json`), uploaded last. */
  readonly manifestPath: string;
  /** Called after each file's upload. */
  readonly onFile?: (path: string) => void;
}

/**
 * Uploads a stand-in create-only: every file under `<prefix>/stand-in/`, then its manifest `<prefix>/stand-in.json`
 * last, so a reader never takes a half-uploaded stand-in for a whole one. Objects are never replaced: a second
 * stand-in for the same dataset is refused with `already-exists`.
 */
export async function uploadStage1StandIn(room: CleanRoomDescriptor, standIn: StagedStandIn): Promise<void> {
  const store = new GcsStore(createGcpClients(endpointOverrideFromEnv(), { projectId: room.gcp?.project }).storage, retryFromEnv(), room.gcp?.project);
  try {
    for (const f of standIn.files) {
      await store.putFile(`${standIn.prefix}/stand-in/${f.path}`, f.localPath, { role: STAGE1_WRITE_ROLE });
      standIn.onFile?.(f.path);
    }
    await store.putFile(`${standIn.prefix}/stand-in.json`, standIn.manifestPath, { role: STAGE1_WRITE_ROLE, contentType: "application/json" });
  } catch (err) {
    if (err instanceof CleanRoomError && err.code === "already-exists") {
      throw new CleanRoomError(
        "already-exists",
        `A stand-in is already published at ${standIn.prefix}/stand-in (stage-1 objects are never replaced); ask the platform team to remove it first to publish another`,
        { cause: err },
      );
    }
    throw err;
  }
}

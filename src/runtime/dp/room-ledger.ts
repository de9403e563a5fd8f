/**
 * Where a dataset's privacy ledger lives in a room: with the provider's data, `<dataUri>/.dp-ledger/<dataset>` (a name
 * no dataset can take). Locally a directory; on GCP create-only objects in the provider's bucket. The provider's
 * stage-1 releases and queries and the executors' stage-2 DP releases all spend from it.
 */
import { type CleanRoomDescriptor, LEDGER_FOLDER, findProvider } from "../../core/descriptor.js";
import { loadGcp } from "../platforms/index.js";
import { type LedgerStore, openLedgerStore } from "./ledger-store.js";

/** The ledger's URI: `<dataUri>/.dp-ledger/<dataset>`. */
export function ledgerUri(room: CleanRoomDescriptor, provider: string, dataset: string): string {
  return `${findProvider(room, provider).dataUri.replace(/\/+$/, "")}/${LEDGER_FOLDER}/${dataset}`;
}

/** Opens a dataset's ledger store in a room. */
export function roomLedgerStore(room: CleanRoomDescriptor, provider: string, dataset: string): LedgerStore {
  const uri = ledgerUri(room, provider, dataset);
  return openLedgerStore(uri, uri.startsWith("gs://") ? (u, p) => loadGcp().gcsLedgerStore(u, p) : undefined, room.gcp?.project);
}

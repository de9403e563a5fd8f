/**
 * A privacy ledger in Cloud Storage (the provider's data bucket, `<dataUri>/.dp-ledger/<dataset>/`): one object per
 * entry, created with `ifGenerationMatch=0`, so two spenders racing for entry `n` cannot both create it (GCS answers
 * the loser 412, and it re-reads the ledger). Entries are never replaced: the provider's `grantProvision` role can
 * create and read objects but not delete or overwrite them.
 */
import { CleanRoomError } from "../../../core/errors.js";
import type { LedgerStore } from "../../dp/ledger-store.js";
import { entryName, seqOfName } from "../../dp/ledger-store.js";
import { createGcpClients } from "./clients.js";
import { endpointOverrideFromEnv } from "./endpoints.js";
import { retryFromEnv } from "./retry.js";
import { GcsStore } from "./storage.js";

/** Role a spender needs on the ledger's prefix, named in errors. */
const LEDGER_ROLE =
  "roles/storage.objectCreator and roles/storage.objectViewer on the provider's data bucket (DataProvider.grantProvision; " +
  "a stage-2 executor gets objectCreator on <dataUri>/.dp-ledger/ for each job digest the provider approved, from its DataProvider)";

/**
 * Opens the ledger under a `gs://` prefix.
 *
 * @param store the identity to act as. @default - Application Default Credentials (the provider's staff)
 */
export function gcsLedgerStore(uri: string, projectId?: string, store?: GcsStore): LedgerStore {
  store ??= new GcsStore(createGcpClients(endpointOverrideFromEnv(), { projectId }).storage, retryFromEnv(), projectId);
  const location = uri.replace(/\/+$/, "");
  return {
    location,
    async list() {
      const names = await store.list(location, LEDGER_ROLE);
      const out: { seq: number; bytes: Buffer }[] = [];
      for (const name of names) {
        const seq = seqOfName(name);
        if (seq === undefined) continue;
        out.push({ seq, bytes: await store.readBuffer(`${location}/${name}`, LEDGER_ROLE, 1024 * 1024) });
      }
      return out.sort((a, b) => a.seq - b.seq);
    },
    async create(seq, bytes) {
      try {
        await store.putBuffer(`${location}/${entryName(seq)}`, bytes, { role: LEDGER_ROLE, contentType: "application/json", createOnly: true });
        return true;
      } catch (err) {
        if (err instanceof CleanRoomError && err.code === "already-exists") return false;
        throw err;
      }
    },
  };
}

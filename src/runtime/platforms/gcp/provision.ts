/**
 * Provider side on GCP: check a table (CSV or Parquet) against the public schema, encrypt its bytes with a fresh data
 * key (streamed, "acr-envelope-v1"), wrap the key with the provider's Cloud KMS key, and upload `data.enc`, `key.wrapped` and `manifest.json` under `<dataUri>/<dataset>`.
 *
 * The ciphertext is written to a private temporary file first (0600 in a 0700 directory): the upload can then be
 * retried and its size is known, and the plaintext never touches the network.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { type CleanRoomDescriptor, findDataset, findProvider } from "../../../core/descriptor.js";
import { CleanRoomError } from "../../../core/errors.js";
import type { ProvisionOptions, ProvisionResult } from "../platform.js";
import { generateDataKey } from "../../provision/envelope.js";
import { checkDatasetTable, provisionFormat } from "../../provision/table-check.js";
import { provisionsTree, } from "../../provision/tree.js";
import { type EncryptStep, type StepTarget, tableStep, treeStep } from "../../provision/encrypt-step.js";
import { kmsWrap } from "./kms.js";
import type { RetryPolicy } from "./retry.js";
import type { GcsStore } from "./storage.js";
import { joinUri } from "./uri.js";

/** The upload's progress as `onBytes` reports it: the ciphertext bytes sent of its size. */
function uploadProgress(onBytes: NonNullable<ProvisionOptions["onBytes"]>, size: number): (bytes: number) => void {
  return (n) => onBytes("upload", n, size);
}

/** The role an upload needs, named in errors: create-only, or replace with `--overwrite`. */
function uploadRole(dataUri: string, overwrite: boolean | undefined): string {
  // Replacing an object needs storage.objects.delete, which grantProvision (create-only) deliberately leaves out.
  return overwrite
    ? `roles/storage.objectUser on ${dataUri} (--overwrite replaces objects, which needs storage.objects.delete; provider.grantProvision is create-only)`
    : `roles/storage.objectCreator and roles/storage.objectViewer on ${dataUri} (provider.grantProvision)`;
}

/** Bytes per request of a tree's resumable upload: a 503 costs at most one chunk, and one chunk is all it buffers. */
export const TREE_UPLOAD_CHUNK = 16 * 1024 * 1024;

/** Where a dataset's objects go, and who may put them there. */
interface Destination {
  readonly store: GcsStore;
  readonly kms: KeyManagementServiceClient;
  readonly retry: RetryPolicy;
  readonly providerName: string;
  readonly datasetName: string;
  readonly options: ProvisionOptions;
}

/**
 * The steps every dataset shares: refuse an existing dataset unless overwriting, encrypt with a fresh data key into a
 * private temporary file (`encrypt`), wrap the key with the provider's Cloud KMS key, then upload `data.enc`,
 * `key.wrapped` and `manifest.json`, in that order. The manifest goes last: its presence means the dataset is complete.
 * The key is zeroed and the temporary file removed whatever happens.
 */
async function storeEncrypted(
  descriptor: CleanRoomDescriptor,
  to: Destination,
  encrypt: EncryptStep,
  upload: { readonly resumable?: boolean; readonly chunkSize?: number } = {},
): Promise<ProvisionResult> {
  const { store, options } = to;
  const provider = findProvider(descriptor, to.providerName);
  const base = joinUri(provider.dataUri, to.datasetName);
  const role = uploadRole(provider.dataUri, options.overwrite);
  if (!options.overwrite && (await store.exists(`${base}/manifest.json`, role))) {
    throw new CleanRoomError("already-exists", `${to.providerName}/${to.datasetName} is already provisioned at ${base}; pass overwrite (--overwrite) to replace it`);
  }
  const tmp = await mkdtemp(join(tmpdir(), "cleanroom-provision-"));
  const key = generateDataKey();
  try {
    const onBytes = options.onBytes;
    const file = join(tmp, "data.enc");
    // The ciphertext's MD5 (declared with the upload; GCS refuses other bytes) comes from the encryption's own pass.
    const { manifest, result, ciphertextMd5 } = await encrypt(file, key, onBytes ? (n) => onBytes("encrypt", n) : undefined, true);
    options.onProgress?.(`Wrapping the data key with ${provider.keyName}`);
    const wrapped = await kmsWrap(to.kms, provider.keyName, key, to.retry, {
      action: `wrap the data key with the Cloud KMS key ${provider.keyName}`,
      role: `roles/cloudkms.cryptoKeyEncrypter on ${provider.keyName} (provider.grantProvision)`,
      api: "cloudkms.googleapis.com",
      ...(provider.project ? { project: provider.project } : {}),
    });
    const createOnly = !options.overwrite;
    options.onProgress?.(`Uploading ${base}/data.enc`);
    await store.putFile(`${base}/data.enc`, file, {
      role,
      createOnly,
      contentType: "application/octet-stream",
      ...(ciphertextMd5 === undefined ? {} : { md5Hash: ciphertextMd5 }),
      ...upload,
      onProgress: onBytes ? uploadProgress(onBytes, (await stat(file)).size) : (n) => options.onProgress?.(`  ${(n / (1024 * 1024)).toFixed(1)} MiB sent`),
    });
    await store.putBuffer(`${base}/key.wrapped`, wrapped, { role, createOnly, contentType: "application/octet-stream" });
    await store.putBuffer(`${base}/manifest.json`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), { role, createOnly, contentType: "application/json" });
    return result;
  } finally {
    key.fill(0);
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Provisions a `files` dataset: the tree (a directory, or a `.tar`/`.tar.gz` archive) is streamed into one
 * "acr-tree-v1" envelope in a private temporary file, then uploaded.
 *
 * Order of the objects, so that no reader ever sees half a dataset: `data.enc` through a resumable session in
 * {@link TREE_UPLOAD_CHUNK} chunks (a chunk that fails, e.g. with 503, is re-sent from the offset GCS acknowledged; GCS
 * makes the object visible only when the last chunk finalizes it, so a failed upload leaves no object), then
 * `key.wrapped`, then `manifest.json` last: the executor reads `key.wrapped` first and the runtime treats a dataset as
 * provisioned only when `manifest.json` exists, so a run that stops anywhere before the end is "not provisioned".
 */
function provisionTree(descriptor: CleanRoomDescriptor, to: Destination, path: string): Promise<ProvisionResult> {
  return storeEncrypted(descriptor, to, treeStep(stepTarget(descriptor, to), path), { resumable: true, chunkSize: TREE_UPLOAD_CHUNK });
}

/** The shared encrypt steps' view of a destination. */
function stepTarget(descriptor: CleanRoomDescriptor, to: Destination): StepTarget {
  return { provider: to.providerName, dataset: to.datasetName, uri: joinUri(findProvider(descriptor, to.providerName).dataUri, to.datasetName), options: to.options };
}

/** Provisions one dataset of a GCP room. See the module comment. */
export async function provisionDataset(
  descriptor: CleanRoomDescriptor,
  store: GcsStore,
  kms: KeyManagementServiceClient,
  retry: RetryPolicy,
  providerName: string,
  datasetName: string,
  path: string,
  options: ProvisionOptions = {},
): Promise<ProvisionResult> {
  const dataset = findDataset(descriptor, providerName, datasetName);
  const to: Destination = { store, kms, retry, providerName, datasetName, options };
  if (provisionsTree(providerName, dataset, options)) return provisionTree(descriptor, to, path);
  const format = provisionFormat(providerName, dataset, options.format);
  // The whole file is checked before anything is uploaded: a file that fails leaves no object behind (issue 19).
  const checked = await checkDatasetTable(path, format, dataset);
  return storeEncrypted(descriptor, to, tableStep(stepTarget(descriptor, to), path, format, checked));
}

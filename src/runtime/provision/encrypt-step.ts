/**
 * What both backends' provisioning does between "a fresh data key and a private file" and "wrap and store": encrypt a
 * checked table or a tree into that file and say what was stored (the dataset's `manifest.json` and the result the
 * caller returns). The backends differ only in where the objects go and who wraps the key.
 */
import type { ProvisionOptions, ProvisionResult } from "../platforms/platform.js";
import type { CsvCheck } from "./csv-check.js";
import { checkUnchanged } from "./csv-check.js";
import { datasetManifest } from "./envelope.js";
import { encryptFile } from "./envelope-sealer.js";
import { encryptTree, treeDatasetManifest } from "./tree.js";

/**
 * Encrypts a dataset into `file` with `key`, reporting encrypted bytes to `onBytes`; with `md5`, also returns the base64
 * MD5 of `file` (computed while it is written, for an upload that declares it).
 */
export type EncryptStep = (
  file: string,
  key: Buffer,
  onBytes?: (bytes: number) => void,
  md5?: boolean,
) => Promise<{ readonly manifest: unknown; readonly result: ProvisionResult; readonly ciphertextMd5?: string }>;

/** Names the dataset being provisioned and where it is stored (`uri`, for the result). */
export interface StepTarget {
  readonly provider: string;
  readonly dataset: string;
  readonly uri: string;
  readonly options: ProvisionOptions;
}

/**
 * A table (CSV or Parquet) that `checkDatasetTable` already checked as `checked`: encrypted as one envelope, refused
 * when its bytes changed since the check.
 */
export function tableStep(t: StepTarget, path: string, format: string, checked: CsvCheck): EncryptStep {
  return async (file, key, onBytes, md5) => {
    t.options.onProgress?.(`Encrypting ${path} for ${t.provider}/${t.dataset}`);
    const enc = await encryptFile(path, file, key, { ...(onBytes ? { onBytes } : {}), md5: md5 === true });
    checkUnchanged(path, checked.sha256, enc.sha256);
    return {
      ...(enc.ciphertextMd5 === undefined ? {} : { ciphertextMd5: enc.ciphertextMd5 }),
      manifest: datasetManifest(t.provider, t.dataset, format, enc),
      result: {
        provider: t.provider,
        dataset: t.dataset,
        uri: t.uri,
        bytes: enc.bytes,
        sha256: enc.sha256,
        ...(format === "csv" ? {} : { format }),
        rows: checked.rows,
        unparsable: checked.unparsable,
      },
    };
  };
}

/** A `files` tree (a directory, or a `.tar`/`.tar.gz` archive) streamed into one "acr-tree-v1" envelope. */
export function treeStep(t: StepTarget, path: string): EncryptStep {
  return async (file, key, onBytes, md5) => {
    t.options.onProgress?.(`Encrypting the tree ${path} for ${t.provider}/${t.dataset}`);
    const enc = await encryptTree(path, file, key, { ...(onBytes ? { onBytes } : {}), md5: md5 === true });
    return {
      ...(enc.ciphertextMd5 === undefined ? {} : { ciphertextMd5: enc.ciphertextMd5 }),
      manifest: treeDatasetManifest(t.provider, t.dataset, enc),
      result: { provider: t.provider, dataset: t.dataset, uri: t.uri, kind: "files", files: enc.files, bytes: enc.bytes, sha256: enc.sha256, unparsable: [] },
    };
  };
}

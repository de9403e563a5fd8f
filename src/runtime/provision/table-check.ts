/**
 * What `data provision` checks before anything is stored, whatever the dataset's table format: the format the provider
 * gave (`--csv` or `--parquet`) is the one the spec declares, and the file passes that format's check (`csv-check.ts`,
 * `parquet-check.ts`).
 */
import type { DescriptorDataset } from "../../core/descriptor.js";
import { CleanRoomError } from "../../core/errors.js";
import { DATASET_FORMATS, datasetFormat } from "../../core/spec.js";
import { type CsvCheck, checkDatasetCsv } from "./csv-check.js";
import { checkDatasetParquet } from "./parquet-check.js";

/**
 * The dataset's table format, after checking that the one the provider gave (if any) agrees with the spec.
 *
 * @throws CleanRoomError `invalid-argument` naming the option the spec's format needs
 */
export function provisionFormat(provider: string, dataset: DescriptorDataset, given: string | undefined): string {
  const format = datasetFormat(dataset);
  if (given !== undefined && !DATASET_FORMATS.includes(given as never)) {
    throw new CleanRoomError("invalid-argument", `Unknown table format ${JSON.stringify(given)}; use one of ${DATASET_FORMATS.join(", ")}`);
  }
  if (given !== undefined && given !== format) {
    throw new CleanRoomError(
      "invalid-argument",
      `Dataset ${provider}/${dataset.name} is a ${format} table in the room's spec (format: "${format}"), not ${given}: provision it with --${format} <file>, or change the dataset's format in the spec`,
    );
  }
  return format;
}

/**
 * Checks a dataset's file in its format before anything is stored: rows, sha256 of the bytes read, unparsable numeric
 * values per schema column.
 *
 * @throws CleanRoomError `invalid-argument` (a file that does not parse or match the schema), `io-error`
 */
export function checkDatasetTable(path: string, format: string, dataset: DescriptorDataset): Promise<CsvCheck> {
  return format === "parquet" ? checkDatasetParquet(path, dataset.schema) : checkDatasetCsv(path, dataset.schema);
}

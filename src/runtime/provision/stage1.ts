/**
 * Stage-1 artefacts of a dataset: DP synthetic data (`mst`) or DP aggregates (`aggregates`), each accounted in the
 * dataset's privacy ledger.
 *
 * Layout (contracts): `<stage1>/<provider>/<dataset>/synthetic.csv` or `aggregates.json`, plus `ledger.json`.
 *
 * On a local room the stage-1 storage is a directory and the ledger there is the ledger of record. On a GCP room the
 * provider may only *create* objects under `<provider>/` of the stage-1 bucket (no read, no overwrite): the release is
 * made in a private staging directory, then `ledger.json` is uploaded create-only, then the artefact. An existing
 * `ledger.json` therefore refuses any further release of the dataset through `data provision`.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CleanRoomDescriptor, type DescriptorDataset, findDataset, loadDescriptor } from "../../core/descriptor.js";
import { CleanRoomError } from "../../core/errors.js";
import { LEDGER_FILE } from "../dp/ledger.js";
import { aggregateCsv, type ReleaseReport, synthesizeCsv } from "../dp/release.js";
import type { SecureRng } from "../dp/rng.js";
import { loadGcp } from "../platforms/index.js";

/** File names of the stage-1 artefacts inside `<stage1>/<provider>/<dataset>/`. */
export const STAGE1_FILES = { synthetic: "synthetic.csv", aggregates: "aggregates.json", ledger: LEDGER_FILE } as const;

/** Options of `produceStage1Artefact`. */
export interface Stage1Options {
  /** The raw CSV (header row first). It is only read, never copied. */
  readonly csvPath: string;
  /** The dataset as deployed (method, budget, public schema). */
  readonly dataset: DescriptorDataset;
  /** The dataset's stage-1 directory; its `ledger.json` (if any) must be the current one. */
  readonly outDir: string;
  /** ε of this release. @default - the dataset's whole budget (`dataset.epsilon`) */
  readonly epsilon?: number;
  /** δ of this release. @default - `dataset.delta` */
  readonly delta?: number;
  /** Synthetic rows (mst only). @default - the noisy estimate of the number of records */
  readonly rows?: number;
  /** @default - `rngFromEnvironment()` */
  readonly rng?: SecureRng;
  /** Progress messages (for the CLI). */
  readonly onProgress?: (message: string) => void;
}

/** What `produceStage1Artefact` did. */
export interface Stage1Result {
  /** `mst`, `aggregates` or `none`. */
  readonly method: string;
  /** The artefact written, absent for `none`. */
  readonly artefactPath?: string;
  /** The ledger updated, absent for `none`. */
  readonly ledgerPath?: string;
  /** Details of the release (ε, ρ, digest, ledger entry, timings). */
  readonly report?: ReleaseReport;
}

/**
 * Produces a dataset's stage-1 artefact in `outDir` and appends its ledger entry (refused with `budget-exceeded`
 * when the dataset's budget cannot take it).
 *
 * @example
 * await produceStage1Artefact({ csvPath: "insurance.csv", dataset: findDataset(room, "insurer", "claims"), outDir });
 */
export async function produceStage1Artefact(options: Stage1Options): Promise<Stage1Result> {
  const ds = options.dataset;
  if (ds.stage1Method === "none") return { method: "none" };
  if (ds.stage1Method !== "mst" && ds.stage1Method !== "aggregates") {
    throw new CleanRoomError("invalid-argument", `Dataset "${ds.name}" has stage1Method "${ds.stage1Method}"; expected mst, aggregates or none`);
  }
  if (ds.schema === undefined) {
    throw new CleanRoomError(
      "invalid-argument",
      `Dataset "${ds.name}" uses stage1Method "${ds.stage1Method}" but has no public schema: DP domains must come from a schema, never from the data`,
    );
  }
  await mkdir(options.outDir, { recursive: true, mode: 0o700 });
  const ledger = { path: join(options.outDir, STAGE1_FILES.ledger), dataset: ds.name, budget: { epsilon: ds.epsilon, delta: ds.delta } };
  const common = {
    input: options.csvPath,
    schema: ds.schema,
    epsilon: options.epsilon ?? ds.epsilon,
    delta: options.delta ?? ds.delta,
    ledger,
    rng: options.rng,
  };
  options.onProgress?.(`stage 1: ${ds.stage1Method} of ${ds.name} at ε=${common.epsilon}, δ=${common.delta}`);
  const output = join(options.outDir, ds.stage1Method === "mst" ? STAGE1_FILES.synthetic : STAGE1_FILES.aggregates);
  const report =
    ds.stage1Method === "mst" ? await synthesizeCsv({ ...common, output, rows: options.rows }) : await aggregateCsv({ ...common, output });
  options.onProgress?.(`stage 1: wrote ${output} (${report.digest}); ledger ${ledger.path}`);
  return { method: ds.stage1Method, artefactPath: output, ledgerPath: ledger.path, report };
}

/** The stage-1 directory of a dataset in a room whose stage-1 storage is a local directory (`file:///…`). */
export function localStage1Dir(descriptor: CleanRoomDescriptor, provider: string, dataset: string): string {
  const uri = descriptor.storage.stage1;
  if (!uri.startsWith("file://")) {
    throw new CleanRoomError(
      "invalid-argument",
      `The room's stage-1 storage is ${uri}, not a local (file://) directory. \`cleanroom data provision\` uploads to gs:// stage-1 buckets itself; ` +
        `for anything else, keep the dataset's ${LEDGER_FILE} on your machine, run \`cleanroom dp synthesize\` (or \`aggregate\`) with ` +
        `\`--ledger <dir>/${LEDGER_FILE} --budget-epsilon <ε>\`, and copy the artefact and ${LEDGER_FILE} to ${uri}/${provider}/${dataset}/.`,
    );
  }
  return join(fileURLToPath(uri), provider, dataset);
}

/**
 * Makes the release in a private staging directory and uploads it to `<stage1>/<provider>/<dataset>/`: `ledger.json`
 * first (create-only: it exists only if an earlier release of this dataset was recorded), then the artefact.
 */
async function produceStage1ToGcs(
  room: CleanRoomDescriptor,
  ds: DescriptorDataset,
  provider: string,
  csvPath: string,
  options: { epsilon?: number; delta?: number; rows?: number; rng?: SecureRng; onProgress?: (m: string) => void },
): Promise<Stage1Result> {
  const prefix = `${room.storage.stage1.replace(/\/+$/, "")}/${provider}/${ds.name}`;
  const staging = await mkdtemp(join(tmpdir(), "acr-stage1-"));
  try {
    const local = await produceStage1Artefact({ csvPath, dataset: ds, outDir: staging, ...options });
    if (!local.artefactPath || !local.ledgerPath) return local;
    const artefactName = ds.stage1Method === "mst" ? STAGE1_FILES.synthetic : STAGE1_FILES.aggregates;
    const contentType = ds.stage1Method === "mst" ? "text/csv" : "application/json";
    const { artefactUri, ledgerUri } = await loadGcp().uploadStage1Release(room, {
      prefix,
      ledgerPath: local.ledgerPath,
      artefactPath: local.artefactPath,
      artefactName,
      contentType,
    });
    options.onProgress?.(`stage 1: uploaded ${artefactUri} and ${ledgerUri}`);
    return { method: local.method, artefactPath: artefactUri, ledgerPath: ledgerUri, report: local.report };
  } finally {
    // The staged copy is the provider's own data product; nothing of it stays behind on this machine.
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The hook `cleanroom data provision` calls: finds the dataset in the room and writes its stage-1 artefact and ledger
 * entry to `<stage1>/<provider>/<dataset>/`.
 *
 * - local rooms (`file://` stage-1 storage): into that directory, whose `ledger.json` is the ledger of record;
 * - GCP rooms (`gs://`): staged in a temporary directory and uploaded create-only (see the file comment);
 * - with `options.outDir`: into that directory instead, for any room (e.g. a provider-kept ledger directory).
 */
export async function produceStage1(
  descriptor: CleanRoomDescriptor | string,
  provider: string,
  dataset: string,
  csvPath: string,
  options: { outDir?: string; epsilon?: number; delta?: number; rows?: number; rng?: SecureRng; onProgress?: (m: string) => void } = {},
): Promise<Stage1Result> {
  const room = typeof descriptor === "string" ? loadDescriptor(descriptor) : descriptor;
  const ds = findDataset(room, provider, dataset);
  const release = { epsilon: options.epsilon, delta: options.delta, rows: options.rows, rng: options.rng, onProgress: options.onProgress };
  if (options.outDir === undefined && ds.stage1Method !== "none" && room.storage.stage1.startsWith("gs://")) {
    return produceStage1ToGcs(room, ds, provider, csvPath, release);
  }
  const outDir = options.outDir ?? (ds.stage1Method === "none" ? "" : localStage1Dir(room, provider, dataset));
  return produceStage1Artefact({ csvPath, dataset: ds, outDir, ...release });
}

/**
 * Stage-1 artefacts of a dataset: DP synthetic data (`mst`, `aim`) or DP aggregates (`aggregates`), each spent from
 * the dataset's privacy ledger.
 *
 * Layout (contracts): the artefact goes to `<stage1>/<provider>/<dataset>/synthetic.csv` or `aggregates.json`; the
 * ledger lives with the provider's data, `<dataUri>/.dp-ledger/<dataset>/` (a directory locally, create-only objects
 * in the provider's bucket on GCP), where stage-2 DP releases and `cleanroom dp query` spend from it too.
 *
 * On a GCP room the provider may only *create* objects under `<provider>/` of the stage-1 bucket: the release is made
 * in a private staging directory (after its spend is in the ledger), then the artefact is uploaded create-only.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CleanRoomDescriptor, type DescriptorDataset, findDataset, loadDescriptor } from "../../core/descriptor.js";
import { CleanRoomError } from "../../core/errors.js";
import { datasetFormat } from "../../core/spec.js";
import { cdpEps } from "../dp/accounting.js";
import { duckdbAggregateSource } from "../dp/aggregate-source.js";
import { duckdbSource } from "../dp/marginal-duckdb.js";
import { type LedgerState, PrivacyLedger, summarize } from "../dp/ledger.js";
import { defaultLedgerKeyPath, loadOrCreateLedgerKey, providerSigner } from "../dp/ledger-keys.js";
import { DirectoryLedgerStore, type LedgerStore } from "../dp/ledger-store.js";
import { roomLedgerStore } from "../dp/room-ledger.js";
import { aggregateCsv, type ReleaseReport, synthesizeCsv } from "../dp/release.js";
import type { SecureRng } from "../dp/rng.js";
import { loadGcp } from "../platforms/index.js";

/**
 * File names inside `<stage1>/<provider>/<dataset>/`: the artefact (`synthetic.csv` or `aggregates.json`) and the
 * public ε summary published beside it (`privacy.json`, see `Stage1PrivacySummary`).
 */
export const STAGE1_FILES = { synthetic: "synthetic.csv", aggregates: "aggregates.json", summary: "privacy.json" } as const;

/**
 * What a stage-1 release cost and what the dataset's privacy ledger had left right after it, published beside the
 * artefact for those who may read stage-1 data but not the provider's bucket (where the ledger lives). A snapshot:
 * later spends (stage-2 DP releases, DP queries) are only in the ledger. Holds no data, only public budget figures.
 */
export interface Stage1PrivacySummary {
  readonly format: "cleanroom-stage1-privacy/1";
  readonly provider: string;
  readonly dataset: string;
  readonly method: string;
  /** The artefact (its name, and `sha256:` of its bytes, as the ledger's artefact entry records it). */
  readonly artefact: { readonly name: string; readonly digest: string };
  /** This release: its ε and δ, the exact ρ spent, and its spend entry's number in the ledger. */
  readonly release: { readonly epsilon: number; readonly delta: number; readonly rho: number; readonly ledgerEntry: number };
  /** The ledger right after the release: its budget, ε spent and left at the budget's δ, spends, entries and head. */
  readonly ledger: {
    readonly budgetEpsilon: number;
    readonly delta: number;
    readonly spentEpsilon: number;
    readonly leftEpsilon: number;
    readonly spends: number;
    readonly entries: number;
    readonly head: string;
  };
  /** When it was written (ISO 8601). */
  readonly publishedAt: string;
}

/** ε spent, ε left (at the budget's δ) and spends so far of a ledger: the figures the console and `privacy.json` show. */
export function ledgerFigures(state: LedgerState): { spentEpsilon: number; leftEpsilon: number; spends: number } {
  return {
    spentEpsilon: state.spent.epsilon,
    leftEpsilon: state.remainingRho > 0 ? cdpEps(state.remainingRho, state.budget.delta) : 0,
    spends: state.entries.filter((e) => e.kind === "spend").length,
  };
}

/** The public summary of a release just made, from the ledger as it now stands. */
async function privacySummary(store: LedgerStore, provider: string, ds: DescriptorDataset, artefactName: string, report: ReleaseReport): Promise<Stage1PrivacySummary> {
  const state = summarize(store.location, await store.list());
  return {
    format: "cleanroom-stage1-privacy/1",
    provider,
    dataset: ds.name,
    method: ds.stage1Method,
    artefact: { name: artefactName, digest: report.digest },
    release: { epsilon: report.epsilon, delta: report.delta, rho: report.rho, ledgerEntry: report.ledgerEntry?.seq ?? -1 },
    ledger: { budgetEpsilon: state.budget.epsilon, delta: state.budget.delta, ...ledgerFigures(state), entries: state.entries.length, head: state.head },
    publishedAt: new Date().toISOString(),
  };
}

/** Stage-1 methods that produce synthetic data. */
const SYNTHETIC_METHODS = ["mst", "aim"];

export { ledgerUri, roomLedgerStore } from "../dp/room-ledger.js";

/** Options common to stage-1 releases. */
export interface Stage1ReleaseOptions {
  /** ε of this release. @default - the dataset's whole budget (`dataset.epsilon`) */
  readonly epsilon?: number;
  /** δ of this release. @default - `dataset.delta` */
  readonly delta?: number;
  /** Synthetic rows (mst/aim only). @default - the noisy estimate of the number of records, capped */
  readonly rows?: number;
  /** The provider's ledger key (Ed25519 PEM; created when missing). @default - `defaultLedgerKeyPath()` */
  readonly ledgerKey?: string;
  /** Replace the ledger's budget with the dataset's (spec) budget when they differ, recording the change. @default false */
  readonly forceBudgetChange?: boolean;
  /** @default - `rngFromEnvironment()` */
  readonly rng?: SecureRng;
  /** Progress messages (for the CLI). */
  readonly onProgress?: (message: string) => void;
}

/** Options of `produceStage1Artefact`. */
export interface Stage1Options extends Stage1ReleaseOptions {
  /**
   * The raw table, in the dataset's format (`dataset.format`): a CSV (header row first), or a Parquet file, which
   * embedded DuckDB reads. It is only read, never copied.
   */
  readonly csvPath: string;
  /** The dataset as deployed (method, budget, public schema). */
  readonly dataset: DescriptorDataset;
  /** The directory the artefact is written to. */
  readonly outDir: string;
  /** The dataset's ledger. @default - a directory `<outDir>/ledger` */
  readonly ledger?: LedgerStore;
  /** The provider: with it, the public ε summary (`privacy.json`) is written beside the artefact. @default - none written */
  readonly provider?: string;
}

/** What `produceStage1Artefact` did. */
export interface Stage1Result {
  /** `mst`, `aim`, `aggregates` or `none`. */
  readonly method: string;
  /** The artefact written, absent for `none`. */
  readonly artefactPath?: string;
  /** Where the dataset's ledger is, absent for `none`. */
  readonly ledgerPath?: string;
  /** The public ε summary written beside the artefact (`privacy.json`), when `provider` was given. */
  readonly summaryPath?: string;
  /** Details of the release (ε, ρ, digest, ledger entry, timings). */
  readonly report?: ReleaseReport;
}

/**
 * Produces a dataset's stage-1 artefact in `outDir`, spending from its ledger first (refused with `budget-exceeded`
 * when the budget cannot take it, `budget-mismatch` when the ledger holds another budget than the dataset's).
 *
 * @example
 * await produceStage1Artefact({ csvPath: "insurance.csv", dataset: findDataset(room, "insurer", "claims"), outDir });
 */
export async function produceStage1Artefact(options: Stage1Options): Promise<Stage1Result> {
  const ds = options.dataset;
  if (ds.stage1Method === "none") return { method: "none" };
  if (!SYNTHETIC_METHODS.includes(ds.stage1Method) && ds.stage1Method !== "aggregates") {
    throw new CleanRoomError("invalid-argument", `Dataset "${ds.name}" has stage1Method "${ds.stage1Method}"; expected mst, aim, aggregates or none`);
  }
  if (ds.schema === undefined) {
    throw new CleanRoomError(
      "invalid-argument",
      `Dataset "${ds.name}" uses stage1Method "${ds.stage1Method}" but has no public schema: DP domains must come from a schema, never from the data`,
    );
  }
  await mkdir(options.outDir, { recursive: true, mode: 0o700 });
  const store = options.ledger ?? new DirectoryLedgerStore(join(options.outDir, "ledger"));
  const key = await loadOrCreateLedgerKey(options.ledgerKey ?? defaultLedgerKeyPath());
  if (key.created) options.onProgress?.(`created your ledger key ${key.path} (keep it: it signs every spend of your datasets)`);
  const ledger = {
    store,
    dataset: ds.name,
    budget: { epsilon: ds.epsilon, delta: ds.delta },
    forceBudgetChange: options.forceBudgetChange === true,
    signer: providerSigner(key.key),
  };
  // Refuses a different stored budget (or creates the ledger) before anything is drawn or read.
  await PrivacyLedger.open(ledger);
  const common = {
    input: options.csvPath,
    schema: ds.schema,
    epsilon: options.epsilon ?? ds.epsilon,
    delta: options.delta ?? ds.delta,
    ledger,
    rng: options.rng,
  };
  options.onProgress?.(`stage 1: ${ds.stage1Method} of ${ds.name} at ε=${common.epsilon}, δ=${common.delta}`);
  const synthetic = SYNTHETIC_METHODS.includes(ds.stage1Method);
  const output = join(options.outDir, synthetic ? STAGE1_FILES.synthetic : STAGE1_FILES.aggregates);
  // A Parquet table is counted by embedded DuckDB (bounded memory, only counts come back); a CSV in this process.
  const parquet = datasetFormat(ds) === "parquet";
  // DuckDB reads the file by its absolute path and refuses pattern characters in it (`duckdbFilePath`).
  const table = options.csvPath;
  const report = synthetic
    ? await synthesizeCsv({ ...common, output, rows: options.rows, method: ds.stage1Method, ...(parquet ? { source: duckdbSource(table, { format: "parquet" }) } : {}) })
    : await aggregateCsv({ ...common, output, ...(parquet ? { source: duckdbAggregateSource(table, { format: "parquet" }) } : {}) });
  options.onProgress?.(`stage 1: wrote ${output} (${report.digest}); ledger ${store.location}, head ${report.ledgerHead}`);
  if (options.provider === undefined) return { method: ds.stage1Method, artefactPath: output, ledgerPath: store.location, report };
  // Published beside the artefact: a data scientist may read stage-1 data but, on GCP, not the provider's bucket.
  const summaryPath = join(options.outDir, STAGE1_FILES.summary);
  const summary = await privacySummary(store, options.provider, ds, synthetic ? STAGE1_FILES.synthetic : STAGE1_FILES.aggregates, report);
  await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  return { method: ds.stage1Method, artefactPath: output, ledgerPath: store.location, summaryPath, report };
}

/** The stage-1 directory of a dataset in a room whose stage-1 storage is a local directory (`file:///…`). */
export function localStage1Dir(descriptor: CleanRoomDescriptor, provider: string, dataset: string): string {
  const uri = descriptor.storage.stage1;
  if (!uri.startsWith("file://")) {
    throw new CleanRoomError(
      "invalid-argument",
      `The room's stage-1 storage is ${uri}, not a local (file://) directory. \`cleanroom data provision\` uploads to gs:// stage-1 buckets itself; ` +
        `for anything else, run \`cleanroom dp synthesize\` (or \`aggregate\`) with \`--ledger <ledger dir> --budget-epsilon <ε>\` on your machine ` +
        `and copy the artefact to ${uri}/${provider}/${dataset}/.`,
    );
  }
  return join(fileURLToPath(uri), provider, dataset);
}

/** Makes the release in a private staging directory and uploads the artefact create-only to `<stage1>/<provider>/<dataset>/`. */
async function produceStage1ToGcs(room: CleanRoomDescriptor, ds: DescriptorDataset, provider: string, csvPath: string, options: Stage1ReleaseOptions): Promise<Stage1Result> {
  const prefix = `${room.storage.stage1.replace(/\/+$/, "")}/${provider}/${ds.name}`;
  const staging = await mkdtemp(join(tmpdir(), "acr-stage1-"));
  try {
    const local = await produceStage1Artefact({ csvPath, dataset: ds, outDir: staging, ledger: roomLedgerStore(room, provider, ds.name), provider, ...options });
    if (!local.artefactPath || !local.report?.ledgerEntry) return local;
    const synthetic = SYNTHETIC_METHODS.includes(ds.stage1Method);
    const { artefactUri, summaryUri } = await loadGcp().uploadStage1Release(room, {
      prefix,
      artefactPath: local.artefactPath,
      artefactName: synthetic ? STAGE1_FILES.synthetic : STAGE1_FILES.aggregates,
      seq: local.report.ledgerEntry.seq,
      contentType: synthetic ? "text/csv" : "application/json",
      ...(local.summaryPath === undefined ? {} : { summaryPath: local.summaryPath }),
    });
    options.onProgress?.(`stage 1: uploaded ${artefactUri}`);
    return {
      method: local.method,
      artefactPath: artefactUri,
      ledgerPath: local.ledgerPath,
      ...(summaryUri === undefined ? {} : { summaryPath: summaryUri }),
      report: local.report,
    };
  } finally {
    // The staged copy is the provider's own data product; nothing of it stays behind on this machine.
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The hook `cleanroom data provision` calls with the file it provisioned (a CSV, or a Parquet file for a dataset of
 * format `parquet`): finds the dataset in the room, spends from its ledger
 * (`<dataUri>/.dp-ledger/<dataset>`) and writes its stage-1 artefact to `<stage1>/<provider>/<dataset>/`.
 *
 * - local rooms (`file://` stage-1 storage): into that directory;
 * - GCP rooms (`gs://`): staged in a temporary directory and uploaded create-only;
 * - with `options.outDir`: into that directory instead, for any room.
 */
export async function produceStage1(
  descriptor: CleanRoomDescriptor | string,
  provider: string,
  dataset: string,
  csvPath: string,
  options: Stage1ReleaseOptions & { outDir?: string } = {},
): Promise<Stage1Result> {
  const room = typeof descriptor === "string" ? loadDescriptor(descriptor) : descriptor;
  const ds = findDataset(room, provider, dataset);
  const { outDir, ...release } = options;
  if (ds.stage1Method === "none") return { method: "none" };
  if (outDir === undefined && room.storage.stage1.startsWith("gs://")) return produceStage1ToGcs(room, ds, provider, csvPath, release);
  const dir = outDir ?? localStage1Dir(room, provider, dataset);
  return produceStage1Artefact({ csvPath, dataset: ds, outDir: dir, ledger: roomLedgerStore(room, provider, dataset), provider, ...release });
}

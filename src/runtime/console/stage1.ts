/**
 * The stage-1 artefacts a data scientist may explore, per dataset: the DP synthetic data or aggregates, the ε they
 * cost, and what the dataset's privacy ledger has left.
 *
 * The figures come from the ledger itself (read as `cleanroom dp ledger show` reads it, from
 * `<dataUri>/.dp-ledger/<dataset>`) when the console's user may read it: always in a local room, on GCP only with
 * read access to the provider's bucket, which a data scientist usually lacks. Then they come from the public summary
 * `data provision` published beside the artefact (`privacy.json`), labelled as a snapshot of the release; without
 * one, the page says why it shows no figures.
 *
 * A dataset's **stand-in** (spec `standIn: "provided"`, published by `data provision --stand-in`) is listed from its
 * manifest (`stand-in.json`, written last): only files the manifest names are listed and served.
 */
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { summarize } from "../dp/ledger.js";
import { roomLedgerStore } from "../dp/room-ledger.js";
import { ledgerFigures, STAGE1_FILES, type Stage1PrivacySummary } from "../provision/stage1.js";
import { STAND_IN_FILES, type StandInManifest } from "../provision/stand-in.js";
import { joinLocation, listObjects, readSmallObject } from "./storage.js";

/** The ledger's figures, live or as published with a release. */
export interface Stage1LedgerFigures {
  /** `ledger`: read from the dataset's privacy ledger now; `published`: the summary of its latest stage-1 release. */
  readonly source: "ledger" | "published";
  /** ε spent so far and ε a next release could still take (at the budget's δ). */
  readonly spentEpsilon: number;
  readonly leftEpsilon: number;
  /** Spends in the ledger (stage-1 releases, DP queries, stage-2 DP releases). */
  readonly spends: number;
  /** `published` only: when the summary was written, and the ledger entry of its release. */
  readonly publishedAt?: string;
  readonly ledgerEntry?: number;
}

/** One dataset's stage-1 state. */
export interface Stage1Dataset {
  readonly provider: string;
  readonly dataset: string;
  readonly method: string;
  /** The dataset's total ε budget (spec), and its δ. */
  readonly budgetEpsilon: number;
  readonly delta: number;
  /** Artefact files present (synthetic.csv, aggregates.json) with sizes. */
  readonly artefacts: ReadonlyArray<{ name: string; bytes: number }>;
  /** The ledger's figures; absent when there is no ledger yet, or it could not be read (`ledgerNote` says why). */
  readonly ledger?: Stage1LedgerFigures;
  /** Why there are no live figures: no read access to the provider's bucket, an unreadable ledger. */
  readonly ledgerNote?: string;
  /** Why the stage-1 artefacts could not be listed. */
  readonly problem?: string;
  /** `provided` when the spec says the dataset has a stand-in, else `none`. */
  readonly standIn: string;
  /** The published stand-in's files (from its manifest), absent when none is published (yet). */
  readonly standInFiles?: ReadonlyArray<{ path: string; bytes: number }>;
}

/** The published stand-in's manifest of a dataset, if there is a well-formed one. */
export async function standInManifest(d: CleanRoomDescriptor, provider: string, dataset: string): Promise<StandInManifest | undefined> {
  const bytes = await readSmallObject(joinLocation(d.storage.stage1, provider, dataset, STAND_IN_FILES.manifest), 4 * 1024 * 1024);
  if (!bytes) return undefined;
  let v: Partial<StandInManifest>;
  try {
    v = JSON.parse(bytes.toString("utf8")) as Partial<StandInManifest>;
  } catch {
    return undefined;
  }
  const ok =
    v.format === "cleanroom-stand-in/1" &&
    v.provider === provider &&
    v.dataset === dataset &&
    Array.isArray(v.files) &&
    v.files.every((f) => typeof f?.path === "string" && standInPathOk(f.path) && typeof f.bytes === "number");
  return ok ? (v as StandInManifest) : undefined;
}

/** A stand-in file's path as the manifest may name it: `/`-separated, no empty, `.` or `..` segment, no control character. */
function standInPathOk(path: string): boolean {
  if ([...path].some((c) => c.charCodeAt(0) < 0x20 || c === "\\")) return false;
  return path.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/** `privacy.json`, `privacy-<n>.json`: the summaries of a dataset's releases (a later one is numbered). */
const SUMMARY_NAME = /^privacy(?:-(\d+))?\.json$/;

/** The published summary of the dataset's latest release, if any and well-formed. */
async function latestSummary(where: string, files: ReadonlyArray<{ name: string }>, provider: string, dataset: string): Promise<Stage1PrivacySummary | undefined> {
  const named = files
    .map((f) => ({ name: f.name, n: SUMMARY_NAME.exec(f.name) }))
    .filter((f) => f.n !== null)
    .sort((a, b) => Number(b.n![1] ?? -1) - Number(a.n![1] ?? -1));
  const latest = named[0];
  if (!latest) return undefined;
  const bytes = await readSmallObject(joinLocation(where, latest.name), 64 * 1024);
  if (!bytes) return undefined;
  let v: Partial<Stage1PrivacySummary>;
  try {
    v = JSON.parse(bytes.toString("utf8")) as Partial<Stage1PrivacySummary>;
  } catch {
    return undefined;
  }
  const l = v.ledger;
  const ok =
    v.format === "cleanroom-stage1-privacy/1" &&
    v.provider === provider &&
    v.dataset === dataset &&
    l !== undefined &&
    [l.spentEpsilon, l.leftEpsilon, l.spends].every((x) => typeof x === "number" && Number.isFinite(x) && x >= 0) &&
    typeof v.publishedAt === "string";
  return ok ? (v as Stage1PrivacySummary) : undefined;
}

/** The stage-1 state of one dataset. */
async function stage1Dataset(d: CleanRoomDescriptor, provider: string, ds: CleanRoomDescriptor["providers"][number]["datasets"][number]): Promise<Stage1Dataset> {
  const where = joinLocation(d.storage.stage1, provider, ds.name);
  const standIn = ds.standIn ?? "none";
  const manifest = standIn === "provided" ? await standInManifest(d, provider, ds.name).catch(() => undefined) : undefined;
  const base = {
    provider,
    dataset: ds.name,
    method: ds.stage1Method,
    budgetEpsilon: ds.epsilon,
    delta: ds.delta,
    standIn,
    ...(manifest === undefined ? {} : { standInFiles: manifest.files.map((f) => ({ path: f.path, bytes: f.bytes })) }),
  };
  let files: Array<{ name: string; bytes: number }>;
  try {
    files = await listObjects(where, 100);
  } catch (err) {
    return { ...base, artefacts: [], problem: messageOf(err) };
  }
  const artefacts = files.filter((f) => f.name === STAGE1_FILES.synthetic || f.name === STAGE1_FILES.aggregates);
  try {
    const store = roomLedgerStore(d, provider, ds.name);
    const stored = await store.list();
    if (stored.length === 0) return { ...base, artefacts };
    return { ...base, artefacts, ledger: { source: "ledger", ...ledgerFigures(summarize(store.location, stored)) } };
  } catch (err) {
    if (!(err instanceof CleanRoomError && err.code === "denied")) {
      return { ...base, artefacts, ledgerNote: `The privacy ledger cannot be read: ${messageOf(err)}` };
    }
  }
  // Not allowed to read the provider's bucket (GCP): the summary published with the latest release, if any.
  const cannot = `The privacy ledger is in ${provider}'s bucket, which your credentials cannot read`;
  const summary = await latestSummary(where, files, provider, ds.name).catch(() => undefined);
  if (!summary) {
    return { ...base, artefacts, ledgerNote: `${cannot}, and no ε summary (${STAGE1_FILES.summary}) was published beside the artefact: ask ${provider} for \`cleanroom dp ledger show\`.` };
  }
  return {
    ...base,
    artefacts,
    ledger: {
      source: "published",
      spentEpsilon: summary.ledger.spentEpsilon,
      leftEpsilon: summary.ledger.leftEpsilon,
      spends: summary.ledger.spends,
      publishedAt: summary.publishedAt,
      ...(typeof summary.release?.ledgerEntry === "number" ? { ledgerEntry: summary.release.ledgerEntry } : {}),
    },
    ledgerNote: `${cannot}: these figures are those ${provider} published with the release of ${summary.publishedAt}; later spends (DP queries, stage-2 DP releases) are only in the ledger.`,
  };
}

/** The stage-1 state of every dataset of the room. */
export async function stage1Datasets(d: CleanRoomDescriptor): Promise<Stage1Dataset[]> {
  const out: Stage1Dataset[] = [];
  for (const p of d.providers) for (const ds of p.datasets) out.push(await stage1Dataset(d, p.name, ds));
  return out;
}

/** The location of one stage-1 file (the artefact or its ε summary), if `name` is one. */
export function stage1ArtefactLocation(d: CleanRoomDescriptor, provider: string, dataset: string, name: string): string | undefined {
  const known = d.providers.some((p) => p.name === provider && p.datasets.some((x) => x.name === dataset));
  if (!known || (name !== STAGE1_FILES.synthetic && name !== STAGE1_FILES.aggregates && !SUMMARY_NAME.test(name))) return undefined;
  return joinLocation(d.storage.stage1, provider, dataset, name);
}

/**
 * The location of one file of a dataset's published stand-in, if its manifest names `path`; undefined otherwise (no
 * stand-in in the spec, none published, or a path the manifest does not list: nothing else under stage 1 is served).
 */
export async function standInFileLocation(d: CleanRoomDescriptor, provider: string, dataset: string, path: string): Promise<string | undefined> {
  const ds = d.providers.find((p) => p.name === provider)?.datasets.find((x) => x.name === dataset);
  if (ds?.standIn !== "provided") return undefined;
  const manifest = await standInManifest(d, provider, dataset);
  if (!manifest?.files.some((f) => f.path === path)) return undefined;
  return joinLocation(d.storage.stage1, provider, dataset, STAND_IN_FILES.dir, path);
}

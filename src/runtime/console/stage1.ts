/**
 * The stage-1 artefacts a data scientist may explore, per dataset: the DP synthetic data or aggregates, the ε they
 * cost, and what the dataset's privacy ledger has left (read with `readLedger`, as `cleanroom dp ledger` does).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { messageOf } from "../../core/errors.js";
import { cdpEps } from "../dp/accounting.js";
import { LEDGER_FILE, type LedgerFile, readLedger } from "../dp/ledger.js";
import { STAGE1_FILES } from "../provision/stage1.js";
import { joinLocation, listObjects, readSmallObject } from "./storage.js";

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
  /** ε spent so far and ε a next release could still take (at the budget's δ); absent without a ledger. */
  readonly spentEpsilon?: number;
  readonly leftEpsilon?: number;
  readonly releases?: number;
  /** Why the ledger could not be read. */
  readonly problem?: string;
}

async function ledgerAt(uri: string, stateDir: string): Promise<LedgerFile | undefined> {
  if (uri.startsWith("file:///")) return readLedger(fileURLToPath(uri));
  const data = await readSmallObject(uri);
  if (!data) return undefined;
  const tmp = join(stateDir, "tmp", `ledger-${randomBytes(6).toString("hex")}.json`);
  await mkdir(join(stateDir, "tmp"), { recursive: true, mode: 0o700 });
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    return await readLedger(tmp);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The stage-1 state of every dataset of the room. */
export async function stage1Datasets(d: CleanRoomDescriptor, stateDir: string): Promise<Stage1Dataset[]> {
  const out: Stage1Dataset[] = [];
  for (const p of d.providers) {
    for (const ds of p.datasets) {
      const where = joinLocation(d.storage.stage1, p.name, ds.name);
      const base = { provider: p.name, dataset: ds.name, method: ds.stage1Method, budgetEpsilon: ds.epsilon, delta: ds.delta };
      try {
        const files = await listObjects(where, 100);
        const artefacts = files.filter((f) => f.name === STAGE1_FILES.synthetic || f.name === STAGE1_FILES.aggregates);
        const ledger = await ledgerAt(joinLocation(where, LEDGER_FILE), stateDir);
        if (!ledger) {
          out.push({ ...base, artefacts });
          continue;
        }
        const left = Math.max(0, ledger.budget.rho - ledger.spent.rho);
        out.push({
          ...base,
          artefacts,
          spentEpsilon: ledger.spent.epsilon,
          leftEpsilon: left > 0 ? cdpEps(left, ledger.budget.delta) : 0,
          releases: ledger.entries.length,
        });
      } catch (err) {
        out.push({ ...base, artefacts: [], problem: messageOf(err) });
      }
    }
  }
  return out;
}

/** The location of one stage-1 artefact, if `name` is one. */
export function stage1ArtefactLocation(d: CleanRoomDescriptor, provider: string, dataset: string, name: string): string | undefined {
  const known = d.providers.some((p) => p.name === provider && p.datasets.some((x) => x.name === dataset));
  if (!known || (name !== STAGE1_FILES.synthetic && name !== STAGE1_FILES.aggregates && name !== LEDGER_FILE)) return undefined;
  return joinLocation(d.storage.stage1, provider, dataset, name);
}

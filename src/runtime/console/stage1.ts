/**
 * The stage-1 artefacts a data scientist may explore, per dataset: the DP synthetic data or aggregates, the ε they
 * cost, and what the dataset's privacy ledger has left (read as `cleanroom dp ledger show` reads it, from `<dataUri>/.dp-ledger/<dataset>`).
 */
import type { CleanRoomDescriptor } from "../../core/descriptor.js";
import { messageOf } from "../../core/errors.js";
import { cdpEps } from "../dp/accounting.js";
import { type LedgerState, summarize } from "../dp/ledger.js";
import { roomLedgerStore } from "../dp/room-ledger.js";
import { STAGE1_FILES } from "../provision/stage1.js";
import { joinLocation, listObjects } from "./storage.js";

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

/** The dataset's privacy ledger, read as `cleanroom dp ledger show` reads it; undefined when it does not exist yet. */
async function ledgerOf(d: CleanRoomDescriptor, provider: string, dataset: string): Promise<LedgerState | undefined> {
  const store = roomLedgerStore(d, provider, dataset);
  const stored = await store.list();
  return stored.length === 0 ? undefined : summarize(store.location, stored);
}

/** The stage-1 state of every dataset of the room. */
export async function stage1Datasets(d: CleanRoomDescriptor): Promise<Stage1Dataset[]> {
  const out: Stage1Dataset[] = [];
  for (const p of d.providers) {
    for (const ds of p.datasets) {
      const where = joinLocation(d.storage.stage1, p.name, ds.name);
      const base = { provider: p.name, dataset: ds.name, method: ds.stage1Method, budgetEpsilon: ds.epsilon, delta: ds.delta };
      try {
        const files = await listObjects(where, 100);
        const artefacts = files.filter((f) => f.name === STAGE1_FILES.synthetic || f.name === STAGE1_FILES.aggregates);
        const ledger = await ledgerOf(d, p.name, ds.name);
        if (!ledger) {
          out.push({ ...base, artefacts });
          continue;
        }
        out.push({
          ...base,
          artefacts,
          spentEpsilon: ledger.spent.epsilon,
          leftEpsilon: ledger.remainingRho > 0 ? cdpEps(ledger.remainingRho, ledger.budget.delta) : 0,
          releases: ledger.entries.filter((e) => e.kind === "spend").length,
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
  if (!known || (name !== STAGE1_FILES.synthetic && name !== STAGE1_FILES.aggregates)) return undefined;
  return joinLocation(d.storage.stage1, provider, dataset, name);
}

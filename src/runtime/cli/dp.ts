/** `cleanroom dp …`: DP synthetic data, DP aggregates and the privacy ledger, on local files. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { readLedger } from "../dp/ledger.js";
import { aggregateCsv, type LedgerTarget, type ReleaseReport, SYNTHESIZERS, synthesizeCsv } from "../dp/release.js";
import { rngFromEnvironment } from "../dp/rng.js";
import { output, progress } from "./common.js";

function number(name: string, v: string | undefined, opts: { integer?: boolean } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (opts.integer && !Number.isSafeInteger(n))) {
    throw new CleanRoomError("invalid-argument", `--${name} must be ${opts.integer ? "an integer" : "a number"} (got ${JSON.stringify(v)})`);
  }
  return n;
}

function readSchema(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read the schema ${path}: ${messageOf(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `The schema ${path} is not valid JSON: ${messageOf(err)}`);
  }
}

interface CommonFlags {
  input: string;
  schema: string;
  epsilon: string;
  delta?: string;
  out: string;
  ledger?: string;
  dataset?: string;
  budgetEpsilon?: string;
  budgetDelta?: string;
  json?: boolean;
}

function ledgerTarget(o: CommonFlags): LedgerTarget | undefined {
  if (!o.ledger) {
    if (o.budgetEpsilon !== undefined || o.budgetDelta !== undefined) {
      throw new CleanRoomError("invalid-argument", "--budget-epsilon/--budget-delta need --ledger <file>");
    }
    return undefined;
  }
  const be = number("budget-epsilon", o.budgetEpsilon);
  const bd = number("budget-delta", o.budgetDelta) ?? 1e-9;
  return { path: o.ledger, dataset: o.dataset ?? "dataset", budget: be === undefined ? undefined : { epsilon: be, delta: bd } };
}

function summary(r: ReleaseReport, rowsRequested = false): void {
  const lines = [
    `Wrote ${r.output} (${r.method}, ε=${r.epsilon}, δ=${r.delta}, ρ=${r.rho.toPrecision(4)})`,
    `  digest ${r.digest}`,
  ];
  if (r.rows !== undefined) lines.push(`  ${r.rows} synthetic rows${rowsRequested ? " (as requested)" : " (a noisy estimate, not the real count)"}`);
  if (r.tree) lines.push(`  tree: ${r.tree.map(([a, b]) => `${a}–${b}`).join(", ")}`);
  if (r.ledgerEntry) lines.push(`  recorded in the ledger at ${r.ledgerEntry.time}`);
  if (r.testSeeded) lines.push("  WARNING: seeded test noise: this output is NOT differentially private");
  process.stdout.write(`${lines.join("\n")}\n`);
}

const COMMON_HELP = `
Privacy: neighbouring datasets differ by one record (added or removed). ε and δ are converted to ρ-zCDP
(cdp_rho, Canonne–Kamath–Steinke 2020); all noise is exact discrete Gaussian noise from the OS CSPRNG.
Domains come only from the public schema (categories, numeric min/max/bins): values outside are clamped,
unknown categories and blanks go to an explicit "(unknown)" code. That code is always measured; synthetic
rows carry it (as an empty cell) only when its noisy count passes 3 noise sd. See docs/stage1-dp.md.

With --ledger, the release is refused (error budget-exceeded) if it would take the dataset past its budget;
--budget-epsilon/--budget-delta set the budget of a new ledger.`;

/** Registers the `dp` command group. */
export function registerDpCommands(program: Command): void {
  const dp = program.command("dp").description("Differentially private stage-1 data: synthetic CSVs, aggregates, the privacy ledger");

  const withCommon = (c: Command) =>
    c
      .requiredOption("--input <csv>", "the real CSV (header row first)")
      .requiredOption("--schema <json>", "the PUBLIC schema: {columns:[{name,type,categories|min,max,bins,integer}]}")
      .requiredOption("--epsilon <e>", "ε of this release")
      .option("--delta <d>", "δ of this release", "1e-9")
      .requiredOption("--out <file>", "where to write the artefact")
      .option("--ledger <ledger.json>", "account the release in this privacy ledger")
      .option("--dataset <name>", "dataset name recorded in a new ledger")
      .option("--budget-epsilon <e>", "total ε budget of a new ledger")
      .option("--budget-delta <d>", "total δ budget of a new ledger (default 1e-9)")
      .option("--json", "print the result as JSON");

  withCommon(dp.command("synthesize").description("Write a DP synthetic version of a CSV (MST by default)"))
    .option("--rows <n>", "number of synthetic rows (default: the noisy estimate of the real count)")
    .option("--method <name>", `synthesizer: ${SYNTHESIZERS.join(" or ")}`, "mst")
    .option("--iterations <n>", "mirror-descent iterations of MST's estimator", "1000")
    .addHelpText(
      "after",
      `${COMMON_HELP}

MST spends ρ/3 on the 1-way marginals, ρ/3 on choosing a tree of column pairs and ρ/3 on the tree's 2-way
marginals. On about a thousand rows use ε >= 2 (ε = 4 for ML utility); below ε = 1 prefer
--method product-of-marginals or \`cleanroom dp aggregate\`.

Examples:
  $ cleanroom dp synthesize --input insurance.csv --schema insurance.schema.json --epsilon 4 --out synthetic.csv
  $ cleanroom dp synthesize --input data.csv --schema schema.json --epsilon 2 --out s.csv \\
      --ledger stage1/ledger.json --dataset claims --budget-epsilon 4`,
    )
    .action(async (o: CommonFlags & { rows?: string; method: string; iterations: string }) => {
      // Refuses CLEANROOM_TEST_DP_SEED unless CLEANROOM_TEST=1, before any file is read.
      const rng = rngFromEnvironment();
      const r = await synthesizeCsv({
        input: o.input,
        schema: readSchema(o.schema),
        output: o.out,
        epsilon: number("epsilon", o.epsilon) as number,
        delta: number("delta", o.delta),
        rows: number("rows", o.rows, { integer: true }),
        method: o.method,
        iterations: number("iterations", o.iterations, { integer: true }),
        ledger: ledgerTarget(o),
        rng,
      });
      if (!o.json) progress(`phases (ms): ${Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
      output(o.json, r, () => summary(r, o.rows !== undefined));
    });

  withCommon(dp.command("aggregate").description("Write DP aggregates of a CSV as JSON: count, histograms, clamped sums and means"))
    .addHelpText(
      "after",
      `${COMMON_HELP}

The budget is split evenly (in ρ) over the record count, one histogram per column and one clamped sum per
numeric column; means are noisy sum / noisy count. Counts are unbiased and can be negative.

Example:
  $ cleanroom dp aggregate --input insurance.csv --schema insurance.schema.json --epsilon 1 --out aggregates.json`,
    )
    .action(async (o: CommonFlags) => {
      const rng = rngFromEnvironment();
      const r = await aggregateCsv({
        input: o.input,
        schema: readSchema(o.schema),
        output: o.out,
        epsilon: number("epsilon", o.epsilon) as number,
        delta: number("delta", o.delta),
        ledger: ledgerTarget(o),
        rng,
      });
      const { artefact: _artefact, ...rest } = r;
      output(o.json, rest, () => summary(r));
    });

  dp.command("ledger")
    .description("Show a dataset's privacy ledger: budget, what was spent, every release")
    .argument("<ledger.json>", "the ledger file (beside the stage-1 artefacts)")
    .option("--json", "print the ledger as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom dp ledger ./room/buckets/stage1/insurer/claims/ledger.json")
    .action(async (path: string, o: { json?: boolean }) => {
      const l = await readLedger(path);
      if (!l) throw new CleanRoomError("not-found", `No ledger at ${path}: nothing has been released from this dataset yet`);
      output(o.json, l, () => {
        const lines = [
          `Dataset ${l.dataset}: budget ε=${l.budget.epsilon}, δ=${l.budget.delta} (ρ=${l.budget.rho.toPrecision(4)})`,
          `Spent ρ=${l.spent.rho.toPrecision(4)} (ε=${l.spent.epsilon.toPrecision(4)} at δ=${l.budget.delta}) in ${l.entries.length} release(s):`,
          ...l.entries.map((e) => `  ${e.time}  ${e.mechanism}  ε=${e.epsilon} δ=${e.delta} ρ=${e.rho.toPrecision(4)}  ${e.artefactName ?? ""} ${e.artefact}`),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      });
    });
}

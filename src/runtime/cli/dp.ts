/** `cleanroom dp …`: DP synthetic data, DP aggregates and queries, and the privacy ledger, on local files. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { loadDescriptor } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { type LedgerState, type LedgerTarget, summarize } from "../dp/ledger.js";
import { defaultLedgerKeyPath, loadOrCreateLedgerKey, parsePublicKey, providerSigner } from "../dp/ledger-keys.js";
import { migrateV1Ledger, isV1Ledger, v1Refusal } from "../dp/ledger-migrate.js";
import { isFile, type LedgerStore, openLedgerStore } from "../dp/ledger-store.js";
import { verifyLedger } from "../dp/ledger-verify.js";
import { duckdbAggregateSource } from "../dp/aggregate-source.js";
import { bigquerySource } from "../dp/marginal-bigquery.js";
import { duckdbSource } from "../dp/marginal-duckdb.js";
import { type MarginalSource, parseSourceSpec } from "../dp/marginal-source.js";
import { dpQuery, QUERY_KINDS } from "../dp/query.js";
import { aggregateCsv, type ReleaseReport, SYNTHESIZERS, synthesizeCsv } from "../dp/release.js";
import { rngFromEnvironment } from "../dp/rng.js";
import { loadGcp } from "../platforms/index.js";
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

interface LedgerFlags {
  ledger?: string;
  dataset?: string;
  budgetEpsilon?: string;
  budgetDelta?: string;
  forceBudgetChange?: boolean;
  ledgerKey?: string;
}

interface CommonFlags extends LedgerFlags {
  input: string;
  schema: string;
  epsilon: string;
  delta?: string;
  out: string;
  json?: boolean;
}

/** A ledger location given on the command line: refuses a version-1 `ledger.json` with how to migrate it. */
async function ledgerStoreAt(location: string): Promise<LedgerStore> {
  if (!location.startsWith("gs://") && (await isFile(location))) {
    if (isV1Ledger(readFileSync(location, "utf8"))) throw v1Refusal(location);
    throw new CleanRoomError("invalid-argument", `--ledger ${location} is a file; a privacy ledger is a directory (or a gs:// prefix)`);
  }
  return openLedgerStore(location, location.startsWith("gs://") ? (u, p) => loadGcp().gcsLedgerStore(u, p) : undefined);
}

async function ledgerTarget(o: LedgerFlags): Promise<LedgerTarget | undefined> {
  if (!o.ledger) {
    if (o.budgetEpsilon !== undefined || o.budgetDelta !== undefined || o.forceBudgetChange) {
      throw new CleanRoomError("invalid-argument", "--budget-epsilon/--budget-delta/--force-budget-change need --ledger <dir>");
    }
    return undefined;
  }
  const be = number("budget-epsilon", o.budgetEpsilon);
  const bd = number("budget-delta", o.budgetDelta);
  if (be === undefined && bd !== undefined) throw new CleanRoomError("invalid-argument", "--budget-delta needs --budget-epsilon");
  if (o.forceBudgetChange && be === undefined) throw new CleanRoomError("invalid-argument", "--force-budget-change needs the new budget (--budget-epsilon, --budget-delta)");
  const key = await loadOrCreateLedgerKey(o.ledgerKey ?? defaultLedgerKeyPath());
  if (key.created) progress(`created your ledger key ${key.path} (keep it: it signs every spend of your datasets)`);
  return {
    store: await ledgerStoreAt(o.ledger),
    ...(o.dataset !== undefined ? { dataset: o.dataset } : {}),
    ...(be === undefined ? {} : { budget: { epsilon: be, delta: bd ?? 1e-9 } }),
    forceBudgetChange: o.forceBudgetChange === true,
    signer: providerSigner(key.key),
  };
}

function sourceFor(spec: string | undefined, input: string): MarginalSource | undefined {
  const s = parseSourceSpec(spec);
  if (s.kind === "duckdb") return duckdbSource(input);
  if (s.kind === "bigquery") return bigquerySource(s.table as string);
  return undefined;
}

function summary(r: ReleaseReport, rowsRequested = false): void {
  const lines = [
    `Wrote ${r.output} (${r.method}, ε=${r.epsilon}, δ=${r.delta}, ρ=${r.rho.toPrecision(4)})`,
    `  digest ${r.digest}`,
  ];
  if (r.rows !== undefined) lines.push(`  ${r.rows} synthetic rows${rowsRequested ? " (as requested)" : " (a noisy estimate, not the real count)"}`);
  if (r.tree) lines.push(`  tree: ${r.tree.map(([a, b]) => `${a}–${b}`).join(", ")}`);
  if (r.rowsCapped) lines.push("  capped at 100,000 rows (the default cap; ask for more with --rows)");
  if (r.ledgerEntry) lines.push(`  spent in the ledger as entry ${r.ledgerEntry.seq} at ${r.ledgerEntry.time}; ledger head ${r.ledgerHead} (keep it for \`dp ledger verify --head\`)`);
  if (r.testSeeded) lines.push("  WARNING: seeded test noise: this output is NOT differentially private");
  process.stdout.write(`${lines.join("\n")}\n`);
}

const COMMON_HELP = `
Privacy: neighbouring datasets differ by one record (added or removed). ε (at most 20) and δ (below 0.001) are
converted once to ρ-zCDP (cdp_rho, Canonne–Kamath–Steinke 2020); all noise is exact discrete Gaussian noise from
the OS CSPRNG. Domains come only from the public schema (categories, numeric min/max/bins): values outside are
clamped, unknown categories and blanks go to an explicit "(unknown)" code. See docs/stage1-dp.md.

With --ledger <dir>, the spend is recorded in the dataset's signed, hash-chained ledger BEFORE any noise is drawn,
and refused (error budget-exceeded) if it would take the dataset past its budget. --budget-epsilon/--budget-delta
create a new ledger; an existing ledger keeps its own budget and a different one is refused (budget-mismatch)
unless --force-budget-change, which records the change. Entries are signed with your ledger key
(--ledger-key, default $CLEANROOM_LEDGER_KEY or ~/.config/cleanroom/ledger-key.pem; created when missing).`;

function withLedger(c: Command): Command {
  return c
    .option("--ledger <dir>", "spend from this dataset's privacy ledger (a directory or gs:// prefix)")
    .option("--dataset <name>", "dataset name recorded in a new ledger")
    .option("--budget-epsilon <e>", "total ε budget of a new ledger (an existing ledger keeps its own)")
    .option("--budget-delta <d>", "total δ budget of a new ledger (default 1e-9, below 0.001)")
    .option("--force-budget-change", "REPLACE an existing ledger's budget with --budget-epsilon/--budget-delta, recording the change")
    .option("--ledger-key <pem>", "your Ed25519 ledger key (default $CLEANROOM_LEDGER_KEY or ~/.config/cleanroom/ledger-key.pem)");
}

function printLedger(l: LedgerState): void {
  const lines = [
    `Dataset ${l.dataset}: budget ε=${l.budget.epsilon}, δ=${l.budget.delta} (ρ=${l.budget.rho.toPrecision(4)})`,
    `Spent ρ=${l.spent.rho.toPrecision(4)} (ε=${l.spent.epsilon.toPrecision(4)} at δ=${l.budget.delta}), ρ=${l.remainingRho.toPrecision(4)} left; ${l.entries.length} entries, head ${l.head}`,
    ...l.entries.map((e) => {
      if (e.kind === "spend") {
        const what = e.stage === "stage2" && e.job ? `job ${e.job.jobId}` : e.stage;
        return `  ${e.seq}  ${e.time}  spend  ${what}  ${e.mechanism}  ρ=${e.rho.toPrecision(4)}${e.epsilon !== undefined ? ` (ε=${e.epsilon}, δ=${e.delta})` : ""}${e.testSeeded ? "  TEST-SEEDED" : ""}`;
      }
      if (e.kind === "artefact") return `  ${e.seq}  ${e.time}  artefact of ${e.spend}  ${e.name}  ${e.artefact}`;
      if (e.kind === "budget-change") return `  ${e.seq}  ${e.time}  BUDGET CHANGE  ε=${e.previous.epsilon}, δ=${e.previous.delta} -> ε=${e.budget.epsilon}, δ=${e.budget.delta}`;
      return `  ${e.seq}  ${e.time}  genesis  ε=${e.budget.epsilon}, δ=${e.budget.delta}`;
    }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Registers the `dp` command group. */
export function registerDpCommands(program: Command): void {
  const dp = program.command("dp").description("Differentially private data: synthetic CSVs, aggregates, queries, the privacy ledger");

  const withCommon = (c: Command) =>
    withLedger(
      c
        .requiredOption("--input <csv>", "the real CSV (header row first)")
        .requiredOption("--schema <json>", "the PUBLIC schema: {columns:[{name,type,categories|min,max,bins,integer}]}")
        .requiredOption("--epsilon <e>", "ε of this release (> 0, at most 20)")
        .option("--delta <d>", "δ of this release", "1e-9")
        .requiredOption("--out <file>", "where to write the artefact"),
    ).option("--json", "print the result as JSON");

  withCommon(dp.command("synthesize").description("Write a DP synthetic version of a CSV (MST by default)"))
    .option("--rows <n>", "number of synthetic rows, at most 10,000,000 (default: the noisy estimate of the real count, capped at 100,000)")
    .option("--method <name>", `synthesizer: ${SYNTHESIZERS.join(", ")}`, "mst")
    .option("--source <kind>", "where the marginals are counted: csv (this process), duckdb (--input is a CSV or Parquet file) or bigquery:<project>.<dataset>.<table>", "csv")
    .option("--iterations <n>", "mirror-descent iterations of the estimator", "1000")
    .addHelpText(
      "after",
      `${COMMON_HELP}

MST spends ρ/3 on the 1-way marginals, ρ/3 on choosing a tree of column pairs and ρ/3 on the tree's 2-way
marginals. AIM (--method aim) picks and re-measures the worst-explained pairs adaptively. On about a thousand
rows use ε >= 2 (ε = 4 for ML utility); below ε = 1 prefer --method product-of-marginals or \`cleanroom dp aggregate\`.
Only counts of public codes come back from DuckDB or BigQuery; the noise is added here.

Examples:
  $ cleanroom dp synthesize --input insurance.csv --schema insurance.schema.json --epsilon 4 --out synthetic.csv
  $ cleanroom dp synthesize --input events.parquet --source duckdb --schema schema.json --epsilon 2 --out s.csv \\
      --ledger ledgers/events --dataset events --budget-epsilon 4`,
    )
    .action(async (o: CommonFlags & { rows?: string; method: string; iterations: string; source?: string }) => {
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
        source: sourceFor(o.source, o.input),
        ledger: await ledgerTarget(o),
        rng,
      });
      if (!o.json) progress(`phases (ms): ${Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
      output(o.json, r, () => summary(r, o.rows !== undefined));
    });

  withCommon(dp.command("aggregate").description("Write DP aggregates of a CSV (or Parquet file) as JSON: count, histograms, clamped sums and means"))
    .option("--source <kind>", "where the counts are taken: csv (this process) or duckdb (--input is a CSV or Parquet file)", "csv")
    .addHelpText(
      "after",
      `${COMMON_HELP}

The budget is split evenly (in ρ) over the record count, one histogram per column and one clamped sum per
numeric column; means are noisy sum / noisy count. Counts are unbiased and can be negative.

Examples:
  $ cleanroom dp aggregate --input insurance.csv --schema insurance.schema.json --epsilon 1 --out aggregates.json
  $ cleanroom dp aggregate --input claims.parquet --source duckdb --schema insurance.schema.json --epsilon 1 \\
      --out aggregates.json`,
    )
    .action(async (o: CommonFlags & { source?: string }) => {
      const kind = parseSourceSpec(o.source).kind;
      if (kind === "bigquery") {
        throw new CleanRoomError("invalid-argument", "dp aggregate counts with --source csv or duckdb; a BigQuery table is for `cleanroom dp synthesize --source bigquery:…`");
      }
      const rng = rngFromEnvironment();
      const r = await aggregateCsv({
        ...(kind === "duckdb" ? { source: duckdbAggregateSource(o.input) } : {}),
        input: o.input,
        schema: readSchema(o.schema),
        output: o.out,
        epsilon: number("epsilon", o.epsilon) as number,
        delta: number("delta", o.delta),
        ledger: await ledgerTarget(o),
        rng,
      });
      const { artefact: _artefact, ...rest } = r;
      output(o.json, rest, () => summary(r));
    });

  withLedger(
    dp
      .command("query")
      .description("Answer one DP query (count, histogram, clamped sum or mean) from the dataset's budget")
      .argument("<kind>", `one of ${QUERY_KINDS.join(", ")}`)
      .argument("[column]", "the column (histogram: any; sum and mean: numeric)")
      .requiredOption("--input <csv>", "the real CSV (header row first)")
      .requiredOption("--schema <json>", "the PUBLIC schema")
      .option("--epsilon <e>", "ε of this query (with --delta)")
      .option("--delta <d>", "δ of this query", "1e-9")
      .option("--rho <r>", "the query's budget in ρ-zCDP instead of ε"),
  )
    .option("--json", "print the answer as JSON")
    .addHelpText(
      "after",
      `${COMMON_HELP}

Example:
  $ cleanroom dp query mean charges --input insurance.csv --schema insurance.schema.json --epsilon 0.5 \\
      --ledger ledgers/claims --dataset claims --budget-epsilon 4`,
    )
    .action(async (kind: string, column: string | undefined, o: LedgerFlags & { input: string; schema: string; epsilon?: string; delta?: string; rho?: string; json?: boolean }) => {
      const rng = rngFromEnvironment();
      if (o.epsilon === undefined && o.rho === undefined) throw new CleanRoomError("invalid-argument", "give the query's budget: --epsilon <e> (with --delta) or --rho <r>");
      const r = await dpQuery({
        input: o.input,
        schema: readSchema(o.schema),
        kind,
        ...(column !== undefined ? { column } : {}),
        ...(o.rho !== undefined ? { rho: number("rho", o.rho) } : { epsilon: number("epsilon", o.epsilon), delta: number("delta", o.delta) }),
        ledger: await ledgerTarget(o),
        rng,
      });
      output(o.json, r, () => {
        const lines =
          r.histogram !== undefined
            ? r.histogram.map((h) => `  ${h.label}\t${h.count}`)
            : [`  ${kind}${column ? `(${column})` : ""} = ${r.value}`];
        lines.push(`  noise sd ${r.sd.toPrecision(4)}, ρ=${r.rho.toPrecision(4)}${r.ledgerHead ? `; ledger head ${r.ledgerHead}` : ""}`);
        if (r.testSeeded) lines.push("  WARNING: seeded test noise: this answer is NOT differentially private");
        process.stdout.write(`${lines.join("\n")}\n`);
      });
    });

  const ledger = dp.command("ledger").description("A dataset's privacy ledger: show it, verify it offline, migrate a version-1 ledger.json");

  ledger
    .command("show")
    .description("Show a ledger: budget, what was spent, every entry")
    .argument("<ledger>", "the ledger directory (or gs:// prefix)")
    .option("--json", "print the ledger as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom dp ledger show ./room/buckets/providers/insurer/.dp-ledger/claims")
    .action(async (path: string, o: { json?: boolean }) => {
      const store = await ledgerStoreAt(path);
      const l = summarize(store.location, await store.list());
      output(o.json, l, () => printLedger(l));
    });

  ledger
    .command("verify")
    .description("Verify a ledger offline: the hash chain, every signature, and that no spend exceeded the budget in force")
    .argument("<ledger>", "the ledger directory (or gs:// prefix)")
    .option("--provider-key <pem>", "the provider's public key (PEM or JWK file) to pin instead of trusting the genesis entry")
    .option("--head <digest>", "a head digest you kept (printed by every release): the ledger must still contain it")
    .option("--room <descriptor.json>", "the room whose executors signed stage-2 entries (needed when there are any)")
    .option("--trusted-root <pem...>", "PEM root(s) for the stage-2 attestation tokens (default: Google's pinned root; a local room's own)")
    .option("--json", "print the verification as JSON")
    .addHelpText(
      "after",
      `
A removed, edited or reordered entry breaks the chain or a signature and fails. Removing the last entries leaves
a shorter valid chain: --head catches that.

Example:
  $ cleanroom dp ledger verify ./room/buckets/providers/insurer/.dp-ledger/claims --room ./room/descriptor.json \\
      --head sha256:…`,
    )
    .action(async (path: string, o: { providerKey?: string; head?: string; room?: string; trustedRoot?: string[]; json?: boolean }) => {
      const store = await ledgerStoreAt(path);
      const readText = (p: string) => {
        try {
          return readFileSync(p, "utf8");
        } catch (err) {
          throw new CleanRoomError("io-error", `Cannot read ${p}: ${messageOf(err)}`, { cause: err });
        }
      };
      const v = await verifyLedger(store, {
        ...(o.providerKey ? { providerKey: parsePublicKey(readText(o.providerKey)) } : {}),
        ...(o.head ? { head: o.head } : {}),
        ...(o.room ? { room: loadDescriptor(o.room) } : {}),
        ...(o.trustedRoot ? { trustedRoots: o.trustedRoot.map(readText) } : {}),
      });
      output(o.json, { verified: v.verified, dataset: v.dataset, entries: v.entries.length, head: v.head, budget: v.budget, spent: v.spent, signedByProvider: v.signedByProvider, attested: v.attested }, () => {
        process.stdout.write(
          `VERIFIED: ledger of ${v.dataset}, ${v.entries.length} entries (${v.signedByProvider} provider-signed, ${v.attested} attested stage-2), ` +
            `spent ρ=${v.spent.rho.toPrecision(4)} of ρ=${v.budget.rho.toPrecision(4)}; head ${v.head}\n`,
        );
      });
    });

  ledger
    .command("migrate")
    .description("Migrate a version-1 ledger.json into a new signed, hash-chained ledger directory")
    .argument("<ledger.json>", "the version-1 ledger file")
    .requiredOption("--to <dir>", "the new ledger directory (must be empty or absent)")
    .option("--ledger-key <pem>", "your Ed25519 ledger key (default $CLEANROOM_LEDGER_KEY or ~/.config/cleanroom/ledger-key.pem)")
    .option("--json", "print the new ledger as JSON")
    .addHelpText("after", "\nExample:\n  $ cleanroom dp ledger migrate stage1/ledger.json --to ledgers/claims")
    .action(async (path: string, o: { to: string; ledgerKey?: string; json?: boolean }) => {
      const key = await loadOrCreateLedgerKey(o.ledgerKey ?? defaultLedgerKeyPath());
      if (key.created) progress(`created your ledger key ${key.path} (keep it: it signs every spend of your datasets)`);
      const l = await migrateV1Ledger(path, await ledgerStoreAt(o.to), providerSigner(key.key));
      output(o.json, l, () => printLedger(l));
    });
}

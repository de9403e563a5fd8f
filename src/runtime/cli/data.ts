/** `cleanroom data provision`: a provider encrypts and stores a dataset (and produces its stage-1 artefact). */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { findDataset, loadDescriptor } from "../../core/descriptor.js";
import { listFiles } from "../../core/digest.js";
import { CleanRoomError } from "../../core/errors.js";
import { roomClientFor } from "../platforms/index.js";
import { rngFromEnvironment } from "../dp/rng.js";
import { describeUnparsable } from "../provision/csv-check.js";
import { produceStage1, type Stage1Result } from "../provision/stage1.js";
import { prepareStandIn, publishStandIn, standInArgumentProblem, type StandInResult } from "../provision/stand-in.js";
import { isTreeArchive } from "../provision/tree.js";
import { output, progress } from "./common.js";
import { TransferProgress } from "./progress-bar.js";

/** What the provider gave: exactly one of `--csv`, `--parquet` (a table) and `--dir` (a files tree). */
function inputOption(o: { csv?: string; parquet?: string; dir?: string }): { kind: string; format?: string; path: string } {
  const given = [o.csv !== undefined ? "--csv" : "", o.parquet !== undefined ? "--parquet" : "", o.dir !== undefined ? "--dir" : ""].filter((x) => x !== "");
  if (given.length > 1) {
    throw new CleanRoomError("invalid-argument", `${given.join(" and ")} are mutually exclusive: give the one input the dataset's spec names (--csv or --parquet for a table, --dir for kind: "files")`);
  }
  if (o.dir !== undefined) return { kind: "files", path: o.dir };
  if (o.parquet !== undefined) return { kind: "table", format: "parquet", path: o.parquet };
  if (o.csv !== undefined) return { kind: "table", format: "csv", path: o.csv };
  throw new CleanRoomError("invalid-argument", "Give the data to provision: --csv <file>, --parquet <file> for a dataset of format parquet, or --dir <tree> for a dataset of kind files");
}

/**
 * The plaintext bytes a provisioning will read, for the progress bar: a file's size, or the total of a directory's
 * regular files; unknown (undefined) for an archive or anything unreadable (provisioning then says what is wrong).
 */
async function inputBytes(path: string): Promise<number | undefined> {
  try {
    const st = await lstat(path);
    if (st.isFile()) return isTreeArchive(path) ? undefined : st.size;
    if (!st.isDirectory()) return undefined;
    let total = 0;
    for (const f of await listFiles(path)) total += (await lstat(join(path, ...f.split("/")))).size;
    return total;
  } catch {
    return undefined;
  }
}

/** Registers the `data` command group. */
export function registerDataCommands(program: Command): void {
  const data = program.command("data").description("Provider side: provision datasets into a room");
  data
    .command("provision")
    .description("Check a table (CSV or Parquet) against the public schema, or read a files tree, encrypt it with a fresh data key, wrap the key with the provider's key, and store it in the room")
    .requiredOption("--room <descriptor.json>", "the room descriptor")
    .requiredOption("--provider <name>", "your provider name in the spec")
    .requiredOption("--dataset <name>", "the dataset name in the spec")
    .option("--csv <file>", "the raw CSV (header row first), for a dataset of format csv (the default)")
    .option("--parquet <file>", "the raw Parquet file, for a dataset of format parquet; its columns must be exactly the public schema's")
    .option("--dir <tree>", "a directory (or .tar/.tar.gz archive) of files, for a dataset of kind files: model weights, tokenizer files, images")
    .option("--overwrite", "replace an already provisioned dataset")
    .option("--no-stage1", "skip producing the stage-1 (DP) artefact and publishing the stand-in")
    .option("--stand-in <file|dir>", "the dataset's PUBLIC stand-in (a mock model, a public sample), published to stage 1; required when the spec says standIn: \"provided\", refused when it says \"none\"")
    .option("--ledger-key <pem>", "your Ed25519 ledger key, signing the stage-1 spend (default $CLEANROOM_LEDGER_KEY or ~/.config/cleanroom/ledger-key.pem)")
    .option("--force-budget-change", "REPLACE the dataset ledger's stored budget with the spec's when they differ, recording the change")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
Give exactly one of --csv, --parquet and --dir: --csv or --parquet for a table (the one the dataset's format in the
spec names, format: "parquet"), --dir for a dataset of kind "files".
The whole CSV is parsed first: a file that fails parsing is refused with the line to fix, and nothing is stored.
A Parquet file is read with embedded DuckDB: a column outside the public schema, or one missing, is refused by
name, and nothing is stored. The job sees $CLEANROOM_INPUTS/<provider>/<dataset>.csv or .parquet.
A files tree (--dir) is streamed file by file into one encrypted container, never held in memory: regular files only
(a link, device or unsafe path is refused), empty directories are not kept. A .tar, .tar.gz or .tgz archive is read
the same way. The job sees the read-only directory $CLEANROOM_INPUTS/<provider>/<dataset>/, and its receipt names
the tree's manifest digest (path, size and sha256 of every file). A files dataset has no DP stage-1 artefact;
its stage 1 is its stand-in, if the spec says standIn: "provided".
A stand-in (--stand-in) is PUBLIC: it goes to the room's stage-1 storage, beside the stage-1 artefacts, where
everyone who explores stage 1 reads it; the protected original never does. It is refused when it is, holds, or
sits inside the original, or has a file with exactly the bytes of one of the original's.
Numeric cells that are not numbers (e.g. age = abc) are counted and reported; DP releases count them as unknown.
A progress bar with throughput goes to stderr while the data is encrypted and (on GCP) uploaded: redrawn in place
on a terminal, a plain line every 5 % otherwise, nothing with --json.
The file never leaves your machine in the clear: its bytes are encrypted (AES-256-GCM, streamed) before they are
stored, and the data key is wrapped by the provider's key (local key broker, or Cloud KMS on GCP).

Examples:
  $ cleanroom data provision --room ./room/descriptor.json --provider insurer --dataset claims --csv insurance.csv
  $ cleanroom data provision --room ./room/descriptor.json --provider insurer --dataset events --parquet events.parquet
  $ cleanroom data provision --room ./room/descriptor.json --provider insurer --dataset claims --csv insurance.csv --stand-in public-sample.csv
  $ cleanroom data provision --room ./room/descriptor.json --provider modelco --dataset weights --dir ./model/ --stand-in ./mock-model/`,
    )
    .action(async (o: { room: string; provider: string; dataset: string; csv?: string; parquet?: string; dir?: string; standIn?: string; overwrite?: boolean; stage1?: boolean; ledgerKey?: string; forceBudgetChange?: boolean; json?: boolean }) => {
      const { kind, format, path } = inputOption(o);
      const descriptor = loadDescriptor(o.room);
      const tree = kind === "files";
      // The stand-in is checked before anything is stored: a refused one leaves nothing behind.
      const standInProblem = standInArgumentProblem(o.provider, findDataset(descriptor, o.provider, o.dataset), o.standIn !== undefined, o.stage1 !== false);
      if (standInProblem) throw new CleanRoomError("invalid-argument", standInProblem);
      const standIn = o.standIn === undefined ? undefined : await prepareStandIn(o.standIn, path);
      // A refused test seed must stop the command before the ciphertext is stored, not after.
      if (o.stage1 !== false && !tree) rngFromEnvironment();
      const client = await roomClientFor(descriptor);
      const bar = new TransferProgress({ quiet: o.json === true });
      const total = await inputBytes(path);
      const say = (message: string) => {
        bar.done();
        progress(message);
      };
      const r = await client
        .provision(o.provider, o.dataset, path, {
          kind,
          ...(format !== undefined ? { format } : {}),
          overwrite: o.overwrite === true,
          onProgress: say,
          onBytes: (phase, n, size) => bar.update(phase, n, size ?? (phase === "encrypt" ? total : undefined)),
        })
        .finally(() => bar.done());
      // On GCP, produceStage1 spends from the ledger in the provider's bucket, stages the release locally and uploads the
      // artefact, then its public ε summary (privacy.json), create-only.
      const stage1: Stage1Result | undefined = o.stage1 === false || tree ? undefined : await produceStage1(descriptor, o.provider, o.dataset, path, {
              onProgress: progress,
              ...(o.ledgerKey ? { ledgerKey: o.ledgerKey } : {}),
              forceBudgetChange: o.forceBudgetChange === true,
            });
      const published: StandInResult | undefined =
        standIn === undefined ? undefined : await publishStandIn(descriptor, o.provider, o.dataset, standIn, { overwrite: o.overwrite === true, onProgress: progress });
      output(o.json, { ...r, ...(stage1 !== undefined ? { stage1 } : {}), ...(published !== undefined ? { standIn: { ...published, public: true } } : {}) }, () => {
        const what = r.kind === "files" ? `${r.files} files, ${r.bytes} bytes, manifest sha256 ${r.sha256}` : `${r.rows} rows, ${r.bytes} bytes, sha256 ${r.sha256}`;
        process.stdout.write(`Provisioned ${r.provider}/${r.dataset}: ${what}\nStored at ${r.uri}\n`);
        if (published !== undefined) {
          process.stdout.write(
            `Stand-in published to stage 1 (PUBLIC: everyone who explores stage 1 reads it): ${published.files} file(s), ${published.bytes} bytes at ${published.location}\n`,
          );
        }
        for (const line of describeUnparsable(r.unparsable, r.format)) process.stdout.write(`Note: ${line}\n`);
      });
    });
}

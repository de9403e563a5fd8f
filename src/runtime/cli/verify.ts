/** `cleanroom verify`: anyone checks, offline, that a result came from the approved code in the room's TEE. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { type ResultSummary, verifyResult } from "../verify/result.js";
import { EXIT, output } from "./common.js";
import { printable } from "./escape.js";

/** What to do next, per failure code (shown under the error; the same table is in docs/verify.md). */
export const VERIFY_HINTS: Readonly<Record<string, string>> = {
  malformed: "The token or a certificate is damaged or is not an attestation token. Fetch the result again.",
  algorithm: "The token uses a signing algorithm its issuer never uses: treat it as forged.",
  signature: "The token was altered or signed by someone else: do not trust this result.",
  chain: "The token's certificate chain is broken (not leaf -> intermediate -> root): do not trust this result.",
  "untrusted-root":
    "The token is signed under a root you do not trust. For a local room pass --trusted-root <room dir>/private/pki/root.pem " +
    "(or the root in its descriptor.json); for GCP check whether Google rotated its root (docs/verify.md).",
  expired: "A certificate or the token was not valid at the verification time. Check --at and your clock.",
  "not-yet-valid": "A certificate or the token was not yet valid at the verification time. Check --at and your clock.",
  issuer: "The token comes from another issuer than the room's platform: check --room.",
  audience: "The token was issued for another audience (another room?): check --room.",
  nonce: "The receipt does not match the token: receipt.json was edited after the job, or the token belongs to another result.",
  policy:
    "The run does not meet the room's attestation policy (debug image, another executor, another job), or the receipt and " +
    "the room disagree: check --room, and do not trust this result.",
  "digest-mismatch": "The output files differ from the attested receipt: they were changed after the job. Fetch the result again.",
  "invalid-receipt": "receipt.json is not a valid receipt: fetch the result again.",
  "invalid-descriptor": "The room descriptor is invalid: re-export it (`pulumi stack output descriptor --json > room.json`).",
  "not-found": "The result directory must hold outputs/, receipt.json and attestation.jwt (as `cleanroom job fetch` writes it).",
  "invalid-argument": "Check the command's arguments (cleanroom verify --help).",
  unapproved:
    "The result is genuine, but it read no data, so no provider's key release ever checked the code that produced it: it is " +
    "not a result of this room's review. Pass --allow-unapproved only to inspect it.",
};

/** Splits a PEM file into its certificates (a file may hold several roots). */
export function readPemCertificates(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot read the trusted root ${path}: ${messageOf(err)}`, { cause: err });
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certs.length === 0) throw new CleanRoomError("invalid-argument", `${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certs.map((c) => `${c}\n`);
}

function parseAt(at: string | undefined): Date | undefined {
  if (at === undefined) return undefined;
  if (at === "now") return new Date();
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) throw new CleanRoomError("invalid-argument", `--at must be an ISO-8601 time or "now" (got ${JSON.stringify(at)})`);
  return d;
}

/**
 * Prints a verified result for people. Every line is printed with its control characters escaped: output names,
 * error texts and claims come from the job, the receipt or the token.
 */
export function printSummary(s: ResultSummary, writeLine: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  const write = (line: string) => writeLine(printable(line));
  const h = s.hardware;
  write(s.verdict);
  write("");
  write(`  Room:            ${s.room} (platform ${s.platform}, sandbox ${s.sandbox})`);
  if (s.debugLogs) {
    write("  WARNING:         debug-logs room (`local up --debug-logs`): failed jobs' stderr reaches their submitters unchecked; not a production-grade room");
  }
  write(`  Job:             ${s.jobId}  ${s.status}${s.exitCode !== undefined ? ` (exit ${s.exitCode})` : ""}`);
  if (s.status !== "succeeded") write(`  Failure:         ${s.errorCode ?? "error"}${s.error ? `: ${s.error}` : ""}`);
  if (s.stderr) write(`  Job stderr:      ${s.stderr.file} in the result directory, ${s.stderr.bytes} bytes${s.stderr.truncated ? " (the last 64 KiB only)" : ""}, matches the receipt`);
  write(`  Job digest:      ${s.jobDigest}  (approved by: ${s.approvedBy.length > 0 ? s.approvedBy.join(", ") : "no provider of this descriptor"})`);
  if (!s.approved && s.status === "succeeded") {
    write("  WARNING:         no provider approved this code (it read no data; --allow-unapproved): do not use these outputs as the room's results");
  }
  if (s.approvalWithdrawnBy.length > 0) {
    write(`  Note:            ${s.approvalWithdrawnBy.join(", ")} approved it when it ran (its key opened) but no longer list it in approvedJobs`);
  }
  write(`  Executor image:  ${s.executorImageDigest}${s.imageReference ? `  (${s.imageReference})` : ""}`);
  write(
    `  Hardware:        ${h.hwmodel ?? "?"}, ${h.swname ?? "?"} ${(h.swversion ?? []).join(",")}, debug ${h.dbgstat ?? "?"}, secure boot ${String(h.secboot ?? "?")}` +
      (h.supportAttributes.length > 0 ? `, support ${h.supportAttributes.join("/")}` : "") +
      (h.project ? `, project ${h.project}${h.zone ? ` (${h.zone})` : ""}` : ""),
  );
  write(`  Inputs:          ${s.inputs.length === 0 ? "none" : ""}`);
  for (const i of s.inputs) write(`    ${i.provider}/${i.dataset}  ${i.bytes} bytes  sha256 ${i.sha256}`);
  write(`  Outputs:         ${s.outputs.length} file(s), ${s.outputBytes} bytes`);
  for (const o of s.outputs) write(`    ${o.path}  ${o.bytes} bytes  sha256 ${o.sha256}`);
  write(`  Ran:             ${s.startedAt} -> ${s.finishedAt}`);
  write(`  Token:           ${s.token.issuer}, issued ${s.token.issuedAt}, checked as of ${s.token.verifiedAt}`);
  write(`  Receipt digest:  ${s.receiptDigest}`);
}

/** Registers `cleanroom verify`. */
export function registerVerifyCommands(program: Command): void {
  program
    .command("verify")
    .description("Verify a fetched job result offline: attestation token, receipt and every output file, against the room")
    .argument("<resultDir>", "a result directory (outputs/, receipt.json, attestation.jwt), e.g. from `cleanroom job fetch`")
    .requiredOption("--room <descriptor.json>", "the room's descriptor (`pulumi stack output descriptor --json > room.json`, or <dir>/descriptor.json)")
    .option(
      "--trusted-root <pem>",
      "a PEM root certificate to trust (repeatable); default: Google's pinned Confidential Space root (gcp), the room's own root (local)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--at <time>", 'verify as of this ISO-8601 time, or "now" to demand a still-fresh token (default: when the token was issued)')
    .option("--clock-tolerance <seconds>", "clock skew allowed, 0-300", "30")
    .option("--allow-unapproved", "accept a result of code no provider approved (to inspect it; the summary says so loudly)")
    .option("--json", "print the summary (or the error) as JSON")
    .addHelpText(
      "after",
      `
Checks, without calling any service: the token's certificate chain up to the pinned root, its signature, issuer,
audience and the room's attestation policy (production image, pinned executor digest, ...); that its nonce is the
digest of receipt.json; that the receipt names the attested image and job; that every file under outputs/ is
exactly what the receipt lists; and that the job read at least one provider's data (its key release approved the
job; a result of code no provider ever checked needs --allow-unapproved).
Exit code 0 only when everything holds.

A failed job of a room started with \`cleanroom local up --debug-logs\` has its stderr (last 64 KiB) in
<resultDir>/stderr.txt; verify checks it against the receipt and warns that the room is a debug-logs room (every
receipt of such a room says debugLogs: true). A stderr.txt the receipt does not list fails verification.

Examples:
  $ cleanroom verify ./result-7f3a --room room.json
  $ cleanroom verify ./result-7f3a --room ./room/descriptor.json --json
  $ cleanroom verify ./result-7f3a --room room.json --trusted-root confidential_space_root.pem
  $ cleanroom verify ./result-7f3a --room room.json --allow-unapproved   # inspect a result of unapproved code`,
    )
    .action(async (resultDir: string, o: { room: string; trustedRoot: string[]; at?: string; clockTolerance: string; allowUnapproved?: boolean; json?: boolean }) => {
      try {
        const tol = Number(o.clockTolerance);
        const roots = o.trustedRoot.flatMap(readPemCertificates);
        const at = parseAt(o.at);
        const summary = await verifyResult(resultDir, {
          descriptor: o.room,
          clockToleranceSec: tol,
          allowUnapproved: o.allowUnapproved === true,
          ...(roots.length > 0 ? { trustedRoots: roots } : {}),
          ...(at ? { currentDate: at } : {}),
        });
        output(o.json, summary, () => printSummary(summary));
        process.exitCode = EXIT.ok;
      } catch (err) {
        if (!(err instanceof CleanRoomError)) throw err;
        const hint = VERIFY_HINTS[err.code] ?? "";
        output(o.json, { verified: false, error: { code: err.code, message: err.message, problems: err.problems, hint } }, () => {
          process.stderr.write(`NOT VERIFIED [${printable(err.code)}]: ${printable(err.message)}\n`);
          for (const p of err.problems) process.stderr.write(`  - ${printable(p)}\n`);
          if (hint) process.stderr.write(`What to do: ${hint}\n`);
        });
        process.exitCode = EXIT.failed;
      }
    });
}

/** `cleanroom policy test`: would a token with these claims get a provider's key, and which clause fails? */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { evaluateAttestationCondition } from "../../core/attestation.js";
import { findProvider, loadDescriptor, providerTrust } from "../../core/descriptor.js";
import { CleanRoomError, messageOf } from "../../core/errors.js";
import { decideRelease } from "../platforms/local/broker.js";
import { output } from "./common.js";

async function readClaims(arg: string): Promise<unknown> {
  const text = arg.trim().startsWith("{") ? arg : await readFile(arg, "utf8").catch((err: unknown) => {
    throw new CleanRoomError("io-error", `Cannot read the claims file ${arg}: ${messageOf(err)}`);
  });
  try {
    const v: unknown = JSON.parse(text);
    // A JWT payload or a decoded token `{header, payload}` both work.
    if (v && typeof v === "object" && "payload" in v && typeof (v as { payload: unknown }).payload === "object") return (v as { payload: unknown }).payload;
    return v;
  } catch (err) {
    throw new CleanRoomError("invalid-argument", `The claims are not valid JSON: ${messageOf(err)}`);
  }
}

/** Registers the `policy` command group. */
export function registerPolicyCommands(program: Command): void {
  const policy = program.command("policy").description("Check attestation claims against a room's policy before running anything");
  policy
    .command("test")
    .description("Evaluate the room's attestation condition (the exact CEL text the pool / broker enforce) on token claims")
    .requiredOption("--room <descriptor.json>", "the room descriptor")
    .requiredOption("--claims <json>", "a JSON file (or inline JSON) with the token's claims")
    .option("--provider <name>", "check what decides that provider's key: its own condition (the room's if it has none) and its approved jobs (job digest from env_override.CLEANROOM_JOB_DIGEST)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
Exit code 0 when accepted, 1 when denied.

Examples:
  $ cleanroom policy test --room room.json --claims claims.json
  $ cleanroom policy test --room ./room/descriptor.json --claims claims.json --provider insurer --json`,
    )
    .action(async (o: { room: string; claims: string; provider?: string; json?: boolean }) => {
      const d = loadDescriptor(o.room);
      const claims = await readClaims(o.claims);
      // A provider's key opens on the provider's own condition (its pool, or the broker's check for it), not the room's.
      const condition = o.provider ? providerTrust(d, findProvider(d, o.provider)).condition : d.attestation.condition;
      const cond = evaluateAttestationCondition(condition, claims);
      let decision: { allowed: boolean; reason?: string } = cond;
      if (cond.allowed && o.provider) decision = decideRelease(d, o.provider, claims as Parameters<typeof decideRelease>[2]);
      const result = { allowed: decision.allowed, condition, failedClauses: cond.failedClauses ?? [], ...(decision.reason ? { reason: decision.reason } : {}) };
      output(o.json, result, () => {
        if (result.allowed) process.stdout.write(`ACCEPTED: the claims satisfy ${o.provider ? `provider ${o.provider}'s condition and approvals` : `room ${d.name}'s condition`}.\n`);
        else {
          process.stdout.write(`DENIED: ${result.reason ?? "the condition does not hold"}\n`);
          for (const c of result.failedClauses) process.stdout.write(`  failing clause: ${c}\n`);
        }
      });
      if (!result.allowed) process.exitCode = 1;
    });
}

/**
 * The room a GCP executor actually ran with, as its attestation token records it, compared with the verifier's.
 */
import { type CleanRoomDescriptor, loadDescriptor } from "../../core/descriptor.js";
import { canonicalJson } from "../../core/digest.js";
import { messageOf } from "../../core/errors.js";
import { ROOM_ENV } from "../../core/executor-env.js";
import { AttestationError } from "./errors.js";

/** The fields that decide what an executor enforces and where it writes; they must match the releaser's descriptor. */
function enforced(d: CleanRoomDescriptor): unknown {
  return {
    name: d.name,
    platform: d.platform,
    codePolicy: d.codePolicy,
    executor: d.executor.imageDigest,
    condition: d.attestation.condition,
    audience: d.attestation.audience,
    output: d.output,
    storage: d.storage,
    // Each provider's own trust too: which condition decided its key, and where the executor exchanged its token.
    providers: d.providers.map((p) => ({ name: p.name, dataUri: p.dataUri, keyName: p.keyName, attestation: p.attestation ?? null })),
    pool: d.gcp?.poolProviderName,
    // Whether the executor kept failed jobs' stderr: a run in a debug-logs room must not verify as one of a room without.
    debugLogs: d.debugLogs === true,
  };
}

/**
 * Checks that the descriptor attested in a token's `env_override` (GCP: `CLEANROOM_ROOM`, inlined by `job submit`)
 * enforces what `expected` does: the submitter sets that variable, so a run launched with, e.g., a larger
 * `output.maxBytes` than the room's must not verify as a run of this room.
 *
 * @param envOverride `submods.container.env_override` of a verified token
 * @throws AttestationError `policy` naming the first field that differs
 */
export function checkAttestedRoom(envOverride: unknown, expected: CleanRoomDescriptor): void {
  const raw = envOverride !== null && typeof envOverride === "object" ? (envOverride as Record<string, unknown>)[ROOM_ENV] : undefined;
  if (typeof raw !== "string") {
    throw new AttestationError("policy", `The attestation token does not carry ${ROOM_ENV}: the job was not launched by this runtime; do not trust or release it`, { claim: `submods.container.env_override.${ROOM_ENV}` });
  }
  let attested: CleanRoomDescriptor;
  try {
    attested = loadDescriptor(JSON.parse(raw) as unknown);
  } catch (err) {
    throw new AttestationError("policy", `The descriptor attested in the token is not a valid room descriptor (${messageOf(err)}); do not trust or release this result`, { claim: `submods.container.env_override.${ROOM_ENV}` });
  }
  const a = enforced(attested) as Record<string, unknown>;
  const e = enforced(expected) as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (canonicalJson(a[k] ?? null) !== canonicalJson(e[k] ?? null)) {
      throw new AttestationError(
        "policy",
        `The executor ran with a different room descriptor than yours: "${k}" differs (attested ${canonicalJson(a[k] ?? null).slice(0, 200)}). The operator launched it with a modified descriptor; do not trust or release this result.`,
        { claim: `submods.container.env_override.${ROOM_ENV}` },
      );
    }
  }
}

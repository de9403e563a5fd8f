/**
 * The room descriptor reaches the executor inline, as `tee-env-CLEANROOM_ROOM` (canonical JSON). The launcher copies
 * every allowed override into the attestation token (`submods.container.env_override`), so the exact descriptor an
 * executor used is signed by the hardware-rooted token. Whoever releases or verifies a result compares the
 * security-relevant fields of that attested descriptor with their own (see docs/gcp-runtime.md "How the executor gets the
 * descriptor").
 */
import { type CleanRoomDescriptor, loadDescriptor } from "../../../core/descriptor.js";
import { canonicalJson } from "../../../core/digest.js";
import { CleanRoomError, messageOf } from "../../../core/errors.js";
import { ROOM_ENV } from "../../../core/executor-env.js";

/** Metadata ceiling per value on Compute Engine is 256 KB; stay far below it. */
const MAX_INLINE_ROOM = 128 * 1024;

/** The value of `CLEANROOM_ROOM` for a job VM: the descriptor as canonical JSON. */
export function inlineRoom(descriptor: CleanRoomDescriptor): string {
  const text = canonicalJson(descriptor);
  if (Buffer.byteLength(text) > MAX_INLINE_ROOM) {
    throw new CleanRoomError("invalid-descriptor", `The room descriptor is ${Buffer.byteLength(text)} bytes; at most ${MAX_INLINE_ROOM} fit in VM metadata`);
  }
  return text;
}

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
    providers: d.providers.map((p) => ({ name: p.name, dataUri: p.dataUri, keyName: p.keyName })),
    pool: d.gcp?.poolProviderName,
  };
}

/**
 * Checks that the descriptor attested in a token's `env_override` enforces what `expected` does.
 *
 * @param envOverride `submods.container.env_override` of a verified token
 * @throws CleanRoomError `digest-mismatch` naming the first field that differs
 */
export function checkAttestedRoom(envOverride: unknown, expected: CleanRoomDescriptor): void {
  const raw = envOverride !== null && typeof envOverride === "object" ? (envOverride as Record<string, unknown>)[ROOM_ENV] : undefined;
  if (typeof raw !== "string") {
    throw new CleanRoomError("digest-mismatch", `The attestation token does not carry ${ROOM_ENV}: the job was not launched by this runtime; do not release it`);
  }
  let attested: CleanRoomDescriptor;
  try {
    attested = loadDescriptor(JSON.parse(raw) as unknown);
  } catch (err) {
    throw new CleanRoomError("digest-mismatch", `The descriptor attested in the token is not a valid room descriptor (${messageOf(err)}); do not release this result`);
  }
  const a = enforced(attested) as Record<string, unknown>;
  const e = enforced(expected) as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (canonicalJson(a[k] ?? null) !== canonicalJson(e[k] ?? null)) {
      throw new CleanRoomError(
        "digest-mismatch",
        `The executor ran with a different room descriptor than yours: "${k}" differs (attested ${canonicalJson(a[k] ?? null).slice(0, 200)}). The operator launched it with a modified descriptor; do not release this result.`,
      );
    }
  }
}

/**
 * The room descriptor reaches the executor inline, as `tee-env-CLEANROOM_ROOM` (canonical JSON). The launcher copies
 * every allowed override into the attestation token (`submods.container.env_override`), so the exact descriptor an
 * executor used is signed by the hardware-rooted token; `verifyResult` (and so `job release` and `cleanroom verify`)
 * compares its security-relevant fields with the verifier's own (verify/attested-room.ts, docs/gcp-runtime.md "How
 * the executor gets the descriptor").
 */
import type { CleanRoomDescriptor } from "../../../core/descriptor.js";
import { canonicalJson } from "../../../core/digest.js";
import { CleanRoomError } from "../../../core/errors.js";

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

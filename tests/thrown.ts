/**
 * What a call threw or a promise rejected with, for tests that then check its `code` and message. Each fails the test
 * when nothing was thrown, or when what was thrown is not a `CleanRoomError` (a bare `Error` or a `TypeError` means the
 * code under test crashed instead of refusing).
 */
import { expect } from "chai";
import { CleanRoomError } from "../src/core/errors.js";

/** The CleanRoomError `f` throws. */
export function thrown(f: () => unknown): CleanRoomError {
  try {
    f();
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  return expect.fail("expected a CleanRoomError, nothing was thrown");
}

/** The CleanRoomError `p` rejects with. */
export async function rejected(p: Promise<unknown>): Promise<CleanRoomError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    return err as CleanRoomError;
  }
  return expect.fail("expected a CleanRoomError, the promise resolved");
}

/** The CleanRoomError `p` rejects with, which must carry `code` (its message is shown when it does not). */
export async function rejectedWith(p: Promise<unknown>, code: string): Promise<CleanRoomError & { problems?: string[] }> {
  const err = await rejected(p);
  expect(err.code, err.message).to.equal(code);
  return err as CleanRoomError & { problems?: string[] };
}

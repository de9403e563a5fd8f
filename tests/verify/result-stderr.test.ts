/**
 * verifyResult on a debug-logs room's failed result (issue 20, verify mutation path): `stderr.txt` must be exactly the
 * bytes the attested receipt lists (none, extra, missing, changed, a directory, over the room's cap), and a receipt
 * and a room that disagree on debug logs are refused. In process, so Stryker's per-test coverage sees these checks.
 */

import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, DEBUG_STDERR_MAX_BYTES } from "../../src/core/descriptor.js";
import { sha256Hex } from "../../src/core/digest.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { type AttestationError, verifyResult } from "../../src/runtime/verify/index.js";
import { rejectedWith } from "../thrown.js";
import { buildResult, descriptor } from "./fixtures.js";
import { type Chain, IMAGE, testChains } from "./pki.js";

const STDERR = Buffer.from("Traceback (most recent call last):\n  ValueError: \xff not utf-8\n", "latin1");

describe("verify/verifyResult kept stderr (debug-logs rooms)", function () {
  this.timeout(30_000);
  let tmp: string;
  let chain: Chain;
  let debug: CleanRoomDescriptor;
  let plain: CleanRoomDescriptor;

  beforeEach(async () => {
    ({ local: chain } = await testChains());
    tmp = await mkdtemp(join(tmpdir(), "verify-stderr-"));
    plain = descriptor("local", chain.root.pem, { imageDigests: [IMAGE], platform: "local" });
    debug = { ...plain, debugLogs: true };
  });
  afterEach(async () => tmp && rm(tmp, { recursive: true, force: true }));

  /** A failed result of the debug-logs room whose receipt lists `bytes` as its kept stderr (or none). */
  async function failed(bytes: Buffer | undefined): Promise<string> {
    const stderr = bytes ? { stderr: { bytes: bytes.length, sha256: sha256Hex(bytes), truncated: false } } : {};
    const { dir } = await buildResult(tmp, debug, chain, { status: "failed", receipt: { debugLogs: true, ...stderr } });
    return dir;
  }

  it("GIVEN stderr.txt with exactly the receipt's bytes (not UTF-8) THEN verified, and the summary names the file", async () => {
    const dir = await failed(STDERR);
    await writeFile(join(dir, "stderr.txt"), STDERR);
    const s = await verifyResult(dir, { descriptor: debug });
    expect(s.verified).to.equal(true);
    expect(s.stderr).to.deep.equal({ file: "stderr.txt", bytes: STDERR.length, truncated: false });
    expect(s.debugLogs).to.equal(true);
    expect(s.verdict).to.include("(sandbox: bubblewrap; DEBUG LOGS: failed jobs' stderr kept; no hardware TEE — for development only)");
  });

  it("GIVEN a failed result of a room without debug logs THEN the summary says no debug logs, and its verdict does not mention them", async () => {
    const { dir } = await buildResult(tmp, plain, chain, { status: "failed" });
    const s = await verifyResult(dir, { descriptor: plain });
    expect(s.debugLogs).to.equal(false);
    expect(s.verdict).to.include("(sandbox: bubblewrap; no hardware TEE — for development only)");
  });

  it("GIVEN a receipt whose kept stderr's size disagrees with its digest (the file matches the digest) THEN digest-mismatch", async () => {
    const { dir } = await buildResult(tmp, debug, chain, {
      status: "failed",
      receipt: { debugLogs: true, stderr: { bytes: STDERR.length + 1, sha256: sha256Hex(STDERR), truncated: false } },
    });
    await writeFile(join(dir, "stderr.txt"), STDERR);
    expect((await rejectedWith(verifyResult(dir, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: changed"]);
  });

  it("GIVEN a receipt with no kept stderr THEN no stderr.txt is accepted (none is fine, one is extra)", async () => {
    const dir = await failed(undefined);
    expect((await verifyResult(dir, { descriptor: debug })).stderr).to.equal(undefined);
    await writeFile(join(dir, "stderr.txt"), "added later\n");
    expect((await rejectedWith(verifyResult(dir, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: extra"]);
  });

  it("GIVEN a receipt listing stderr THEN a missing, changed, shortened or directory stderr.txt is digest-mismatch", async () => {
    const dir = await failed(STDERR);
    expect((await rejectedWith(verifyResult(dir, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: missing"]);
    const flipped = Buffer.from(STDERR);
    flipped[0] ^= 1;
    for (const content of [flipped, STDERR.subarray(1), Buffer.concat([STDERR, Buffer.from("x")])]) {
      await writeFile(join(dir, "stderr.txt"), content);
      expect((await rejectedWith(verifyResult(dir, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: changed"]);
    }
    await rm(join(dir, "stderr.txt"));
    await mkdir(join(dir, "stderr.txt"));
    expect((await rejectedWith(verifyResult(dir, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: changed"]);
  });

  it("GIVEN kept stderr at the room's cap THEN read and verified; a file over the cap is not read (changed)", async () => {
    const full = Buffer.alloc(DEBUG_STDERR_MAX_BYTES, 0x61);
    const dir = await failed(full);
    await writeFile(join(dir, "stderr.txt"), full);
    expect((await verifyResult(dir, { descriptor: debug })).stderr).to.deep.equal({ file: "stderr.txt", bytes: DEBUG_STDERR_MAX_BYTES, truncated: false });
    const over = Buffer.alloc(DEBUG_STDERR_MAX_BYTES + 1, 0x61);
    const big = await failed(over);
    await writeFile(join(big, "stderr.txt"), over);
    expect((await rejectedWith(verifyResult(big, { descriptor: debug }), "digest-mismatch")).problems).to.deep.equal(["stderr.txt: changed"]);
  });

  it("GIVEN a stderr.txt the verifier may not read THEN io-error naming it, not a digest mismatch", async () => {
    const dir = await failed(STDERR);
    const file = join(dir, "stderr.txt");
    await writeFile(file, STDERR);
    await chmod(file, 0o000);
    // Root reads every file: verify as an unprivileged user (effective uid only, restored below), who can list the
    // result but not open stderr.txt.
    const asRoot = process.geteuid?.() === 0;
    if (asRoot) await Promise.all([chmod(tmp, 0o755), chmod(dir, 0o755)]);
    if (asRoot) process.seteuid?.(65534);
    let err: CleanRoomError;
    try {
      err = await rejectedWith(verifyResult(dir, { descriptor: debug }), "io-error");
    } finally {
      if (asRoot) process.seteuid?.(0);
    }
    expect(err.message).to.include(file);
    expect(err.cause).to.be.instanceOf(Error);
  });

  it("GIVEN a receipt and a room that disagree on debug logs THEN policy naming receipt.debugLogs, either way", async () => {
    // A debug-logs receipt under a room without debug logs (the token binds the room it was issued in).
    const { dir } = await buildResult(tmp, plain, chain, { status: "failed", receipt: { debugLogs: true } });
    const a = (await rejectedWith(verifyResult(dir, { descriptor: plain }), "policy")) as AttestationError;
    expect(a.claim).to.equal("receipt.debugLogs");
    expect(a.message).to.match(/expected "false", got "true"/).and.include("`local up --debug-logs`");
    // A receipt without debug logs from a debug-logs room.
    const other = await buildResult(tmp, debug, chain, { status: "failed" });
    const b = (await rejectedWith(verifyResult(other.dir, { descriptor: debug }), "policy")) as AttestationError;
    expect(b.claim).to.equal("receipt.debugLogs");
    expect(b.message).to.match(/expected "true", got "false"/);
  });
});

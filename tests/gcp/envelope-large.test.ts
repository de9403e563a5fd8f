/**
 * Large data streams: 256 MiB through createEncryptStream → createDecryptStream in a child process, whose peak RSS
 * must stay under 300 MiB (holding the data would need more than that: 256 MiB plus Node's own ~100 MiB).
 * The 2 GiB run through files is in `npm run bench gcp` (it takes minutes on a slow disk).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";

describe("gcp/envelope large data", function () {
  this.timeout(60_000);
  it("GIVEN 256 MiB WHEN encrypted and decrypted as streams THEN the digest matches and peak RSS < 300 MiB", () => {
    const out = execFileSync(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", join(__dirname, "fixtures", "envelope-rss.ts"), "stream", String(256 * 1024 * 1024), "/nonexistent"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    const r = JSON.parse(out.trim().split("\n").pop() as string) as { ok: boolean; maxRssMiB: number; bytes: number };
    expect(r.ok).to.equal(true);
    expect(r.bytes).to.equal(256 * 1024 * 1024);
    expect(r.maxRssMiB).to.be.lessThan(300);
  });
});

/**
 * Large data streams, with peak RSS measured in a child process (so the figure is the work's alone):
 *
 * - 256 MiB through createEncryptStream → createDecryptStream: RSS must stay under 300 MiB (holding the data would need
 *   more than that: 256 MiB plus Node's own ~50–100 MiB);
 * - the same size through the GCP runtime's own paths against the loopback fake: `GcpRoomClient.provision` (encrypt to
 *   a file with its MD5 taken on the way, Cloud KMS wrap, resumable upload) and the executor's read (CRC32C-validated download → decrypt →
 *   file), each under 300 MiB.
 * The 2 GiB run through files is in `npm run bench gcp` (it takes minutes on a slow disk).
 */
import { execFile, execFileSync } from "node:child_process";
import { createDecipheriv, createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { GCP_API_ENDPOINT_ENV } from "../../src/runtime/platforms/gcp/index.js";
import { gcpDescriptor } from "../core/fixtures.js";
import { GcpFake } from "./fakes/gcp-fake.js";

const MIB = 1024 * 1024;
const SIZE = 256 * MIB;
const LIMIT_MIB = 300;

interface Probe {
  mode: string;
  bytes: number;
  sha256: string;
  maxRssMiB: number;
}

describe("gcp/envelope large data", function () {
  this.timeout(420_000); // provisioning parses the whole CSV before it encrypts (two passes over 256 MiB); slow under load
  it("GIVEN 256 MiB WHEN encrypted and decrypted as streams THEN the digest matches and peak RSS < 300 MiB", () => {
    const out = execFileSync(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", join(__dirname, "fixtures", "envelope-rss.ts"), "stream", String(SIZE), "/nonexistent"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    const r = JSON.parse(out.trim().split("\n").pop() as string) as { ok: boolean; maxRssMiB: number; bytes: number };
    expect(r.ok).to.equal(true);
    expect(r.bytes).to.equal(SIZE);
    expect(r.maxRssMiB).to.be.lessThan(LIMIT_MIB);
  });

  it("GIVEN a 256 MiB CSV WHEN provisioned through GcpRoomClient and read back the executor's way THEN each process stays under 300 MiB and the plaintext matches", async () => {
    const fake = await new GcpFake().start();
    const dir = mkdtempSync(join(tmpdir(), "acr-gcp-large-"));
    try {
      const room = join(dir, "room.json");
      writeFileSync(room, JSON.stringify(gcpDescriptor()));
      const env = { ...process.env, [GCP_API_ENDPOINT_ENV]: fake.url, CLEANROOM_GCP_RETRY_BASE_MS: "5" };
      const run = async (mode: string, extra: Record<string, string> = {}): Promise<Probe> => {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          ["-r", "ts-node/register/transpile-only", join(__dirname, "fixtures", "gcp-stream-rss.ts"), mode, String(SIZE), dir, room],
          { encoding: "utf8", env: { ...env, ...extra }, maxBuffer: 1024 * 1024 },
        );
        return JSON.parse(stdout.trim().split("\n").pop() as string) as Probe;
      };
      const prov = await run("provision");
      expect(prov.bytes).to.equal(SIZE);
      expect(prov.maxRssMiB, "provision peak RSS (MiB)").to.be.lessThan(LIMIT_MIB);
      // The ciphertext went up through a resumable session with its MD5 declared.
      const init = fake.sent(/^\/upload\/storage\/v1\/b\/demo-hospital-a-data\/o$/).find((r) => r.query.name === "patients/data.enc");
      expect(init?.query.uploadType).to.equal("resumable");
      const enc = fake.bucket("demo-hospital-a-data").get("patients/data.enc")!;
      expect(enc.data.length).to.be.greaterThan(SIZE);
      expect(enc.declared?.md5Hash).to.equal(createHash("md5").update(enc.data).digest("base64"));

      // Unwrap the data key with the fake KMS's master key (what Cloud KMS does for the attested executor).
      const keyName = gcpDescriptor().providers[0]!.keyName;
      const wrapped = fake.getObject("demo-hospital-a-data", "patients/key.wrapped")!;
      const d = createDecipheriv("aes-256-gcm", createHash("sha256").update(`fake-kms:${keyName}`).digest(), wrapped.subarray(0, 12));
      d.setAuthTag(wrapped.subarray(wrapped.length - 16));
      const key = Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);

      const read = await run("read", { CLEANROOM_TEST_DATA_KEY: key.toString("hex") });
      expect(read.bytes).to.equal(SIZE);
      expect(read.sha256).to.equal(prov.sha256);
      expect(read.maxRssMiB, "executor read peak RSS (MiB)").to.be.lessThan(LIMIT_MIB);
    } finally {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The native CRC32C (src/runtime/platforms/gcp/crc32c.ts) against the storage client's own JavaScript implementation,
 * which is what GCS's `crc32c` fields and the loopback fake use: same values on random data of every length, split
 * anywhere, and the storage client built by `createGcpClients` uses it for its upload and download checks.
 */
import { randomBytes } from "node:crypto";
import { CRC32C } from "@google-cloud/storage";
import { expect } from "chai";
import { createGcpClients } from "../../src/runtime/platforms/gcp/clients.js";
import { crc32c, nativeCrc32c, storageCrc32cGenerator } from "../../src/runtime/platforms/gcp/crc32c.js";

function reference(data: Buffer): CRC32C {
  const c = new CRC32C();
  c.update(data);
  return c;
}

describe("gcp: native CRC32C for storage validation and KMS integrity fields", () => {
  it("GIVEN this machine THEN the native binary loads (package-lock installs @node-rs/crc32's linux-x64 build)", () => {
    expect(nativeCrc32c).to.equal(true);
    expect(storageCrc32cGenerator()).to.be.a("function");
  });

  it("GIVEN random buffers of 0 to 4 KiB and 1 MiB THEN crc32c equals the storage client's value (unsigned, as KMS carries it)", () => {
    const sizes = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 63, 64, 255, 256, 1000, 4096, 1024 * 1024];
    for (const n of sizes) {
      const data = randomBytes(n);
      const want = reference(data).toBuffer().readUInt32BE(0);
      expect(crc32c(data), `${n} bytes`).to.equal(want);
    }
    // A value with the top bit set comes back unsigned, not as a negative int32.
    let high: Buffer | undefined;
    for (let i = 0; i < 64 && high === undefined; i++) {
      const d = randomBytes(32);
      if (reference(d).toBuffer().readUInt32BE(0) >= 2 ** 31) high = d;
    }
    expect(high, "a sample with the top bit set").to.not.equal(undefined);
    expect(crc32c(high as Buffer)).to.be.at.least(2 ** 31);
  });

  it("GIVEN bytes fed in pieces split anywhere THEN the validator's base64 is GCS's crc32c, and validate accepts only it", () => {
    const generator = storageCrc32cGenerator();
    if (generator === undefined) throw new Error("no native generator");
    const data = randomBytes(100_003);
    const want = reference(data).toString();
    for (const cuts of [[], [1], [50_000], [3, 4, 5, 99_999], [100_002]]) {
      const v = generator();
      let at = 0;
      for (const c of [...cuts, data.length]) {
        v.update(data.subarray(at, c));
        at = c;
      }
      expect(v.toString(), `cuts ${cuts.join(",")}`).to.equal(want);
      expect(v.validate(want)).to.equal(true);
    }
    const v = generator();
    v.update(data);
    const wrong = reference(Buffer.concat([data, Buffer.from("x")])).toString();
    expect(v.validate(wrong)).to.equal(false);
    expect(v.validate("")).to.equal(false);
    // A fresh validator is the CRC32C of nothing, as the client's.
    expect(generator().toString()).to.equal(new CRC32C().toString());
  });

  it("GIVEN the clients createGcpClients builds THEN their storage client validates with the native generator", () => {
    const { storage } = createGcpClients(undefined, { projectId: "demo" });
    const v = storage.crc32cGenerator();
    const data = randomBytes(4096);
    v.update(data);
    expect(v.toString()).to.equal(reference(data).toString());
    expect(v.constructor.name, "not the client's JavaScript CRC32C").to.not.equal(CRC32C.name);
  });
});

/**
 * Forged chains that look right by name: a certificate whose issuer name and authority key id match the real CA's,
 * but whose signature comes from a key the forger made. Only verifying each signature with the issuer's public key
 * stops it; `X509Certificate.checkIssued` compares names and key ids, which a forger copies.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CleanRoomError } from "../../src/core/errors.js";
import { type AttestationError, TrustStore, verifyAttestation, type VerifyOptions } from "../../src/runtime/verify/index.js";
import { type Chain, IMAGE, type Issued, pkiToken, productionClaims, testChains } from "./pki.js";

const run = promisify(execFile);

const AUD = "urn:attested-cleanroom:room:test";

/** openssl `-subj` form of a node subject ("O=Test\nCN=Inter" → "/O=Test/CN=Inter"). */
function subj(cert: X509Certificate): string {
  return `/${cert.subject.split("\n").filter(Boolean).join("/")}`;
}

/** A forger's workshop: openssl in a temp directory. */
class Forger {
  private n = 0;
  constructor(readonly dir: string) {}

  private ssl(args: string[]): Promise<unknown> {
    return run("openssl", args, { cwd: this.dir });
  }

  private async key(): Promise<string> {
    const file = `k${this.n++}.key`;
    await this.ssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file]);
    return file;
  }

  /** The subject key identifier of a certificate, as openssl prints it (`AB:CD:…`), or undefined. */
  private async skid(pem: string): Promise<string | undefined> {
    const file = `s${this.n++}.pem`;
    await writeFile(join(this.dir, file), pem);
    const { stdout } = (await this.ssl(["x509", "-in", file, "-noout", "-ext", "subjectKeyIdentifier"])) as { stdout: string };
    return stdout.match(/([0-9A-F]{2}(?::[0-9A-F]{2})+)/)?.[1];
  }

  /**
   * A self-signed CA with the same subject name and subject key id as `real`, under a key only the forger holds: any
   * certificate it issues names `real` as its issuer, by name and by authority key id.
   */
  async lookalikeCa(real: X509Certificate): Promise<{ cert: string; key: string }> {
    const key = await this.key();
    const skid = await this.skid(real.toString());
    const name = `f${this.n++}`;
    await writeFile(
      join(this.dir, `${name}.cnf`),
      `[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=${skid ?? "hash"}\n`,
    );
    await this.ssl(["req", "-new", "-x509", "-key", key, "-sha256", "-days", "3650", "-subj", subj(real), "-config", `${name}.cnf`, "-extensions", "ca", "-out", `${name}.pem`]);
    return { cert: `${name}.pem`, key };
  }

  /** A certificate issued by `issuer` (`inter` = CA, `leaf` = end entity, both with an authority key id). */
  async issue(cn: string, issuer: { cert: string; key: string }, profile: "inter" | "leaf"): Promise<{ cert: X509Certificate; pem: string; key: string }> {
    const key = await this.key();
    const name = `c${this.n++}`;
    await writeFile(
      join(this.dir, `${name}.cnf`),
      profile === "inter"
        ? "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        : "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    await this.ssl(["req", "-new", "-key", key, "-subj", `/O=Test/CN=${cn}`, "-out", `${name}.csr`]);
    await this.ssl([
      "x509", "-req", "-in", `${name}.csr`, "-CA", issuer.cert, "-CAkey", issuer.key, "-set_serial", String(5000 + this.n), "-sha256",
      "-days", "60", "-extfile", `${name}.cnf`, "-out", `${name}.pem`,
    ]);
    const pem = await readFile(join(this.dir, `${name}.pem`), "utf8");
    return { cert: new X509Certificate(pem), pem, key };
  }

  /** The chain [leaf, inter, root] a token signer presents; it signs with the leaf's key, which the forger holds. */
  async chainOf(leaf: { cert: X509Certificate; key: string }, inter: X509Certificate, root: X509Certificate): Promise<Chain> {
    const key = createPrivateKey(await readFile(join(this.dir, leaf.key), "utf8"));
    // Only the leaf's key signs; the CA entries carry it too because `Issued` wants one.
    const issued = (c: X509Certificate): Issued => ({ pem: c.toString(), keyPath: "", certPath: "", key, b64: c.raw.toString("base64") });
    return { leaf: issued(leaf.cert), inter: issued(inter), root: issued(root), x5c: [leaf.cert, inter, root].map((c) => c.raw.toString("base64")) };
  }
}

async function rejection(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(CleanRoomError);
    return err as AttestationError;
  }
  return expect.fail("expected the token to be refused");
}

/** The forgeries, and the verification options of a time at which all of them are valid. */
interface Forgeries {
  readonly good: Chain;
  readonly forgedLeaf: Chain;
  readonly forgedInter: Chain;
  readonly opts: VerifyOptions;
  readonly NOW: number;
}

let forged: Promise<Forgeries> | undefined;

/**
 * Forges the chains once per process (five RSA keys) and removes the forger's directory when they are made: the tests
 * use the certificates and the leaves' keys in memory only. Once per process, not per `before`: Stryker's mocha runner
 * runs a suite's `before` hooks again for every mutant its tests cover (reports/README.md, "Speed").
 */
function forgeries(): Promise<Forgeries> {
  forged ??= (async () => {
    const { good } = await testChains();
    const dir = await mkdtemp(join(tmpdir(), "verify-forged-"));
    try {
      const forger = new Forger(dir);
      const realInter = new X509Certificate(good.inter.pem);
      const realRoot = new X509Certificate(good.root.pem);
      const [fakeInter, fakeRoot] = await Promise.all([forger.lookalikeCa(realInter), forger.lookalikeCa(realRoot)]);
      const leaf = await forger.issue("Forged Leaf", fakeInter, "leaf");
      const forgedLeaf = await forger.chainOf(leaf, realInter, realRoot);
      const inter = await forger.issue("Forged Inter", fakeRoot, "inter");
      await writeFile(join(dir, "forged-inter.pem"), inter.pem);
      const leafUnderForgedInter = await forger.issue("Leaf", { cert: "forged-inter.pem", key: inter.key }, "leaf");
      const forgedInter = await forger.chainOf(leafUnderForgedInter, inter.cert, realRoot);
      const NOW = Math.floor(Date.now() / 1000) + 60;
      const opts: VerifyOptions = { audience: AUD, nonce: "n".repeat(64), trustedRoots: [good.root.pem], currentDate: new Date(NOW * 1000), policy: { imageDigests: [IMAGE] } };
      return { good, forgedLeaf, forgedInter, opts, NOW };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return forged;
}

describe("verify: chains forged under the real CA's name", function () {
  this.timeout(60_000);
  let good: Chain;
  /** [forged leaf, real intermediate, real root]: the leaf names the intermediate but the forger signed it. */
  let forgedLeaf: Chain;
  /** [leaf, forged intermediate, real root]: the intermediate names the root but the forger signed it. */
  let forgedInter: Chain;
  let opts: VerifyOptions;
  /** Set once the forged certificates exist, so all of them are valid at it. */
  let NOW: number;

  before(async () => {
    ({ good, forgedLeaf, forgedInter, opts, NOW } = await forgeries());
  });

  it("GIVEN the forgeries THEN they match the real CAs by name and key id, so only a signature check can tell them apart", () => {
    const realInter = new X509Certificate(good.inter.pem);
    const realRoot = new X509Certificate(good.root.pem);
    const leaf = new X509Certificate(Buffer.from(forgedLeaf.x5c[0]!, "base64"));
    const inter = new X509Certificate(Buffer.from(forgedInter.x5c[1]!, "base64"));
    expect(leaf.checkIssued(realInter), "the forged leaf names the real intermediate").to.equal(true);
    expect(leaf.verify(realInter.publicKey), "but is not signed by it").to.equal(false);
    expect(inter.checkIssued(realRoot), "the forged intermediate names the real root").to.equal(true);
    expect(inter.verify(realRoot.publicKey), "but is not signed by it").to.equal(false);
  });

  it("GIVEN a leaf signed by another key under the intermediate's name THEN chain naming x5c[0]", async () => {
    const err = await rejection(verifyAttestation(pkiToken(forgedLeaf, productionClaims(NOW, { aud: AUD })), opts));
    expect(err.code).to.equal("chain");
    expect(err.claim).to.equal("x5c[0]");
  });

  it("GIVEN an intermediate signed by another key under the pinned root's name THEN chain naming x5c[1]", async () => {
    const err = await rejection(verifyAttestation(pkiToken(forgedInter, productionClaims(NOW, { aud: AUD })), opts));
    expect(err.code).to.equal("chain");
    expect(err.claim).to.equal("x5c[1]");
  });

  it("GIVEN a trust store that verified the real chain WHEN the forged chains come next THEN each is still refused (nothing cached by name)", async () => {
    const store = new TrustStore([good.root.pem]);
    const { trustedRoots: _, ...withStore } = opts;
    await verifyAttestation(pkiToken(good, productionClaims(NOW, { aud: AUD })), { ...withStore, trustStore: store });
    for (const forged of [forgedLeaf, forgedInter]) {
      expect((await rejection(verifyAttestation(pkiToken(forged, productionClaims(NOW, { aud: AUD })), { ...withStore, trustStore: store }))).code).to.equal("chain");
    }
  });
});

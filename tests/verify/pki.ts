/**
 * Throwaway 3-level certificate chains for the verify tests, made with the real `openssl` binary, and a token signer
 * built on node:crypto (independent of jose, the library the code under test uses to verify).
 */
import { execFile } from "node:child_process";
import { createHmac, createPrivateKey, type KeyObject, sign, X509Certificate } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const EXT = `[inter]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[noca]
basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

/** A key and its certificate. */
export interface Issued {
  readonly pem: string;
  readonly keyPath: string;
  readonly certPath: string;
  readonly key: KeyObject;
  /** Standard base64 DER, as in `x5c`. */
  readonly b64: string;
}

/** A temp directory of keys and certificates; `cleanup()` removes it. */
export class TestPki {
  private n = 0;
  private constructor(readonly dir: string) {}

  static async create(): Promise<TestPki> {
    const dir = await mkdtemp(join(tmpdir(), "verify-pki-"));
    await writeFile(join(dir, "ext.cnf"), EXT);
    return new TestPki(dir);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private async ssl(args: string[]): Promise<void> {
    await run("openssl", args, { cwd: this.dir });
  }

  private readonly keys = new Map<string, Promise<string>>();

  /** Generates the key `keyName` once (RSA 2048, EC P-256 or EC P-384 by its `rsa-`/`ec-`/`ec384-` prefix); certificates may share it. */
  private key(keyName: string): Promise<string> {
    let k = this.keys.get(keyName);
    if (!k) {
      const file = `${keyName}.key`;
      const alg = keyName.startsWith("ec-")
        ? ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        : keyName.startsWith("ec384-")
          ? ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
          : ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
      k = this.ssl(["genpkey", ...alg, "-out", file]).then(() => file);
      this.keys.set(keyName, k);
    }
    return k;
  }

  private async load(name: string, keyFile: string): Promise<Issued> {
    const pem = await readFile(join(this.dir, `${name}.pem`), "utf8");
    const keyPem = await readFile(join(this.dir, keyFile), "utf8");
    return {
      pem,
      keyPath: join(this.dir, keyFile),
      certPath: join(this.dir, `${name}.pem`),
      key: createPrivateKey(keyPem),
      b64: new X509Certificate(pem).raw.toString("base64"),
    };
  }

  /** A self-signed CA root with key `keyName` (`rsa-…` or `ec-…`). */
  async root(cn: string, keyName: string): Promise<Issued> {
    const name = `c${this.n++}`;
    const key = await this.key(keyName);
    await this.ssl([
      "req", "-new", "-x509", "-key", key, "-sha256", "-days", "3650", "-subj", `/O=Test/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", `${name}.pem`,
    ]);
    return this.load(name, key);
  }

  /**
   * A certificate for key `keyName` issued by `issuer`, valid from now for `days` (`inter` = CA, `leaf` = end entity,
   * `noca` = CA:FALSE without keyUsage, which OpenSSL's issuer check alone lets sign certificates).
   */
  async issue(cn: string, keyName: string, issuer: Issued, profile: "inter" | "leaf" | "noca", days: number): Promise<Issued> {
    const name = `c${this.n++}`;
    const key = await this.key(keyName);
    await this.ssl(["req", "-new", "-key", key, "-subj", `/O=Test/CN=${cn}`, "-out", `${name}.csr`]);
    await this.ssl([
      "x509", "-req", "-in", `${name}.csr`, "-CA", issuer.certPath, "-CAkey", issuer.keyPath, "-set_serial", String(1000 + this.n), "-sha256",
      "-days", String(days), "-extfile", "ext.cnf", "-extensions", profile, "-out", `${name}.pem`,
    ]);
    return this.load(name, key);
  }
}

/** A chain [leaf, intermediate, root] as a token signer uses it. */
export interface Chain {
  readonly root: Issued;
  readonly inter: Issued;
  readonly leaf: Issued;
  readonly x5c: string[];
}

export function chainOf(leaf: Issued, inter: Issued, root: Issued): Chain {
  return { root, inter, leaf, x5c: [leaf.b64, inter.b64, root.b64] };
}

const b64url = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/**
 * The certificate `b64` (standard base64 DER, RSA-2048 signed) with `edit` applied to its to-be-signed part, then
 * signed again by `key` (RSA-2048): a certificate no CA tool makes (an unreadable validity date, a root named as its
 * own issuer but signed by another key). `edit` must keep every length.
 */
export function resigned(b64: string, key: KeyObject, edit: (tbs: Buffer) => void = () => undefined): string {
  const der = Buffer.from(b64, "base64");
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm, signatureValue BIT STRING }: at this size
  // both SEQUENCEs have two-byte lengths, and an RSA-2048 signature is the last 256 bytes.
  if (der[1] !== 0x82 || der[4] !== 0x30 || der[5] !== 0x82) throw new Error("resigned: expected a DER certificate of 256 to 65535 bytes");
  const tbs = der.subarray(4, 8 + der.readUInt16BE(6));
  edit(tbs);
  const sig = sign("sha256", tbs, key);
  if (sig.length !== 256) throw new Error("resigned: expected an RSA-2048 signing key");
  sig.copy(der, der.length - 256);
  return der.toString("base64");
}

const UTC_TIME_HEADER = Buffer.from([0x17, 0x0d]);

/** Sets the `which` (0: notBefore, 1: notAfter) UTCTime of a to-be-signed certificate to `value` (13 characters). */
export function setUtcTime(tbs: Buffer, which: 0 | 1, value: string): void {
  // A UTCTime is tag 0x17, length 13, then YYMMDDHHMMSSZ.
  const starts: number[] = [];
  for (let i = tbs.indexOf(UTC_TIME_HEADER); i !== -1; i = tbs.indexOf(UTC_TIME_HEADER, i + 1)) {
    if (/^\d{12}Z$/.test(tbs.toString("latin1", i + 2, i + 15))) starts.push(i + 2);
  }
  if (starts.length !== 2 || value.length !== 13) throw new Error("setUtcTime: expected two UTCTimes and a 13-character value");
  tbs.write(value, starts[which]!, "latin1");
}

/** Standard base64 DER as a PEM certificate. */
export function pemOf(b64: string): string {
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

/** Signs a compact JWS by hand: RS256, ES256 (raw r||s), HS256 with a given secret, or `none`. */
export function signToken(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject | Buffer | null): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const alg = header.alg;
  let sig: Buffer;
  if (alg === "none") sig = Buffer.alloc(0);
  else if (alg === "HS256") sig = createHmac("sha256", key as Buffer).update(input).digest();
  else if (alg === "ES256") sig = sign("sha256", Buffer.from(input), { key: key as KeyObject, dsaEncoding: "ieee-p1363" });
  else sig = sign("sha256", Buffer.from(input), key as KeyObject);
  return `${input}.${sig.toString("base64url")}`;
}

/** Signs `payload` with the chain's leaf, `x5c` in the header. */
export function pkiToken(chain: Chain, payload: Record<string, unknown>, alg: "RS256" | "ES256" = "RS256", extraHeader: Record<string, unknown> = {}): string {
  return signToken({ alg, typ: "JWT", x5c: chain.x5c, ...extraHeader }, payload, chain.leaf.key);
}

export { IMAGE, JOB, OTHER_IMAGE, productionClaims } from "./production-claims.js";

/** The chains every verify test uses. */
export interface TestChains {
  /** RSA: root → inter → leaf. */
  readonly good: Chain;
  /** RSA chain under a root nobody trusts. */
  readonly elsewhere: Chain;
  /** The leaf of `elsewhere` presented under `good`'s intermediate and root. */
  readonly foreignLeaf: Chain;
  /** Intermediate valid one day, leaf 60 days, under `good`'s root. */
  readonly shortInter: Chain;
  /** EC P-256, as the local backend makes it. */
  readonly local: Chain;
  /** An EC leaf under `good`'s RSA intermediate (algorithm confusion). */
  readonly mixed: Chain;
  /** An EC P-384 leaf under `local`'s intermediate: EC, but not the curve ES256 names. */
  readonly localP384: Chain;
}

let shared: Promise<TestChains> | undefined;

/**
 * A test clock (seconds) derived from the chains themselves: one minute after the last certificate became valid, so
 * inside every certificate's validity (the shortest, `shortInter`, lasts a day) whenever the chains were made. The
 * chains are made on the first `testChains()` call of the whole run, which can be minutes after a file loads: a clock
 * taken from load time would come before the certificates exist ("not valid before").
 */
export function clockOf(chains: TestChains): number {
  const all = Object.values(chains).flatMap((c: Chain) => [c.leaf, c.inter, c.root]);
  const latest = Math.max(...all.map((i) => Date.parse(new X509Certificate(i.pem).validFrom)));
  return Math.floor(latest / 1000) + 60;
}

/**
 * Makes the chains once per mocha process (all test files share it; key generation dominates the suite's time) and
 * removes the directory when the process exits.
 */
export function testChains(): Promise<TestChains> {
  shared ??= (async () => {
    const pki = await TestPki.create();
    process.once("exit", () => rmSync(pki.dir, { recursive: true, force: true }));
    // Five RSA keys in all: certificates that need not differ in key share one.
    const [root, otherRoot, ecRoot] = await Promise.all([pki.root("Root", "rsa-root"), pki.root("Other Root", "rsa-other-ca"), pki.root("Local Root", "ec-root")]);
    const [inter, otherInter, short, ecInter] = await Promise.all([
      pki.issue("Inter", "rsa-inter", root, "inter", 3650),
      pki.issue("Other Inter", "rsa-other-ca", otherRoot, "inter", 3650),
      pki.issue("Short Inter", "rsa-inter", root, "inter", 1),
      pki.issue("Local Inter", "ec-inter", ecRoot, "inter", 3650),
    ]);
    const [leaf, otherLeaf, shortLeaf, ecLeaf, ecUnderRsa, p384Leaf] = await Promise.all([
      pki.issue("Leaf", "rsa-leaf", inter, "leaf", 60),
      pki.issue("Other Leaf", "rsa-other-leaf", otherInter, "leaf", 60),
      pki.issue("Short Leaf", "rsa-leaf", short, "leaf", 60),
      pki.issue("Local Leaf", "ec-leaf", ecInter, "leaf", 60),
      pki.issue("EC Leaf", "ec-leaf", inter, "leaf", 60),
      pki.issue("P-384 Leaf", "ec384-leaf", ecInter, "leaf", 60),
    ]);
    return {
      good: chainOf(leaf, inter, root),
      elsewhere: chainOf(otherLeaf, otherInter, otherRoot),
      foreignLeaf: chainOf(otherLeaf, inter, root),
      shortInter: chainOf(shortLeaf, short, root),
      local: chainOf(ecLeaf, ecInter, ecRoot),
      mixed: chainOf(ecUnderRsa, inter, root),
      localP384: chainOf(p384Leaf, ecInter, ecRoot),
    };
  })();
  return shared;
}

// Start making the chains as soon as a test file imports this module (when mocha loads the files): their certificates
// are valid from the moment they are issued, and tests date their tokens from load time (token.test.ts: load + 120 s),
// which a long suite would otherwise outrun before the first test asks for the chains. Failures surface to the callers.
testChains().catch(() => undefined);

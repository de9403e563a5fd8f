/**
 * The local attestation service's 3-certificate chain (root → intermediate → leaf, ECDSA P-256), made at
 * `cleanroom local up` with `openssl`. The shape matches Confidential Space PKI tokens (`x5c` of exactly three
 * certificates) so the same verifier code runs, but the root is this room's own: no production verifier trusts it.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CleanRoomError, messageOf } from "../../../core/errors.js";

const run = promisify(execFile);

/** The files of a local PKI. */
export interface LocalPki {
  /** PEM of the root certificate (goes into `descriptor.attestation.trustedRoots`). */
  readonly rootPem: string;
  /** PEM of the leaf's private key (PKCS#8). */
  readonly leafKeyPem: string;
  /** `x5c` header value: standard base64 DER of [leaf, intermediate, root]. */
  readonly x5c: readonly [string, string, string];
}

const EXT = `[root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[inter]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    throw new CleanRoomError(
      "io-error",
      `openssl ${args[0]} failed while creating the local attestation chain: ${messageOf(err)}. Is openssl installed?`,
      { cause: err },
    );
  }
}

function der64(pem: string): string {
  return new X509Certificate(pem).raw.toString("base64");
}

/**
 * Creates the chain under `pkiDir` (0700; private keys 0600) and returns it.
 *
 * @param roomName goes into the subjects, so a person reading a token sees which room signed it
 */
export async function createLocalPki(pkiDir: string, roomName: string): Promise<LocalPki> {
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  await chmod(pkiDir, 0o700);
  await writeFile(join(pkiDir, "ext.cnf"), EXT, { mode: 0o600 });
  const subj = (cn: string) => `/O=Attested Clean Room (local, not a TEE)/OU=${roomName.replace(/[/=]/g, "-")}/CN=${cn}`;
  for (const k of ["root", "inter", "leaf"]) {
    await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${k}.key`], pkiDir);
    // The signing keys are the local stand-in for the attester's hardware root: nobody else may read them.
    await chmod(join(pkiDir, `${k}.key`), 0o600);
  }
  await openssl(
    ["req", "-new", "-x509", "-key", "root.key", "-sha256", "-days", "3650", "-subj", subj("Local Attestation Root CA"), "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem"],
    pkiDir,
  );
  await openssl(["req", "-new", "-key", "inter.key", "-subj", subj("Local Attestation Intermediate CA"), "-out", "inter.csr"], pkiDir);
  await openssl(
    ["x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-sha256", "-days", "1825", "-extfile", "ext.cnf", "-extensions", "inter", "-out", "inter.pem"],
    pkiDir,
  );
  await openssl(["req", "-new", "-key", "leaf.key", "-subj", subj("Local Attestation Leaf"), "-out", "leaf.csr"], pkiDir);
  await openssl(
    ["x509", "-req", "-in", "leaf.csr", "-CA", "inter.pem", "-CAkey", "inter.key", "-CAcreateserial", "-sha256", "-days", "365", "-extfile", "ext.cnf", "-extensions", "leaf", "-out", "leaf.pem"],
    pkiDir,
  );
  await openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-out", "leaf.pk8"], pkiDir);
  await chmod(join(pkiDir, "leaf.pk8"), 0o600);
  return loadLocalPki(pkiDir);
}

/** Loads a chain made by `createLocalPki`. */
export async function loadLocalPki(pkiDir: string): Promise<LocalPki> {
  try {
    const [root, inter, leaf, leafKeyPem] = await Promise.all(
      ["root.pem", "inter.pem", "leaf.pem", "leaf.pk8"].map((f) => readFile(join(pkiDir, f), "utf8")),
    );
    return { rootPem: root!, leafKeyPem: leafKeyPem!, x5c: [der64(leaf!), der64(inter!), der64(root!)] };
  } catch (err) {
    throw new CleanRoomError("io-error", `Cannot load the local attestation chain from ${pkiDir}: ${messageOf(err)}`, { cause: err });
  }
}

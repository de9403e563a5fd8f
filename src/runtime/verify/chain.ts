/**
 * PKI tokens: the `x5c` chain [leaf, intermediate, root] checked against pinned roots, and a bounded cache of chains
 * already verified.
 */
import { type KeyObject, X509Certificate } from "node:crypto";
import { messageOf, throwIfProblems } from "../../core/errors.js";
import { AttestationError } from "./errors.js";

/** How long a verified chain stays cached, and how many are kept. */
export interface TrustStoreOptions {
  /** Milliseconds a verified chain is reused before it is checked again from scratch. @default 600000 (10 minutes) */
  readonly ttlMs?: number;
  /** Most chains kept; the oldest is dropped first. @default 64 */
  readonly maxEntries?: number;
  /** Wall clock for the cache lifetime (tests). Certificate validity always uses the verification time. @default Date.now */
  readonly now?: () => number;
}

/** One certificate's role and validity window, kept so a cached chain is still checked at every verification time. */
interface Window {
  readonly role: "leaf" | "intermediate" | "root";
  readonly subject: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** A chain that passed every structural check; only its validity windows depend on the verification time. */
export interface VerifiedChain {
  /** The leaf certificate's public key, which must verify the token. */
  readonly leafKey: KeyObject;
  /** Subjects of leaf, intermediate, root. */
  readonly subjects: readonly [string, string, string];
  readonly windows: readonly Window[];
}

interface HeaderEntry {
  readonly header: Readonly<Record<string, unknown>>;
  readonly chain?: VerifiedChain;
  readonly cachedUntil: number;
}

interface Entry {
  readonly chain: VerifiedChain;
  readonly cachedUntil: number;
}

const ROLES = ["leaf", "intermediate", "root"] as const;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DEFAULT_TTL_MS = 10 * 60_000;
const DEFAULT_MAX_ENTRIES = 64;

function oneLine(subject: string): string {
  // Node prints one RDN per line, control characters escaped, no trailing newline: no empty piece to drop.
  return subject.split("\n").join(", ");
}

function certDate(value: string, what: string): number {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new AttestationError("malformed", `${what} has an unreadable validity date (${value})`, { claim: what });
  return t;
}

/** Parses a PEM certificate, or returns a problem. */
function parseRoot(pem: string, i: number): X509Certificate | string {
  if (typeof pem !== "string" || !pem.includes("BEGIN CERTIFICATE")) return `trustedRoots[${i}] must be a PEM certificate`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    return `trustedRoots[${i}] is not a readable certificate: ${messageOf(err)}`;
  }
  if (!cert.ca) return `trustedRoots[${i}] (${oneLine(cert.subject)}) is not a CA certificate`;
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    return `trustedRoots[${i}] (${oneLine(cert.subject)}) is not self-signed: pin the root, not an intermediate`;
  }
  return cert;
}

/**
 * The roots a verifier trusts for PKI tokens, plus a cache of chains it already verified.
 *
 * Pass one `TrustStore` to many `verifyAttestation` calls (option `trustStore`) to skip re-verifying the same
 * certificate chain: Google's leaf certificates live about 60 days, so consecutive tokens share their chain. The cache
 * is an explicit object with a bounded lifetime and size; nothing is cached behind the caller's back.
 *
 * @example
 * const store = new TrustStore([CONFIDENTIAL_SPACE_ROOT_PEM]);
 * const claims = await verifyAttestation(token, { audience, trustStore: store });
 */
export class TrustStore {
  /** The pinned roots, parsed. */
  readonly roots: readonly X509Certificate[];
  private readonly rootDer: readonly Buffer[];
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, Entry>();
  private readonly headers = new Map<string, HeaderEntry>();
  private last: { readonly segment: string; readonly entry: HeaderEntry } | undefined;
  private hits = 0;
  private misses = 0;

  /**
   * @param roots PEM root certificates; each must be a self-signed CA certificate
   * @throws CleanRoomError `invalid-argument` listing every unusable root or option
   */
  constructor(roots: readonly string[], options: TrustStoreOptions = {}) {
    const problems: string[] = [];
    const parsed: X509Certificate[] = [];
    if (!Array.isArray(roots) || roots.length === 0) problems.push("trustedRoots must list at least one PEM root certificate");
    else
      roots.forEach((pem, i) => {
        const r = parseRoot(pem, i);
        if (typeof r === "string") problems.push(r);
        else parsed.push(r);
      });
    const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
    const max = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 24 * 3_600_000) problems.push("ttlMs must be an integer between 0 and 86400000");
    if (!Number.isInteger(max) || max < 0 || max > 10_000) problems.push("maxEntries must be an integer between 0 and 10000");
    throwIfProblems("invalid-argument", "trust store", problems);
    this.roots = parsed;
    this.rootDer = parsed.map((c) => c.raw);
    this.ttlMs = ttl;
    this.maxEntries = max;
    this.now = options.now ?? Date.now;
  }

  /** Number of chains currently cached. */
  get size(): number {
    return this.cache.size;
  }

  /** Cache hits (chain reused) and misses (chain verified from scratch) since construction. */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  /** Forgets every cached chain and header (the roots stay). */
  clear(): void {
    this.cache.clear();
    this.headers.clear();
    this.last = undefined;
  }

  /**
   * Resolves a token's protected header segment to its parsed header and verified chain, reusing both for an
   * identical segment (a PKI header is about 14 KB of base64url, and consecutive tokens of one VM carry the same one).
   *
   * `parse` runs only on a miss; `check` (header rules that depend on the caller's options, e.g. the allowed `alg`)
   * runs on every call, before the chain is used; certificate validity is checked at `at` on every call.
   *
   * @returns the header, and the chain when the header has `x5c`
   */
  resolveHeader(
    segment: string,
    at: Date,
    parse: (segment: string) => Readonly<Record<string, unknown>>,
    check: (header: Readonly<Record<string, unknown>>) => void,
  ): { readonly header: Readonly<Record<string, unknown>>; readonly chain?: VerifiedChain } {
    const now = this.now();
    // Most recent segment first: `===` on an identical 14 KB string is a memcmp, cheaper than hashing it for the Map.
    const last = this.last;
    const hit = last !== undefined && last.segment === segment ? last.entry : this.headers.get(segment);
    if (hit && hit.cachedUntil > now) {
      this.last = { segment, entry: hit };
      check(hit.header);
      if (hit.chain) {
        this.hits++;
        checkWindows(hit.chain.windows, at);
        return hit;
      }
      return { header: hit.header };
    }
    if (hit) {
      // Forgotten in both places: `last` only ever holds an entry `headers` holds too.
      this.headers.delete(segment);
      this.last = undefined;
    }
    const header = Object.freeze(parse(segment));
    check(header);
    let chain: VerifiedChain | undefined;
    if (header.x5c !== undefined) {
      chain = this.verifyChain(header.x5c, at);
    }
    if (this.maxEntries > 0 && this.ttlMs > 0) {
      evictOldest(this.headers, this.maxEntries);
      const entry = { header, cachedUntil: now + this.ttlMs, ...(chain ? { chain } : {}) };
      this.headers.set(segment, entry);
      this.last = { segment, entry };
    }
    return chain ? { header, chain } : { header };
  }

  /**
   * Verifies an `x5c` header at time `at` and returns the leaf key.
   *
   * @throws AttestationError `chain`, `malformed`, `untrusted-root`, `expired` or `not-yet-valid`
   */
  verifyChain(x5c: unknown, at: Date): VerifiedChain {
    if (!Array.isArray(x5c) || x5c.length !== 3 || !x5c.every((c) => typeof c === "string")) {
      const got = Array.isArray(x5c) ? `${x5c.length} entries` : typeof x5c;
      throw new AttestationError(
        "chain",
        `x5c must hold exactly 3 certificates [leaf, intermediate, root] (got ${got}); a Confidential Space PKI token always does`,
        { claim: "x5c" },
      );
    }
    // The joined DER itself is the key (about 10 KB; at most maxEntries of them): no hash to compute per call.
    const key = x5c.join(".");
    const now = this.now();
    const hit = this.cache.get(key);
    let chain: VerifiedChain;
    if (hit && hit.cachedUntil > now) {
      this.hits++;
      chain = hit.chain;
    } else {
      this.misses++;
      if (hit) this.cache.delete(key);
      chain = this.verifyFresh(x5c as string[]);
      if (this.maxEntries > 0 && this.ttlMs > 0) {
        evictOldest(this.cache, this.maxEntries);
        this.cache.set(key, { chain, cachedUntil: now + this.ttlMs });
      }
    }
    checkWindows(chain.windows, at);
    return chain;
  }

  private verifyFresh(x5c: readonly string[]): VerifiedChain {
    const certs = x5c.map((b64, i) => {
      // x5c is standard base64 (RFC 7515 §4.1.6), not base64url: anything else is not what the attester emits.
      if (!BASE64.test(b64)) throw new AttestationError("malformed", `x5c[${i}] (${ROLES[i]}) is not standard base64 DER`, { claim: `x5c[${i}]` });
      try {
        return new X509Certificate(Buffer.from(b64, "base64"));
      } catch (err) {
        throw new AttestationError("malformed", `x5c[${i}] (${ROLES[i]}) is not a readable X.509 certificate: ${messageOf(err)}`, {
          cause: err,
          claim: `x5c[${i}]`,
        });
      }
    });
    const [leaf, inter, root] = certs as [X509Certificate, X509Certificate, X509Certificate];
    // Byte equality with a pinned root: a chain to any other CA (even a valid public one) proves nothing about Google.
    if (!this.rootDer.some((der) => der.equals(root.raw))) {
      throw new AttestationError(
        "untrusted-root",
        `x5c[2] (${oneLine(root.subject)}, SHA-1 ${root.fingerprint}) is not one of the ${this.rootDer.length} trusted root(s); ` +
          "expected the pinned Confidential Space root (or the root given in trustedRoots)",
        { claim: "x5c[2]" },
      );
    }
    if (!inter.checkIssued(root) || !inter.verify(root.publicKey)) {
      throw new AttestationError("chain", `x5c[1] (${oneLine(inter.subject)}) is not issued by the trusted root ${oneLine(root.subject)}`, {
        claim: "x5c[1]",
      });
    }
    if (!leaf.checkIssued(inter) || !leaf.verify(inter.publicKey)) {
      throw new AttestationError("chain", `x5c[0] (${oneLine(leaf.subject)}) is not issued by the intermediate ${oneLine(inter.subject)}`, {
        claim: "x5c[0]",
      });
    }
    // CA flags: a leaf that is a CA, or an intermediate that is not, is not the shape Google issues. The root needs no
    // check here: it is byte for byte a pinned root, and the constructor refused every pinned root that is not a CA.
    if (!inter.ca) throw new AttestationError("chain", `x5c[1] (${oneLine(inter.subject)}) is not a CA certificate (basicConstraints CA:TRUE expected)`, { claim: "x5c[1]" });
    if (leaf.ca) throw new AttestationError("chain", `x5c[0] (${oneLine(leaf.subject)}) is a CA certificate; a signing leaf expected`, { claim: "x5c[0]" });
    const windows = certs.map((c, i) => ({
      role: ROLES[i]!,
      subject: oneLine(c.subject),
      notBefore: certDate(c.validFrom, `x5c[${i}]`),
      notAfter: certDate(c.validTo, `x5c[${i}]`),
    }));
    return {
      leafKey: leaf.publicKey,
      subjects: [windows[0]!.subject, windows[1]!.subject, windows[2]!.subject],
      windows,
    };
  }
}

/** Bounded caches: the oldest insertion goes first, so a flood of distinct chains cannot grow memory. */
function evictOldest<V>(map: Map<string, V>, max: number): void {
  while (map.size >= max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}

function checkWindows(windows: readonly Window[], at: Date): void {
  const t = at.getTime();
  windows.forEach((w, i) => {
    if (t < w.notBefore) {
      throw new AttestationError(
        "not-yet-valid",
        `x5c[${i}] (${w.role}: ${w.subject}) is not valid before ${new Date(w.notBefore).toISOString()} (verification time ${at.toISOString()})`,
        { claim: `x5c[${i}]` },
      );
    }
    if (t > w.notAfter) {
      throw new AttestationError(
        "expired",
        `x5c[${i}] (${w.role}: ${w.subject}) expired at ${new Date(w.notAfter).toISOString()} (verification time ${at.toISOString()})`,
        { claim: `x5c[${i}]` },
      );
    }
  });
}

/** Builds a throwaway store for one call (no caching across calls). */
export function storeFor(roots: readonly string[]): TrustStore {
  return new TrustStore(roots, { maxEntries: 0 });
}

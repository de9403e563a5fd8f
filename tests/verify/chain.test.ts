/**
 * TrustStore on its own (verify/chain.ts): which roots it pins, which x5c chains it refuses and names, the validity
 * windows at their exact edges, and the cache (what a hit may skip and what it may not). Chains are EC P-256, made
 * once with openssl for this file (fast keys); the RSA chains come from the shared test PKI.
 */
import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { AttestationError, TrustStore } from "../../src/runtime/verify/index.js";
import { storeFor } from "../../src/runtime/verify/chain.js";
import { type Chain, chainOf, pemOf, resigned, setUtcTime, TestPki, testChains } from "./pki.js";
import { thrown } from "../thrown.js";

function attestationError(f: () => unknown, code: string, claim: string): AttestationError {
  const err = thrown(f);
  expect(err, err.message).to.be.instanceOf(AttestationError);
  expect(err.code, err.message).to.equal(code);
  expect((err as AttestationError).claim, err.message).to.equal(claim);
  return err as AttestationError;
}

const windowOf = (pem: string) => {
  const c = new X509Certificate(pem);
  return { from: Date.parse(c.validFrom), to: Date.parse(c.validTo) };
};

/** This file's chains: EC P-256 (and the shared RSA ones), and a time inside every certificate's window. */
interface Fixture {
  readonly ec: Chain;
  readonly interNotCa: Chain;
  readonly leafIsCa: Chain;
  readonly second: Chain;
  readonly rsa: Chain;
  readonly mixed: Chain;
  readonly at: Date;
}

let made: Promise<Fixture> | undefined;

/**
 * Makes the chains once per process (about a dozen openssl runs) and removes their directory when they are made: the
 * tests use the certificates and keys in memory only. Once per process, not per `before`: Stryker's mocha runner runs
 * a suite's `before` hooks again for every mutant its tests cover (reports/README.md, "Speed").
 */
function fixture(): Promise<Fixture> {
  made ??= (async () => {
    const pki = await TestPki.create();
    try {
      const root = await pki.root("EC Root", "ec-root");
      const [inter, plainInter, otherRoot] = await Promise.all([
        pki.issue("EC Inter", "ec-inter", root, "inter", 3650),
        pki.issue("Plain Inter", "ec-inter", root, "noca", 3650),
        pki.root("Second Root", "ec-second"),
      ]);
      const [leaf, underPlain, caLeaf, otherInter] = await Promise.all([
        pki.issue("EC Leaf", "ec-leaf", inter, "leaf", 60),
        pki.issue("Under Plain", "ec-leaf", plainInter, "leaf", 60),
        pki.issue("CA Leaf", "ec-leaf", inter, "inter", 60),
        pki.issue("Second Inter", "ec-inter", otherRoot, "inter", 3650),
      ]);
      const otherLeaf = await pki.issue("Second Leaf", "ec-leaf", otherInter, "leaf", 60);
      const ec = chainOf(leaf, inter, root);
      const interNotCa = chainOf(underPlain, plainInter, root);
      const leafIsCa = chainOf(caLeaf, inter, root);
      const second = chainOf(otherLeaf, otherInter, otherRoot);
      const { good: rsa, mixed } = await testChains();
      // Inside every certificate's window, whenever they were made.
      const at = new Date(Math.max(...[ec, interNotCa, leafIsCa, second].flatMap((c) => [c.leaf, c.inter, c.root]).map((i) => windowOf(i.pem).from)) + 60_000);
      return { ec, interNotCa, leafIsCa, second, rsa, mixed, at };
    } finally {
      await pki.cleanup();
    }
  })();
  return made;
}

describe("verify/chain: TrustStore", function () {
  this.timeout(60_000);
  let ec: Chain;
  let interNotCa: Chain;
  let leafIsCa: Chain;
  let second: Chain;
  let rsa: Chain;
  let mixed: Chain;
  let at: Date;

  before(async () => {
    ({ ec, interNotCa, leafIsCa, second, rsa, mixed, at } = await fixture());
  });

  describe("the pinned roots and options", () => {
    it("GIVEN no roots, an empty list, a non-PEM value or unreadable PEM THEN invalid-argument naming the root", () => {
      expect(thrown(() => new TrustStore([])).problems).to.deep.equal(["trustedRoots must list at least one PEM root certificate"]);
      expect(thrown(() => new TrustStore(undefined as unknown as string[])).code).to.equal("invalid-argument");
      expect(thrown(() => new TrustStore([42 as unknown as string])).problems).to.deep.equal(["trustedRoots[0] must be a PEM certificate"]);
      expect(thrown(() => new TrustStore([ec.root.b64])).problems).to.deep.equal(["trustedRoots[0] must be a PEM certificate"]);
      const garbled = thrown(() => new TrustStore([ec.root.pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]));
      expect(garbled.code).to.equal("invalid-argument");
      expect(garbled.problems).to.have.length(1);
      expect(garbled.problems[0]).to.match(/^trustedRoots\[1\] is not a readable certificate: /);
      expect(garbled.message).to.include("trust store");
    });

    it("GIVEN a root that is not a CA, or an intermediate (not self-signed) THEN invalid-argument saying which", () => {
      expect(thrown(() => new TrustStore([ec.leaf.pem])).problems).to.deep.equal(["trustedRoots[0] (O=Test, CN=EC Leaf) is not a CA certificate"]);
      expect(thrown(() => new TrustStore([ec.inter.pem])).problems).to.deep.equal([
        "trustedRoots[0] (O=Test, CN=EC Inter) is not self-signed: pin the root, not an intermediate",
      ]);
    });

    it("GIVEN a CA root named as its own issuer but signed by another key THEN invalid-argument: not self-signed", () => {
      const forged = pemOf(resigned(rsa.root.b64, rsa.inter.key));
      expect(new X509Certificate(forged).checkIssued(new X509Certificate(forged)), "named as its own issuer").to.equal(true);
      expect(thrown(() => new TrustStore([forged])).problems).to.deep.equal(["trustedRoots[0] (O=Test, CN=Root) is not self-signed: pin the root, not an intermediate"]);
    });

    it("GIVEN ttlMs and maxEntries at their bounds THEN accepted; beyond them or fractional THEN invalid-argument naming the option", () => {
      for (const o of [{ ttlMs: 0 }, { ttlMs: 86_400_000 }, { maxEntries: 0 }, { maxEntries: 10_000 }]) {
        expect(() => new TrustStore([ec.root.pem], o), JSON.stringify(o)).not.to.throw();
      }
      for (const [o, name] of [
        [{ ttlMs: -1 }, "ttlMs"],
        [{ ttlMs: 86_400_001 }, "ttlMs"],
        [{ ttlMs: 1.5 }, "ttlMs"],
        [{ maxEntries: -1 }, "maxEntries"],
        [{ maxEntries: 10_001 }, "maxEntries"],
        [{ maxEntries: 2.5 }, "maxEntries"],
      ] as const) {
        const err = thrown(() => new TrustStore([ec.root.pem], o));
        expect(err.problems, JSON.stringify(o)).to.have.length(1);
        expect(err.problems[0]).to.match(new RegExp(`^${name} must be an integer between 0 and `));
      }
    });

    it("GIVEN two pinned roots THEN a chain under either verifies, and the subjects come back one line each", () => {
      const store = new TrustStore([ec.root.pem, second.root.pem], { maxEntries: 0 });
      expect(store.roots).to.have.length(2);
      expect(store.verifyChain(second.x5c, at).subjects).to.deep.equal(["O=Test, CN=Second Leaf", "O=Test, CN=Second Inter", "O=Test, CN=Second Root"]);
      expect(store.verifyChain(ec.x5c, at).subjects).to.deep.equal(["O=Test, CN=EC Leaf", "O=Test, CN=EC Inter", "O=Test, CN=EC Root"]);
    });
  });

  describe("chains it refuses", () => {
    it("GIVEN x5c that is not a list of 3 strings THEN chain naming x5c", () => {
      const store = storeFor([ec.root.pem]);
      for (const x5c of ["abc", [ec.leaf.b64, ec.inter.b64], [ec.leaf.b64, ec.inter.b64, 3], [...ec.x5c, ec.root.b64]]) {
        const err = attestationError(() => store.verifyChain(x5c, at), "chain", "x5c");
        expect(err.message).to.include(Array.isArray(x5c) ? `got ${x5c.length} entries` : "got string");
      }
    });

    it("GIVEN an entry in base64url, or base64 that is not a certificate THEN malformed naming that entry", () => {
      const store = storeFor([ec.root.pem]);
      const url = ec.inter.b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      expect(url, "the fixture has base64-only characters").not.to.equal(ec.inter.b64);
      attestationError(() => store.verifyChain([ec.leaf.b64, url, ec.root.b64], at), "malformed", "x5c[1]");
      attestationError(() => store.verifyChain([ec.leaf.b64, ec.inter.b64, "AAAA"], at), "malformed", "x5c[2]");
    });

    it("GIVEN a chain to a root that is not pinned THEN untrusted-root naming x5c[2]", () => {
      attestationError(() => storeFor([ec.root.pem]).verifyChain(second.x5c, at), "untrusted-root", "x5c[2]");
    });

    it("GIVEN an intermediate without the CA flag (though it signed the leaf) THEN chain naming x5c[1]", () => {
      attestationError(() => storeFor([ec.root.pem]).verifyChain(interNotCa.x5c, at), "chain", "x5c[1]");
    });

    it("GIVEN a leaf that is a CA certificate THEN chain naming x5c[0]", () => {
      attestationError(() => storeFor([ec.root.pem]).verifyChain(leafIsCa.x5c, at), "chain", "x5c[0]");
    });
  });

  describe("validity windows", () => {
    it("GIVEN a leaf whose notBefore or notAfter is not a readable time (signed by the intermediate) THEN malformed naming x5c[0], never valid", () => {
      const store = storeFor([rsa.root.pem]);
      const w = windowOf(rsa.leaf.pem);
      for (const which of [0, 1] as const) {
        const leaf = resigned(rsa.leaf.b64, rsa.inter.key, (tbs) => setUtcTime(tbs, which, "261301000000Z"));
        const err = attestationError(() => store.verifyChain([leaf, rsa.inter.b64, rsa.root.b64], new Date(w.from + 60_000)), "malformed", "x5c[0]");
        expect(err.message).to.match(/^x5c\[0\] has an unreadable validity date/);
      }
    });


    it("GIVEN the exact second a certificate becomes valid, and the exact second it expires THEN valid at both", () => {
      const store = storeFor([ec.root.pem]);
      const leaf = windowOf(ec.leaf.pem);
      const inter = windowOf(ec.inter.pem);
      expect(leaf.from, "the leaf is the newest certificate").to.be.at.least(inter.from);
      expect(() => store.verifyChain(ec.x5c, new Date(leaf.from))).not.to.throw();
      expect(() => store.verifyChain(ec.x5c, new Date(leaf.to))).not.to.throw();
    });

    it("GIVEN a time just before the leaf's window or just after it THEN not-yet-valid / expired naming x5c[0]", () => {
      const store = storeFor([ec.root.pem]);
      const leaf = windowOf(ec.leaf.pem);
      attestationError(() => store.verifyChain(ec.x5c, new Date(leaf.from - 1)), "not-yet-valid", "x5c[0]");
      attestationError(() => store.verifyChain(ec.x5c, new Date(leaf.to + 1)), "expired", "x5c[0]");
    });
  });

  describe("the cache", () => {
    it("GIVEN a cached chain WHEN its entries are re-split so they join to the same text THEN not a cache hit: verified, and refused", () => {
      const store = new TrustStore([ec.root.pem]);
      store.verifyChain(ec.x5c, at);
      const [leaf, inter, root] = ec.x5c as [string, string, string];
      const resplit = [leaf + inter.slice(0, 4), inter.slice(4), root];
      expect(() => store.verifyChain(resplit, at)).to.throw(AttestationError);
      expect(store.stats).to.deep.equal({ hits: 0, misses: 2 });
    });

    it("GIVEN a ttl WHEN verified again before it ends THEN a hit; at the exact end THEN verified afresh", () => {
      let wall = 5_000;
      const store = new TrustStore([ec.root.pem], { ttlMs: 1000, now: () => wall });
      store.verifyChain(ec.x5c, at);
      wall = 5_999;
      store.verifyChain(ec.x5c, at);
      expect(store.stats).to.deep.equal({ hits: 1, misses: 1 });
      wall = 6_000;
      store.verifyChain(ec.x5c, at);
      expect(store.stats).to.deep.equal({ hits: 1, misses: 2 });
      expect(store.size).to.equal(1);
    });

    it("GIVEN maxEntries 0 or ttlMs 0 THEN nothing is cached; a throwaway store (storeFor) caches nothing either", () => {
      for (const store of [new TrustStore([ec.root.pem], { maxEntries: 0 }), new TrustStore([ec.root.pem], { ttlMs: 0 }), storeFor([ec.root.pem])]) {
        store.verifyChain(ec.x5c, at);
        store.verifyChain(ec.x5c, at);
        expect(store.size).to.equal(0);
        expect(store.stats).to.deep.equal({ hits: 0, misses: 2 });
      }
    });

    it("GIVEN a chain re-verified after its ttl THEN it counts as the newest: a full cache drops the oldest other chain, not it", () => {
      let wall = 0;
      const store = new TrustStore([ec.root.pem, second.root.pem, rsa.root.pem], { ttlMs: 1000, maxEntries: 3, now: () => wall });
      const when = new Date(Math.max(...[ec, second, rsa, mixed].flatMap((c) => [c.leaf, c.inter, c.root]).map((i) => windowOf(i.pem).from)) + 60_000);
      store.verifyChain(ec.x5c, when);
      store.verifyChain(second.x5c, when);
      wall = 1000; // ec's entry has expired
      store.verifyChain(ec.x5c, when);
      store.verifyChain(rsa.x5c, when);
      store.verifyChain(mixed.x5c, when); // full: the oldest entry (second) goes
      expect(store.stats).to.deep.equal({ hits: 0, misses: 5 });
      store.verifyChain(ec.x5c, when);
      expect(store.stats, "ec was kept").to.deep.equal({ hits: 1, misses: 5 });
      store.verifyChain(second.x5c, when);
      expect(store.stats, "second was dropped").to.deep.equal({ hits: 1, misses: 6 });
    });

    it("GIVEN a cached chain WHEN the store is cleared THEN the next verification is a miss; the roots stay", () => {
      const store = new TrustStore([ec.root.pem]);
      store.verifyChain(ec.x5c, at);
      store.clear();
      expect(store.size).to.equal(0);
      store.verifyChain(ec.x5c, at);
      expect(store.stats).to.deep.equal({ hits: 0, misses: 2 });
      expect(store.roots).to.have.length(1);
    });

    it("GIVEN a cached chain WHEN verified at a time outside a certificate's window THEN still refused", () => {
      const store = new TrustStore([ec.root.pem]);
      store.verifyChain(ec.x5c, at);
      attestationError(() => store.verifyChain(ec.x5c, new Date(windowOf(ec.leaf.pem).to + 1000)), "expired", "x5c[0]");
      expect(store.stats.hits).to.equal(1);
    });
  });

  describe("resolveHeader (the parsed header and its chain, cached by segment)", () => {
    const seg = (c: Chain) => Buffer.from(JSON.stringify({ alg: "ES256", x5c: c.x5c })).toString("base64url");
    const parse = (s: string) => JSON.parse(Buffer.from(s, "base64url").toString()) as Record<string, unknown>;
    /** `parse`, and how many times it was called. */
    const counting = () => {
      let n = 0;
      const p = (s: string) => {
        n++;
        return parse(s);
      };
      return { p, parsed: () => n };
    };

    it("GIVEN the same segment twice THEN parsed once, checked twice, the same chain returned", () => {
      const store = new TrustStore([ec.root.pem]);
      const { p, parsed } = counting();
      let checked = 0;
      const first = store.resolveHeader(seg(ec), at, p, () => void checked++);
      const again = store.resolveHeader(seg(ec), at, p, () => void checked++);
      expect([parsed(), checked]).to.deep.equal([1, 2]);
      expect(again.chain).to.equal(first.chain);
      expect(again.header).to.deep.equal({ alg: "ES256", x5c: ec.x5c });
      expect(store.stats).to.deep.equal({ hits: 1, misses: 1 });
    });

    it("GIVEN two segments alternating THEN each is parsed once (not only the last one is remembered)", () => {
      const store = new TrustStore([ec.root.pem, second.root.pem]);
      const { p, parsed } = counting();
      for (const c of [ec, second, ec, second]) expect(store.resolveHeader(seg(c), at, p, () => undefined).chain?.subjects[2]).to.equal(c === ec ? "O=Test, CN=EC Root" : "O=Test, CN=Second Root");
      expect(parsed()).to.equal(2);
    });

    it("GIVEN a header without x5c THEN the header and no chain, the first time and from the cache", () => {
      const store = new TrustStore([ec.root.pem]);
      const s = Buffer.from(JSON.stringify({ alg: "RS256", kid: "k1" })).toString("base64url");
      for (let i = 0; i < 2; i++) {
        const r = store.resolveHeader(s, at, parse, () => undefined);
        expect(r).to.deep.equal({ header: { alg: "RS256", kid: "k1" } });
      }
      expect(store.stats).to.deep.equal({ hits: 0, misses: 0 });
    });

    it("GIVEN a cached segment WHEN the check refuses it (another caller's options) THEN refused, even from the cache", () => {
      const store = new TrustStore([ec.root.pem]);
      store.resolveHeader(seg(ec), at, parse, () => undefined);
      expect(() =>
        store.resolveHeader(seg(ec), at, parse, () => {
          throw new AttestationError("algorithm", "not allowed", { claim: "alg" });
        }),
      ).to.throw(AttestationError, "not allowed");
    });

    it("GIVEN a ttl WHEN the segment comes again at the exact end THEN parsed and verified afresh", () => {
      let wall = 0;
      const store = new TrustStore([ec.root.pem], { ttlMs: 1000, now: () => wall });
      const { p, parsed } = counting();
      store.resolveHeader(seg(ec), at, p, () => undefined);
      wall = 999;
      store.resolveHeader(seg(ec), at, p, () => undefined);
      expect(parsed()).to.equal(1);
      wall = 1000;
      store.resolveHeader(seg(ec), at, p, () => undefined);
      expect(parsed()).to.equal(2);
      expect(store.stats).to.deep.equal({ hits: 1, misses: 2 });
    });

    it("GIVEN a segment parsed again after its ttl THEN it counts as the newest: a full cache drops the oldest other segment, not it", () => {
      let wall = 0;
      const store = new TrustStore([ec.root.pem], { ttlMs: 1000, maxEntries: 3, now: () => wall });
      const parsed: string[] = [];
      const p = (s: string) => {
        const h = parse(s);
        parsed.push(String(h.kid));
        return h;
      };
      const header = (kid: string) => Buffer.from(JSON.stringify({ alg: "RS256", kid })).toString("base64url");
      for (const kid of ["a", "b"]) store.resolveHeader(header(kid), at, p, () => undefined);
      wall = 1000; // a's entry has expired
      for (const kid of ["a", "c", "d"]) store.resolveHeader(header(kid), at, p, () => undefined); // d fills it: b, the oldest, goes
      for (const kid of ["a", "b"]) store.resolveHeader(header(kid), at, p, () => undefined);
      expect(parsed).to.deep.equal(["a", "b", "a", "c", "d", "b"]);
    });

    it("GIVEN ttlMs 0 WHEN the wall clock steps back THEN still nothing is reused: every segment is parsed again", () => {
      let wall = 5000;
      const store = new TrustStore([ec.root.pem], { ttlMs: 0, now: () => wall });
      const { p, parsed } = counting();
      store.resolveHeader(seg(ec), at, p, () => undefined);
      wall = 4000;
      store.resolveHeader(seg(ec), at, p, () => undefined);
      expect(parsed()).to.equal(2);
      expect(store.stats).to.deep.equal({ hits: 0, misses: 2 });
    });

    it("GIVEN an expired segment whose fresh check fails WHEN the clock then steps back THEN parsed again: the expired entry is gone", () => {
      let wall = 0;
      const store = new TrustStore([ec.root.pem], { ttlMs: 1000, now: () => wall });
      const { p, parsed } = counting();
      store.resolveHeader(seg(ec), at, p, () => undefined);
      wall = 1000;
      expect(() =>
        store.resolveHeader(seg(ec), at, p, () => {
          throw new AttestationError("algorithm", "not allowed", { claim: "alg" });
        }),
      ).to.throw(AttestationError, "not allowed");
      wall = 500;
      store.resolveHeader(seg(ec), at, p, () => undefined);
      expect(parsed()).to.equal(3);
    });

    it("GIVEN maxEntries 0 THEN every segment is parsed and verified again", () => {
      const store = new TrustStore([ec.root.pem], { maxEntries: 0 });
      const { p, parsed } = counting();
      store.resolveHeader(seg(ec), at, p, () => undefined);
      store.resolveHeader(seg(ec), at, p, () => undefined);
      expect(parsed()).to.equal(2);
    });

    it("GIVEN an RSA chain (Google's shape) THEN it verifies like the EC one", () => {
      const store = new TrustStore([rsa.root.pem]);
      const w = windowOf(rsa.leaf.pem);
      expect(store.verifyChain(rsa.x5c, new Date(w.from + 60_000)).subjects[0]).to.equal("O=Test, CN=Leaf");
    });
  });
});

import { expect } from "chai";
import { BloomBits64, HashMap64 } from "../../src/runtime/disclosure/hash-table.js";

/** Deterministic int32 pairs (xorshift), as the hasher gives them. */
function keys(n: number): [number, number][] {
  let x = 0x12345678;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
  return Array.from({ length: n }, () => [next(), next()]);
}

describe("runtime/disclosure/hash-table", () => {
  it("GIVEN many keys inserted through several grows THEN each maps to its value and absent keys to -1", () => {
    const m = new HashMap64(4);
    const ks = keys(20_000);
    ks.forEach(([lo, hi], i) => {
      expect(m.set(lo, hi, i)).to.equal(-1);
    });
    expect(m.size).to.equal(20_000);
    ks.forEach(([lo, hi], i) => {
      expect(m.get(lo, hi)).to.equal(i);
    });
    for (const [lo, hi] of keys(20_100).slice(20_000)) expect(m.get(lo, hi)).to.equal(-1);
  });

  it("GIVEN keys equal in one half THEN they are told apart by the other, and set returns the value replaced", () => {
    const m = new HashMap64();
    m.set(7, 1, 10);
    m.set(7, 2, 20);
    expect([m.get(7, 1), m.get(7, 2), m.get(7, 3)]).to.deep.equal([10, 20, -1]);
    expect(m.set(7, 1, 11)).to.equal(10);
    const seen: number[] = [];
    m.forEach((_lo, _hi, v) => {
      seen.push(v);
    });
    expect(seen.sort()).to.deep.equal([11, 20]);
  });

  it("GIVEN a Bloom filter THEN every added key is a maybe and most others are certainly absent", () => {
    const b = new BloomBits64(5000);
    const ks = keys(10_000);
    for (const [lo, hi] of ks.slice(0, 5000)) b.set(lo, hi);
    for (const [lo, hi] of ks.slice(0, 5000)) expect(b.get(lo, hi)).to.equal(0);
    const falseMaybes = ks.slice(5000).filter(([lo, hi]) => b.get(lo, hi) === 0).length;
    expect(falseMaybes).to.be.below(5000 * 0.05);
  });
});

/**
 * Open-addressing hash tables of 64-bit hashes (two 32-bit halves) in typed arrays: no string and no object per entry,
 * so a set of millions of hashes costs tens of bytes each and no garbage collection. Linear probing on the low half
 * (already well mixed by the hasher), grown at a load of 1/2.
 */

/** A map from 64-bit hashes to an int32 value (≥ 0). */
export class HashMap64 {
  private keys: Int32Array;
  private values: Int32Array;
  private mask: number;
  /** Entries in the map. */
  size = 0;

  /** @param capacityHint entries expected (the table grows past it) */
  constructor(capacityHint = 1024) {
    let cap = 16;
    while (cap < capacityHint * 2) cap *= 2;
    this.keys = new Int32Array(cap * 2);
    this.values = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  /** The value of a hash, or -1 when absent. */
  get(lo: number, hi: number): number {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let s = lo & mask;
    for (;;) {
      const v = values[s];
      if (v < 0) return -1;
      if (keys[2 * s] === lo && keys[2 * s + 1] === hi) return v;
      s = (s + 1) & mask;
    }
  }

  /** Sets the value of a hash (`value` ≥ 0); returns the previous value or -1. */
  set(lo: number, hi: number, value: number): number {
    if ((this.size + 1) * 2 > this.values.length) this.grow();
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let s = lo & mask;
    for (;;) {
      const v = values[s];
      if (v < 0) {
        keys[2 * s] = lo;
        keys[2 * s + 1] = hi;
        values[s] = value;
        this.size++;
        return -1;
      }
      if (keys[2 * s] === lo && keys[2 * s + 1] === hi) {
        values[s] = value;
        return v;
      }
      s = (s + 1) & mask;
    }
  }

  /** Calls `fn` for every entry (in table order). */
  forEach(fn: (lo: number, hi: number, value: number) => void): void {
    for (let s = 0; s < this.values.length; s++) if (this.values[s] >= 0) fn(this.keys[2 * s], this.keys[2 * s + 1], this.values[s]);
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const cap = oldValues.length * 2;
    this.keys = new Int32Array(cap * 2);
    this.values = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.size = 0;
    for (let s = 0; s < oldValues.length; s++) if (oldValues[s] >= 0) this.set(oldKeys[2 * s], oldKeys[2 * s + 1], oldValues[s]);
  }
}

/** A growable int32 array: `data[0, length)` holds the values. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) this.reserve(1);
    this.data[this.length++] = v;
  }
  /** Makes room for `n` more values. */
  reserve(n: number): void {
    if (this.length + n <= this.data.length) return;
    const d = new Int32Array(Math.max(this.data.length * 2, this.length + n));
    d.set(this.data.subarray(0, this.length));
    this.data = d;
  }
  /** Appends all of `values`. */
  append(values: Int32Array): void {
    this.reserve(values.length);
    this.data.set(values, this.length);
    this.length += values.length;
  }
  /** The values (a view, valid until the list grows). */
  values(): Int32Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * A blocked Bloom filter of 64-bit hashes: each hash sets three bits of one 32-bit word, so a lookup is one memory
 * access. `get` says -1 for "certainly absent", 0 for "maybe present". A few megabytes stay in the CPU's caches where
 * a hash table of the same keys would not, and a false "maybe" (about 1 in 100 at 16 to 32 bits per key; two bits
 * gave 2 in 100) only costs the full work the filter would have saved.
 */
export class BloomBits64 {
  private readonly bits: Int32Array;
  private readonly mask: number;

  /**
   * @param entries how many hashes will be added (16 bits are reserved for each)
   * @param storage makes the zeroed words (default: a new Int32Array), e.g. in a WebAssembly kernel's memory
   */
  constructor(entries: number, storage: (words: number) => Int32Array = (n) => new Int32Array(n)) {
    let nwords = 1 << 12;
    while (nwords * 2 < entries && nwords < 1 << 26) nwords *= 2;
    this.bits = storage(nwords);
    this.mask = nwords - 1;
  }

  /** The filter's words (a power of two of them; a hash's word is its low half masked), for a scan in another thread. */
  get words(): Int32Array {
    return this.bits;
  }

  /**
   * The three bits a hash sets in its word. The same expression is written out in `scanRange` (input-scan.ts, which
   * must stay self-contained) and in scan-kernel.wat: all three must agree.
   */
  private static bitsOf(hi: number): number {
    return (1 << (hi & 31)) | (1 << ((hi >>> 5) & 31)) | (1 << ((hi >>> 10) & 31));
  }

  /** Adds a hash. */
  set(lo: number, hi: number): void {
    this.bits[lo & this.mask] |= BloomBits64.bitsOf(hi);
  }

  /** -1 when the hash was certainly never added, 0 when it may have been. */
  get(lo: number, hi: number): number {
    const bits = BloomBits64.bitsOf(hi);
    return (this.bits[lo & this.mask] & bits) === bits ? 0 : -1;
  }
}

/**
 * A streaming CSV record hasher for the verbatim-rows and quasi-identifier checks: it reads bytes (never strings),
 * splits records on commas and newlines outside double quotes, normalises each field and hands each record's 64-bit
 * hash, and optionally its fields' hashes, to a callback. Blank records are skipped. No object is allocated per record
 * or per field, and bytes are mixed four at a time (the multiply chain, not the loop, is what costs).
 *
 * Normalisation (the same on inputs and outputs): quotes only delimit (a `"` toggles quoting and is dropped, so
 * `"a""b"` reads `ab`); spaces, tabs and carriage returns are trimmed around a field and a run of them inside a field
 * reads as one space. It is deliberately lossy: two ways of writing the same record (quoted or not, `, ` or `,`, CRLF
 * or LF) always normalise equal, and two different records that normalise equal only cause a false alarm.
 *
 * Why 64 bits of a fast non-cryptographic hash is safe here: equal normalised records always hash equal, so a copied
 * record is never missed; a collision can only make two different records look equal, i.e. a false alarm (a `fail`
 * a reviewer can look at), never a leak. With N input records and M output lines the expected number of chance false
 * alarms is about N·M / 2^64 (1 GiB of input against 100 MiB of output: ~10^-6). A job that crafts collisions on
 * purpose only fails its own outputs.
 */

/** Receives each non-blank record: its hash as two 32-bit halves, and its fields' hashes in the hasher. */
export type RecordSink = (lo: number, hi: number, hasher: CsvRecordHasher) => void;

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const SEED_A = 0x811c9dc5 | 0;
const SEED_B = 0x2545f491 | 0;
const MUL_A = 0x9e3779b1 | 0;
const MUL_B = 0x85ebca77 | 0;

/** murmur3's 32-bit finaliser, as a signed int32. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16); // int32, so values stay small integers in V8 (a uint32 above 2^31 would be boxed)
}

/** Combines a sequence of 64-bit values (as lo/hi pairs) into one, order-dependent. Same as a record's combination. */
export function combineStep(acc: number, v: number, mul: number): number {
  return Math.imul(((acc << 13) | (acc >>> 19)) ^ v, mul);
}

/** The seeds of a record's (or a quasi-identifier combination's) hash, before any field is combined. */
export const COMBINE_SEED_LO = 0x9e3779b9 | 0;
export const COMBINE_SEED_HI = 0x7f4a7c15 | 0;
export const COMBINE_MUL_LO = 0x9e3779b1 | 0;
export const COMBINE_MUL_HI = 0x85ebca77 | 0;

/** Finalises a combination of `n` values into its 64-bit hash (lo, hi), written into `out`. */
export function combineFinish(lo: number, hi: number, n: number, out: Int32Array): void {
  const a = fmix(lo ^ n);
  out[0] = a;
  out[1] = fmix(hi ^ Math.imul(a, 0x27d4eb2f));
}

/** Splits CSV bytes into records and hashes them. Feed chunks with `push`, then call `end`. */
export class CsvRecordHasher {
  /** Low halves of the current record's field hashes (valid in the sink, for `fieldCount` fields). */
  fieldLo: Int32Array = new Int32Array(64);
  /** High halves of the current record's field hashes. */
  fieldHi: Int32Array = new Int32Array(64);
  /** Fields of the current record. */
  fieldCount = 0;
  /** Non-blank records seen so far (the current one's index, in the sink). */
  records = 0;

  private quoted = false;
  // The field's hash lanes, the bytes not yet mixed (w, k of them), its length, and whether blanks are pending.
  private a = SEED_A;
  private b = SEED_B;
  private w = 0;
  private k = 0;
  private len = 0;
  private blank = false;
  private recordNonBlank = false;
  private ra = COMBINE_SEED_LO;
  private rb = COMBINE_SEED_HI;
  private readonly out = new Int32Array(2);
  // Skipping the rest of a record whose first field no output line starts with (see `firstFields`).
  private skipping = false;
  // The rest of a skipped record that had to be read by the quote-aware loop: ended, but not passed to the sink.
  private discard = false;

  /**
   * @param sink called once per non-blank record
   * @param keepFields whether the sink needs each field's hash (`fieldLo`/`fieldHi`); off, only the record hash is made
   * @param firstFields when given, a record whose first field's hash is not in it is skipped to its end without being
   *   hashed or passed to the sink: it cannot equal any line whose first field is in the set. This is what makes the
   *   input pass cheap (most of a record's bytes are then read by a native newline search, not by the hash loop).
   */
  constructor(
    private readonly sink: RecordSink,
    private readonly keepFields = false,
    private readonly firstFields?: { get(lo: number, hi: number): number },
  ) {}

  /** The current record's first field's hash, low half (valid in the sink). */
  firstLo = 0;
  /** The current record's first field's hash, high half. */
  firstHi = 0;

  private endField(): void {
    // The last 0-3 bytes, and the length (so "ab" and "ab\0" differ).
    let a = Math.imul(this.a ^ this.w, MUL_A);
    let b = Math.imul(this.b ^ this.w, MUL_B);
    a ^= this.len;
    b ^= Math.imul(this.len, 0x27d4eb2f);
    const fa = fmix(a ^ Math.imul(b, 0x165667b1));
    const fb = fmix(b ^ Math.imul(fa, 0x27d4eb2f));
    if (this.fieldCount === 0) {
      this.firstLo = fa;
      this.firstHi = fb;
    }
    if (this.keepFields) {
      const n = this.fieldCount;
      if (n === this.fieldLo.length) {
        const lo = new Int32Array(n * 2);
        lo.set(this.fieldLo);
        this.fieldLo = lo;
        const hi = new Int32Array(n * 2);
        hi.set(this.fieldHi);
        this.fieldHi = hi;
      }
      this.fieldLo[n] = fa;
      this.fieldHi[n] = fb;
    }
    this.fieldCount++;
    if (this.len > 0) this.recordNonBlank = true;
    this.ra = combineStep(this.ra, fa, COMBINE_MUL_LO);
    this.rb = combineStep(this.rb, fb, COMBINE_MUL_HI);
    this.a = SEED_A;
    this.b = SEED_B;
    this.w = 0;
    this.k = 0;
    this.len = 0;
    this.blank = false;
  }

  private endRecord(): void {
    this.endField();
    if (this.discard) this.records++;
    else if (this.recordNonBlank) {
      combineFinish(this.ra, this.rb, this.fieldCount, this.out);
      this.sink(this.out[0], this.out[1], this);
      this.records++;
    }
    this.resetRecord();
  }

  private resetRecord(): void {
    this.discard = false;
    this.ra = COMBINE_SEED_LO;
    this.rb = COMBINE_SEED_HI;
    this.fieldCount = 0;
    this.recordNonBlank = false;
  }

  /** Hashes the bytes of one chunk; records may span chunks. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = buf.length;
    const filter = this.firstFields;
    // The next quote at or after the scan position: a record skipped by newline search must not hold one (a quoted
    // field may hold a newline).
    let nextQuote = filter ? buf.indexOf(QUOTE) : -1;
    let start = 0;
    if (this.skipping) {
      const end = buf.indexOf(LF);
      if (nextQuote < 0 || (end >= 0 && nextQuote > end)) {
        if (end < 0) return;
        this.skipping = false;
        this.records++;
        start = end + 1;
      } else {
        // A quote before the record's end: its end must be found by the quote-aware loop; what it reads is dropped.
        this.skipping = false;
        this.discard = true;
      }
    }
    let a = this.a;
    let b = this.b;
    let w = this.w;
    let k = this.k;
    let len = this.len;
    let blank = this.blank;
    let quoted = this.quoted;
    for (let i = start; i < n; i++) {
      let c = buf[i];
      if (c <= COMMA) {
        if (c === QUOTE) {
          quoted = !quoted;
          continue;
        }
        if (c === SPACE || c === TAB || c === CR) {
          // Leading blanks are dropped; inner ones become one space when more text follows; trailing ones vanish.
          if (len > 0) blank = true;
          continue;
        }
        if (!quoted && (c === COMMA || c === LF)) {
          this.a = a;
          this.b = b;
          this.w = w;
          this.len = len;
          if (c === LF) this.endRecord();
          else {
            this.endField();
            if (filter && this.fieldCount === 1 && filter.get(this.firstLo, this.firstHi) < 0) {
              if (nextQuote >= 0 && nextQuote <= i) nextQuote = buf.indexOf(QUOTE, i + 1);
              const end = buf.indexOf(LF, i + 1);
              if (end < 0 && nextQuote < 0) {
                // The record goes on in the next chunk, with no quote before this chunk's end.
                this.resetRecord();
                this.skipping = true;
                a = SEED_A;
                b = SEED_B;
                w = 0;
                k = 0;
                len = 0;
                blank = false;
                break;
              }
              if (end >= 0 && (nextQuote < 0 || nextQuote > end)) {
                this.resetRecord();
                this.records++;
                i = end;
                a = SEED_A;
                b = SEED_B;
                w = 0;
                k = 0;
                len = 0;
                blank = false;
                continue;
              }
            }
          }
          a = SEED_A;
          b = SEED_B;
          w = 0;
          k = 0;
          len = 0;
          blank = false;
          continue;
        }
      }
      if (blank) {
        // One space for the run of blanks before this byte, then the byte.
        blank = false;
        w = (w << 8) | SPACE;
        len++;
        if (++k === 4) {
          a = Math.imul(a ^ w, MUL_A);
          a = (a << 13) | (a >>> 19);
          b = Math.imul(b ^ w, MUL_B);
          b = (b << 11) | (b >>> 21);
          w = 0;
          k = 0;
        }
        c = buf[i];
      }
      w = (w << 8) | c;
      len++;
      if (++k === 4) {
        a = Math.imul(a ^ w, MUL_A);
        a = (a << 13) | (a >>> 19);
        b = Math.imul(b ^ w, MUL_B);
        b = (b << 11) | (b >>> 21);
        w = 0;
        k = 0;
      }
    }
    this.a = a;
    this.b = b;
    this.w = w;
    this.k = k;
    this.len = len;
    this.blank = blank;
    this.quoted = quoted;
  }

  /** Ends the last record (a file need not end with a newline). */
  end(): void {
    if (this.fieldCount > 0 || this.len > 0) this.endRecord();
    this.quoted = false;
  }
}

// The dp building blocks in process (issue 20, dp-base mutation path): the random generator's exact draws (each
// method checked against the same seeded stream read by hand), the exponential mechanism, the public domain's bins
// and the CSV encoding. Deterministic except the exponential mechanism's frequencies, whose tolerance is 6 sd.
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildDomain, type Domain, headerIndex, UNKNOWN_LABEL } from "../../src/runtime/dp/domain.js";
import { exponentialMechanism, exponentialMechanismProbabilities, SCORE_GRID } from "../../src/runtime/dp/exponential.js";
import { rngFromEnvironment, runningAsCli, SecureRng, TEST_MODE_ENV, TEST_SEED_ENV, testRng } from "../../src/runtime/dp/rng.js";
import { csvErrorMessage, decodeRows, encodeRecords, readEncodedCsv, scanCsv, writeDecodedCsv } from "../../src/runtime/dp/table.js";

const TWO_32 = 2 ** 32;

function refuses(fn: () => unknown, code = "invalid-argument"): CleanRoomError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    expect((e as CleanRoomError).code).to.equal(code);
    return e as CleanRoomError;
  }
  throw new Error("expected a CleanRoomError");
}

async function refusesAsync(p: Promise<unknown>, code: string): Promise<CleanRoomError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    expect((e as CleanRoomError).code).to.equal(code);
    return e as CleanRoomError;
  }
  throw new Error("expected a CleanRoomError");
}

describe("dp randomness: exact draws from the seeded stream", () => {
  it("GIVEN the seeded stream THEN bytes and uint32 read the same little-endian pool, refilled exactly when it runs out", () => {
    const a = testRng("pool");
    const b = testRng("pool");
    const pool = b.bytes(8192);
    const next = b.bytes(8192);
    const head = a.bytes(8188);
    expect(head.equals(pool.subarray(0, 8188))).to.equal(true);
    // 4 bytes left: uint32 reads them; then the pool is empty and the next uint32 refills.
    expect(a.uint32()).to.equal(pool.readUInt32LE(8188));
    expect(a.uint32()).to.equal(next.readUInt32LE(0));
    const c = testRng("pool");
    c.bytes(8190);
    // 2 bytes left: too few for a uint32, which refills and starts the next pool.
    expect(c.uint32()).to.equal(next.readUInt32LE(0));
    expect(testRng("pool").deterministic).to.equal(true);
    // The OS generator really fills the pool (not zeros, not the same bytes twice).
    const sys = SecureRng.system().bytes(64);
    expect(sys.some((b) => b !== 0)).to.equal(true);
    expect(sys.equals(SecureRng.system().bytes(64))).to.equal(false);
    expect(SecureRng.system().deterministic).to.equal(false);
    expect(testRng("other").bytes(32).equals(pool.subarray(0, 32))).to.equal(false);
  });

  it("GIVEN m up to 2^32 THEN uniformInt rejects the top partial block and returns u mod m; m = 1 draws nothing", () => {
    for (const m of [2, 3, 1000, 3 * 2 ** 30, TWO_32 - 1, TWO_32]) {
      const rng = testRng(`int-${m}`);
      const twin = testRng(`int-${m}`);
      const limit = TWO_32 - (TWO_32 % m);
      for (let i = 0; i < 200; i++) {
        let u = twin.uint32();
        while (u >= limit) u = twin.uint32();
        expect(rng.uniformInt(m), `m=${m}`).to.equal(u % m);
      }
    }
    const rng = testRng("one");
    const twin = testRng("one");
    expect(rng.uniformInt(1)).to.equal(0);
    expect(rng.uint32()).to.equal(twin.uint32());
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) refuses(() => testRng("x").uniformInt(bad));
  });

  it("GIVEN 2^32 < m <= 2^53 THEN uniformInt draws ceil(log2 m) bits from two words and rejects values >= m", () => {
    for (const m of [TWO_32 + 1, 2 ** 33, 2 ** 40 + 5, 3 * 2 ** 45, Number.MAX_SAFE_INTEGER]) {
      let bits = 33;
      while (2 ** bits < m) bits++;
      const hiMask = 2 ** (bits - 32) - 1;
      const rng = testRng(`big-${m}`);
      const twin = testRng(`big-${m}`);
      let above = 0;
      for (let i = 0; i < 200; i++) {
        let v: number;
        do v = (twin.uint32() & hiMask) * TWO_32 + twin.uint32();
        while (v >= m);
        const got = rng.uniformInt(m);
        expect(got, `m=${m}`).to.equal(v);
        if (got >= TWO_32) above++;
      }
      if (m >= 2 ** 33) expect(above, `m=${m}`).to.be.greaterThan(0);
    }
  });

  it("GIVEN bigint bounds THEN uniformBig uses uniformInt up to 2^32 - 1 and whole bytes with a masked top byte above", () => {
    const small = testRng("b-small");
    const smallTwin = testRng("b-small");
    for (let i = 0; i < 50; i++) expect(small.uniformBig(0xffffffffn)).to.equal(BigInt(smallTwin.uniformInt(0xffffffff)));
    for (const m of [0x100000000n, 2n ** 70n + 3n, 2n ** 64n, 257n * 2n ** 56n, 2n ** 44n + 3n]) {
      const rng = testRng(`b-${m}`);
      const twin = testRng(`b-${m}`);
      const bits = (m - 1n).toString(2).length;
      const nBytes = Math.ceil(bits / 8);
      const topMask = (1 << (bits - 8 * (nBytes - 1))) - 1;
      for (let i = 0; i < 100; i++) {
        let v: bigint;
        do {
          const bytes = twin.bytes(nBytes);
          v = BigInt(bytes[0] & topMask);
          for (let k = 1; k < nBytes; k++) v = (v << 8n) | BigInt(bytes[k]);
        } while (v >= m);
        expect(rng.uniformBig(m), `m=${m}`).to.equal(v);
      }
    }
    const one = testRng("b-one");
    const oneTwin = testRng("b-one");
    expect(one.uniformBig(1n)).to.equal(0n);
    expect(one.uint32()).to.equal(oneTwin.uint32());
    refuses(() => testRng("x").uniformBig(0n));
  });

  it("GIVEN uniform01 and shuffle THEN 53-bit doubles from two words and a Fisher–Yates permutation of the same stream", () => {
    const rng = testRng("u01");
    const twin = testRng("u01");
    for (let i = 0; i < 100; i++) {
      const hi = twin.uint32() >>> 5;
      const lo = twin.uint32() >>> 6;
      const u = rng.uniform01();
      expect(u).to.equal((hi * 67108864 + lo) / 9007199254740992);
      expect(u).to.be.at.least(0).and.below(1);
    }
    const items = Array.from({ length: 50 }, (_, i) => i);
    const expected = [...items];
    const s = testRng("shuffle");
    const st = testRng("shuffle");
    for (let i = expected.length - 1; i > 0; i--) {
      const j = st.uniformInt(i + 1);
      [expected[i], expected[j]] = [expected[j], expected[i]];
    }
    const shuffled = s.shuffle([...items]);
    expect(shuffled).to.deep.equal(expected);
    expect([...shuffled].sort((a, b) => a - b)).to.deep.equal(items);
    expect(s.uint32()).to.equal(st.uint32());
    expect(testRng("one-item").shuffle([7])).to.deep.equal([7]);
  });

  it("GIVEN the environment THEN no seed means the OS generator; a seed needs CLEANROOM_TEST=1 and is refused inside the CLI", () => {
    const lib = "/repo/tests/something.test.ts";
    expect(rngFromEnvironment({}, lib).deterministic).to.equal(false);
    expect(rngFromEnvironment({ [TEST_SEED_ENV]: "" }, lib).deterministic).to.equal(false);
    const seeded = rngFromEnvironment({ [TEST_SEED_ENV]: "s", [TEST_MODE_ENV]: "1" }, lib);
    expect(seeded.deterministic).to.equal(true);
    expect(seeded.uint32()).to.equal(testRng("s").uint32());
    refuses(() => rngFromEnvironment({ [TEST_SEED_ENV]: "s" }, lib));
    refuses(() => rngFromEnvironment({ [TEST_SEED_ENV]: "s", [TEST_MODE_ENV]: "true" }, lib));
    refuses(() => rngFromEnvironment({ [TEST_SEED_ENV]: "s", [TEST_MODE_ENV]: "1" }, "/repo/src/runtime/cli.ts"));
    for (const cli of ["/r/src/runtime/cli.ts", "/r/dist/runtime/cli.js", "/r/bin/cleanroom.cjs", "C:\\r\\bin\\cleanroom.mjs"]) expect(runningAsCli(cli), cli).to.equal(true);
    for (const other of ["/r/src/runtime/cli-helpers.ts", "/r/bin/cleanroom", "/r/bin/cleanroom.py", "/r/mycli.ts", undefined]) expect(runningAsCli(other), String(other)).to.equal(false);
  });
});

describe("dp exponential mechanism", () => {
  it("GIVEN bad candidates or parameters THEN refused", () => {
    const rng = testRng("em-bad");
    refuses(() => exponentialMechanism(rng, [], 1));
    for (const [eps, sens] of [
      [0, 1],
      [-1, 1],
      [Number.NaN, 1],
      [1, 0],
      [1, Number.NaN],
    ]) {
      refuses(() => exponentialMechanism(rng, [1, 2], eps, sens));
    }
    refuses(() => exponentialMechanism(rng, [1, Number.POSITIVE_INFINITY], 1));
    refuses(() => exponentialMechanism(rng, [Number.NaN, 1], 1));
    refuses(() => exponentialMechanism(rng, [1, 2], 1e-12));
    // Scores far apart: the weights are taken relative to the best score (no overflow to Infinity/NaN).
    expect(exponentialMechanismProbabilities([0, 1e6], 1)).to.deep.equal([0, 1]);
    expect(exponentialMechanism(rng, [5], 1)).to.equal(0);
  });

  it("GIVEN scores THEN the stated probabilities are exp(ε·(q−q*)/(2Δ)) on the 1/1024 grid with Δ one grid step wider", () => {
    const p = exponentialMechanismProbabilities([0, 10, 10.0004], 2, 1);
    const delta = SCORE_GRID + 1;
    const w = [Math.exp((-2 * 10240) / (2 * delta)), 1, 1];
    const total = w[0] + w[1] + w[2];
    expect(p[0]).to.be.closeTo(w[0] / total, 1e-15);
    expect(p[1]).to.be.closeTo(1 / total, 1e-15);
    expect(p[2]).to.equal(p[1]);
    const half = exponentialMechanismProbabilities([0, 1], 1, 0.5);
    const d2 = Math.ceil(0.5 * SCORE_GRID) + 1;
    const w2 = Math.exp(-SCORE_GRID / (2 * d2));
    expect(half[0]).to.be.closeTo(w2 / (1 + w2), 1e-15);
    expect(exponentialMechanismProbabilities([3, 1], 1)).to.deep.equal(exponentialMechanismProbabilities([3, 1], 1, 1));
  });

  it("GIVEN 6,000 draws THEN each candidate's frequency is within 6 sd of its stated probability (default Δ = 1 and Δ = 3)", () => {
    for (const [scores, eps, sens] of [
      [[0, 2, 4, 4.5], 1.5, undefined],
      [[10, 0, 5], 2, 3],
      // Δ of one grid step: Δ in grid units is 2 (one step plus one for rounding), the smallest the mechanism uses.
      [[0, 1 / 1024, 2 / 1024], 1, 1 / 1024],
    ] as [number[], number, number | undefined][]) {
      const rng = testRng(`em-${eps}`);
      const n = 6000;
      const counts = new Array<number>(scores.length).fill(0);
      for (let i = 0; i < n; i++) counts[sens === undefined ? exponentialMechanism(rng, scores, eps) : exponentialMechanism(rng, scores, eps, sens)]++;
      const p = exponentialMechanismProbabilities(scores, eps, sens ?? 1);
      counts.forEach((c, i) => {
        const sd = Math.sqrt(n * p[i] * (1 - p[i]));
        expect(Math.abs(c - n * p[i]), `candidate ${i}: ${c} vs ${n * p[i]}`).to.be.at.most(6 * sd + 1);
      });
    }
  });
});

const SCHEMA = {
  columns: [
    { name: "kind", type: "categorical", categories: ["a", "b", "c"] },
    { name: "age", type: "numeric", min: 0, max: 9, bins: 5, integer: true },
    { name: "score", type: "numeric", min: 0, max: 10, bins: 4 },
  ],
};

describe("dp public domain", () => {
  it("GIVEN a categorical column THEN codes follow the categories, anything else is the unknown code, decoded blank", () => {
    const kind = buildDomain(SCHEMA).columns[0];
    expect(kind).to.include({ name: "kind", type: "categorical", size: 4, unknownCode: 3 });
    expect(kind.labels).to.deep.equal(["a", "b", "c", UNKNOWN_LABEL]);
    expect(["a", "b", "c", "d", "", "A"].map((v) => kind.encode(v))).to.deep.equal([0, 1, 2, 3, 3, 3]);
    const rng = testRng("cat");
    expect([0, 1, 2, 3].map((c) => kind.decode(c, rng))).to.deep.equal(["a", "b", "c", ""]);
  });

  it("GIVEN an integer column THEN integers share bins evenly, values are rounded and clamped, and decode stays in the bin", () => {
    const age = buildDomain(SCHEMA).columns[1];
    expect(age).to.include({ type: "numeric", size: 6, unknownCode: 5 });
    expect(age.labels).to.deep.equal(["0-1", "2-3", "4-5", "6-7", "8-9", UNKNOWN_LABEL]);
    expect(["0", "1", "1.4", "1.5", " 3 ", "9", "-4", "120", "", "  ", "x", "NaN"].map((v) => age.encode(v))).to.deep.equal([0, 0, 0, 1, 1, 4, 0, 4, 5, 5, 5, 5]);
    const rng = testRng("int-decode");
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add(age.decode(2, rng));
    expect([...seen].sort()).to.deep.equal(["4", "5"]);
    expect(age.decode(5, rng)).to.equal("");
    const single = buildDomain({ columns: [{ name: "d", type: "numeric", min: 1, max: 3, bins: 3, integer: true }] }).columns[0];
    expect(single.labels).to.deep.equal(["1", "2", "3", UNKNOWN_LABEL]);
    expect(single.decode(1, rng)).to.equal("2");
    // Fractional bounds: the integers inside them.
    const frac = buildDomain({ columns: [{ name: "f", type: "numeric", min: 0.5, max: 4.5, bins: 2, integer: true }] }).columns[0];
    expect(frac.labels).to.deep.equal(["1-2", "3-4", UNKNOWN_LABEL]);
    expect(["0", "5", "2.6"].map((v) => frac.encode(v))).to.deep.equal([0, 1, 1]);
  });

  it("GIVEN integer columns THEN each bin's label runs from the first to the last integer encoded to it, found without walking the range (2^53 integers at once)", () => {
    // The oracle: encode every integer of small ranges and collect each bin's first and last.
    for (const [min, max, bins] of [
      [-7, 30, 5],
      [0, 9, 7],
      [1, 1000, 13],
      [-1000.5, 999.5, 6],
    ]) {
      const col = buildDomain({ columns: [{ name: "i", type: "numeric", min, max, bins, integer: true }] }).columns[0];
      const first: number[] = [];
      const last: number[] = [];
      for (let v = Math.ceil(min); v <= Math.floor(max); v++) {
        const b = col.encode(String(v));
        first[b] ??= v;
        last[b] = v;
      }
      expect(col.labels.slice(0, -1), `[${min}, ${max}] in ${bins}`).to.deep.equal(first.map((f, b) => (f === last[b] ? `${f}` : `${f}-${last[b]}`)));
    }
    // Every safe integer at once: four bins of 2^51 integers, at once (a walk would not end).
    const top = Number.MAX_SAFE_INTEGER;
    const wide = buildDomain({ columns: [{ name: "w", type: "numeric", min: 0, max: top, bins: 4, integer: true }] }).columns[0];
    const q = 2 ** 51;
    expect(wide.labels.slice(0, -1)).to.deep.equal([`0-${q - 1}`, `${q}-${2 * q - 1}`, `${2 * q}-${3 * q - 1}`, `${3 * q}-${top}`]);
    expect([0, q - 1, q, 3 * q, top].map((v) => wide.encode(String(v)))).to.deep.equal([0, 0, 1, 3, 3]);
    const rng = testRng("wide-decode");
    for (let i = 0; i < 20; i++) expect(Number(wide.decode(3, rng))).to.be.within(3 * q, top);
    // Past the integers a double holds exactly: refused, naming the column.
    for (const [min, max] of [
      [0, 2 ** 53],
      [-(2 ** 53), 0],
      [-(2 ** 52), 2 ** 52],
      // Few integers, but past 2^53 where doubles skip integers: 2^60 + 1 is 2^60.
      [2 ** 60, 2 ** 60 + 1000],
      [-(2 ** 60) - 1000, -(2 ** 60)],
      [2 ** 53 - 10, 2 ** 53 + 10],
    ]) {
      const e = refuses(() => buildDomain({ columns: [{ name: "huge", type: "numeric", min, max, integer: true }] }));
      expect((e as CleanRoomError & { problems?: string[] }).problems?.[0], `[${min}, ${max}]`).to.match(/\("huge"\) is integer but \[min, max\] reaches past the 2\^53 integers/);
    }
    expect(buildDomain({ columns: [{ name: "edge", type: "numeric", min: -(2 ** 52), max: 2 ** 52 - 1, integer: true }] }).columns[0].size).to.equal(17);
  });

  it("GIVEN a real column THEN equal-width half-open bins (the last closed), clamped, decoded uniformly inside the bin", () => {
    const score = buildDomain(SCHEMA).columns[2];
    expect(score).to.include({ type: "numeric", size: 5, unknownCode: 4 });
    const offset = buildDomain({ columns: [{ name: "t", type: "numeric", min: 10, max: 20, bins: 4 }] }).columns[0];
    expect(offset.labels).to.deep.equal(["[10, 12.5)", "[12.5, 15)", "[15, 17.5)", "[17.5, 20]", UNKNOWN_LABEL]);
    expect(["10", "12.4", "12.5", "19", "20", "3"].map((v) => offset.encode(v))).to.deep.equal([0, 0, 1, 3, 3, 0]);
    expect(score.labels).to.deep.equal(["[0, 2.5)", "[2.5, 5)", "[5, 7.5)", "[7.5, 10]", UNKNOWN_LABEL]);
    expect(["0", "2.49", "2.5", "5", "9.99", "10", "11", "-3", "", "abc"].map((v) => score.encode(v))).to.deep.equal([0, 0, 1, 2, 3, 3, 3, 0, 4, 4]);
    const rng = testRng("real-decode");
    const twin = testRng("real-decode");
    for (let i = 0; i < 20; i++) expect(Number(score.decode(1, rng))).to.equal(0 + (1 + twin.uniform01()) * 2.5);
    expect(score.decode(4, rng)).to.equal("");
    const defaults = buildDomain({ columns: [{ name: "x", type: "numeric", min: 0, max: 16 }] }).columns[0];
    expect(defaults.size).to.equal(17);
    expect(defaults.encode("15.5")).to.equal(15);
  });

  it("GIVEN schemas that are invalid, or integer columns without enough integers THEN every problem is listed naming its column", () => {
    const bad = refuses(() => buildDomain({ columns: [{ name: "k", type: "categorical" }, { name: "n", type: "numeric", min: 5, max: 1 }] }));
    const problems = (bad as CleanRoomError & { problems?: string[] }).problems ?? [];
    expect(problems.length).to.be.at.least(2);
    expect(problems.some((p) => p.includes('"k"'))).to.equal(true);
    expect(problems.some((p) => p.includes('"n"'))).to.equal(true);
    const none = refuses(() => buildDomain({ columns: [{ name: "i", type: "numeric", min: 0.2, max: 0.8, integer: true }] }));
    expect((none as CleanRoomError & { problems?: string[] }).problems).to.deep.equal(['schema.columns[0] ("i") is integer but [min, max] holds no integer']);
    const many = refuses(() => buildDomain({ columns: [{ name: "i", type: "numeric", min: 0, max: 3, bins: 5, integer: true }] }, "spec.schema"));
    expect((many as CleanRoomError & { problems?: string[] }).problems).to.deep.equal(['spec.schema.columns[0].bins (5) of "i" exceeds the 4 integers in [min, max]; use bins <= 4']);
    // Exactly one bin per integer is fine, and so is a non-integer column with more bins than integers.
    expect(buildDomain({ columns: [{ name: "i", type: "numeric", min: 0, max: 3, bins: 4, integer: true }] }).columns[0].size).to.equal(5);
    expect(buildDomain({ columns: [{ name: "r", type: "numeric", min: 0, max: 3, bins: 5 }] }).columns[0].size).to.equal(6);
    refuses(() => buildDomain(null));
    // An integer column holding exactly one integer is valid.
    expect(buildDomain({ columns: [{ name: "one", type: "numeric", min: 0.5, max: 1.5, bins: 1, integer: true }] }).columns[0].labels).to.deep.equal(["1", UNKNOWN_LABEL]);
    // Problems are prefixed with the column's name when they do not name it already (also past column 9), and never
    // with a name that is empty or not a string; problems about the schema as a whole are left as they are.
    const eleven = { columns: [...Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, type: "categorical", categories: ["x"] })), { name: "c10", type: "numeric", min: 5, max: 1 }] };
    const e11 = refuses(() => buildDomain(eleven, "spec.schema"));
    expect(e11.message).to.match(/^Invalid public spec\.schema: 1 problem:/);
    expect((e11 as CleanRoomError & { problems?: string[] }).problems?.[0]).to.match(/^column "c10": spec\.schema\.columns\[10\]/);
    const problemsOf = (schema: unknown) => (refuses(() => buildDomain(schema)) as CleanRoomError & { problems?: string[] }).problems ?? [];
    expect(problemsOf({ columns: [] })).to.deep.equal(["schema.columns must be a non-empty array of column definitions"]);
    expect(problemsOf({ columns: [null] })).to.deep.equal(["schema.columns[0] must be an object with name and type"]);
    expect(problemsOf({ columns: [{ name: "", type: "categorical" }] })[0]).to.equal("schema.columns[0].name must be a non-empty string");
    expect(problemsOf({ columns: [{ name: 5, type: "categorical" }] })[0]).to.equal("schema.columns[0].name must be a non-empty string");
  });

  it("GIVEN CSV headers THEN each schema column maps to its first position; missing columns are all listed", () => {
    const d = buildDomain(SCHEMA);
    expect(headerIndex(d, ["score", "x", "kind", "age", "kind"], "f.csv")).to.deep.equal([2, 3, 0]);
    const e = refuses(() => headerIndex(d, ["age", "other"], "f.csv"));
    expect((e as CleanRoomError & { problems?: string[] }).problems).to.deep.equal(['column "kind" is missing from f.csv', 'column "score" is missing from f.csv']);
  });
});

describe("dp encoded tables (CSV)", () => {
  let dir: string;
  let domain: Domain;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dp-base-"));
    domain = buildDomain(SCHEMA);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("GIVEN a CSV with a BOM, reordered and extra columns and blank lines, over 1,024 rows THEN every cell is encoded", async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => `${i % 10},${["a", "b", "z"][i % 3]},extra,${(i % 11) - 0.5}`);
    const path = write("t.csv", `\uFEFFage,kind,other,score\n${rows.slice(0, 3).join("\n")}\n\n${rows.slice(3).join("\n")}\n`);
    const t = await readEncodedCsv(path, domain);
    expect(t.rows).to.equal(2500);
    expect(t.columns).to.have.length(3);
    for (const c of t.columns) expect(c).to.be.instanceOf(Int32Array).with.length(2500);
    for (const i of [0, 1, 2, 1023, 1024, 2047, 2048, 2499]) {
      expect(t.columns[0][i], `kind ${i}`).to.equal([0, 1, 3][i % 3]);
      expect(t.columns[1][i], `age ${i}`).to.equal(Math.floor((i % 10) / 2));
      expect(t.columns[2][i], `score ${i}`).to.equal(domain.columns[2].encode(String((i % 11) - 0.5)));
    }
    const visited: string[][] = [];
    expect(await scanCsv(path, domain, (cells) => visited.length < 2 && visited.push([...cells]))).to.equal(2500);
    expect(visited).to.deep.equal([
      ["a", "0", "-0.5"],
      ["b", "1", "0.5"],
    ]);
  });

  it("GIVEN a CSV this process may not read THEN io-error (a permission problem, not a malformed file), with EACCES as the cause", async () => {
    const locked = write("locked.csv", "kind,age,score\na,1,2\n");
    chmodSync(locked, 0o000);
    // root reads any file: for the read, drop the effective uid to nobody's (restored at once), as a provider's
    // ordinary account would run.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) process.seteuid?.(65534);
    let err: CleanRoomError;
    try {
      err = await refusesAsync(readEncodedCsv(locked, domain), "io-error");
    } finally {
      if (asRoot) process.seteuid?.(0);
    }
    expect(process.geteuid?.()).to.equal(process.getuid?.());
    expect((err as Error & { cause?: { code?: string } }).cause?.code).to.equal("EACCES");
  });

  it("GIVEN an unreadable, empty or malformed CSV THEN io-error or invalid-argument naming the line", async () => {
    await refusesAsync(readEncodedCsv(join(dir, "missing.csv"), domain), "io-error");
    await refusesAsync(readEncodedCsv(dir, domain), "io-error");
    expect((await refusesAsync(readEncodedCsv(write("empty.csv", ""), domain), "invalid-argument")).message).to.match(/is empty/);
    const nocol = await refusesAsync(readEncodedCsv(write("nocol.csv", "kind,age\na,1\n"), domain), "invalid-argument");
    // The header check's own error, not re-wrapped as a parse error.
    expect(nocol.message).to.match(/nocol\.csv has no column "score"/);
    expect(nocol.message).to.not.match(/^Cannot read/);
    const missing = await refusesAsync(readEncodedCsv(join(dir, "missing.csv"), domain), "io-error");
    expect((missing as Error & { cause?: { code?: string } }).cause?.code).to.equal("ENOENT");
    const fields = await refusesAsync(readEncodedCsv(write("fields.csv", "kind,age,score\na,1,2\nb,2\n"), domain), "invalid-argument");
    expect(fields.message).to.match(/line 3: 2 fields where the header has 3/);
    expect((fields as Error & { cause?: { code?: string } }).cause?.code).to.equal("CSV_RECORD_INCONSISTENT_FIELDS_LENGTH");
    const quote = await refusesAsync(readEncodedCsv(write("quote.csv", 'kind,age,score\na,1,2\n"b,2,3\n'), domain), "invalid-argument");
    expect(quote.message).to.match(/line 3: a quoted field that starts in this record is never closed/);
    const closing = await refusesAsync(readEncodedCsv(write("closing.csv", 'kind,age,score\n"a"x,1,2\n'), domain), "invalid-argument");
    expect(closing.message).to.match(/line 2: a closing quote is followed by more text/);
  });

  it("GIVEN parser errors THEN csvErrorMessage names the line (the parser's, else the one after the last record)", () => {
    expect(csvErrorMessage("f", { code: "CSV_QUOTE_NOT_CLOSED", lines: 9 }, 4)).to.equal("CSV f, line 5: a quoted field that starts in this record is never closed");
    expect(csvErrorMessage("f", { code: "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH", lines: 7, message: "Invalid Record Length: expect 3, got 5 on line 7" }, 4)).to.equal(
      "CSV f, line 7: 5 fields where the header has 3",
    );
    expect(csvErrorMessage("f", { code: "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH", lines: 0, message: "odd" }, 4)).to.equal("CSV f, line 5: another number of fields than the header");
    expect(csvErrorMessage("f", { code: "CSV_INVALID_CLOSING_QUOTE", lines: 3 }, 1)).to.match(/^CSV f, line 3: a closing quote/);
    expect(csvErrorMessage("f", { code: "OTHER", message: "Bad thing at line 12 and on line 13 here" }, 1)).to.equal("CSV f, line 2: Bad thing and here");
    expect(csvErrorMessage("f", new Error("plain"), 0)).to.equal("CSV f, line 1: plain");
    expect(csvErrorMessage("f", { code: "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH", lines: 120, message: "expect 12, got 15" }, 4)).to.equal("CSV f, line 120: 15 fields where the header has 12");
    expect(csvErrorMessage("f", { code: "OTHER", lines: "7", message: "x(on line 4)" }, 2)).to.equal("CSV f, line 3: x()");
  });

  it("GIVEN records in memory THEN encodeRecords maps them by header, missing cells as blanks (unknown)", () => {
    const t = encodeRecords(domain, ["score", "kind", "age"], [["2.5", "c", "8"], ["99", "q"]]);
    expect(t.rows).to.equal(2);
    expect(t.columns.map((c) => [...c])).to.deep.equal([
      [2, 3],
      [4, 5],
      [1, 3],
    ]);
    const noScore = refuses(() => encodeRecords(domain, ["kind"], []));
    expect((noScore as CleanRoomError & { problems?: string[] }).problems).to.deep.equal(['column "age" is missing from the records', 'column "score" is missing from the records']);
  });

  it("GIVEN an encoded table THEN writeDecodedCsv and decodeRows decode the same values from the same stream; the file is private", async () => {
    const t = { rows: 3, columns: [Int32Array.from([0, 3, 2]), Int32Array.from([4, 0, 5]), Int32Array.from([3, 4, 0])] };
    const path = join(dir, "out.csv");
    await writeDecodedCsv(path, domain, t, testRng("decode"));
    const rows = decodeRows(domain, t, testRng("decode"));
    expect(rows.map((r) => [r[0], r[2] === "" ? "" : "num"])).to.deep.equal([
      ["a", "num"],
      ["", ""],
      ["c", "num"],
    ]);
    expect(["8", "9"]).to.include(rows[0][1]);
    expect(rows[1][1]).to.match(/^[01]$/);
    expect(rows[2][1]).to.equal("");
    const text = await readFile(path, "utf8");
    expect(text).to.equal(`kind,age,score\n${rows.map((r) => r.join(",")).join("\n")}\n`);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(decodeRows(domain, { rows: 0, columns: [] }, testRng("x"))).to.deep.equal([]);
    const unwritable = await refusesAsync(writeDecodedCsv(join(dir, "no", "such", "dir.csv"), domain, t, testRng("decode")), "io-error");
    expect((unwritable as Error & { cause?: { code?: string } }).cause?.code).to.equal("ENOENT");
    // A table larger than the stream's buffer: the writer waits for "drain" and still writes every row.
    const n = 30_000;
    const big = { rows: n, columns: [new Int32Array(n).fill(1), new Int32Array(n).fill(5), new Int32Array(n).fill(4)] };
    await writeDecodedCsv(join(dir, "big.csv"), domain, big, testRng("big"));
    const lines = (await readFile(join(dir, "big.csv"), "utf8")).split("\n");
    expect(lines).to.have.length(n + 2);
    expect(lines[n]).to.equal("b,,");
  });
});

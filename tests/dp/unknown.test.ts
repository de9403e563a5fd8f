// The unknown code: every column's domain ends with a code for values outside the schema (blank, unlisted category,
// non-numeric). It is always measured — a release must not reveal whether the real data has such values — but
// synthetic rows carry it only when its noisy count passes the 3·sd threshold MST's compression applies to every code.
import { expect } from "chai";
import { compressColumn, decompressCodes } from "../../src/runtime/dp/compress.js";
import { buildDomain } from "../../src/runtime/dp/domain.js";
import { productOfMarginals } from "../../src/runtime/dp/independent.js";
import { mst } from "../../src/runtime/dp/mst.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { decodeRows, encodeRecords } from "../../src/runtime/dp/table.js";
import { INSURANCE_CSV, loadSchema, readCsv } from "./utility.js";

const blankShare = (rows: string[][], c: number) => rows.filter((r) => r[c] === "").length / rows.length;

describe("dp unknown code", () => {
  it("GIVEN noisy counts WHEN compressing THEN merged rows decompress ∝ their noisy counts and never to the unknown code", () => {
    // Codes 0..4, unknown = 4; the threshold at variance 100 is 30: codes 0 and 1 are kept, 2, 3 and 4 merged.
    const c = compressColumn(Float64Array.from([500, 300, 20, 10, 25]), 100, 4);
    expect(Array.from(c.kept)).to.deep.equal([0, 1]);
    expect(Array.from(c.merged)).to.deep.equal([2, 3, 4]);
    expect(Array.from(c.mergedProbabilities)).to.deep.equal([2 / 3, 1 / 3, 0]);
    expect(c.otherIsOnlyUnknown).to.equal(false);
    const out = decompressCodes(new Int32Array(30_000).fill(2), c, testRng("decompress"));
    const twos = out.filter((v) => v === 2).length / out.length;
    expect(out.includes(4)).to.equal(false);
    expect(twos).to.be.closeTo(2 / 3, 0.02);
    // A group that is the unknown code alone is flagged so that generation gives it no rows.
    expect(compressColumn(Float64Array.from([500, 300, -4]), 100, 2).otherIsOnlyUnknown).to.equal(true);
  });

  it("GIVEN insurance.csv (no blank or out-of-schema cell) WHEN synthesizing at ε=1, 2 and 4 THEN no synthetic cell is empty", () => {
    const domain = buildDomain(loadSchema());
    const real = readCsv(INSURANCE_CSV);
    const table = encodeRecords(domain, real.header, real.rows);
    for (const eps of [1, 2, 4]) {
      const rng = testRng(`no-blank-${eps}`);
      const rows = decodeRows(domain, mst(table, domain, { epsilon: eps, rng }).table, rng);
      const pom = decodeRows(domain, productOfMarginals(table, domain, { epsilon: eps, rng }).table, rng);
      for (const r of [...rows, ...pom]) if (r.includes("")) expect.fail(`ε=${eps}: a synthetic row has an empty cell: ${r.join(",")}`);
    }
  });

  it("GIVEN a column that is blank in 25% of 2,000 rows WHEN synthesizing at ε=2 THEN about 25% of its synthetic cells are blank", () => {
    const schema = {
      columns: [
        { name: "a", type: "categorical", categories: ["x", "y", "z"] },
        { name: "n", type: "numeric", min: 0, max: 10, bins: 5 },
        { name: "b", type: "categorical", categories: ["p", "q"] },
      ],
    };
    const domain = buildDomain(schema);
    const rng = testRng("blanks");
    const rows = Array.from({ length: 2000 }, (_, i) => [["x", "y", "z"][i % 3], i % 4 === 0 ? "" : String(i % 10), i % 2 ? "p" : "q"]);
    const table = encodeRecords(domain, ["a", "n", "b"], rows);
    const synth = decodeRows(domain, mst(table, domain, { epsilon: 2, rng }).table, rng);
    expect(blankShare(synth, 1)).to.be.closeTo(0.25, 0.05);
    const pom = decodeRows(domain, productOfMarginals(table, domain, { epsilon: 2, rng }).table, rng);
    expect(blankShare(pom, 1)).to.be.closeTo(0.25, 0.05);
    // Columns without blanks stay without.
    expect(blankShare(synth, 0) + blankShare(synth, 2)).to.equal(0);
  });
});

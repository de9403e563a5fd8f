/**
 * Utility metrics of synthetic insurance data, shared by the DP tests and the DP bench:
 * average total-variation distance over all 2-way marginals, and TSTR (train on synthetic, test on real) R² of a
 * random forest predicting `charges`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { RandomForestRegression } from "ml-random-forest";
import { buildDomain, type Domain } from "../../src/runtime/dp/domain.js";
import { histogram2, totalVariation } from "../../src/runtime/dp/marginals.js";
import type { SecureRng } from "../../src/runtime/dp/rng.js";
import { type EncodedTable, encodeRecords } from "../../src/runtime/dp/table.js";

/** The shared data directory (`shared/data` beside the checkout, as CI lays it out), overridable. */
export const SHARED_DATA = process.env.CLEANROOM_SHARED_DATA ?? join(__dirname, "..", "..", "..", "shared", "data");
export const INSURANCE_CSV = join(SHARED_DATA, "insurance.csv");
export const MANATEE_CSV = join(SHARED_DATA, "manatee-stage1-insurance.csv");
export const INSURANCE_SCHEMA = join(__dirname, "..", "..", "examples", "quickstart", "insurance.schema.json");

/** A CSV read whole (test data only: the library itself always streams). */
export interface Csv {
  header: string[];
  rows: string[][];
}

export function readCsv(path: string): Csv {
  const records = parse(readFileSync(path), { bom: true, skip_empty_lines: true }) as string[][];
  return { header: records[0], rows: records.slice(1) };
}

export function loadSchema(): unknown {
  return JSON.parse(readFileSync(INSURANCE_SCHEMA, "utf8"));
}

/**
 * The evaluation binning of the reference study ("eval": age 5-year, bmi 2.5, charges 2,500): finer than the
 * release schema, so the metric also sees structure inside the release bins.
 */
export const EVAL_SCHEMA = {
  columns: [
    { name: "age", type: "numeric", min: 18, max: 64, bins: 10, integer: true },
    { name: "sex", type: "categorical", categories: ["female", "male"] },
    { name: "bmi", type: "numeric", min: 15, max: 55, bins: 16 },
    { name: "children", type: "numeric", min: 0, max: 5, bins: 6, integer: true },
    { name: "smoker", type: "categorical", categories: ["yes", "no"] },
    { name: "region", type: "categorical", categories: ["northeast", "northwest", "southeast", "southwest"] },
    { name: "charges", type: "numeric", min: 0, max: 65000, bins: 26 },
  ],
};

/** Average TV distance over all 2-way marginals of two tables encoded with the same domain. */
export function averageTwoWayTv(domain: Domain, real: EncodedTable, synth: EncodedTable): number {
  const d = domain.columns.length;
  let sum = 0;
  let count = 0;
  for (let a = 0; a < d; a++) {
    for (let b = a + 1; b < d; b++) {
      const ka = domain.columns[a].size;
      const kb = domain.columns[b].size;
      sum += totalVariation(histogram2(real.columns[a], real.columns[b], ka, kb), histogram2(synth.columns[a], synth.columns[b], ka, kb));
      count++;
    }
  }
  return sum / count;
}

/** Average 2-way TV of two CSVs (header + rows) on the evaluation binning. */
export function twoWayTvOnEvalBins(real: Csv, synth: Csv): number {
  const domain = buildDomain(EVAL_SCHEMA);
  return averageTwoWayTv(domain, encodeRecords(domain, real.header, real.rows), encodeRecords(domain, synth.header, synth.rows));
}

const REGIONS = ["northeast", "northwest", "southeast", "southwest"];

/** Features (age, sex, bmi, children, smoker, region; categoricals ordinal-encoded) and target (charges); rows with a blank are dropped. */
export function features(csv: Csv): { x: number[][]; y: number[] } {
  const col = (n: string) => csv.header.indexOf(n);
  const [age, sex, bmi, children, smoker, region, charges] = ["age", "sex", "bmi", "children", "smoker", "region", "charges"].map(col);
  const x: number[][] = [];
  const y: number[] = [];
  for (const r of csv.rows) {
    if ([age, bmi, children, charges].some((i) => r[i] === "" || Number.isNaN(Number(r[i])))) continue;
    x.push([
      Number(r[age]),
      r[sex] === "male" ? 1 : 0,
      Number(r[bmi]),
      Number(r[children]),
      r[smoker] === "yes" ? 1 : 0,
      REGIONS.indexOf(r[region]),
    ]);
    y.push(Number(r[charges]));
  }
  return { x, y };
}

/** R² of predictions against the truth. */
export function rSquared(truth: number[], pred: number[]): number {
  const mean = truth.reduce((a, b) => a + b, 0) / truth.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < truth.length; i++) {
    ssRes += (truth[i] - pred[i]) ** 2;
    ssTot += (truth[i] - mean) ** 2;
  }
  return 1 - ssRes / ssTot;
}

/** Trains a random forest on `train` and returns its R² on `test` (both with a `charges` column). */
export function tstrR2(train: Csv, test: Csv): number {
  const tr = features(train);
  const te = features(test);
  const rf = new RandomForestRegression({
    // Small forest: ml-cart's split search is quadratic in the rows, and this keeps a fit near one second.
    nEstimators: 10,
    maxFeatures: 1.0,
    replacement: false,
    useSampleBagging: true,
    noOOB: true,
    seed: 7,
    treeOptions: { maxDepth: 5, minNumSamples: 20 },
  });
  rf.train(tr.x, tr.y);
  return rSquared(te.y, rf.predict(te.x));
}

/** A reproducible 70/30 split of the rows (the permutation comes from the given test stream). */
export function split(csv: Csv, rng: SecureRng, trainShare = 0.7): { train: Csv; test: Csv } {
  const idx = rng.shuffle(Array.from({ length: csv.rows.length }, (_, i) => i));
  const cut = Math.round(csv.rows.length * trainShare);
  return {
    train: { header: csv.header, rows: idx.slice(0, cut).map((i) => csv.rows[i]) },
    test: { header: csv.header, rows: idx.slice(cut).map((i) => csv.rows[i]) },
  };
}

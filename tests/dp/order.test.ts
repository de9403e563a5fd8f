// "All noise is drawn before the data is touched": the order of noise draws, CSV reads and histogram computations,
// recorded by wrapping the module functions the mechanisms call (CommonJS exports are looked up at call time).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import * as domainModule from "../../src/runtime/dp/domain.js";
import * as exponentialModule from "../../src/runtime/dp/exponential.js";
import * as sourceModule from "../../src/runtime/dp/marginal-source.js";
import * as marginalsModule from "../../src/runtime/dp/marginals.js";
import { drawMstNoise, mst, planMst } from "../../src/runtime/dp/mst.js";
import { aggregateCsv, synthesizeCsv } from "../../src/runtime/dp/release.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import * as samplersModule from "../../src/runtime/dp/samplers.js";
import * as tableModule from "../../src/runtime/dp/table.js";
import { INSURANCE_CSV, loadSchema, readCsv } from "./utility.js";

type Event = "noise" | "read" | "data" | "select";

/** Wraps `fns` of a module so each call appends `event` to `log`; returns a function that restores them. */
function record(mod: object, fns: readonly string[], event: Event, log: Event[]): () => void {
  const target = mod as Record<string, unknown>;
  const saved = fns.map((f) => [f, target[f]] as const);
  for (const [f, original] of saved) {
    if (typeof original !== "function") throw new Error(`${f} is not a function of the module`);
    target[f] = (...args: unknown[]) => {
      log.push(event);
      return (original as (...a: unknown[]) => unknown)(...args);
    };
  }
  return () => {
    for (const [f, original] of saved) target[f] = original;
  };
}

function withRecording<T>(fn: (log: Event[]) => Promise<T>): Promise<{ log: Event[]; result: T }> {
  const log: Event[] = [];
  const restore = [
    record(samplersModule, ["discreteGaussianVector", "discreteLaplaceVector"], "noise", log),
    record(tableModule, ["readEncodedCsv", "scanCsv"], "read", log),
    record(marginalsModule, ["histogram1", "histogram2", "compressTable"], "data", log),
    record(sourceModule, ["tablesOfColumns"], "data", log),
    record(exponentialModule, ["exponentialMechanism"], "select", log),
  ];
  return fn(log)
    .then((result) => ({ log, result }))
    .finally(() => {
      for (const r of restore) r();
    });
}

/** Every noise draw comes before the first event of `kind`, and at least one of each happened. */
function expectNoiseBefore(log: Event[], kind: Event): void {
  const first = log.indexOf(kind);
  expect(first, `no ${kind} event in ${log.join(",")}`).to.be.at.least(0);
  expect(log.indexOf("noise"), "no noise drawn").to.be.at.least(0);
  expect(log.lastIndexOf("noise"), log.join(",")).to.be.below(first);
}

describe("dp order: noise before data", () => {
  const schema = loadSchema();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "acr-dp-order-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("GIVEN an MST release WHEN it runs THEN every discrete Gaussian (rounds 1 and 3) is drawn before the CSV is opened", async () => {
    const { log, result } = await withRecording(() =>
      synthesizeCsv({ input: INSURANCE_CSV, schema, output: join(dir, "mst.csv"), epsilon: 2, rng: testRng("order-mst") }),
    );
    expectNoiseBefore(log, "read");
    expectNoiseBefore(log, "data");
    // The exponential mechanism is the one exception: its proposals are accepted with probabilities set by the scores.
    expect(log.indexOf("select")).to.be.above(log.indexOf("data"));
    expect(log.filter((e) => e === "select")).to.have.length(6);
    expect(result.tree).to.have.length(6);
  });

  it("GIVEN the mst() API without pre-drawn noise THEN it still draws all noise before the first histogram", async () => {
    const domain = domainModule.buildDomain(schema);
    const real = readCsv(INSURANCE_CSV);
    const table = tableModule.encodeRecords(domain, real.header, real.rows);
    const { log } = await withRecording(async () => mst(table, domain, { epsilon: 2, rng: testRng("order-api") }));
    expectNoiseBefore(log, "data");
    // One call for each column's 1-way vector plus one pooled 2-way draw; nothing is drawn after the data.
    expect(log.filter((e) => e === "noise")).to.have.length(domain.columns.length + 1);
  });

  it("GIVEN noise drawn for another ε WHEN passed to mst() THEN it is refused instead of silently under-noising", () => {
    const domain = domainModule.buildDomain(schema);
    const real = readCsv(INSURANCE_CSV);
    const table = tableModule.encodeRecords(domain, real.header, real.rows);
    const sizes = domain.columns.map((c) => c.size);
    const noise = drawMstNoise(planMst(sizes.length, 8, 1e-9), sizes, testRng("other-plan"));
    expect(() => mst(table, domain, { epsilon: 2, noise, rng: testRng("other-plan-2") })).to.throw(/another plan/);
  });

  it("GIVEN product-of-marginals and aggregates releases THEN their noise is drawn before the CSV is opened", async () => {
    const pom = await withRecording(() =>
      synthesizeCsv({ input: INSURANCE_CSV, schema, output: join(dir, "pom.csv"), epsilon: 1, method: "product-of-marginals", rng: testRng("order-pom") }),
    );
    expectNoiseBefore(pom.log, "read");
    const agg = await withRecording(() => aggregateCsv({ input: INSURANCE_CSV, schema, output: join(dir, "agg.json"), epsilon: 1, rng: testRng("order-agg") }));
    expectNoiseBefore(agg.log, "read");
  });
});

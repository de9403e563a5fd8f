/**
 * Spec validation at its edges: names and digests of the right shape but the wrong type, duplicates among entries
 * that are not objects, options, and fields that only some column types or methods allow.
 */
import { expect } from "chai";
import { CleanRoomError, resolveSpec, specProblems, validateSpec } from "../../src/core/index.js";
import { APPROVED_JOB, validSpec, withField } from "./fixtures.js";

const problems = (path: string, value: unknown) => specProblems(withField(validSpec(), path, value));

describe("core/spec: edges", () => {
  it("GIVEN an unknown field WHEN checked THEN the problem lists the known fields, comma-separated", () => {
    expect(problems("output.maxByte", 1)).to.deep.equal(["output.maxByte is not a known field (known: maxBytes, requireRelease, disclosure)"]);
  });

  it("GIVEN no providers WHEN allowed by the caller THEN no problem; WHEN not THEN one", () => {
    const spec = { providers: [] };
    expect(specProblems(spec, { allowNoProviders: true })).to.deep.equal([]);
    expect(specProblems(spec)).to.deep.equal(["providers must be a non-empty array: a room needs at least one data provider"]);
  });

  it("GIVEN providers or datasets that are not objects, or share a name that is not a string WHEN checked THEN no duplicate is claimed", () => {
    expect(specProblems({ providers: [null] })).to.deep.equal(["providers[0] must be an object with name and datasets"]);
    const sameBadName = specProblems({ providers: [{ name: 1, datasets: [{ name: "d" }] }, { name: 1, datasets: [{ name: "d" }] }] });
    expect(sameBadName.filter((p) => p.includes("duplicate"))).to.deep.equal([]);
    const datasets = problems("providers[1].datasets", [{ name: 1 }, { name: 1 }, null]);
    expect(datasets.filter((p) => p.includes("duplicate"))).to.deep.equal([]);
    expect(datasets).to.include("providers[1].datasets[2] must be an object with a name");
  });

  it("GIVEN a provider name, project or approved job wrapped in an array WHEN checked THEN refused", () => {
    expect(problems("providers[1].name", ["insurer"])).to.have.length(1);
    expect(problems("providers[0].project", ["hospital-a-prod"])).to.deep.equal([
      'providers[0].project must be a GCP project id (6-30 chars, [a-z0-9-], starts with a letter) (got ["hospital-a-prod"])',
    ]);
    expect(problems("providers[0].approvedJobs", [[APPROVED_JOB]])).to.have.length(1);
  });

  it("GIVEN the aim method without a schema WHEN checked THEN the schema is required, as for mst and aggregates", () => {
    expect(problems("providers[1].datasets[0].stage1Method", "aim")).to.deep.equal([
      'providers[1].datasets[0].schema is required when stage1Method is "aim": DP domains must come from a public schema',
    ]);
  });

  it("GIVEN a column with an empty name, or a categorical column with numeric settings WHEN checked THEN each is named", () => {
    expect(problems("providers[0].datasets[0].schema.columns[0].name", "")).to.deep.equal(["providers[0].datasets[0].schema.columns[0].name must be a non-empty string"]);
    const cat = "providers[0].datasets[0].schema.columns[0]";
    for (const k of ["min", "max", "bins", "integer"]) {
      expect(problems(`${cat}.${k}`, 1), k).to.deep.equal([`${cat}.${k} applies to numeric columns only`]);
    }
  });

  it("GIVEN output with only one of its fields, and one byte WHEN checked THEN no problem", () => {
    expect(problems("output", { maxBytes: 1 })).to.deep.equal([]);
    expect(problems("output", { requireRelease: false })).to.deep.equal([]);
  });

  it("GIVEN a bad spec WHEN validated THEN invalid-spec headed by what was validated", () => {
    expect(() => validateSpec(withField(validSpec(), "codePolicy", "x"))).to.throw(CleanRoomError, /^Invalid clean room spec: 1 problem:/);
  });

  it("GIVEN a dataset with disclosure settings WHEN resolved THEN the resolved dataset carries a copy of them; without THEN no disclosure field", () => {
    const disclosure = { mode: "enforce", quasiIdentifiers: ["age", "sex"], minCellCount: 20 };
    const spec = withField(validSpec(), "providers[0].datasets[0].disclosure", disclosure);
    const ds = resolveSpec(spec).providers[0]!.datasets[0]!;
    expect(ds.disclosure).to.deep.equal(disclosure);
    // A copy: changing the spec afterwards does not change the resolved room.
    expect(ds.disclosure).not.to.equal(spec.providers[0]!.datasets[0]!.disclosure);
    expect(resolveSpec(validSpec()).providers[0]!.datasets[0]).not.to.have.property("disclosure");
  });

  it("GIVEN no extra top-level keys allowed THEN any unknown top-level key is refused, whatever its name", () => {
    // Pins the default list of extra keys as empty (a caller such as the component passes its own).
    for (const k of ["Stryker was here", "notes"]) {
      const p = specProblems({ ...validSpec(), [k]: 1 });
      expect(p).to.have.length(1);
      expect(p[0]).to.match(new RegExp(`^spec\\.${k} is not a known field`));
    }
  });
});

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CleanRoomError,
  datasetFileName,
  datasetStandIn,
  type ResolvedSpec,
  resolveSpec,
  SPEC_DEFAULTS,
  schemaProblems,
  specProblems,
  validateSpec,
} from "../../src/core/index.js";
import { DISCLOSURE_DEFAULTS } from "../../src/core/disclosure.js";
import { APPROVED_JOB, DELETE, validSpec, withField } from "./fixtures.js";

/** The problems of the valid spec with one field replaced. */
function problemsWith(path: string, value: unknown): string[] {
  return specProblems(withField(validSpec(), path, value));
}

function expectOneProblem(problems: string[], prefix: string, contains?: string): void {
  expect(problems, `expected exactly one problem at ${prefix}`).to.have.length(1);
  expect(problems[0]!.startsWith(prefix), `"${problems[0]}" should start with "${prefix}"`).to.equal(true);
  if (contains) expect(problems[0]).to.include(contains);
}

describe("core/spec: validation", () => {
  it("GIVEN the fixture spec using every section THEN it has no problems", () => {
    expect(specProblems(validSpec())).to.deep.equal([]);
  });

  it("GIVEN a non-object spec THEN one problem explains the expected shape", () => {
    for (const bad of [null, 42, "spec", [], undefined]) {
      expect(specProblems(bad)).to.deep.equal(["spec must be a JSON object with a `providers` array"]);
    }
  });

  describe("provider names follow GCP id rules (1-24 chars, [a-z0-9-], letter first, no trailing hyphen)", () => {
    for (const good of ["a", "a1", "hospital-a", "a".repeat(24), "x-0"]) {
      it(`GIVEN name ${JSON.stringify(good)} THEN accepted`, () => {
        expect(problemsWith("providers[0].name", good)).to.deep.equal([]);
      });
    }
    for (const bad of ["", "Hospital", "1hospital", "hospital-", "hos_pital", "a".repeat(25), "-a", "hospital a", 7]) {
      it(`GIVEN name ${JSON.stringify(bad)} THEN rejected at providers[0].name`, () => {
        expectOneProblem(problemsWith("providers[0].name", bad), "providers[0].name must be 1-24");
      });
    }
  });

  describe("dataset names (1-48 chars of [a-z0-9_-], letter first)", () => {
    for (const good of ["d", "claims_2024", "a-b_c", "d".repeat(48)]) {
      it(`GIVEN dataset name ${JSON.stringify(good)} THEN accepted`, () => {
        expect(problemsWith("providers[1].datasets[0].name", good)).to.deep.equal([]);
      });
    }
    for (const bad of ["", "Claims", "2claims", "d".repeat(49), "a.b", null]) {
      it(`GIVEN dataset name ${JSON.stringify(bad)} THEN rejected with its path`, () => {
        expectOneProblem(problemsWith("providers[1].datasets[0].name", bad), "providers[1].datasets[0].name must be 1-48");
      });
    }
  });

  describe("project ids (6-30 chars)", () => {
    it("GIVEN a valid project id THEN accepted", () => {
      expect(problemsWith("providers[0].project", "abcdef")).to.deep.equal([]);
      expect(problemsWith("providers[0].project", `a${"b".repeat(29)}`)).to.deep.equal([]);
    });
    for (const bad of ["abcde", "Abcdef", "abcdef-", `a${"b".repeat(30)}`, "1abcdef"]) {
      it(`GIVEN project ${JSON.stringify(bad)} THEN rejected`, () => {
        expectOneProblem(problemsWith("providers[0].project", bad), "providers[0].project must be a GCP project id");
      });
    }
  });

  it("GIVEN two providers with the same name THEN the second is reported as a duplicate", () => {
    expectOneProblem(problemsWith("providers[1].name", "hospital-a"), "providers[1].name \"hospital-a\" is a duplicate");
  });

  it("GIVEN two datasets with the same name in one provider THEN the second is reported", () => {
    const spec = withField(validSpec(), "providers[1].datasets", [{ name: "claims" }, { name: "claims" }]);
    expectOneProblem(specProblems(spec), "providers[1].datasets[1].name \"claims\" is a duplicate");
  });

  it("GIVEN the same dataset name under two different providers THEN that is allowed", () => {
    expect(problemsWith("providers[1].datasets[0].name", "patients")).to.deep.equal([]);
  });

  it("GIVEN no providers, or a provider without datasets THEN each is a problem", () => {
    expectOneProblem(problemsWith("providers", []), "providers must be a non-empty array");
    expectOneProblem(problemsWith("providers", DELETE), "providers must be a non-empty array");
    expectOneProblem(problemsWith("providers[1].datasets", []), "providers[1].datasets must be a non-empty array");
    expectOneProblem(problemsWith("providers[1]", "insurer"), "providers[1] must be an object");
    expectOneProblem(problemsWith("providers[1].datasets[0]", 3), "providers[1].datasets[0] must be an object");
  });

  describe("approved job digests", () => {
    for (const bad of [
      `sha256:${"A".repeat(64)}`,
      `sha256:${"a".repeat(63)}`,
      `sha256:${"a".repeat(65)}`,
      "a".repeat(64),
      `sha512:${"a".repeat(64)}`,
      `sha256:${"a".repeat(63)}'`,
    ]) {
      it(`GIVEN approvedJobs [${JSON.stringify(bad)}] THEN rejected with advice to use \`cleanroom job pack\``, () => {
        expectOneProblem(problemsWith("providers[0].approvedJobs[0]", bad), "providers[0].approvedJobs[0] must be sha256:", "cleanroom job pack");
      });
    }
    it("GIVEN the same digest twice THEN the repeat is reported", () => {
      expectOneProblem(problemsWith("providers[0].approvedJobs", [APPROVED_JOB, APPROVED_JOB]), "providers[0].approvedJobs[1] is listed twice");
    });
    it("GIVEN approvedJobs that is not an array THEN rejected", () => {
      expectOneProblem(problemsWith("providers[0].approvedJobs", APPROVED_JOB), "providers[0].approvedJobs must be an array");
    });
  });

  describe("epsilon and delta ranges", () => {
    const eps = "providers[0].datasets[0].epsilon";
    for (const good of [0.01, 1, 20]) {
      it(`GIVEN epsilon ${good} THEN accepted`, () => expect(problemsWith(eps, good)).to.deep.equal([]));
    }
    for (const bad of [0, -1, 20.0001, Number.NaN, Number.POSITIVE_INFINITY, "1", null]) {
      it(`GIVEN epsilon ${String(bad)} THEN rejected (must be > 0 and <= 20)`, () => {
        expectOneProblem(problemsWith(eps, bad), `${eps} must be > 0 and <= 20`);
      });
    }
    const delta = "providers[0].datasets[0].delta";
    for (const good of [1e-12, 1e-9, 9.99e-4]) {
      it(`GIVEN delta ${good} THEN accepted`, () => expect(problemsWith(delta, good)).to.deep.equal([]));
    }
    for (const bad of [0, -1e-9, 1e-3, 0.5, 1, "1e-9"]) {
      it(`GIVEN delta ${String(bad)} THEN rejected (must be > 0 and < 0.001)`, () => {
        expectOneProblem(problemsWith(delta, bad), `${delta} must be > 0 and < 0.001`, "1/(rows^2)");
      });
    }
  });

  describe("stage1Method", () => {
    it("GIVEN each allowed method with a schema THEN accepted", () => {
      for (const m of ["mst", "aggregates", "none"]) {
        expect(problemsWith("providers[0].datasets[0].stage1Method", m)).to.deep.equal([]);
      }
    });
    it("GIVEN an unknown method THEN rejected listing the allowed ones", () => {
      expectOneProblem(problemsWith("providers[0].datasets[0].stage1Method", "gan"), "providers[0].datasets[0].stage1Method must be one of mst, aim, aggregates, none");
    });
    for (const m of ["mst", "aggregates"]) {
      it(`GIVEN stage1Method "${m}" without a schema THEN the missing public schema is reported`, () => {
        const spec = withField(withField(validSpec(), "providers[0].datasets[0].schema", DELETE), "providers[0].datasets[0].stage1Method", m);
        expectOneProblem(specProblems(spec), "providers[0].datasets[0].schema is required", "public schema");
      });
    }
    it("GIVEN stage1Method none without a schema THEN accepted", () => {
      const spec = withField(withField(validSpec(), "providers[0].datasets[0].schema", DELETE), "providers[0].datasets[0].stage1Method", "none");
      expect(specProblems(spec)).to.deep.equal([]);
    });
  });

  describe("dataset format (table format)", () => {
    it("GIVEN format csv or parquet THEN accepted", () => {
      for (const f of ["csv", "parquet"]) expect(problemsWith("providers[0].datasets[0].format", f)).to.deep.equal([]);
    });
    for (const bad of ["PARQUET", "json", "", 1]) {
      it(`GIVEN format ${JSON.stringify(bad)} THEN rejected listing the allowed formats and the fix`, () => {
        expectOneProblem(problemsWith("providers[0].datasets[0].format", bad), "providers[0].datasets[0].format must be one of csv, parquet", "leave it out for a CSV table");
      });
    }
  });

  describe("dataset standIn (what stage 1 shows for data no DP method describes)", () => {
    it("GIVEN standIn provided or none THEN accepted, for a table with a DP method too", () => {
      for (const v of ["provided", "none"]) expect(problemsWith("providers[0].datasets[0].standIn", v)).to.deep.equal([]);
    });
    for (const bad of ["Provided", "mock", "", true]) {
      it(`GIVEN standIn ${JSON.stringify(bad)} THEN rejected listing the allowed values and what each means`, () => {
        expectOneProblem(problemsWith("providers[0].datasets[0].standIn", bad), "providers[0].datasets[0].standIn must be one of none, provided", "explore on nothing");
      });
    }
  });

  it("GIVEN codePolicy other than approved-jobs/any-job THEN rejected; both allowed values pass", () => {
    expectOneProblem(problemsWith("codePolicy", "everything"), "codePolicy must be one of approved-jobs, any-job");
    expect(problemsWith("codePolicy", "any-job")).to.deep.equal([]);
  });

  describe("unknown keys (typos) are reported at every level", () => {
    const cases: [string, string][] = [
      ["provider", "providers[0]"],
      ["codepolicy", ""],
      ["approvedJob", "providers[0]"],
      ["epsilom", "providers[0].datasets[0]"],
      ["colums", "providers[0].datasets[0].schema"],
      ["catgories", "providers[0].datasets[0].schema.columns[0]"],
      ["allowdebug", "attestation"],
      ["maxbytes", "output"],
    ];
    for (const [key, parent] of cases) {
      const path = parent ? `${parent}.${key}` : key;
      const shown = parent ? `${parent}.${key}` : `spec.${key}`;
      it(`GIVEN an unknown field ${shown} THEN it is named with the known fields`, () => {
        expectOneProblem(problemsWith(path, true), `${shown} is not a known field (known: `);
      });
    }
    it("GIVEN extraTopLevelKeys THEN those top-level keys are accepted", () => {
      const spec = { ...validSpec(), project: "my-proj", region: "europe-west4" };
      expect(specProblems(spec)).to.have.length(2);
      expect(specProblems(spec, { extraTopLevelKeys: ["project", "region"] })).to.deep.equal([]);
    });
  });

  describe("attestation section", () => {
    it("GIVEN allowDebug together with requireStable THEN rejected as contradictory", () => {
      expectOneProblem(problemsWith("attestation.allowDebug", true), "attestation: allowDebug cannot be combined with requireStable");
    });
    it("GIVEN allowDebug alone THEN accepted", () => {
      const spec = withField(withField(validSpec(), "attestation.allowDebug", true), "attestation.requireStable", DELETE);
      expect(specProblems(spec)).to.deep.equal([]);
    });
    it("GIVEN non-boolean flags, a bad hardware model or image version THEN each is named", () => {
      expectOneProblem(problemsWith("attestation.allowDebug", "no"), "attestation.allowDebug must be a boolean");
      expectOneProblem(problemsWith("attestation.requireStable", 1), "attestation.requireStable must be a boolean");
      expectOneProblem(problemsWith("attestation.hwModels", ["gcp_intel_tdx"]), "attestation.hwModels[0] must be one of");
      expectOneProblem(problemsWith("attestation.hwModels", "GCP_INTEL_TDX"), "attestation.hwModels must be an array");
      for (const v of [-1, 2503.5, "250300", 100_000_000]) {
        expectOneProblem(problemsWith("attestation.minImageVersion", v), "attestation.minImageVersion must be an integer");
      }
      expectOneProblem(problemsWith("attestation", "strict"), "attestation must be an object");
    });
  });

  describe("output section", () => {
    it("GIVEN maxBytes that is not a positive integer THEN rejected", () => {
      for (const v of [0, -1, 1.5, "1024", 2 ** 53]) {
        expectOneProblem(problemsWith("output.maxBytes", v), "output.maxBytes must be a positive integer");
      }
    });
    it("GIVEN a non-boolean requireRelease or a non-object output THEN rejected", () => {
      expectOneProblem(problemsWith("output.requireRelease", "yes"), "output.requireRelease must be a boolean");
      expectOneProblem(problemsWith("output", 5), "output must be an object");
    });
  });

  it("GIVEN a spec with exactly five mistakes THEN all five are reported, each with its path", () => {
    let spec = validSpec();
    spec = withField(spec, "providers[0].name", "Hospital_A");
    spec = withField(spec, "providers[0].datasets[0].epsilon", 0);
    spec = withField(spec, "providers[0].datasets[0].schema.columns[1].min", 200);
    spec = withField(spec, "providers[1].approvedJobs", ["sha256:abc"]);
    spec = withField(spec, "output.maxBytes", -5);
    const problems = specProblems(spec);
    expect(problems).to.have.length(5);
    const prefixes = [
      "providers[0].name ",
      "providers[0].datasets[0].epsilon ",
      "providers[0].datasets[0].schema.columns[1].min ",
      "providers[1].approvedJobs[0] ",
      "output.maxBytes ",
    ];
    for (const prefix of prefixes) expect(problems.some((p) => p.startsWith(prefix)), prefix).to.equal(true);

    // WHEN validated THEN one CleanRoomError carries all five, in its message too.
    try {
      validateSpec(spec);
      expect.fail("validateSpec should throw");
    } catch (err) {
      expect(err).to.be.instanceOf(CleanRoomError);
      const e = err as CleanRoomError;
      expect(e.code).to.equal("invalid-spec");
      expect(e.problems).to.deep.equal(problems);
      expect(e.message).to.include("5 problems");
      for (const p of problems) expect(e.message).to.include(p);
    }
  });
});

describe("core/spec: schemaProblems (public domains)", () => {
  const col = (c: Record<string, unknown>) => schemaProblems({ columns: [c] }, "schema");

  it("GIVEN valid categorical and numeric columns THEN no problems", () => {
    expect(col({ name: "c", type: "categorical", categories: ["x"] })).to.deep.equal([]);
    expect(col({ name: "n", type: "numeric", min: -1.5, max: 1.5 })).to.deep.equal([]);
    expect(col({ name: "n", type: "numeric", min: 0, max: 1, bins: 1, integer: false })).to.deep.equal([]);
    expect(col({ name: "n", type: "numeric", min: 0, max: 1, bins: 1000 })).to.deep.equal([]);
  });
  it("GIVEN categorical columns with no, empty, non-string or repeated categories THEN each is named", () => {
    expectOneProblem(col({ name: "c", type: "categorical" }), "schema.columns[0].categories must be a non-empty array");
    expectOneProblem(col({ name: "c", type: "categorical", categories: [] }), "schema.columns[0].categories must be a non-empty array");
    expectOneProblem(col({ name: "c", type: "categorical", categories: ["a", 1] }), "schema.columns[0].categories[1] must be a string");
    expectOneProblem(col({ name: "c", type: "categorical", categories: ["a", "a"] }), "schema.columns[0].categories[1] \"a\" is listed twice");
    expectOneProblem(col({ name: "c", type: "categorical", categories: ["a"], bins: 3 }), "schema.columns[0].bins applies to numeric columns only");
  });
  it("GIVEN numeric columns without bounds or with min >= max THEN rejected", () => {
    expectOneProblem(col({ name: "n", type: "numeric", max: 1 }), "schema.columns[0] needs finite numeric min and max");
    expectOneProblem(col({ name: "n", type: "numeric", min: 0, max: Number.POSITIVE_INFINITY }), "schema.columns[0] needs finite");
    expectOneProblem(col({ name: "n", type: "numeric", min: 1, max: 1 }), "schema.columns[0].min (1) must be less than max (1)");
    expectOneProblem(col({ name: "n", type: "numeric", min: 2, max: 1 }), "schema.columns[0].min (2) must be less than max (1)");
  });
  it("GIVEN bins outside 1..1000 or not an integer THEN rejected", () => {
    for (const bins of [0, -3, 1.5, 1001, "8"]) {
      expectOneProblem(col({ name: "n", type: "numeric", min: 0, max: 1, bins }), "schema.columns[0].bins must be an integer from 1 to 1000");
    }
  });
  it("GIVEN a non-boolean integer flag, categories on a numeric column, or an unknown type THEN rejected", () => {
    expectOneProblem(col({ name: "n", type: "numeric", min: 0, max: 1, integer: "yes" }), "schema.columns[0].integer must be a boolean");
    expectOneProblem(col({ name: "n", type: "numeric", min: 0, max: 1, categories: ["a"] }), "schema.columns[0].categories applies to categorical");
    expectOneProblem(col({ name: "n", type: "text" }), "schema.columns[0].type must be one of categorical, numeric");
  });
  it("GIVEN columns without a name, a repeated name, or a non-object THEN rejected", () => {
    expectOneProblem(col({ type: "categorical", categories: ["a"] }), "schema.columns[0].name must be a non-empty string");
    const dup = schemaProblems(
      { columns: [{ name: "a", type: "categorical", categories: ["x"] }, { name: "a", type: "numeric", min: 0, max: 1 }] },
      "schema",
    );
    expectOneProblem(dup, "schema.columns[1].name \"a\" is a duplicate column");
    expectOneProblem(schemaProblems({ columns: [null] }, "schema"), "schema.columns[0] must be an object");
  });
  it("GIVEN no columns, or not an object THEN one problem", () => {
    for (const bad of [{ columns: [] }, {}, null, []]) {
      expect(schemaProblems(bad, "s")).to.deep.equal(["s.columns must be a non-empty array of column definitions"]);
    }
  });
});

describe("core/spec: resolveSpec fills the secure defaults", () => {
  const minimal = { providers: [{ name: "p", datasets: [{ name: "plain" }, { name: "tab", schema: { columns: [{ name: "x", type: "numeric", min: 0, max: 1 }] } }] }] };

  it("GIVEN a minimal spec THEN every default of SPEC_DEFAULTS is applied", () => {
    const r: ResolvedSpec = resolveSpec(minimal);
    expect(r).to.deep.equal({
      providers: [
        {
          name: "p",
          approvedJobs: [],
          datasets: [
            { name: "plain", stage1Method: "none", epsilon: 1, delta: 1e-9 },
            { name: "tab", schema: minimal.providers[0]!.datasets[1]!.schema, stage1Method: "mst", epsilon: 1, delta: 1e-9 },
          ],
        },
      ],
      codePolicy: "approved-jobs",
      attestation: { allowDebug: false, requireStable: true },
      output: { maxBytes: 104857600, requireRelease: false, disclosure: { mode: "review", releaseOnPass: true, thresholds: DISCLOSURE_DEFAULTS } },
      jobs: { timeoutSeconds: 21600 },
    });
    expect(SPEC_DEFAULTS.maxBytes).to.equal(100 * 1024 * 1024);
  });

  it("GIVEN format parquet THEN it is kept; GIVEN format csv THEN it is left out, as the default (CSV descriptors stay as they were)", () => {
    const r = resolveSpec({ providers: [{ name: "p", datasets: [{ name: "pq", format: "parquet" }, { name: "c", format: "csv" }, { name: "d" }] }] });
    expect(r.providers[0]!.datasets.map((d) => d.format)).to.deep.equal(["parquet", undefined, undefined]);
    expect(Object.keys(r.providers[0]!.datasets[1]!)).to.not.include("format");
    expect(r.providers[0]!.datasets.map((d) => datasetFileName(d))).to.deep.equal(["pq.parquet", "c.csv", "d.csv"]);
  });

  it("GIVEN standIn provided THEN it is kept; GIVEN none or nothing THEN it is left out, as the default (descriptors without stand-ins stay as they were)", () => {
    const r = resolveSpec({ providers: [{ name: "p", datasets: [{ name: "a", standIn: "provided" }, { name: "b", standIn: "none" }, { name: "c" }] }] });
    expect(r.providers[0]!.datasets.map((d) => d.standIn)).to.deep.equal(["provided", undefined, undefined]);
    expect(Object.keys(r.providers[0]!.datasets[1]!)).to.not.include("standIn");
    expect(r.providers[0]!.datasets.map((d) => datasetStandIn(d))).to.deep.equal(["provided", "none", "none"]);
  });

  it("GIVEN explicit values THEN they are kept", () => {
    const r = resolveSpec(validSpec());
    expect(r.codePolicy).to.equal("approved-jobs");
    expect(r.providers[0]!.project).to.equal("hospital-a-prod");
    expect(r.providers[0]!.approvedJobs).to.deep.equal([APPROVED_JOB]);
    expect(r.providers[0]!.datasets[0]).to.include({ stage1Method: "mst", epsilon: 2, delta: 1e-10 });
    expect(r.attestation).to.deep.equal({ allowDebug: false, requireStable: true, hwModels: ["GCP_INTEL_TDX"], minImageVersion: 250300 });
    expect(r.output).to.deep.equal({ maxBytes: 1024, requireRelease: true, disclosure: { mode: "review", releaseOnPass: true, thresholds: DISCLOSURE_DEFAULTS } });
  });

  it("GIVEN allowDebug THEN requireStable resolves to false (debug images carry no support attributes)", () => {
    const r = resolveSpec({ ...minimal, attestation: { allowDebug: true } });
    expect(r.attestation).to.deep.equal({ allowDebug: true, requireStable: false });
  });

  it("GIVEN an explicit requireStable false THEN it is kept", () => {
    expect(resolveSpec({ ...minimal, attestation: { requireStable: false } }).attestation.requireStable).to.equal(false);
  });

  it("GIVEN the resolved spec THEN it does not share arrays with the input", () => {
    const spec = validSpec();
    const r = resolveSpec(spec);
    (spec.providers[0]!.approvedJobs as string[]).push("x");
    expect(r.providers[0]!.approvedJobs).to.deep.equal([APPROVED_JOB]);
  });

  it("GIVEN an invalid spec THEN resolveSpec throws invalid-spec", () => {
    expect(() => resolveSpec({ providers: [] })).to.throw(CleanRoomError).with.property("code", "invalid-spec");
  });
});

describe("core/spec: jobs.timeoutSeconds (the wall-clock limit of every job)", () => {
  const minimal = { providers: [{ name: "p", datasets: [{ name: "d" }] }] };

  it("GIVEN no jobs section THEN every job gets 6 hours, as ManaTEE's jobs", () => {
    expect(resolveSpec(minimal).jobs).to.deep.equal({ timeoutSeconds: 6 * 3600 });
  });

  it("GIVEN a limit within 1 s .. one week THEN it is kept", () => {
    for (const t of [1, 2, 3600, 604800]) {
      expect(specProblems({ ...minimal, jobs: { timeoutSeconds: t } })).to.deep.equal([]);
      expect(resolveSpec({ ...minimal, jobs: { timeoutSeconds: t } }).jobs.timeoutSeconds).to.equal(t);
    }
  });

  it("GIVEN a limit that is not a whole number of seconds in bounds THEN one problem names the field and the bounds", () => {
    for (const bad of [0, -1, 1.5, 604801, Number.POSITIVE_INFINITY, "60", null]) {
      expectOneProblem(specProblems({ ...minimal, jobs: { timeoutSeconds: bad } }), "jobs.timeoutSeconds", "from 1 to 604800");
    }
  });

  it("GIVEN an unknown key or a non-object under jobs THEN it is refused", () => {
    expectOneProblem(specProblems({ ...minimal, jobs: { timeout: 60 } }), "jobs.timeout is not a known field");
    expectOneProblem(specProblems({ ...minimal, jobs: 60 }), "jobs must be an object");
  });
});

describe("core/spec: the documented example", () => {
  it("GIVEN the complete example spec in docs/core.md THEN it validates with no problems", () => {
    const md = readFileSync(join(__dirname, "..", "..", "docs", "core.md"), "utf8");
    const block = md.split("```json")[1]?.split("```")[0];
    expect(block, "docs/core.md must start its examples with the spec JSON").to.be.a("string");
    const spec: unknown = JSON.parse(block!);
    expect(specProblems(spec)).to.deep.equal([]);
    expect(resolveSpec(spec).providers).to.have.length(2);
  });
});

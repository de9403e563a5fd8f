/**
 * Dataset kinds (issue 15): `kind: "files"` in the spec, the descriptor and the receipt. A files dataset has no table
 * format, no column schema and no DP synthesis; table rooms' descriptors and receipts stay byte-for-byte as they were.
 */
import { expect } from "chai";
import { publishedDatasets } from "../../src/components/data-provider.js";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt, receiptProblems } from "../../src/core/receipt.js";
import { DATASET_KINDS, datasetFileName, datasetKind, isFilesDataset, resolveSpec, specProblems } from "../../src/core/spec.js";
import { localDescriptor, validReceipt, validSpec, withField } from "./fixtures.js";

const DS = "providers[1].datasets[0]";

function specWith(dataset: Record<string, unknown>): unknown {
  const s = validSpec() as unknown as { providers: { datasets: unknown[] }[] };
  s.providers[1]!.datasets[0] = dataset;
  return s;
}

describe("core: dataset kinds (table, files)", () => {
  it("GIVEN no kind THEN the dataset is a table, and its job file is <name>.<format>", () => {
    expect(DATASET_KINDS[0]).to.equal("table");
    expect(datasetKind({})).to.equal("table");
    expect(isFilesDataset({})).to.equal(false);
    expect(datasetFileName({ name: "claims" })).to.equal("claims.csv");
    expect(datasetFileName({ name: "claims", format: "parquet" })).to.equal("claims.parquet");
  });

  it("GIVEN kind files THEN the job sees the directory <name>", () => {
    expect(isFilesDataset({ kind: "files" })).to.equal(true);
    expect(datasetFileName({ name: "weights", kind: "files" })).to.equal("weights");
  });

  it("GIVEN a files dataset with only a name (and ε) THEN the spec is valid and resolves with kind files and stage1Method none", () => {
    const spec = specWith({ name: "weights", kind: "files", epsilon: 1 });
    expect(specProblems(spec)).to.deep.equal([]);
    const ds = resolveSpec(spec).providers[1]!.datasets[0]!;
    expect(ds).to.deep.include({ name: "weights", kind: "files", stage1Method: "none" });
    expect(ds).not.to.have.property("format");
  });

  it("GIVEN kind table explicitly or no kind THEN the resolved dataset has no kind (table rooms' descriptors stay as they were)", () => {
    for (const d of [{ name: "claims", kind: "table" }, { name: "claims" }]) {
      expect(resolveSpec(specWith(d)).providers[1]!.datasets[0]).not.to.have.property("kind");
      expect(publishedDatasets([d])[0]).not.to.have.property("kind");
    }
    expect(publishedDatasets([{ name: "weights", kind: "files" }])[0]).to.include({ kind: "files", stage1Method: "none" });
  });

  it("GIVEN an unknown kind THEN one problem listing the kinds", () => {
    expect(specProblems(specWith({ name: "weights", kind: "model" }))).to.deep.equal([`${DS}.kind must be one of table, files (got "model"); leave it out for a table`]);
  });

  it("GIVEN a files dataset with a format, a schema or a DP stage1Method THEN each is a problem saying what to remove", () => {
    const problems = specProblems(
      specWith({ name: "weights", kind: "files", format: "parquet", stage1Method: "mst", schema: { columns: [{ name: "a", type: "categorical", categories: ["x"] }] } }),
    );
    expect(problems).to.include(`${DS}.format is for tables; a files dataset has none (remove format, or remove kind: "files" for a table)`);
    expect(problems).to.include(`${DS}.schema is for tables; a files dataset has none (remove schema, or remove kind: "files" for a table)`);
    expect(problems).to.include(`${DS}.stage1Method must be "none" for a files dataset (got "mst"): DP synthesis needs a table`);
    expect(specProblems(specWith({ name: "weights", kind: "files", stage1Method: "none" }))).to.deep.equal([]);
  });

  it("GIVEN a descriptor with a files dataset THEN it loads; with kind files and a format, or an unknown kind, THEN refused", () => {
    const d = localDescriptor() as unknown as { providers: { datasets: Record<string, unknown>[] }[] };
    d.providers[0]!.datasets.push({ name: "weights", kind: "files", stage1Method: "none", epsilon: 1, delta: 1e-9 });
    expect(loadDescriptor(structuredClone(d)).providers[0]!.datasets.at(-1)).to.include({ kind: "files" });
    d.providers[0]!.datasets.at(-1)!.format = "csv";
    expect(() => loadDescriptor(structuredClone(d))).to.throw(/format is for tables; a files dataset has none/);
    d.providers[0]!.datasets.at(-1)!.kind = "blob";
    delete d.providers[0]!.datasets.at(-1)!.format;
    expect(() => loadDescriptor(structuredClone(d))).to.throw(/kind must be one of table, files \(got "blob"\)/);
  });

  describe("receipt inputs", () => {
    it("GIVEN a files input with its file count THEN accepted", () => {
      const r = parseReceipt({ ...validReceipt(), inputs: [{ provider: "hospital-a", dataset: "patients", kind: "files", sha256: "d".repeat(64), bytes: 10, files: 3 }] });
      expect(r.inputs[0]).to.include({ kind: "files", files: 3 });
    });

    it("GIVEN a files input without a file count, with a format, or another kind THEN refused", () => {
      expect(receiptProblems(withField(validReceipt(), "inputs[0].kind", "files"))).to.deep.equal(["receipt.inputs[0].files must be the number of files of the tree (an integer >= 0)"]);
      const withFormat = { ...validReceipt(), inputs: [{ ...validReceipt().inputs[0]!, kind: "files", files: 1, format: "parquet" }] };
      expect(receiptProblems(withFormat)).to.deep.equal(["receipt.inputs[0].format must be absent for a files input"]);
      expect(receiptProblems(withField(validReceipt(), "inputs[0].kind", "table"))).to.deep.equal([`receipt.inputs[0].kind must be absent (a table) or "files" (got "table")`]);
    });

    it("GIVEN a files input of an empty tree (0 files) THEN accepted; GIVEN a negative file count THEN refused", () => {
      const files = (n: number) => ({ ...validReceipt(), inputs: [{ provider: "hospital-a", dataset: "patients", kind: "files", sha256: "d".repeat(64), bytes: 0, files: n }] });
      expect(receiptProblems(files(0))).to.deep.equal([]);
      expect(receiptProblems(files(-1))).to.deep.equal(["receipt.inputs[0].files must be the number of files of the tree (an integer >= 0)"]);
    });

    it("GIVEN a table input with a file count THEN refused", () => {
      expect(receiptProblems(withField(validReceipt(), "inputs[0].files", 2))).to.deep.equal([`receipt.inputs[0].files is only for a files input (kind: "files")`]);
    });
  });
});

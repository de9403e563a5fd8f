/**
 * Safe outputs through the local room, with real jobs: the executor checks every output in the sandboxed run before the
 * receipt, the receipt carries the report (covered by the token's nonce), and what fails stays in quarantine (review)
 * or is withheld (enforce). One room, three jobs: a room start and each job cost seconds.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { type DisclosureReport, disclosurePolicyDigest } from "../../src/core/disclosure.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { verificationReport } from "../../src/runtime/console/checks.js";
import { reportSection } from "../../src/runtime/console/views/report.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { cliInProcess } from "../cli-harness.js";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

/** The disclosive strings of the test data: they may appear only in the job's own (held or withheld) outputs. */
const RARE_NAME = "Zebediah-Quux";
const RARE_DIAGNOSIS = "rare-xq7";

/** 40 records: flu 20, cold 17, and 3 with a rare diagnosis, one of them a very large cost. */
function surveyCsv(): string {
  const rows = ["id,name,age,diagnosis,cost"];
  for (let i = 1; i <= 40; i++) {
    const diagnosis = i <= 20 ? "flu" : i <= 37 ? "cold" : RARE_DIAGNOSIS;
    const name = i === 40 ? RARE_NAME : `person-${i}`;
    rows.push(`${i},${name},${20 + (i % 50)},${diagnosis},${i === 40 ? 987654 : 100 + i}`);
  }
  return `${rows.join("\n")}\n`;
}

const READ = `${PRELUDE}
import csv
def read(name):
    return list(csv.DictReader(open(os.path.join(IN, "clinic", name + ".csv"))))
def counts(rows):
    out = {}
    for r in rows:
        out[r["diagnosis"]] = out.get(r["diagnosis"], 0) + 1
    return sorted(out.items())
def write_counts(path, items):
    with open(os.path.join(OUT, path), "w") as f:
        f.write("diagnosis,count\\n")
        for k, n in items:
            f.write("%s,%d\\n" % (k, n))
    return {"path": path, "kind": "table", "cells": [{"count": n} for _, n in items]}
`;

/** A job whose every output breaks one rule, and one model file (review mode: held). */
const MIXED = `${READ}
rows = read("survey")
decl = [write_counts("small.csv", counts(rows))]
open(os.path.join(OUT, "fit.txt"), "w").write("term,estimate\\nage,0.5\\n")
decl.append({"path": "fit.txt", "kind": "regression", "residualDf": 5})
costs = sorted((abs(float(r["cost"])) for r in rows), reverse=True)
open(os.path.join(OUT, "mean.csv"), "w").write("group,mean_cost\\nall,%.3f\\n" % (sum(costs) / len(costs)))
decl.append({"path": "mean.csv", "kind": "table", "cells": [{"count": len(rows), "contributions": {"top": costs[:2], "total": sum(costs)}}]})
raw = open(os.path.join(IN, "clinic", "survey.csv")).read().splitlines()
top = max(range(1, len(raw)), key=lambda i: float(raw[i].split(",")[-1]))
open(os.path.join(OUT, "copy.txt"), "w").write("a record:\\n" + raw[top] + "\\n")
decl.append({"path": "copy.txt", "kind": "text"})
open(os.path.join(OUT, "model.bin"), "wb").write(bytes(range(256)))
decl.append({"path": "model.bin", "kind": "model"})
json.dump({"version": 1, "outputs": decl}, open(os.path.join(OUT, "outputs.json"), "w"))
`;

/** Counts with every small group merged into "other": passes, and flows without a release. */
const CLEAN = `${READ}
items = counts(read("survey"))
small = sum(n for _, n in items if n < 10)
items = [(k, n) for k, n in items if n >= 10]
items[-1] = (items[-1][0], items[-1][1] + small) if small else items[-1]
decl = [write_counts("totals.csv", items)]
json.dump({"version": 1, "outputs": decl}, open(os.path.join(OUT, "outputs.json"), "w"))
`;

/** The small-cell table on the dataset whose provider enforces: withheld. */
const ENFORCED = `${READ}
decl = [write_counts("small.csv", counts(read("strict")))]
json.dump({"version": 1, "outputs": decl}, open(os.path.join(OUT, "outputs.json"), "w"))
`;

/** Every file under `dir`, except those `skip` names by their path relative to `dir`. */
function filesOf(dir: string, skip: (rel: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !skip(relative(dir, p))) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe("local clean room: safe outputs (disclosure checks in the executor)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  let client: RoomClient;
  const jobs: Record<string, PackedJob> = {};
  const ids: Record<string, string> = {};

  async function pack(name: string, source: string, input: string): Promise<void> {
    const d = await pythonJob(work, name, source);
    jobs[name] = await packJob(d, { entrypoint: "main.py", inputs: [input], outDir: join(work, "packed", name) });
  }

  async function run(name: string): Promise<string> {
    const { jobId } = await client.submit(jobs[name]!);
    await client.wait(jobId, { timeoutMs: 60_000 });
    ids[name] = jobId;
    return jobId;
  }

  function receiptOf(jobId: string) {
    return parseReceipt(readFileSync(join(roomLayout(dir).quarantineDir, jobId, "receipt.json"), "utf8"));
  }

  before(async () => {
    work = await tempDir("disclosure");
    dir = join(work, "room");
    await pack("mixed", MIXED, "clinic/survey");
    await pack("clean", CLEAN, "clinic/survey");
    await pack("enforced", ENFORCED, "clinic/strict");
    const spec = {
      providers: [
        {
          name: "clinic",
          datasets: [{ name: "survey" }, { name: "strict", disclosure: { mode: "enforce" } }],
          approvedJobs: Object.values(jobs).map((j) => j.jobDigest),
        },
      ],
      output: { maxBytes: 1024 * 1024 },
    };
    descriptor = loadDescriptor((await localUp({ spec, dir })).descriptorPath);
    client = await roomClientFor(descriptor);
    await writeFile(join(work, "survey.csv"), surveyCsv());
    await client.provision("clinic", "survey", join(work, "survey.csv"));
    await client.provision("clinic", "strict", join(work, "survey.csv"));
    for (const name of ["mixed", "clean", "enforced"]) await run(name);
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN outputs that each break one rule (review mode) THEN each fails by its rule, the model needs review, and the result is held", async () => {
    const r = receiptOf(ids.mixed!);
    expect(r.status, r.error).to.equal("succeeded");
    const report = r.disclosure as DisclosureReport;
    const byPath = Object.fromEntries(report.outputs.map((o) => [o.path, { verdict: o.verdict, rules: o.findings.map((f) => f.rule) }]));
    expect(byPath["small.csv"]).to.deep.equal({ verdict: "fail", rules: ["min-cell-count"] });
    expect(byPath["fit.txt"]).to.deep.equal({ verdict: "fail", rules: ["residual-df"] });
    expect(byPath["mean.csv"]!.verdict).to.equal("fail");
    expect(byPath["mean.csv"]!.rules).to.include("dominance");
    expect(byPath["copy.txt"]).to.deep.equal({ verdict: "fail", rules: ["verbatim-rows"] });
    expect(byPath["model.bin"]).to.deep.equal({ verdict: "review", rules: ["unjudgeable"] });
    expect(report).to.include({ verdict: "fail", withheld: false });
    // The job's manifest is the checker's input, never an output.
    expect(r.outputs.map((o) => o.path)).to.not.include("outputs.json");
    expect(JSON.parse(readFileSync(join(roomLayout(dir).quarantineDir, ids.mixed!, "outputs.check.json"), "utf8"))).to.deep.equal(report);

    const st = await client.status(ids.mixed!);
    expect(st).to.include({ state: "succeeded", released: false, disclosure: "fail" });
    expect(st.held).to.include("failed the disclosure checks");
    const err = (await client.fetch(ids.mixed!, join(work, "fetch-mixed")).catch((e: unknown) => e)) as CleanRoomError;
    expect(err.code).to.equal("denied");
  });

  it("GIVEN a held failure WHEN released without naming every failed rule THEN it is refused; WHEN named THEN released and recorded", async () => {
    const refused = (await client.release(ids.mixed!, { acceptFailedChecks: ["min-cell-count"] }).catch((e: unknown) => e)) as CleanRoomError;
    expect(refused.code).to.equal("disclosure");
    expect(refused.message).to.include("--accept-failed-checks dominance");
    const rules = [...new Set(receiptOf(ids.mixed!).disclosure!.outputs.flatMap((o) => o.findings.map((f) => f.rule)).filter((x) => x !== "unjudgeable"))];
    const record = await client.release(ids.mixed!, { acceptFailedChecks: rules });
    expect(record.acceptedFailedChecks).to.deep.equal([...rules].sort());
    const out = join(work, "released-mixed");
    await client.fetch(ids.mixed!, out);
    expect(JSON.parse(await readFile(join(out, "release.json"), "utf8"))).to.include({ jobId: ids.mixed, disclosureVerdict: "fail" });
    const summary = await verifyResult(out, { descriptor });
    expect(summary.disclosure).to.include({ mode: "review", verdict: "fail", withheld: false });
    // The console's report of the released result shows each output's verdict and rules, and no value.
    const page = reportSection(await verificationReport(out, descriptor), descriptor).toString();
    expect(page).to.contain('id="disclosure-summary"').and.contain("min-cell-count").and.contain("verbatim-rows");
    // Within each file's own row (no `</tr>` between its name and its verdict).
    expect(page).to.match(/data-output="model.bin">(?:(?!<\/tr>).)*data-verdict="review"/s).and.to.match(/data-output="small.csv">(?:(?!<\/tr>).)*data-verdict="fail"/s);
    for (const secret of [RARE_NAME, RARE_DIAGNOSIS, "987654"]) expect(page, `the console page holds ${secret}`).to.not.include(secret);
  });

  it("GIVEN a clean aggregate THEN it passes and is fetched without any release step, and verifies", async () => {
    const st = await client.status(ids.clean!);
    expect(st).to.include({ state: "succeeded", released: false, disclosure: "pass" });
    expect(st.held).to.equal(undefined);
    const out = join(work, "fetched-clean");
    await client.fetch(ids.clean!, out);
    const summary = await verifyResult(out, { descriptor });
    expect(summary.disclosure).to.deep.include({ mode: "review", verdict: "pass", withheld: false });
    expect(summary.disclosure!.held).to.equal(undefined);
    expect(summary.outputs.map((o) => o.path)).to.deep.equal(["totals.csv"]);
  });

  it("GIVEN the small-cell table on a dataset whose provider enforces THEN every output is withheld and the verified failure says why by rule", async () => {
    const r = receiptOf(ids.enforced!);
    expect(r).to.include({ status: "failed", errorCode: "disclosure" });
    expect(r.outputs).to.deep.equal([]);
    expect(r.error).to.include("min-cell-count").and.include('"enforce"');
    expect(r.disclosure).to.include({ withheld: true, verdict: "fail" });
    expect(r.disclosure!.outputs.map((o) => o.path)).to.deep.equal(["withheld-1"]);
    expect(readdirSync(join(roomLayout(dir).quarantineDir, ids.enforced!))).to.not.include("outputs");
    const out = join(work, "fetched-enforced");
    await client.fetch(ids.enforced!, out);
    const summary = await verifyResult(out, { descriptor });
    expect(summary).to.include({ status: "failed", errorCode: "disclosure" });
    expect(summary.disclosure).to.include({ mode: "enforce", withheld: true });
  });

  it("GIVEN a result WHEN its report is edited (in the receipt, or outputs.check.json) THEN it no longer verifies", async () => {
    const out = join(work, "tampered");
    await client.fetch(ids.clean!, out);
    const check = join(out, "outputs.check.json");
    const edited = JSON.parse(await readFile(check, "utf8")) as DisclosureReport;
    await writeFile(check, JSON.stringify({ ...edited, outputs: edited.outputs.map((o) => ({ ...o, kind: "model" })) }));
    expect(((await verifyResult(out, { descriptor }).catch((e: unknown) => e)) as CleanRoomError).code).to.equal("digest-mismatch");
    await writeFile(check, JSON.stringify(edited));
    const receiptPath = join(out, "receipt.json");
    const receipt = JSON.parse(await readFile(receiptPath, "utf8"));
    // Still a well-formed report: only the nonce can tell.
    receipt.disclosure.policy.thresholds.minCellCount = 3;
    receipt.disclosure.policyDigest = disclosurePolicyDigest(receipt.disclosure.policy);
    await writeFile(receiptPath, JSON.stringify(receipt));
    await writeFile(check, JSON.stringify(receipt.disclosure));
    expect(((await verifyResult(out, { descriptor }).catch((e: unknown) => e)) as CleanRoomError).code).to.equal("nonce");
  });

  it("GIVEN the failing jobs THEN the rare record and the small cell's label appear nowhere outside their own outputs: not in receipts, reports, logs, status or the CLI", async () => {
    const review = await cliInProcess(["job", "review", ids.mixed!, "--room", join(dir, "descriptor.json")]);
    expect(review.code, review.stderr).to.equal(0);
    expect(review.stdout).to.include("small.csv").and.include("min-cell-count");
    const reviewJson = await cliInProcess(["job", "review", ids.enforced!, "--room", join(dir, "descriptor.json"), "--json"]);
    const status = await cliInProcess(["job", "status", ids.enforced!, "--room", join(dir, "descriptor.json")]);
    const printed = [review.stdout, review.stderr, reviewJson.stdout, reviewJson.stderr, status.stdout, status.stderr].join("\n");
    // Outputs of the failing jobs are the only place these may be (the mixed job's were released by a provider).
    const own = (rel: string) => /(^|\/)(quarantine|results)\/[^/]+\/outputs\//.test(rel);
    const files = filesOf(dir, own);
    expect(files.length).to.be.greaterThan(5);
    // The dominated mean as the job wrote it (its value is the failing cell's).
    const mean = readFileSync(join(roomLayout(dir).quarantineDir, ids.mixed!, "outputs", "mean.csv"), "utf8").trim().split("\n")[1]!.split(",")[1]!;
    expect(mean).to.match(/^\d+\.\d{3}$/);
    // The secrets are really in the held outputs: a leak of them would be caught below.
    const held = (f: string) => readFileSync(join(roomLayout(dir).quarantineDir, ids.mixed!, "outputs", f), "utf8");
    expect(held("copy.txt")).to.include(RARE_NAME).and.include("987654");
    expect(held("small.csv")).to.include(RARE_DIAGNOSIS);
    for (const secret of [RARE_NAME, RARE_DIAGNOSIS, "987654", mean]) {
      expect(printed, `CLI output holds ${secret}`).to.not.include(secret);
      for (const f of files) expect(readFileSync(f).includes(secret), `${relative(dir, f)} holds ${secret}`).to.equal(false);
    }
  });
});

/**
 * examples/gpu, the model-evaluation room (issue 15), end to end through the CLI and one real local room (bubblewrap,
 * key broker, launcher): modelco provisions its model (a `files` tree) with a mock stand-in for stage 1, the evaluator
 * its labelled table; the job both approved evaluates the model and writes only aggregate scores, which match an
 * independent computation and verify; a job only the evaluator approved is refused and modelco's key never opens.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { decideRelease } from "../../src/runtime/platforms/local/broker.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob } from "../../src/runtime/platforms/platform.js";
import { cliInProcess } from "../cli-harness.js";
import { tempDir } from "./helpers.js";

const EXAMPLE = join(__dirname, "..", "..", "examples", "gpu");

interface Model {
  weights: Record<string, number>;
  bias: number;
  mean: Record<string, number>;
  std: Record<string, number>;
}

/** The scores the example's job must give, computed here from the same files without the job's code. */
function expectedScores(model: Model, config: { features: string[]; label: string; positive: string; threshold: number }, csv: string) {
  const [header, ...lines] = csv.trim().split("\n");
  const cols = header!.split(",");
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  const groups = new Map<string, { n: number; correct: number; predicted: number; actual: number; tp: number }>();
  let correct = 0;
  for (const line of lines) {
    const row = Object.fromEntries(line.split(",").map((v, i) => [cols[i]!, v]));
    const z = model.bias + config.features.reduce((s, f) => s + (model.weights[f]! * (Number(row[f]) - model.mean[f]!)) / model.std[f]!, 0);
    const pred = 1 / (1 + Math.exp(-z)) >= config.threshold;
    const actual = row[config.label] === config.positive;
    const g = groups.get(row.sex!) ?? { n: 0, correct: 0, predicted: 0, actual: 0, tp: 0 };
    g.n += 1;
    g.correct += Number(pred === actual);
    g.predicted += Number(pred);
    g.actual += Number(actual);
    g.tp += Number(pred && actual);
    groups.set(row.sex!, g);
    correct += Number(pred === actual);
  }
  const per = Object.fromEntries(
    [...groups].sort().map(([k, g]) => [k, { n: g.n, accuracy: round(g.correct / g.n), positiveRate: round(g.predicted / g.n), truePositiveRate: round(g.tp / g.actual) }]),
  );
  const values = Object.values(per);
  const gap = (k: "positiveRate" | "truePositiveRate") => round(Math.max(...values.map((v) => v[k])) - Math.min(...values.map((v) => v[k])));
  return { rows: lines.length, accuracy: round(correct / lines.length), groupBy: "sex", groups: per, demographicParityGap: gap("positiveRate"), equalOpportunityGap: gap("truePositiveRate") };
}

/** Every regular file under a directory, with its bytes. */
function filesUnder(dir: string): Array<{ path: string; bytes: Buffer }> {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((p) => join(dir, p))
    .filter((p) => statSync(p).isFile())
    .map((p) => ({ path: p, bytes: readFileSync(p) }));
}

describe("examples/gpu: the model-evaluation room runs end to end (local room)", function () {
  this.timeout(300_000);
  let work: string;
  let dir: string;
  let room: string;
  let evaluate: PackedJob;
  let copyWeights: PackedJob;

  const cli = (...args: string[]) => cliInProcess(args);
  const submitAndWait = async (packed: string) => {
    const s = await cli("job", "submit", packed, "--room", room, "--json");
    expect(s.code, s.stderr).to.equal(0);
    const jobId = (JSON.parse(s.stdout) as { jobId: string }).jobId;
    await cli("job", "wait", jobId, "--room", room, "--timeout", "240");
    return jobId;
  };

  before(async () => {
    work = await tempDir("model-eval");
    dir = join(work, "room");
    execFileSync("python3", [join(EXAMPLE, "make_model.py"), "--out", work]);
    const inputs = ["modelco/model", "evaluator/labelled"];
    evaluate = await packJob(join(EXAMPLE, "jobs", "evaluate"), { entrypoint: "main.py", inputs, outDir: join(work, "packed-evaluate") });
    copyWeights = await packJob(join(EXAMPLE, "jobs", "copy-weights"), { entrypoint: "main.py", inputs, outDir: join(work, "packed-copy") });
    // The example's spec as the walkthrough approves it: both approve the evaluation, only the evaluator the copy.
    const spec = JSON.parse(readFileSync(join(EXAMPLE, "spec.json"), "utf8")) as { providers: Array<{ name: string; approvedJobs: string[] }> };
    spec.providers.find((p) => p.name === "modelco")!.approvedJobs = [evaluate.jobDigest];
    spec.providers.find((p) => p.name === "evaluator")!.approvedJobs = [evaluate.jobDigest, copyWeights.jobDigest];
    room = (await localUp({ spec, dir })).descriptorPath;
  });
  after(async () => {
    if (dir) await localDown(dir, { force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN the example's inputs WHEN both providers provision (modelco with its mock stand-in) THEN stage 1 holds the mock and the DP table, and no byte of the model", async () => {
    const m = await cli("data", "provision", "--room", room, "--provider", "modelco", "--dataset", "model", "--dir", join(work, "model"), "--stand-in", join(work, "mock-model"));
    expect(m.code, m.stderr).to.equal(0);
    expect(m.stdout).to.include("Stand-in published to stage 1 (PUBLIC");
    const e = await cli("data", "provision", "--room", room, "--provider", "evaluator", "--dataset", "labelled", "--csv", join(work, "data", "labelled.csv"));
    expect(e.code, e.stderr).to.equal(0);
    const stage1 = roomLayout(dir).stage1Dir;
    expect(readFileSync(join(stage1, "modelco", "model", "stand-in", "model.json"))).to.deep.equal(readFileSync(join(work, "mock-model", "model.json")));
    expect(existsSync(join(stage1, "evaluator", "labelled", "synthetic.csv"))).to.equal(true);
    // Not the model's files, nor any of its weights' printed values, anywhere in stage 1.
    const model = JSON.parse(readFileSync(join(work, "model", "model.json"), "utf8")) as Model;
    const secrets = [readFileSync(join(work, "model", "model.json")), ...Object.values(model.weights).map((w) => Buffer.from(String(w))), Buffer.from(String(model.bias))];
    for (const f of filesUnder(stage1)) for (const s of secrets) expect(f.bytes.includes(s), `${f.path} holds the model's bytes`).to.equal(false);
  });

  it("GIVEN a job only the evaluator approved (it copies the weights) WHEN submitted THEN it is denied naming modelco, nothing is decrypted, and modelco's key would not open for it", async () => {
    const jobId = await submitAndWait(join(work, "packed-copy"));
    const st = await cli("job", "status", jobId, "--room", room, "--json");
    const status = JSON.parse(st.stdout) as { state: string; errorCode?: string; detail?: string };
    expect(status.state).to.equal("failed");
    expect(status.errorCode).to.equal("denied");
    expect(status.detail).to.match(/provider "modelco" refused: the job is not in its approvedJobs/);
    const q = join(roomLayout(dir).quarantineDir, jobId);
    const receipt = parseReceipt(readFileSync(join(q, "receipt.json"), "utf8"));
    expect(receipt.outputs).to.deep.equal([]);
    expect(receipt.admittedBy ?? [], "no provider admitted the run").to.deep.equal([]);
    expect(readFileSync(roomLayout(dir).logFile, "utf8")).to.not.match(/unwrap modelco\/model: released/);
    // The same job's token at the broker: the evaluator's key would open for it, modelco's would not.
    const claims = JSON.parse(Buffer.from(readFileSync(join(q, "attestation.jwt"), "utf8").split(".")[1]!, "base64url").toString("utf8"));
    const d = loadDescriptor(room);
    expect(decideRelease(d, "evaluator", claims)).to.include({ allowed: true, jobDigest: copyWeights.jobDigest });
    expect(decideRelease(d, "modelco", claims).allowed).to.equal(false);
  });

  it("GIVEN the job both approved WHEN it runs THEN it succeeds, its only output is the aggregate scores (equal to an independent computation), and the result verifies", async () => {
    const jobId = await submitAndWait(join(work, "packed-evaluate"));
    // The undeclared scores.json is `other` to the disclosure checks: held for a provider's review, then released.
    const review = await cli("job", "review", jobId, "--room", room, "--json");
    expect(review.code, review.stderr).to.equal(0);
    expect(JSON.parse(review.stdout)).to.nested.include({ "report.verdict": "review", "report.outputs[0].path": "scores.json" });
    const released = await cli("job", "release", jobId, "--room", room);
    expect(released.code, released.stderr).to.equal(0);
    const out = join(work, "result");
    const f = await cli("job", "fetch", jobId, "--room", room, "--out", out);
    expect(f.code, f.stderr).to.equal(0);
    expect(readdirSync(join(out, "outputs"))).to.deep.equal(["scores.json"]);
    const scores = JSON.parse(readFileSync(join(out, "outputs", "scores.json"), "utf8")) as { accuracy: number };
    const model = JSON.parse(readFileSync(join(work, "model", "model.json"), "utf8")) as Model;
    const config = JSON.parse(readFileSync(join(work, "model", "config.json"), "utf8"));
    expect(scores).to.deep.equal(expectedScores(model, config, readFileSync(join(work, "data", "labelled.csv"), "utf8")));
    expect(scores.accuracy).to.be.greaterThan(0.9);
    const receipt = parseReceipt(readFileSync(join(out, "receipt.json"), "utf8"));
    expect(receipt.inputs.map((i) => `${i.provider}/${i.dataset}:${i.kind ?? "table"}`).sort()).to.deep.equal(["evaluator/labelled:table", "modelco/model:files"]);
    const v = await cli("verify", out, "--room", room);
    expect(v.code, v.stderr + v.stdout).to.equal(0);
  });
});

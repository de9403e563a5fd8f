/**
 * `npm run demo`: the whole two-stage clean room on this machine, no cloud account.
 *
 * 1. a provider (an insurer) provisions its claims table: encrypted, key held by the local key broker;
 * 2. stage 1: a data scientist explores differentially-private synthetic data (never the raw rows);
 * 3. stage 2: their regression job is packed, approved by the insurer (its digest), run once on the real data inside a
 *    bubblewrap sandbox; the executor checks its output for statistical disclosure before the receipt (it passes); the
 *    insurer releases it (this room requires a release), and it is fetched and verified offline against the room's root;
 * 4. a cross-tabulation with small cells and a few raw rows fails the checks: it stays in quarantine, and the insurer
 *    reads why (by rule, never by value) with `cleanroom job review`;
 * 5. a job nobody approved is refused before it runs (no key, none of its code), and leaves a verifiable failure receipt
 *    and no outputs.
 *
 * With `--keep` (`npm run demo -- --keep`) the room stays up at the end and the room console starts: one page for the
 * data scientist, one for the insurer; the demo prints their URLs and runs until Ctrl-C (the room then stays up).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDescriptor } from "../../src/core/descriptor.js";
import { messageOf } from "../../src/core/errors.js";
import { fetchResult, openRoom, releaseResult, submitJob, waitForJob } from "../../src/runtime/jobs/client.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { reviewJob } from "../../src/runtime/jobs/review.js";
import { formatReport } from "../../src/runtime/disclosure/index.js";
import { produceStage1 } from "../../src/runtime/provision/stage1.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { startConsole } from "../../src/runtime/console/server.js";

const HERE = __dirname;
const line = "─".repeat(78);
let stepNo = 0;
function step(title: string): void {
  stepNo += 1;
  process.stdout.write(`\n${line}\n Step ${stepNo}. ${title}\n${line}\n`);
}
function say(text: string): void {
  process.stdout.write(`${text.replace(/^/gm, "  ")}\n`);
}

async function stage1(descriptorPath: string, csv: string): Promise<void> {
  const descriptor = loadDescriptor(descriptorPath);
  // Exactly what `cleanroom data provision` does after encrypting: the dataset's stage1Method (mst) with its ε.
  const result = await produceStage1(descriptor, "insurer", "claims", csv);
  if (result.method !== "mst" || result.artefactPath === undefined) throw new Error(`stage 1 produced ${result.method}, expected MST synthetic data`);
  const rows = readFileSync(result.artefactPath, "utf8").trim().split("\n");
  say(`DP synthetic data (MST, ε = ${descriptor.providers[0]?.datasets[0]?.epsilon} from the spec) in ${result.artefactPath}: ${rows.length - 1} rows. First five:`);
  for (const r of rows.slice(0, 6)) say(`  ${r}`);
  say("(Categories and bins come from the public schema; each number is drawn inside its bin, never copied from the real table.)");
  const header = rows[0]!.split(",");
  const iSmoker = header.indexOf("smoker");
  const iCharges = header.indexOf("charges");
  const by: Record<string, number[]> = {};
  for (const r of rows.slice(1)) {
    const c = r.split(",");
    const charge = Number(c[iCharges]);
    if (c[iCharges] === "" || !Number.isFinite(charge)) continue;
    const group = by[c[iSmoker]!] ?? [];
    group.push(charge);
    by[c[iSmoker]!] = group;
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  say(`Exploring it: mean charges of smokers ${mean(by.yes ?? [0]).toFixed(0)} vs non-smokers ${mean(by.no ?? [0]).toFixed(0)} (synthetic, DP).`);
  say("Good enough to write the analysis; the exact numbers come from stage 2.");
}

/** Keeps the room up and serves the console for both roles until Ctrl-C. */
async function keepWithConsole(work: string, descriptorPath: string, roomDir: string): Promise<void> {
  const scientist = await startConsole({ room: descriptorPath, workspace: join(HERE, "jobs"), stateDir: join(work, "console-scientist") });
  const insurer = await startConsole({ room: descriptorPath, provider: "insurer", stateDir: join(work, "console-insurer") });
  say("The room stays up. Open the room console (each link works once, in one browser):");
  say(`  data scientist: ${scientist.url}`);
  say(`  insurer:        ${insurer.url}`);
  say("Press Ctrl-C to stop the console; the room keeps running. Stop it with:");
  say(`  cleanroom local down --dir ${roomDir}`);
  await new Promise<void>((resolveP) => {
    const stop = () => resolveP();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await Promise.all([scientist.close(), insurer.close()]);
}

async function main(): Promise<void> {
  const keep = process.argv.includes("--keep");
  let kept = false;
  const work = await mkdtemp(join(tmpdir(), "cleanroom-demo-"));
  const roomDir = join(work, "room");
  const csv = join(HERE, "data", "insurance.csv");
  const spec = JSON.parse(await readFile(join(HERE, "spec.json"), "utf8")) as { providers: Array<{ approvedJobs?: string[] }> };
  let up = false;
  try {
    step("The insurer starts a local clean room");
    const r = await localUp({ spec, dir: roomDir, onProgress: (m) => say(m) });
    up = true;
    say(`Room "${r.descriptor.name}" is running (pid ${r.pid}); descriptor: ${r.descriptorPath}`);
    say(`Executor digest pinned by the room: ${r.descriptor.executor.imageDigest}`);
    say(`Sandbox: ${r.descriptor.local?.insecureNoSandbox ? "NONE" : "bubblewrap (no network, read-only code and inputs)"}`);

    step("The insurer provisions its claims table (encrypted; the key stays with the broker)");
    const client = await openRoom(r.descriptorPath);
    const prov = await client.provision("insurer", "claims", csv);
    say(`insurer/claims: ${prov.bytes} bytes, plaintext sha256 ${prov.sha256}`);
    say(`Stored encrypted at ${prov.uri}`);

    step("Stage 1: the data scientist explores protected (differentially private) data");
    await stage1(r.descriptorPath, csv);

    step("Stage 2: the data scientist packs the regression job");
    const job = await packJob(join(HERE, "jobs", "regression"), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed-regression") });
    say(`Job digest: ${job.jobDigest}`);
    say(`(${job.manifest.files.length} file(s); the same sources give this digest on any machine)`);

    const crosstab = await packJob(join(HERE, "jobs", "crosstab"), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed-crosstab") });

    step("The insurer reviews the code and approves exactly that digest (and a cross-tabulation's)");
    spec.providers[0]!.approvedJobs = [job.jobDigest, crosstab.jobDigest];
    await writeFile(join(work, "spec.json"), JSON.stringify(spec, null, 2));
    await localDown(roomDir);
    const r2 = await localUp({ spec, dir: roomDir });
    say(`approvedJobs = ["${job.jobDigest}", "${crosstab.jobDigest}"]; room restarted with the new spec (pid ${r2.pid}).`);

    step("The job runs once on the real data, inside the sandbox");
    const sub = await submitJob(r2.descriptorPath, job);
    say(`Submitted ${sub.jobId}`);
    const st = await waitForJob(r2.descriptorPath, sub.jobId, { timeoutMs: 120_000, onProgress: (s) => say(`… ${s.state}`) });
    if (st.state !== "succeeded") throw new Error(`the approved job did not succeed: ${st.state} ${st.detail ?? ""}`);

    step("The room checked the output in the TEE; the insurer releases it; the data scientist fetches and verifies it");
    say(`Disclosure checks (run by the executor before the receipt): ${st.disclosure ?? "none"}.`);
    if (st.disclosure !== "pass") throw new Error(`the regression's output did not pass the disclosure checks: ${st.held ?? st.disclosure}`);
    // This room also has output.requireRelease: a clean pass still waits for the insurer, who needs no flag to release it.
    if (st.held) say(`Held until the insurer releases it: ${st.held}.`);
    const record = await releaseResult(r2.descriptorPath, sub.jobId);
    say(`Released by the insurer (verdict ${record.disclosureVerdict}, failed checks accepted: ${record.acceptedFailedChecks.length === 0 ? "none" : record.acceptedFailedChecks.join(", ")}).`);
    const resultDir = join(work, "result");
    await fetchResult(r2.descriptorPath, sub.jobId, resultDir);
    const summary = await verifyResult(resultDir, { descriptor: r2.descriptorPath });
    say(summary.verdict);
    say(`Receipt: job ${summary.jobDigest}`);
    say(`         executor ${summary.executorImageDigest} (platform ${summary.platform}, sandbox ${summary.sandbox})`);
    for (const i of summary.inputs) say(`         input ${i.provider}/${i.dataset}: ${i.bytes} bytes, sha256 ${i.sha256}`);
    for (const o of summary.outputs) say(`         output ${o.path}: ${o.bytes} bytes, sha256 ${o.sha256}`);
    say(`         receipt digest ${summary.receiptDigest} = the attestation token's nonce`);
    const model = JSON.parse(await readFile(join(resultDir, "outputs", "model.json"), "utf8")) as { r2: number; coefficients: Record<string, number> };
    say(`\nThe verified model: R² = ${model.r2}`);
    for (const [k, v] of Object.entries(model.coefficients)) say(`  ${k.padEnd(18)} ${v.toFixed(2).padStart(12)}`);

    step("An approved cross-tabulation with small cells and three raw rows: held by the checks");
    const xSub = await submitJob(r2.descriptorPath, crosstab);
    const xSt = await waitForJob(r2.descriptorPath, xSub.jobId, { timeoutMs: 120_000 });
    say(`State: ${xSt.state}, disclosure checks: ${xSt.disclosure}`);
    say(`Held in quarantine: ${xSt.held ?? "no"}`);
    if (xSt.disclosure !== "fail" || !xSt.held) throw new Error("the cross-tabulation was not held by the disclosure checks");
    const review = await reviewJob(r2.descriptorPath, xSub.jobId);
    say("The insurer reads the checks (`cleanroom job review`): which rule, which cells, never a value.");
    say(formatReport(review.report!));
    say(`The data scientist cannot fetch it; the insurer could still release it, naming each failed rule:`);
    say(`  cleanroom job release ${xSub.jobId} --room ${r2.descriptorPath} --accept-failed-checks ${review.failedRules.join(",")}`);

    step("A job nobody approved tries to copy the raw rows out");
    const bad = await packJob(join(HERE, "jobs", "unapproved"), { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed-unapproved") });
    // Its digest is printed once, in the refusal below (with the one hint of how to approve it).
    say(`Packed: ${bad.manifest.files.length} file(s); its digest is not in approvedJobs`);
    const badSub = await submitJob(r2.descriptorPath, bad);
    const badSt = await waitForJob(r2.descriptorPath, badSub.jobId, { timeoutMs: 120_000 });
    say(`State: ${badSt.state} [${badSt.errorCode}]`);
    say(`Why:   ${badSt.detail}`);
    const badDir = join(work, "denied-result");
    await fetchResult(r2.descriptorPath, badSub.jobId, badDir, { from: "quarantine" });
    const badSummary = await verifyResult(badDir, { descriptor: r2.descriptorPath });
    say(`Its failure receipt verifies too: VERIFIED FAILURE [${badSummary.errorCode}] of job ${badSummary.jobId}, receipt digest ${badSummary.receiptDigest}.`);
    say(`Outputs released: ${badSummary.outputs.length} (none).`);
    if (badSt.state !== "failed" || badSt.errorCode !== "denied") throw new Error("the unapproved job was not denied");

    if (keep) {
      step("Done: the room console");
      kept = true;
      await keepWithConsole(work, r2.descriptorPath, roomDir);
      return;
    }
    step("Done: tearing the room down");
    await localDown(roomDir);
    up = false;
    say("The whole two-stage clean room ran on this machine. On GCP the same executor runs in Confidential Space.");
    say("To see it in a browser, run `npm run demo -- --keep`: the room stays up and the demo prints the room console's URLs.");
  } finally {
    if (!kept) {
      if (up) await localDown(roomDir, { force: true }).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\ndemo failed: ${messageOf(err)}\n`);
    process.exit(1);
  },
);

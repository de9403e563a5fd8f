// One budget across both stages, end to end on a local room: stage-1 synthetic data and a DP query spend from the
// dataset's ledger, then an approved stage-2 job asks the executor for noise through the file protocol. The executor
// spends before drawing, the receipt lists the spend, the ledger refuses the request that would overspend, and the
// whole ledger (with the executor's attested entry) verifies offline against the room.
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import type { CleanRoomError } from "../../src/core/errors.js";
import { parseReceipt } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { cdpRho } from "../../src/runtime/dp/accounting.js";
import { PrivacyLedger } from "../../src/runtime/dp/ledger.js";
import { loadOrCreateLedgerKey, providerSigner } from "../../src/runtime/dp/ledger-keys.js";
import { DirectoryLedgerStore } from "../../src/runtime/dp/ledger-store.js";
import { verifyLedger } from "../../src/runtime/dp/ledger-verify.js";
import { planMst } from "../../src/runtime/dp/mst.js";
import { dpQuery } from "../../src/runtime/dp/query.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import { produceStage1, roomLedgerStore } from "../../src/runtime/provision/stage1.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { INSURANCE_CSV, loadSchema } from "./utility.js";

const QUERY_RHO = 0.001;
const BUDGET = { epsilon: 2, delta: 1e-9 };

/** The stage-2 job: asks for noise twice through $CLEANROOM_OUTPUT/.cleanroom-dp and releases a noisy count. */
function jobSource(first: number, second: number): string {
  return `import json, os, time
IN = os.environ["CLEANROOM_INPUTS"]
OUT = os.environ["CLEANROOM_OUTPUT"]
DP = os.path.join(OUT, ".cleanroom-dp")
def noise(rid, req):
    tmp = os.path.join(DP, "." + rid + ".tmp")
    with open(tmp, "w") as f:
        json.dump(req, f)
    os.rename(tmp, os.path.join(DP, "request-" + rid + ".json"))
    answer = os.path.join(DP, "response-" + rid + ".json")
    for _ in range(3000):
        if os.path.exists(answer):
            return json.load(open(answer))
        time.sleep(0.01)
    raise SystemExit("no answer from the executor")
rows = sum(1 for _ in open(os.path.join(IN, "insurer", "claims.csv"))) - 1
a = noise("a", {"provider": "insurer", "dataset": "claims", "count": 1, "sensitivity": 1, "rho": ${first}})
b = noise("b", {"provider": "insurer", "dataset": "claims", "count": 1, "sensitivity": 1, "rho": ${second}})
json.dump({"count": rows + a["noise"][0], "sd": a["sd"], "entry": a["entry"], "second": b.get("error", {}).get("code")}, open(os.path.join(OUT, "count.json"), "w"))
`;
}

describe("dp one budget across stages (local room, stage-2 noise protocol)", function () {
  this.timeout(180_000);
  let work: string;
  let dir: string;
  let descriptor: CleanRoomDescriptor;
  const schema = loadSchema();
  // Stage 1 spends MST at ε=1 and a query of ρ=0.001; the job then asks for half of what is left, then all of it.
  const remaining = cdpRho(BUDGET.epsilon, BUDGET.delta) - planMst(7, 1, 1e-9).rhoSpent.total - QUERY_RHO;
  const first = remaining / 2;
  const second = remaining;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "acr-dp-stage2-"));
    dir = join(work, "room");
    const jobDir = join(work, "job");
    (await import("node:fs")).mkdirSync(jobDir);
    writeFileSync(join(jobDir, "main.py"), jobSource(first, second));
    const packed = await packJob(jobDir, { entrypoint: "main.py", inputs: ["insurer/claims"], outDir: join(work, "packed") });
    const spec = {
      providers: [{ name: "insurer", datasets: [{ name: "claims", schema, stage1Method: "mst", ...BUDGET }], approvedJobs: [packed.jobDigest] }],
      output: { maxBytes: 4096 },
    };
    const up = await localUp({ spec, dir });
    descriptor = loadDescriptor(up.descriptorPath);
    const client = await roomClientFor(descriptor);
    await client.provision("insurer", "claims", INSURANCE_CSV);
    // Stage 1: synthetic data at ε=1 of the ε=2 budget, then a DP query, both from the dataset's ledger.
    await produceStage1(descriptor, "insurer", "claims", INSURANCE_CSV, { epsilon: 1, rng: testRng("stage1") });
    const { key } = await loadOrCreateLedgerKey();
    await dpQuery({ input: INSURANCE_CSV, schema, kind: "count", rho: QUERY_RHO, rng: testRng("q"), ledger: { store: roomLedgerStore(descriptor, "insurer", "claims"), signer: providerSigner(key) } });
    // Stage 2.
    const { jobId } = await client.submit(packed);
    const s = await client.wait(jobId, { timeoutMs: 120_000 });
    expect(s.state, s.detail).to.equal("succeeded");
    await client.release(jobId);
    await client.fetch(jobId, join(work, "result"));
  });

  after(async () => {
    if (dir) await localDown(dir, { force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("GIVEN synthetic data, a query and a stage-2 request in one ledger WHEN the job asks for more than is left THEN that request is refused and the first one spent", async () => {
    const out = JSON.parse(await readFile(join(work, "result", "outputs", "count.json"), "utf8"));
    expect(out.second).to.equal("budget-exceeded");
    expect(Math.abs(out.count - 1338)).to.be.below(8 * out.sd);
    const v = await verifyLedger(roomLedgerStore(descriptor, "insurer", "claims"), { room: descriptor });
    const spends = v.entries.filter((e) => e.kind === "spend");
    expect(spends.map((e) => (e.kind === "spend" ? e.stage : ""))).to.deep.equal(["stage1", "query", "stage2"]);
    expect(v.attested).to.equal(1);
    expect(v.spent.rho).to.be.at.most(v.budget.rho);
    // The protocol's directory is not released as an output.
    expect((await import("node:fs")).readdirSync(join(work, "result", "outputs"))).to.deep.equal(["count.json"]);
  });

  it("GIVEN the job's receipt THEN it lists the stage-2 spend (bound by the receipt's token) and names the ledger entry", async () => {
    const summary = await verifyResult(join(work, "result"), { descriptor });
    expect(summary.status).to.equal("succeeded");
    const receipt = parseReceipt(readFileSync(join(work, "result", "receipt.json"), "utf8"));
    expect(receipt.dp).to.have.length(1);
    const out = JSON.parse(readFileSync(join(work, "result", "outputs", "count.json"), "utf8"));
    expect(receipt.dp?.[0]).to.include({ provider: "insurer", dataset: "claims", entry: out.entry, count: 1, sensitivity: 1 });
    expect(receipt.dp?.[0].rho).to.be.closeTo(first, first * 1e-6);
  });

  it("GIVEN the executor's attested entry WHEN its job digest is edited THEN verify fails on the token", async () => {
    const copy = join(work, "tampered-ledger");
    const src = (roomLedgerStore(descriptor, "insurer", "claims") as DirectoryLedgerStore).location;
    cpSync(src, copy, { recursive: true });
    const store = new DirectoryLedgerStore(copy);
    const entries = await store.list();
    const last = entries[entries.length - 1];
    const e = JSON.parse(last.bytes.toString("utf8"));
    expect(e.signature.alg).to.equal("attestation");
    e.job.jobDigest = `sha256:${"0".repeat(64)}`;
    writeFileSync(join(copy, `${String(last.seq).padStart(8, "0")}.json`), JSON.stringify(e));
    const err = await verifyLedger(store, { room: descriptor }).then(
      () => undefined,
      (x: unknown) => x as CleanRoomError,
    );
    expect(err?.code).to.equal("ledger-corrupt");
    expect(err?.message).to.match(/attestation token does not verify/);
    // And an attested spend cannot be passed off as the provider's either: the provider key cannot sign stage 2.
    const { key } = await loadOrCreateLedgerKey();
    const forged = await PrivacyLedger.open({ store: new DirectoryLedgerStore(join(work, "forged")), dataset: "claims", budget: BUDGET, signer: providerSigner(key) });
    await forged.spend({ stage: "stage2", mechanism: "gaussian", rho: 0.001, job: { jobId: "x", jobDigest: e.job.jobDigest } });
    const forgedErr = await verifyLedger(new DirectoryLedgerStore(join(work, "forged")), { room: descriptor }).then(
      () => undefined,
      (x: unknown) => x as CleanRoomError,
    );
    expect(forgedErr?.message).to.match(/stage-2 spend signed by the provider key/);
  });
});

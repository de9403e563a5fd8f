/**
 * The provider-trust scenario on the local backend (real broker, attestation service and bubblewrap): the broker judges
 * each provider's key by that provider's own condition. A room whose own condition admits the executor it runs (the
 * operator built the room around it) still gets no key from a provider that pinned another executor digest.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { evaluateAttestationCondition } from "../../src/core/attestation.js";
import { type CleanRoomDescriptor, loadDescriptor } from "../../src/core/descriptor.js";
import { parseReceipt, policyDigest } from "../../src/core/receipt.js";
import { packJob } from "../../src/runtime/jobs/pack.js";
import { roomClientFor } from "../../src/runtime/platforms/index.js";
import { roomLayout } from "../../src/runtime/platforms/local/layout.js";
import { localDown, localUp } from "../../src/runtime/platforms/local/room.js";
import type { PackedJob, RoomClient } from "../../src/runtime/platforms/platform.js";
import { verifyResult } from "../../src/runtime/verify/result.js";
import { readFileSync } from "node:fs";
import { PRELUDE, pythonJob, tempDir } from "./helpers.js";

const JOB = `${PRELUDE}
json.dump({"files": sorted(os.path.relpath(f, IN) for f in glob.glob(os.path.join(IN, "*", "*.csv")))}, open(os.path.join(OUT, "seen.json"), "w"))
# Declared to the room's disclosure checks (a listing of file names: text), so the result flows without a release.
json.dump({"version": 1, "outputs": [{"path": "seen.json", "kind": "text"}]}, open(os.path.join(OUT, "outputs.json"), "w"))
`;

describe("local provider trust: the broker judges each key by its provider's own condition", function () {
  this.timeout(180_000);
  let work: string;
  let job: PackedJob;
  let rooms = 0;

  /** Starts a room where the hospital states its own requirements and the insurer relies on the room's. */
  async function room(hospitalDigests: string[]): Promise<{ dir: string; d: CleanRoomDescriptor; client: RoomClient }> {
    const dir = join(work, `room-${++rooms}`);
    const spec = {
      providers: [
        { name: "hospital", datasets: [{ name: "visits" }], approvedJobs: [job.jobDigest], attestation: { executorImageDigests: hospitalDigests } },
        { name: "insurer", datasets: [{ name: "claims" }], approvedJobs: [job.jobDigest] },
      ],
      output: { maxBytes: 4096, requireRelease: false },
    };
    const up = await localUp({ spec, dir });
    const d = loadDescriptor(up.descriptorPath);
    const client = await roomClientFor(d);
    await client.provision("hospital", "visits", join(work, "visits.csv"));
    await client.provision("insurer", "claims", join(work, "claims.csv"));
    return { dir, d, client };
  }

  before(async () => {
    work = await tempDir("provider-trust");
    job = await packJob(await pythonJob(work, "both", JOB), { entrypoint: "main.py", inputs: ["hospital/visits", "insurer/claims"], outDir: join(work, "packed") });
    await writeFile(join(work, "visits.csv"), "id,ward\n1,a\n");
    await writeFile(join(work, "claims.csv"), "id,amount\n1,100\n");
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("GIVEN a hospital that pinned another executor digest WHEN the room's own executor runs an approved job THEN the hospital's key stays shut (its own policy), though the room's condition admits the run", async () => {
    const { dir, d, client } = await room([`sha256:${"7".repeat(64)}`]);
    try {
      const { jobId } = await client.submit(job);
      const st = await client.wait(jobId, { timeoutMs: 60_000 });
      expect(st.state).to.equal("failed");
      expect(st.errorCode).to.equal("denied");
      expect(st.detail).to.match(/provider "hospital" refused: the token does not satisfy its own attestation policy/);
      const receipt = parseReceipt(readFileSync(join(roomLayout(dir).quarantineDir, jobId, "receipt.json"), "utf8"));
      expect(receipt.admittedBy).to.deep.equal([]);
      expect(receipt.outputs).to.deep.equal([]);
      // The token the broker refused did satisfy the room's own condition: the room operator's say ends at the room.
      const claims = JSON.parse(Buffer.from(readFileSync(join(roomLayout(dir).quarantineDir, jobId, "attestation.jwt"), "utf8").split(".")[1]!, "base64url").toString("utf8"));
      expect(evaluateAttestationCondition(d.attestation.condition, claims).allowed).to.equal(true);
      expect(evaluateAttestationCondition(d.providers[0]!.attestation!.condition, claims).allowed).to.equal(false);
    } finally {
      await localDown(dir);
    }
  });

  it("GIVEN a hospital that pinned the room's executor WHEN the job runs THEN both keys open and the receipt lists the hospital's own policy and the room's for the insurer", async () => {
    // The genuine executor digest, as the hospital's reviewers would compute it.
    const probe = await room([`sha256:${"7".repeat(64)}`]);
    const genuine = probe.d.executor.imageDigest;
    await localDown(probe.dir);
    const { dir, d, client } = await room([genuine]);
    try {
      const { jobId } = await client.submit(job);
      const st = await client.wait(jobId, { timeoutMs: 60_000 });
      expect(st.state, st.detail).to.equal("succeeded");
      const out = join(work, "result");
      await client.fetch(jobId, out);
      const summary = await verifyResult(out, { descriptor: d });
      expect(summary.admittedBy).to.deep.equal([
        { provider: "hospital", policyDigest: policyDigest(d.providers[0]!.attestation!.condition), own: true },
        { provider: "insurer", policyDigest: policyDigest(d.attestation.condition), own: false },
      ]);
    } finally {
      await localDown(dir);
    }
  });
});

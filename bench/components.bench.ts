// Components benchmark: time to construct the mocked plan of a DataCleanRoom with 1, 10 and 50 providers (3 datasets
// and 2 approved jobs each) through the test harness's mocks. The baseline is the 1-provider plan measured in the
// same run: the 50-provider ratio is time(50) / (50 × time(1)), target ≤ 1.2 (no superlinear blow-up; the fixed part
// of a room — network, pool, sandbox — makes the honest value well below 1). Each figure is the best of 3 rounds,
// after one warm-up run that loads the modules.
import { DataCleanRoom, type DataCleanRoomArgs } from "../src/components/index.js";
import { runProgramUnderMocks } from "../tests/components/harness.js";
import type { Bench, BenchResult } from "./types.js";

const ROUNDS = 3;
const TARGET = 1.2;

function roomArgs(providers: number): DataCleanRoomArgs {
  return {
    project: "bench-room",
    region: "europe-west4",
    namePrefix: "bench",
    executor: { imageReference: `europe-west4-docker.pkg.dev/bench-room/cleanroom/executor@sha256:${"e".repeat(64)}` },
    sandbox: { authorizedNetworks: ["203.0.113.0/28"], insecureDummyAuthenticator: true },
    providers: Array.from({ length: providers }, (_, i) => ({
      name: `provider-${i}`,
      datasets: [{ name: "a" }, { name: "b" }, { name: "c" }],
      approvedJobs: [`sha256:${i.toString(16).padStart(64, "0")}`, `sha256:${"f".repeat(64)}`],
    })),
  };
}

async function plan(providers: number): Promise<{ ms: number; resources: number }> {
  let best = Number.POSITIVE_INFINITY;
  let resources = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const run = await runProgramUnderMocks(() => ({ d: new DataCleanRoom("bench", roomArgs(providers)).descriptor }));
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    resources = run.resources.length;
  }
  return { ms: best, resources };
}

export const benches: Bench[] = [
  {
    name: "components: mocked DataCleanRoom plan vs providers",
    async run(): Promise<BenchResult[]> {
      process.env.CLEANROOM_TEST = "1";
      await plan(1); // warm-up: module loading is not part of planning
      const one = await plan(1);
      const results: BenchResult[] = [];
      const plans = new Map<number, { ms: number; resources: number }>();
      for (const n of [10, 50]) {
        const p = await plan(n);
        plans.set(n, p);
        const ratio = p.ms / (n * one.ms);
        results.push({
          name: `plan ${n} providers (${p.resources} resources)`,
          figure: `${p.ms.toFixed(0)} ms, ${((p.resources / p.ms) * 1000).toFixed(0)} resources/s`,
          baseline: `${n} × 1-provider plan (${one.resources} resources, ${one.ms.toFixed(0)} ms, ${((one.resources / one.ms) * 1000).toFixed(0)} resources/s)`,
          ratio,
          target: `≤ ${TARGET}`,
          ok: ratio <= TARGET,
        });
      }
      // The ratio above is diluted by the fixed part of a room; the marginal cost of one more provider shows whether
      // planning stays linear. Informational (no target): on 2 shared cores it moves by ±20 % between runs.
      const ten = plans.get(10)!;
      const fifty = plans.get(50)!;
      const marginal10 = (ten.ms - one.ms) / 9;
      const marginal50 = (fifty.ms - one.ms) / 49;
      results.push({
        name: "marginal cost of one provider (1→50)",
        figure: `${marginal50.toFixed(1)} ms/provider`,
        baseline: `1→10: ${marginal10.toFixed(1)} ms/provider`,
        ratio: marginal50 / marginal10,
      });
      return results;
    },
  },
];

// Policy-pack benchmark.
// 1. Scaling: the whole pack (resource policies + the provider-key stack rule) over a generated room of 200
//    providers × 4 approved jobs, against 200 × the same pack over a 1-provider room, measured in the same run.
//    Target ratio <= 1.5: the stack rule must stay linear in the number of grants (no per-grant scan of the stack).
// 2. Condition review: `conditionProblems` (parse + DNF + clause checks) on the condition core builds, against a bare
//    `@bufbuild/cel` parse of the same text. Target ratio <= 3: the analysis costs little over parsing.
import { parse } from "@bufbuild/cel";
import { conditionProblems } from "../policy-packs/cleanroom-guardrails/lib/condition.js";
import { allPolicies } from "../policy-packs/cleanroom-guardrails/policies/index.js";
import { jobDigestPrincipalSet } from "../src/core/attestation.js";
import {
  KEY_ID,
  POOL_NAME,
  strictCondition,
  T,
  broken,
  dataBucket,
  decrypterMember,
  pool,
  poolProvider,
} from "../tests/policy/fixtures/happy.js";
import { type PlannedResource, runPack } from "../tests/policy/helpers.js";
import type { Bench, BenchResult } from "./types.js";

const JOBS_PER_PROVIDER = 4;

function room(providers: number): PlannedResource[] {
  const out: PlannedResource[] = [pool(), poolProvider()];
  for (let p = 0; p < providers; p++) {
    const keyId = `${KEY_ID}-${p}`;
    out.push({ type: T.cryptoKey, name: `p${p}-key`, props: { keyRing: "kr", rotationPeriod: "7776000s" } });
    out.push({ ...broken(dataBucket(), "encryption.defaultKmsKeyName", keyId), name: `p${p}-data` });
    for (let j = 0; j < JOBS_PER_PROVIDER; j++) {
      const digest = `sha256:${(p * JOBS_PER_PROVIDER + j).toString(16).padStart(64, "0")}`;
      const m = broken(broken(decrypterMember(), "cryptoKeyId", keyId), "member", jobDigestPrincipalSet(POOL_NAME, digest));
      out.push({ ...m, name: `p${p}-decrypt-${j}` });
    }
  }
  return out;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function best(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) min = Math.min(min, await time(fn));
  return min;
}

export const benches: Bench[] = [
  {
    name: "policy-pack",
    async run(): Promise<BenchResult[]> {
      const N = 200;
      const small = room(1);
      const big = room(N);
      await runPack(allPolicies, small); // warm-up (module init, JIT)
      const one = await best(3, async () => {
        for (let i = 0; i < N; i++) {
          const v = await runPack(allPolicies, small);
          if (v.length !== 0) throw new Error(`the generated room must be compliant: ${v[0]!.message}`);
        }
      });
      const many = await best(3, async () => {
        const v = await runPack(allPolicies, big);
        if (v.length !== 0) throw new Error(`the generated room must be compliant: ${v[0]!.message}`);
      });
      const scaling = many / one;

      const condition = strictCondition();
      const ITER = 300;
      // Rounds interleaved so neither side gets the warmer JIT.
      let parseMs = Number.POSITIVE_INFINITY;
      let reviewMs = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        parseMs = Math.min(parseMs, await time(async () => {
          for (let i = 0; i < ITER; i++) parse(condition);
        }));
        reviewMs = Math.min(reviewMs, await time(async () => {
          for (let i = 0; i < ITER; i++) {
            if (conditionProblems(condition).length !== 0) throw new Error("the core condition must pass");
          }
        }));
      }
      const review = reviewMs / parseMs;
      return [
        {
          name: `pack over ${N}-provider room (${big.length} resources)`,
          figure: `${many.toFixed(1)} ms`,
          baseline: `${N} x 1-provider room: ${one.toFixed(1)} ms`,
          ratio: scaling,
          target: "<= 1.5x",
          ok: scaling <= 1.5,
        },
        {
          name: "conditionProblems on the core condition",
          figure: `${((reviewMs / ITER) * 1000).toFixed(1)} us/condition`,
          baseline: `cel parse: ${((parseMs / ITER) * 1000).toFixed(1)} us`,
          ratio: review,
          target: "<= 3x",
          ok: review <= 3,
        },
      ];
    },
  },
];

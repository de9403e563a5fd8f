/**
 * Regenerates tests/golden/*.json (the sanitized plan of every example under mocks) and
 * tests/golden/policy-messages.txt (every violation message of the policy pack, tests/policy/messages.ts).
 *
 *   npm run golden     (= node -r ts-node/register/transpile-only scripts/update-golden.ts)
 *
 * Review the diff: it is exactly how the examples' cloud resources, and what the guardrails say, changed.
 */
import { updateGolden } from "../tests/components/golden.js";
import { updatePolicyMessagesGolden } from "../tests/policy/messages.js";

process.env.CLEANROOM_TEST = "1";
Promise.all([updateGolden(), updatePolicyMessagesGolden()]).then(
  ([files, messages]) => {
    console.log(`wrote ${messages}`);
    for (const f of files) console.log(`wrote ${f}`);
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);

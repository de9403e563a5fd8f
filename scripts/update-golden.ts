/**
 * Regenerates tests/golden/*.json: the sanitized plan of every example under mocks.
 *
 *   npm run golden     (= node -r ts-node/register/transpile-only scripts/update-golden.ts)
 *
 * Review the diff: it is exactly how the examples' cloud resources changed.
 */
import { updateGolden } from "../tests/components/golden.js";

process.env.CLEANROOM_TEST = "1";
updateGolden().then(
  (files) => {
    for (const f of files) console.log(`wrote ${f}`);
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);

/**
 * `npm run demo` is the first thing a newcomer runs: this test runs the same program (examples/quickstart/demo.ts) in a
 * child process and checks that it exits 0 and that a reader can see each step's outcome.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";

const ROOT = join(__dirname, "..", "..");

describe("npm run demo (examples/quickstart/demo.ts)", function () {
  this.timeout(120_000);

  it("GIVEN a fresh checkout WHEN the demo runs THEN it exits 0, shows stage 1, the verified receipt, the held output and the denied job", () => {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "examples", "quickstart", "demo.ts")], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 110_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
    const out = r.stdout;
    // Stage 1: MST synthetic rows with the schema's header.
    expect(out).to.match(/DP synthetic data \(MST, ε = 1 from the spec\).*: \d+ rows/);
    expect(out).to.include("age,sex,bmi,children,smoker,region,charges");
    // Stage 2: the approved regression ran, was released and verified, and its receipt is bound to the token.
    expect(out).to.match(/VERIFIED: job job-[a-z0-9-]+ \(sha256:[0-9a-f]{64}\) ran on the LOCAL backend/);
    expect(out).to.match(/receipt digest sha256:[0-9a-f]{64} = the attestation token's nonce/);
    expect(out).to.match(/The verified model: R² = 0\.\d+/);
    // Safe outputs: the regression's output passed the checks and was released; the cross-tabulation is held, by rule.
    expect(out).to.include("Disclosure checks (run by the executor before the receipt): pass.");
    expect(out).to.match(/Disclosure checks \(review\): pass\./);
    const held = out.slice(out.indexOf("held by the checks"));
    expect(held).to.include("disclosure checks: fail");
    expect(held).to.match(/Held in quarantine: an output failed the disclosure checks \([a-z-, ]*min-cell-count[a-z-, ]*\)/);
    expect(held).to.include("verbatim-rows");
    expect(held).to.match(/--accept-failed-checks [a-z-,]+/);
    // The unapproved job: denied its key, a verifiable failure receipt, nothing released.
    expect(out).to.match(/State: failed \[denied\]/);
    expect(out).to.match(/is not in its approvedJobs/);
    expect(out).to.include("VERIFIED FAILURE");
    expect(out).to.include("Outputs released: 0 (none).");
    // The denied step prints the job's digest once and the hint to approve it once (issue 19).
    const denied = out.slice(out.indexOf("A job nobody approved"));
    const digest = /add "(sha256:[0-9a-f]{64})"/.exec(denied)?.[1];
    expect(digest, denied).to.be.a("string");
    expect(denied.split(digest!).length - 1, denied).to.equal(1);
    expect(denied.split("To approve it").length - 1, denied).to.equal(1);
  });
});

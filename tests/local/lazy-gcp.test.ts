/**
 * The CLI and the local backend must not load the Google Cloud SDKs: platforms/index.ts loads platforms/gcp on first
 * use only. Checked in a child process, since this mocha process has loaded them for other tests.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";

const ROOT = join(__dirname, "..", "..");

describe("lazy GCP platform", function () {
  this.timeout(60_000);

  it("GIVEN the cleanroom CLI and the local room modules WHEN loaded THEN no @google-cloud or google-auth-library module is", () => {
    const probe = `
      require("./src/runtime/cli.ts");
      require("./src/runtime/platforms/local/room.ts");
      require("./src/runtime/provision/stage1.ts");
      const loaded = Object.keys(require.cache).filter((k) => /node_modules\\/(@google-cloud|google-auth-library)\\//.test(k));
      process.stdout.write(JSON.stringify(loaded.slice(0, 5)));`;
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", probe], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal([]);
  });
});

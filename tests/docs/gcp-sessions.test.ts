/**
 * The `<!-- doctest: gcp -->` blocks of the docs run against the loopback Google APIs, with `pulumi` deploying the
 * example under mocks (tests/docs/gcp-world.ts): all such blocks of one file, in order, as one bash session.
 */
import { rmSync } from "node:fs";
import { expect } from "chai";
import { DOC_FILES, blocksOf } from "./doc-files.js";
import { GcpWorld } from "./gcp-world.js";
import { invocations } from "./markdown.js";
import { GCP_SESSION_LIMIT_MS, runSession, scratchCopy, sessionMessage } from "./session.js";

describe("docs: the `doctest: gcp` blocks run against the loopback Google APIs", function () {
  this.timeout(GCP_SESSION_LIMIT_MS + 60_000);

  for (const file of DOC_FILES) {
    const gcp = blocksOf(file).filter((b) => b.mode === "gcp");
    if (gcp.length === 0) continue;
    describe(file, () => {
      it(`GIVEN its ${gcp.length} \`doctest: gcp\` block(s) WHEN run against the loopback Google APIs THEN every command succeeds`, async () => {
        const { root, cwd } = scratchCopy(file);
        const world = await new GcpWorld().start(root);
        try {
          const r = await runSession(gcp, cwd, { controlPort: world.controlPort, timeoutMs: GCP_SESSION_LIMIT_MS });
          expect(r.code, sessionMessage(file, r)).to.equal(0);
          expect(world.vmErrors.map(String), "executor runs in the fake VM failed").to.deep.equal([]);
          const cleanroom = gcp.flatMap(invocations).filter((i) => i.tool === "cleanroom");
          expect(cleanroom.length, "a gcp session that runs no cleanroom command exercises nothing").to.be.greaterThan(0);
          // The commands really reached the loopback APIs: a submitted job created a VM, a provisioned dataset hit KMS.
          if (cleanroom.some((i) => i.args[0] === "job" && i.args[1] === "submit")) expect(world.fake.sent(/\/instances$/, "POST").length, "no VM was created").to.be.greaterThan(0);
          if (cleanroom.some((i) => i.args[0] === "data")) expect(world.fake.sent(/:encrypt$/, "POST").length, "no data key was wrapped").to.be.greaterThan(0);
        } finally {
          await world.stop();
          rmSync(root, { recursive: true, force: true });
        }
      });
    });
  }
});

/**
 * The `<!-- doctest: local -->` blocks of the docs run for real: all such blocks of one file, in order, as one bash
 * session in a scratch copy of the file's directory (tests/docs/session.ts), with this checkout's `cleanroom`. A file
 * of its own, apart from the static checks (commands.test.ts), so parallel mocha workers spread the sessions.
 */
import { rmSync } from "node:fs";
import { expect } from "chai";
import { DOC_FILES, blocksOf } from "./doc-files.js";
import { LOCAL_SESSION_LIMIT_MS, filesUnder, runSession, scratchCopy, sessionMessage, stopLeftovers } from "./session.js";

describe("docs: the `doctest: local` blocks run for real", function () {
  this.timeout(LOCAL_SESSION_LIMIT_MS + 60_000);

  it("GIVEN the docs WHEN scanned THEN the README's CLI walkthrough is among the sessions (a lost marker would drop it)", () => {
    expect(blocksOf("README.md").filter((b) => b.mode === "local").flatMap((b) => b.lines).join("\n")).to.match(/npx cleanroom local up/);
  });

  for (const file of DOC_FILES) {
    const local = blocksOf(file).filter((b) => b.mode === "local");
    if (local.length === 0) continue;
    describe(file, () => {
      it(`GIVEN its ${local.length} \`doctest: local\` block(s) WHEN run for real in one bash session THEN every command succeeds, no room is left running and no file is left behind`, async () => {
        const { root, cwd } = scratchCopy(file);
        try {
          const before = filesUnder(root);
          const r = await runSession(local, cwd, { timeoutMs: LOCAL_SESSION_LIMIT_MS });
          expect(r.code, sessionMessage(file, r)).to.equal(0);
          expect(await stopLeftovers(root), "rooms left running by the session").to.deep.equal([]);
          // What the blocks create they remove: pasted twice into one terminal, they run the same way twice.
          expect(filesUnder(root), "files the session left behind").to.deep.equal(before);
        } finally {
          await stopLeftovers(root);
          rmSync(root, { recursive: true, force: true });
        }
      });
    });
  }
});

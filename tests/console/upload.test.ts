/** Uploads never write outside their directory: unsafe names and archive entries are refused, nothing is half-kept. */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { expect } from "chai";
import { pack } from "tar-stream";
import { CleanRoomError } from "../../src/core/errors.js";
import { safeRelativePath, uploadedTree } from "../../src/runtime/console/upload.js";
import { tempDir } from "../local/helpers.js";

describe("console: uploads stay inside their directory", () => {
  it("GIVEN file names from a browser WHEN checked THEN relative paths are kept and absolute or parent paths are refused", () => {
    expect(safeRelativePath("result/outputs/model.json")).to.equal("result/outputs/model.json");
    expect(safeRelativePath("./a//b")).to.equal("a/b");
    for (const bad of ["/etc/passwd", "../x", "a/../../x", "C:\\x", "..\\x", "", "a/\0b"]) expect(safeRelativePath(bad), bad).to.equal(undefined);
  });

  it("GIVEN a tar whose entry climbs out with ../ WHEN extracted THEN it is refused and nothing lands outside", async () => {
    const dir = await tempDir("upload");
    try {
      await mkdir(join(dir, "up", "files"), { recursive: true });
      const tar = pack();
      const done = pipeline(tar, createWriteStream(join(dir, "up", "files", "evil.tar")));
      tar.entry({ name: "receipt.json" }, "{}");
      tar.entry({ name: "../../escaped.txt" }, "x");
      tar.finalize();
      await done;
      const err = await uploadedTree({ dir: join(dir, "up"), fields: new Map(), files: [{ field: "files", path: "evil.tar", bytes: 1 }] }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(CleanRoomError);
      expect((err as CleanRoomError).message).to.include('"../../escaped.txt"');
      expect(await readdir(dir)).to.deep.equal(["up"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

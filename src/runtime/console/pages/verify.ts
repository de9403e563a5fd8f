/** Routes of the verify page: a result uploaded as a folder or an archive, verified with `verifyResult`. */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { CleanRoomError } from "../../../core/errors.js";
import { RESULT_FILES } from "../../../core/receipt.js";
import { verificationReport } from "../checks.js";
import type { Route } from "../context.js";
import { htmlReply } from "../http.js";
import { findResultRoot, type Upload, uploadedTree } from "../upload.js";
import { verifyPage } from "../views/verify.js";

function listing(upload: Upload): string {
  const names = upload.files.map((f) => f.path);
  return names.length === 0 ? "no files" : `${names.slice(0, 8).join(", ")}${names.length > 8 ? `, … (${names.length} files)` : ""}`;
}

export const verifyRoutes: readonly Route[] = [
  {
    method: "GET",
    pattern: /^verify$/,
    async handle(r) {
      return htmlReply(verifyPage(r.ctx, r.app.descriptor()));
    },
  },
  {
    method: "POST",
    pattern: /^verify$/,
    upload: true,
    async handle(r) {
      const d = r.app.descriptor();
      let upload: Upload | undefined;
      try {
        upload = await r.upload();
        let tree: string;
        try {
          tree = await uploadedTree(upload);
        } catch (err) {
          if (err instanceof CleanRoomError && err.code === "invalid-argument") return htmlReply(verifyPage(r.ctx, d, { notResult: err.message }), 400);
          throw err;
        }
        const root = await findResultRoot(tree, RESULT_FILES.receipt);
        if (!root) {
          return htmlReply(
            verifyPage(r.ctx, d, {
              notResult: `This upload is not a job result: a result holds ${RESULT_FILES.receipt}, ${RESULT_FILES.token} and ${RESULT_FILES.outputs}/ (what \`cleanroom job fetch\` writes). Received: ${listing(upload)}.`,
            }),
            400,
          );
        }
        return htmlReply(verifyPage(r.ctx, d, { report: await verificationReport(root, d, r.app.trustedRoots) }));
      } finally {
        if (upload) await rm(upload.dir, { recursive: true, force: true });
      }
    },
  },
];

/** A new private directory for one upload. */
export function uploadDir(stateDir: string): string {
  return join(stateDir, "uploads", randomBytes(8).toString("hex"));
}

/** `cleanroom console`: the room console, a web page per role (data scientist, provider), on 127.0.0.1. */
import type { Command } from "commander";
import { CleanRoomError } from "../../core/errors.js";
import { startConsole } from "../console/server.js";
import { output, progress } from "./common.js";
import { readPemCertificates } from "./verify.js";

interface ConsoleFlags {
  room?: string;
  workspace?: string;
  port: string;
  unixSocket?: string;
  basePath?: string;
  provider?: string;
  stateDir?: string;
  trustedRoot: string[];
  json?: boolean;
}

function portOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CleanRoomError("invalid-argument", `--port must be 0-65535 (0: any free port), got ${JSON.stringify(v)}`);
  return n;
}

/** Registers `cleanroom console`. */
export function registerConsoleCommands(program: Command): void {
  program
    .command("console")
    .description("Serve the room console: pack, submit and follow jobs, verify results, review, approve and release (a web page on 127.0.0.1)")
    .requiredOption("--room <descriptor.json>", "the room descriptor (<dir>/descriptor.json locally, `pulumi stack output descriptor` on GCP)")
    .option("--workspace <dir>", "the folder of your job sources (the Workspace page packs jobs from it)")
    .option("--port <n>", "TCP port on 127.0.0.1 (0: any free port)", "0")
    .option("--unix-socket <path>", "listen on a Unix socket instead (behind jupyter-server-proxy; the socket's permissions are the login)")
    .option("--base-path <path>", "URL path prefix of every page (behind a proxy), e.g. /user/alice/cleanroom/")
    .option("--provider <name>", "act as this data provider: read quarantine, approve jobs, release results")
    .option("--state-dir <dir>", "private directory for packed jobs, fetched results and uploads (default: under the OS temp dir)")
    .option(
      "--trusted-root <pem>",
      "a PEM root to verify results against (repeatable); default: Google's pinned root (gcp), the room's own root (local)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--json", "print {url} as JSON once the console is listening")
    .addHelpText(
      "after",
      `
Open the printed URL in a browser on this machine: its token works once and is exchanged for a session cookie.
The console stops with Ctrl-C. Every action uses the same library calls as the other commands, so the digest it
shows is the one \`cleanroom job pack\` prints, and what you may read is what your credentials allow.

Examples:
  $ cleanroom console --room ./room/descriptor.json --workspace examples/quickstart/jobs
  $ cleanroom console --room ./room/descriptor.json --provider insurer --port 8470`,
    )
    .action(async (o: ConsoleFlags) => {
      const roots = o.trustedRoot.flatMap((f) => readPemCertificates(f));
      const c = await startConsole({
        room: o.room!,
        port: portOf(o.port),
        ...(o.workspace !== undefined ? { workspace: o.workspace } : {}),
        ...(o.unixSocket !== undefined ? { unixSocket: o.unixSocket } : {}),
        ...(o.basePath !== undefined ? { basePath: o.basePath } : {}),
        ...(o.provider !== undefined ? { provider: o.provider } : {}),
        ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
        ...(roots.length > 0 ? { trustedRoots: roots } : {}),
      });
      output(o.json, { url: c.url, ...(c.port !== undefined ? { port: c.port } : {}) }, () => {
        process.stdout.write(`The room console is running${o.provider ? ` for provider ${o.provider}` : ""}. Open this URL on this machine (it works once):\n\n    ${c.url}\n\n`);
      });
      progress("Press Ctrl-C to stop it.");
      await new Promise<void>((resolveP) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void c.close().then(resolveP);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}

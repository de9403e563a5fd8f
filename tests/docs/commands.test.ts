/**
 * The docs must not drift from the code: every `cleanroom`, `pulumi` and `npm` command in a ```bash block of
 * README.md, examples/<name>/README.md and docs/operations.md is checked against what it names.
 *
 * - Every `cleanroom` line is parsed against the real commander tree (`buildProgram()`), without running it.
 * - A block preceded by `<!-- doctest: local -->` runs for real (local-sessions.test.ts); one preceded by
 *   `<!-- doctest: gcp -->` runs against the loopback Google APIs (gcp-sessions.test.ts).
 * - `<!-- doctest: parse-only: <reason> -->` keeps a block to the static checks; any other block that contains a
 *   `cleanroom` line fails.
 * - `npm run X` must name a script of the nearest package.json; `pulumi config set K` must be read by the program and
 *   change its plan; `pulumi stack output X` must be an export; `--policy-pack P` must exist.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { expect } from "chai";
import { Command } from "commander";
import { REPO_ROOT } from "../components/harness.js";
import { checkCleanroomArgs } from "./cli-check.js";
import { GcpWorld } from "./gcp-world.js";
import { cliInProcess } from "../cli-harness.js";
import { DOC_FILES, EXAMPLE_READMES, blocksOf } from "./doc-files.js";
import { type Invocation, bashBlocks, invocations, simpleCommands } from "./markdown.js";
import { type DocumentedSetting, type PulumiProgram, exportsOf, parsePulumi, pulumiProgramOf, settingProblems } from "./pulumi-check.js";
import { runSession, scratchCopy } from "./session.js";

function at(i: Invocation): string {
  return `${i.file}:${i.line}`;
}

/**
 * The repo directory an invocation runs in: the markdown file's directory (the repository root for docs/*.md, whose
 * commands are written for it), moved by the block's `cd`.
 */
function dirOf(i: Invocation): string {
  const base = dirname(i.file) === "docs" ? "." : dirname(i.file);
  return resolve(REPO_ROOT, base, i.cd);
}

/** Walks up from `dir` to the first directory holding `name` (as npm and pulumi do). */
function findUp(dir: string, name: string): string | undefined {
  for (let d = dir; d.startsWith(REPO_ROOT); d = dirname(d)) {
    if (existsSync(join(d, name))) return d;
    if (d === REPO_ROOT) break;
  }
  return undefined;
}

/** Problems of one `npm` invocation. */
function npmProblems(i: Invocation): string[] {
  const [verb, script] = i.args;
  const name = verb === "run" || verb === "run-script" ? script : ["test", "t", "start", "stop", "restart"].includes(verb ?? "") ? (verb === "t" ? "test" : verb) : undefined;
  if (name === undefined) return verb === "run" ? [`${at(i)}: \`npm run\` without a script name`] : [];
  const pkgDir = findUp(dirOf(i), "package.json");
  if (!pkgDir) return [`${at(i)}: no package.json above ${dirOf(i)}`];
  const scripts = (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {};
  if (!(name in scripts)) return [`${at(i)}: \`npm ${i.args.join(" ")}\` — ${join(pkgDir, "package.json").slice(REPO_ROOT.length + 1)} has no script "${name}" (it has ${Object.keys(scripts).join(", ") || "none"})`];
  return [];
}

/** Static problems of a file's `pulumi` invocations (config keys, outputs, policy packs). */
async function pulumiProblems(all: readonly Invocation[]): Promise<string[]> {
  const problems: string[] = [];
  const settings = new Map<string, { program: PulumiProgram; list: DocumentedSetting[] }>();
  const exportsCache = new Map<string, string[]>();
  for (const i of all) {
    const dir = findUp(dirOf(i), "Pulumi.yaml");
    const program = dir ? pulumiProgramOf(dir) : undefined;
    if (!program) {
      problems.push(`${at(i)}: \`pulumi ${i.args.join(" ")}\` — no example's Pulumi.yaml at or above ${dirOf(i)}`);
      continue;
    }
    const cmd = parsePulumi(i.args);
    if (cmd.kind === "config-set") {
      if (!cmd.key) problems.push(`${at(i)}: \`pulumi config set\` without a key`);
      const entry = settings.get(program.example) ?? { program, list: [] };
      entry.list.push({ where: at(i), key: cmd.key, value: cmd.value });
      settings.set(program.example, entry);
    } else if (cmd.kind === "config-rm") {
      if (!cmd.key) problems.push(`${at(i)}: \`pulumi config rm\` without a key`);
    } else if (cmd.kind === "stack-output" && cmd.name !== undefined) {
      const names = exportsCache.get(program.example) ?? (await exportsOf(program));
      exportsCache.set(program.example, names);
      if (!names.includes(cmd.name)) problems.push(`${at(i)}: \`pulumi stack output ${cmd.name}\` — examples/${program.example} exports only ${names.join(", ")}`);
    } else if (cmd.kind === "deploy") {
      for (const p of cmd.policyPacks) if (!existsSync(resolve(dirOf(i), p))) problems.push(`${at(i)}: --policy-pack ${p} does not exist (from ${dirOf(i)})`);
    }
  }
  for (const { program, list } of settings.values()) {
    // The same key set twice (e.g. approving a second digest) is one setting: the last value wins, as in Pulumi.
    const byKey = new Map(list.map((s) => [s.key, s]));
    problems.push(...(await settingProblems(program, [...byKey.values()])));
  }
  return problems;
}

describe("docs: the commands shown in the READMEs match the code", function () {
  this.timeout(60_000);

  it("GIVEN the example READMEs WHEN scanned THEN each exists and shows documented commands (a deleted or emptied README fails)", () => {
    for (const f of EXAMPLE_READMES) {
      expect(DOC_FILES, `${f} is missing`).to.include(f);
      const n = blocksOf(f).flatMap(invocations).length;
      expect(n, `${f} shows no cleanroom/pulumi/npm command`).to.be.greaterThan(0);
    }
  });

  for (const file of DOC_FILES) {
    describe(file, () => {
      const blocks = blocksOf(file);
      const all = blocks.flatMap(invocations);

      it("GIVEN its bash blocks WHEN scanned THEN every block with a `cleanroom` line carries a doctest marker", () => {
        const problems: string[] = [];
        for (const b of blocks) {
          if (b.badMarker) problems.push(`${b.file}:${b.line - 1}: unknown marker ${b.badMarker} (use local, gcp or parse-only: <reason>)`);
          if (b.mode === "none" && invocations(b).some((i) => i.tool === "cleanroom")) {
            problems.push(`${b.file}:${b.line - 1}: a block with cleanroom commands needs <!-- doctest: local -->, <!-- doctest: gcp --> or <!-- doctest: parse-only: <reason> -->`);
          }
        }
        expect(problems, problems.join("\n")).to.deep.equal([]);
      });

      it("GIVEN every `cleanroom` line WHEN parsed against buildProgram() THEN the subcommand, its options and required arguments exist", () => {
        const problems = all.filter((i) => i.tool === "cleanroom").flatMap((i) => checkCleanroomArgs(i.args).problems.map((p) => `${at(i)}: ${p}\n    ${i.text}`));
        expect(problems, problems.join("\n")).to.deep.equal([]);
      });

      it("GIVEN every `npm` line WHEN checked THEN each script it runs is defined in the nearest package.json", () => {
        const problems = all.filter((i) => i.tool === "npm").flatMap(npmProblems);
        expect(problems, problems.join("\n")).to.deep.equal([]);
      });

      it("GIVEN every `pulumi` line WHEN the example runs under mocks THEN config keys are read and change the plan, outputs are exports, policy packs exist", async () => {
        const problems = await pulumiProblems(all.filter((i) => i.tool === "pulumi"));
        expect(problems, problems.join("\n")).to.deep.equal([]);
      });

    });
  }
});

describe("docs checker: proven to catch drift", function () {
  this.timeout(60_000);

  const md = (marker: string, body: string) => `# t\n\n${marker}\n\`\`\`bash\n${body}\n\`\`\`\n`;

  it("GIVEN a cleanroom line with an unknown option WHEN checked THEN it fails naming the option and the command", () => {
    const [inv] = invocations(bashBlocks("fake.md", md("<!-- doctest: local -->", "cleanroom job submit ./packed --room room.json --wiat"))[0]!);
    const r = checkCleanroomArgs(inv!.args);
    expect(r.path).to.equal("cleanroom job submit");
    expect(r.problems.join("\n")).to.match(/unknown option --wiat for `cleanroom job submit`/);
  });

  it("GIVEN an unknown subcommand, a missing required option and a missing argument WHEN checked THEN each is reported", () => {
    expect(checkCleanroomArgs(["job", "sbmit", "./packed"]).problems.join()).to.match(/unknown command `cleanroom job sbmit`/);
    // (--csv is one of --csv/--parquet now, checked by the command itself: the required option here is --dataset.)
    expect(checkCleanroomArgs(["data", "provision", "--room", "r.json", "--provider", "insurer", "--csv", "claims.csv"]).problems.join()).to.match(/requires --dataset <name>/);
    expect(checkCleanroomArgs(["job", "wait", "--room", "r.json"]).problems.join()).to.match(/needs <jobId>/);
    expect(checkCleanroomArgs(["verify", "./result", "--room"]).problems.join()).to.match(/--room of `cleanroom verify` needs a value/);
  });

  it("GIVEN a correct line WHEN checked THEN no problem (the checker accepts what the CLI accepts)", () => {
    const args = simpleCommands(`JOB=$(cleanroom job submit ./packed --room room.json --json | node -pe 'x') && cleanroom job wait "$JOB" --room room.json 2>&1`);
    expect(args).to.deep.equal([["cleanroom", "job", "submit", "./packed", "--room", "room.json", "--json"], ["node", "-pe", "x"], ["cleanroom", "job", "wait", "<$JOB>", "--room", "room.json"]]);
    for (const [, ...a] of args.filter((w) => w[0] === "cleanroom")) expect(checkCleanroomArgs(a).problems).to.deep.equal([]);
    // --no-stage1 and repeatable variadic --input are real options.
    expect(checkCleanroomArgs(["data", "provision", "--room", "r", "--provider", "p", "--dataset", "d", "--csv", "c", "--no-stage1"]).problems).to.deep.equal([]);
    expect(checkCleanroomArgs(["job", "pack", "jobs/x", "--entrypoint", "main.py", "--input", "a/b", "c/d", "--out", "o"]).problems).to.deep.equal([]);
  });

  it("GIVEN a program tree WHEN an option is removed from the code THEN a line using it stops parsing (the check reads the tree, not a list)", () => {
    const program = new Command("cleanroom");
    program.command("job").command("submit <dir>").requiredOption("--room <r>");
    expect(checkCleanroomArgs(["job", "submit", "d", "--room", "r"], program).problems).to.deep.equal([]);
    expect(checkCleanroomArgs(["job", "submit", "d", "--room", "r", "--wait"], program).problems.join()).to.match(/unknown option --wait/);
  });

  it("GIVEN an unmarked block and a misspelt marker WHEN scanned THEN the block is unmarked and the marker is reported", () => {
    const [b1] = bashBlocks("fake.md", md("", "cleanroom local up --spec spec.json --dir ./room"));
    expect(b1!.mode).to.equal("none");
    const [b2] = bashBlocks("fake.md", md("<!-- doctest: lcoal -->", "cleanroom local up --spec spec.json --dir ./room"));
    expect(b2!.mode).to.equal("none");
    expect(b2!.badMarker).to.equal("<!-- doctest: lcoal -->");
    const [b3] = bashBlocks("fake.md", md("<!-- doctest: parse-only: needs a deployed stack -->", "cleanroom verify r --room room.json"));
    expect(b3).to.include({ mode: "parse-only", reason: "needs a deployed stack" });
  });

  it("GIVEN a `pulumi config set` of a key the program never reads WHEN checked THEN it fails naming the key", async () => {
    const program = pulumiProgramOf(join(REPO_ROOT, "examples", "gpu"))!;
    const problems = await settingProblems(program, [
      { where: "fake.md:3", key: "approvedJobs", value: "<$DIGESTS>" },
      { where: "fake.md:4", key: "machineType", value: "a3-highgpu-8g" },
    ]);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/fake\.md:4: .*never reads cleanroom-gpu:machineType/);
  });

  it("GIVEN a gcp session that forgets required config WHEN `pulumi up` runs under mocks THEN it fails like Pulumi would, at that line", async () => {
    const blocks = bashBlocks("examples/gpu/README.md", md("<!-- doctest: gcp -->", "pulumi config set gcp:project ml-cleanroom\npulumi config set gcp:region us-central1\npulumi up --yes\necho unreachable"));
    const { root, cwd } = scratchCopy("examples/gpu/README.md");
    const world = await new GcpWorld().start(root);
    try {
      const r = await runSession(blocks, cwd, { controlPort: world.controlPort, timeoutMs: 30_000 });
      expect(r.code).to.not.equal(0);
      expect(r.failedAt).to.equal("examples/gpu/README.md:7");
      expect(r.stderr).to.match(/Missing required configuration variable 'cleanroom-gpu:approvedJobs'/);
      expect(world.calls.map((c) => c.join(" "))).to.deep.equal(["config set gcp:project ml-cleanroom", "config set gcp:region us-central1", "up --yes"]);
    } finally {
      await world.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("GIVEN the in-process CLI of gcp sessions WHEN a subcommand gets an unknown option or --help THEN exit codes, not process.exit", async () => {
    const bad = await cliInProcess(["job", "submit", "./packed", "--room", "room.json", "--wiat"], REPO_ROOT);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/unknown option '--wiat'/);
    const help = await cliInProcess(["job", "wait", "--help"], REPO_ROOT);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/Usage: cleanroom job wait/);
    expect(process.cwd()).to.equal(REPO_ROOT);
  });

  it("GIVEN `npx cleanroom …` lines (the README's form) WHEN scanned THEN they are cleanroom lines, checked like the others", () => {
    const [inv] = invocations(bashBlocks("fake.md", md("<!-- doctest: local -->", "job=$(npx cleanroom job sbmit ./packed --room r.json | node -pe x)"))[0]!);
    expect(inv).to.include({ tool: "cleanroom" });
    expect(inv!.args).to.deep.equal(["job", "sbmit", "./packed", "--room", "r.json"]);
    expect(checkCleanroomArgs(inv!.args).problems.join()).to.match(/unknown command `cleanroom job sbmit`/);
  });

  it("GIVEN a session that outlives its limit WHEN killed THEN it names the line it was on and times the lines before it", async () => {
    const blocks = bashBlocks("fake.md", md("<!-- doctest: local -->", "sleep 0.3\nx=$(sleep 30\\\n  && echo late)\necho unreachable"));
    const r = await runSession(blocks, REPO_ROOT, { timeoutMs: 2_000 });
    expect(r.code).to.not.equal(0);
    expect(r.killedAt, r.stderr).to.include({ at: "fake.md:6", text: "x=$(sleep 30 && echo late)" });
    expect(r.stderr).to.match(/session killed after 2000 ms while running fake\.md:6 \(for \d\.\d s\): x=\$\(sleep 30 && echo late\)/);
    expect(r.steps[0]).to.include({ at: "fake.md:5", text: "sleep 0.3" });
    expect(r.steps[0]!.ms).to.be.at.least(250);
    expect(r.stdout).to.not.include("unreachable");
  });

  it("GIVEN a failing command in a local session WHEN run THEN the failure names its markdown line", async () => {
    const blocks = bashBlocks("fake.md", md("<!-- doctest: local -->", "echo ok\ncleanroom local status --dir ./no-room --jsn\necho unreachable"));
    const r = await runSession(blocks, REPO_ROOT, { timeoutMs: 30_000 });
    expect(r.code).to.not.equal(0);
    expect(r.failedAt).to.equal("fake.md:6");
    expect(r.stdout).to.not.include("unreachable");
  });
});

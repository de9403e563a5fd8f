/**
 * Checks a documented `cleanroom …` word list against the real commander tree WITHOUT running it: the subcommand
 * path exists, every option is defined on that command (or is `--help`), option values and required options and
 * arguments are present, and no argument is left over.
 */
import type { Command, Option } from "commander";
import { buildProgram } from "../../src/runtime/cli.js";

/** What the check found: the command path it resolved and the problems (empty = the line parses). */
export interface CliCheck {
  readonly path: string;
  readonly problems: string[];
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

/** Resolves `args` (the words after `cleanroom`) on `program` (default: the real `buildProgram()`). */
export function checkCleanroomArgs(args: readonly string[], program: Command = buildProgram()): CliCheck {
  let cmd = program;
  const path = ["cleanroom"];
  const problems: string[] = [];
  let i = 0;
  const isHelp = (a: string) => a === "--help" || a === "-h";
  while (cmd.commands.length > 0) {
    const word = args[i];
    if (word === undefined || word.startsWith("-")) {
      if (word !== undefined && (isHelp(word) || (cmd === program && (word === "--version" || word === "-V")))) return { path: path.join(" "), problems };
      problems.push(`\`${path.join(" ")}\` needs a subcommand (one of ${cmd.commands.map((c) => c.name()).join(", ")})`);
      return { path: path.join(" "), problems };
    }
    if (word === "help") return { path: path.join(" "), problems };
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) {
      problems.push(`unknown command \`${[...path, word].join(" ")}\` (\`${path.join(" ")}\` has ${cmd.commands.map((c) => c.name()).join(", ")})`);
      return { path: path.join(" "), problems };
    }
    cmd = sub;
    path.push(word);
    i++;
  }
  const where = `\`${path.join(" ")}\``;
  const positional: string[] = [];
  const seen = new Set<Option>();
  let help = false;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (isHelp(a)) {
      help = true;
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      const eq = a.indexOf("=");
      const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
      const opt = findOption(cmd, flag);
      if (!opt) {
        problems.push(`unknown option ${flag} for ${where} (it has ${cmd.options.map((o) => o.long ?? o.short).join(", ") || "no options"})`);
        continue;
      }
      seen.add(opt);
      const takesValue = opt.required || opt.optional;
      if (!takesValue) {
        if (eq > 0) problems.push(`${flag} of ${where} takes no value (got ${a})`);
        continue;
      }
      if (eq > 0) continue;
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("-") && next.length > 1)) {
        if (opt.required) problems.push(`${flag} of ${where} needs a value (${opt.flags})`);
        continue;
      }
      i++;
      if (opt.variadic) while (args[i + 1] !== undefined && !args[i + 1]!.startsWith("-")) i++;
      continue;
    }
    positional.push(a);
  }
  if (help) return { path: path.join(" "), problems };
  for (const o of cmd.options) if (o.mandatory && !seen.has(o)) problems.push(`${where} requires ${o.flags}`);
  const declared = cmd.registeredArguments;
  const required = declared.filter((a) => a.required).length;
  if (positional.length < required) problems.push(`${where} needs ${declared.map((a) => `<${a.name()}>`).join(" ")} (got ${positional.length} argument(s))`);
  const variadic = declared.at(-1)?.variadic === true;
  if (!variadic && positional.length > declared.length) problems.push(`${where} got unexpected argument(s): ${positional.slice(declared.length).join(" ")}`);
  return { path: path.join(" "), problems };
}

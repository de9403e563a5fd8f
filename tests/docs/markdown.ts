/**
 * Reads the documentation the way a reader pastes it: fenced ```bash blocks, the doctest marker in the HTML comment
 * right above each one, and every `cleanroom` (or `npx cleanroom`) / `pulumi` / `npm` invocation inside (also inside `$( … )`, after
 * `|`, `&&`, `;`, `!`, `if`, and after `VAR=value` prefixes), split into words like bash would.
 */

/** How a block is exercised. */
export type DoctestMode = "local" | "gcp" | "parse-only" | "none";

/** One fenced bash block. */
export interface BashBlock {
  /** Repo-relative markdown file. */
  readonly file: string;
  /** 1-based line of the first line inside the fence. */
  readonly line: number;
  readonly lines: readonly string[];
  readonly mode: DoctestMode;
  /** The reason given with `parse-only`. */
  readonly reason?: string;
  /** The marker text when it was not understood (an error for the test to report). */
  readonly badMarker?: string;
}

/** One invocation of a documented tool. */
export interface Invocation {
  readonly file: string;
  /** 1-based markdown line where the logical shell line starts. */
  readonly line: number;
  /** `cleanroom`, `pulumi` or `npm`. */
  readonly tool: string;
  /** The words after the tool name; a shell variable or `$( … )` becomes `<$NAME>` / `<$(…)>`. */
  readonly args: readonly string[];
  /** The logical shell line, for messages. */
  readonly text: string;
  /** The directory the block's `cd` lines moved to, relative to the markdown file's directory ("" = unchanged). */
  readonly cd: string;
}

export const TOOLS = ["cleanroom", "pulumi", "npm"] as const;

const MARKER = /^<!--\s*doctest:\s*(.*?)\s*-->$/;

/** Parses a doctest marker's text (`local`, `gcp`, `parse-only: <reason>`). */
export function parseMarker(text: string): { mode: DoctestMode; reason?: string } | undefined {
  if (text === "local" || text === "gcp") return { mode: text };
  const po = /^parse-only:\s*(\S.*)$/.exec(text);
  if (po) return { mode: "parse-only", reason: po[1]! };
  return undefined;
}

/** Every fenced bash/sh/shell block of a markdown text, with the marker directly above it (blank lines allowed). */
export function bashBlocks(file: string, markdown: string): BashBlock[] {
  const lines = markdown.split("\n");
  const out: BashBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\w+)?/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const lang = open[3] ?? "";
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trim().startsWith(fence)) j++;
    if (["bash", "sh", "shell", "console"].includes(lang)) {
      let k = i - 1;
      while (k >= 0 && lines[k]!.trim() === "") k--;
      const m = k >= 0 ? MARKER.exec(lines[k]!.trim()) : null;
      const parsed = m ? parseMarker(m[1]!) : undefined;
      out.push({
        file,
        line: i + 2,
        lines: lines.slice(i + 1, j),
        mode: parsed?.mode ?? "none",
        ...(parsed?.reason ? { reason: parsed.reason } : {}),
        ...(m && !parsed ? { badMarker: m[0] } : {}),
      });
    }
    i = j;
  }
  return out;
}

/** Joins `\`-continued lines; each logical line keeps the index of its first physical line. */
export function logicalLines(lines: readonly string[]): Array<{ index: number; text: string }> {
  const out: Array<{ index: number; text: string }> = [];
  let cur: { index: number; text: string } | undefined;
  lines.forEach((raw, index) => {
    const l = cur ? raw.trimStart() : raw.replace(/^\s*\$ /, "");
    if (!cur) cur = { index, text: l };
    else cur.text += ` ${l}`;
    if (/\\$/.test(cur.text) && !/\\\\$/.test(cur.text)) cur.text = cur.text.slice(0, -1);
    else {
      out.push(cur);
      cur = undefined;
    }
  });
  if (cur) out.push(cur);
  return out;
}

type Token = { kind: "word"; value: string; subst: string[] } | { kind: "op"; value: string };

/** Splits one logical shell line into words and operators, bash-style (quotes, `$VAR`, `$( … )`, comments). */
export function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let word: string | undefined;
  let subst: string[] = [];
  const flush = () => {
    if (word !== undefined) tokens.push({ kind: "word", value: word, subst });
    word = undefined;
    subst = [];
  };
  const readSubst = (start: number): number => {
    // start points at "(" after "$": returns the index after the matching ")".
    let depth = 0;
    let q: string | undefined;
    for (let k = start; k < line.length; k++) {
      const c = line[k]!;
      if (q) {
        if (c === q) q = undefined;
        else if (c === "\\" && q === '"') k++;
        continue;
      }
      if (c === "'" || c === '"') q = c;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) return k + 1;
    }
    return line.length;
  };
  const readVar = (start: number): [string, number] => {
    // start points after "$".
    if (line[start] === "{") {
      const end = line.indexOf("}", start);
      return [line.slice(start + 1, end < 0 ? line.length : end).replace(/[:?+-].*$/, ""), end < 0 ? line.length : end + 1];
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(line.slice(start));
    return m ? [m[1]!, start + m[1]!.length] : ["", start];
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      flush();
      i++;
    } else if (c === "#" && word === undefined) {
      break;
    } else if ("|&;<>()".includes(c) || (word === undefined && /^[0-9]>/.test(line.slice(i, i + 2)))) {
      flush();
      const two = line.slice(i, i + 2);
      const op = ["&&", "||", ">>", "&>"].includes(two) || /^[0-9]>$/.test(two) ? two : c;
      tokens.push({ kind: "op", value: op });
      i += op.length;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? "") + line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end + 1;
    } else if (c === '"') {
      word = word ?? "";
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\" && i + 1 < line.length) {
          word += line[i + 1];
          i += 2;
        } else if (line[i] === "$" && line[i + 1] === "(") {
          const end = readSubst(i + 1);
          subst.push(line.slice(i + 2, end - 1));
          word += "<$(…)>";
          i = end;
        } else if (line[i] === "$") {
          const [name, end] = readVar(i + 1);
          word += name ? `<$${name}>` : "$";
          i = end;
        } else word += line[i++];
      }
      i++;
    } else if (c === "$" && line[i + 1] === "(") {
      const end = readSubst(i + 1);
      subst.push(line.slice(i + 2, end - 1));
      word = `${word ?? ""}<$(…)>`;
      i = end;
    } else if (c === "$") {
      const [name, end] = readVar(i + 1);
      word = `${word ?? ""}${name ? `<$${name}>` : "$"}`;
      i = end;
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[i + 1];
      i += 2;
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  flush();
  return tokens;
}

const PREFIX_WORDS = new Set(["!", "if", "then", "else", "elif", "while", "until", "do", "time", "exec", "command"]);

/** The simple commands of a logical line (and of every `$( … )` in it), as word lists. */
export function simpleCommands(line: string): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let redirect = false;
  const end = () => {
    if (cur.length > 0) out.push(cur);
    cur = [];
  };
  for (const t of tokenize(line)) {
    if (t.kind === "op") {
      if (t.value === "&" && redirect) continue; // `2>&1`, `>&2`
      if ([">", ">>", "<", "&>"].includes(t.value) || /^[0-9]>$/.test(t.value)) redirect = true;
      else end();
      continue;
    }
    for (const s of t.subst) out.push(...simpleCommands(s));
    if (redirect) {
      redirect = false;
      continue;
    }
    // Skip `VAR=value` prefixes and keywords in front of the command name.
    if (cur.length === 0 && (PREFIX_WORDS.has(t.value) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(t.value))) continue;
    cur.push(t.value);
  }
  end();
  return out;
}

/** Every documented-tool invocation of a block, with the `cd` in effect. */
export function invocations(block: BashBlock): Invocation[] {
  const out: Invocation[] = [];
  let cd = "";
  for (const { index, text } of logicalLines(block.lines)) {
    for (const words of simpleCommands(text)) {
      // `npx cleanroom …` (how the README runs the package's own bin without a global link) is a cleanroom line.
      const [tool, ...args] = words[0] === "npx" && words[1] === "cleanroom" ? words.slice(1) : words;
      if (tool === "cd" && args[0] !== undefined && !args[0].includes("<$")) {
        cd = cd === "" ? args[0] : `${cd}/${args[0]}`;
        continue;
      }
      if ((TOOLS as readonly string[]).includes(tool ?? "")) out.push({ file: block.file, line: block.line + index, tool: tool!, args, text: text.trim(), cd });
    }
  }
  return out;
}

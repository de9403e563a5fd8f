/**
 * Printing strings that a job, a receipt or a token chose: control and formatting characters are shown escaped, so
 * that a crafted output name or error text cannot redraw the terminal or reorder what it shows.
 */
import { UNPRINTABLE_PATTERN } from "../../core/receipt.js";

const UNSAFE = new RegExp(`${UNPRINTABLE_PATTERN.source}|\\\\`, "gu");
/** What JSON.stringify leaves raw (it escapes U+0000–U+001F itself; its own newlines are formatting). */
const UNSAFE_IN_JSON = new RegExp(UNPRINTABLE_PATTERN.source.replace("\\u0000-\\u001f", ""), "gu");

function escapeChar(c: string): string {
  if (c === "\\") return "\\\\";
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  if (c === "\t") return "\\t";
  return `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`;
}

/**
 * `s` with every control or formatting character (and the backslash) escaped, e.g. ESC as `\u001b`, a newline as `\n`.
 *
 * @example
 * printable("report\u001b[2J.csv"); // "report\\u001b[2J.csv"
 */
export function printable(s: string): string {
  return s.replace(UNSAFE, escapeChar);
}

/** `JSON.stringify(value, null, 2)` with the characters it leaves raw (C1 controls, bidi and format controls) escaped. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, escapeChar);
}

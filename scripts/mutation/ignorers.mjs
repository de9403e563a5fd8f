/**
 * Stryker ignorer plugins for `npm run mutate` (see reports/README.md).
 *
 * `human-messages`: the text of an error message is for people. Every error carries a stable `code` (tested), and a
 * mutant that only rewrites the sentence after it ("" instead of "…; re-export the descriptor") changes no decision
 * the room makes. Such mutants are not generated; mutants of the code, of the condition that throws, and of any
 * value computed for the error's options (e.g. `claim`) still are.
 *
 * The same holds for the arguments of `verify/result.ts`'s `mismatch(claim, expected, got, hint)` that only go into
 * the message of the `AttestationError` it returns: `expected`, `got` and `hint` (its `claim` is also the error's
 * `claim` option, which tests check, so its mutants are still generated).
 */
import { declareValuePlugin, PluginKind } from "@stryker-mutator/api/plugin";

/** Built-in errors take the message first; the project's typed errors take `(code, message, options?)`. */
const BUILTIN_ERRORS = new Set(["Error", "TypeError", "RangeError", "SyntaxError"]);

/** @param {any} node a babel node */
function isMessageText(node) {
  if (!node) return false;
  if (node.type === "StringLiteral" || node.type === "TemplateLiteral") return true;
  if (node.type === "BinaryExpression" && node.operator === "+") return isMessageText(node.left) || isMessageText(node.right);
  return false;
}

/** @param {any} path a babel NodePath */
function messageOfError(path) {
  const parent = path.parentPath;
  if (!parent?.isNewExpression() || parent.node.callee.type !== "Identifier") return false;
  const name = parent.node.callee.name;
  if (!name.endsWith("Error")) return false;
  const index = parent.node.arguments.indexOf(path.node);
  return index === (BUILTIN_ERRORS.has(name) ? 0 : 1) && isMessageText(path.node);
}

/** Message-only argument positions of message-building helpers: `mismatch(claim, expected, got, hint)`. */
const MESSAGE_ARGUMENTS = new Map([["mismatch", new Set([1, 2, 3])]]);

/** @param {any} path a babel NodePath */
function messageArgumentOfHelper(path) {
  const parent = path.parentPath;
  if (!parent?.isCallExpression() || parent.node.callee.type !== "Identifier") return false;
  const positions = MESSAGE_ARGUMENTS.get(parent.node.callee.name);
  return positions?.has(parent.node.arguments.indexOf(path.node)) === true && isMessageText(path.node);
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "human-messages", {
    /** @param {any} path */
    shouldIgnore(path) {
      if (messageOfError(path)) return "the message text of an error (its code is what callers and tests rely on)";
      if (messageArgumentOfHelper(path)) return "text that only goes into an error's message (mismatch's expected/got/hint)";
      return undefined;
    },
  }),
];

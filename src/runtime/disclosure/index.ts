/**
 * Safe outputs: the output checker the executor runs inside the TEE (issue 14). See docs/disclosure.md.
 */
export { type CheckDisclosureOptions, checkDisclosure, type DisclosureInput } from "./check.js";
export { formatReport } from "./format.js";
export {
  type CellDeclaration,
  MAX_OUTPUT_MANIFEST_BYTES,
  type OutputDeclaration,
  type OutputDeclarations,
  type OutputKind,
  parseOutputDeclarations,
  readOutputDeclarations,
} from "./manifest.js";
export { judgeDeclaration, MAX_LISTED_CELLS, type OutputFacts, verdictOf, worstVerdict } from "./rules.js";
export { checkVerbatim, type TextFacts, type VerbatimInput, type VerbatimOutput } from "./verbatim.js";

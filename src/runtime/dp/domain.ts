/**
 * The discrete domain of a dataset, built from its **public** schema only: categories, numeric bounds and bins.
 *
 * Every column gets codes `0..size-1`: one per category or bin, plus one last "unknown" code for values that are
 * not in the schema (an unlisted category, an empty or non-numeric cell). Numeric values outside [min, max] are
 * clamped to the bound. Decoding never looks at the data: a bin becomes a uniform draw inside the bin, the unknown
 * code becomes an empty cell.
 */
import { CleanRoomError, throwIfProblems } from "../../core/errors.js";
import { type ColumnSchema, type DatasetSchema, SPEC_DEFAULTS, schemaProblems } from "../../core/spec.js";
import type { SecureRng } from "./rng.js";

/** How one column maps raw CSV text to codes and back. */
export interface ColumnDomain {
  /** Column name (CSV header). */
  readonly name: string;
  /** `categorical` or `numeric`. */
  readonly type: "categorical" | "numeric";
  /** Number of codes, including the trailing unknown code. */
  readonly size: number;
  /** Code used for values outside the schema (always `size - 1`). */
  readonly unknownCode: number;
  /** Human-readable label of each code (category, bin interval, or `(unknown)`). */
  readonly labels: readonly string[];
  /** Encodes one raw CSV cell. */
  encode(raw: string): number;
  /** Decodes a code to a CSV cell: the category, a uniform value inside the bin, or `""` for unknown. */
  decode(code: number, rng: SecureRng): string;
  /** The public schema of the column. */
  readonly schema: ColumnSchema;
}

/** The public domain of a whole table. */
export interface Domain {
  readonly columns: readonly ColumnDomain[];
}

/** Label of the unknown code. */
export const UNKNOWN_LABEL = "(unknown)";

function categoricalDomain(c: ColumnSchema): ColumnDomain {
  const cats = c.categories ?? [];
  const index = new Map<string, number>();
  cats.forEach((v, i) => {
    index.set(v, i);
  });
  const unknownCode = cats.length;
  return {
    name: c.name,
    type: "categorical",
    size: cats.length + 1,
    unknownCode,
    labels: [...cats, UNKNOWN_LABEL],
    schema: c,
    // Exact match only: a value that is not literally a listed category is "unknown", never guessed.
    encode: (raw) => index.get(raw) ?? unknownCode,
    decode: (code) => (code < cats.length ? cats[code] : ""),
  };
}

function parseNumber(raw: string): number {
  const t = raw.trim();
  if (t === "") return Number.NaN;
  return Number(t);
}

function numericDomain(c: ColumnSchema): ColumnDomain {
  const min = c.min as number;
  const max = c.max as number;
  const bins = c.bins ?? SPEC_DEFAULTS.bins;
  const unknownCode = bins;
  const labels: string[] = [];
  if (c.integer) {
    // Integer columns: each integer v covers [v, v+1), so the bins split [lo, hi+1) evenly and every bin holds
    // whole integers only.
    const lo = Math.ceil(min);
    const hi = Math.floor(max);
    const span = hi + 1 - lo;
    const binOf = (v: number) => Math.min(bins - 1, Math.floor(((v - lo) * bins) / span));
    // starts[b] is bin b's first integer (starts[bins] = hi + 1), found by bisection on binOf (non-decreasing in v): a
    // walk over every integer took time linear in the span (minutes for [0, 1e10], forever past 2^53). The schema
    // checks keep every bin non-empty (bins <= the integers in [min, max]) and the span within 2^53.
    const firstAtLeast = (b: number) => {
      let a = lo;
      let z = hi + 1;
      while (a < z) {
        const m = a + Math.floor((z - a) / 2);
        if (binOf(m) >= b) z = m;
        else a = m + 1;
      }
      return a;
    };
    const starts = Array.from({ length: bins + 1 }, (_, b) => firstAtLeast(b));
    for (let b = 0; b < bins; b++) labels.push(starts[b] === starts[b + 1] - 1 ? `${starts[b]}` : `${starts[b]}-${starts[b + 1] - 1}`);
    labels.push(UNKNOWN_LABEL);
    return {
      name: c.name,
      type: "numeric",
      size: bins + 1,
      unknownCode,
      labels,
      schema: c,
      encode: (raw) => {
        const v = parseNumber(raw);
        if (Number.isNaN(v)) return unknownCode;
        return binOf(Math.min(hi, Math.max(lo, Math.round(v))));
      },
      decode: (code, rng) => (code >= bins ? "" : String(starts[code] + rng.uniformInt(starts[code + 1] - starts[code]))),
    };
  }
  const width = (max - min) / bins;
  for (let b = 0; b < bins; b++) labels.push(`[${min + b * width}, ${b === bins - 1 ? `${max}]` : `${min + (b + 1) * width})`}`);
  labels.push(UNKNOWN_LABEL);
  return {
    name: c.name,
    type: "numeric",
    size: bins + 1,
    unknownCode,
    labels,
    schema: c,
    encode: (raw) => {
      const v = parseNumber(raw);
      if (Number.isNaN(v)) return unknownCode;
      const clamped = Math.min(max, Math.max(min, v));
      return Math.min(bins - 1, Math.floor((clamped - min) / width));
    },
    // A fresh uniform draw inside the bin: the released value carries no digit of any real value.
    decode: (code, rng) => (code >= bins ? "" : String(min + (code + rng.uniform01()) * width)),
  };
}

/** Problems of a schema beyond core's `schemaProblems`: integer columns need at least one integer per bin. */
function dpSchemaProblems(schema: DatasetSchema, path: string): string[] {
  const out: string[] = [];
  schema.columns.forEach((c, i) => {
    if (c.type === "numeric" && c.integer && typeof c.min === "number" && typeof c.max === "number") {
      const count = Math.floor(c.max) - Math.ceil(c.min) + 1;
      const bins = c.bins ?? SPEC_DEFAULTS.bins;
      if (!Number.isSafeInteger(Math.ceil(c.min)) || !Number.isSafeInteger(Math.floor(c.max)) || Math.floor(c.max) - Math.ceil(c.min) >= 2 ** 53) {
        out.push(`${path}.columns[${i}] ("${c.name}") is integer but [min, max] reaches past the 2^53 integers a double holds exactly; use bounds within ±9007199254740991, at most 2^53 apart`);
      } else if (count < 1) out.push(`${path}.columns[${i}] ("${c.name}") is integer but [min, max] holds no integer`);
      else if (bins > count) {
        out.push(`${path}.columns[${i}].bins (${bins}) of "${c.name}" exceeds the ${count} integers in [min, max]; use bins <= ${count}`);
      }
    }
  });
  return out;
}

/** Prefixes a problem about `columns[i]` with that column's name, so the message says which column to fix. */
function namingColumn(schema: unknown, problem: string): string {
  const m = /\.columns\[(\d+)\]/.exec(problem);
  const columns = (schema as { columns?: unknown } | null)?.columns;
  if (!m || !Array.isArray(columns)) return problem;
  const name = (columns[Number(m[1])] as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || name === "" || problem.includes(`"${name}"`)) return problem;
  return `column "${name}": ${problem}`;
}

/**
 * Validates a public schema and builds its domain.
 *
 * @throws CleanRoomError `invalid-argument` listing every problem, each naming its column
 */
export function buildDomain(schema: unknown, what = "schema"): Domain {
  const problems = schemaProblems(schema, what);
  if (problems.length === 0) problems.push(...dpSchemaProblems(schema as DatasetSchema, what));
  throwIfProblems("invalid-argument", `public ${what}`, problems.map((p) => namingColumn(schema, p)));
  const s = schema as DatasetSchema;
  return { columns: s.columns.map((c) => (c.type === "categorical" ? categoricalDomain(c) : numericDomain(c))) };
}

/**
 * Maps each schema column to its index in a CSV header.
 *
 * @throws CleanRoomError `invalid-argument` naming every schema column missing from the header
 */
export function headerIndex(domain: Domain, header: readonly string[], source: string): number[] {
  const pos = new Map<string, number>();
  header.forEach((h, i) => {
    if (!pos.has(h)) pos.set(h, i);
  });
  const missing = domain.columns.filter((c) => !pos.has(c.name)).map((c) => c.name);
  if (missing.length > 0) {
    throw new CleanRoomError(
      "invalid-argument",
      `${source} has no column ${missing.map((m) => `"${m}"`).join(", ")} that the public schema declares; ` +
        `its header is: ${header.join(", ")}. Fix the schema's column names or the CSV header.`,
      { problems: missing.map((m) => `column "${m}" is missing from ${source}`) },
    );
  }
  return domain.columns.map((c) => pos.get(c.name) as number);
}

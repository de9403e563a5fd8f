// Small exact tables for the synthesizers' unit tests (mst-unit, aim-unit, independent-unit): categorical domains,
// tables built from a seeded stream with known strong pairs, their true counts, and the model's joint of a pair.
import { expect } from "chai";
import { CleanRoomError } from "../../src/core/errors.js";
import { buildDomain, type Domain } from "../../src/runtime/dp/domain.js";
import { histogram1, histogram2 } from "../../src/runtime/dp/marginals.js";
import { testRng } from "../../src/runtime/dp/rng.js";
import type { EncodedTable } from "../../src/runtime/dp/table.js";
import type { TreeModel } from "../../src/runtime/dp/tree-model.js";

/** A domain of categorical columns; column i has `categories[i]` categories plus its unknown code (the last). */
export function categoricalDomain(names: readonly string[], categories: readonly number[]): Domain {
  return buildDomain({
    columns: names.map((name, i) => ({ name, type: "categorical", categories: Array.from({ length: categories[i] }, (_, v) => `${name}${v}`) })),
  });
}

/** A table from one code array per column. */
export function tableOf(columns: readonly (readonly number[])[]): EncodedTable {
  return { rows: columns[0]?.length ?? 0, columns: columns.map((c) => Int32Array.from(c)) };
}

/**
 * `n` rows of four columns of three categories each (codes 0–2, the unknown code 3 never used): b copies a, c is
 * independent of a, d equals c except in about a quarter of the rows (c + 1 mod 3). Strong pairs: (a, b), (c, d).
 */
export function pairedTable(n: number, seed = "paired"): EncodedTable {
  const r = testRng(seed);
  const cols = [0, 1, 2, 3].map(() => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const a = r.uniformInt(3);
    const c = r.uniformInt(3);
    cols[0][i] = a;
    cols[1][i] = a;
    cols[2][i] = c;
    cols[3][i] = (c + (r.uniformInt(4) === 0 ? 1 : 0)) % 3;
  }
  return { rows: n, columns: cols };
}

/** Counts of each code of column `i`. */
export function counts(table: EncodedTable, i: number, size: number): number[] {
  return Array.from(histogram1(table.columns[i], size));
}

/** Counts of the pair (a, b), row-major. */
export function pairCounts(table: EncodedTable, a: number, b: number, sa: number, sb: number): number[] {
  return Array.from(histogram2(table.columns[a], table.columns[b], sa, sb));
}

/** The fitted model's probability table of columns a and b (row-major a×b), from whichever way the tree holds them. */
export function modelJoint(m: TreeModel, a: number, b: number): number[] {
  const ka = m.sizes[a];
  const kb = m.sizes[b];
  const out: number[] = [];
  for (let i = 0; i < ka; i++) {
    for (let j = 0; j < kb; j++) {
      if (m.parent[b] === a) out.push((m.edges[b] as Float64Array)[i * kb + j]);
      else if (m.parent[a] === b) out.push((m.edges[a] as Float64Array)[j * ka + i]);
      else throw new Error(`columns ${a} and ${b} are not joined in the model`);
    }
  }
  return out;
}

/** The pairs of a tree (name pairs), each sorted, as "x-y" strings in sorted order. */
export function pairNames(tree: readonly (readonly [string, string])[]): string[] {
  return tree.map(([x, y]) => [x, y].sort().join("-")).sort();
}

/** `true` when the name pairs form no cycle (a forest); with d − 1 pairs over d names, a spanning tree. */
export function isForest(tree: readonly (readonly [string, string])[]): boolean {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.has(r)) r = parent.get(r) as string;
    return r;
  };
  for (const [x, y] of tree) {
    const rx = find(x);
    const ry = find(y);
    if (rx === ry) return false;
    parent.set(rx, ry);
  }
  return true;
}

/** Every element within `tol` of the expectation. */
export function closeTo(actual: ArrayLike<number>, expected: readonly number[], tol: number, what = "values"): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i], `${what}[${i}]: ${Array.from(actual)} vs ${expected}`).to.be.closeTo(expected[i], tol);
}

/** Runs `f`, expects a CleanRoomError `invalid-argument`, and returns it. */
export function invalidArgument(f: () => unknown): CleanRoomError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(CleanRoomError);
    expect((e as CleanRoomError).code).to.equal("invalid-argument");
    return e as CleanRoomError;
  }
  throw new Error("expected an invalid-argument error");
}

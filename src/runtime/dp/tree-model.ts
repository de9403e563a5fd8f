/**
 * Estimation on a tree (MST's graphical model): the Private-PGM objective solved exactly on a tree.
 *
 * Because the cliques are the edges of a spanning tree, belief propagation is exact and any locally consistent set
 * of tables is the marginals of one joint distribution. We minimise
 *   L(μ) = Σ_1-way ½‖(μ_i − y_i)/sd_i‖² + Σ_edges ½‖(μ_ab − y_ab)/sd_ab‖²
 * over the marginals μ of a tree model scaled to the estimated total N, by mirror descent on the log-potentials
 * with an Armijo line search (McKenna et al. 2019, Alg. 1). This is post-processing of the noisy measurements.
 */
import { CleanRoomError } from "../../core/errors.js";
import { inverseVarianceMean } from "./marginals.js";

/** A noisy 1-way marginal with a per-cell noise variance. */
export interface OneWayMeasurement {
  readonly y: Float64Array;
  readonly variance: Float64Array;
}

/** A noisy 2-way marginal of columns a and b (row-major, `a`-major) with one noise variance for every cell. */
export interface TwoWayMeasurement {
  readonly a: number;
  readonly b: number;
  readonly y: Float64Array;
  readonly variance: number;
}

/** A fitted tree model: exact marginals of a distribution that factorises over the tree. */
export interface TreeModel {
  /** Domain size of each column. */
  readonly sizes: readonly number[];
  /** Estimated number of records (the minimum-variance combination of every measurement's total). */
  readonly total: number;
  /** Columns in breadth-first order from the root (`order[0]`). */
  readonly order: readonly number[];
  /** Parent of each column in the rooted tree, −1 for the root. */
  readonly parent: readonly number[];
  /** Probability vector of each column. */
  readonly nodes: readonly Float64Array[];
  /** For each non-root column c: the joint table p(x_parent, x_c), row-major (parent-major). */
  readonly edges: readonly (Float64Array | undefined)[];
  /** Final value of the fitting objective. */
  readonly loss: number;
  /** Mirror-descent iterations run. */
  readonly iterations: number;
}

/** Options of the estimator. */
export interface TreeEstimateOptions {
  /** Mirror-descent iterations. @default 1000 */
  readonly iterations?: number;
}

/**
 * log Σ_{i<n} exp(v[i]), shifted by the maximum so no term overflows; −∞ when every term is −∞ (or n is 0).
 * @internal exported for its tests
 */
export function logSumExp(v: Float64Array, n: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (v[i] > m) m = v[i];
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(v[i] - m);
  return m + Math.log(s);
}

interface Structure {
  sizes: number[];
  order: number[];
  parent: number[];
  children: number[][];
  /** For each non-root c, the 2-way measurement oriented parent-major, and its variance. */
  edgeY: (Float64Array | undefined)[];
  edgeVar: number[];
}

function buildStructure(sizes: number[], twoWay: readonly TwoWayMeasurement[]): Structure {
  const d = sizes.length;
  const adj: { other: number; m: TwoWayMeasurement }[][] = sizes.map(() => []);
  for (const m of twoWay) {
    adj[m.a].push({ other: m.b, m });
    adj[m.b].push({ other: m.a, m });
  }
  const parent = new Array<number>(d).fill(-2);
  const children: number[][] = sizes.map(() => []);
  const edgeY: (Float64Array | undefined)[] = new Array(d).fill(undefined);
  const edgeVar = new Array<number>(d).fill(0);
  const order = [0];
  parent[0] = -1;
  for (let q = 0; q < order.length; q++) {
    const p = order[q];
    for (const { other: c, m } of adj[p]) {
      if (parent[c] !== -2) continue;
      parent[c] = p;
      children[p].push(c);
      order.push(c);
      const kp = sizes[p];
      const kc = sizes[c];
      if (m.a === p) edgeY[c] = m.y;
      else {
        // Stored b-major: transpose so the table is parent-major.
        const t = new Float64Array(kp * kc);
        for (let i = 0; i < kc; i++) for (let j = 0; j < kp; j++) t[j * kc + i] = m.y[i * kp + j];
        edgeY[c] = t;
      }
      edgeVar[c] = m.variance;
    }
  }
  if (order.length !== d || twoWay.length !== d - 1) {
    throw new CleanRoomError("invalid-argument", "the 2-way measurements must form a spanning tree of the columns");
  }
  return { sizes, order, parent, children, edgeY, edgeVar };
}

/** Exact belief propagation on the rooted tree; returns normalised node and edge marginals. */
function beliefPropagation(s: Structure, thetaNode: Float64Array[], thetaEdge: (Float64Array | undefined)[]) {
  const d = s.sizes.length;
  const up: (Float64Array | undefined)[] = new Array(d).fill(undefined);
  const down: (Float64Array | undefined)[] = new Array(d).fill(undefined);
  const h: Float64Array[] = new Array(d);
  // Upward: h_c = θ_c + Σ messages from c's children; message c→p = logsumexp over x_c of θ_pc + h_c.
  for (let q = d - 1; q >= 0; q--) {
    const c = s.order[q];
    const kc = s.sizes[c];
    const hc = Float64Array.from(thetaNode[c]);
    for (const k of s.children[c]) {
      const m = up[k] as Float64Array;
      for (let x = 0; x < kc; x++) hc[x] += m[x];
    }
    h[c] = hc;
    const p = s.parent[c];
    if (p < 0) continue;
    const kp = s.sizes[p];
    const te = thetaEdge[c] as Float64Array;
    const msg = new Float64Array(kp);
    const tmp = new Float64Array(kc);
    for (let xp = 0; xp < kp; xp++) {
      const off = xp * kc;
      for (let x = 0; x < kc; x++) tmp[x] = te[off + x] + hc[x];
      msg[xp] = logSumExp(tmp, kc);
    }
    up[c] = msg;
  }
  // Downward: full belief of p, minus c's own message, pushed through the edge.
  const full: Float64Array[] = new Array(d);
  const nodes: Float64Array[] = new Array(d);
  const edges: (Float64Array | undefined)[] = new Array(d).fill(undefined);
  for (let q = 0; q < d; q++) {
    const i = s.order[q];
    const ki = s.sizes[i];
    const f = Float64Array.from(h[i]);
    const dm = down[i];
    if (dm) for (let x = 0; x < ki; x++) f[x] += dm[x];
    full[i] = f;
    const z = logSumExp(f, ki);
    const b = new Float64Array(ki);
    for (let x = 0; x < ki; x++) b[x] = Math.exp(f[x] - z);
    nodes[i] = b;
    for (const c of s.children[i]) {
      const kc = s.sizes[c];
      const te = thetaEdge[c] as Float64Array;
      const u = up[c] as Float64Array;
      const excl = new Float64Array(ki);
      for (let x = 0; x < ki; x++) excl[x] = f[x] - u[x];
      const msg = new Float64Array(kc);
      const tmp = new Float64Array(ki);
      for (let xc = 0; xc < kc; xc++) {
        for (let xp = 0; xp < ki; xp++) tmp[xp] = te[xp * kc + xc] + excl[xp];
        msg[xc] = logSumExp(tmp, ki);
      }
      down[c] = msg;
      const hc = h[c];
      const eb = new Float64Array(ki * kc);
      let m = Number.NEGATIVE_INFINITY;
      for (let xp = 0; xp < ki; xp++) {
        for (let xc = 0; xc < kc; xc++) {
          const v = te[xp * kc + xc] + excl[xp] + hc[xc];
          eb[xp * kc + xc] = v;
          if (v > m) m = v;
        }
      }
      let sum = 0;
      for (let j = 0; j < eb.length; j++) {
        eb[j] = Math.exp(eb[j] - m);
        sum += eb[j];
      }
      for (let j = 0; j < eb.length; j++) eb[j] /= sum;
      edges[c] = eb;
    }
  }
  return { nodes, edges };
}

/** The minimum-variance estimate of the number of records from every measurement's total. */
export function estimateTotal(oneWay: readonly OneWayMeasurement[], twoWay: readonly TwoWayMeasurement[]): number {
  const est: { value: number; variance: number }[] = [];
  for (const m of oneWay) {
    let v = 0;
    let s = 0;
    for (let i = 0; i < m.y.length; i++) {
      s += m.y[i];
      v += m.variance[i];
    }
    est.push({ value: s, variance: v });
  }
  for (const m of twoWay) {
    let s = 0;
    for (let i = 0; i < m.y.length; i++) s += m.y[i];
    est.push({ value: s, variance: m.variance * m.y.length });
  }
  return Math.max(1, inverseVarianceMean(est));
}

/** Refuses a noise variance that is not positive: 0 or NaN would make a weight infinite or NaN (∞ is a weight of 0). */
function checkVariances(oneWay: readonly OneWayMeasurement[], twoWay: readonly TwoWayMeasurement[]): void {
  const positive = (v: number) => v > 0;
  if (!oneWay.every((m) => m.variance.every(positive)) || !twoWay.every((m) => positive(m.variance))) {
    throw new CleanRoomError("invalid-argument", "every measurement's noise variance must be positive (infinity for a measurement that carries no weight)");
  }
}

/**
 * Fits the tree model to noisy 1-way marginals of every column and noisy 2-way marginals of the tree's edges.
 *
 * @param sizes domain size of each column (the measurements' shapes)
 * @throws CleanRoomError `invalid-argument` when the 2-way measurements are not a spanning tree of the columns, or a
 *   noise variance is not positive
 */
export function estimateTree(
  sizes: readonly number[],
  oneWay: readonly OneWayMeasurement[],
  twoWay: readonly TwoWayMeasurement[],
  options: TreeEstimateOptions = {},
): TreeModel {
  const iterations = options.iterations ?? 1000;
  const s = buildStructure([...sizes], twoWay);
  checkVariances(oneWay, twoWay);
  const d = sizes.length;
  const total = estimateTotal(oneWay, twoWay);
  const thetaNode = s.sizes.map((k) => new Float64Array(k));
  const thetaEdge = s.sizes.map((_, c) => (s.parent[c] >= 0 ? new Float64Array(s.sizes[s.parent[c]] * s.sizes[c]) : undefined));
  const nodeW = oneWay.map((m) => m.variance.map((v) => 1 / v));
  const edgeW = s.edgeVar.map((v) => (v > 0 ? 1 / v : 0));

  type State = { nodes: Float64Array[]; edges: (Float64Array | undefined)[]; loss: number };
  const evaluate = (tn: Float64Array[], te: (Float64Array | undefined)[]): State => {
    const bp = beliefPropagation(s, tn, te);
    let loss = 0;
    for (let i = 0; i < d; i++) {
      const b = bp.nodes[i];
      const y = oneWay[i].y;
      const w = nodeW[i];
      for (let x = 0; x < b.length; x++) {
        const r = total * b[x] - y[x];
        loss += 0.5 * w[x] * r * r;
      }
      const e = bp.edges[i];
      if (e) {
        const ye = s.edgeY[i] as Float64Array;
        let acc = 0;
        for (let x = 0; x < e.length; x++) {
          const r = total * e[x] - ye[x];
          acc += r * r;
        }
        loss += 0.5 * edgeW[i] * acc;
      }
    }
    return { nodes: bp.nodes, edges: bp.edges, loss };
  };

  let state = evaluate(thetaNode, thetaEdge);
  let minVar = Number.POSITIVE_INFINITY;
  for (const m of oneWay) for (const v of m.variance) minVar = Math.min(minVar, v);
  for (const v of s.edgeVar) if (v > 0) minVar = Math.min(minVar, v);
  let alpha = minVar / total;
  const gNode = s.sizes.map((k) => new Float64Array(k));
  const gEdge = thetaEdge.map((t) => (t ? new Float64Array(t.length) : undefined));
  const nextNode = s.sizes.map((k) => new Float64Array(k));
  const nextEdge = thetaEdge.map((t) => (t ? new Float64Array(t.length) : undefined));
  let run = 0;
  for (; run < iterations; run++) {
    // Gradient of L with respect to μ (node and edge cells).
    for (let i = 0; i < d; i++) {
      const b = state.nodes[i];
      for (let x = 0; x < b.length; x++) gNode[i][x] = nodeW[i][x] * (total * b[x] - oneWay[i].y[x]);
      const e = state.edges[i];
      if (e) {
        const ye = s.edgeY[i] as Float64Array;
        const g = gEdge[i] as Float64Array;
        for (let x = 0; x < e.length; x++) g[x] = edgeW[i] * (total * e[x] - ye[x]);
      }
    }
    let accepted = false;
    for (let tries = 0; tries < 30 && !accepted; tries++) {
      for (let i = 0; i < d; i++) {
        for (let x = 0; x < thetaNode[i].length; x++) nextNode[i][x] = thetaNode[i][x] - alpha * gNode[i][x];
        const t = thetaEdge[i];
        if (t) {
          const nt = nextEdge[i] as Float64Array;
          const g = gEdge[i] as Float64Array;
          for (let x = 0; x < t.length; x++) nt[x] = t[x] - alpha * g[x];
        }
      }
      const next = evaluate(nextNode, nextEdge);
      let dot = 0;
      for (let i = 0; i < d; i++) {
        const b = state.nodes[i];
        const nb = next.nodes[i];
        for (let x = 0; x < b.length; x++) dot += gNode[i][x] * total * (b[x] - nb[x]);
        const e = state.edges[i];
        if (e) {
          const ne = next.edges[i] as Float64Array;
          const g = gEdge[i] as Float64Array;
          for (let x = 0; x < e.length; x++) dot += g[x] * total * (e[x] - ne[x]);
        }
      }
      // Strictly: a step that changes nothing (the gradient is 0, or too small to move a potential) is not accepted,
      // so a fit that has converged stops instead of taking null steps until the iteration budget runs out.
      if (state.loss - next.loss > 0.5 * alpha * dot) {
        accepted = true;
        for (let i = 0; i < d; i++) {
          thetaNode[i].set(nextNode[i]);
          const t = thetaEdge[i];
          if (t) t.set(nextEdge[i] as Float64Array);
        }
        state = next;
        alpha *= 1.01;
      } else {
        alpha *= 0.5;
      }
    }
    if (!accepted) break; // no step decreases the loss any more: converged to double precision
  }
  return {
    sizes: s.sizes,
    total,
    order: s.order,
    parent: s.parent,
    nodes: state.nodes,
    edges: state.edges,
    loss: state.loss,
    iterations: run,
  };
}

/** A tree model for a single column (no edges): the weighted simplex projection of its 1-way measurement. */
export function singleColumnModel(size: number, probs: Float64Array, total: number): TreeModel {
  return { sizes: [size], total, order: [0], parent: [-1], nodes: [probs], edges: [undefined], loss: 0, iterations: 0 };
}

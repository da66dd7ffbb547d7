// The flame graph's data in flat arrays (one index per node), built once per graph without
// recursion (a tree is as deep as the deepest stack: 100k frames is a test). Derived from it: the
// top table (flat/cum per function, exactly as `fleetprof top` counts: flat = a function's own
// value summed over its nodes, cum = the value of its outermost nodes, so recursion counts once),
// and the sandwich view's two trees (callers of a function, and its callees).

import type { FlameGraph, FlameNode } from '../lib/model/flamegraph';

export type { FlameGraph, FlameNode };

export class FlameModel {
  readonly names: string[] = [];
  readonly nameIds = new Map<string, number>();
  /** Per node: name id, value, baseline value, parent (-1 for the root), depth, children. */
  name: Int32Array;
  value: Float64Array;
  base: Float64Array;
  parent: Int32Array;
  depth: Int32Array;
  kids: Int32Array[];
  readonly size: number;
  readonly maxDepth: number;

  constructor(
    root: FlameNode,
    readonly differential: boolean,
    readonly total: number,
    readonly baseTotal: number,
  ) {
    const order: FlameNode[] = [];
    const parents: number[] = [];
    const todo: [FlameNode, number][] = [[root, -1]];
    for (let e = todo.pop(); e; e = todo.pop()) {
      const i = order.length;
      order.push(e[0]);
      parents.push(e[1]);
      const c = e[0].c;
      if (c) for (let k = c.length - 1; k >= 0; k--) todo.push([c[k], i]);
    }
    const n = order.length;
    this.size = n;
    this.name = new Int32Array(n);
    this.value = new Float64Array(n);
    this.base = new Float64Array(n);
    this.parent = Int32Array.from(parents);
    this.depth = new Int32Array(n);
    const kids: number[][] = Array.from({ length: n }, () => []);
    let maxDepth = 0;
    for (let i = 0; i < n; i++) {
      const node = order[i];
      this.name[i] = this.intern(node.n);
      this.value[i] = node.v;
      this.base[i] = node.b ?? 0;
      const p = parents[i];
      if (p >= 0) {
        kids[p].push(i);
        this.depth[i] = this.depth[p] + 1;
        if (this.depth[i] > maxDepth) maxDepth = this.depth[i];
      }
    }
    this.kids = kids.map((k) => Int32Array.from(k));
    this.maxDepth = maxDepth;
  }

  private intern(s: string): number {
    let id = this.nameIds.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(s);
      this.nameIds.set(s, id);
    }
    return id;
  }

  nodeName(i: number): string {
    return this.names[this.name[i]];
  }

  /** Own value: the node's value minus its children's. */
  self(i: number, base = false): number {
    const v = base ? this.base : this.value;
    let s = v[i];
    for (const k of this.kids[i]) s -= v[k];
    return s;
  }

  /** Width weight: the value, or in a differential graph the mean of both sides' shares (so a vanished function keeps its width). */
  weight(i: number): number {
    if (!this.differential) return this.value[i];
    const t = this.total > 0 ? this.value[i] / this.total : 0;
    const b = this.baseTotal > 0 ? this.base[i] / this.baseTotal : 0;
    return (t + b) / 2;
  }

  /** Flat and cum per function name (cum counts a recursive function once per stack). */
  topTable(): { name: string; flat: number; cum: number; baseFlat: number; baseCum: number }[] {
    const flat = new Float64Array(this.names.length);
    const cum = new Float64Array(this.names.length);
    const bflat = new Float64Array(this.names.length);
    const bcum = new Float64Array(this.names.length);
    // Count of open ancestors per name on the current path (depth-first with enter/leave).
    const open = new Int32Array(this.names.length);
    const todo: number[] = [];
    for (const k of this.kids[0]) todo.push(k);
    while (todo.length) {
      const i = todo.pop()!;
      if (i < 0) {
        open[this.name[~i]]--;
        continue;
      }
      const id = this.name[i];
      flat[id] += this.self(i);
      if (this.differential) bflat[id] += this.self(i, true);
      if (open[id] === 0) {
        cum[id] += this.value[i];
        bcum[id] += this.base[i];
      }
      open[id]++;
      todo.push(~i);
      for (const k of this.kids[i]) todo.push(k);
    }
    const out = [];
    for (let id = 0; id < this.names.length; id++) {
      if (cum[id] === 0 && bcum[id] === 0) continue;
      out.push({ name: this.names[id], flat: flat[id], cum: cum[id], baseFlat: bflat[id], baseCum: bcum[id] });
    }
    return out;
  }

  /** Outermost nodes of a function (no ancestor of the same name). */
  outermost(fn: string): number[] {
    const id = this.nameIds.get(fn);
    if (id === undefined) return [];
    const out: number[] = [];
    const todo: number[] = [0];
    while (todo.length) {
      const i = todo.pop()!;
      if (i !== 0 && this.name[i] === id) {
        out.push(i);
        continue;
      }
      for (const k of this.kids[i]) todo.push(k);
    }
    return out;
  }

  /**
   * The sandwich of `fn`: callers (a tree rooted at fn whose children are its callers, then
   * theirs: read upwards) and callees (fn's outermost subtrees merged).
   */
  sandwich(fn: string): { callers: FlameNode; callees: FlameNode } {
    const nodes = this.outermost(fn);
    const mk = (n: string): FlameNode & { m?: Map<string, FlameNode> } => ({ n, v: 0, b: 0 });
    const child = (p: FlameNode & { m?: Map<string, FlameNode> }, n: string) => {
      p.m ??= new Map();
      let c = p.m.get(n);
      if (!c) {
        c = mk(n);
        p.m.set(n, c);
        (p.c ??= []).push(c);
      }
      return c;
    };
    const callers = mk(fn);
    const callees = mk(fn);
    for (const i of nodes) {
      const v = this.value[i];
      const b = this.base[i];
      callers.v += v;
      callers.b! += b;
      let at = callers;
      for (let p = this.parent[i]; p > 0; p = this.parent[p]) {
        at = child(at, this.nodeName(p));
        at.v += v;
        at.b! += b;
      }
      callees.v += v;
      callees.b! += b;
      const todo: [number, FlameNode][] = this.kids[i].length ? [...this.kids[i]].map((k) => [k, callees] as [number, FlameNode]) : [];
      while (todo.length) {
        const [k, into] = todo.pop()!;
        const c = child(into, this.nodeName(k));
        c.v += this.value[k];
        c.b! += this.base[k];
        for (const kk of this.kids[k]) todo.push([kk, c]);
      }
    }
    const strip = (r: FlameNode & { m?: Map<string, FlameNode> }) => {
      const todo = [r];
      for (let n = todo.pop(); n; n = todo.pop()) {
        delete n.m;
        if (!this.differential) delete n.b;
        if (n.c) {
          n.c.sort((x, y) => (x.n < y.n ? -1 : x.n > y.n ? 1 : 0));
          todo.push(...(n.c as (FlameNode & { m?: Map<string, FlameNode> })[]));
        }
      }
      return r;
    };
    return { callers: strip(callers), callees: strip(callees) };
  }
}

/** A Go function name's package: `github.com/a/b.(*T).M` -> `github.com/a/b`, `main.f` -> `main`. */
export function packageOf(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot > 0 ? name.slice(0, dot) : name;
}

/** A search: case-insensitive regular expression, or literal text when it is not a valid one. */
export function searchRegExp(q: string): RegExp | null {
  if (q === '') return null;
  try {
    return new RegExp(q, 'i');
  } catch {
    return new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
}

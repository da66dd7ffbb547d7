import { formatWithTable, UNIT_TYPES } from '../lib/model/units';
import { FlameModel, packageOf, type FlameGraph, type FlameNode } from './flame-model';

// The flame graph on a <canvas>: one pass over the visible nodes per draw (nodes narrower than
// half a pixel are skipped with their subtrees), so a 60k-node graph draws in milliseconds where
// a DOM element per node took seconds (docs/performance.md). Hand-written rather than a library
// (docs/ui.md says why): d3-flame-graph draws an SVG element per frame and has no sandwich view,
// @grafana/flamegraph and @pyroscope/flamegraph bring React and their apps' UI kits, speedscope
// is an application, not a component.
//
// Colours: by package (one hue per Go package, stable across pages); a search greys out every
// frame that does not match and outlines the matches; a differential graph colours by the change
// of the frame's share of the total (red grew, blue shrank, on a scale shown in the legend), and
// sizes frames by the mean of both shares so frames that vanished keep a visible width.

const ROW = 18;
/** Rows drawn at most: browsers cap a canvas at 32,767 px; deeper frames appear when zoomed into. */
const MAX_LEVELS = 1500;
/** Ancestors of a zoomed frame drawn above it (the rest are counted in the first one's label). */
const MAX_PATH = 12;
const FONT = '11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

export const fmtValue = (v: number, unit: string): string => formatWithTable(UNIT_TYPES, v, unit);
export const fmtShare = (v: number, total: number): string => formatWithTable(UNIT_TYPES, total ? v / total : null, 'fraction', 2);

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** A package's colour: a hue from its name's hash, warm for the program, cool for the runtime and standard library. */
export function packageColor(pkg: string): string {
  const h = hash(pkg);
  const std = !pkg.includes('.') && !pkg.startsWith('main');
  const hue = std ? 185 + (h % 70) : (345 + (h % 75)) % 360;
  return `hsl(${hue},${55 + (h % 25)}%,${68 + ((h >> 8) % 12)}%)`;
}

/** Differential colour of a share change `d` on the scale [-max, +max]. */
export function diffColor(d: number, max: number): string {
  const k = max > 0 ? Math.min(1, Math.abs(d) / max) : 0;
  const c = Math.round(245 - 150 * k);
  return d >= 0 ? `rgb(245,${c},${c})` : `rgb(${c},${c},245)`;
}

export interface FlameChartOptions {
  /** Draw the root at the bottom (the sandwich's callers). */
  inverted?: boolean;
  /** A frame was clicked (after zooming into it). */
  onFrame?: (name: string) => void;
  /** Extra text in the tooltip for a function (file:line). */
  locate?: (name: string) => string | undefined;
}

export class FlameChart {
  readonly canvas: HTMLCanvasElement;
  private readonly tip: HTMLDivElement;
  model!: FlameModel;
  private g!: FlameGraph;
  private focus = 0;
  private search: RegExp | null = null;
  private rows: { x: number[]; w: number[]; i: number[] }[] = [];
  private maxDiff = 0;
  /** Sum of the values of the outermost matching frames: what a search matched. */
  matched = 0;
  /** Time the last draw took, ms (the benchmark reads it). */
  lastDrawMs = 0;

  constructor(
    readonly host: HTMLElement,
    private readonly opts: FlameChartOptions = {},
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'flame-canvas';
    this.tip = document.createElement('div');
    this.tip.className = 'flame-tip';
    host.append(this.canvas, this.tip);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => (this.tip.style.display = 'none'));
    this.canvas.addEventListener('click', (e) => {
      const i = this.at(e);
      if (i === undefined) return;
      this.focus = i === this.focus ? (this.model.parent[i] >= 0 ? this.model.parent[i] : 0) : i;
      this.draw();
      this.opts.onFrame?.(this.model.nodeName(i));
    });
    new ResizeObserver(() => this.model && this.draw()).observe(host);
  }

  setData(g: FlameGraph | (Omit<FlameGraph, 'root'> & { root: FlameNode })): void {
    this.g = g;
    this.model = new FlameModel(g.root, g.differential, g.total, g.baseTotal);
    this.focus = 0;
    this.maxDiff = 0;
    if (g.differential) {
      for (let i = 1; i < this.model.size; i++) {
        const d = Math.abs(this.delta(i));
        if (d > this.maxDiff) this.maxDiff = d;
      }
    }
    this.draw();
  }

  /** Share change of node i (target share minus baseline share). */
  delta(i: number): number {
    const m = this.model;
    return (m.total ? m.value[i] / m.total : 0) - (m.baseTotal ? m.base[i] / m.baseTotal : 0);
  }

  get scaleMax(): number {
    return this.maxDiff;
  }

  setSearch(re: RegExp | null): void {
    this.search = re;
    this.draw();
  }

  resetZoom(): void {
    this.focus = 0;
    this.draw();
  }

  /** Zoom to the first outermost frame of a function (a link from the table). */
  zoomTo(name: string): void {
    const n = this.model.outermost(name);
    if (n.length) {
      this.focus = n[0];
      this.draw();
    }
  }

  draw(): void {
    const t0 = performance.now();
    const m = this.model;
    const W = Math.max(100, this.host.clientWidth);
    // Depth below the focus, plus the path above it.
    let depthBelow = 0;
    {
      const todo = [this.focus];
      const base = m.depth[this.focus];
      while (todo.length) {
        const i = todo.pop()!;
        if (m.depth[i] - base > depthBelow) depthBelow = m.depth[i] - base;
        for (const k of m.kids[i]) if (m.weight(k) > 0) todo.push(k);
      }
    }
    const fullPath: number[] = [];
    for (let p = m.parent[this.focus]; p >= 0; p = m.parent[p]) fullPath.push(p);
    fullPath.reverse();
    const path = fullPath.slice(-MAX_PATH);
    const hiddenAbove = fullPath.length - path.length;
    const above = path.length;
    const levels = Math.min(MAX_LEVELS, above + depthBelow + 1);
    const H = levels * ROW;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(W * dpr);
    this.canvas.height = Math.round(H * dpr);
    this.canvas.style.width = W + 'px';
    this.canvas.style.height = H + 'px';
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    this.rows = Array.from({ length: levels }, () => ({ x: [], w: [], i: [] }));
    const y = (d: number) => (this.opts.inverted ? (levels - 1 - d) * ROW : d * ROW);
    const re = this.search;
    this.matched = 0;
    const cell = (i: number, x: number, w: number, d: number, ancestor: boolean, inMatch: boolean, prefix = '') => {
      const name = m.nodeName(i);
      const hit = re !== null && re.test(name);
      if (hit && !inMatch && !ancestor) this.matched += m.value[i];
      let fill: string;
      if (m.differential) {
        fill = m.value[i] === 0 && m.base[i] > 0 ? '#4a5fc1' : m.base[i] === 0 && m.value[i] > 0 ? '#c62828' : diffColor(this.delta(i), this.maxDiff);
      } else fill = i === 0 && name === 'root' ? '#c9ccd1' : packageColor(packageOf(name));
      if (re !== null && !hit) fill = '#e4e4e4';
      ctx.globalAlpha = ancestor ? 0.6 : 1;
      ctx.fillStyle = fill;
      ctx.fillRect(x, y(d), Math.max(0.5, w - 1), ROW - 1);
      if (hit) {
        ctx.strokeStyle = '#6a00b8';
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, y(d) + 1, Math.max(0.5, w - 3), ROW - 3);
      }
      if (w > 28) {
        ctx.fillStyle = (m.differential && (m.value[i] === 0 || m.base[i] === 0) && re === null) || fill === '#4a5fc1' ? '#fff' : '#111';
        const label = prefix + (m.differential && m.value[i] === 0 && m.base[i] > 0 ? name + ' (vanished)' : name);
        ctx.fillText(fit(ctx, label, w - 6), x + 3, y(d) + ROW / 2);
      }
      ctx.globalAlpha = 1;
      const r = this.rows[d];
      r.x.push(x);
      r.w.push(w);
      r.i.push(i);
      return hit;
    };
    // The path from the root to the focus, full width and faded.
    path.forEach((p, d) => cell(p, 0, W, d, true, false, d === 0 && hiddenAbove > 0 ? `(${hiddenAbove} frames above) ` : ''));
    const todo: [number, number, number, number, boolean][] = [[this.focus, 0, W, above, false]];
    while (todo.length) {
      const [i, x, w, d, inMatch] = todo.pop()!;
      const hit = cell(i, x, w, d, false, inMatch);
      const total = m.weight(i);
      if (total <= 0) continue;
      let cx = x;
      for (const k of m.kids[i]) {
        const cw = (w * m.weight(k)) / total;
        if (cw >= 0.5 && d + 1 < levels) todo.push([k, cx, cw, d + 1, inMatch || hit]);
        cx += cw;
      }
    }
    this.lastDrawMs = performance.now() - t0;
  }

  private at(e: MouseEvent): number | undefined {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const levels = this.rows.length;
    let d = Math.floor((e.clientY - r.top) / ROW);
    if (this.opts.inverted) d = levels - 1 - d;
    const row = this.rows[d];
    if (!row) return undefined;
    for (let k = 0; k < row.x.length; k++) if (x >= row.x[k] && x < row.x[k] + row.w[k]) return row.i[k];
    return undefined;
  }

  private hover(e: MouseEvent): void {
    const i = this.at(e);
    if (i === undefined) {
      this.tip.style.display = 'none';
      return;
    }
    const m = this.model;
    const unit = this.g.unit;
    const name = m.nodeName(i);
    const lines = [name, `package ${packageOf(name)}`];
    const loc = this.opts.locate?.(name);
    if (loc) lines.push(loc);
    lines.push(`self  ${fmtValue(m.self(i), unit)} (${fmtShare(m.self(i), m.total)})`, `total ${fmtValue(m.value[i], unit)} (${fmtShare(m.value[i], m.total)})`);
    if (m.differential) {
      lines.push(
        `baseline self ${fmtValue(m.self(i, true), unit)}, total ${fmtValue(m.base[i], unit)} (${fmtShare(m.base[i], m.baseTotal)})`,
        `share change ${this.delta(i) >= 0 ? '+' : ''}${(this.delta(i) * 100).toFixed(2)} points${m.value[i] === 0 ? ' (vanished)' : m.base[i] === 0 ? ' (new)' : ''}`,
      );
    }
    this.tip.textContent = lines.join('\n');
    this.tip.style.display = 'block';
    const hr = this.host.getBoundingClientRect();
    const left = Math.min(e.clientX - hr.left + 14, hr.width - 360);
    this.tip.style.left = Math.max(0, left) + 'px';
    this.tip.style.top = e.clientY - hr.top + 16 + 'px';
  }
}

function fit(ctx: CanvasRenderingContext2D, s: string, w: number): string {
  if (ctx.measureText(s).width <= w) return s;
  // Go names are cut from the left: the end (package.Function) is what tells frames apart.
  const per = ctx.measureText('m').width;
  const n = Math.max(1, Math.floor(w / per) - 1);
  return n >= s.length ? s : '…' + s.slice(s.length - n);
}

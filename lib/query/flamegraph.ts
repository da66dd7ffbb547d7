import { DEFAULT_SAMPLE_TYPE, partitionFilter, type SqlParams } from './cohort';
import { windowSelectSql } from './plan';
import { windowPartitionFilter, type WindowCohort } from './window';
import type { PartitionFilter } from '../store/layout';
import type { QueryEngine } from './engine';
import { isoFromUs } from '../model/time';
import type { FlameGraph, FlameNode } from '../model/flamegraph';

// Flame graphs from the stacks table (frames leaf first): the cohort's stacks merged into one
// call tree, root first; lib/render/flamegraph.ts embeds it in a self-contained HTML page. A
// differential flame graph has the target cohort's tree, each node also carrying the baseline's
// value (the page colours it by the change of its share of the total: red grew, blue shrank).
// The shape (FlameGraph, FlameNode) lives in lib/model/flamegraph.ts, shared with the page.

export type { FlameGraph, FlameNode } from '../model/flamegraph';

/** `version v2, 2026-11-21T20:00:00.000Z – 2026-11-21T21:00:00.000Z`; 'all data' when unfiltered. */
export function cohortLabel(c: { version?: string; fromUs?: number; toUs?: number }): string {
  const parts: string[] = [];
  if (c.version !== undefined) parts.push(`version ${c.version}`);
  if (c.fromUs !== undefined || c.toUs !== undefined) parts.push(`${c.fromUs !== undefined ? isoFromUs(c.fromUs) : 'start'} – ${c.toUs !== undefined ? isoFromUs(c.toUs) : 'end'}`);
  return parts.join(', ') || 'all data';
}

/** The window's stacks (lib/query/window.ts: increases for counters, per-instance means for gauges). */
export async function cohortStacks(
  engine: QueryEngine,
  c: WindowCohort,
  sampleType: string,
): Promise<{ unit: string; stacks: { frames: string[]; value: bigint }[]; locations: Record<string, string> }> {
  const params: SqlParams = {};
  // Grouped by where each frame's function is defined too: the page's locations come from the
  // same rows (rollups hold files and start_lines), not from a second scan of the raw stacks.
  const sql = await windowSelectSql(engine, c, sampleType, {
    table: 'stacks',
    keys: [
      { expr: 't.frames', name: 'frames' },
      { expr: 't.files', name: 'files' },
      { expr: 't.start_lines', name: 'start_lines' },
      { expr: 't.unit', name: 'unit' },
    ],
    values: [{ expr: 't.value', name: 'value' }],
  }, params);
  const rows = await engine.rows(`SELECT * FROM (${sql})`, params);
  const kept = rows.filter((r) => BigInt(r.value as bigint) !== 0n);
  return {
    unit: (kept[0]?.unit as string) ?? '',
    stacks: kept.map((r) => ({ frames: r.frames as string[], value: BigInt(r.value as bigint) })),
    locations: stackLocations(rows.map((r) => ({ frames: r.frames as string[], files: r.files as string[] | null, lines: r.start_lines as number[] | null }))),
  };
}

/**
 * Where each function is defined (`file:start_line`, for the page's tooltips), from the window's
 * stack rows: the first file in sort order with that file's start line, and how many other files
 * define a function of that name (vendored copies); functions with no file are left out.
 */
export function stackLocations(rows: readonly { frames: string[]; files: string[] | null; lines: number[] | null }[]): Record<string, string> {
  const by = new Map<string, Map<string, number>>();
  for (const r of rows) {
    r.frames.forEach((f, i) => {
      const file = r.files?.[i] ?? '';
      if (file === '') return;
      let m = by.get(f);
      if (!m) by.set(f, (m = new Map()));
      const line = Number(r.lines?.[i] ?? 0);
      // A function name with several start lines in one file (rare): the smallest, deterministically.
      m.set(file, Math.min(m.get(file) ?? line, line));
    });
  }
  const out: Record<string, string> = {};
  for (const [f, files] of by) {
    const first = [...files.keys()].sort()[0];
    const line = files.get(first)!;
    const n = files.size;
    out[f] = `${first}${line > 0 ? ':' + String(line) : ''}${n > 1 ? ` (+${n - 1} more files)` : ''}`;
  }
  return out;
}

interface Building {
  n: string;
  v: bigint;
  b: bigint;
  kids: Map<string, Building>;
}

function add(root: Building, framesLeafFirst: string[], value: bigint, base: boolean): void {
  const abs = value < 0n ? -value : value;
  let node = root;
  if (base) node.b += abs;
  else node.v += abs;
  for (let i = framesLeafFirst.length - 1; i >= 0; i--) {
    const name = framesLeafFirst[i] || '<unknown>';
    let k = node.kids.get(name);
    if (!k) {
      k = { n: name, v: 0n, b: 0n, kids: new Map() };
      node.kids.set(name, k);
    }
    if (base) k.b += abs;
    else k.v += abs;
    node = k;
  }
}

/**
 * The built tree -> FlameNodes, children sorted by name. Iterative (an explicit stack): a stack
 * is as deep as the input says, and recursion here failed with "Maximum call stack size exceeded"
 * at ~2,000 frames.
 */
function freeze(root: Building, differential: boolean): FlameNode {
  const make = (b: Building): FlameNode => {
    const out: FlameNode = { n: b.n, v: Number(b.v) };
    if (differential) out.b = Number(b.b);
    return out;
  };
  const top = make(root);
  const todo: [Building, FlameNode][] = [[root, top]];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const [b, out] = item;
    const kids = [...b.kids.values()].filter((k) => k.v > 0n || (differential && k.b > 0n)).sort((x, y) => (x.n < y.n ? -1 : x.n > y.n ? 1 : 0));
    if (kids.length === 0) continue;
    out.c = kids.map(make);
    kids.forEach((k, i) => todo.push([k, out.c![i]]));
  }
  return top;
}

export interface FlameQuery extends WindowCohort {
  sampleType?: string;
  /** Differential: the baseline cohort (same kind and sample type). */
  base?: WindowCohort;
  title?: string;
}

/** The partition filter that covers the cohort and, for a differential graph, its baseline. */
export function flamePartitionFilter(q: FlameQuery): PartitionFilter {
  return q.base ? partitionFilter(windowPartitionFilter(q), windowPartitionFilter({ ...q.base, kind: q.kind })) : windowPartitionFilter(q);
}

export async function flameGraph(engine: QueryEngine, q: FlameQuery): Promise<FlameGraph> {
  const sampleType = q.sampleType ?? DEFAULT_SAMPLE_TYPE[q.kind];
  const t = await cohortStacks(engine, q, sampleType);
  const b = q.base ? await cohortStacks(engine, { ...q.base, kind: q.kind }, sampleType) : undefined;
  const tree = flameTree(t.stacks, b?.stacks);
  const locations = { ...(b?.locations ?? {}), ...t.locations };
  return {
    type: q.kind,
    sampleType,
    unit: t.unit || b?.unit || '',
    title: q.title ?? `${q.kind} (${sampleType})${q.service ? ' ' + q.service : ''}`,
    differential: b !== undefined,
    ...(q.base ? { baseLabel: cohortLabel(q.base), targetLabel: cohortLabel(q) } : {}),
    locations,
    ...tree,
  };
}

export type FlameStack = { frames: string[]; value: bigint };

/** Stacks (frames leaf first) -> the merged call tree and its totals; `base` makes it differential. */
export function flameTree(target: readonly FlameStack[], base?: readonly FlameStack[]): { total: number; baseTotal: number; root: FlameNode } {
  const root: Building = { n: 'root', v: 0n, b: 0n, kids: new Map() };
  for (const s of target) add(root, s.frames, s.value, false);
  for (const s of base ?? []) add(root, s.frames, s.value, true);
  return { total: Number(root.v), baseTotal: Number(root.b), root: freeze(root, base !== undefined) };
}

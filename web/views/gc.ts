import type { Ctx } from '../app';
import { api } from '../api';
import { chart, chartGrid, fmt } from '../charts';
import { el } from '../dom';
import { COHORT_KEYS, link, niceBucket, pick } from '../state';
import { iso } from './timeline';

// GC trends (GET /gc, the same buckets as `fleetprof gc --json`) per version, and the diagnostics
// that fired, each linking to its bucket.

export interface GcResult {
  buckets: {
    service: string;
    version: string;
    start: string;
    cycles: number;
    cycles_per_min: number | null;
    pause_p99_ns: number;
    gc_cpu_fraction: number | null;
    assist_share: number | null;
    heap_live_avg_bytes: number;
    heap_goal_avg_bytes: number;
    instances: number;
    diagnostics: { id: string; message: string; evidence: Record<string, unknown> }[];
  }[];
}

export async function renderGc(ctx: Ctx): Promise<HTMLElement> {
  const { range, state } = ctx;
  const bucket = niceBucket(range.to - range.from, 60);
  const q = pick(state.p, COHORT_KEYS);
  if (!q.get('from')) q.set('from', iso(range.from));
  if (!q.get('to')) q.set('to', iso(range.to));
  q.set('bucket', bucket.text);
  const gc = await api<GcResult>('/gc', q, ctx.signal);
  const versions = [...new Set(gc.buckets.map((b) => b.version))];
  const times = [...new Set(gc.buckets.map((b) => Date.parse(b.start)))].sort((a, b) => a - b);
  const series = (f: (b: GcResult['buckets'][number]) => number | null) =>
    versions.map((v) => ({ label: v || '(no version)', values: times.map((t) => { const b = gc.buckets.find((x) => x.version === v && Date.parse(x.start) === t); return b ? f(b) : null; }) }));
  const grid = chartGrid();
  const width = grid.width;
  const c = (id: string, title: string, f: (b: GcResult['buckets'][number]) => number | null, format: (v: number) => string) => chart({ id, title, times, series: series(f), format }, width, undefined, 'gc');
  const diags = gc.buckets.flatMap((b) => b.diagnostics.map((d) => ({ b, d })));
  const list = diags.length
    ? el(
        'ul',
        { class: 'diagnostics', id: 'gc-diagnostics' },
        ...diags.map(({ b, d }) =>
          el('li', {}, el('b', {}, d.id), ` · ${b.version || '(no version)'} · ${b.start} · `, d.message, ' ', el('a', { href: link('gc', { from: b.start, to: iso(Date.parse(b.start) + bucket.ms), version: b.version }) }, 'this bucket')),
        ),
      )
    : el('p', { class: 'hint', id: 'gc-diagnostics' }, 'No GC diagnostics fired in this range.');
  return el(
    'div',
    { class: 'gc' },
    el('p', { class: 'hint' }, `${gc.buckets.length} buckets of ${bucket.text} from gctrace (the same numbers as fleetprof gc --json).`),
    el(
      'div',
      { class: 'charts', style: grid.style },
      c('gc-pause', 'Pause p99', (b) => Number(b.pause_p99_ns), fmt.ms),
      c('gc-cpu', 'GC CPU (share of capacity)', (b) => b.gc_cpu_fraction, fmt.pct),
      c('gc-heap', 'Live heap (avg)', (b) => Number(b.heap_live_avg_bytes), fmt.bytes),
      c('gc-goal', 'Heap goal (avg)', (b) => Number(b.heap_goal_avg_bytes), fmt.bytes),
      c('gc-rate', 'Cycles per minute', (b) => b.cycles_per_min, fmt.count),
      c('gc-assist', 'Assist share of GC CPU', (b) => b.assist_share, fmt.pct),
    ),
    el('h3', {}, 'Diagnostics'),
    list,
  );
}

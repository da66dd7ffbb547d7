import type { Ctx } from '../app';
import { api } from '../api';
import { chart, chartGrid, fmt } from '../charts';
import { el } from '../dom';
import { COHORT_KEYS, go, link, niceBucket, pick } from '../state';
import type { GcResult } from './gc';

// A service over time: CPU cores, allocation rate, in-use heap, goroutines, contention (GET
// /timeline) and GC pause p99 and GC CPU (GET /gc), one chart each on a shared time axis.
// Dragging across a chart selects that span (it becomes the range in the URL); the links below
// open the flame graph or a comparison of the selected range.

interface Timeline {
  bucket_s: number;
  times: string[];
  series: Record<string, (number | null)[]>;
}

export const iso = (ms: number) => new Date(ms).toISOString();

export async function renderTimeline(ctx: Ctx): Promise<HTMLElement> {
  const { state, range } = ctx;
  const bucket = niceBucket(range.to - range.from);
  const q = pick(state.p, COHORT_KEYS);
  if (!q.get('from')) q.set('from', iso(range.from));
  if (!q.get('to')) q.set('to', iso(range.to));
  q.set('bucket', bucket.text);
  const [tl, gc] = await Promise.all([api<Timeline>('/timeline', q, ctx.signal), api<GcResult>('/gc', q, ctx.signal)]);
  const grid = chartGrid();
  const width = grid.width;
  const select = (a: number, b: number) => go('timeline', { from: iso(a), to: iso(b) });
  const times = tl.times.map((t) => Date.parse(t));
  const one = (id: string, title: string, key: string, f: (v: number) => string) => chart({ id, title, times, bucketMs: bucket.ms, series: [{ label: title, values: tl.series[key] }], format: f }, width, select);
  // GC: one line per version (a deploy shows as two lines meeting).
  const versions = [...new Set(gc.buckets.map((b) => b.version))];
  const gcTimes = [...new Set(gc.buckets.map((b) => Date.parse(b.start)))].sort((a, b) => a - b);
  const gcSeries = (f: (b: GcResult['buckets'][number]) => number | null) =>
    versions.map((v) => ({ label: v || '(no version)', values: gcTimes.map((t) => { const b = gc.buckets.find((x) => x.version === v && Date.parse(x.start) === t); return b ? f(b) : null; }) }));
  const charts = el(
    'div',
    { class: 'charts', id: 'timeline-charts', style: grid.style },
    one('chart-cpu', 'CPU (cores)', 'cpu_cores', fmt.cores),
    one('chart-alloc', 'Allocation rate', 'alloc_bytes_per_s', fmt.rate),
    one('chart-heap', 'In-use heap', 'inuse_heap_bytes', fmt.bytes),
    one('chart-goroutines', 'Goroutines', 'goroutines', fmt.count),
    chart({ id: 'chart-gc-pause', title: 'GC pause p99', times: gcTimes, bucketMs: bucket.ms, series: gcSeries((b) => Number(b.pause_p99_ns)), format: fmt.ms }, width, select),
    chart({ id: 'chart-gc-cpu', title: 'GC CPU', times: gcTimes, bucketMs: bucket.ms, series: gcSeries((b) => b.gc_cpu_fraction), format: fmt.pct }, width, select),
    one('chart-mutex', 'Mutex contention (wait s/s)', 'mutex_wait_s_per_s', fmt.sps),
    one('chart-block', 'Blocking (wait s/s)', 'block_wait_s_per_s', fmt.sps),
  );
  const from = iso(range.from);
  const to = iso(range.to);
  const span = range.to - range.from;
  const kinds = (ctx.service?.types ?? []).map((t) => t.type);
  return el(
    'div',
    { class: 'timeline' },
    el(
      'div',
      { class: 'selection', id: 'selection' },
      `${from} – ${to} · ${bucket.text} buckets · drag across a chart to select a span, click a point for its bucket. Open: `,
      ...kinds.map((k) => el('a', { href: link('flame', { from, to, type: k }), class: 'btn', id: `open-flame-${k}` }, `${k} flame graph`)),
      el('a', { href: link('compare', { 'base-from': iso(range.from - span), 'base-to': from, from, to, 'base-version': null }), class: 'btn', id: 'open-compare' }, 'compare with the span before'),
    ),
    charts,
  );
}

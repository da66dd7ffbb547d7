import uPlot from 'uplot';
import { el } from './dom';

// Time series with uPlot (~50 KB, canvas): small multiples sharing one cursor; dragging across
// any of them selects a span, clicking a point selects its bucket (`onSelect`, epoch ms).

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** Epoch ms of each point (bucket starts). */
  times: number[];
  /** Bucket width, ms: a click selects the bucket under the cursor. */
  bucketMs?: number;
  series: Series[];
  format: (v: number) => string;
}

const COLORS = ['#d9480f', '#1c7ed6', '#2b8a3e', '#ae3ec9', '#f08c00', '#0b7285'];

export function chart(spec: ChartSpec, width: number, onSelect?: (fromMs: number, toMs: number) => void, sync = 'timeline'): HTMLElement {
  const box = el('div', { class: 'chart', id: spec.id }, el('div', { class: 'chart-title' }, spec.title));
  const hasData = spec.series.some((s) => s.values.some((v) => v !== null));
  if (!hasData) {
    box.append(el('div', { class: 'no-data' }, 'no data in this range'));
    return box;
  }
  const opts: uPlot.Options = {
    width,
    height: 150,
    cursor: { sync: { key: sync }, drag: { x: true, y: false } },
    legend: { show: spec.series.length > 1 },
    scales: { x: { time: true } },
    // Axis times in UTC, like every time the UI shows and takes.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    axes: [{}, { values: (_u, vals) => vals.map((v) => (v === null ? '' : spec.format(v))), size: 84 }],
    series: [{}, ...spec.series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: true, size: 4 }, value: (_u: uPlot, v: number | null) => (v === null ? '-' : spec.format(v)) }))],
    hooks: {
      setSelect: [
        (u) => {
          if (!onSelect || u.select.width < 3) return;
          const a = u.posToVal(u.select.left, 'x');
          const b = u.posToVal(u.select.left + u.select.width, 'x');
          onSelect(Math.floor(a * 1000), Math.ceil(b * 1000));
        },
      ],
    },
  };
  const data = [spec.times.map((t) => t / 1000), ...spec.series.map((s) => s.values)] as uPlot.AlignedData;
  const u = new uPlot(opts, data, box);
  // A click without a drag: the bucket of the nearest point.
  u.over.addEventListener('click', () => {
    const i = u.cursor.idx;
    if (!onSelect || !spec.bucketMs || i === null || i === undefined || u.select.width >= 3) return;
    onSelect(spec.times[i], spec.times[i] + spec.bucketMs);
  });
  return box;
}

/** Columns and chart width that fit the page (charts are canvases of a fixed width). */
export function chartGrid(): { cols: number; width: number; style: string } {
  const W = Math.max(400, document.documentElement.clientWidth - 32);
  const cols = Math.max(1, Math.min(3, Math.floor(W / 440)));
  const width = Math.floor((W - (cols - 1) * 12) / cols) - 12;
  return { cols, width, style: `grid-template-columns: repeat(${cols}, 1fr)` };
}

export const fmt = {
  cores: (v: number) => v.toFixed(2),
  bytes: (v: number) => (v >= 2 ** 30 ? (v / 2 ** 30).toFixed(2) + 'GiB' : v >= 2 ** 20 ? (v / 2 ** 20).toFixed(1) + 'MiB' : v >= 1024 ? (v / 1024).toFixed(0) + 'KiB' : v.toFixed(0) + 'B'),
  rate: (v: number) => fmt.bytes(v) + '/s',
  count: (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)),
  ms: (v: number) => (v >= 1e8 ? (v / 1e6).toFixed(0) : (v / 1e6).toFixed(2)) + 'ms',
  pct: (v: number) => (v * 100).toFixed(1) + '%',
  sps: (v: number) => v.toFixed(3) + 's/s',
};

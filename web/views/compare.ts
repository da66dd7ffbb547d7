import type { Ctx } from '../app';
import { api } from '../api';
import { el } from '../dom';
import { FlamePanel } from '../flame-panel';
import type { FlameGraph } from '../flame-model';
import { go, pick } from '../state';
import { kindPickers } from './flame';

// Two spans or two versions side by side: the differential flame graph (GET /flamegraph with
// base-from/base-to/base-version) with its colour scale and a legend naming both sides, and the
// diff table (GET /diff) with each function's share change and its significance (Welch's t-test
// over replicates, lib/stats/welch.ts). Functions that vanished are tagged in both.

interface DiffSide {
  flat: number;
  cum: number;
  flat_share: number;
  cum_share: number;
}
interface DiffResult {
  unit: string;
  measure: string;
  base: { profiles: number; instances: number; total: number; versions: string[] };
  target: { profiles: number; instances: number; total: number; versions: string[] };
  functions: { name: string; base: DiffSide; target: DiffSide; delta_cum_share: number; delta_flat_share: number; p_value: number | null; significant: boolean }[];
}

function side(p: URLSearchParams, prefix: string): string {
  const v = p.get(prefix + 'version');
  const f = p.get(prefix + 'from');
  const t = p.get(prefix + 'to');
  const parts = [];
  if (v) parts.push(`version ${v}`);
  if (f || t) parts.push(`${f ?? 'start'} – ${t ?? 'now'}`);
  return parts.join(', ') || 'all data';
}

export async function renderCompare(ctx: Ctx): Promise<HTMLElement> {
  const p = new URLSearchParams(ctx.state.p);
  const versions = ctx.service?.versions ?? [];
  // Nothing chosen yet: the two newest versions, if there are two.
  if (!p.get('base-version') && !p.get('base-from') && !p.get('base-to') && versions.length >= 2) {
    go('compare', { 'base-version': versions[versions.length - 2], version: versions[versions.length - 1] }, true);
    p.set('base-version', versions[versions.length - 2]);
    p.set('version', versions[versions.length - 1]);
  }
  const k = kindPickers(ctx, 'compare');
  const keys = ['service', 'instance', 'label', 'from', 'to', 'version', 'base-from', 'base-to', 'base-version', 'sample-type'];
  const q = pick(p, keys);
  q.set('type', k.type);
  const form = compareForm(p, versions);
  if (!p.get('base-version') && !p.get('base-from') && !p.get('base-to')) {
    return el('div', { class: 'compare' }, el('div', { class: 'view-bar' }, k.el), form, el('div', { class: 'no-data' }, 'Choose a baseline: a version or a time span.'));
  }
  const [g, d] = await Promise.all([
    api<FlameGraph>('/flamegraph', new URLSearchParams([...q, ['format', 'json']]), ctx.signal),
    api<DiffResult>('/diff', new URLSearchParams([...q, ['limit', '200']]), ctx.signal),
  ]);
  // The URL's own words (now-1h stays relative) rather than the server's resolved times.
  g.baseLabel = side(p, 'base-');
  g.targetLabel = side(p, '');
  const panel = new FlamePanel({ onState: (s) => go('compare', { search: s.search, fn: s.fn, sort: s.sort === 'flat' ? null : s.sort }, true) });
  queueMicrotask(() => panel.setData(g, { search: p.get('search') ?? '', fn: p.get('fn') ?? '', sort: (p.get('sort') as 'cum' | 'delta' | null) ?? 'delta' }));
  const pct = (x: number) => (x * 100).toFixed(2) + '%';
  const rows = d.functions.map((f) => {
    const vanished = f.target.cum === 0 && f.base.cum > 0;
    const fresh = f.base.cum === 0 && f.target.cum > 0;
    return el(
      'tr',
      { class: f.significant ? 'significant' : '' },
      el('td', { class: 'fn', title: f.name }, f.name, vanished ? el('span', { class: 'tag vanished' }, 'vanished') : null, fresh ? el('span', { class: 'tag new' }, 'new') : null),
      el('td', { class: 'num' }, pct(f.base.cum_share)),
      el('td', { class: 'num' }, pct(f.target.cum_share)),
      el('td', { class: 'num ' + (f.delta_cum_share >= 0 ? 'up' : 'down') }, (f.delta_cum_share >= 0 ? '+' : '') + (f.delta_cum_share * 100).toFixed(2)),
      el('td', { class: 'num' }, f.p_value === null ? '–' : f.p_value < 0.001 ? '<0.001' : f.p_value.toFixed(3)),
      el('td', {}, f.significant ? 'yes' : f.p_value === null ? 'n/a (one replicate)' : 'no'),
    );
  });
  const table = el(
    'table',
    { class: 'diff-table', id: 'diff-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'function'), el('th', {}, 'baseline cum share'), el('th', {}, 'target cum share'), el('th', {}, 'Δ points'), el('th', {}, 'p-value'), el('th', {}, 'significant'))),
    el('tbody', {}, ...rows),
  );
  return el(
    'div',
    { class: 'compare' },
    el('div', { class: 'view-bar' }, k.el),
    form,
    el('div', { class: 'sides' }, `Baseline: ${g.baseLabel} (${d.base.profiles} profiles, ${d.base.instances} instances) · Target: ${g.targetLabel} (${d.target.profiles} profiles, ${d.target.instances} instances)`),
    panel.root,
    el('h3', {}, 'Diff table'),
    el('p', { class: 'hint' }, 'Significance: Welch’s t-test of the share over replicates (profiles, process series or instances); "n/a" where a side has a single replicate.'),
    table,
  );
}

function compareForm(p: URLSearchParams, versions: string[]): HTMLElement {
  const input = (id: string, key: string, placeholder: string) => {
    const i = el('input', { id, placeholder, value: p.get(key) ?? '' }) as HTMLInputElement;
    return i;
  };
  const vsel = (id: string, key: string) => {
    const s = el('select', { id }, el('option', { value: '' }, 'any'), ...versions.map((v) => el('option', { value: v }, v)));
    s.value = p.get(key) ?? '';
    return s;
  };
  const bv = vsel('base-version', 'base-version');
  const bf = input('base-from', 'base-from', 'from (now-2h, RFC 3339)');
  const bt = input('base-to', 'base-to', 'to');
  const tv = vsel('target-version', 'version');
  const tf = input('target-from', 'from', 'from (now-1h, RFC 3339)');
  const tt = input('target-to', 'to', 'to');
  const apply = el('button', { type: 'button', id: 'compare-apply' }, 'compare');
  apply.addEventListener('click', () =>
    go('compare', { 'base-version': bv.value, 'base-from': bf.value, 'base-to': bt.value, version: tv.value, from: tf.value, to: tt.value }),
  );
  return el('div', { class: 'compare-form' }, el('label', {}, 'baseline ', bv, bf, bt), el('label', {}, 'target ', tv, tf, tt), apply);
}

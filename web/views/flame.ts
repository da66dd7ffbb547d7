import type { Ctx } from '../app';
import { api } from '../api';
import { el } from '../dom';
import { FlamePanel } from '../flame-panel';
import type { FlameGraph } from '../flame-model';
import { COHORT_KEYS, go, pick } from '../state';

// One cohort's flame graph (GET /flamegraph?format=json) with the top table beside it. The kind
// and sample type pickers come from what the service has (GET /services).

export function kindPickers(ctx: Ctx, view: 'flame' | 'compare'): { type: string; sampleType: string; el: HTMLElement } {
  const p = ctx.state.p;
  const types = ctx.service?.types ?? [];
  const type = p.get('type') ?? (types.find((t) => t.type === 'cpu') ?? types[0])?.type ?? 'cpu';
  const sts = types.find((t) => t.type === type)?.sampleTypes ?? [];
  const sampleType = p.get('sample-type') ?? '';
  const kind = el('select', { id: 'pick-type' }, ...types.map((t) => el('option', { value: t.type }, `${t.type} (${t.profiles})`)));
  kind.value = type;
  kind.addEventListener('change', () => go(view, { type: kind.value, 'sample-type': null }));
  const st = el('select', { id: 'pick-sample-type' }, el('option', { value: '' }, 'default'), ...sts.map((s) => el('option', { value: s }, s)));
  st.value = sampleType;
  st.addEventListener('change', () => go(view, { 'sample-type': st.value }));
  return { type, sampleType, el: el('span', { class: 'kind-pickers' }, el('label', {}, 'type ', kind), el('label', {}, 'sample type ', st)) };
}

export async function renderFlame(ctx: Ctx): Promise<HTMLElement> {
  const p = ctx.state.p;
  const k = kindPickers(ctx, 'flame');
  const q = pick(p, [...COHORT_KEYS, 'sample-type']);
  q.set('type', k.type);
  const g = await api<FlameGraph>('/flamegraph', new URLSearchParams([...q, ['format', 'json']]), ctx.signal);
  const panel = new FlamePanel({
    onState: (s) => go('flame', { search: s.search, fn: s.fn, sort: s.sort === 'flat' ? null : s.sort }, true),
  });
  const exportQ = new URLSearchParams(q);
  const box = el(
    'div',
    { class: 'flame-view' },
    el('div', { class: 'view-bar' }, k.el, el('a', { href: `/flamegraph?${exportQ}`, class: 'btn', target: '_blank', id: 'open-html' }, 'self-contained HTML'), el('a', { href: `/export?${exportQ}`, class: 'btn', id: 'download-pprof' }, 'download .pb.gz (go tool pprof)')),
    panel.root,
  );
  if (g.total === 0) box.append(el('div', { class: 'no-data', id: 'flame-empty' }, 'no samples in this range'));
  // The panel measures its host: attach it first.
  queueMicrotask(() => panel.setData(g, { search: p.get('search') ?? '', fn: p.get('fn') ?? '', sort: (p.get('sort') as 'cum' | 'delta' | null) ?? 'flat' }));
  return box;
}

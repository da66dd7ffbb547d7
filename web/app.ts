import { api } from './api';
import { el } from './dom';
import { go, link, readState, resolveTime, type State, type View } from './state';
import { renderTimeline } from './views/timeline';
import { renderFlame } from './views/flame';
import { renderCompare } from './views/compare';
import { renderGc } from './views/gc';
import { renderDigests } from './views/digests';

// The web UI `fleetprof serve` serves at / (docs/ui.md): a header of pickers (service, version,
// instance, labels, time range) over one view at a time, everything read from and written to the
// URL hash (web/state.ts). Each render starts from the URL, so a pasted link shows the same page.

export interface ServiceInfo {
  service: string;
  versions: string[];
  instances: string[];
  types: { type: string; sampleTypes: string[]; profiles: number }[];
  first: string | null;
  last: string | null;
}

export interface Ctx {
  state: State;
  services: ServiceInfo[];
  service?: ServiceInfo;
  /** The resolved range, epoch ms: from/to in the URL, else the service's data span. */
  range: { from: number; to: number };
  signal: AbortSignal;
}

const TABS: [View, string][] = [
  ['timeline', 'Timeline'],
  ['flame', 'Flame graph'],
  ['compare', 'Compare'],
  ['gc', 'GC'],
  ['digests', 'Digests'],
];
const RANGES = ['1h', '24h', '7d', '30d'];

let services: ServiceInfo[] | undefined;
let labels: { key: string; source: string; values: { value: string }[] }[] | undefined;
let labelsFor: string | undefined;
let current: AbortController | undefined;

const header = el('header', { class: 'top' });
const main = el('main', { id: 'view' });
document.body.append(header, main);

async function render(): Promise<void> {
  current?.abort();
  const ac = new AbortController();
  current = ac;
  const state = readState();
  document.body.dataset.ready = 'false';
  try {
    services ??= (await api<{ services: ServiceInfo[] }>('/services', undefined, ac.signal)).services;
    const p = state.p;
    // Default service: the only one, or the first: a view always has one to show.
    if (!p.get('service') && services.length > 0 && state.view !== 'digests') {
      go(state.view, { service: services[0].service }, true);
      return render();
    }
    const service = services.find((s) => s.service === p.get('service'));
    if (service && labelsFor !== service.service) {
      labels = (await api<{ labels: typeof labels }>('/labels', new URLSearchParams({ service: service.service }), ac.signal)).labels;
      labelsFor = service.service;
    }
    const first = service?.first ? Date.parse(service.first) : Date.now() - 3600e3;
    const last = service?.last ? Date.parse(service.last) + 1 : Date.now();
    const range = { from: resolveTime(p.get('from')) ?? first, to: resolveTime(p.get('to')) ?? (p.get('from') ? Date.now() : last) };
    renderHeader(state, service);
    main.replaceChildren(el('div', { class: 'loading' }, 'loading…'));
    const ctx: Ctx = { state, services, service, range, signal: ac.signal };
    const view = { timeline: renderTimeline, flame: renderFlame, compare: renderCompare, gc: renderGc, digests: renderDigests }[state.view];
    const out = await view(ctx);
    if (ac.signal.aborted) return;
    main.replaceChildren(out);
    document.body.dataset.ready = 'true';
  } catch (e) {
    if (ac.signal.aborted) return;
    main.replaceChildren(el('div', { class: 'error', id: 'error' }, (e as Error).message));
    document.body.dataset.ready = 'true';
  }
}

function select(id: string, options: [string, string][], value: string, onChange: (v: string) => void): HTMLSelectElement {
  const s = el('select', { id }, ...options.map(([v, label]) => el('option', v === value ? { value: v, selected: '' } : { value: v }, label)));
  s.value = value;
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

const toInput = (ms: number) => new Date(ms).toISOString().slice(0, 19);

function renderHeader(state: State, service: ServiceInfo | undefined): void {
  const p = state.p;
  const tabs = el('nav', { class: 'tabs' }, ...TABS.map(([v, label]) => el('a', { href: link(v), class: v === state.view ? 'active' : '', id: `tab-${v}` }, label)));
  const svc = select('pick-service', (services ?? []).map((s) => [s.service, s.service]), p.get('service') ?? '', (v) => go(state.view, { service: v, version: null, instance: null, label: null }));
  const any = (xs: string[] | undefined): [string, string][] => [['', 'any'], ...(xs ?? []).map((x): [string, string] => [x, x || '(none)'])];
  const version = select('pick-version', any(service?.versions), p.get('version') ?? '', (v) => go(state.view, { version: v }));
  const instance = select('pick-instance', any(service?.instances), p.get('instance') ?? '', (v) => go(state.view, { instance: v }));
  // Labels: upload and pprof sample labels, k=v, any number (each must match).
  const chosen = p.getAll('label');
  const labelOpts: [string, string][] = [['', 'add label…']];
  for (const l of labels ?? []) for (const v of l.values) labelOpts.push([`${l.key}=${v.value}`, `${l.key}=${v.value} (${l.source})`]);
  const addLabel = select('pick-label', labelOpts, '', (v) => {
    if (!v) return;
    const q = new URLSearchParams(p);
    if (!chosen.includes(v)) q.append('label', v);
    location.hash = `#/${state.view}?${q}`;
  });
  const chips = chosen.map((l) => {
    const x = el('button', { type: 'button', class: 'chip', title: 'remove' }, l, ' ×');
    x.addEventListener('click', () => {
      const q = new URLSearchParams();
      for (const [k, v] of p) if (!(k === 'label' && v === l)) q.append(k, v);
      location.hash = `#/${state.view}?${q}`;
    });
    return x;
  });
  // Time: relative (from=now-24h, to open) or absolute (RFC 3339, UTC), or all data.
  const from = p.get('from') ?? '';
  const rel = /^now-(\w+)$/.exec(from)?.[1];
  const ranges = el(
    'span',
    { class: 'ranges' },
    ...RANGES.map((r) => el('a', { href: link(state.view, { from: `now-${r}`, to: null }), class: rel === r && !p.get('to') ? 'active' : '', id: `range-${r}` }, r)),
    el('a', { href: link(state.view, { from: null, to: null }), class: !from && !p.get('to') ? 'active' : '', id: 'range-all' }, 'all'),
  );
  const fromIn = el('input', { type: 'datetime-local', step: '1', id: 'abs-from', title: 'from (UTC)' }) as HTMLInputElement;
  const toIn = el('input', { type: 'datetime-local', step: '1', id: 'abs-to', title: 'to (UTC)' }) as HTMLInputElement;
  const f = resolveTime(from);
  const t = resolveTime(p.get('to'));
  if (f !== undefined) fromIn.value = toInput(f);
  if (t !== undefined) toIn.value = toInput(t);
  const apply = el('button', { type: 'button', id: 'abs-apply' }, 'apply');
  // datetime-local drops ':00' seconds from its value: put them back, then mark it UTC.
  const utc = (v: string) => (v ? (/T\d\d:\d\d$/.test(v) ? v + ':00' : v) + 'Z' : null);
  apply.addEventListener('click', () => go(state.view, { from: utc(fromIn.value), to: utc(toIn.value) }));
  header.replaceChildren(
    el('div', { class: 'brand' }, el('b', {}, 'fleetprof'), tabs),
    el(
      'div',
      { class: 'pickers' },
      el('label', {}, 'service ', svc),
      el('label', {}, 'version ', version),
      el('label', {}, 'instance ', instance),
      addLabel,
      ...chips,
      el('span', { class: 'spacer' }),
      ranges,
      el('label', { class: 'abs' }, fromIn, ' – ', toIn, ' UTC ', apply),
    ),
  );
}

window.addEventListener('hashchange', () => void render());
void render();

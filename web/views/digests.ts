import type { Ctx } from '../app';
import { api } from '../api';
import { el } from '../dom';
import { href, type View } from '../state';

// The archived digests (GET /digests: digests/<date>/<window end>/digest.json, newest first), one
// card per anomaly, each linking to the view of its cohort: the comparison of the window against
// its baseline for profile areas, the GC view of the window for GC.

interface Anomaly {
  service: string;
  area: 'cpu' | 'memory' | 'goroutines' | 'gc' | 'contention';
  /** The profile kind the anomaly was measured on (digests archived before it was recorded: from the area). */
  profile?: string;
  severity: string;
  summary: string;
  versions?: { base: string[]; target: string[] } | unknown;
  functions?: { name: string }[];
}
interface Digest {
  key: string;
  window: { from: string; to: string };
  baseline: { from: string; to: string };
  services: string[];
  quiet: boolean;
  message: string;
  anomalies: Anomaly[];
  error?: string;
}

const AREA_KIND: Record<Anomaly['area'], string | undefined> = { cpu: 'cpu', memory: 'heap', goroutines: 'goroutine', contention: 'mutex', gc: undefined };

export function cohortLink(d: Digest, a: Anomaly): string {
  const kind = a.area === 'gc' ? undefined : (a.profile ?? AREA_KIND[a.area]);
  const p = new URLSearchParams({ service: a.service });
  let view: View = 'gc';
  if (kind) {
    view = 'compare';
    p.set('type', kind);
    p.set('base-from', d.baseline.from);
    p.set('base-to', d.baseline.to);
    if (a.functions?.[0]) p.set('fn', a.functions[0].name);
  }
  p.set('from', d.window.from);
  p.set('to', d.window.to);
  return href(view, p);
}

export async function renderDigests(ctx: Ctx): Promise<HTMLElement> {
  const { digests, more } = await api<{ digests: Digest[]; more: boolean }>('/digests', undefined, ctx.signal);
  if (digests.length === 0) {
    return el('div', { class: 'no-data', id: 'digests-empty' }, 'No archived digests. The digest Lambda archives one per run under digests/ in the bucket; locally, `fleetprof digest --data DIR --archive` writes them into the data directory.');
  }
  return el(
    'div',
    { class: 'digests', id: 'digests' },
    ...digests.map((d) =>
      el(
        'section',
        { class: 'digest' },
        el('h3', {}, `${d.window?.from} – ${d.window?.to}`, el('span', { class: 'hint' }, ` ${d.key}`)),
        d.error ? el('p', { class: 'error' }, d.error) : el('p', {}, d.message),
        ...(d.anomalies ?? []).map((a) =>
          el(
            'a',
            { class: `card sev-${a.severity}`, href: cohortLink(d, a) },
            el('div', {}, el('b', {}, `${a.service} · ${a.area}`), ` · ${a.severity}`),
            el('div', {}, a.summary),
            a.functions?.length ? el('div', { class: 'hint' }, 'top: ' + a.functions.slice(0, 3).map((f) => f.name).join(', ')) : null,
          ),
        ),
      ),
    ),
    more ? el('p', { class: 'hint' }, 'Older digests are not shown (limit 50).') : null,
  );
}

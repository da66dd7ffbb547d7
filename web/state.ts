// The UI's whole state is the URL hash: `#/<view>?<the API's parameters>`, so every view is a
// shareable link and the browser's back button works. Parameter names are the CLI's flags
// (service, version, instance, label=k=v (repeatable), type, sample-type, from, to, base-from,
// base-to, base-version) plus the view's own (search, fn, sort).

export const VIEWS = ['timeline', 'flame', 'compare', 'gc', 'digests'] as const;
export type View = (typeof VIEWS)[number];

export interface State {
  view: View;
  p: URLSearchParams;
}

export function readState(hash = location.hash): State {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(hash);
  const view = (VIEWS as readonly string[]).includes(m?.[1] ?? '') ? (m![1] as View) : 'timeline';
  return { view, p: new URLSearchParams(m?.[2] ?? '') };
}

export function href(view: View, p: URLSearchParams): string {
  const q = p.toString();
  return `#/${view}${q ? '?' + q : ''}`;
}

/** The hash for `view` with `changes` applied to the current parameters (null removes). */
export function link(view: View, changes: Record<string, string | null> = {}, from: URLSearchParams = readState().p): string {
  const p = new URLSearchParams(from);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === '') p.delete(k);
    else p.set(k, v);
  }
  return href(view, p);
}

export function go(view: View, changes: Record<string, string | null> = {}, replace = false): void {
  const h = link(view, changes);
  if (replace) history.replaceState(null, '', h);
  else location.hash = h;
}

/** The cohort parameters every data request carries. */
export const COHORT_KEYS = ['service', 'version', 'instance', 'label', 'from', 'to'] as const;

export function pick(p: URLSearchParams, keys: readonly string[]): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of p) if (keys.includes(k) && v !== '') out.append(k, v);
  return out;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/** `now`, `now-24h`, an RFC 3339 time or a date -> epoch ms (undefined when empty or unreadable). */
export function resolveTime(s: string | null, now = Date.now()): number | undefined {
  if (!s) return undefined;
  const rel = /^now(?:-(\d+(?:\.\d+)?)(ms|s|m|h|d))?$/.exec(s.trim());
  if (rel) return rel[1] ? now - Number(rel[1]) * UNIT_MS[rel[2]] : now;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

/** A bucket width giving about `n` buckets over `spanMs`, as a duration the API takes. */
export function niceBucket(spanMs: number, n = 120): { ms: number; text: string } {
  const steps: [number, string][] = [
    [1e3, '1s'],
    [5e3, '5s'],
    [10e3, '10s'],
    [30e3, '30s'],
    [60e3, '1m'],
    [300e3, '5m'],
    [900e3, '15m'],
    [3600e3, '1h'],
    [3 * 3600e3, '3h'],
    [6 * 3600e3, '6h'],
    [86400e3, '1d'],
  ];
  for (const [ms, text] of steps) if (spanMs / ms <= n) return { ms, text };
  return { ms: 86400e3, text: '1d' };
}

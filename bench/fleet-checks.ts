// bench:fleet's answer checks (bench/fleet.ts), apart so tests can call them: every simulated
// instance-hour is an exact copy of the source hour, so each answer has a known truth.

export interface Check {
  ok: boolean;
  detail: string;
}

export interface TopJson {
  total: number;
  functions: { name: string; flat: number; cum: number }[];
}

/** Every function's flat and cum equal factor x the source's (exact below 2^53; JSON numbers are doubles above). */
export function checkTop(got: TopJson, src: TopJson, factor: number): Check {
  const exp = new Map(src.functions.map((f) => [f.name, f]));
  const same = (x: number, y: number) => (Math.abs(y) < 2 ** 53 ? x === y : Math.abs(x - y) <= Math.abs(y) * 1e-12);
  if (!same(got.total, src.total * factor)) return { ok: false, detail: `total ${got.total} != ${factor} x ${src.total}` };
  if (got.functions.length !== src.functions.length) return { ok: false, detail: `${got.functions.length} functions, source has ${src.functions.length}` };
  for (const f of got.functions) {
    const e = exp.get(f.name);
    if (!e) return { ok: false, detail: `unexpected function ${f.name}` };
    if (!same(f.flat, e.flat * factor) || !same(f.cum, e.cum * factor)) {
      return { ok: false, detail: `${f.name}: flat/cum ${f.flat}/${f.cum} != ${factor} x ${e.flat}/${e.cum}` };
    }
  }
  return { ok: true, detail: `${got.functions.length} functions = ${factor} x source` };
}

/** The fields of `fleetprof digest --json` the check reads (lib/detect/digest.ts digestJson). */
export interface DigestJson {
  services: string[];
  quiet: boolean;
  message: string;
  health: { id: string }[];
  anomalies: { service: string; area: string; summary: string }[];
}

/**
 * The digest of identical copies: every source service present and compared (the "in N
 * service(s)" of the quiet message: a service without baseline rows is listed but not compared),
 * no health finding and no anomaly.
 */
export function checkDigest(d: DigestJson, services: readonly string[], dataDays = Infinity): Check {
  if (!Array.isArray(d.anomalies) || !Array.isArray(d.health)) return { ok: false, detail: 'no anomalies/health arrays in the JSON' };
  const missing = services.filter((s) => !d.services.includes(s));
  if (missing.length > 0) return { ok: false, detail: `services missing: ${missing.join(', ')}` };
  if (d.health.length > 0) return { ok: false, detail: `${d.health.length} health findings (${d.health.map((h) => h.id).join(', ')}): ${d.message}` };
  if (d.anomalies.length > 0) {
    const a = d.anomalies[0];
    return { ok: false, detail: `${d.anomalies.length} anomalies (identical copies: none expected), first ${a.service} ${a.area}: ${a.summary}` };
  }
  const compared = Number(/in (\d+) service\(s\)/.exec(d.message)?.[1] ?? NaN);
  // Data of one day or less is all in the 24 h window: no baseline, so no service can be compared
  // (a service with window rows only is listed, not compared): what is checkable is the rest.
  if (dataDays <= 1) {
    if (compared !== 0) return { ok: false, detail: `${compared} services compared without a baseline: ${d.message}` };
    return { ok: true, detail: `no baseline (the 24h window needs more than 1 day of data, 8 for the whole 7d baseline; ${dataDays} here): 0 anomalies, 0 health findings, ${services.length} services present` };
  }
  if (compared !== services.length) return { ok: false, detail: `${compared} of ${services.length} services compared: ${d.message}` };
  return { ok: true, detail: `0 anomalies, 0 health findings, ${compared} services compared` };
}

import { isoFromUs } from '../model/time';
import { cohortPredicate, type CohortFilter, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';

// What there is to pick from: the services with their versions, instances, profile kinds and
// sample types and the time span of their data (GET /services), and the label keys and values
// (GET /labels: upload labels of profiles, gctrace logs and runtime/metrics snapshots, and pprof
// sample labels of the stacks). The web UI's pickers are filled from these; both honour the same
// cohort filter as every other query (service, version, instance, label, from, to).

export interface ServiceKind {
  type: string;
  sampleTypes: string[];
  profiles: number;
}

export interface ServiceInfo {
  service: string;
  versions: string[];
  instances: string[];
  types: ServiceKind[];
  /** First and last row time over profiles, gc cycles and runtime/metrics snapshots (RFC 3339). */
  first: string | null;
  last: string | null;
  profiles: number;
  gcCycles: number;
  metricSnapshots: number;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const strings = (v: unknown): string[] => (Array.isArray(v) ? (v as unknown[]).map(String) : []);

export async function listServices(engine: QueryEngine, f: CohortFilter): Promise<{ services: ServiceInfo[] }> {
  const by = new Map<string, ServiceInfo>();
  const get = (s: string): ServiceInfo => {
    let i = by.get(s);
    if (!i) {
      i = { service: s, versions: [], instances: [], types: [], first: null, last: null, profiles: 0, gcCycles: 0, metricSnapshots: 0 };
      by.set(s, i);
    }
    return i;
  };
  const spans = new Map<string, { lo: number; hi: number; versions: Set<string>; instances: Set<string> }>();
  for (const table of ['profiles', 'gc_cycles', 'runtime_metrics'] as const) {
    const { sql, params } = cohortPredicate(f, table);
    // runtime_metrics has a row per metric: a snapshot is its distinct (profile_id, time).
    const count = table === 'runtime_metrics' ? 'count(DISTINCT (profile_id, time))' : 'count(*)';
    const rows = await engine.rows(
      `SELECT service, list(DISTINCT version) AS versions, list(DISTINCT instance) AS instances,
              min(epoch_us(time)) AS lo, max(epoch_us(time)) AS hi, ${count} AS n
       FROM ${table} WHERE ${sql} GROUP BY service`,
      params,
    );
    for (const r of rows) {
      const s = String(r.service);
      const info = get(s);
      const n = num(r.n);
      if (table === 'profiles') info.profiles = n;
      else if (table === 'gc_cycles') info.gcCycles = n;
      else info.metricSnapshots = n;
      const sp = spans.get(s) ?? { lo: Infinity, hi: -Infinity, versions: new Set(), instances: new Set() };
      sp.lo = Math.min(sp.lo, num(r.lo));
      sp.hi = Math.max(sp.hi, num(r.hi));
      strings(r.versions).forEach((v) => sp.versions.add(v));
      strings(r.instances).forEach((v) => sp.instances.add(v));
      spans.set(s, sp);
    }
  }
  for (const [s, sp] of spans) {
    const info = get(s);
    info.first = isoFromUs(sp.lo);
    info.last = isoFromUs(sp.hi);
    info.versions = [...sp.versions].sort();
    info.instances = [...sp.instances].sort();
  }
  const { sql, params } = cohortPredicate(f, 'profiles');
  const kinds = await engine.rows(
    `SELECT service, kind, list(DISTINCT st.type) AS sample_types, count(DISTINCT profile_id) AS n
     FROM (SELECT service, kind, profile_id, unnest(sample_types) AS st FROM profiles WHERE ${sql})
     GROUP BY service, kind ORDER BY service, kind`,
    params,
  );
  for (const r of kinds) get(String(r.service)).types.push({ type: String(r.kind), sampleTypes: strings(r.sample_types).sort(), profiles: num(r.n) });
  return { services: [...by.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0)) };
}

export interface LabelInfo {
  key: string;
  /** upload: labels of the uploaded object (every table); sample: pprof sample labels (stacks). */
  source: 'upload' | 'sample';
  values: { value: string; rows: number }[];
  /** More values exist than `valuesPerKey`. */
  truncated: boolean;
}

/** Label keys with their most frequent values (at most `valuesPerKey` each). */
export async function listLabels(engine: QueryEngine, f: CohortFilter, valuesPerKey = 100): Promise<{ labels: LabelInfo[] }> {
  const parts: string[] = [];
  const params: SqlParams = {};
  const tables = [
    ['profiles', 'labels', 'upload'],
    ['gc_cycles', 'labels', 'upload'],
    ['runtime_metrics', 'labels', 'upload'],
    ['stacks', 'sample_labels', 'sample'],
  ] as const;
  tables.forEach(([table, column, source], i) => {
    const p = cohortPredicate(f, table, { prefix: `t${i}_` });
    Object.assign(params, p.params);
    parts.push(`SELECT '${source}' AS source, e.key AS k, e.value AS v FROM (SELECT unnest(map_entries(${column})) AS e FROM ${table} WHERE ${p.sql})`);
  });
  params.per_key = valuesPerKey + 1;
  const rows = await engine.rows(
    `SELECT source, k, v, n FROM (
       SELECT source, k, v, count(*) AS n, row_number() OVER (PARTITION BY source, k ORDER BY count(*) DESC, v) AS rank
       FROM (${parts.join(' UNION ALL ')}) GROUP BY source, k, v
     ) WHERE rank <= $per_key ORDER BY source DESC, k, n DESC, v`,
    params,
  );
  const out = new Map<string, LabelInfo>();
  for (const r of rows) {
    const source = r.source as 'upload' | 'sample';
    const key = String(r.k);
    const id = `${source}\u0000${key}`;
    let l = out.get(id);
    if (!l) {
      l = { key, source, values: [], truncated: false };
      out.set(id, l);
    }
    if (l.values.length === valuesPerKey) l.truncated = true;
    else l.values.push({ value: String(r.v), rows: num(r.n) });
  }
  return { labels: [...out.values()] };
}

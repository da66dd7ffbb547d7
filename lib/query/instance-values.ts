import { valueClass } from '../model/temporality';
import { attributionFrameSql } from '../model/attribution';
import { cohortPredicate, type SqlParams } from './cohort';
import type { ProfileValues } from './diff';
import type { QueryEngine } from './engine';
import { planWindow, type WindowPlan } from './plan';
import type { WindowCohort } from './window';

// The digest's replicates of one side (lib/detect/common.ts) from rollups: per instance (and
// version) the values of each sample charged to its leaf-most frame of the service's own code,
// from attributed_1d for whole days, attributed_1h for whole hours and the raw stacks for the
// rest (the query planner's cut, lib/query/plan.ts), with the instance's totals, durations,
// snapshot counts and process series from profiles_1h (raw profiles for the raw spans).
//
// The detectors add up each instance's replicates before they judge (lib/detect/evidence.ts:
// total, duration, values per function, and how many replicates), so an instance's sums over
// hours are all they need, and those add up exactly:
//   - interval (cpu): one replicate per profile; the instance's sums and its profile count;
//   - delta counters: one replicate per process series; the sums, the number of series, and
//     whether each series carries a duration (then values are per second);
//   - gauges: the instance's mean, each function's sum over the instance's snapshot count
//     rounded half away from zero, as the raw path rounds it (lib/query/diff.ts loadProfiles).
// One value here stands for `groups` replicates of the raw path, so the cohort summaries (profile
// counts, per-profile norms) are the same too. test/digest-rollup.test.ts checks the digest's
// findings and every number behind them against the raw path.
//
// Null (the caller reads raw rows) when the planner cannot answer the window exactly, when some
// rolled-up hour or day predates these tables, or for counters uploaded as cumulative snapshots:
// their replicate is a process series split at restarts and its increase over the window, which
// per-hour sums do not keep (the agent and scrape upload deltas).

type Span = [number, number];
const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;
const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
const spansSql = (col: string, spans: Span[]) => (spans.length === 0 ? 'false' : '(' + spans.map(([a, b]) => `(${col} >= ${ts(a)} AND ${col} < ${ts(b)})`).join(' OR ') + ')');

export interface InstanceSide {
  unit: string;
  profiles: ProfileValues[];
}

/** Whether attributed_1h/_1d hold every hour and day the plan reads from rollups (older rollups predate them). */
async function attributedCover(engine: QueryEngine, plan: WindowPlan): Promise<boolean> {
  const hours = engine.coveredHours('attributed_1h');
  const days = engine.coveredHours('attributed_1d');
  const all = (spans: Span[], step: number, set: Set<number>) => spans.every(([a, b]) => Array.from({ length: (b - a) / step }, (_, i) => a + i * step).every((h) => set.has(h)));
  if (hours && days) {
    return all(plan.hours, HOUR_US, hours) && plan.days.every(([a, b]) => all([[a, b]], HOUR_US, days));
  }
  // No manifests (a file set built by hand): the hours and days with rows of this service and kind.
  const c = plan.cohort;
  const count = async (table: 'attributed_1h' | 'attributed_1d', col: string, spans: Span[], step: number): Promise<boolean> => {
    if (spans.length === 0) return true;
    const id = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { alias: 't', prefix: 'ac_' });
    const want = spans.reduce((a, [x, y]) => a + (y - x) / step, 0);
    const rows = await engine.rows(`SELECT COUNT(DISTINCT ${col}) AS n FROM ${table} t WHERE ${id.sql} AND ${spansSql(`t.${col}`, spans)}`, id.params);
    return Number(rows[0]?.n ?? 0) === want;
  };
  return (await count('attributed_1d', 'day', plan.days, DAY_US)) && (await count('attributed_1h', 'hour', plan.hours, HOUR_US));
}

/** The side's per-instance replicates from rollups (see the header), or null: read raw rows. */
export async function loadInstanceValues(engine: QueryEngine, c: WindowCohort, sampleType: string): Promise<InstanceSide | null> {
  if (c.rollups === false) return null;
  const cls = valueClass(c.kind, sampleType);
  const plan = await planWindow(engine, c, sampleType, 'attributed');
  if (!plan || plan.days.length + plan.hours.length === 0) return null;
  if (!(await attributedCover(engine, plan))) return null;
  const rolled = [...plan.days, ...plan.hours].sort((a, b) => a[0] - b[0]);
  const profiles1h = plan.sources?.profiles ?? 'profiles_1h';
  const id = (alias: string, prefix: string, params: SqlParams) => {
    const p = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { alias, prefix });
    Object.assign(params, p.params);
    return p.sql;
  };
  const rawPred = (alias: string, prefix: string, params: SqlParams, table: 'profiles' | 'stacks', [a, b]: Span) => {
    const p = cohortPredicate({ kind: c.kind, service: c.service, version: c.version, fromUs: a, toUs: b }, table, { alias, prefix });
    Object.assign(params, p.params);
    return p.sql;
  };

  // Raw spans read only their hours' files (over S3 the views would download the whole range's).
  const rawProfiles = await engine.rawSource('profiles', plan.raw);
  const rawStacks = plan.raw.length > 0 ? await engine.rawSource('stacks', plan.raw) : 'stacks';
  // Process series of the side: rolled hours from profiles_1h, raw spans from profiles.
  const sp: SqlParams = {};
  const seriesParts = [
    `SELECT r.instance, r.version, r.process, r.temporality, r.snapshots, r.duration_ns FROM ${profiles1h} r WHERE ${id('r', 'sr_', sp)} AND ${spansSql('r.hour', rolled)}`,
    ...plan.raw.map(
      (s, i) =>
        `SELECT r.instance, r.version, COALESCE(r.process, '') AS process, COALESCE(r.temporality, CASE WHEN r.kind = 'cpu' THEN 'delta' ELSE 'cumulative' END) AS temporality,
                1 AS snapshots, r.duration_ns FROM ${rawProfiles} r WHERE ${rawPred('r', `sw${i}_`, sp, 'profiles', s)}`,
    ),
  ];
  const series = (
    await engine.rows(
      `SELECT instance, version, process, temporality, SUM(snapshots)::BIGINT AS snapshots, SUM(duration_ns)::BIGINT AS duration_ns
       FROM (${seriesParts.map((p) => `(${p})`).join(' UNION ALL ')}) GROUP BY ALL ORDER BY ALL`,
      sp,
    )
  ).map((r) => ({ instance: r.instance as string, version: r.version as string, process: r.process as string, temporality: r.temporality as string, snapshots: Number(r.snapshots), durationNs: Number(r.duration_ns) }));
  if (cls === 'counter' && series.some((s) => s.temporality === 'cumulative')) return null;

  // Replicate groups: an instance for gauges (its mean), else an instance and version (the raw
  // replicates, profiles or series, each have one version).
  const gauge = cls === 'gauge';
  const grpOf = (instance: string, version: string) => (gauge ? instance : `${instance}\u0000${version}`);
  const grpSql = (a: string) => (gauge ? `${a}.instance` : `${a}.instance || chr(0) || ${a}.version`);
  interface Group {
    instance: string;
    version: string;
    snapshots: number;
    durationNs: number;
    processes: number;
    untimed: number;
  }
  const groups = new Map<string, Group>();
  for (const s of series) {
    const k = grpOf(s.instance, s.version);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { instance: s.instance, version: s.version, snapshots: 0, durationNs: 0, processes: 0, untimed: 0 }));
    if (s.version < g.version) g.version = s.version;
    g.snapshots += s.snapshots;
    g.durationNs += s.durationNs;
    g.processes++;
    if (s.durationNs <= 0) g.untimed++;
  }

  // Totals of the sample type per group, and the attributed values per group and frame.
  const tp: SqlParams = { st: sampleType };
  const totalParts = [
    `SELECT ${grpSql('r')} AS grp, MIN(x.unit) AS unit, SUM(x.total::HUGEINT) AS v FROM (SELECT *, list_filter(sample_types, y -> y.type = $st)[1] AS x FROM ${profiles1h}) r
     WHERE x IS NOT NULL AND ${id('r', 'tr_', tp)} AND ${spansSql('r.hour', rolled)} GROUP BY ALL`,
    ...plan.raw.map(
      (s, i) =>
        `SELECT ${grpSql('r')} AS grp, MIN(r.x.unit) AS unit, SUM(r.x.total::HUGEINT) AS v FROM (SELECT *, UNNEST(sample_types) AS x FROM ${rawProfiles}) r
         WHERE r.x.type = $st AND ${rawPred('r', `tw${i}_`, tp, 'profiles', s)} GROUP BY ALL`,
    ),
  ];
  const totalRows = await engine.rows(`SELECT grp, MIN(unit) AS unit, SUM(v) AS v FROM (${totalParts.map((p) => `(${p})`).join(' UNION ALL ')}) GROUP BY grp`, tp);

  const fp: SqlParams = { st: sampleType };
  const fnParts: string[] = [];
  if (plan.days.length > 0) {
    const src = plan.sources?.day ?? 'attributed_1d';
    fnParts.push(`SELECT ${grpSql('t')} AS grp, t.function AS name, SUM(t.value::HUGEINT) AS v FROM ${src} t WHERE ${id('t', 'fd_', fp)} AND t.sample_type = $st AND ${spansSql('t.day', plan.days)} GROUP BY ALL`);
  }
  if (plan.hours.length > 0) {
    const src = plan.sources?.hour ?? 'attributed_1h';
    fnParts.push(`SELECT ${grpSql('t')} AS grp, t.function AS name, SUM(t.value::HUGEINT) AS v FROM ${src} t WHERE ${id('t', 'fh_', fp)} AND t.sample_type = $st AND ${spansSql('t.hour', plan.hours)} GROUP BY ALL`);
  }
  plan.raw.forEach((s, i) => {
    // Stacks grouped first, so each distinct stack is attributed once.
    fnParts.push(`SELECT grp, ${attributionFrameSql('frames')} AS name, SUM(v) AS v FROM (
        SELECT ${grpSql('t')} AS grp, t.frames, SUM(t.value::HUGEINT) AS v FROM ${rawStacks} t WHERE ${rawPred('t', `fw${i}_`, fp, 'stacks', s)} AND t.sample_type = $st GROUP BY ALL
      ) GROUP BY ALL`);
  });
  const fnRows = await engine.rows(`SELECT grp, name, SUM(v) AS v FROM (${fnParts.map((p) => `(${p})`).join(' UNION ALL ')}) GROUP BY ALL`, fp);

  // Gauges: the instance's mean, rounded as the raw path rounds (roundDivSql), here in BigInt.
  const div = (v: bigint, g: Group): bigint => (gauge ? roundDiv(v, BigInt(g.snapshots)) : v);
  const out = new Map<string, ProfileValues>();
  let unit = '';
  for (const r of totalRows) {
    const g = groups.get(r.grp as string);
    if (!g) continue;
    unit ||= (r.unit as string) ?? '';
    out.set(r.grp as string, {
      id: r.grp as string,
      instance: g.instance,
      version: g.version,
      durationNs: g.durationNs,
      total: div(BigInt(r.v as bigint), g),
      fns: new Map(),
      groups: cls === 'interval' ? g.snapshots : cls === 'counter' ? g.processes : 1,
      timed: g.untimed === 0,
    });
  }
  for (const r of fnRows) {
    const p = out.get(r.grp as string);
    if (!p) continue;
    const v = div(BigInt(r.v as bigint), groups.get(r.grp as string)!);
    if (v !== 0n) p.fns.set(r.name as string, [v, v]);
  }
  return { unit, profiles: [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** round(s / den), halves away from zero: lib/query/window.ts roundDivSql's arithmetic. */
function roundDiv(s: bigint, den: bigint): bigint {
  if (den === 1n) return s;
  if (s >= 0n) return (2n * s + den) / (2n * den);
  return -((-2n * s + den) / (2n * den));
}

import { valueClass } from '../model/temporality';
import { floorHourUs, increaseTermsSql, termsScanFromUs } from '../store/rollup-terms';
import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { DEFAULT_LOOKBACK_US, profileWeightsSql, roundDivSql, unitDenominator, weightedSelectSql, windowRowsWhere, type WindowCohort } from './window';

// The query planner: a window's weighted sums (lib/query/window.ts) from rollups where they are
// exact, raw rows elsewhere. The window [F, T) is cut into
// - whole UTC days whose day rollups (functions_1d / stacks_1d) exist,
// - whole hours whose hour rollups exist (profiles_1h has rows of the kind for that hour),
// - raw spans: the rest (partial-hour edges, fresh hours not rolled up yet), read from the raw
//   tables with the per-snapshot increase rule of lib/store/rollup-terms.ts.
// Each part is a plain sum, so the parts add up: interval (cpu) and delta values trivially;
// cumulative counters because every part uses per-snapshot increases (the raw spans with the
// window's own look-back for the hour holding F); gauges because every part keeps per-instance
// sums and the snapshot counts are summed before each instance's mean is taken.
//
// Where a part could differ from the window rule the planner answers from raw rows instead (the
// caller's raw path), so answers stay exact:
// - instance or label filters, gauge aggregates max/last (rollups keep neither), no time bounds;
// - a cumulative counter series whose first snapshot in some hour of the window has its
//   predecessor more than an hour back but within the look-back (or, with a look-back under an
//   hour, within the hour before but outside the look-back): the rollups subtracted a different
//   predecessor than the window rule does. Found from profiles_1h (first/last time per series and
//   hour); rare: an agent silent for over an hour while its process lived.

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

type Span = [number, number];

export interface WindowPlan {
  kind: WindowCohort['kind'];
  sampleType: string;
  cohort: WindowCohort & { fromUs: number; toUs: number };
  cls: ReturnType<typeof valueClass>;
  /** Day starts answered by the *_1d tables. */
  days: Span[];
  /** Hour ranges answered by the *_1h tables (not inside `days`). */
  hours: Span[];
  /** Raw spans, ascending. */
  raw: Span[];
  /**
   * Days (inside `days`) whose totals come from totals_1d (instance-free: a few rows a day) rather
   * than profiles_1h (a row per instance, process, kind and hour); only when the plan was made
   * with `totals` and the values are summed over instances (not gauge means).
   */
  totalsDays: Span[];
  /**
   * FROM sources over only the rollup files the parts read (QueryEngine.spanSource), in place of
   * the views over every file of the window; absent: the views. `profiles` (profiles_1h) holds
   * every rolled-up span outside `totalsDays`; `totals` (totals_1d) the `totalsDays`.
   */
  sources?: { day?: string; hour?: string; profiles?: string; totals?: string };
}

export interface PlanOptions {
  /** The caller reads the sample type's totals (plannedSelectSql with table 'totals'). */
  totals?: boolean;
  /** The caller reads profiles_1h over every rolled-up span itself (plan.sources.profiles). */
  profiles?: boolean;
}

export type PlanTable = 'functions' | 'stacks';

/** Half-open spans -> maximal runs. */
function runs(points: number[], step: number): Span[] {
  const out: Span[] = [];
  for (const p of [...points].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last[1] === p) last[1] = p + step;
    else if (!last || last[1] < p) out.push([p, p + step]);
  }
  return out;
}

/** Each span minus the cuts (sorted, disjoint). */
function minus(spans: Span[], cuts: Span[]): Span[] {
  return spans.flatMap(([a, b]) => complement(a, b, cuts.filter(([x, y]) => y > a && x < b).map(([x, y]): Span => [Math.max(x, a), Math.min(y, b)])));
}

/** [from, to) minus the spans (sorted, disjoint; parts outside [from, to) are ignored). The one home of span arithmetic: the digest's presence and period reads use it too. */
export function complement(from: number, to: number, spans: readonly (readonly [number, number])[]): Span[] {
  const out: Span[] = [];
  let cur = from;
  for (const [a, b] of spans) {
    if (a > cur) out.push([cur, Math.min(a, to)]);
    cur = Math.max(cur, b);
  }
  if (cur < to) out.push([cur, to]);
  return out.filter(([a, b]) => b > a);
}

const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
const spansSql = (col: string, spans: Span[]) => (spans.length === 0 ? 'false' : '(' + spans.map(([a, b]) => `(${col} >= ${ts(a)} AND ${col} < ${ts(b)})`).join(' OR ') + ')');

/** Equality predicates of the cohort's kind, service and version on `alias` (parameters prefixed). */
function identityWhere(c: WindowCohort, alias: string, prefix: string, params: SqlParams): string {
  const p = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { alias, prefix });
  Object.assign(params, p.params);
  return p.sql;
}

/**
 * The plan of a window for one sample type, or null when rollups cannot answer it exactly (the
 * caller then takes the raw path). `table`: which data rollup the query reads ('attributed': the
 * digest's per-instance rollup, read by lib/query/instance-values.ts with its own SQL).
 */
export async function planWindow(engine: QueryEngine, c: WindowCohort, sampleType: string, table: PlanTable | 'attributed', opts: PlanOptions = {}): Promise<WindowPlan | null> {
  if (c.fromUs === undefined || c.toUs === undefined || c.toUs <= c.fromUs) return null;
  if (c.instance !== undefined || Object.keys(c.labels ?? {}).length > 0) return null;
  const cls = valueClass(c.kind, sampleType);
  if (cls === 'gauge' && (c.aggregate ?? 'avg') !== 'avg' && c.aggregate !== 'sum') return null;
  const F = c.fromUs;
  const T = c.toUs;
  const firstHour = Math.ceil(F / HOUR_US) * HOUR_US;
  const lastHour = Math.floor(T / HOUR_US) * HOUR_US;
  if (firstHour >= lastHour) return null;
  // Which hours and days are rolled up: from the listing's manifests (the hours each live rollup
  // file holds) when the engine has them, which reads no rollup row (scanning profiles_1h for its
  // hours cost seconds over 30 days of 1,000 instances); else from the rollup rows. An hour rolled
  // up without rows of this kind, service or version adds nothing either way.
  const coveredHours = engine.coveredHours('profiles_1h');
  let hours: number[];
  if (coveredHours) hours = [...coveredHours].filter((h) => h >= firstHour && h < lastHour);
  else {
    const params: SqlParams = {};
    const idHour = identityWhere(c, 'r', 'ph_', params);
    const hourRows = await engine.rows(
      `SELECT DISTINCT epoch_us(hour) AS h FROM profiles_1h r WHERE ${idHour} AND hour >= ${ts(firstHour)} AND hour < ${ts(lastHour)}`,
      params,
    );
    hours = hourRows.map((r) => Number(r.h));
  }
  if (hours.length === 0) return null;
  const firstDay = Math.ceil(F / DAY_US) * DAY_US;
  const lastDay = Math.floor(T / DAY_US) * DAY_US;
  let days: number[] = [];
  if (firstDay < lastDay) {
    const coveredDays = engine.coveredHours(`${table}_1d`);
    if (coveredDays) {
      // A day form is live when its file holds all 24 hours (the builder publishes it so).
      for (let d = firstDay; d < lastDay; d += DAY_US) if (Array.from({ length: 24 }, (_, i) => d + i * HOUR_US).every((h) => coveredDays.has(h))) days.push(d);
    } else {
      const dp: SqlParams = {};
      const idDay = identityWhere(c, 'r', 'pd_', dp);
      days = (await engine.rows(`SELECT DISTINCT epoch_us(day) AS d FROM ${table}_1d r WHERE ${idDay} AND day >= ${ts(firstDay)} AND day < ${ts(lastDay)}`, dp)).map((r) => Number(r.d));
    }
  }
  const daySpans = runs(days, DAY_US);
  const inDay = (h: number) => daySpans.some(([a, b]) => h >= a && h < b);
  const hourSpans = runs(hours.filter((h) => !inDay(h)), HOUR_US);
  const covered = [...daySpans, ...hourSpans].sort((a, b) => a[0] - b[0]);
  const plan: WindowPlan = {
    kind: c.kind,
    sampleType,
    cohort: { ...c, fromUs: F, toUs: T },
    cls,
    days: daySpans,
    hours: hourSpans,
    raw: complement(F, T, covered),
    totalsDays: [],
  };
  if (cls === 'counter' && (await counterGap(engine, plan))) return null;
  // Gauge means divide per instance: their totals and denominators need profiles_1h's instances.
  const avg = cls === 'gauge' && (c.aggregate ?? 'avg') === 'avg';
  const coveredTotals = opts.totals && !avg && days.length > 0 ? engine.coveredHours('totals_1d') : null;
  if (coveredTotals) plan.totalsDays = runs(days.filter((d) => Array.from({ length: 24 }, (_, i) => d + i * HOUR_US).every((h) => coveredTotals.has(h))), DAY_US);
  const profileSpans = minus(covered, plan.totalsDays);
  // profiles_1h's source only for a caller that reads it: over 30 days binding it reads 720 footers.
  const wantProfiles = opts.profiles || avg || (opts.totals && profileSpans.length > 0);
  const [day, hour, profiles, totals] = await Promise.all([
    engine.spanSource(`${table}_1d`, daySpans),
    engine.spanSource(`${table}_1h`, hourSpans),
    wantProfiles ? engine.spanSource('profiles_1h', profileSpans) : null,
    plan.totalsDays.length > 0 ? engine.spanSource('totals_1d', plan.totalsDays) : null,
  ]);
  plan.sources = { day: day ?? undefined, hour: hour ?? undefined, profiles: profiles ?? undefined, totals: totals ?? undefined };
  return plan;
}

/** Whether some counter series' predecessor differs between the parts' rule and the window rule (see the header). */
async function counterGap(engine: QueryEngine, plan: WindowPlan): Promise<boolean> {
  const c = plan.cohort;
  const L = c.lookbackUs ?? DEFAULT_LOOKBACK_US;
  const F = c.fromUs;
  const floorF = floorHourUs(F);
  const pFrom = floorHourUs(Math.min(F - L, floorF - HOUR_US));
  const params: SqlParams = {};
  const id1 = identityWhere(c, 'r', 'g1_', params);
  const id2 = identityWhere(c, 'r', 'g2_', params);
  // Presence per series and hour: profiles_1h where it exists, raw profiles elsewhere (rolled-up
  // hours from the listing's manifests when the engine has them, as in planWindow).
  const covered = engine.coveredHours('profiles_1h');
  const rolled = runs(
    covered
      ? [...covered].filter((h) => h >= pFrom && h < c.toUs)
      : (await engine.rows(`SELECT DISTINCT epoch_us(hour) AS h FROM profiles_1h r WHERE ${id1} AND hour >= ${ts(pFrom)} AND hour < ${ts(c.toUs)}`, { ...pick(params, 'g1_') })).map((r) =>
          Number(r.h),
        ),
    HOUR_US,
  );
  const rawHours = complement(pFrom, c.toUs, rolled);
  const profiles1h = (await engine.spanSource('profiles_1h', rolled)) ?? 'profiles_1h';
  // Candidate hours: every hour of the window except the one holding F when it is read raw (the
  // raw span there applies the window's own look-back).
  const firstRaw = plan.raw.length > 0 && plan.raw[0][0] === F;
  const candFrom = firstRaw ? floorF + HOUR_US : floorF;
  const rows = await engine.rows(
    `WITH pr AS (
       SELECT r.service, r.instance, r.version, r.process, r.hour AS h, MIN(r.first_time) AS ft, MAX(r.last_time) AS lt
       FROM ${profiles1h} r WHERE ${id1} AND r.temporality = 'cumulative' AND r.hour >= ${ts(pFrom)} AND r.hour < ${ts(c.toUs)} GROUP BY ALL
       UNION ALL
       SELECT r.service, r.instance, r.version, COALESCE(r.process, '') AS process, date_trunc('hour', r.time) AS h, MIN(r.time), MAX(r.time)
       FROM ${await engine.rawSource('profiles', rawHours)} r WHERE ${id2} AND COALESCE(r.temporality, 'cumulative') = 'cumulative' AND ${spansSql('r.time', rawHours)} GROUP BY ALL
     ),
     lagged AS (SELECT *, LAG(lt) OVER (PARTITION BY service, instance, version, process ORDER BY h) AS prev_last FROM pr)
     SELECT count(*) AS n FROM lagged
     WHERE h >= ${ts(candFrom)} AND ft < ${ts(c.toUs)} AND ft >= ${ts(F)} AND prev_last IS NOT NULL
       AND ((prev_last >= h - INTERVAL 1 HOUR) <> (prev_last >= ${ts(F - L)}))`,
    params,
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

function pick(p: SqlParams, prefix: string): SqlParams {
  return Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith(prefix)));
}

export interface PlannedSelect {
  /** 'functions' | 'stacks': data rows; 'totals': the sample type's totals (columns unit, total). */
  table: PlanTable | 'totals';
  /** Grouping expressions over `t` (the same on raw and rollup rows: their columns share names). */
  keys: { expr: string; name: string }[];
  values: { expr: string; name: string }[];
}

/**
 * SELECT keys, values: the window's weighted sums per key, exactly what weightedSelectSql gives
 * over the raw rows. `$st` must hold the sample type in `params` (the callers' convention).
 */
export function plannedSelectSql(plan: WindowPlan, s: PlannedSelect, params: SqlParams): string {
  const c = plan.cohort;
  const gauge = plan.cls === 'gauge';
  const avg = gauge && (c.aggregate ?? 'avg') === 'avg';
  const grp = (a: string) => (avg ? `${a}.service || '/' || ${a}.instance` : `''`);
  const keySel = s.keys.map((k) => `${k.expr} AS ${k.name}`);
  const sums = s.values.map((v) => `SUM((${v.expr})::HUGEINT) AS ${v.name}`);
  const weighted = s.values.map((v) => `SUM((${v.expr})::HUGEINT * pw.w) AS ${v.name}`);
  const sel = (g: string) => [`${g} AS grp`, ...keySel].join(', ');
  const parts: string[] = [];
  const profiles1h = plan.sources?.profiles ?? 'profiles_1h';
  // Totals: the sample type's struct picked from the list (no UNNEST of every row's list: over
  // 30 days of 1,000 instances that join was most of top's time). profiles_1h lists each type
  // once (the builder groups by type), so [1] is the whole sum.
  const rollupSource = (form: '1h' | '1d') =>
    s.table === 'totals'
      ? `(SELECT * EXCLUDE (__s), __s.type AS sample_type, __s.unit AS unit, __s.total AS total FROM (SELECT *, list_filter(sample_types, x -> x.type = $st)[1] AS __s FROM ${profiles1h}) WHERE __s IS NOT NULL)`
      : ((form === '1d' ? plan.sources?.day : plan.sources?.hour) ?? `${s.table}_${form}`);
  params.st = plan.sampleType;
  if (s.table === 'totals') {
    // Totals of whole days from totals_1d where the plan has it, the other days and hours from
    // profiles_1h: one scan of each.
    if (plan.totalsDays.length > 0) {
      const where = identityWhere(c, 't', 'td_', params);
      parts.push(
        `SELECT ${sel(grp('t'))}, ${sums.join(', ')} FROM ${plan.sources?.totals ?? 'totals_1d'} t WHERE ${where} AND t.sample_type = $st AND ${spansSql('t.day', plan.totalsDays)} GROUP BY ALL`,
      );
    }
    const rolled = minus([...plan.days, ...plan.hours].sort((a, b) => a[0] - b[0]), plan.totalsDays);
    if (rolled.length > 0) {
      const where = identityWhere(c, 't', 'ph_', params);
      parts.push(`SELECT ${sel(grp('t'))}, ${sums.join(', ')} FROM ${rollupSource('1h')} t WHERE ${where} AND t.sample_type = $st AND ${spansSql('t.hour', rolled)} GROUP BY ALL`);
    }
  } else {
    if (plan.days.length > 0) {
      const where = identityWhere(c, 't', 'pd_', params);
      parts.push(`SELECT ${sel(grp('t'))}, ${sums.join(', ')} FROM ${rollupSource('1d')} t WHERE ${where} AND t.sample_type = $st AND ${spansSql('t.day', plan.days)} GROUP BY ALL`);
    }
    if (plan.hours.length > 0) {
      const where = identityWhere(c, 't', 'ph_', params);
      parts.push(`SELECT ${sel(grp('t'))}, ${sums.join(', ')} FROM ${rollupSource('1h')} t WHERE ${where} AND t.sample_type = $st AND ${spansSql('t.hour', plan.hours)} GROUP BY ALL`);
    }
  }
  const L = c.lookbackUs ?? DEFAULT_LOOKBACK_US;
  plan.raw.forEach(([a, b], i) => {
    const first = a === c.fromUs;
    const id = cohortPredicate({ kind: c.kind, service: c.service, version: c.version }, 'profiles', { prefix: `pt${i}_` });
    Object.assign(params, id.params);
    const terms = { fromUs: a, toUs: b, firstUnitFloorUs: first ? a - L : undefined, where: id.sql };
    const termsSql = increaseTermsSql(terms);
    const applies = plan.cls === 'counter' ? 'true' : 'NOT pw.counter_only';
    const pred = cohortPredicate({ kind: c.kind, service: c.service, version: c.version, fromUs: termsScanFromUs(terms), toUs: b }, s.table === 'totals' ? 'profiles' : s.table, {
      alias: 't',
      prefix: `pr${i}_`,
    });
    Object.assign(params, pred.params);
    const source =
      s.table === 'totals'
        ? `(SELECT r.*, x.s.type AS sample_type, x.s.unit AS unit, x.s.total AS total FROM profiles r, (SELECT UNNEST(r.sample_types) AS s) x)`
        : s.table;
    parts.push(`SELECT ${sel(grp('t'))}, ${weighted.join(', ')} FROM ${source} t JOIN (${termsSql}) pw ON t.profile_id = pw.profile_id
      WHERE ${pred.sql} AND t.sample_type = $st AND ${applies} GROUP BY ALL`);
  });
  const names = s.keys.map((k) => k.name);
  const vnames = s.values.map((v) => v.name);
  const union = parts.map((p) => `(${p})`).join(' UNION ALL ');
  const byGroup = `SELECT grp${names.map((n) => ', ' + n).join('')}, ${vnames.map((v) => `SUM(${v}) AS ${v}`).join(', ')} FROM (${union}) GROUP BY ALL`;
  if (!avg) return `SELECT ${[...names, ...vnames.map((v) => `SUM(${v})::HUGEINT AS ${v}`)].join(', ')} FROM (${byGroup}) GROUP BY ALL`;
  // Gauge means: per instance, the value sums over the snapshot count of every part.
  const denParts: string[] = [];
  const rolled = [...plan.days, ...plan.hours];
  if (rolled.length > 0) {
    const where = identityWhere(c, 'r', 'pn_', params);
    denParts.push(`SELECT r.service || '/' || r.instance AS grp, SUM(r.snapshots) AS n FROM ${profiles1h} r WHERE ${where} AND ${spansSql('r.hour', rolled)} GROUP BY ALL`);
  }
  plan.raw.forEach(([a, b], i) => {
    const pred = cohortPredicate({ kind: c.kind, service: c.service, version: c.version, fromUs: a, toUs: b }, 'profiles', { alias: 'r', prefix: `pc${i}_` });
    Object.assign(params, pred.params);
    denParts.push(`SELECT r.service || '/' || r.instance AS grp, COUNT(*) AS n FROM profiles r WHERE ${pred.sql} GROUP BY ALL`);
  });
  const dens = `SELECT grp, SUM(n)::HUGEINT AS n FROM (${denParts.map((p) => `(${p})`).join(' UNION ALL ')}) GROUP BY grp`;
  return `SELECT ${[...names, ...vnames.map((v) => `SUM(${roundDivSql(`g.${v}`, 'd.n')})::HUGEINT AS ${v}`)].join(', ')}
    FROM (${byGroup}) g JOIN (${dens}) d ON g.grp = d.grp GROUP BY ALL`;
}


/**
 * The window's weighted sums of a data table per key, from the plan when rollups can answer
 * exactly, from the raw rows (lib/query/window.ts) otherwise. Adds its parameters to `params`
 * (`$st` = the sample type, as the callers' own SQL around it expects).
 */
export async function windowSelectSql(engine: QueryEngine, c: WindowCohort, sampleType: string, s: PlannedSelect & { table: PlanTable }, params: SqlParams): Promise<string> {
  params.st = sampleType;
  const plan = c.rollups === false ? null : await planWindow(engine, c, sampleType, s.table);
  if (plan) return plannedSelectSql(plan, s, params);
  const weights = profileWeightsSql(c, sampleType, params);
  return weightedSelectSql(weights, { table: s.table, where: `${windowRowsWhere(c, sampleType, params, s.table, 't')} AND t.sample_type = $st`, keys: s.keys, values: s.values, unitDen: unitDenominator(c, sampleType) });
}

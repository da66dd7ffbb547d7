import { valueClassSql } from '../model/temporality';

// Per-snapshot increase terms: the ONE rule the rollup builder sums per hour and the query
// planner uses for the raw rows around them, so that hours add up to the window rule of
// lib/query/window.ts exactly.
//
// Every profile s in [fromUs, toUs) gives the term (s, +1). A cumulative snapshot of a counter kind
// also gives (prev(s), -1): prev(s) is the previous cumulative snapshot of its series (service,
// kind, instance, version, process), when no counter total went down from prev(s) to s (a restart
// starts a new segment, as in window.ts) and prev(s) is not older than U(s):
//   U(s) = the start of the hour before s's hour   (the rollup rule: what an hour's build can see)
//   U(s) = firstUnitFloorUs for s in the hour of firstHourUs   (the planner's first edge: F - lookback)
// Summed over the snapshots of a window [F, T), the +1 and -1 terms telescope to the window rule's
// (+1 on the last in the window, -1 on the last before it within the look-back) except where a
// series was silent for more than an hour inside the window or its look-back: the planner detects
// that from profiles_1h (first_time/last_time) and answers from raw rows (lib/query/plan.ts).
//
// The -1 term applies to counter sample types only (valueClass 'counter'): a heap profile's inuse_*
// types are gauges, summed with +1 whatever its temporality.

/** Counter sample types whose totals going down mark a restart (Go's alloc_* of heap/allocs, block and mutex types). */
export const COUNTER_TYPES_SQL = `['alloc_objects', 'alloc_space', 'contentions', 'delay']`;
/** Kinds whose cumulative snapshots carry counters (the -1 terms). */
export const COUNTER_KINDS_SQL = `('allocs', 'heap', 'block', 'mutex')`;
/** A profile's temporality, NULL read as its kind's default (CPU deltas, every other kind cumulative). */
export const TEMPORALITY_SQL = `COALESCE(temporality, CASE WHEN kind = 'cpu' THEN 'delta' ELSE 'cumulative' END)`;
const HOUR_US = 3_600_000_000;

/**
 * The counter-reset rule, in ONE place for the rollup builder, the query planner's raw edges and
 * the documented view increase_terms (lib/query/views.ts): two CTEs (for a WITH list) over
 * `cum`, the cumulative snapshots of counter kinds (columns profile_id, kind, service, instance,
 * version, process, time, sample_types). `<name>_down`: per snapshot, whether some counter
 * type's total is below the previous snapshot's of its series (kind, service, instance, version,
 * process), i.e. the process restarted and the snapshot starts a new segment. `<name>`: per
 * snapshot its kind, time, `down` and the previous snapshot of its series (prev_id, prev_time;
 * NULL for the first). The -1 term of a snapshot is its prev_id, unless it is down.
 */
export function seriesPrevCtes(cum: string, name: string): string {
  return `${name}_down AS (
      SELECT profile_id, bool_or(COALESCE(total < prev, false)) AS down FROM (
        SELECT profile_id, total, LAG(total) OVER (PARTITION BY kind, service, instance, version, process, type ORDER BY time, profile_id) AS prev FROM (
          SELECT profile_id, kind, service, instance, version, process, time, st.type AS type, st.total AS total
          FROM (SELECT *, UNNEST(sample_types) AS st FROM ${cum}) WHERE list_contains(${COUNTER_TYPES_SQL}, st.type)
        )
      ) GROUP BY profile_id
    ),
    ${name} AS (
      SELECT c.profile_id, c.kind, c.time, COALESCE(d.down, false) AS down,
             LAG(c.profile_id) OVER w AS prev_id, LAG(c.time) OVER w AS prev_time
      FROM ${cum} c LEFT JOIN ${name}_down d ON d.profile_id = c.profile_id
      WINDOW w AS (PARTITION BY c.kind, c.service, c.instance, c.version, c.process ORDER BY c.time, c.profile_id)
    )`;
}

export interface TermsRange {
  /** Snapshots [fromUs, toUs) get terms (epoch microseconds; fromUs need not be hour-aligned). */
  fromUs: number;
  toUs: number;
  /** The first hour's look-back floor: U(s) for s in the UTC hour holding fromUs (default: that hour's start - 1 h). */
  firstUnitFloorUs?: number;
  /** Extra predicate on the profiles view (no alias), e.g. the cohort's kind and service. */
  where?: string;
}

export function floorHourUs(us: number): number {
  return Math.floor(us / HOUR_US) * HOUR_US;
}

/** How far before fromUs the rows a terms query reads go (the -1 terms' profiles). */
export function termsScanFromUs(r: TermsRange): number {
  const h = floorHourUs(r.fromUs);
  return Math.min(r.firstUnitFloorUs ?? h - HOUR_US, h);
}

/**
 * SQL of the relation (snapshot_id, profile_id, w, counter_only): the terms of every profile in
 * the range. Reads the view `profiles`; `counter_only` marks -1 terms (apply to counter types only).
 */
export function increaseTermsSql(r: TermsRange): string {
  const first = floorHourUs(r.fromUs);
  const floorFirst = r.firstUnitFloorUs ?? first - HOUR_US;
  const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
  const scan = `time >= ${ts(termsScanFromUs(r))} AND time < ${ts(r.toUs)}${r.where ? ` AND (${r.where})` : ''}`;
  const inRange = `time >= ${ts(r.fromUs)}`;
  const u = `CASE WHEN time < ${ts(first + HOUR_US)} THEN ${ts(floorFirst)} ELSE date_trunc('hour', time) - INTERVAL 1 HOUR END`;
  return `WITH tp AS (
      SELECT profile_id, kind, service, instance, version, COALESCE(process, '') AS process,
             ${TEMPORALITY_SQL} AS temporality, time, sample_types
      FROM profiles WHERE ${scan}
    ),
    tcum AS (SELECT * FROM tp WHERE kind IN ${COUNTER_KINDS_SQL} AND temporality = 'cumulative'),
    ${seriesPrevCtes('tcum', 'tlag')}
    SELECT profile_id AS snapshot_id, profile_id, 1::BIGINT AS w, false AS counter_only FROM tp WHERE ${inRange}
    UNION ALL
    SELECT profile_id, prev_id, -1::BIGINT, true FROM tlag
    WHERE ${inRange} AND NOT down AND prev_id IS NOT NULL AND prev_time >= ${u}`;
}

/** Whether a term applies to a row of (kind, sample_type): -1 terms only to counter types. */
export function termAppliesSql(termAlias: string, kindCol: string, sampleTypeCol: string): string {
  return `(NOT ${termAlias}.counter_only OR ${valueClassSql(kindCol, sampleTypeCol)} = 'counter')`;
}

/** Fixed-point bits of a profile's share in function_shares_1h (2^18 = 100%: 4e-6 resolution; squares summed over 2^27 profiles fit a BIGINT). */
export const SHARE_BITS = 18;

/** SQL of (profile_id, time, service, instance, version, kind, sample_type, unit, total, duration_ns): interval profiles x their sample types. */
export function intervalTotalsSql(profilesWhere: string): string {
  return `SELECT p.profile_id, p.time, p.service, p.instance, p.version, p.kind, x.s.type AS sample_type, x.s.unit AS unit, x.s.total AS total, p.duration_ns
      FROM profiles p, (SELECT UNNEST(p.sample_types) AS s) x
      WHERE (${profilesWhere}) AND ${valueClassSql('p.kind', 'x.s.type')} = 'interval'`;
}

/**
 * SQL of (the columns of intervalTotalsSql, function, flat, cum, share): per
 * interval (cpu) profile, sample type and function, the function's cum share in fixed point,
 * round(|cum| x 2^SHARE_BITS / total) (halves up; 0 when the total is not positive). The ONE
 * definition the rollup builder sums into function_shares_1h and `fleetprof diff` sums over raw
 * rows, so both give the same integers. `profilesWhere` is a predicate on the view `profiles`
 * (alias p), `functionsWhere` on `functions` (alias f); profiles without a function row get none.
 */
export function profileSharesSql(profilesWhere: string, functionsWhere: string): string {
  return `WITH sp AS (${intervalTotalsSql(profilesWhere)}),
    fc AS (
      SELECT f.profile_id, f.sample_type, f.function, SUM(f.flat::HUGEINT) AS flat, SUM(f.cum::HUGEINT) AS cum FROM functions f WHERE (${functionsWhere}) GROUP BY ALL
    )
    SELECT sp.*, fc.function, fc.flat, fc.cum,
           (CASE WHEN sp.total <= 0 THEN 0 ELSE (2 * ABS(fc.cum) * ${2 ** SHARE_BITS} + sp.total) // (2 * sp.total) END)::BIGINT AS share
    FROM fc JOIN sp ON sp.profile_id = fc.profile_id AND sp.sample_type = fc.sample_type`;
}

import { valueClass, type GaugeAggregate, type ValueClass } from '../model/temporality';
import type { PartitionFilter } from '../store/layout';
import type { TableName } from '../model/schema';
import { cohortPredicate, partitionFilter, type Cohort, type SqlParams } from './cohort';
import { COUNTER_TYPES_SQL } from '../store/rollup-terms';

// What a window of profiles adds up to: one WEIGHT per profile, which every consumer (top, diff,
// flame graphs, export, the digest, the HTTP API) multiplies sample values by. Because pprof's
// flat, cum and merged stacks are linear in sample values, weighting profiles is exactly pprof's
// own arithmetic (`-base` is a merge with weight -1). docs/schema.md, "Values over time", is the
// user-facing description; lib/model/temporality.ts says which sample type is which class.
//
// - interval (CPU): every profile in the window, weight 1.
// - counter, uploaded as delta: every profile in the window, weight 1.
// - counter, uploaded cumulative: per series (service, instance, version, process; split where
//   any counter total of the kind goes down: a restart), +1 on its last snapshot in the window and
//   -1 on its last snapshot before the window (within the look-back). That is exactly
//   `go tool pprof -base <last before> <last in window>` per process; a series with no snapshot
//   before the window counts since process start (+1 only).
// - gauge: per instance (service, instance), the window's snapshots combined by `aggregate`:
//   avg (default) = weight 1 and denominator n (each instance's mean is rounded to an integer,
//   halves away from zero, before instances are summed), max = the snapshot with the largest
//   total of the sample type, last = the latest snapshot, sum = every snapshot.
//
// The relation has columns (profile_id, grp, w, den): consumers sum w x value per group, divide by
// den (roundDivSql), then sum the groups. grp is also the replicate unit of a diff: a profile
// (interval), a process series (counter), an instance (gauge).

export interface WindowOptions {
  aggregate?: GaugeAggregate;
  /** How far before `fromUs` to look for a series' last cumulative snapshot (default DEFAULT_LOOKBACK_US). */
  lookbackUs?: number;
  /** Read rollups where they give the same answer (default true; lib/query/plan.ts); false: raw rows only. */
  rollups?: boolean;
}

/** One hour: longer than any agent or scrape period in practice; a series whose previous snapshot is older counts since process start. */
export const DEFAULT_LOOKBACK_US = 3600 * 1_000_000;

export type WindowCohort = Cohort & WindowOptions;

/** The cohort whose rows a window reads: its own, plus the look-back before it for counters. */
export function scanCohort(c: WindowCohort, sampleType: string): Cohort {
  if (valueClass(c.kind, sampleType) !== 'counter' || c.fromUs === undefined) return c;
  return { ...c, fromUs: Math.max(0, c.fromUs - lookback(c)) };
}

/** The partitions a window query must open (the look-back included, for any counter type of the kind). */
export function windowPartitionFilter(c: WindowCohort): PartitionFilter {
  const counters = c.kind !== 'cpu' && c.kind !== 'goroutine' && c.kind !== 'threadcreate';
  if (!counters || c.fromUs === undefined) return partitionFilter(c);
  return partitionFilter({ ...c, fromUs: Math.max(0, c.fromUs - lookback(c)) });
}

/** A partition filter widened by the default look-back: what a multi-kind reader (the digest) must open. */
export function withLookback<F extends { fromUs?: number }>(f: F, lookbackUs = DEFAULT_LOOKBACK_US): F {
  return f.fromUs === undefined ? f : { ...f, fromUs: Math.max(0, f.fromUs - lookbackUs) };
}

function lookback(c: WindowOptions): number {
  const l = c.lookbackUs ?? DEFAULT_LOOKBACK_US;
  if (!Number.isFinite(l) || l < 0) throw new Error(`look-back must be a non-negative duration, got ${l} us`);
  return l;
}

/** SQL of the weights relation (profile_id, grp, w, den) of a window, for one sample type. */
export function profileWeightsSql(c: WindowCohort, sampleType: string, params: SqlParams): string {
  const cls: ValueClass = valueClass(c.kind, sampleType);
  // The upper bound is in the cohort; the lower one is the window's own (the scan looks back further).
  const inWindow = (col: string) => {
    if (c.fromUs === undefined) return 'true';
    params.win_from_us = BigInt(c.fromUs);
    return `${col} >= make_timestamp($win_from_us::BIGINT)`;
  };
  const pred = cohortPredicate(scanCohort(c, sampleType), 'profiles', { alias: 'p', prefix: 'ws_' });
  Object.assign(params, pred.params);
  const sel = `SELECT p.profile_id, p.service, p.instance, p.version, COALESCE(p.process, '') AS process,
                      COALESCE(p.temporality, '${cls === 'interval' ? 'delta' : 'cumulative'}') AS temporality, p.time, p.sample_types
               FROM profiles p WHERE ${pred.sql}`;
  const instanceKey = `service || '/' || instance`;
  const seriesKey = `service || '/' || instance || '/' || version || '/' || process`;
  if (cls === 'interval') {
    return `SELECT profile_id, profile_id AS grp, 1::BIGINT AS w, 1::BIGINT AS den FROM (${sel})`;
  }
  if (cls === 'gauge') {
    const agg = c.aggregate ?? 'avg';
    params.win_st = sampleType;
    const base = `SELECT profile_id, ${instanceKey} AS grp, time,
                         list_sum(list_transform(list_filter(sample_types, s -> s.type = $win_st), s -> s.total::HUGEINT)) AS total
                  FROM (${sel})`;
    switch (agg) {
      case 'sum':
        return `SELECT profile_id, grp, 1::BIGINT AS w, 1::BIGINT AS den FROM (${base})`;
      case 'avg':
        return `SELECT profile_id, grp, 1::BIGINT AS w, (COUNT(*) OVER (PARTITION BY grp))::BIGINT AS den FROM (${base})`;
      case 'last':
      case 'max': {
        const order = agg === 'last' ? 'time DESC, profile_id DESC' : 'total DESC NULLS LAST, time DESC, profile_id DESC';
        return `SELECT profile_id, grp, 1::BIGINT AS w, 1::BIGINT AS den FROM (
                  SELECT profile_id, grp, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY ${order}) AS rn FROM (${base})
                ) WHERE rn = 1`;
      }
    }
  }
  // Counters. Deltas count as they are; cumulative snapshots by series (see the header).
  const counterTypes = COUNTER_TYPES_SQL;
  const win = inWindow('time');
  return `WITH sel AS (${sel}),
    deltas AS (SELECT profile_id, ${seriesKey} AS grp, 1::BIGINT AS w, 1::BIGINT AS den FROM sel WHERE temporality = 'delta' AND ${win}),
    cum AS (SELECT * FROM sel WHERE temporality = 'cumulative'),
    totals AS (
      SELECT profile_id, ${seriesKey} AS series, time, st.type AS type, st.total AS total
      FROM (SELECT *, UNNEST(sample_types) AS st FROM cum) WHERE list_contains(${counterTypes}, st.type)
    ),
    down AS (
      SELECT profile_id, bool_or(COALESCE(total < prev, false)) AS down FROM (
        SELECT profile_id, total, LAG(total) OVER (PARTITION BY series, type ORDER BY time, profile_id) AS prev FROM totals
      ) GROUP BY profile_id
    ),
    seg AS (
      SELECT c.profile_id, c.service || '/' || c.instance || '/' || c.version || '/' || c.process AS series, c.time, ${inWindow('c.time')} AS inwin,
             SUM(CASE WHEN COALESCE(d.down, false) THEN 1 ELSE 0 END) OVER (PARTITION BY c.service, c.instance, c.version, c.process ORDER BY c.time, c.profile_id ROWS UNBOUNDED PRECEDING) AS segment
      FROM cum c LEFT JOIN down d ON d.profile_id = c.profile_id
    ),
    ranked AS (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY series, segment, inwin ORDER BY time DESC, profile_id DESC) AS rn,
             bool_or(inwin) OVER (PARTITION BY series, segment) AS touched
      FROM seg
    )
    SELECT profile_id, series || '#' || segment::VARCHAR AS grp, CASE WHEN inwin THEN 1 ELSE -1 END::BIGINT AS w, 1::BIGINT AS den
    FROM ranked WHERE rn = 1 AND touched
    UNION ALL SELECT * FROM deltas`;
}


/** round(s / den) in integers, halves away from zero; den = 1 leaves s as is. */
export function roundDivSql(s: string, den: string): string {
  return `(CASE WHEN ${den} = 1 THEN ${s} WHEN ${s} >= 0 THEN (2 * ${s} + ${den}) // (2 * ${den}) ELSE -((-2 * ${s} + ${den}) // (2 * ${den})) END)::HUGEINT`;
}

export interface WeightedSelect {
  /** Table with a profile_id column (functions, stacks, ...), aliased `t`. */
  table: string;
  /** Extra predicate on `t` (sample type, partition columns). */
  where: string;
  /** Grouping expressions over `t`, each `expr AS name`. */
  keys: { expr: string; name: string }[];
  /** Value expressions over `t` to weight and sum, each `expr AS name`. */
  values: { expr: string; name: string }[];
  /** Keep grp in the output (one row per group and key: a diff's replicates). */
  perGroup?: boolean;
  /**
   * Every group's denominator is 1 (unitDenominator): the per-group level is then the identity and
   * the sums are taken per key in one level. Over a raw hour of CPU profiles the per-group level
   * was one hash group per profile and function (grp is the profile): ~70M groups at 1,000
   * instances, for the same sums (docs/performance.md, "The fresh hour").
   */
  unitDen?: boolean;
}

/** Whether every group of a window's weights has den = 1: all but gauge means (profileWeightsSql). */
export function unitDenominator(c: WindowCohort, sampleType: string): boolean {
  return valueClass(c.kind, sampleType) !== 'gauge' || (c.aggregate ?? 'avg') !== 'avg';
}

/**
 * SELECT keys, values: the window's weighted sums of `values` per key. `weights` is the SQL of
 * profileWeightsSql. Two levels: per group (sum w x v, then divide by den), then over groups.
 */
export function weightedSelectSql(weights: string, s: WeightedSelect): string {
  const keySel = s.keys.map((k) => `${k.expr} AS ${k.name}`);
  if (s.unitDen && !s.perGroup) {
    // den = 1: round(sum / 1) is the sum, and a sum of per-group sums is the sum per key.
    return `SELECT ${[...keySel, ...s.values.map((v) => `SUM((${v.expr})::HUGEINT * pw.w)::HUGEINT AS ${v.name}`)].join(', ')}
       FROM ${s.table} t JOIN (${weights}) pw ON t.profile_id = pw.profile_id
       WHERE ${s.where}
       GROUP BY ALL`;
  }
  const inner = `SELECT pw.grp AS grp${keySel.length ? ', ' + keySel.join(', ') : ''},
         ${s.values.map((v) => `${roundDivSql(`SUM((${v.expr})::HUGEINT * pw.w)`, 'MIN(pw.den)')} AS ${v.name}`).join(', ')}
       FROM ${s.table} t JOIN (${weights}) pw ON t.profile_id = pw.profile_id
       WHERE ${s.where}
       GROUP BY ALL`;
  if (s.perGroup) return inner;
  const names = s.keys.map((k) => k.name);
  return `SELECT ${[...names, ...s.values.map((v) => `SUM(${v.name})::HUGEINT AS ${v.name}`)].join(', ')} FROM (${inner}) GROUP BY ALL`;
}

/** The WHERE of a data table (functions, stacks) for a window: the scanned cohort's partitions and identity columns. */
export function windowRowsWhere(c: WindowCohort, sampleType: string, params: SqlParams, table: TableName, alias: string): string {
  const pred = cohortPredicate(scanCohort(c, sampleType), table, { alias, prefix: 'wr_' });
  Object.assign(params, pred.params);
  return pred.sql;
}

import { isoFromUs } from '../model/time';
import { cohortPredicate, type CohortFilter } from './cohort';
import type { QueryEngine } from './engine';

// A service's profile-derived metrics over time (GET /timeline), one value per bucket, for the web
// UI's timeline. GC pause and GC CPU come from GET /gc (lib/query/gc.ts) and are not repeated here.
//
// Every series is "per instance, then summed over instances", so a fleet of N instances reads N
// times one instance:
// - cpu_cores: each CPU profile's cpu total / its duration (cores busy while profiling); per
//   instance the mean of its profiles in the bucket.
// - inuse_heap_bytes (heap inuse_space), goroutines (goroutine count): gauges; per instance the
//   mean of its snapshots in the bucket.
// - alloc_bytes_per_s (allocs or heap alloc_space), mutex_wait_s_per_s and block_wait_s_per_s
//   (delay): counters, as rates. Delta uploads: value / duration (or / the time since the series'
//   previous upload when the profile has no duration). Cumulative uploads: the increase since the
//   series' previous snapshot (service, instance, version, process, as lib/query/window.ts; a drop
//   is a restart and counts from zero) / the time between them. The first snapshot of a series has
//   no rate. Per instance the mean of the rates ending in the bucket. Allocation comes from allocs
//   profiles where a series has them and from heap profiles otherwise (both carry alloc_space).

export const TIMELINE_SERIES = ['cpu_cores', 'alloc_bytes_per_s', 'inuse_heap_bytes', 'goroutines', 'mutex_wait_s_per_s', 'block_wait_s_per_s'] as const;
export type TimelineSeries = (typeof TIMELINE_SERIES)[number];

export interface Timeline {
  bucket_s: number;
  /** Bucket starts, RFC 3339, ascending; every series has one value (or null) per bucket. */
  times: string[];
  series: Record<TimelineSeries, (number | null)[]>;
}

export interface TimelineQuery extends CohortFilter {
  bucketUs: number;
}

export async function timeline(engine: QueryEngine, q: TimelineQuery): Promise<Timeline> {
  if (!Number.isSafeInteger(q.bucketUs) || q.bucketUs <= 0) throw new Error('bucket must be a positive whole number of microseconds');
  const { sql: w, params } = cohortPredicate(q, 'profiles');
  const rows = await engine.rows(
    `WITH p AS (
       SELECT service, instance, version, process, kind, temporality, duration_ns, epoch_us(time) AS t_us,
              (epoch_us(time) // $bucket_us::BIGINT) * $bucket_us::BIGINT AS b_us,
              CASE
                WHEN kind = 'cpu' THEN 'cpu_cores'
                WHEN kind = 'heap' THEN 'inuse_heap_bytes'
                WHEN kind = 'goroutine' THEN 'goroutines'
              END AS gauge,
              list_filter(sample_types, s -> s.type = CASE kind WHEN 'cpu' THEN 'cpu' WHEN 'heap' THEN 'inuse_space' ELSE 'goroutine' END)[1].total AS gv,
              CASE WHEN kind IN ('allocs', 'heap') THEN 'alloc_bytes_per_s' WHEN kind = 'mutex' THEN 'mutex_wait_s_per_s' WHEN kind = 'block' THEN 'block_wait_s_per_s' END AS counter,
              list_filter(sample_types, s -> s.type = CASE WHEN kind IN ('allocs', 'heap') THEN 'alloc_space' ELSE 'delay' END)[1].total AS cv
       FROM profiles WHERE ${w}
     ),
     gauges AS (
       SELECT gauge AS series, b_us, instance,
              avg(CASE WHEN gauge = 'cpu_cores' THEN CASE WHEN duration_ns > 0 THEN gv / duration_ns END ELSE gv END) AS v
       FROM p WHERE gauge IS NOT NULL AND gv IS NOT NULL GROUP BY ALL
     ),
     -- allocs profiles win over heap profiles for the allocation rate of a series that has both.
     cs AS (
       SELECT *, count(*) FILTER (WHERE kind = 'allocs') OVER (PARTITION BY service, instance, version, process) AS allocs_n
       FROM p WHERE counter IS NOT NULL AND cv IS NOT NULL
     ),
     steps AS (
       SELECT counter, b_us, instance, temporality, duration_ns, t_us, cv,
              lag(cv) OVER s AS prev_v, lag(t_us) OVER s AS prev_t
       FROM cs WHERE counter <> 'alloc_bytes_per_s' OR kind = CASE WHEN allocs_n > 0 THEN 'allocs' ELSE 'heap' END
       WINDOW s AS (PARTITION BY counter, service, instance, version, process ORDER BY t_us)
     ),
     rates AS (
       SELECT counter AS series, b_us, instance,
              avg(CASE
                    WHEN temporality = 'delta' AND duration_ns > 0 THEN cv * 1e9 / duration_ns
                    WHEN temporality = 'delta' AND prev_t IS NOT NULL AND t_us > prev_t THEN cv * 1e6 / (t_us - prev_t)
                    WHEN temporality <> 'delta' AND prev_t IS NOT NULL AND t_us > prev_t
                      THEN (CASE WHEN cv >= prev_v THEN cv - prev_v ELSE cv END) * 1e6 / (t_us - prev_t)
                  END) AS v
       FROM steps GROUP BY ALL
     )
     SELECT series, b_us, sum(v) AS v FROM (SELECT * FROM gauges UNION ALL SELECT * FROM rates) WHERE v IS NOT NULL
     GROUP BY series, b_us ORDER BY b_us`,
    { ...params, bucket_us: BigInt(q.bucketUs) },
  );
  const starts = [...new Set(rows.map((r) => Number(r.b_us)))].sort((a, b) => a - b);
  const index = new Map(starts.map((b, i) => [b, i]));
  const series = Object.fromEntries(TIMELINE_SERIES.map((s) => [s, starts.map(() => null)])) as Record<TimelineSeries, (number | null)[]>;
  for (const r of rows) {
    const s = r.series as TimelineSeries;
    // delay is in nanoseconds: seconds of waiting per second.
    const scale = s === 'mutex_wait_s_per_s' || s === 'block_wait_s_per_s' ? 1e-9 : 1;
    series[s][index.get(Number(r.b_us))!] = Number(r.v) * scale;
  }
  return { bucket_s: q.bucketUs / 1e6, times: starts.map(isoFromUs), series };
}

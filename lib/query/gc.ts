import { isoFromUs } from '../model/time';
import { cohortPredicate, type CohortFilter } from './cohort';
import type { QueryEngine } from './engine';

// GC trends: the gc_cycles table aggregated per service, version and time bucket.
//
// Exact definitions (docs/cli.md repeats them; test/gc-trends.test.ts recomputes every number from
// the parsed rows):
// - A cycle belongs to the bucket holding its start time; buckets are aligned to the Unix epoch
//   (so `1d` buckets are UTC days), [start, start + bucket).
// - A stream is one process lifetime in one uploaded log: (profile_id, segment). Its observed window
//   is [first cycle start, last cycle end] over the cycles the filters select (cycle end = start +
//   sweep_term_ns + mark_ns + mark_term_ns), clipped to [--from, --to).
// - covered_ns of a bucket = sum over the streams of the bucket's service and version of
//   |window ∩ bucket|: wall time during which instances were observed, whether or not they ran a
//   cycle in that bucket.
// - cycles_per_min = cycles / (covered_ns / 60e9): GC frequency per instance.
// - pause percentiles: nearest rank over every cycle of the bucket (all instances pooled): p_q is
//   the pause at 1-based rank max(1, ceil(q * n)) of the n pauses sorted ascending (DuckDB
//   quantile_disc with a DECIMAL q, which computes that rank exactly).
// - gc_cpu_fraction = sum of GC CPU / sum over streams of |window ∩ bucket| x procs, where GC CPU of
//   a cycle = sweep_term_cpu + assist + background + idle + mark_term_cpu and procs is the largest
//   P the stream printed.
// - assist_share = sum assist / (sum assist + sum background + sum idle).
// - heap averages are the mean over the bucket's cycles rounded half up to whole bytes; maxima are
//   the largest value. goal_live_ratio = sum heap_goal / sum heap_live (= avg goal / avg live).
// Ratios whose denominator is 0 are null.

/** The cohort's [fromUs, toUs) is on the cycle start time. */
export interface GcQuery extends CohortFilter {
  /** Bucket width in microseconds (default 1 hour). */
  bucketUs?: number;
  /** Only for the commands the diagnostics suggest (`fleetprof top --data DIR ...`). */
  dataDir?: string;
  /** Read gc_1h / gc_1d where they answer exactly (default true; lib/query/gc-rollup.ts); false: raw rows only. */
  rollups?: boolean;
}

/** Exact sums behind one bucket; what the metrics and the diagnostics are computed from. */
export interface GcBucketStats {
  service: string;
  version: string;
  startUs: number;
  endUs: number;
  instances: number;
  cycles: number;
  forcedCycles: number;
  pauseP50Ns: bigint;
  pauseP95Ns: bigint;
  pauseP99Ns: bigint;
  pauseMaxNs: bigint;
  gcCpuNs: bigint;
  sweepTermCpuNs: bigint;
  markTermCpuNs: bigint;
  assistCpuNs: bigint;
  backgroundCpuNs: bigint;
  idleCpuNs: bigint;
  heapLiveSum: bigint;
  heapLiveMax: bigint;
  heapGoalSum: bigint;
  heapGoalMax: bigint;
  /** Sum of stacks_bytes + globals_bytes (0 where the version does not print them). */
  stacksGlobalsSum: bigint;
  coveredNs: bigint;
  /** sum over streams of |window ∩ bucket| x procs. */
  capacityNs: bigint;
  /** Where the numbers come from (default gctrace); lib/query/gc-metrics.ts makes runtime_metrics ones. */
  source?: GcSource;
  /** runtime/metrics only: mean goroutine count, p99 scheduling latency. */
  goroutinesAvg?: number;
  schedLatencyP99Ns?: bigint;
}

export type GcSource = 'gctrace' | 'runtime_metrics';

/** The documented per-bucket metrics (docs/cli.md); lib/detect/gc-report.ts adds the diagnostics. */
export interface GcBucketMetrics {
  service: string;
  version: string;
  start: string;
  cycles: number;
  cycles_per_min: number | null;
  pause_p50_ns: bigint;
  pause_p95_ns: bigint;
  pause_p99_ns: bigint;
  pause_max_ns: bigint;
  gc_cpu_fraction: number | null;
  assist_share: number | null;
  heap_live_avg_bytes: bigint;
  heap_live_max_bytes: bigint;
  heap_goal_avg_bytes: bigint;
  heap_goal_max_bytes: bigint;
  goal_live_ratio: number | null;
  instances: number;
  forced_cycles: number;
  covered_ns: bigint;
  /** gctrace (gc_cycles) or runtime_metrics (lib/query/gc-metrics.ts). */
  source: GcSource;
  /** runtime_metrics only (null from gctrace): mean goroutines per snapshot, p99 scheduling latency. */
  goroutines_avg: number | null;
  sched_latency_p99_ns: bigint | null;
}

export const DEFAULT_BUCKET_US = 3600 * 1e6;

/** One row per service, version and bucket with the exact sums; ordered by service, version, start. */
export async function gcBucketStats(engine: QueryEngine, q: GcQuery): Promise<GcBucketStats[]> {
  const bucketUs = q.bucketUs ?? DEFAULT_BUCKET_US;
  if (!Number.isSafeInteger(bucketUs) || bucketUs <= 0) throw new Error('bucket must be a positive whole number of microseconds');
  const { sql: w, params: cohortParams } = cohortPredicate(q, 'gc_cycles');
  const params = { ...cohortParams, bucket_ns: BigInt(bucketUs) * 1000n };
  // The stream window is clipped to [from, to) too, so covered time never leaves the query range.
  const lo = q.fromUs !== undefined ? `GREATEST(s.s_ns, b.b_ns, $from_us::BIGINT * 1000)` : 'GREATEST(s.s_ns, b.b_ns)';
  const hi = q.toUs !== undefined ? `LEAST(s.e_ns, b.b_ns + $bucket_ns::BIGINT, $to_us::BIGINT * 1000)` : 'LEAST(s.e_ns, b.b_ns + $bucket_ns::BIGINT)';
  const rows = await engine.rows(
    `WITH c AS (
       SELECT service, version, instance, profile_id, segment, procs, forced, pause_ns,
              epoch_us(time) * 1000 AS t_ns,
              epoch_us(time) * 1000 + sweep_term_ns + mark_ns + mark_term_ns AS end_ns,
              (epoch_us(time) * 1000 // $bucket_ns::BIGINT) * $bucket_ns::BIGINT AS b_ns,
              sweep_term_cpu_ns, assist_cpu_ns, background_cpu_ns, idle_cpu_ns, mark_term_cpu_ns,
              heap_live_bytes, heap_goal_bytes, COALESCE(stacks_bytes, 0) + COALESCE(globals_bytes, 0) AS sg_bytes
       FROM gc_cycles WHERE ${w}
     ),
     streams AS (
       SELECT service, version, profile_id, segment, MIN(t_ns) AS s_ns, MAX(end_ns) AS e_ns, MAX(procs) AS procs
       FROM c GROUP BY service, version, profile_id, segment
     ),
     b AS (
       SELECT service, version, b_ns,
              COUNT(DISTINCT instance) AS instances,
              COUNT(*) AS cycles,
              COUNT(*) FILTER (WHERE forced) AS forced_cycles,
              quantile_disc(pause_ns, [0.5, 0.95, 0.99]) AS pq,
              MAX(pause_ns) AS pause_max,
              SUM(sweep_term_cpu_ns)::HUGEINT AS sweep_term_cpu,
              SUM(assist_cpu_ns)::HUGEINT AS assist,
              SUM(background_cpu_ns)::HUGEINT AS background,
              SUM(idle_cpu_ns)::HUGEINT AS idle,
              SUM(mark_term_cpu_ns)::HUGEINT AS mark_term_cpu,
              SUM(heap_live_bytes)::HUGEINT AS live_sum,
              MAX(heap_live_bytes) AS live_max,
              SUM(heap_goal_bytes)::HUGEINT AS goal_sum,
              MAX(heap_goal_bytes) AS goal_max,
              SUM(sg_bytes)::HUGEINT AS sg_sum
       FROM c GROUP BY service, version, b_ns
     ),
     cover AS (
       SELECT b.service, b.version, b.b_ns,
              SUM(GREATEST(0, ${hi} - ${lo}))::HUGEINT AS covered,
              SUM(GREATEST(0, ${hi} - ${lo})::HUGEINT * s.procs)::HUGEINT AS capacity
       FROM b JOIN streams s ON s.service = b.service AND s.version = b.version
       GROUP BY b.service, b.version, b.b_ns
     )
     SELECT b.*, cover.covered, cover.capacity
     FROM b JOIN cover ON cover.service = b.service AND cover.version = b.version AND cover.b_ns = b.b_ns
     ORDER BY b.service, b.version, b.b_ns`,
    params,
  );
  return rows.map((r) => {
    const pq = r.pq as bigint[];
    return bucketStatsRow(r, bucketUs, { p50: BigInt(pq[0]), p95: BigInt(pq[1]), p99: BigInt(pq[2]), max: BigInt(r.pause_max as bigint) });
  });
}

/**
 * One bucket row of the SQL here or in lib/query/gc-rollup.ts (columns b_ns, instances, cycles,
 * forced_cycles, sweep_term_cpu, assist, background, idle, mark_term_cpu, live_sum, live_max,
 * goal_sum, goal_max, sg_sum, covered, capacity) as GcBucketStats, with the pause percentiles each
 * computes its own way: one home, so raw and rollup answers cannot drift apart field by field.
 */
export function bucketStatsRow(r: Record<string, unknown>, bucketUs: number, pause: { p50: bigint; p95: bigint; p99: bigint; max: bigint }): GcBucketStats {
  const big = (k: string) => BigInt(r[k] as bigint);
  const startUs = Number(big('b_ns') / 1000n);
  const sweepTermCpuNs = big('sweep_term_cpu');
  const assistCpuNs = big('assist');
  const backgroundCpuNs = big('background');
  const idleCpuNs = big('idle');
  const markTermCpuNs = big('mark_term_cpu');
  return {
    service: r.service as string,
    version: r.version as string,
    startUs,
    endUs: startUs + bucketUs,
    instances: Number(r.instances),
    cycles: Number(r.cycles),
    forcedCycles: Number(r.forced_cycles),
    pauseP50Ns: pause.p50,
    pauseP95Ns: pause.p95,
    pauseP99Ns: pause.p99,
    pauseMaxNs: pause.max,
    gcCpuNs: sweepTermCpuNs + assistCpuNs + backgroundCpuNs + idleCpuNs + markTermCpuNs,
    sweepTermCpuNs,
    markTermCpuNs,
    assistCpuNs,
    backgroundCpuNs,
    idleCpuNs,
    heapLiveSum: big('live_sum'),
    heapLiveMax: big('live_max'),
    heapGoalSum: big('goal_sum'),
    heapGoalMax: big('goal_max'),
    stacksGlobalsSum: big('sg_sum'),
    coveredNs: big('covered'),
    capacityNs: big('capacity'),
  };
}

const ratio = (num: bigint, den: bigint): number | null => (den === 0n ? null : Number(num) / Number(den));
/** Mean rounded half up to a whole number (values are non-negative). */
export const meanHalfUp = (sum: bigint, n: number): bigint => (sum * 2n + BigInt(n)) / (2n * BigInt(n));

/** The documented per-bucket metrics, from the exact sums. */
export function bucketMetrics(s: GcBucketStats): GcBucketMetrics {
  return {
    service: s.service,
    version: s.version,
    start: isoFromUs(s.startUs),
    cycles: s.cycles,
    cycles_per_min: s.coveredNs === 0n ? null : (s.cycles * 60e9) / Number(s.coveredNs),
    pause_p50_ns: s.pauseP50Ns,
    pause_p95_ns: s.pauseP95Ns,
    pause_p99_ns: s.pauseP99Ns,
    pause_max_ns: s.pauseMaxNs,
    gc_cpu_fraction: ratio(s.gcCpuNs, s.capacityNs),
    assist_share: ratio(s.assistCpuNs, s.assistCpuNs + s.backgroundCpuNs + s.idleCpuNs),
    heap_live_avg_bytes: meanHalfUp(s.heapLiveSum, s.cycles),
    heap_live_max_bytes: s.heapLiveMax,
    heap_goal_avg_bytes: meanHalfUp(s.heapGoalSum, s.cycles),
    heap_goal_max_bytes: s.heapGoalMax,
    goal_live_ratio: ratio(s.heapGoalSum, s.heapLiveSum),
    instances: s.instances,
    forced_cycles: s.forcedCycles,
    covered_ns: s.coveredNs,
    source: s.source ?? 'gctrace',
    goroutines_avg: s.goroutinesAvg ?? null,
    sched_latency_p99_ns: s.schedLatencyP99Ns ?? null,
  };
}

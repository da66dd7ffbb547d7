import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { DEFAULT_BUCKET_US, gcBucketStats, type GcBucketStats, type GcQuery } from './gc';
import { gcBucketStatsFromRollups } from './gc-rollup';

// GC trend buckets from runtime/metrics snapshots (the agent uploads them every 10 s), for
// services that send no gctrace: the same GcBucketStats as lib/query/gc.ts computes from
// gc_cycles, so `fleetprof gc`, its diagnostics and the GC detector work on either source.
//
// Definitions (docs/cli.md, "fleetprof gc", repeats them):
// - A series is (service, instance, version, process) ordered by snapshot time (process: the
//   uploader's process identity, '' when unknown or written before the column existed); an
//   increase is the difference of a cumulative metric between consecutive snapshots, counted in
//   the bucket of the later snapshot. A new process starts a new series (its first snapshot pairs
//   with nothing), so a restart, or two processes reporting under one instance name, never pair
//   snapshots of different processes; without a process identity a pair where the metric went
//   down is taken as a restart and skipped.
// - cycles = increases of /gc/cycles/total:gc-cycles, forced_cycles of /gc/cycles/forced.
// - covered_ns = the time between the snapshot pairs counted; capacity_ns = increases of
//   /cpu/classes/total:cpu-seconds (GOMAXPROCS x wall time, the runtime's own figure).
// - GC CPU = increases of /cpu/classes/gc/total (mark assist + dedicated + idle + pause);
//   assist, background (dedicated) and idle from the mark classes; pause CPU as mark termination.
// - pause percentiles: nearest rank over the increases of the /sched/pauses/total/gc:seconds
//   histogram (Go 1.22+; /gc/pauses:seconds before), each pause taken as its bucket's upper bound
//   (the lower bound for the +Inf bucket). The histogram counts each stop-the-world pause; a
//   gctrace cycle's pause is the sum of its two (sweep and mark termination), so percentiles from
//   runtime/metrics are those of single pauses.
// - live heap, heap goal, stacks + globals: the mean of the bucket's snapshots of /gc/heap/live,
//   /gc/heap/goal, /gc/scan/stack + /gc/scan/globals (reported per cycle as that mean).
// - goroutines_avg: mean of /sched/goroutines:goroutines snapshots; sched_latency_p99_ns: nearest
//   rank p99 of the increases of the /sched/latencies:seconds histogram (time runnable goroutines
//   waited for a thread).

const COUNTERS = [
  '/gc/cycles/total:gc-cycles',
  '/gc/cycles/forced:gc-cycles',
  '/cpu/classes/total:cpu-seconds',
  '/cpu/classes/gc/total:cpu-seconds',
  '/cpu/classes/gc/mark/assist:cpu-seconds',
  '/cpu/classes/gc/mark/dedicated:cpu-seconds',
  '/cpu/classes/gc/mark/idle:cpu-seconds',
  '/cpu/classes/gc/pause:cpu-seconds',
] as const;
const GAUGES = ['/gc/heap/live:bytes', '/gc/heap/goal:bytes', '/gc/scan/stack:bytes', '/gc/scan/globals:bytes', '/sched/goroutines:goroutines'] as const;
const PAUSES = ['/sched/pauses/total/gc:seconds', '/gc/pauses:seconds'] as const;
const LATENCIES = '/sched/latencies:seconds';

interface Key {
  service: string;
  version: string;
  b: number;
}
const keyOf = (k: Key) => `${k.service}\u0000${k.version}\u0000${k.b}`;

/** Nearest-rank percentiles (q in (0, 1]) of a histogram given as ascending [value, count] pairs. */
export function histogramQuantiles(pairs: [number, number][], qs: number[]): number[] {
  const n = pairs.reduce((a, [, c]) => a + c, 0);
  return qs.map((q) => {
    if (n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * n));
    let acc = 0;
    for (const [v, c] of pairs) {
      acc += c;
      if (acc >= rank) return v;
    }
    return pairs[pairs.length - 1][0];
  });
}

/**
 * Per service, version and bucket, from runtime_metrics; ordered like gcBucketStats. `skip`: the
 * (service, version) pairs the caller answers from gctrace, left out in SQL (every statement
 * partitions by service and version, so the others' answers do not change): a fleet whose
 * services all send gctrace then reads no runtime_metrics row through the window functions.
 */
export async function gcBucketStatsFromMetrics(engine: QueryEngine, q: GcQuery, skip: readonly { service: string; version: string }[] = []): Promise<GcBucketStats[]> {
  const bucketUs = q.bucketUs ?? DEFAULT_BUCKET_US;
  if (!Number.isSafeInteger(bucketUs) || bucketUs <= 0) throw new Error('bucket must be a positive whole number of microseconds');
  const cohort = cohortPredicate(q, 'runtime_metrics');
  const pred = { sql: cohort.sql, params: { ...cohort.params } as SqlParams };
  if (skip.length > 0) {
    skip.forEach((k, i) => Object.assign(pred.params, { [`skip_s${i}`]: k.service, [`skip_v${i}`]: k.version }));
    pred.sql = `(${pred.sql}) AND NOT (${skip.map((_, i) => `(service = $skip_s${i} AND version = $skip_v${i})`).join(' OR ')})`;
    // One scan to learn that no other service sent runtime/metrics, instead of the four below (a
    // redelivered copy has its original's service and version: no dedupe needed to answer it).
    const all = await engine.undedupedSource('runtime_metrics');
    if (all === null || (await engine.rows(`SELECT 1 AS x FROM ${all} WHERE ${pred.sql} LIMIT 1`, pred.params)).length === 0) return [];
  }
  const names = [...COUNTERS, ...GAUGES];
  const params: SqlParams = { ...pred.params, bucket_us: BigInt(bucketUs) };
  names.forEach((n, i) => (params[`n${i}`] = n));
  const inList = names.map((_, i) => `$n${i}`).join(', ');
  const scalars = await engine.rows(
    `WITH s AS (
       SELECT service, version, instance, name, time, value,
              LAG(value) OVER w AS pv, LAG(time) OVER w AS pt
       FROM runtime_metrics WHERE ${pred.sql} AND name IN (${inList}) AND value IS NOT NULL
       WINDOW w AS (PARTITION BY service, instance, version, COALESCE(process, ''), name ORDER BY time)
     )
     SELECT service, version, (epoch_us(time) // $bucket_us::BIGINT) * $bucket_us::BIGINT AS b, name,
            SUM(CASE WHEN pv IS NOT NULL AND value >= pv THEN value - pv ELSE 0 END) AS inc,
            SUM(CASE WHEN pv IS NOT NULL AND value >= pv THEN epoch_us(time) - epoch_us(pt) ELSE 0 END) AS covered_us,
            AVG(value) AS avg, COUNT(DISTINCT instance) AS instances
     FROM s GROUP BY ALL ORDER BY service, version, b`,
    params,
  );
  const hist = async (name: string): Promise<Map<string, [number, number][]>> => {
    const hp: SqlParams = { ...pred.params, bucket_us: BigInt(bucketUs), hname: name };
    const rows = await engine.rows(
      `WITH h AS (
         SELECT service, version, instance, time, buckets, counts,
                LAG(counts) OVER (PARTITION BY service, instance, version, COALESCE(process, '') ORDER BY time) AS prev
         FROM runtime_metrics WHERE ${pred.sql} AND name = $hname AND counts IS NOT NULL
       ),
       d AS (
         SELECT service, version, (epoch_us(time) // $bucket_us::BIGINT) * $bucket_us::BIGINT AS b, buckets,
                list_transform(range(1, len(counts) + 1), i -> counts[i] - prev[i]) AS dc
         FROM h WHERE prev IS NOT NULL AND len(prev) = len(counts)
       ),
       u AS (
         SELECT service, version, b, i, buckets[i] AS lo, buckets[i + 1] AS hi, dc[i] AS c
         FROM (SELECT *, UNNEST(range(1, len(dc) + 1)) AS i FROM d WHERE list_min(dc) >= 0)
       )
       SELECT service, version, b, CASE WHEN isinf(hi) THEN lo ELSE hi END AS v, SUM(c) AS c
       FROM u WHERE c > 0 GROUP BY ALL ORDER BY service, version, b, v`,
      hp,
    );
    const m = new Map<string, [number, number][]>();
    for (const r of rows) {
      const k = keyOf({ service: r.service as string, version: r.version as string, b: Number(r.b) });
      if (!m.has(k)) m.set(k, []);
      m.get(k)!.push([Number(r.v), Number(r.c)]);
    }
    return m;
  };
  // Per service, version and bucket: the Go 1.22+ histogram where it has one, else the older name.
  const pauses = await hist(PAUSES[0]);
  const scalarKeys = scalars.map((r) => keyOf({ service: r.service as string, version: r.version as string, b: Number(r.b) }));
  if (scalarKeys.some((k) => !pauses.has(k))) for (const [k, v] of await hist(PAUSES[1])) if (!pauses.has(k)) pauses.set(k, v);
  const latencies = await hist(LATENCIES);

  const byKey = new Map<string, { key: Key; m: Map<string, { inc: number; covered: number; avg: number; instances: number }> }>();
  for (const r of scalars) {
    const key = { service: r.service as string, version: r.version as string, b: Number(r.b) };
    const k = keyOf(key);
    if (!byKey.has(k)) byKey.set(k, { key, m: new Map() });
    byKey.get(k)!.m.set(r.name as string, { inc: Number(r.inc), covered: Number(r.covered_us), avg: Number(r.avg), instances: Number(r.instances) });
  }
  const out: GcBucketStats[] = [];
  for (const [k, { key, m }] of byKey) {
    const inc = (n: string) => m.get(n)?.inc ?? 0;
    const avg = (n: string) => m.get(n)?.avg ?? 0;
    const ns = (n: string) => BigInt(Math.round(inc(n) * 1e9));
    const cycles = Math.round(inc('/gc/cycles/total:gc-cycles'));
    const per = (v: number) => BigInt(Math.round(v)) * BigInt(cycles);
    const pq = histogramQuantiles(pauses.get(k) ?? [], [0.5, 0.95, 0.99, 1]).map((s) => BigInt(Math.round(s * 1e9)));
    const lat = latencies.get(k);
    const cyc = m.get('/gc/cycles/total:gc-cycles');
    out.push({
      service: key.service,
      version: key.version,
      startUs: key.b,
      endUs: key.b + bucketUs,
      instances: Math.max(0, ...[...m.values()].map((x) => x.instances)),
      cycles,
      forcedCycles: Math.round(inc('/gc/cycles/forced:gc-cycles')),
      pauseP50Ns: pq[0],
      pauseP95Ns: pq[1],
      pauseP99Ns: pq[2],
      pauseMaxNs: pq[3],
      gcCpuNs: ns('/cpu/classes/gc/total:cpu-seconds'),
      sweepTermCpuNs: 0n,
      markTermCpuNs: ns('/cpu/classes/gc/pause:cpu-seconds'),
      assistCpuNs: ns('/cpu/classes/gc/mark/assist:cpu-seconds'),
      backgroundCpuNs: ns('/cpu/classes/gc/mark/dedicated:cpu-seconds'),
      idleCpuNs: ns('/cpu/classes/gc/mark/idle:cpu-seconds'),
      heapLiveSum: per(avg('/gc/heap/live:bytes')),
      heapLiveMax: BigInt(Math.round(avg('/gc/heap/live:bytes'))),
      heapGoalSum: per(avg('/gc/heap/goal:bytes')),
      heapGoalMax: BigInt(Math.round(avg('/gc/heap/goal:bytes'))),
      stacksGlobalsSum: per(avg('/gc/scan/stack:bytes') + avg('/gc/scan/globals:bytes')),
      coveredNs: BigInt(Math.round((cyc?.covered ?? 0) * 1000)),
      capacityNs: ns('/cpu/classes/total:cpu-seconds'),
      source: 'runtime_metrics',
      goroutinesAvg: m.has('/sched/goroutines:goroutines') ? avg('/sched/goroutines:goroutines') : undefined,
      schedLatencyP99Ns: lat ? BigInt(Math.round(histogramQuantiles(lat, [0.99])[0] * 1e9)) : undefined,
    });
  }
  return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : a.startUs - b.startUs));
}

/**
 * GC buckets from whichever source a service has: gctrace (gc_cycles) where a service and version
 * sent any in the range, runtime/metrics otherwise. Ordered by service, version, start.
 */
export async function gcBucketStatsAnySource(engine: QueryEngine, q: GcQuery): Promise<GcBucketStats[]> {
  const trace = (q.rollups !== false ? await gcBucketStatsFromRollups(engine, q) : null) ?? (await gcBucketStats(engine, q));
  const traced = new Set(trace.map((s) => `${s.service}\u0000${s.version}`));
  const skip = [...new Map(trace.map((s) => [`${s.service}\u0000${s.version}`, { service: s.service, version: s.version }])).values()];
  const metrics = (await gcBucketStatsFromMetrics(engine, q, skip)).filter((s) => !traced.has(`${s.service}\u0000${s.version}`) && s.cycles > 0);
  return [...trace, ...metrics].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : a.startUs - b.startUs));
}

/** The runtime/metrics gauge of the goroutine count. */
export const GOROUTINES_METRIC = '/sched/goroutines:goroutines';

/**
 * Per instance, the time-average of a runtime/metrics gauge over the cohort's span (the mean of the
 * instance's snapshots: the agent snapshots at a fixed interval), ordered by instance: the
 * replicates of a gauge as lib/detect/evidence.ts takes them from profiles.
 */
export async function gaugeInstanceMeans(
  engine: QueryEngine,
  q: GcQuery,
  name: string,
): Promise<{ instances: { instance: string; mean: number; snapshots: number }[]; versions: string[] }> {
  const pred = cohortPredicate(q, 'runtime_metrics');
  const rows = await engine.rows(
    `SELECT instance, AVG(value) AS mean, COUNT(*) AS snapshots, list(DISTINCT version) AS versions
     FROM runtime_metrics WHERE ${pred.sql} AND name = $gauge AND value IS NOT NULL
     GROUP BY instance ORDER BY instance`,
    { ...pred.params, gauge: name },
  );
  const versions = [...new Set(rows.flatMap((r) => (r.versions as string[] | null) ?? []))].sort();
  return { instances: rows.map((r) => ({ instance: r.instance as string, mean: Number(r.mean), snapshots: Number(r.snapshots) })), versions };
}

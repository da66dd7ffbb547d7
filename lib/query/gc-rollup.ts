import { gcHourRowsSql } from '../store/rollup-gc';
import { cohortPredicate, type SqlParams } from './cohort';
import type { QueryEngine } from './engine';
import { bucketStatsRow, DEFAULT_BUCKET_US, type GcBucketStats, type GcQuery } from './gc';

// `fleetprof gc` from gc_1d / gc_1h (lib/model/tables/rollup-gc.ts) for windows of whole hours
// with buckets of whole hours: the same GcBucketStats as lib/query/gc.ts computes from gc_cycles,
// every figure equal (test/gc-rollup.test.ts). Whole days come from gc_1d when the bucket is whole
// days, other rolled-up hours from gc_1h, and hours not rolled up yet from the raw rows in the
// very form of an hour row (rollup-gc.ts gcHourRowsSql), so the parts add up alike:
// - sums add, maxima max, pause histograms merge, instance sets unite;
// - covered and capacity: the local sums of every part, minus the local pieces that a `retract`
//   entry moves into a stream, plus per stream (its pieces in the window joined) what the raw rule
//   gives: |[first start, last end] ∩ bucket ∩ window| (x procs).

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

type Span = [number, number];
const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
const spansSql = (col: string, spans: Span[]) => (spans.length === 0 ? 'false' : '(' + spans.map(([a, b]) => `(${col} >= ${ts(a)} AND ${col} < ${ts(b)})`).join(' OR ') + ')');

function runs(points: number[], step: number): Span[] {
  const out: Span[] = [];
  for (const p of [...points].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last[1] === p) last[1] = p + step;
    else out.push([p, p + step]);
  }
  return out;
}

/** Nearest rank (1-based max(1, ceil(q x n)), q = num / 100 exactly) over an ascending histogram. */
function rank(hist: { p: bigint; n: bigint }[], n: bigint, pct: bigint): bigint {
  let r = (pct * n + 99n) / 100n;
  if (r < 1n) r = 1n;
  let acc = 0n;
  for (const h of hist) {
    acc += h.n;
    if (acc >= r) return h.p;
  }
  return hist[hist.length - 1].p;
}

/**
 * GC buckets from the rollups, or null when they cannot answer the query exactly (not whole hours,
 * instance or label filters, buckets not whole hours) or hold none of its hours.
 */
export async function gcBucketStatsFromRollups(engine: QueryEngine, q: GcQuery): Promise<GcBucketStats[] | null> {
  const bucketUs = q.bucketUs ?? DEFAULT_BUCKET_US;
  const F = q.fromUs;
  const T = q.toUs;
  if (F === undefined || T === undefined || T <= F || F % HOUR_US !== 0 || T % HOUR_US !== 0) return null;
  if (bucketUs % HOUR_US !== 0 || q.instance !== undefined || Object.keys(q.labels ?? {}).length > 0) return null;
  const idParams = (prefix: string, alias: string) => cohortPredicate({ service: q.service, version: q.version }, 'gc_cycles', { alias, prefix });
  const pick = async (table: 'gc_1h' | 'gc_1d', col: 'hour' | 'day', from: number, to: number) => {
    // Which hours and days are rolled up: from the listing's manifests when the engine has them
    // (as lib/query/plan.ts does; DISTINCT over gc_1h read 720 files for 30 days), else the rows.
    // An hour rolled up without rows of the service or version adds nothing either way.
    const covered = engine.coveredHours(table);
    if (covered) {
      if (col === 'hour') return [...covered].filter((h) => h >= from && h < to);
      const days: number[] = [];
      // A day form is live when its file holds all 24 hours (the builder publishes it so).
      for (let d = from; d < to; d += DAY_US) if (Array.from({ length: 24 }, (_, i) => d + i * HOUR_US).every((h) => covered.has(h))) days.push(d);
      return days;
    }
    const id = idParams('p_', 'r');
    const source = (await engine.spanSource(table, [[from, to]])) ?? table;
    return (await engine.rows(`SELECT DISTINCT epoch_us(${col}) AS t FROM ${source} r WHERE ${id.sql} AND ${col} >= ${ts(from)} AND ${col} < ${ts(to)}`, id.params)).map((r) => Number(r.t));
  };
  const hours = await pick('gc_1h', 'hour', F, T);
  const firstDay = Math.ceil(F / DAY_US) * DAY_US;
  const lastDay = Math.floor(T / DAY_US) * DAY_US;
  const days = bucketUs % DAY_US === 0 && firstDay < lastDay ? await pick('gc_1d', 'day', firstDay, lastDay) : [];
  if (hours.length === 0 && days.length === 0) return null;
  const daySpans = runs(days, DAY_US);
  const inDay = (h: number) => daySpans.some(([a, b]) => h >= a && h < b);
  const hourSpans = runs(
    hours.filter((h) => !inDay(h)),
    HOUR_US,
  );
  const covered = [...daySpans, ...hourSpans].sort((a, b) => a[0] - b[0]);
  const rawSpans: Span[] = [];
  let cur = F;
  for (const [a, b] of covered) {
    if (a > cur) rawSpans.push([cur, a]);
    cur = Math.max(cur, b);
  }
  if (cur < T) rawSpans.push([cur, T]);

  const params: SqlParams = { bucket_ns: BigInt(bucketUs) * 1000n, from_ns: BigInt(F) * 1000n, to_ns: BigInt(T) * 1000n };
  const cols = `service, version, instances, cycles, forced_cycles, pauses, sweep_term_cpu_ns, assist_cpu_ns, background_cpu_ns, idle_cpu_ns, mark_term_cpu_ns,
    heap_live_mib_sum, heap_live_rem_sum, heap_live_max, heap_goal_mib_sum, heap_goal_rem_sum, heap_goal_max, stacks_globals_mib_sum, stacks_globals_rem_sum,
    local_covered_ns, local_capacity_ns, streams`;
  const parts: string[] = [];
  const add = async (table: 'gc_1d' | 'gc_1h', col: string, spans: Span[], prefix: string) => {
    if (spans.length === 0) return;
    const id = idParams(prefix, 'r');
    Object.assign(params, id.params);
    // Only the rollup files of the spans (QueryEngine.spanSource), else the view.
    const source = (await engine.spanSource(table, spans)) ?? table;
    parts.push(`SELECT epoch_us(${col}) * 1000 AS t_ns, ${cols} FROM ${source} r WHERE ${id.sql} AND ${spansSql(`r.${col}`, spans)}`);
  };
  await add('gc_1d', 'day', daySpans, 'd_');
  await add('gc_1h', 'hour', hourSpans, 'h_');
  rawSpans.forEach(([a, b], i) => {
    const id = idParams(`r${i}_`, '');
    Object.assign(params, id.params);
    parts.push(`SELECT epoch_us(hour) * 1000 AS t_ns, ${cols} FROM (${gcHourRowsSql(a, b, id.sql)})`);
  });
  const rows = await engine.rows(
    `WITH pb AS (SELECT *, (t_ns // $bucket_ns::BIGINT) * $bucket_ns::BIGINT AS b_ns FROM (${parts.map((p) => `(${p})`).join(' UNION ALL ')})),
     b AS (
       SELECT service, version, b_ns, SUM(cycles)::BIGINT AS cycles, SUM(forced_cycles)::BIGINT AS forced_cycles,
              SUM(sweep_term_cpu_ns)::HUGEINT AS sweep_term_cpu, SUM(assist_cpu_ns)::HUGEINT AS assist, SUM(background_cpu_ns)::HUGEINT AS background,
              SUM(idle_cpu_ns)::HUGEINT AS idle, SUM(mark_term_cpu_ns)::HUGEINT AS mark_term_cpu,
              (SUM(heap_live_mib_sum)::HUGEINT * 1048576 + SUM(heap_live_rem_sum))::HUGEINT AS live_sum, MAX(heap_live_max) AS live_max,
              (SUM(heap_goal_mib_sum)::HUGEINT * 1048576 + SUM(heap_goal_rem_sum))::HUGEINT AS goal_sum, MAX(heap_goal_max) AS goal_max,
              (SUM(stacks_globals_mib_sum)::HUGEINT * 1048576 + SUM(stacks_globals_rem_sum))::HUGEINT AS sg_sum,
              SUM(local_covered_ns)::HUGEINT AS lc, SUM(local_capacity_ns)::HUGEINT AS lcap
       FROM pb GROUP BY ALL
     ),
     inst AS (SELECT service, version, b_ns, COUNT(DISTINCT i) AS instances FROM (SELECT service, version, b_ns, UNNEST(instances) AS i FROM pb) GROUP BY ALL),
     hist AS (
       SELECT service, version, b_ns, list(struct_pack(p := p, n := n) ORDER BY p) AS pauses
       FROM (SELECT service, version, b_ns, x.pause_ns AS p, SUM(x.cycles)::BIGINT AS n FROM (SELECT service, version, b_ns, UNNEST(pauses) AS x FROM pb) GROUP BY ALL) GROUP BY ALL
     ),
     ent AS (SELECT * FROM (SELECT service, version, UNNEST(streams) AS s FROM pb) WHERE epoch_us(s.hour) * 1000 >= $from_ns::BIGINT AND epoch_us(s.hour) * 1000 < $to_ns::BIGINT),
     streams AS (SELECT service, version, s.stream, MIN(s.first_ns) AS s_ns, MAX(s.last_end_ns) AS e_ns, MAX(s.procs) AS procs FROM ent GROUP BY ALL),
     retr AS (
       SELECT service, version, ((epoch_us(s.hour) * 1000) // $bucket_ns::BIGINT) * $bucket_ns::BIGINT AS b_ns,
              SUM(s.last_end_ns - s.first_ns)::HUGEINT AS c, SUM((s.last_end_ns - s.first_ns)::HUGEINT * s.procs)::HUGEINT AS cap
       FROM ent WHERE s.retract GROUP BY ALL
     ),
     cover AS (
       SELECT b.service, b.version, b.b_ns,
              SUM(GREATEST(0, LEAST(st.e_ns, b.b_ns + $bucket_ns::BIGINT, $to_ns::BIGINT) - GREATEST(st.s_ns, b.b_ns, $from_ns::BIGINT)))::HUGEINT AS covered,
              SUM(GREATEST(0, LEAST(st.e_ns, b.b_ns + $bucket_ns::BIGINT, $to_ns::BIGINT) - GREATEST(st.s_ns, b.b_ns, $from_ns::BIGINT))::HUGEINT * st.procs)::HUGEINT AS capacity
       FROM b JOIN streams st ON st.service = b.service AND st.version = b.version
       GROUP BY b.service, b.version, b.b_ns
     )
     SELECT b.*, inst.instances, hist.pauses,
            (b.lc - COALESCE(retr.c, 0) + COALESCE(cover.covered, 0))::HUGEINT AS covered,
            (b.lcap - COALESCE(retr.cap, 0) + COALESCE(cover.capacity, 0))::HUGEINT AS capacity
     FROM b JOIN inst USING (service, version, b_ns) JOIN hist USING (service, version, b_ns)
       LEFT JOIN retr USING (service, version, b_ns) LEFT JOIN cover USING (service, version, b_ns)
     WHERE b.cycles > 0
     ORDER BY b.service, b.version, b.b_ns`,
    params,
  );
  return rows.map((r) => {
    const hist = (r.pauses as { p: bigint; n: bigint }[]).map((x) => ({ p: BigInt(x.p), n: BigInt(x.n) }));
    const n = BigInt(r.cycles as bigint);
    return bucketStatsRow(r, bucketUs, { p50: rank(hist, n, 50n), p95: rank(hist, n, 95n), p99: rank(hist, n, 99n), max: hist[hist.length - 1].p });
  });
}

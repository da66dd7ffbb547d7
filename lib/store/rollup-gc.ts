// The GC rollup's SQL (lib/model/tables/rollup-gc.ts says what a row holds and why): hour rows
// from gc_cycles, day rows from hour rows. The hour SQL is also what `fleetprof gc` runs over the
// raw rows of hours not rolled up yet (lib/query/gc-rollup.ts), so every part of a window is in the
// same form and the parts add up the same way.

const HOUR_NS = 3_600_000_000_000n;
const MIB_MASK = 1048575;

/**
 * SQL of gc_1h rows (hour, service, version, ...the table's columns) for the whole hours
 * [fromUs, toUs), from the view `gc_cycles`, which must hold the two hours before fromUs as well
 * (a stream's pieces there decide whether its piece of an hour is local). `where`: an extra
 * predicate on gc_cycles (the query's service and version).
 */
export function gcHourRowsSql(fromUs: number, toUs: number, where = 'true'): string {
  const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
  const scanFrom = fromUs - 2 * 3_600_000_000;
  return `WITH c AS (
      SELECT service, version, instance, profile_id || '/' || segment::VARCHAR AS stream, procs, forced, pause_ns,
             epoch_us(time) * 1000 AS t_ns, epoch_us(time) * 1000 + sweep_term_ns + mark_ns + mark_term_ns AS end_ns,
             date_trunc('hour', time) AS h,
             sweep_term_cpu_ns, assist_cpu_ns, background_cpu_ns, idle_cpu_ns, mark_term_cpu_ns,
             heap_live_bytes, heap_goal_bytes, COALESCE(stacks_bytes, 0) + COALESCE(globals_bytes, 0) AS sg_bytes
      FROM gc_cycles WHERE time >= ${ts(scanFrom)} AND time < ${ts(toUs)} AND (${where})
    ),
    pieces AS (
      SELECT service, version, stream, h, MIN(t_ns) AS f, MAX(end_ns) AS e, MAX(procs) AS procs FROM c GROUP BY ALL
    ),
    -- A piece is open when its stream has a piece in the hour before or a cycle ends after the hour.
    o1 AS (
      SELECT *, (e > epoch_us(h) * 1000 + ${HOUR_NS} OR COALESCE(LAG(h) OVER s = h - INTERVAL 1 HOUR, false)) AS open
      FROM pieces WINDOW s AS (PARTITION BY stream ORDER BY h)
    ),
    o2 AS (
      SELECT *, LAG(h) OVER s AS ph, LAG(f) OVER s AS pf, LAG(e) OVER s AS pe, LAG(procs) OVER s AS pp, LAG(open) OVER s AS popen
      FROM o1 WINDOW s AS (PARTITION BY stream ORDER BY h)
    ),
    cur AS (SELECT * FROM o2 WHERE h >= ${ts(fromUs)}),
    ent AS (
      SELECT service, version, h, struct_pack(stream := stream, hour := h, first_ns := f, last_end_ns := e, procs := procs, retract := false) AS s FROM cur WHERE open
      UNION ALL
      SELECT service, version, h, struct_pack(stream := stream, hour := ph, first_ns := pf, last_end_ns := pe, procs := pp, retract := true) AS s
      FROM cur WHERE open AND ph = h - INTERVAL 1 HOUR AND NOT popen
    ),
    cov AS (
      SELECT service, version, h, SUM(CASE WHEN open THEN 0 ELSE e - f END)::BIGINT AS local_covered_ns,
             SUM(CASE WHEN open THEN 0 ELSE (e - f)::HUGEINT * procs END)::BIGINT AS local_capacity_ns
      FROM cur GROUP BY ALL
    ),
    el AS (SELECT service, version, h, list(s ORDER BY s.stream, s.hour) AS streams FROM ent GROUP BY ALL),
    cc AS (SELECT * FROM c WHERE h >= ${ts(fromUs)}),
    agg AS (
      SELECT service, version, h, list_sort(list(DISTINCT instance)) AS instances, COUNT(*)::BIGINT AS cycles, (COUNT(*) FILTER (WHERE forced))::BIGINT AS forced_cycles,
             SUM(sweep_term_cpu_ns)::BIGINT AS sweep_term_cpu_ns, SUM(assist_cpu_ns)::BIGINT AS assist_cpu_ns, SUM(background_cpu_ns)::BIGINT AS background_cpu_ns,
             SUM(idle_cpu_ns)::BIGINT AS idle_cpu_ns, SUM(mark_term_cpu_ns)::BIGINT AS mark_term_cpu_ns,
             SUM(heap_live_bytes >> 20)::BIGINT AS heap_live_mib_sum, SUM(heap_live_bytes & ${MIB_MASK})::BIGINT AS heap_live_rem_sum, MAX(heap_live_bytes) AS heap_live_max,
             SUM(heap_goal_bytes >> 20)::BIGINT AS heap_goal_mib_sum, SUM(heap_goal_bytes & ${MIB_MASK})::BIGINT AS heap_goal_rem_sum, MAX(heap_goal_bytes) AS heap_goal_max,
             SUM(sg_bytes >> 20)::BIGINT AS stacks_globals_mib_sum, SUM(sg_bytes & ${MIB_MASK})::BIGINT AS stacks_globals_rem_sum
      FROM cc GROUP BY ALL
    ),
    hist AS (
      SELECT service, version, h, list(struct_pack(pause_ns := pause_ns, cycles := n) ORDER BY pause_ns) AS pauses
      FROM (SELECT service, version, h, pause_ns, COUNT(*)::BIGINT AS n FROM cc GROUP BY ALL) GROUP BY ALL
    )
    SELECT agg.h AS hour, agg.service, agg.version, agg.instances, agg.cycles, agg.forced_cycles, hist.pauses,
           agg.sweep_term_cpu_ns, agg.assist_cpu_ns, agg.background_cpu_ns, agg.idle_cpu_ns, agg.mark_term_cpu_ns,
           agg.heap_live_mib_sum, agg.heap_live_rem_sum, agg.heap_live_max, agg.heap_goal_mib_sum, agg.heap_goal_rem_sum, agg.heap_goal_max,
           agg.stacks_globals_mib_sum, agg.stacks_globals_rem_sum, cov.local_covered_ns, cov.local_capacity_ns, COALESCE(el.streams, []) AS streams
    FROM agg JOIN hist USING (service, version, h) JOIN cov USING (service, version, h) LEFT JOIN el USING (service, version, h)`;
}

/** SQL of gc_1d rows of the day [dayUs, dayUs + 1 d) from the view `gc_1h` (its hour rows). */
export function gcDayRowsSql(dayUs: number): string {
  const ts = (us: number) => `make_timestamp(${Math.trunc(us)}::BIGINT)`;
  const sums = [
    'cycles',
    'forced_cycles',
    'sweep_term_cpu_ns',
    'assist_cpu_ns',
    'background_cpu_ns',
    'idle_cpu_ns',
    'mark_term_cpu_ns',
    'heap_live_mib_sum',
    'heap_live_rem_sum',
    'heap_goal_mib_sum',
    'heap_goal_rem_sum',
    'stacks_globals_mib_sum',
    'stacks_globals_rem_sum',
    'local_covered_ns',
    'local_capacity_ns',
  ];
  return `WITH g AS (SELECT * FROM gc_1h WHERE hour >= ${ts(dayUs)} AND hour < ${ts(dayUs + 24 * 3_600_000_000)}),
    agg AS (
      SELECT service, version, list_sort(list_distinct(flatten(list(instances)))) AS instances,
             ${sums.map((s) => `SUM(${s})::BIGINT AS ${s}`).join(', ')},
             MAX(heap_live_max) AS heap_live_max, MAX(heap_goal_max) AS heap_goal_max,
             list_sort(flatten(list(streams)), 'ASC') AS streams
      FROM g GROUP BY service, version
    ),
    hist AS (
      SELECT service, version, list(struct_pack(pause_ns := p, cycles := n) ORDER BY p) AS pauses
      FROM (SELECT service, version, x.pause_ns AS p, SUM(x.cycles)::BIGINT AS n FROM (SELECT service, version, UNNEST(pauses) AS x FROM g) GROUP BY ALL) GROUP BY ALL
    )
    SELECT ${ts(dayUs)} AS day, agg.*, hist.pauses FROM agg JOIN hist USING (service, version)`;
}

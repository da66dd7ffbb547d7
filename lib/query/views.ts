// Documented views beside the tables (docs/schema.md, "Values over time"), so ad-hoc SQL gets the
// numbers `fleetprof top` prints. Same series rule as lib/query/window.ts, without a look-back:
// a view has no window to look back from.
//
// increase_terms(snapshot_id, snapshot_time, kind, profile_id, weight): for every profile of a
// counter or interval kind, the terms whose weighted values sum to what that profile ADDS:
// a cumulative snapshot adds itself (+1) minus the previous snapshot of its series (-1), the first
// of a series counts since process start; deltas and CPU profiles add themselves (+1). Summed over
// the snapshots of a window the intermediate snapshots cancel, leaving exactly
// `pprof -base <last before> <last in window>` per process.

export const VIEW_NAMES = ['increase_terms'] as const;

/** Counter sample types whose totals going down mark a restart (Go's alloc_* of heap/allocs, block and mutex types). */
export const COUNTER_TYPES_SQL = `['alloc_objects', 'alloc_space', 'contentions', 'delay']`;
const COUNTER_KINDS_SQL = `('allocs', 'heap', 'block', 'mutex')`;

export function increaseTermsViewSql(): string {
  return `CREATE OR REPLACE VIEW increase_terms AS
WITH p AS (
  SELECT profile_id, kind, service, instance, version, COALESCE(process, '') AS process, time, sample_types,
         COALESCE(temporality, CASE WHEN kind = 'cpu' THEN 'delta' ELSE 'cumulative' END) AS temporality
  FROM profiles WHERE kind = 'cpu' OR kind IN ${COUNTER_KINDS_SQL}
),
cum AS (SELECT * FROM p WHERE kind <> 'cpu' AND temporality = 'cumulative'),
totals AS (
  SELECT profile_id, kind, service, instance, version, process, time, st.type AS type, st.total AS total
  FROM (SELECT *, UNNEST(sample_types) AS st FROM cum) WHERE list_contains(${COUNTER_TYPES_SQL}, st.type)
),
down AS (
  SELECT profile_id, bool_or(COALESCE(total < prev, false)) AS down FROM (
    SELECT profile_id, total, LAG(total) OVER (PARTITION BY kind, service, instance, version, process, type ORDER BY time, profile_id) AS prev FROM totals
  ) GROUP BY profile_id
),
seg AS (
  SELECT c.profile_id, c.kind, c.service, c.instance, c.version, c.process, c.time,
         SUM(CASE WHEN COALESCE(d.down, false) THEN 1 ELSE 0 END) OVER (
           PARTITION BY c.kind, c.service, c.instance, c.version, c.process ORDER BY c.time, c.profile_id ROWS UNBOUNDED PRECEDING) AS segment
  FROM cum c LEFT JOIN down d ON d.profile_id = c.profile_id
),
prev AS (
  SELECT profile_id, kind, time,
         LAG(profile_id) OVER (PARTITION BY kind, service, instance, version, process, segment ORDER BY time, profile_id) AS prev_id
  FROM seg
)
SELECT profile_id AS snapshot_id, time AS snapshot_time, kind, profile_id, 1::BIGINT AS weight FROM prev
UNION ALL SELECT profile_id, time, kind, prev_id, -1::BIGINT FROM prev WHERE prev_id IS NOT NULL
UNION ALL SELECT profile_id, time, kind, profile_id, 1::BIGINT FROM p WHERE kind = 'cpu' OR temporality = 'delta'`;
}

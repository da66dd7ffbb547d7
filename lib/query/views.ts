import { COUNTER_KINDS_SQL, seriesPrevCtes, TEMPORALITY_SQL } from '../store/rollup-terms';

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

export function increaseTermsViewSql(): string {
  // The counter-reset rule is the rollups' (seriesPrevCtes): a snapshot that is down (a restart) has no -1 term.
  return `CREATE OR REPLACE VIEW increase_terms AS
WITH p AS (
  SELECT profile_id, kind, service, instance, version, COALESCE(process, '') AS process, time, sample_types,
         ${TEMPORALITY_SQL} AS temporality
  FROM profiles WHERE kind = 'cpu' OR kind IN ${COUNTER_KINDS_SQL}
),
cum AS (SELECT * FROM p WHERE kind IN ${COUNTER_KINDS_SQL} AND temporality = 'cumulative'),
${seriesPrevCtes('cum', 'prev')}
SELECT profile_id AS snapshot_id, time AS snapshot_time, kind, profile_id, 1::BIGINT AS weight FROM prev
UNION ALL SELECT profile_id, time, kind, prev_id, -1::BIGINT FROM prev WHERE NOT down AND prev_id IS NOT NULL
UNION ALL SELECT profile_id, time, kind, profile_id, 1::BIGINT FROM p WHERE kind = 'cpu' OR temporality = 'delta'`;
}

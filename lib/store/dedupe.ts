// The one dedupe rule of layout v2. The query views apply it as the SQL below; the compactor
// (compact-hour.ts) decides it on (profile_id, batch) keys and copies rows with no join.
//
// Every row carries `profile_id` (a hash of its source's identity). A source ingested twice
// (SQS redelivery, a re-run of `fleetprof ingest`, a Lambda that died between two PUTs) lands in
// two fresh batch files with identical rows. Per profile_id and UTC hour of `time` (a gctrace log
// spans hours, and its hours are compacted at different times), only the rows of ONE file count:
//   - compacted rows always count (the compactor applied this rule when it built them);
//   - of fresh rows, those of the smallest batch id holding that (profile_id, hour);
//   - of fresh rows in an hour that already has compacted rows ("late": an upload or redelivery
//     after the hour was compacted), only those whose (profile_id, hour) the compacted rows lack.
// The rule works per file, so a batch never holds one profile_id twice: the ingest Lambda adds an
// object (key and ETag) once per SQS batch, `fleetprof ingest` a profile once per chunk.
// Fresh files carry their batch id in BATCH_COLUMN (time-ordered, lib/store/layout.ts newBatchId)
// and their dt and hour in the path (Hive keys); the compactor's files have neither.

export const BATCH_COLUMN = '_batch';

/**
 * The query views' form of the same rule, cheaper per query: when an engine opens, ONE query lists
 * the fresh rows that do not count, as keys `profile_id/batch/dtThh` (duplicates: usually none);
 * each view then filters fresh rows by that list instead of joining all fresh rows on every query.
 * Fresh files' `dt` and `hour` come from their path; a fresh file holds only rows of its hour.
 */
export function droppedKeysSql(s: { compacted?: string; fresh: string; lateHours: readonly string[] }): string {
  const f = `(SELECT profile_id, COALESCE(${BATCH_COLUMN}, '') AS b, dt || 'T' || hour AS h FROM ${s.fresh})`;
  // One scan of the fresh rows into their distinct (profile_id, batch, hour) keys (a profile's
  // rows share one key per batch: ~1/200 of the rows of functions), then the rule on those keys.
  // Joining every fresh row to its minimum batch read the rows twice and probed a join with each:
  // ~20 s of a fresh 1,000-instance hour's functions (docs/performance.md, "The fresh hour").
  const keys = `WITH fresh_keys AS MATERIALIZED (SELECT DISTINCT profile_id, b, h FROM ${f}) `;
  const dupes = `SELECT k.profile_id || '/' || k.b || '/' || k.h AS k FROM fresh_keys k JOIN (SELECT profile_id, h, min(b) AS b FROM fresh_keys GROUP BY profile_id, h HAVING count(*) > 1) w ON k.profile_id = w.profile_id AND k.h = w.h WHERE k.b <> w.b`;
  if (!s.compacted || s.lateHours.length === 0) return `${keys}SELECT DISTINCT k FROM (${dupes}) ORDER BY k`;
  const hours = s.lateHours.map((h) => `'${h.slice(0, 13)}'`).join(', ');
  const have = `(SELECT DISTINCT profile_id, strftime(date_trunc('hour', "time"), '%Y-%m-%dT%H') AS h FROM ${s.compacted} WHERE strftime(date_trunc('hour', "time"), '%Y-%m-%dT%H') IN (${hours}))`;
  const late = `SELECT f.profile_id || '/' || f.b || '/' || f.h AS k FROM ${f} f SEMI JOIN ${have} c ON f.profile_id = c.profile_id AND f.h = c.h WHERE f.h IN (${hours})`;
  return `${keys}SELECT DISTINCT k FROM (${dupes} UNION ALL ${late}) ORDER BY k`;
}

/**
 * Whether any profile_id occurs on two rows of `fresh` (a SELECT with no row or one row back):
 * the dedupe rule can drop a key only then. For a table whose files hold one row per profile
 * (`profiles`), one aggregate of a 64-bit hash of the id, far cheaper than droppedKeysSql's
 * distinct keys of three strings (0.14-0.17 vs 0.43 CPU-s over the ~360,000 rows of a merged
 * 1,000-instance hour, docs/performance.md "The fresh hour"). A hash shared by two different ids
 * only sends the caller to droppedKeysSql, which decides on the ids themselves.
 */
export function anyRepeatSql(fresh: string): string {
  return `SELECT 1 FROM ${fresh} GROUP BY hash(profile_id) HAVING count(*) > 1 LIMIT 1`;
}

/** Tables whose files hold one row per profile: anyRepeatSql answers for them whether droppedKeysSql can find a key. */
export const ONE_ROW_PER_PROFILE: ReadonlySet<string> = new Set(['profiles']);

/** The view of a table: compacted rows, and fresh rows except the dropped keys (quoted SQL strings). */
export function viewRowsSql(s: { compacted?: string; fresh?: string; dropped: readonly string[]; extra: string }): string {
  const parts: string[] = [];
  if (s.compacted) parts.push(`SELECT *${s.extra} FROM ${s.compacted}`);
  if (s.fresh) {
    const where = s.dropped.length === 0 ? '' : ` WHERE NOT list_contains([${s.dropped.join(', ')}], profile_id || '/' || COALESCE(${BATCH_COLUMN}, '') || '/' || dt || 'T' || hour)`;
    parts.push(`SELECT * EXCLUDE (hour, ${BATCH_COLUMN})${s.extra} FROM ${s.fresh}${where}`);
  }
  return parts.join(' UNION ALL BY NAME ');
}

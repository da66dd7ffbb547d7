import { createHash } from 'node:crypto';
import { freshDtPrefix, hourDir } from './layout';
import type { DayManifest } from './manifest';

// The names and tags of compaction jobs' outputs, and the one question about them readers ask:
// which fresh keys ARE a compacted hour's content (hourJobInputs, for the warm `top`). Pure
// functions of names and manifests, apart from compact-jobs.ts, so the query path (live.ts) does
// not load the compactor and what it imports (a `fleetprof top` loaded 99 more modules, ~55 ms
// of a cold start, when live.ts imported compact-jobs.ts).

export const spanName = (span: number | 'day'): string => (span === 'day' ? 'day' : `h${String(span).padStart(2, '0')}`);

/** Output names: `hHH-<tag>.parquet` / `day-<tag>.parquet`, `-uIofN` when more than one unit. */
export function outputNames(span: number | 'day', tag: string, units: number): string[] {
  const base = `${spanName(span)}-${tag}`;
  return Array.from({ length: units }, (_, i) => (units === 1 ? `${base}.parquet` : `${base}-u${i}of${units}.parquet`));
}

/** An hour job's tag: its inputs (sorted keys) and the live files it was planned over (bench/fresh-warm.ts names a compacted hour with it too). */
export function hourJobTag(sortedInputs: readonly string[], covering: readonly string[]): string {
  return hashTag([...sortedInputs, '|', ...covering]);
}

const HOUR_NAME_RE = /^h(\d{2})-([0-9a-f]{24})(?:-u\d+of\d+)?\.parquet$/;

/**
 * The fresh keys whose rows ARE `hour`'s live files in `m` (a table's manifest for `dt`), when
 * that content is exactly one hour job's and every input still `exists` (kept for the last hour,
 * RETAIN_INPUTS_MS); else null. The warm `top` (lib/query/warm-top.ts) reads a compacted hour
 * from them. Exact by construction: the hour's live files must be exactly the outputs of one job
 * planned over no live file (outputNames, covering nothing), and the candidate inputs (the hour's
 * merged fresh keys retired by one manifest swap, i.e. with one `at`) must hash to that job's tag
 * (planHourJob: the tag hashes the inputs and the covering files). A second job over late files,
 * a day file, an input deleted or a retirement that is not the job's -> null.
 */
export function hourJobInputs(m: DayManifest, table: string, dt: string, hour: number, exists: (key: string) => boolean): string[] | null {
  const covering = m.live.filter((f) => f.hours.includes(hour)).map((f) => f.name);
  const first = covering.length > 0 ? HOUR_NAME_RE.exec(covering[0]) : null;
  if (!first || Number(first[1]) !== hour) return null;
  const tag = first[2];
  const names = outputNames(hour, tag, covering.length);
  if (!names.every((n) => covering.includes(n))) return null;
  const prefix = `${freshDtPrefix(table, dt)}${hourDir(hour)}/`;
  const merged = new Set(m.merged);
  const byAt = new Map<number, string[]>();
  for (const r of m.retired) {
    if (!r.key.startsWith(prefix) || !merged.has(r.key)) continue;
    byAt.set(r.at, [...(byAt.get(r.at) ?? []), r.key]);
  }
  for (const keys of byAt.values()) {
    const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : 1));
    if (hourJobTag(sorted, []) !== tag) continue;
    return sorted.every(exists) ? sorted : null;
  }
  return null;
}


export function hashTag(parts: readonly string[]): string {
  // The same 24 hex digits compact.ts's hashOf gives (names of earlier layouts stay comparable).
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 24);
}

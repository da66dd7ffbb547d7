import { randomBytes, createHash } from 'node:crypto';
import { isoFromUs } from '../model/time';

// Object keys of storage layout v2 (docs/architecture.md, "Storage layout"), relative to the store
// root (a local data dir, or the bucket's tables/ prefix):
//
//   fresh/<table>/dt=YYYY-MM-DD/hour=HH/<batch-id>.parquet   what ingest writes: one file per table
//                                                             per batch per UTC hour its rows fall in
//   <table>/dt=YYYY-MM-DD/<name>.parquet                      compacted: hour files, then one day file
//   <table>/dt=YYYY-MM-DD/_manifest.json                      which compacted files are live (lib/store/manifest.ts)
//   athena/<table>/dt=YYYY-MM-DD/symlink.txt                  the same live files for Athena's symlink tables
//
// `dt` is the only partition key. Every row carries `profile_id` (hash of its source's identity):
// a source ingested twice lands in two batch files, and readers and the compactor keep, per
// profile_id and UTC hour, only the rows of the smallest batch id (lib/store/dedupe.ts).

export const FRESH_PREFIX = 'fresh/';
export const ATHENA_PREFIX = 'athena/';
export const HOUR_US = 3_600_000_000;
export const DAY_US = 24 * HOUR_US;

/**
 * The id of one source (an uploaded object, or one member of a bundle): 32 hex digits, the
 * source's time in ms since the epoch (12 digits: a profile's capture time, a log's or snapshot
 * batch's first row), then 20 digits (80 bits) of sha256 of its identity. Deterministic, so a
 * redelivered source gets the same id and dedupes (lib/store/dedupe.ts); two sources share an id
 * only if they share the millisecond AND 80 hash bits.
 *
 * Why time first: every row carries the id, and a compacted file's dictionary pages pay for each
 * distinct id once per row group. A random 32-hex id is ~18 bytes per entry after zstd (it was
 * 2.6 of 4.4 bytes per CPU sample after the day close); ids that start with the time sort and
 * compress like the time column (docs/performance.md "Storage per CPU sample").
 */
export function sourceToProfileId(sourceId: string, timeUs: number): string {
  const ms = BigInt.asUintN(48, BigInt(Number.isFinite(timeUs) ? Math.floor(timeUs / 1000) : 0));
  return ms.toString(16).padStart(12, '0') + createHash('sha256').update(sourceId).digest('hex').slice(0, 20);
}

export function utcDate(timeUs: number): string {
  return isoFromUs(timeUs).slice(0, 10);
}

/** UTC hour of day, 0..23. */
export function utcHour(timeUs: number): number {
  return Math.floor((((timeUs % DAY_US) + DAY_US) % DAY_US) / HOUR_US);
}

export function hourDir(hour: number): string {
  return `hour=${String(hour).padStart(2, '0')}`;
}

/**
 * A new batch id: fixed-width, time-ordered, no dots (readers take it from a file name up to the
 * first dot, and the S3 cache appends `.<etag hash>`), unique per writer.
 */
export function newBatchId(nowMs: number = Date.now()): string {
  return `b${nowMs.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

export function freshKey(table: string, dt: string, hour: number, batchId: string): string {
  return `${FRESH_PREFIX}${table}/dt=${dt}/${hourDir(hour)}/${batchId}.parquet`;
}

export function freshDtPrefix(table: string, dt: string): string {
  return `${FRESH_PREFIX}${table}/dt=${dt}/`;
}

export function compactedDtPrefix(table: string, dt: string): string {
  return `${table}/dt=${dt}/`;
}

export function symlinkKey(table: string, dt: string): string {
  return `${ATHENA_PREFIX}${table}/dt=${dt}/symlink.txt`;
}

export interface PartitionFilter {
  service?: string;
  /** Inclusive lower and exclusive upper bound on capture time, epoch microseconds. */
  fromUs?: number;
  toUs?: number;
  /**
   * Only these tables are listed (a query that reads a few of the tables: `top` reads 7 of 18);
   * absent: every table. A reader refuses an unlisted table rather than see it empty
   * (lib/query/engine.ts). Listing is per file: at 1,000 instances each raw table has ~1,700 fresh
   * files in its open hour (merged, and merged inputs waiting for their delete).
   */
  tables?: readonly string[];
}

/** What a key of the layout names; null for a key outside it. */
export type ParsedKey =
  | { tier: 'fresh'; table: string; dt: string; hour: number; name: string }
  | { tier: 'compacted'; table: string; dt: string; name: string };

export function parseKey(key: string): ParsedKey | null {
  const fresh = /^fresh\/([a-z0-9_]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([^/]+)$/.exec(key);
  if (fresh) return { tier: 'fresh', table: fresh[1], dt: fresh[2], hour: Number(fresh[3]), name: fresh[4] };
  const compacted = /^([a-z0-9_]+)\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+)$/.exec(key);
  if (compacted) return { tier: 'compacted', table: compacted[1], dt: compacted[2], name: compacted[3] };
  return null;
}

/** Whether a dt can hold rows matching the filter (service is a column: pruned inside the files). */
export function dtMatches(dt: string, f: PartitionFilter): boolean {
  return dtMatcher(f)(dt);
}

/** dtMatches for one filter and many keys (a listing): the bounds' dates computed once. */
export function dtMatcher(f: PartitionFilter): (dt: string) => boolean {
  const lo = f.fromUs !== undefined ? utcDate(f.fromUs) : undefined;
  const hi = f.toUs !== undefined ? utcDate(f.toUs - 1) : undefined;
  return (dt) => (lo === undefined || dt >= lo) && (hi === undefined || dt <= hi);
}

/** Whether a key's partition can hold rows matching the filter (for pruning object listings). */
export function keyMatches(key: string, f: PartitionFilter): boolean {
  const k = parseKey(key);
  return k !== null && dtMatches(k.dt, f);
}

/** The dts from..to-1 of a bounded filter, ascending; null when unbounded or longer than `maxDays`. */
export function dtsInRange(f: PartitionFilter, maxDays: number): string[] | null {
  if (f.fromUs === undefined || f.toUs === undefined || f.toUs <= f.fromUs) return f.toUs !== undefined && f.fromUs !== undefined ? [] : null;
  const first = Math.floor(f.fromUs / DAY_US);
  const last = Math.floor((f.toUs - 1) / DAY_US);
  if (last - first + 1 > maxDays) return null;
  const out: string[] = [];
  for (let d = first; d <= last; d++) out.push(utcDate(d * DAY_US));
  return out;
}

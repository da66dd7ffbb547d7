import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { duckdbType, RAW_TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { DEFAULT_GRACE_MS, DEFAULT_SETTLE_MS } from './compact';
import { BATCH_COLUMN } from './dedupe';
import { FRESH_PREFIX, freshDtPrefix, freshKey, hourDir, HOUR_US, parseKey, utcDate, utcHour } from './layout';
import { coveredHours, readManifest, retiredDue, retireFresh, writeManifest } from './manifest';
import { missingColumns, sqlString, type ParquetWriter } from './parquet';
import { unreadableFiles, type Quarantine, type UnreadableFile } from './unreadable';
import type { Store, StoredObject } from './store';

// The merge tier (issue #11 point 5: `top` over the last hour, which is always fresh). Ingest
// writes one file per table per SQS batch (~6,000 per table-hour at 1,000 instances), and every
// statement over fresh files pays per file before it reads a row. A merge, every minute, takes the
// SETTLED batch files of each OPEN hour (not yet due for the hour's compaction) and writes ONE
// file per table, deduped among its inputs, every row given a NEW batch id larger than every
// input's; then, per table, one manifest swap (compare-and-swap, as compaction does) lists the
// inputs as merged (readers skip them) and retires them (the compactor's deferred delete).
//
// Exactly once at every step, by the dedupe rule alone (lib/store/dedupe.ts: per profile_id and
// hour the smallest batch counts):
//   - output PUT, swap not yet done: the inputs count, the output's rows all have a larger batch
//     and are dropped;
//   - after the swap: readers skip the inputs, the output's rows count once (deduped among the
//     inputs; a copy of one of its profiles in a file it did not merge, e.g. a redelivery, is a
//     separate batch and the rule keeps one of the two);
//   - a merger that crashes before its swap leaves an orphan: a fresh file whose every row has a
//     copy in a file that counts (its inputs, or the output of whoever merged them later, whose
//     batch id is larger): the rule drops one copy, and the hour's compaction takes it like any
//     other fresh file;
//   - a merger that loses the swap (its inputs were merged by another merger or by the hour's
//     compaction meanwhile, or the hour got covered) retires its own output instead (listed as
//     merged, deleted after the grace like any replaced file): it counted for nobody.
// The hour's compaction sees merged files as just more fresh files (~60 per table-hour instead of
// ~6,000). Only open hours, so a compaction job is normally never planned over files a merge is
// about to retire; if one is (a late merger), the job finds its inputs merged at finalize and is
// stale (compact-jobs.ts jobState), and the next plan takes the merged file instead.
//
// Settled: a batch whose profiles file exists (ingest PUTs every other table's file of a batch
// before its profiles file, lib/store/publish.ts), and older than `minAgeMs` (the last minute's
// batches stay raw, so a batch still being published is left alone). Each merge takes the same
// batches in every table and gives every output the same id, so each table's merged file holds
// the same profiles, as one ingest batch's files do. Merged files are never merged again (a
// minute's merge is ~1/60 of the hour: the compactor reads ~60 files per table-hour).
// An input DuckDB cannot read (a corrupt or truncated file) is refused, named with the reason in
// the result, and the hour's other batches merge. With `quarantine` (the stack's merger and
// `fleetprof compact`, lib/store/unreadable.ts) the file is also moved aside: copied away by the
// callback (quarantine/tables/<key> with a reason), then listed as merged and retired in its
// manifest, so readers and the compactor skip it at once and the merger deletes it after the
// grace; the batch's readable files merge like any other's. Without it the batch stays raw in
// every table and the file is refused again each run.
// Athena reads no fresh file, so the merge changes nothing Athena sees. The merger LISTs the open
// hours' fresh prefixes; ingest still never lists.

export interface MergeOptions {
  /** Clock, epoch ms (the schedule's time; tests pin it). */
  now?: number;
  /** An hour is due for compaction once it ended this long ago (compact.ts DEFAULT_SETTLE_MS): such hours are not merged. */
  settleMs?: number;
  /** Batches younger than this (by their time-ordered id) stay raw; default MERGE_MIN_AGE_MS. */
  minAgeMs?: number;
  /** Raw tables to merge (default all); profiles is always the reference for what is settled. */
  tables?: readonly TableName[];
  /** Fewer inputs than this in every table: nothing to gain, no merge (default 2). */
  minInputs?: number;
  /** zstd level of merged files (default MERGE_ZSTD). */
  zstdLevel?: number;
  /** Retired fresh files are deleted this long after they stopped counting; default 15 min (compact.ts DEFAULT_GRACE_MS). */
  graceMs?: number;
  /** Moves an unreadable input aside (see above); it is retired in its manifest once this resolves. */
  quarantine?: Quarantine;
  /** Called after each table's output is written, before its swap (tests interrupt here). */
  beforeSwap?: (s: { table: TableName; dt: string; hour: number; key: string }) => Promise<void>;
}

export interface MergeResult {
  /** Open table-hours merged (one output each). */
  merges: number;
  /** Input files merged away. */
  filesMerged: number;
  rowsIn: number;
  rowsOut: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Swaps lost to a concurrent manifest writer (each retried). */
  conflicts: number;
  /** Merges abandoned (their inputs were merged by someone else meanwhile, or the hour got covered): output retired. */
  abandoned: number;
  /** Retired fresh files (merged inputs, abandoned outputs) deleted after the grace, and pre-sums whose functions file is gone. */
  deleted: number;
  /** Pre-sum files written (functions_merge). */
  sumsFiles: number;
  /** Input files DuckDB could not read (quarantined, else their batch left raw in every table), with the reason. */
  refused: { key: string; reason: string }[];
  /** Of those, the files moved aside (MergeOptions.quarantine). */
  quarantined: number;
}

/** The last minute's batches stay raw: an SQS batch's files are all published within seconds. */
export const MERGE_MIN_AGE_MS = 60_000;
/** Merged files live an hour at most (the hour's compaction rewrites them): fast to write, like ingest's. */
export const MERGE_ZSTD = 3;
const ROW_GROUP_ROWS = 122_880;
const MAX_ATTEMPTS = 5;

export function emptyMergeResult(): MergeResult {
  return { merges: 0, filesMerged: 0, rowsIn: 0, rowsOut: 0, bytesBefore: 0, bytesAfter: 0, conflicts: 0, abandoned: 0, deleted: 0, sumsFiles: 0, refused: [], quarantined: 0 };
}

/**
 * A merge's batch id: time-ordered like newBatchId (`b` + 9 base-36 digits of ms), at least
 * `afterMs` + 1, then `m` (after every hex digit, so it sorts after any batch of the same ms)
 * and 11 random hex digits. Ingest ids have 12 hex digits after the time; `m` marks a merge.
 */
export function mergeBatchId(nowMs: number, afterMs: number): string {
  const ms = Math.max(nowMs, afterMs + 1);
  return `b${ms.toString(36).padStart(9, '0')}m${randomBytes(6).toString('hex').slice(0, 11)}`;
}

/** Whether a batch id (a fresh file's name up to its first dot) is a merge's output. */
export function isMergeBatch(id: string): boolean {
  return /^b[0-9a-z]{9}m/.test(id);
}

/** The time (epoch ms) a batch id starts with; NaN for a name outside the batch id form. */
export function batchMs(id: string): number {
  const m = /^b([0-9a-z]{9})/.exec(id);
  return m ? parseInt(m[1], 36) : NaN;
}

const batchOf = (key: string) => {
  const k = parseKey(key);
  return k ? k.name.split('.')[0] : '';
};

/** Open hours at `now`: not yet due for compaction (ended less than `settleMs` ago), started already. */
export function openHours(nowMs: number, settleMs: number): { dt: string; hour: number }[] {
  const out: { dt: string; hour: number }[] = [];
  const nowUs = nowMs * 1000;
  for (let start = Math.floor(nowUs / HOUR_US) * HOUR_US; start + HOUR_US > (nowMs - settleMs) * 1000; start -= HOUR_US) out.push({ dt: utcDate(start), hour: utcHour(start) });
  return out.reverse();
}

/** One merger run (the schedule's, every minute; `fleetprof compact` runs it too): every open hour's settled batch files merged. */
export async function mergeOpen(store: Store, writer: ParquetWriter, opts: MergeOptions = {}): Promise<MergeResult> {
  const now = opts.now ?? Date.now();
  const result = emptyMergeResult();
  const hours = openHours(now, opts.settleMs ?? DEFAULT_SETTLE_MS);
  for (const { dt, hour } of hours) await mergeHour(store, writer, dt, hour, { ...opts, now }, result);
  // The deferred deletes of what merges retired, every minute: left to the hourly compaction
  // planner, an hour's ~6,000 merged keys per table would sit in the manifest every reader GETs.
  const tables = (opts.tables ?? RAW_TABLE_NAMES).filter((t) => (RAW_TABLE_NAMES as readonly string[]).includes(t));
  for (const dt of new Set(hours.map((h) => h.dt))) for (const t of tables) result.deleted += await deleteRetiredFresh(store, t, dt, now, opts.graceMs ?? DEFAULT_GRACE_MS);
  // The hours before the open ones (today's and, just after midnight, yesterday's).
  for (const dt of new Set([...hours.map((h) => h.dt), utcDate(now * 1000 - 3 * HOUR_US)]))
    result.deleted += await deleteStaleSums(store, dt, new Set(hours.filter((h) => h.dt === dt).map((h) => h.hour)));
  return result;
}

/**
 * Deletes the dt's retired FRESH files whose grace has passed, then drops them from the manifest
 * (compact.ts housekeepDt's order; a crash in between repeats the delete). Compacted files are the
 * compaction planner's: the merger may delete under fresh/ only (docs/deploy.md).
 */
async function deleteRetiredFresh(store: Store, table: TableName, dt: string, now: number, grace: number): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    const due = m.retired.filter((r) => r.key.startsWith(FRESH_PREFIX) && retiredDue(r, grace, now));
    if (due.length === 0) return 0;
    for (const r of due) await store.delete(r.key);
    const gone = new Set(due.map((r) => r.key));
    if (await writeManifest(store, table, dt, { ...m, merged: m.merged.filter((k) => !gone.has(k)), retired: m.retired.filter((r) => !gone.has(r.key)) }, etag)) return due.length;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

/** Merges one hour's settled batch files, every table, one output per table (all with one new batch id). */
export async function mergeHour(store: Store, writer: ParquetWriter, dt: string, hour: number, opts: MergeOptions & { now: number }, result: MergeResult): Promise<void> {
  const tables = (opts.tables ?? RAW_TABLE_NAMES).filter((t) => (RAW_TABLE_NAMES as readonly string[]).includes(t));
  const prefix = (t: string) => `${freshDtPrefix(t, dt)}${hourDir(hour)}/`;
  const minAge = opts.minAgeMs ?? MERGE_MIN_AGE_MS;
  // profiles first: a batch whose profiles file is listed has every other table's file PUT already.
  const settled = new Set<string>();
  for (const o of await store.list(prefix('profiles'))) {
    const b = batchOf(o.key);
    if (o.key.endsWith('.parquet') && !isMergeBatch(b) && batchMs(b) <= opts.now - minAge) settled.add(b);
  }
  // A batch with an unreadable file is left raw in every table (each merge takes the same batches
  // in every table); its readable files stay counted where they are, the rest of the hour merges.
  const refused = new Set<string>();
  for (;;) {
    const take = new Set([...settled].filter((b) => !refused.has(b)));
    if (take.size === 0) return;
    const inputs = new Map<TableName, StoredObject[]>();
    for (const t of tables) {
      const { manifest: m } = await readManifest(store, t, dt);
      if (coveredHours(m).has(hour)) return; // compacted already: what is left is late files, the compactor's
      const merged = new Set(m.merged);
      const mine = (await store.list(prefix(t))).filter((o) => o.key.endsWith('.parquet') && take.has(batchOf(o.key)) && !merged.has(o.key));
      if (mine.length > 0) inputs.set(t, mine.sort((a, b) => (a.key < b.key ? -1 : 1)));
    }
    if (![...inputs.values()].some((xs) => xs.length >= (opts.minInputs ?? 2))) return;
    const after = Math.max(...[...inputs.values()].flat().map((o) => batchMs(batchOf(o.key))));
    const id = mergeBatchId(opts.now, after);
    // Pre-sums only when functions and profiles merge the same batches: then the merged profiles file
    // holds every profile the merged functions file does, and readers take its (few) dedupe keys for
    // the functions file's (lib/query/merge-sums.ts).
    const batchesOf = (t: TableName) => [...new Set((inputs.get(t) ?? []).map((o) => batchOf(o.key)))].sort().join(',');
    const sums = inputs.has('functions') && batchesOf('functions') === batchesOf('profiles');
    // profiles last, as ingest publishes: a merged profile row is visible no earlier than its functions and stacks.
    const order = [...inputs.keys()].sort((a, b) => (a === 'profiles' ? 1 : b === 'profiles' ? -1 : 0));
    // Every table's output first, then the swaps: an unreadable input found while writing costs
    // only outputs no swap listed yet (retired below, counted by nobody: their rows all have a
    // smaller batch), so no table merges a batch another table left raw.
    const written: Written[] = [];
    try {
      for (const t of order) written.push(await writeTable(store, writer, t, dt, hour, inputs.get(t)!, id, { ...opts, sums: t === 'functions' && sums }, result));
    } catch (e) {
      if (!(e instanceof UnreadableInputs)) throw e;
      for (const w of written) await retireFresh(store, w.table, dt, w.key, opts.now);
      for (const f of e.files) {
        result.refused.push({ key: f.key, reason: f.reason });
        if (!opts.quarantine) {
          refused.add(batchOf(f.key));
          continue;
        }
        // Aside first, then skipped: a run that fails in between finds the file again next minute.
        // The next round of this loop lists the batch's other files without it.
        await opts.quarantine(f);
        await retireFresh(store, parseKey(f.key)!.table as TableName, dt, f.key, opts.now);
        result.quarantined++;
      }
      continue;
    }
    for (const w of written) await swapTable(store, w, dt, hour, opts, result);
    return;
  }
}

/** Input files DuckDB cannot read, each with the reason. */
class UnreadableInputs extends Error {
  constructor(readonly files: UnreadableFile[]) {
    super(files.map((f) => `${f.key}: ${f.reason}`).join('; '));
  }
}

interface Written {
  table: TableName;
  key: string;
  inputs: readonly StoredObject[];
  rows: { in: number; out: number };
}

async function writeTable(store: Store, writer: ParquetWriter, table: TableName, dt: string, hour: number, inputs: readonly StoredObject[], id: string, opts: MergeOptions & { now: number; sums: boolean }, result: MergeResult): Promise<Written> {
  const key = freshKey(table, dt, hour, id);
  await fs.mkdir(store.scratchDir, { recursive: true });
  const local = path.join(store.scratchDir, `${randomUUID()}-${id}.parquet`);
  const sumsLocal = path.join(store.scratchDir, `${randomUUID()}-${id}-sums.parquet`);
  let rows: { in: number; out: number };
  try {
    const paths = await Promise.all(inputs.map((o) => store.localPath(o)));
    try {
      rows = await writeMerged(writer, table, paths, id, local, opts.zstdLevel ?? MERGE_ZSTD);
    } catch (e) {
      const bad = await unreadableFiles(writer, inputs, paths);
      if (bad.length > 0) throw new UnreadableInputs(bad);
      throw e;
    } finally {
      // A warm merger downloads ~18 MB of batch files a minute at 1,000 instances (bench/fresh-merge.ts)
      // and never reads them again: kept, they would fill its 2 GB /tmp within two hours.
      for (const o of inputs) await store.forget?.(o);
    }
    if (opts.sums) {
      // Before the functions file: alone it is never read (readers want its functions file live).
      await writeSums(writer, local, id, sumsLocal);
      await store.putFile(freshKey(SUMS_TABLE, dt, hour, id), sumsLocal);
      result.sumsFiles++;
    }
    const size = (await fs.stat(local)).size;
    await store.putFile(key, local);
    result.bytesAfter += size;
  } finally {
    await fs.rm(local, { force: true });
    await fs.rm(sumsLocal, { force: true });
  }
  return { table, key, inputs, rows };
}

async function swapTable(store: Store, w: Written, dt: string, hour: number, opts: MergeOptions & { now: number }, result: MergeResult): Promise<void> {
  const { table, key, inputs, rows } = w;
  await opts.beforeSwap?.({ table, dt, hour, key });
  const keys = inputs.map((o) => o.key);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    const merged = new Set(m.merged);
    if (coveredHours(m).has(hour) || keys.some((k) => merged.has(k)) || merged.has(key)) {
      // Someone else merged (some of) these inputs, or the hour's compaction covered it: our output
      // would count rows again once the inputs are skipped. Every row of it has a copy that counts
      // (in the inputs, or in whatever merged them), so it is retired like an input: skipped at
      // once, deleted after the grace (a reader that listed it may be reading it).
      if (merged.has(key) || (await writeManifest(store, table, dt, { ...m, merged: [...merged, key].sort(), retired: [...m.retired, { key, at: opts.now }] }, etag))) {
        result.abandoned++;
        return;
      }
      result.conflicts++;
      continue;
    }
    const next = { ...m, merged: [...merged, ...keys].sort(), retired: [...m.retired, ...keys.map((k) => ({ key: k, at: opts.now }))] };
    if (await writeManifest(store, table, dt, next, etag)) {
      result.merges++;
      result.filesMerged += keys.length;
      result.rowsIn += rows.in;
      result.rowsOut += rows.out;
      result.bytesBefore += inputs.reduce((s, o) => s + o.size, 0);
      return;
    }
    result.conflicts++;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

/**
 * The inputs' rows that count (per profile_id the smallest batch: the inputs are one hour's) with
 * BATCH_COLUMN set to `id`, sorted like an ingest batch file, in one Parquet file.
 */
async function writeMerged(writer: ParquetWriter, table: TableName, paths: readonly string[], id: string, out: string, zstdLevel: number): Promise<{ in: number; out: number }> {
  if (!/^[0-9a-z]+$/.test(id)) throw new Error(`bad batch id ${id}`);
  const conn = writer.connection;
  const def = TABLES[table];
  const src = `read_parquet([${paths.map((p) => `'${sqlString(p)}'`).join(', ')}], hive_partitioning = false, union_by_name = true)`;
  const missing = await missingColumns(conn, def, src);
  const cols = def.columns.map((c) => (missing.includes(c) ? `CAST(NULL AS ${duckdbType(c.type)}) AS "${c.name}"` : `f."${c.name}"`)).join(', ');
  const order = def.sortBy.map((c) => `"${c}"`).join(', ');
  // The rule on keys first (one aggregate; a redelivered copy is rare), rows copied with no join when nothing is dropped.
  const keys = `SELECT profile_id, ${BATCH_COLUMN} AS b, count(*)::BIGINT AS n FROM ${src} GROUP BY ALL`;
  const k = (await conn.runAndReadAll(`WITH k AS (${keys}) SELECT sum(n)::BIGINT AS rows, count(*) FILTER (WHERE b <> mb)::BIGINT AS dropped FROM (SELECT *, min(b) OVER (PARTITION BY profile_id) AS mb FROM k)`)).getRowObjectsJS()[0];
  const rowsIn = Number(k.rows ?? 0);
  const filter = Number(k.dropped ?? 0) > 0 ? ` QUALIFY f.${BATCH_COLUMN} = min(f.${BATCH_COLUMN}) OVER (PARTITION BY f.profile_id)` : '';
  const r = await conn.runAndReadAll(
    `COPY (SELECT ${cols}, '${id}' AS ${BATCH_COLUMN} FROM ${src} f${filter} ORDER BY ${order}) TO '${sqlString(out)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${zstdLevel}, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
  );
  return { in: rowsIn, out: Number(r.getRows()[0]?.[0] ?? 0) };
}

/**
 * Whether every fresh functions file has a fresh profiles file of the same batch holding the same
 * profiles, and every fresh profiles file a functions file: an ingest batch's files hold one set of
 * profiles; a merge's when its pre-sums are listed (written only when functions and profiles merged
 * the same batches). Not so while a merge is between its functions and its profiles swap, or a
 * batch is being published. Then the functions' dedupe keys are the profiles' (a profile without
 * functions rows has none in any copy), and the profiles view's dropped keys are the functions'.
 */
export function sameProfiles(fn: readonly string[], pr: readonly string[], sums: readonly string[]): boolean {
  const fnIds = new Set(fn.map(batchOfPath));
  const prIds = new Set(pr.map(batchOfPath));
  const sumIds = new Set(sums.map(batchOfPath));
  return fnIds.size === prIds.size && [...fnIds].every((id) => prIds.has(id) && (!isMergeBatch(id) || sumIds.has(id)));
}

/** The batch id of a fresh file's path (its name up to the first dot). */
const batchOfPath = (p: string) => (p.split('/').pop() ?? '').split('.')[0];

/** The merge tier's pre-sums table (lib/model/tables/functions-merge.ts). */
export const SUMS_TABLE = 'functions_merge';

/**
 * A merged functions file's CPU rows summed per (service, version, kind, sample type, unit,
 * function), with the merge's first and last profile time and its batch id. CPU profiles weigh 1
 * in every window (lib/query/window.ts), so over a window holding all of the merge's profiles the
 * sums are exactly what `top` adds up from the merge's rows.
 */
async function writeSums(writer: ParquetWriter, merged: string, id: string, out: string): Promise<void> {
  const src = `read_parquet('${sqlString(merged)}', hive_partitioning = false)`;
  await writer.connection.run(
    `COPY (SELECT service, version, kind, sample_type, unit, function, sum(flat)::BIGINT AS flat, sum(cum)::BIGINT AS cum,
                  (SELECT min("time") FROM ${src}) AS first_time, (SELECT max("time") FROM ${src}) AS last_time, '${id}' AS ${BATCH_COLUMN}
           FROM ${src} WHERE kind = 'cpu' GROUP BY ALL ORDER BY kind, sample_type, service, function)
     TO '${sqlString(out)}' (FORMAT parquet, COMPRESSION zstd)`,
  );
}

/**
 * Pre-sums of hours no longer open whose functions file is gone (deleted after the hour's
 * compaction and its grace): no reader can use them (lib/query/merge-sums.ts wants the functions
 * file listed), so they go. One LIST of the dt's pre-sums, and of an hour's functions files only
 * when that hour has pre-sums.
 */
async function deleteStaleSums(store: Store, dt: string, open: ReadonlySet<number>): Promise<number> {
  const byHour = new Map<number, StoredObject[]>();
  for (const o of await store.list(freshDtPrefix(SUMS_TABLE, dt))) {
    const k = parseKey(o.key);
    if (k?.tier !== 'fresh' || open.has(k.hour)) continue;
    byHour.set(k.hour, [...(byHour.get(k.hour) ?? []), o]);
  }
  let n = 0;
  for (const [hour, sums] of byHour) {
    const live = new Set((await store.list(`${freshDtPrefix('functions', dt)}${hourDir(hour)}/`)).map((o) => batchOf(o.key)));
    for (const o of sums)
      if (!live.has(batchOf(o.key))) {
        await store.delete(o.key);
        n++;
      }
  }
  return n;
}

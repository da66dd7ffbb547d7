import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RAW_TABLE_NAMES, ROLLUP_TABLE_NAMES, TABLE_NAMES, type TableName } from '../model/schema';
import { UNIT_ROWS } from './compact-hour';
import { deleteOrphanSplits, finalizeJob, jobKey, missingWork, openJobKeys, parseJobKey, planDayJob, planHourJob, putJob, readJob, runSplit, runUnit, startMessages, type JobSettings, type Send, type UnitJob, type WorkMessage } from './compact-jobs';
import { compactedDtPrefix, DAY_US, FRESH_PREFIX, freshDtPrefix, HOUR_US, parseKey } from './layout';
import { readManifest, writeManifest, writeSymlink, type DayManifest, type LiveFile, type Retired } from './manifest';
import type { ParquetWriter } from './parquet';
import { NO_ROLLUPS, type RollupBuilder, type RollupOutput } from './rollup-hook';
import type { Store, StoredObject } from './store';

// Compaction of layout v2 (docs/architecture.md, "Storage layout"), per table and dt:
//   1. every closed UTC hour's fresh batch files -> hour files `hHH-<hash>[-uIofN].parquet`: one,
//      or for a large hour N units of bounded rows, each a set of (service, instance) pairs
//      (compact-hour.ts), all published in one manifest swap; deduped by profile_id (decided on
//      keys), sorted by service first so per-service reads prune on row-group statistics; fresh
//      files arriving for an hour already compacted (late uploads, redeliveries) become more hour
//      files holding only the rows the live files lack;
//   2. a closed day whose fresh files are all merged, that has more than one live file and whose
//      rows fit one unit -> one day file `day-<hash>.parquet` (one swap); a larger day keeps its
//      hour units, which are written in the stored form already (STORED_ZSTD);
//   3. files replaced in an earlier run, once `graceMs` has passed, are deleted.
// Order of effects, each safe to interrupt: write the data file(s) -> PUT the Athena symlink
// manifest -> compare-and-swap the fleetprof manifest -> (a later run) delete what was replaced.
// Until the manifest swap, readers see the old state (new data files are not listed anywhere
// they read); after it, the new one; replaced files survive a grace period, so a reader that read
// the previous manifest still finds every file it names. Output names are hashes of their inputs,
// so a re-run after a crash rewrites the same file. Concurrent compactors: the manifest is swapped
// with a conditional PUT (If-Match on its ETag, If-None-Match: * for the first; moto supports both);
// the loser re-reads the manifest, restores symlink.txt from it and starts the dt over.

export interface CompactOptions {
  /** Clock, epoch ms (tests pin it); default Date.now(). */
  now?: number;
  /** An hour is closed once `now` is this long past its end (uploads still in flight); default 2 min. */
  settleMs?: number;
  /**
   * Instead of now - settleMs: hours (and days) ending at or before this epoch ms are closed;
   * Infinity closes everything, today's hour included (`fleetprof compact --all`).
   */
  closedBefore?: number;
  /** Replaced files are deleted this long after they stopped being live; default 15 min (a query Lambda's limit). */
  graceMs?: number;
  tables?: readonly TableName[];
  /** Rollup builder called for each hour (and day) file built; default none. */
  rollups?: RollupBuilder;
  /** Called after each dt's hours and day are done (the scheduled job builds the day rollups here). */
  afterDt?: (dt: string, result: CompactResult) => Promise<void>;
  /** zstd level of every compacted file (default STORED_ZSTD). */
  zstdLevel?: number;
  /** Rows per hour unit (lib/store/compact-hour.ts; default UNIT_ROWS). */
  unitRows?: number;
  /** Fresh bytes per split group of an hour job (compact-jobs.ts; default SPLIT_GROUP_BYTES; tests make it small). */
  splitGroupBytes?: number;
  /** Hour jobs of at least this many units are split first (compact-jobs.ts; default SPLIT_MIN_UNITS). */
  splitMinUnits?: number;
  /** Called after each hour unit is written (benchmarks time units). */
  onUnit?: (u: { table: TableName; dt: string; hour: number; unit: number; units: number; rows: number; ms: number }) => void;
}

export interface CompactResult {
  hours: number;
  days: number;
  filesMerged: number;
  bytesBefore: number;
  bytesAfter: number;
  deleted: number;
  /** Manifest swaps lost to a concurrent compactor (each retried). */
  conflicts: number;
  /** Rollup files published (hook outputs and day forms) and their rows. */
  rollupFiles: number;
  rollupRows: number;
  /** Hours (per dt) and days whose rollups were (re)built. */
  rollupHours: number;
  rollupDays: number;
  /** Wall time spent building and publishing rollups, ms (the rest of a run is compaction). */
  rollupMs: number;
}

export const DEFAULT_SETTLE_MS = 2 * 60_000;
export const DEFAULT_GRACE_MS = 15 * 60_000;
/**
 * Every compacted file, hour or day, is written in its stored form: at a large fleet the hour
 * units ARE what is stored (a day's rows do not fit one unit, so no day close re-sorts them), and
 * an hour unit of <= UNIT_ROWS rows compresses like a day unit of the same size. Level 9 with
 * 512K-row groups measured smaller AND faster than level 19 with 122,880-row groups (stacks of 20
 * instances x 2 h: 2.81 vs 3.85 B per CPU sample): a row group's dictionary of profile ids is paid
 * once per group, so fewer groups pay it fewer times; against level 3 with 122,880-row groups
 * (the earlier hour files) see docs/performance.md "Storage per CPU sample".
 */
export const STORED_ZSTD = 9;
/** Row groups of tables with list columns (stacks, rollups): 1M-row groups pushed a process over 3 GB. */
export const STORED_ROW_GROUP_ROWS = 1 << 19;
/** Tables without list columns buffer far less per row: 1M-row groups (functions 0.87 vs 1.03 B per CPU sample). */
const STORED_ROW_GROUP_ROWS_FLAT = 1 << 20;
const storedRowGroupRows = (t: TableName) => (t === 'stacks' || isRollupTable(t) ? STORED_ROW_GROUP_ROWS : STORED_ROW_GROUP_ROWS_FLAT);
const MAX_ATTEMPTS = 5;

/** What a planner run sends and does; a run that did nothing means nothing is due. */
export interface PlanOptions {
  /** Run the deferred deletes (once per run: files retired by this run wait for the next one). */
  readonly housekeeping: boolean;
  /** Re-send the units of an open job planned at least this long ago whose outputs are missing (lost or failed messages). */
  readonly resendAfterMs: number;
}

/**
 * One whole compaction in this process: the planner, then every unit and finalize it sends, then
 * the planner again (a day closes once its hours are live and rolled up), until nothing is due.
 * The same functions as the stack's planner and workers (lib/store/compact-jobs.ts), run in turn.
 */
export async function compact(store: Store, writer: ParquetWriter, opts: CompactOptions = {}): Promise<CompactResult> {
  const result = emptyResult();
  const queue: WorkMessage[] = [];
  const send: Send = async (ms) => {
    queue.push(...ms);
  };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const acted = await planCompaction(store, writer, opts, result, send, { housekeeping: round === 0, resendAfterMs: 0 });
    if (acted === 0 && queue.length === 0) break;
    while (queue.length > 0) await compactWork(store, writer, queue.shift()!, opts, result, send);
  }
  return result;
}

export function emptyResult(): CompactResult {
  return { hours: 0, days: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0, deleted: 0, conflicts: 0, rollupFiles: 0, rollupRows: 0, rollupHours: 0, rollupDays: 0, rollupMs: 0 };
}

/** Planner, then its work, then the planner again: a day needs its hours live and rolled up first. */
const MAX_ROUNDS = 6;

const isRollupTable = (t: TableName) => (ROLLUP_TABLE_NAMES as readonly TableName[]).includes(t);
const isRawTable = (t: TableName) => (RAW_TABLE_NAMES as readonly TableName[]).includes(t);

/** zstd level and row groups of a job's outputs (the same for hour and day: see STORED_ZSTD). */
function jobSettings(job: Pick<UnitJob, 'table' | 'span'>, opts: CompactOptions): JobSettings {
  return { zstdLevel: opts.zstdLevel ?? STORED_ZSTD, rowGroupRows: storedRowGroupRows(job.table) };
}

/**
 * The planner (the scheduled run; the first step of `compact`): per dt, deferred deletes, then
 * open jobs finalized when complete (a finalizer that crashed) or their missing units re-sent,
 * then a job per closed hour with unmerged fresh files and no open job, its units sent; a dt with
 * no open job gets its rollups (sent), its day forms (`afterDt`) and, when due, its day close
 * (jobs, units sent). Returns how many things it did or sent (0: nothing is due).
 */
export async function planCompaction(store: Store, writer: ParquetWriter, opts: CompactOptions, result: CompactResult, send: Send, p: PlanOptions): Promise<number> {
  const now = opts.now ?? Date.now();
  const tables = opts.tables ?? TABLE_NAMES;
  const rollups = opts.rollups ?? NO_ROLLUPS;
  const closedBefore = opts.closedBefore ?? now - (opts.settleMs ?? DEFAULT_SETTLE_MS);
  const unitRows = opts.unitRows ?? UNIT_ROWS;
  const dts = new Set<string>();
  for (const table of tables) {
    for (const o of [...(await store.list(`${FRESH_PREFIX}${table}/`)), ...(await store.list(`${table}/`))]) {
      const k = parseKey(o.key);
      if (k && k.table === table) dts.add(k.dt);
    }
  }
  const open = new Map<string, UnitJob[]>();
  for (const key of await openJobKeys(store)) {
    const k = parseJobKey(key);
    if (!k || !(tables as readonly string[]).includes(k.table)) continue;
    const job = await readJob(store, key);
    if (!job) continue; // finalized since the listing
    dts.add(job.dt);
    open.set(job.dt, [...(open.get(job.dt) ?? []), job]);
  }
  let acted = 0;
  if (p.housekeeping) acted += await deleteOrphanSplits(store);
  for (const dt of [...dts].sort()) {
    const dayStartMs = Date.parse(`${dt}T00:00:00Z`);
    const closed = (hour: number) => dayStartMs + ((hour + 1) * HOUR_US) / 1000 <= closedBefore;
    if (p.housekeeping) for (const table of tables) acted += await housekeepDt(store, table, dt, now, opts.graceMs ?? DEFAULT_GRACE_MS, result);

    const still: UnitJob[] = [];
    for (const job of open.get(dt) ?? []) {
      const r = await finalizeJob(store, job, now, result);
      if (r !== 'incomplete') {
        acted++;
        continue;
      }
      still.push(job);
      if (now - job.at >= p.resendAfterMs) {
        const missing = await missingWork(store, job);
        await send(missing);
        acted += missing.length;
      }
    }

    const freshOf = new Map<TableName, StoredObject[]>();
    for (const table of tables) {
      // Raw tables only: rollups have no fresh tier, the merge tier's functions_merge is never compacted (lib/store/merge.ts).
      if (!isRawTable(table)) continue;
      const { manifest: m } = await readManifest(store, table, dt);
      const merged = new Set(m.merged);
      const fresh = (await store.list(freshDtPrefix(table, dt))).filter((o) => o.key.endsWith('.parquet') && !merged.has(o.key));
      freshOf.set(table, fresh);
      const pending = new Map<number, StoredObject[]>();
      for (const o of fresh) {
        const k = parseKey(o.key);
        if (!k || k.tier !== 'fresh' || !closed(k.hour)) continue;
        // One open job per table and hour: a late file waits for the next plan (a second job would be planned from the same covering files and go stale).
        if (still.some((j) => j.table === table && j.span === k.hour)) continue;
        pending.set(k.hour, [...(pending.get(k.hour) ?? []), o]);
      }
      for (const [hour, inputs] of [...pending].sort(([a], [b]) => a - b)) {
        const job = await planHourJob(store, writer, table, dt, hour, inputs, m, { unitRows, rollupSource: rollups.sources.includes(table), now, splitGroupBytes: opts.splitGroupBytes, splitMinUnits: opts.splitMinUnits });
        acted++;
        // An hour whose rows are all live already (late redeliveries) has no unit: its inputs are merged at once.
        if (job.names.length === 0) {
          await finalizeJob(store, job, now, result);
          continue;
        }
        still.push(job);
        // The job object first: a worker reading a message finds its job (a crash in between leaves an open job the next plan re-sends).
        await putJob(store, job);
        await send(startMessages(job));
      }
    }
    if (still.length > 0) continue;

    // No open job: the dt's rollups (sent: at scale they are a worker's job), then its day forms and day close.
    if (rollups.sources.length > 0 && (await pendingRollups(store, rollups, dt))) {
      await send([{ kind: 'rollups', dt }]);
      acted++;
      continue;
    }
    if (opts.afterDt) await opts.afterDt(dt, result);
    if (!(dayStartMs + DAY_US / 1000 <= closedBefore)) continue;
    for (const table of tables) {
      if (!isRawTable(table)) continue;
      const { manifest: m } = await readManifest(store, table, dt);
      if ((freshOf.get(table) ?? []).length > 0 || m.live.length <= 1 || !m.live.some((f) => !f.name.startsWith('day-'))) continue;
      // The day close is ONE unit: it reads and sorts the day's rows once, at most unitRows of
      // them. A day with more rows keeps its hour units, already in their stored form: merging it
      // would need units that each read the whole day (a unit is a set of instances, and every
      // hour file holds rows of many), so the day's rows would be read once per unit.
      if (!dayFitsOneUnit(m, unitRows)) continue;
      const job = await planDayJob(store, writer, table, dt, m, { unitRows, rollupSource: rollups.sources.includes(table), now });
      await putJob(store, job);
      await send(job.names.map((_, unit) => ({ kind: 'unit' as const, job: jobKey(job), unit })));
      acted++;
    }
  }
  return acted;
}

/** Whether a day's live files hold at most `unitRows` rows (files from before rows were recorded count as too many). */
export function dayFitsOneUnit(m: DayManifest, unitRows: number): boolean {
  let rows = 0;
  for (const f of m.live) {
    if (f.rows === undefined) return false;
    rows += f.rows;
  }
  return rows <= unitRows;
}

async function pendingRollups(store: Store, rollups: RollupBuilder, dt: string): Promise<boolean> {
  for (const t of rollups.sources) if ((await readManifest(store, t, dt)).manifest.live.some((f) => f.rollup === 'pending')) return true;
  return false;
}

/**
 * One work message (a compaction worker's invocation; the queue of `compact`): a unit written and
 * its job finalized when it was the last one (then, if its dt has no open job left, the dt's
 * rollups are sent), or a dt's rollups built.
 */
export async function compactWork(store: Store, writer: ParquetWriter, msg: WorkMessage, opts: CompactOptions, result: CompactResult, send: Send): Promise<void> {
  const now = opts.now ?? Date.now();
  const rollups = opts.rollups ?? NO_ROLLUPS;
  if (msg.kind === 'split') {
    const r = await runSplit(store, writer, msg.job, msg.group);
    if (r.job && r.ms > 0) opts.onUnit?.({ table: r.job.table, dt: r.job.dt, hour: r.job.span === 'day' ? -1 : r.job.span, unit: -1, units: r.job.names.length, rows: 0, ms: r.ms });
    await send(r.send);
    return;
  }
  if (msg.kind === 'unit') {
    const k = parseJobKey(msg.job);
    if (!k) throw new Error(`not a compaction job key: ${JSON.stringify(msg.job)}`);
    const { job, ms } = await runUnit(store, writer, msg.job, msg.unit, (j) => jobSettings(j, opts));
    if (!job) return;
    if (ms > 0) opts.onUnit?.({ table: job.table, dt: job.dt, hour: job.span === 'day' ? -1 : job.span, unit: msg.unit, units: job.names.length, rows: job.units[msg.unit].rows, ms });
    const r = await finalizeJob(store, job, now, result);
    // Whichever table's job is the dt's last: the rollups wait for every open job of the dt.
    if (r === 'published' && rollups.sources.length > 0 && !(await dtHasOpenJobs(store, job.dt))) await send([{ kind: 'rollups', dt: job.dt }]);
    return;
  }
  if (rollups.sources.length === 0 || (await dtHasOpenJobs(store, msg.dt))) return; // the last job's finalizer sends another
  const t0 = Date.now();
  await rollupDt(store, writer, msg.dt, rollups, opts, result);
  result.rollupMs += Date.now() - t0;
  if (opts.afterDt) await opts.afterDt(msg.dt, result);
}

async function dtHasOpenJobs(store: Store, dt: string): Promise<boolean> {
  return (await openJobKeys(store)).some((k) => parseJobKey(k)?.dt === dt);
}

/** Deferred deletes of `table`'s dt: files retired at least `grace` ago are deleted, then dropped from the manifest. Returns 1 when it changed the manifest. */
async function housekeepDt(store: Store, table: TableName, dt: string, now: number, grace: number, result: CompactResult): Promise<number> {
  const dir = compactedDtPrefix(table, dt);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    const liveKeys = new Set(m.live.map((f) => dir + f.name));
    // A retired key that is live again (the same inputs merged again under the same name) is not deleted.
    let retired: Retired[] = m.retired.filter((r) => !liveKeys.has(r.key));
    const due = retired.filter((r) => r.at + grace <= now);
    if (due.length === 0 && retired.length === m.retired.length) return 0;
    // Delete, then drop from the manifest (a crash in between leaves entries whose delete is simply repeated).
    for (const r of due) await store.delete(r.key);
    const gone = new Set(due.map((r) => r.key));
    retired = retired.filter((r) => !gone.has(r.key));
    const next: DayManifest = { version: 2, live: m.live, merged: m.merged.filter((k) => !gone.has(k)), retired };
    if (await writeManifest(store, table, dt, next, etag)) {
      result.deleted += due.length;
      return 1;
    }
    result.conflicts++;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

/**
 * Rollups for the live files of `rollups.sources` still marked pending: the builder's outputs go
 * live in their tables (names derived from the inputs: a re-run finds them live and skips them),
 * then the marks are cleared. Hour files one hour at a time; day files together.
 */
async function rollupDt(store: Store, writer: ParquetWriter, dt: string, rollups: RollupBuilder, opts: CompactOptions, result: CompactResult): Promise<void> {
  const pending = new Map<TableName, LiveFile[]>();
  for (const table of rollups.sources) {
    const { manifest } = await readManifest(store, table, dt);
    const p = manifest.live.filter((f) => f.rollup === 'pending');
    if (p.length > 0) pending.set(table, p);
  }
  if (pending.size === 0) return;
  const ctx = {
    store,
    writer,
    dt,
    scratchDir: store.scratchDir,
    liveFiles: async (table: TableName) => {
      const { manifest } = await readManifest(store, table, dt);
      return Promise.all(manifest.live.map((f) => livePath(store, compactedDtPrefix(table, dt) + f.name)));
    },
  };
  const groups = new Map<string, { hour?: number; files: Map<TableName, LiveFile[]> }>();
  for (const [table, files] of pending) {
    for (const f of files) {
      // A day file is a day file even when the day had one hour of data.
      const hour = f.name.startsWith('day-') ? undefined : f.hours[0];
      const g = hour === undefined ? 'day' : `h${hour}`;
      let group = groups.get(g);
      if (!group) groups.set(g, (group = { hour, files: new Map() }));
      const list = group.files.get(table);
      if (list) list.push(f);
      else group.files.set(table, [f]);
    }
  }
  for (const [, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const files: Partial<Record<TableName, string[]>> = {};
    const names: string[] = [];
    for (const [table, list] of g.files) {
      files[table] = await Promise.all(list.map((f) => livePath(store, compactedDtPrefix(table, dt) + f.name)));
      names.push(...list.map((f) => `${table}/${f.name}`));
    }
    const outputs = g.hour !== undefined ? await rollups.hour({ ...ctx, hour: g.hour, files }) : await rollups.day({ ...ctx, files });
    const tag = hashOf(names.sort());
    for (const [i, out] of outputs.entries()) {
      const prefix = g.hour !== undefined ? `r${String(g.hour).padStart(2, '0')}` : 'rday';
      await publishDerived(store, dt, out, `${prefix}-${tag}-${i}.parquet`, opts, result);
    }
    await removeEmptyDirs(store, outputs);
    if (g.hour !== undefined) result.rollupHours++;
    else if (outputs.length > 0) result.rollupDays++;
    for (const [table, list] of g.files) await clearPending(store, table, dt, new Set(list.map((f) => f.name)), result);
  }
}

/**
 * A file built outside the compactor (lib/store/rollup.ts) made live in `table` for `dt` under
 * `name`, replacing a live file of that name and the live files named in `replaces` (retired for
 * the deferred delete) (data, symlink, manifest swap).
 */
export async function publishLive(
  store: Store,
  table: TableName,
  dt: string,
  localPath: string,
  name: string,
  hours: readonly number[],
  replaces: readonly string[] = [],
  nowMs = Date.now(),
): Promise<void> {
  const dir = compactedDtPrefix(table, dt);
  await store.putFile(dir + name, localPath);
  const gone = new Set(replaces.filter((r) => r !== name));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    const next: DayManifest = {
      ...m,
      live: [...m.live.filter((f) => f.name !== name && !gone.has(f.name)), { name, hours: [...hours] }],
      retired: [...m.retired, ...m.live.filter((f) => gone.has(f.name)).map((f) => ({ key: dir + f.name, at: nowMs }))],
    };
    await writeSymlink(store, table, dt, next);
    if (await writeManifest(store, table, dt, next, etag)) return;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

/** The builder's output directories under the scratch dir, once their files are published (moved). */
export async function removeEmptyDirs(store: Store, outputs: readonly RollupOutput[]): Promise<void> {
  const scratch = path.resolve(store.scratchDir);
  for (const d of new Set(outputs.map((o) => path.resolve(path.dirname(o.localPath))))) {
    if (d !== scratch && d.startsWith(scratch + path.sep)) await fs.rm(d, { recursive: true, force: true });
  }
}

/**
 * One rollup output live in its table (data, symlink, manifest swap; the files it replaces are
 * retired for the deferred delete); skipped when a file of that name is live already.
 */
export async function publishDerived(store: Store, dt: string, out: RollupOutput, name: string, opts: CompactOptions, result: CompactResult): Promise<void> {
  const now = opts.now ?? Date.now();
  const dir = compactedDtPrefix(out.table, dt);
  let uploaded = false;
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { manifest: m, etag } = await readManifest(store, out.table, dt);
      if (m.live.some((f) => f.name === name)) return; // a run before a crash published it
      if (!uploaded) {
        await store.putFile(dir + name, out.localPath);
        uploaded = true;
      }
      const replaced = new Set(out.replaces ?? []);
      const next: DayManifest = {
        version: 2,
        live: [...m.live.filter((f) => !replaced.has(f.name)), { name, hours: [...out.hours] }],
        merged: m.merged,
        retired: [...m.retired, ...m.live.filter((f) => replaced.has(f.name)).map((f) => ({ key: dir + f.name, at: now }))],
      };
      await writeSymlink(store, out.table, dt, next);
      if (await writeManifest(store, out.table, dt, next, etag)) {
        result.rollupFiles++;
        result.rollupRows += out.rows ?? 0;
        return;
      }
      result.conflicts++;
      await writeSymlink(store, out.table, dt, (await readManifest(store, out.table, dt)).manifest);
    }
    throw new Error(`${out.table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
  } finally {
    await fs.rm(out.localPath, { force: true });
  }
}

async function clearPending(store: Store, table: TableName, dt: string, names: Set<string>, result: CompactResult): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest, etag } = await readManifest(store, table, dt);
    const live = manifest.live.map((f) => (names.has(f.name) && f.rollup ? { name: f.name, hours: f.hours, ...(f.rows === undefined ? {} : { rows: f.rows }) } : f));
    if (await writeManifest(store, table, dt, { ...manifest, live }, etag)) return;
    result.conflicts++;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

/** A live compacted file's local path (its listing gives the S3 cache its ETag). */
async function livePath(store: Store, key: string): Promise<string> {
  const [o] = (await store.list(key)).filter((x) => x.key === key);
  if (!o) throw new Error(`live file ${key} is missing`);
  return store.localPath(o);
}

export function hashOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 24);
}

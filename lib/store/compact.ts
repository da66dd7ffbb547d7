import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RAW_TABLE_NAMES, ROLLUP_TABLE_NAMES, TABLE_NAMES, type TableName } from '../model/schema';
import { UNIT_ROWS } from './compact-hour';
import { dayFitsOneUnit, deleteOrphanSplits, finalizeJob, jobKey, keysKeyOfFile, missingWork, openJobKeys, parseJobKey, planDayJob, planHourJob, putJob, readJob, runSplit, runUnit, startMessages, type JobSettings, type Send, type UnitJob, type WorkMessage } from './compact-jobs';
import { compactedDtPrefix, DAY_US, FRESH_PREFIX, freshDtPrefix, HOUR_US, parseKey } from './layout';
import { readManifest, retiredDue, retireFresh, writeManifest, writeSymlink, type DayManifest, type LiveFile, type Retired } from './manifest';
import type { ParquetWriter } from './parquet';
import { NO_ROLLUPS, type RollupBuilder, type RollupContext, type RollupOutput } from './rollup-hook';
import type { Store, StoredObject } from './store';
import { unreadableFiles, type Quarantine } from './unreadable';

// Compaction of layout v2 (docs/architecture.md, "Storage layout"), per table and dt:
//   1. every closed UTC hour's fresh batch files -> hour files `hHH-<hash>[-uIofN].parquet`: one,
//      or for a large hour N units of bounded rows, each a set of (service, instance) pairs
//      (compact-hour.ts), all published in one manifest swap; deduped by profile_id (decided on
//      keys), sorted by service first so per-service reads prune on row-group statistics; fresh
//      files arriving for an hour already compacted (late uploads, redeliveries) become more hour
//      files holding only the rows the live files lack;
//   2. a closed day whose fresh files are all merged and that has more than one live file -> day
//      files `day-<hash>[-uIofN].parquet` (one swap): one when its rows fit one unit, else
//      key-range units (compact-jobs.ts planDayJob), each run apart (the stack's workers, or
//      `apart`: a process per unit); without either a larger day keeps its hour units, which are
//      written in the stored form already (STORED_ZSTD);
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
  /**
   * Close days larger than one unit, in key-range units (planDayJob). The stack's planner sets it:
   * there every unit runs in its own invocation with its own DuckDB. Off (and no `apart`), a day is
   * closed only when it fits one unit: one process running every unit of a large day grew to
   * 3.15 GB and died in DuckDB (SIGSEGV) at its 7th unit at 100 instances x 2 h, where each unit in
   * a fresh process peaked <= 2.37 GB (docs/performance.md "Day close in key-range units").
   */
  dayUnits?: boolean;
  /**
   * Where `compact` runs the units of jobs of several units and the split groups, hours' and days'
   * (WorkRunner): each in its own process with its own DuckDB, as the stack runs each in its own
   * worker invocation, so an hour or a large day compacts with a unit's memory, not the run's. Set,
   * large days are closed (as dayUnits).
   */
  apart?: WorkRunner;
  /** Fresh bytes per split group of an hour job (compact-jobs.ts; default SPLIT_GROUP_BYTES; tests make it small). */
  splitGroupBytes?: number;
  /** Hour jobs of at least this many units are split first (compact-jobs.ts; default SPLIT_MIN_UNITS). */
  splitMinUnits?: number;
  /** Called after each hour unit is written (benchmarks time units). */
  onUnit?: (u: UnitReport) => void;
  /**
   * Moves aside a fresh file of a closed hour DuckDB cannot read (lib/store/unreadable.ts); it is
   * then retired in its manifest and the hour is planned without it. Without it such a file stops
   * the run with an error naming it.
   */
  quarantine?: Quarantine;
}

/** One unit written (CompactOptions.onUnit): hour -1 for a day unit, unit -1 for a split group. */
export interface UnitReport {
  table: TableName;
  dt: string;
  hour: number;
  unit: number;
  units: number;
  rows: number;
  ms: number;
  /** A unit run apart (CompactOptions.apart): its process's peak RSS (MB, DuckDB's native memory included) and CPU time (ms, all threads). */
  peakMb?: number;
  cpuMs?: number;
}

/** What a work message run apart did: the counters it added, the messages it sent, the units it wrote. */
export interface WorkOutcome {
  result: CompactResult;
  sent: WorkMessage[];
  units: UnitReport[];
}

/**
 * Runs work messages outside this process's DuckDB (lib/aws/compact-units.ts: a child process per
 * message running the compaction worker's code), up to `jobs` at once.
 */
export interface WorkRunner {
  readonly jobs: number;
  run(msg: WorkMessage): Promise<WorkOutcome>;
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
  /** Fresh files DuckDB could not read, quarantined (CompactOptions.quarantine), with the reason naming each. */
  refused: { key: string; reason: string }[];
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

export { dayFitsOneUnit };

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
    while (queue.length > 0) {
      const apart: WorkMessage[] = [];
      for (const msg of queue.splice(0)) {
        if (opts.apart && (await runsApart(store, msg))) apart.push(msg);
        else await compactWork(store, writer, msg, opts, result, send);
      }
      if (apart.length > 0) await runApart(opts.apart!, apart, opts, result, send);
    }
  }
  return result;
}

/**
 * A unit of a job of several units (an hour's or a day's), or a split group: run apart
 * (CompactOptions.apart). One process running an hour's units one after another peaked 3,355 MB at
 * 100 instances where each unit in its own process stays a unit's size (docs/performance.md "In
 * `fleetprof compact` and the benchmarks, a process per unit"). A job of one unit (small tables,
 * small fleets) and the rollups run here: they are small, and a process costs ~1 s to start.
 */
async function runsApart(store: Store, msg: WorkMessage): Promise<boolean> {
  if (msg.kind === 'split') return true;
  if (msg.kind !== 'unit') return false;
  const job = await readJob(store, msg.job);
  return job !== null && job.names.length > 1;
}

/** `messages` on the runner, `runner.jobs` at a time; what they add and send joins this run's. */
async function runApart(runner: WorkRunner, messages: readonly WorkMessage[], opts: CompactOptions, result: CompactResult, send: Send): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < messages.length) {
      const o = await runner.run(messages[next++]);
      addResult(result, o.result);
      for (const u of o.units) opts.onUnit?.(u);
      await send(o.sent);
    }
  };
  // Every lane runs to the end even when one fails (a unit is safe to re-run; the next run resends what is missing).
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(runner.jobs, messages.length)) }, lane));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

function addResult(into: CompactResult, r: CompactResult): void {
  for (const k of Object.keys(into) as (keyof CompactResult)[]) {
    if (k === 'refused') into.refused.push(...(r.refused ?? []));
    else into[k] += r[k];
  }
}

export function emptyResult(): CompactResult {
  return { hours: 0, days: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0, deleted: 0, conflicts: 0, rollupFiles: 0, rollupRows: 0, rollupHours: 0, rollupDays: 0, rollupMs: 0, refused: [] };
}

/** Planner, then its work, then the planner again: a day needs its hours live and rolled up first. */
const MAX_ROUNDS = 6;

const isRollupTable = (t: TableName) => (ROLLUP_TABLE_NAMES as readonly TableName[]).includes(t);
const isRawTable = (t: TableName) => (RAW_TABLE_NAMES as readonly TableName[]).includes(t);

/**
 * Row groups of stacks HOUR files: half the stored form's. A unit's writer holds a whole row group
 * of list columns beside its sort, and at 1,769 MB that row group decided the peak, not the unit's
 * rows: a 2.4M-row stacks unit peaked 1,637 MB with 512K-row groups and 1,404 MB with 256K (1.25M
 * rows: 1,527 / 1,401), and sorted with less spill (docs/performance.md "Cost model"). Hour files
 * live until their day closes (the stack's planner and `fleetprof compact` close every day in
 * units), so their larger bytes are held a day; day files keep the stored form's groups.
 */
export const HOUR_STACKS_ROW_GROUP_ROWS = 1 << 18;

/** zstd level and row groups of a job's outputs (see STORED_ZSTD; stacks hour files: HOUR_STACKS_ROW_GROUP_ROWS). */
function jobSettings(job: Pick<UnitJob, 'table' | 'span'>, opts: CompactOptions): JobSettings {
  const rowGroupRows = job.table === 'stacks' && job.span !== 'day' ? HOUR_STACKS_ROW_GROUP_ROWS : storedRowGroupRows(job.table);
  return { zstdLevel: opts.zstdLevel ?? STORED_ZSTD, rowGroupRows };
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
  if (p.housekeeping) acted += (await deleteOrphanSplits(store)) + (await deleteOrphanMarks(store, rollups));
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
        const job = await planReadableHour(store, writer, table, dt, hour, inputs, m, opts, result, { unitRows, rollupSource: rollups.sources.includes(table), now, splitGroupBytes: opts.splitGroupBytes, splitMinUnits: opts.splitMinUnits });
        acted++;
        if (!job) continue; // every input was unreadable (quarantined)
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

    // No open job: the dt's rollups (sent: one message per pending hour and rollup table, run by
    // parallel workers), then its day forms and day close.
    const rollupWork = await rollupMessages(store, rollups, dt);
    if (rollupWork.length > 0) {
      await send(rollupWork);
      acted++;
      continue;
    }
    if (opts.afterDt) await opts.afterDt(dt, result);
    if (!(dayStartMs + DAY_US / 1000 <= closedBefore)) continue;
    for (const table of tables) {
      if (!isRawTable(table)) continue;
      const { manifest: m } = await readManifest(store, table, dt);
      if ((freshOf.get(table) ?? []).length > 0 || m.live.length <= 1 || !m.live.some((f) => !f.name.startsWith('day-'))) continue;
      // The day close in units of runs of (service, instance) pairs, each reading only the files
      // (and in them mostly the row groups) of its pairs (planDayJob); null: files of an earlier
      // build without key counts, more than one unit: they stay as they are.
      const job = await planDayJob(store, writer, table, dt, m, { unitRows, rollupSource: rollups.sources.includes(table), now });
      if (!job || (job.names.length > 1 && !opts.dayUnits && !opts.apart)) continue;
      await putJob(store, job);
      await send(job.names.map((_, unit) => ({ kind: 'unit' as const, job: jobKey(job), unit })));
      acted++;
    }
  }
  return acted;
}

/**
 * planHourJob over the hour's fresh `inputs`. When it fails on files DuckDB cannot read (a corrupt
 * or truncated upload of ingest's, in an hour the merger no longer takes: lib/store/merge.ts does
 * the same for open hours), each is quarantined (opts.quarantine: copied aside with its reason,
 * then listed as merged and retired, so readers skip it at once) and named in `result.refused`,
 * and the hour is planned again without them: nothing of it was written yet, and a re-run finds
 * them merged. null when no input is left. Without a quarantine, an error naming the files.
 */
async function planReadableHour(store: Store, writer: ParquetWriter, table: TableName, dt: string, hour: number, inputs: readonly StoredObject[], manifest: DayManifest, opts: CompactOptions, result: CompactResult, o: Parameters<typeof planHourJob>[7]): Promise<UnitJob | null> {
  let left = [...inputs];
  let m = manifest;
  for (;;) {
    try {
      return await planHourJob(store, writer, table, dt, hour, left, m, o);
    } catch (e) {
      const bad = await unreadableFiles(writer, left, await Promise.all(left.map((x) => store.localPath(x))));
      if (bad.length === 0) throw e;
      if (!opts.quarantine) throw new Error(`${bad.map((f) => f.reason).join('; ')}: hour ${hour} of ${table} dt=${dt} not compacted (no quarantine to move it aside)`, { cause: e });
      for (const f of bad) {
        // Aside first, then skipped: a run that fails in between finds the file again.
        await opts.quarantine(f);
        await retireFresh(store, table, dt, f.key, o.now);
        result.refused.push({ key: f.key, reason: f.reason });
      }
      const gone = new Set(bad.map((f) => f.key));
      left = left.filter((x) => !gone.has(x.key));
      if (left.length === 0) return null;
      m = (await readManifest(store, table, dt)).manifest;
    }
  }
}

/** A dt's live source files awaiting their rollups, by hour (an hour file) or 'day' (a day file). */
async function pendingGroups(store: Store, rollups: RollupBuilder, dt: string): Promise<Map<number | 'day', Map<TableName, LiveFile[]>>> {
  const groups = new Map<number | 'day', Map<TableName, LiveFile[]>>();
  for (const table of rollups.sources) {
    const { manifest } = await readManifest(store, table, dt);
    for (const f of manifest.live.filter((x) => x.rollup === 'pending')) {
      // A day file is a day file even when the day had one hour of data.
      const g = f.name.startsWith('day-') ? 'day' : f.hours[0];
      let group = groups.get(g);
      if (!group) groups.set(g, (group = new Map()));
      group.set(table, [...(group.get(table) ?? []), f]);
    }
  }
  return groups;
}

/** The tag of a group's inputs (`<table>/<name>`, sorted): names its rollup files and its done marks. */
const groupTag = (files: Map<TableName, LiveFile[]>) => hashOf([...files].flatMap(([t, list]) => list.map((f) => `${t}/${f.name}`)).sort());

/**
 * The work a dt's pending rollups need: per pending hour, one message per table of the builder's
 * `hourTables` (built in parallel, each by one worker); a pending day file, one `rollups` message
 * (the day's source files replaced their hour files: nothing to build for the compactor's builder,
 * its marks are cleared in one worker).
 */
export async function rollupMessages(store: Store, rollups: RollupBuilder, dt: string): Promise<WorkMessage[]> {
  if (rollups.sources.length === 0) return [];
  const groups = await pendingGroups(store, rollups, dt);
  const out: WorkMessage[] = [];
  let whole = groups.has('day');
  for (const hour of [...groups.keys()].filter((g): g is number => g !== 'day').sort((a, b) => a - b)) {
    if (rollups.hourTables.length === 0) whole = true;
    else out.push(...rollups.hourTables.map((table) => ({ kind: 'rollup' as const, dt, hour, table })));
  }
  return whole ? [...out, { kind: 'rollups', dt }] : out;
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
    if (r === 'published' && rollups.sources.length > 0 && !(await dtHasOpenJobs(store, job.dt))) await send(await rollupMessages(store, rollups, job.dt));
    return;
  }
  if (rollups.sources.length === 0 || (await dtHasOpenJobs(store, msg.dt))) return; // the last job's finalizer sends another
  const t0 = Date.now();
  if (msg.kind === 'rollup') {
    await rollupHourTable(store, writer, msg.dt, msg.hour, msg.table, rollups, opts, result);
  } else {
    // The dt's pending day files here; its pending hours fanned out (a message of an earlier build, or a builder without hourTables).
    await rollupDt(store, writer, msg.dt, rollups, opts, result, rollups.hourTables.length === 0 ? 'all' : 'day');
    await send((await rollupMessages(store, rollups, msg.dt)).filter((m) => m.kind === 'rollup'));
    if (opts.afterDt && (await pendingGroups(store, rollups, msg.dt)).size === 0) await opts.afterDt(msg.dt, result);
  }
  result.rollupMs += Date.now() - t0;
}

async function dtHasOpenJobs(store: Store, dt: string): Promise<boolean> {
  return (await openJobKeys(store)).some((k) => parseJobKey(k)?.dt === dt);
}

/** Deferred deletes of `table`'s dt: files retired at least `grace` ago are deleted, then dropped from the manifest. Returns 1 when it changed the manifest. */
async function housekeepDt(store: Store, table: TableName, dt: string, now: number, grace: number, result: CompactResult): Promise<number> {
  const dir = compactedDtPrefix(table, dt);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, table, dt);
    // A retired key that is live again (the same inputs merged again under the same name), or the
    // key counts of such a file, is not deleted.
    const liveKeys = new Set(m.live.flatMap((f) => [dir + f.name, keysKeyOfFile(table, dt, f.name) ?? []].flat()));
    let retired: Retired[] = m.retired.filter((r) => !liveKeys.has(r.key));
    const due = retired.filter((r) => retiredDue(r, grace, now));
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
async function rollupDt(store: Store, writer: ParquetWriter, dt: string, rollups: RollupBuilder, opts: CompactOptions, result: CompactResult, which: 'all' | 'day'): Promise<void> {
  const groups = await pendingGroups(store, rollups, dt);
  const ctx = rollupContext(store, writer, dt);
  for (const [g, files] of [...groups].sort(([a], [b]) => (a === 'day' ? 1 : b === 'day' ? -1 : a - b))) {
    if (which === 'day' && g !== 'day') continue;
    const outputs = g !== 'day' ? await rollups.hour({ ...ctx, hour: g, pendingFiles: pendingPaths(store, dt, files) }) : await rollups.day({ ...ctx, files: pendingPaths(store, dt, files) });
    const tag = groupTag(files);
    for (const [i, out] of outputs.entries()) await publishDerived(store, dt, out, `${g !== 'day' ? rollupPrefix(g) : 'rday'}-${tag}-${i}.parquet`, opts, result);
    await removeEmptyDirs(store, outputs);
    if (g !== 'day') result.rollupHours++;
    else if (outputs.length > 0) result.rollupDays++;
    for (const [table, list] of files) await clearPending(store, table, dt, new Set(list.map((f) => f.name)), result);
  }
}

const rollupPrefix = (hour: number) => `r${String(hour).padStart(2, '0')}`;

function rollupContext(store: Store, writer: ParquetWriter, dt: string): RollupContext {
  return {
    store,
    writer,
    dt,
    scratchDir: store.scratchDir,
    liveFiles: async (table: TableName) => {
      const { manifest } = await readManifest(store, table, dt);
      return Promise.all(manifest.live.map((f) => livePath(store, compactedDtPrefix(table, dt) + f.name)));
    },
  };
}

/** A group's pending files of one table, fetched when the builder asks (RollupHourInput.pendingFiles). */
function pendingPaths(store: Store, dt: string, files: Map<TableName, LiveFile[]>): (table: TableName) => Promise<string[]> {
  return (table) => Promise.all((files.get(table) ?? []).map((f) => livePath(store, compactedDtPrefix(table, dt) + f.name)));
}

/** Where the done marks of one hour's rollup tables go: `<prefix>dt=D/hHH-<tag>/<table>.done`. */
export const ROLLUP_MARKS_PREFIX = '_compaction-rollup/';
const marksPrefix = (dt: string, hour: number, tag: string) => `${ROLLUP_MARKS_PREFIX}dt=${dt}/h${String(hour).padStart(2, '0')}-${tag}/`;

/**
 * One rollup table of one pending hour (a `rollup` work message; the hour's other tables run
 * beside it in other workers). Its inputs are the hour's pending source files at the time it
 * runs (their tag names its output and its done mark), so a redelivery, a duplicate beside it
 * or a message of an older state finds the mark or the output live and builds nothing twice:
 *   build the table -> publish `rHH-<tag>-<i>` (replacing the hour's earlier files of the table;
 *   skipped when live) -> PUT the table's done mark -> finishHour.
 * A build whose hour changed meanwhile (a late file compacted: another tag) is dropped: the
 * compaction that changed it sends the hour's messages again.
 */
async function rollupHourTable(store: Store, writer: ParquetWriter, dt: string, hour: number, table: TableName, rollups: RollupBuilder, opts: CompactOptions, result: CompactResult): Promise<void> {
  if (!rollups.hourTables.includes(table)) throw new Error(`rollup message: ${table} is not an hour table of the builder (${rollups.hourTables.join(', ')})`);
  const files = (await pendingGroups(store, rollups, dt)).get(hour);
  if (!files) return; // done already (a redelivery), or nothing of that hour to roll up
  const tag = groupTag(files);
  const marks = marksPrefix(dt, hour, tag);
  if (!(await store.list(marks + table + '.done')).some((o) => o.key === marks + table + '.done')) {
    const outputs = await rollups.hour({ ...rollupContext(store, writer, dt), hour, pendingFiles: pendingPaths(store, dt, files), table });
    try {
      const now = (await pendingGroups(store, rollups, dt)).get(hour);
      if (!now || groupTag(now) !== tag) return;
      for (const [i, out] of outputs.entries()) await publishDerived(store, dt, out, `${rollupPrefix(hour)}-${tag}-${i}.parquet`, opts, result);
    } finally {
      for (const o of outputs) await fs.rm(o.localPath, { force: true });
      await removeEmptyDirs(store, outputs);
    }
    await putMark(store, marks + table + '.done');
  }
  await finishHour(store, writer, dt, hour, files, tag, rollups, opts, result);
}

async function putMark(store: Store, key: string): Promise<void> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.done`);
  await fs.writeFile(tmp, '');
  try {
    await store.putFile(key, tmp);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Once every table of `hourTables` has its done mark for the hour's tag (one LIST; whoever finds
 * them all, two finishers being safe): the builder's `hourLast` table (the one readers take an
 * hour as rolled up from, so it goes live after the others), then the pending marks of the tag's
 * source files cleared, the done marks deleted, and the dt's day forms (`afterDt`) once nothing of
 * the dt is pending.
 */
async function finishHour(store: Store, writer: ParquetWriter, dt: string, hour: number, files: Map<TableName, LiveFile[]>, tag: string, rollups: RollupBuilder, opts: CompactOptions, result: CompactResult): Promise<void> {
  const marks = marksPrefix(dt, hour, tag);
  const listed = await store.list(marks);
  const done = new Set(listed.map((o) => o.key.slice(marks.length).replace(/\.done$/, '')));
  if (!rollups.hourTables.every((t) => done.has(t))) return;
  const last = rollups.hourLast;
  if (last) {
    const name = (i: number) => `${rollupPrefix(hour)}-${tag}-${i}.parquet`;
    if (!(await readManifest(store, last, dt)).manifest.live.some((f) => f.name === name(0))) {
      const outputs = await rollups.hour({ ...rollupContext(store, writer, dt), hour, pendingFiles: pendingPaths(store, dt, files), table: last });
      for (const [i, out] of outputs.entries()) await publishDerived(store, dt, out, name(i), opts, result);
      await removeEmptyDirs(store, outputs);
    }
  }
  for (const [table, list] of files) await clearPending(store, table, dt, new Set(list.map((f) => f.name)), result);
  result.rollupHours++;
  for (const o of listed) await store.delete(o.key);
  if (opts.afterDt && (await pendingGroups(store, rollups, dt)).size === 0) await opts.afterDt(dt, result);
}

/**
 * Done marks left behind (a duplicate message that marked its table after the hour was finished,
 * or the marks of a tag whose hour changed): those whose tag is not its hour's pending tag now.
 * One LIST of a prefix empty but for hours being rolled up. Returns the objects deleted.
 */
export async function deleteOrphanMarks(store: Store, rollups: RollupBuilder): Promise<number> {
  const dirs = new Map<string, { dt: string; hour: number; tag: string; keys: string[] }>();
  for (const o of await store.list(ROLLUP_MARKS_PREFIX)) {
    const m = /^_compaction-rollup\/dt=(\d{4}-\d{2}-\d{2})\/h(\d{2})-([0-9a-f]+)\//.exec(o.key);
    if (!m) continue;
    const d = dirs.get(m[0]) ?? { dt: m[1], hour: Number(m[2]), tag: m[3], keys: [] };
    d.keys.push(o.key);
    dirs.set(m[0], d);
  }
  let n = 0;
  for (const d of dirs.values()) {
    const files = (await pendingGroups(store, rollups, d.dt)).get(d.hour);
    if (files && groupTag(files) === d.tag) continue;
    for (const k of d.keys) await store.delete(k);
    n += d.keys.length;
  }
  return n;
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

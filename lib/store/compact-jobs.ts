import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROLLUP_TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { compareUtf8, endHour, packUnits, planDay, planHour, writeSplit, writeUnit, type HourPlan, type HourUnit, type UnitSource } from './compact-hour';
import { compactedDtPrefix, freshDtPrefix, HOUR_US } from './layout';
import { hashTag, hourJobTag, outputNames, spanName } from './hour-job-names';
import { readManifest, RETAIN_INPUTS_MS, RETAIN_INPUTS_TABLES, writeManifest, writeSymlink, type DayManifest, type LiveFile, type Retired } from './manifest';
import type { ParquetWriter } from './parquet';
import type { Store, StoredObject } from './store';

// Compaction as work items (issue #11 point 4: an hour of 1,000 instances needs ~35 units, more
// than one 15-minute Lambda can sort). Three roles, each safe to run twice or beside the others:
//
//   plan      one table's closed hour (or closed day) -> a JOB: its inputs, the dedupe's outcome,
//             its units (compact-hour.ts) and their output names, PUT as
//             `_compaction/<table>/dt=D/<hHH|day>-<tag>.json` (the tag hashes the inputs, so two
//             planners of the same state write the same job), then one message per unit;
//   unit      one unit of a job -> its output file at its final key `<table>/dt=D/<name>.parquet`
//             (nothing reads it before the manifest names it; a PUT is atomic, so a crashed
//             worker leaves nothing or the whole file, and a redelivered message rewrites the
//             same rows under the same name);
//   finalize  once every output of a job exists: the job's ONE manifest swap (compare-and-swap:
//             of two finalizers one wins, the other re-reads and finds the job done), then the
//             job object is deleted; the dt's last job's finalizer sends its rollups;
//   rollup    one rollup table of one closed hour (compact.ts rollupHourTable), every table of
//             the hour in its own message, in parallel; whoever finds them all done publishes the
//             hour's profiles_1h last and clears the hour's pending marks.
// A job is applied only if the manifest still holds what it was planned from (an hour: the same
// live files cover it and none of its inputs is merged; a day: the same live files); otherwise it
// is stale, and its outputs are retired like replaced files (deleted after the grace). The planner
// opens at most one job per table and hour (a late file waits for the next plan), so stale jobs
// only come from two planners racing. Readers (DuckDB through the manifest, Athena through
// symlink.txt) see a job's rows as the fresh files before the swap and as its outputs after it,
// never both.
//
// lib/store/compact.ts runs all three in one process (`fleetprof compact`, the benchmarks);
// lambdas/compact.ts (the scheduled planner) and lambdas/compact-worker.ts (the queue's worker)
// run them across invocations with the same functions.

export const JOBS_PREFIX = '_compaction/';
/**
 * Split files (`<prefix><table>/dt=D/hHH-<tag>/g<j>-<attempt>-u<i>-<k>.parquet`) and group markers
 * (`g<j>.done`, naming the files of the attempt that wrote it); their own prefix, so listing open
 * jobs stays one short LIST.
 */
export const SPLITS_PREFIX = '_compaction-split/';
/**
 * Fresh bytes per split group: one worker reads a group once and writes it out again per unit.
 * At 1,000 instances a table-hour's fresh files are one group or two; at 10,000 the groups split
 * in parallel, so no split runs longer than its group's bytes take.
 */
export const SPLIT_GROUP_BYTES = 128 * 1024 * 1024;
/**
 * Hour jobs of at least this many units are split first. Without a split each of U units reads
 * the whole hour (U reads); with it the hour is read once, written once (the split files) and
 * read once more in parts (2 reads + 1 write). Measured on production-like fresh files
 * (bench/compact-fanout.ts, 100 instances, ~300 files per table-hour, docs/performance.md
 * "Fan-out"): a write costs ~3x a read for stacks (list columns) and ~2.3x for functions, so the
 * split pays from ~5-6 units; an hour of 1,000 instances has ~17 per table.
 */
export const SPLIT_MIN_UNITS = 6;

export interface UnitJob {
  readonly version: 1;
  readonly table: TableName;
  readonly dt: string;
  /** A UTC hour (0..23), or the day consolidation. */
  readonly span: number | 'day';
  readonly tag: string;
  /** Hour: the fresh batch keys it merges. Day: the live file names it replaces. */
  readonly inputs: readonly string[];
  /** Hour: names of the live files covering the hour when planned (the dedupe's "already compacted" side). */
  readonly covering: readonly string[];
  /** Output file names in `<table>/dt=D/`, one per unit. */
  readonly names: readonly string[];
  /** Hours the outputs hold. */
  readonly hours: readonly number[];
  readonly units: readonly HourUnit[];
  /** (profile_id, batch) keys whose rows do not count (compact-hour.ts planHour). */
  readonly droppedKeys: readonly (readonly [string, string])[];
  /** Outputs are marked rollup: 'pending' (their table is a rollup source). */
  readonly rollupSource: boolean;
  readonly bytesBefore: number;
  /**
   * Hour jobs of more than one unit: the number of split groups (consecutive runs of `inputs`;
   * SPLIT_GROUP_BYTES each). A split message per group writes one split file per unit that has
   * rows in it; then each unit reads only its own split files. Absent (one unit, day jobs, jobs
   * planned before the split): each unit reads every input.
   */
  readonly splits?: number;
  /** When planned, epoch ms (a planner re-sends the units of an older job whose outputs are missing). */
  readonly at: number;
  /**
   * Day jobs of more than one unit: per unit, the indexes in `inputs` of the files holding some
   * of its pairs (from the inputs' key counts, keysKey). A unit reads only those; absent, every input.
   */
  readonly unitInputs?: readonly (readonly number[])[];
}

export type WorkMessage =
  | { readonly kind: 'unit'; readonly job: string; readonly unit: number }
  | { readonly kind: 'split'; readonly job: string; readonly group: number }
  /** One rollup table of one pending hour (compact.ts rollupHourTable): an hour's tables run in parallel. */
  | { readonly kind: 'rollup'; readonly dt: string; readonly hour: number; readonly table: TableName }
  /** A dt's pending day files; pending hours are fanned out into `rollup` messages. */
  | { readonly kind: 'rollups'; readonly dt: string };

/** Where the work goes: the compaction queue (SQS) in the stack, an in-process list locally. */
export type Send = (messages: readonly WorkMessage[]) => Promise<void>;

export interface JobSettings {
  zstdLevel: number;
  rowGroupRows: number;
}

export interface JobResult {
  hours: number;
  days: number;
  filesMerged: number;
  bytesBefore: number;
  bytesAfter: number;
  conflicts: number;
}

export function jobsDtPrefix(table: string, dt: string): string {
  return `${JOBS_PREFIX}${table}/dt=${dt}/`;
}


export function jobKey(j: Pick<UnitJob, 'table' | 'dt' | 'span' | 'tag'>): string {
  return `${jobsDtPrefix(j.table, j.dt)}${spanName(j.span)}-${j.tag}.json`;
}

/** Where a job's split files and group markers go. */
export function splitPrefix(j: Pick<UnitJob, 'table' | 'dt' | 'span' | 'tag'>): string {
  return `${SPLITS_PREFIX}${j.table}/dt=${j.dt}/${spanName(j.span)}-${j.tag}/`;
}

const splitMarker = (j: UnitJob, group: number) => `${splitPrefix(j)}g${group}.done`;

/**
 * Key counts of a published job's outputs (`<prefix><table>/dt=D/<hHH|day>-<tag>.json`: per
 * output file name, its (service, instance, rows) triples), PUT by the finalizer before its
 * manifest swap, so every live file of a job planned since 2026-12-03 has them. The day close
 * plans from them: its units (runs of pairs, like an hour's) and, per unit, the files holding its
 * pairs, without reading the day. Retired with the files they describe. Not in the manifest: at
 * 1,000 instances a day's hour files hold ~24,000 (pair, count) entries per table, and every
 * query reads the manifest.
 */
export const KEYS_PREFIX = '_compaction-keys/';

export function keysKey(j: Pick<UnitJob, 'table' | 'dt' | 'span' | 'tag'>): string {
  return `${KEYS_PREFIX}${j.table}/dt=${j.dt}/${spanName(j.span)}-${j.tag}.json`;
}

/** The key-counts object of a compacted file, from its name (outputNames); null for other names. */
export function keysKeyOfFile(table: string, dt: string, name: string): string | null {
  const m = /^(day|h\d{2})-([0-9a-f]+)(?:-u\d+of\d+)?\.parquet$/.exec(name);
  return m ? `${KEYS_PREFIX}${table}/dt=${dt}/${m[1]}-${m[2]}.json` : null;
}

type PairCount = readonly [string, string, number];

interface KeyCounts {
  readonly version: 1;
  readonly files: Readonly<Record<string, readonly PairCount[]>>;
}

async function putKeyCounts(store: Store, job: UnitJob): Promise<void> {
  if (!job.units.every((u) => u.counts && u.counts.length === u.pairs.length)) return; // planned by an earlier build
  const files: Record<string, PairCount[]> = {};
  for (const [i, name] of job.names.entries()) files[name] = job.units[i].pairs.map((p, k) => [p[0], p[1], job.units[i].counts![k]] as const);
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.json`);
  await fs.writeFile(tmp, JSON.stringify({ version: 1, files } satisfies KeyCounts));
  try {
    await store.putFile(keysKey(job), tmp);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Each named file's (service, instance, rows) triples; null when some file has none (compacted by an earlier build). */
async function readKeyCounts(store: Store, table: string, dt: string, names: readonly string[]): Promise<Map<string, readonly PairCount[]> | null> {
  const byKey = new Map<string, string[]>();
  for (const n of names) {
    const k = keysKeyOfFile(table, dt, n);
    if (!k) return null;
    byKey.set(k, [...(byKey.get(k) ?? []), n]);
  }
  const out = new Map<string, readonly PairCount[]>();
  for (const [k, files] of byKey) {
    const b = await store.read(k);
    if (!b) return null;
    const c = JSON.parse(Buffer.from(b).toString('utf8')) as KeyCounts;
    if (c.version !== 1) throw new Error(`${k}: unknown key counts version ${String(c.version)}`);
    for (const f of files) {
      const list = c.files[f];
      if (!list) return null;
      out.set(f, list);
    }
  }
  return out;
}

/** Group g's inputs: consecutive runs of the job's inputs, as even as the count allows. */
export function splitGroup(j: Pick<UnitJob, 'inputs' | 'splits'>, group: number): string[] {
  const g = j.splits ?? 1;
  const per = Math.ceil(j.inputs.length / g);
  return j.inputs.slice(group * per, (group + 1) * per);
}

/** The groups whose split is done (their markers), from one LIST of the job's split prefix. */
async function splitState(store: Store, job: UnitJob): Promise<{ done: Set<number>; files: StoredObject[] }> {
  const listed = await store.list(splitPrefix(job));
  const done = new Set<number>();
  const files: StoredObject[] = [];
  for (const o of listed) {
    const name = o.key.slice(splitPrefix(job).length);
    const m = /^g(\d+)\.done$/.exec(name);
    if (m) done.add(Number(m[1]));
    else if (name.endsWith('.parquet')) files.push(o);
  }
  return { done, files };
}

/**
 * Unit i's split files: in each group, those its marker names (the attempt that wrote the marker);
 * a marker of the first split build is empty, and then the group's files of the unit are read.
 * A named file that is gone fails the unit (retried), never reads a group short.
 */
async function unitSplitFiles(store: Store, job: UnitJob, i: number, files: readonly StoredObject[]): Promise<StoredObject[]> {
  const prefix = splitPrefix(job);
  const byName = new Map(files.map((o) => [o.key.slice(prefix.length), o]));
  const mine = new RegExp(`-u${i}-\\d+\\.parquet$`);
  const out: StoredObject[] = [];
  for (let g = 0; g < (job.splits ?? 0); g++) {
    const text = Buffer.from((await store.read(splitMarker(job, g))) ?? new Uint8Array()).toString('utf8');
    const named = text ? (JSON.parse(text) as { files: string[] }).files : [...byName.keys()].filter((n) => new RegExp(`^g${g}-u\\d+-\\d+\\.parquet$`).test(n));
    for (const n of named.filter((x) => mine.test(x))) {
      const o = byName.get(n);
      if (!o) throw new Error(`${jobKey(job)}: split file ${n} of group ${g} is missing`);
      out.push(o);
    }
  }
  return out;
}

/** Deletes a job's split files (markers first: a unit that sees every marker finds every file). */
export async function deleteSplits(store: Store, job: Pick<UnitJob, 'table' | 'dt' | 'span' | 'tag'>): Promise<number> {
  const listed = await store.list(splitPrefix(job));
  const ordered = [...listed.filter((o) => o.key.endsWith('.done')), ...listed.filter((o) => !o.key.endsWith('.done'))];
  for (const o of ordered) await store.delete(o.key);
  return ordered.length;
}

/**
 * Split files whose job is gone (a redelivered split that ran while its job was finalized): one
 * LIST of the split prefix (empty but for running jobs), and the job read for each directory
 * found. A job is PUT before its split messages are sent, so a running job's files are never
 * taken for orphans. Returns the objects deleted.
 */
export async function deleteOrphanSplits(store: Store): Promise<number> {
  const dirs = new Map<string, { table: TableName; dt: string; span: number | 'day'; tag: string }>();
  for (const o of await store.list(SPLITS_PREFIX)) {
    const m = /^_compaction-split\/([a-z0-9_]+)\/dt=(\d{4}-\d{2}-\d{2})\/(day|h(\d{2}))-([0-9a-f]+)\//.exec(o.key);
    if (m) dirs.set(m[0], { table: m[1] as TableName, dt: m[2], span: m[3] === 'day' ? 'day' : Number(m[4]), tag: m[5] });
  }
  let n = 0;
  for (const j of dirs.values()) if (!(await store.read(jobKey(j)))) n += await deleteSplits(store, j);
  return n;
}

/** The messages that start a job's work: its split groups, or its units when it has no split. */
export function startMessages(job: UnitJob): WorkMessage[] {
  const key = jobKey(job);
  if (job.splits) return Array.from({ length: job.splits }, (_, group) => ({ kind: 'split' as const, job: key, group }));
  return job.names.map((_, unit) => ({ kind: 'unit' as const, job: key, unit }));
}

/**
 * What to re-send for an open job whose outputs are not all there (lost or failed messages): its
 * splits not done, else its units without an output.
 */
export async function missingWork(store: Store, job: UnitJob): Promise<WorkMessage[]> {
  const key = jobKey(job);
  if (job.splits) {
    const { done } = await splitState(store, job);
    const groups = Array.from({ length: job.splits }, (_, g) => g).filter((g) => !done.has(g));
    if (groups.length > 0) return groups.map((group) => ({ kind: 'split' as const, job: key, group }));
  }
  const dir = compactedDtPrefix(job.table, job.dt);
  const have = new Set((await store.list(`${dir}${spanName(job.span)}-${job.tag}`)).map((o) => o.key));
  return job.names.flatMap((n, unit) => (have.has(dir + n) ? [] : [{ kind: 'unit' as const, job: key, unit }]));
}

export async function putJob(store: Store, job: UnitJob): Promise<string> {
  const key = jobKey(job);
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.json`);
  await fs.writeFile(tmp, JSON.stringify(job));
  await store.putFile(key, tmp);
  return key;
}

export async function readJob(store: Store, key: string): Promise<UnitJob | null> {
  const b = await store.read(key);
  if (!b) return null;
  const j = JSON.parse(Buffer.from(b).toString('utf8')) as UnitJob;
  if (j.version !== 1) throw new Error(`${key}: unknown compaction job version ${String(j.version)}`);
  return j;
}

/** Open jobs (keys) of the store, or of one table and dt: one LIST of a prefix holding only open jobs. */
export async function openJobKeys(store: Store, table?: string, dt?: string): Promise<string[]> {
  const prefix = table !== undefined && dt !== undefined ? jobsDtPrefix(table, dt) : JOBS_PREFIX;
  return (await store.list(prefix)).map((o) => o.key).filter((k) => k.endsWith('.json'));
}

/** What a job key names (without reading it). */
export function parseJobKey(key: string): { table: string; dt: string; span: number | 'day' } | null {
  const m = /^_compaction\/([a-z0-9_]+)\/dt=(\d{4}-\d{2}-\d{2})\/(day|h(\d{2}))-[0-9a-f]+\.json$/.exec(key);
  if (!m) return null;
  return { table: m[1], dt: m[2], span: m[3] === 'day' ? 'day' : Number(m[4]) };
}

export type JobState = 'open' | 'done' | 'stale';

/** Whether the manifest still holds what the job was planned from (open), already holds its outputs (done), or neither (stale). */
export function jobState(job: UnitJob, m: DayManifest): JobState {
  const live = new Set(m.live.map((f) => f.name));
  if (job.names.length > 0 && job.names.every((n) => live.has(n))) return 'done';
  if (job.span === 'day') {
    const inputs = new Set(job.inputs);
    return live.size === inputs.size && [...live].every((n) => inputs.has(n)) ? 'open' : 'stale';
  }
  const hour = job.span;
  const merged = new Set(m.merged);
  if (job.names.length === 0 && job.inputs.every((k) => merged.has(k))) return 'done';
  const covering = m.live.filter((f) => f.hours.includes(hour)).map((f) => f.name);
  const same = covering.length === job.covering.length && covering.every((n) => job.covering.includes(n));
  return same && !job.inputs.some((k) => merged.has(k)) ? 'open' : 'stale';
}

/** Local paths of a job's inputs (fresh batch files of its hour, or the day's live files: those of `unit` when the job says which). */
async function inputPaths(store: Store, job: UnitJob, unit?: number): Promise<{ fresh: string[]; live: string[] }> {
  const dir = compactedDtPrefix(job.table, job.dt);
  const dayInputs = unit !== undefined && job.unitInputs ? job.unitInputs[unit].map((k) => job.inputs[k]) : job.inputs;
  const liveNames = job.span === 'day' ? dayInputs : job.covering;
  const listedLive = new Map((liveNames.length > 0 ? await store.list(dir) : []).map((o) => [o.key, o]));
  const live = await Promise.all(liveNames.map((n) => pathOf(store, listedLive, dir + n)));
  if (job.span === 'day') return { fresh: [], live };
  const hourPrefix = `${freshDtPrefix(job.table, job.dt)}hour=${String(job.span).padStart(2, '0')}/`;
  const listedFresh = new Map((await store.list(hourPrefix)).map((o) => [o.key, o]));
  return { fresh: await Promise.all(job.inputs.map((k) => pathOf(store, listedFresh, k))), live };
}

function pathOf(store: Store, listed: Map<string, StoredObject>, key: string): Promise<string> {
  const o = listed.get(key);
  if (!o) throw new Error(`compaction input ${key} is missing`);
  return store.localPath(o);
}

/** Plans one closed hour of a table from the manifest `m` and the hour's unmerged fresh files. */
export async function planHourJob(
  store: Store,
  writer: ParquetWriter,
  table: TableName,
  dt: string,
  hour: number,
  inputs: readonly StoredObject[],
  m: DayManifest,
  o: { unitRows: number; rollupSource: boolean; now: number; splitGroupBytes?: number; splitMinUnits?: number },
): Promise<UnitJob> {
  const sorted = [...inputs].sort((a, b) => (a.key < b.key ? -1 : 1));
  const covering = m.live.filter((f) => f.hours.includes(hour)).map((f) => f.name);
  const tag = hourJobTag(sorted.map((x) => x.key), covering);
  const base = { version: 1 as const, table, dt, span: hour, tag, inputs: sorted.map((x) => x.key), covering, hours: [hour], rollupSource: o.rollupSource, at: o.now };
  const paths = await inputPaths(store, { ...base, names: [], units: [], droppedKeys: [], bytesBefore: 0 });
  const dayStartUs = Date.parse(`${dt}T00:00:00Z`) * 1000;
  let plan: HourPlan;
  try {
    plan = await planHour(writer.connection, TABLES[table], paths.fresh, paths.live, dayStartUs + hour * HOUR_US, o.unitRows);
  } finally {
    await endHour(writer.connection);
  }
  const bytesBefore = sorted.reduce((s, x) => s + x.size, 0);
  // Enough units: a split first, so no unit reads the whole hour (writeSplit, SPLIT_MIN_UNITS).
  const splits = plan.units.length > 1 && plan.units.length >= (o.splitMinUnits ?? SPLIT_MIN_UNITS) ? { splits: Math.min(sorted.length, Math.max(1, Math.ceil(bytesBefore / (o.splitGroupBytes ?? SPLIT_GROUP_BYTES)))) } : {};
  return { ...base, names: outputNames(hour, tag, plan.units.length), units: plan.units, droppedKeys: plan.droppedKeys, bytesBefore, ...splits };
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

/**
 * Plans the consolidation of a closed day's live files into day files, or null when it cannot be
 * planned without reading the whole day once per unit (files compacted before key counts were
 * kept, whose rows do not fit one unit: they stay as they are).
 *
 * From the files' key counts (keysKey): the day's (service, instance) pairs in order, packed into
 * units of <= unitRows rows like an hour's (packUnits), and per unit the files holding one of its
 * pairs. An hour unit is a run of pairs too, so a day unit of a few instances reads, per hour, the
 * one or two hour files its run overlaps, and in them (sorted pair-major, UnitOrder) mostly the
 * row groups of its pairs: the day is read ~once in all, not once per unit.
 */
export async function planDayJob(store: Store, writer: ParquetWriter, table: TableName, dt: string, m: DayManifest, o: { unitRows: number; rollupSource: boolean; now: number }): Promise<UnitJob | null> {
  const inputs = m.live.map((f) => f.name).sort();
  const tag = hashTag(inputs);
  const hours = [...new Set(m.live.flatMap((f) => f.hours))].sort((a, b) => a - b);
  const base = { version: 1 as const, table, dt, span: 'day' as const, tag, inputs, covering: [], hours, rollupSource: o.rollupSource, at: o.now, droppedKeys: [], bytesBefore: 0 };
  const counts = await readKeyCounts(store, table, dt, inputs);
  if (counts) {
    const pairs = new Map<string, { s: string; i: string; n: number; files: Set<number> }>();
    for (const [fi, name] of inputs.entries()) {
      for (const [s, i, n] of counts.get(name)!) {
        const k = JSON.stringify([s, i]);
        const p = pairs.get(k) ?? { s, i, n: 0, files: new Set<number>() };
        p.n += n;
        p.files.add(fi);
        pairs.set(k, p);
      }
    }
    const ordered = [...pairs.values()].sort((a, b) => compareUtf8(a.s, b.s) || compareUtf8(a.i, b.i));
    const units = packUnits(ordered, o.unitRows);
    const rows = units.reduce((a, u) => a + u.rows, 0);
    const live = m.live.reduce((a, f) => a + (f.rows ?? 0), 0);
    if (m.live.every((f) => f.rows !== undefined) && rows !== live) throw new Error(`${table} dt=${dt}: the live files' key counts hold ${rows} rows, the manifest ${live}`);
    const unitInputs = units.length > 1 ? units.map((u) => [...new Set(u.pairs.flatMap((p) => [...pairs.get(JSON.stringify(p))!.files]))].sort((a, b) => a - b)) : undefined;
    return { ...base, names: outputNames('day', tag, units.length), units, ...(unitInputs ? { unitInputs } : {}) };
  }
  if (!dayFitsOneUnit(m, o.unitRows)) return null;
  const paths = await inputPaths(store, { ...base, names: [], units: [] });
  let plan: HourPlan;
  try {
    plan = await planDay(writer.connection, paths.live, o.unitRows);
  } finally {
    await endHour(writer.connection);
  }
  return { ...base, names: outputNames('day', tag, plan.units.length), units: plan.units };
}

/**
 * Unit `i` of the job at `key`: writes its output unless the job is gone, done or stale or the
 * output exists already (a redelivered message). Returns the job (null when gone) and the ms spent
 * writing (0 when nothing was written).
 */
export async function runUnit(store: Store, writer: ParquetWriter, key: string, i: number, settings: (job: UnitJob) => JobSettings): Promise<{ job: UnitJob | null; ms: number }> {
  const job = await readJob(store, key);
  if (!job) return { job: null, ms: 0 };
  if (!(i >= 0 && i < job.names.length)) throw new Error(`${key}: no unit ${i} (the job has ${job.names.length})`);
  const { manifest } = await readManifest(store, job.table, job.dt);
  if (jobState(job, manifest) !== 'open') return { job, ms: 0 };
  const out = compactedDtPrefix(job.table, job.dt) + job.names[i];
  if ((await store.list(out)).some((o) => o.key === out)) return { job, ms: 0 };
  const t0 = Date.now();
  let source: UnitSource;
  if (job.splits) {
    // Only this unit's split files (one per group it has rows in), once every group is split.
    const { done, files } = await splitState(store, job);
    if (done.size < job.splits) throw new Error(`${key}: unit ${i} sent before its split is done (${done.size} of ${job.splits} groups)`);
    source = { tier: 'split', files: await Promise.all((await unitSplitFiles(store, job, i, files)).map((o) => store.localPath(o))) };
  } else {
    const paths = await inputPaths(store, job, i);
    source = job.span === 'day' ? { tier: 'live', files: paths.live } : { tier: 'fresh', files: paths.fresh };
  }
  await fs.mkdir(store.scratchDir, { recursive: true });
  const local = path.join(store.scratchDir, `${randomUUID()}-${job.names[i]}`);
  try {
    const plan: HourPlan = { units: job.units, rows: job.units.reduce((a, u) => a + u.rows, 0), dropped: job.droppedKeys.length, droppedKeys: job.droppedKeys };
    // Hour files pair-major (a day close reads them by pair ranges), day files in the table's order.
    await writeUnit(writer.connection, TABLES[job.table], source, plan, i, local, { ...settings(job), order: job.span === 'day' ? 'table' : 'pairs' });
    await store.putFile(out, local);
  } finally {
    await fs.rm(local, { force: true });
  }
  return { job, ms: Date.now() - t0 };
}

/**
 * Split group `group` of the job at `key` (writeSplit): its fresh files read once, one split file
 * per unit with rows in them, then the group's marker. Skipped when the job is gone, not open, or
 * the group is done (a redelivered message). Whoever finds every group done afterwards returns the
 * units still without an output, to be sent (two splitters finishing together both send them: a
 * unit is safe to run twice). Returns the job, the ms spent splitting and the units to send.
 */
export async function runSplit(store: Store, writer: ParquetWriter, key: string, group: number): Promise<{ job: UnitJob | null; ms: number; send: WorkMessage[] }> {
  const job = await readJob(store, key);
  if (!job) return { job: null, ms: 0, send: [] };
  if (!job.splits || !(group >= 0 && group < job.splits)) throw new Error(`${key}: no split group ${group} (the job has ${job.splits ?? 0})`);
  const { manifest } = await readManifest(store, job.table, job.dt);
  if (jobState(job, manifest) !== 'open') return { job, ms: 0, send: [] };
  let state = await splitState(store, job);
  let ms = 0;
  if (!state.done.has(group)) {
    const t0 = Date.now();
    const prefix = splitPrefix(job);
    // Each attempt writes files of its own name and the marker names them: a unit reads exactly one
    // attempt's files whatever else a crashed or a concurrent duplicate delivery of this message
    // wrote beside them (deleting those instead could remove files a unit is about to read once
    // the other attempt's marker is in place). The others go with the job's split prefix.
    const attempt = randomUUID().slice(0, 8);
    const inputs = splitGroup(job, group);
    const hourPrefix = `${freshDtPrefix(job.table, job.dt)}hour=${String(job.span).padStart(2, '0')}/`;
    const listed = new Map((await store.list(hourPrefix)).map((o) => [o.key, o]));
    const fresh = await Promise.all(inputs.map((k) => pathOf(store, listed, k)));
    const outDir = path.join(store.scratchDir, `split-${randomUUID()}`);
    try {
      const plan: HourPlan = { units: job.units, rows: job.units.reduce((a, u) => a + u.rows, 0), dropped: job.droppedKeys.length, droppedKeys: job.droppedKeys };
      const files = await writeSplit(writer.connection, TABLES[job.table], fresh, plan, outDir);
      const written: string[] = [];
      for (const [u, list] of files)
        for (const [k, f] of list.entries()) {
          const name = `g${group}-${attempt}-u${u}-${k}.parquet`;
          await store.putFile(prefix + name, f);
          written.push(name);
        }
      const marker = path.join(outDir, 'done');
      await fs.writeFile(marker, JSON.stringify({ files: written }));
      await store.putFile(splitMarker(job, group), marker);
    } finally {
      await fs.rm(outDir, { recursive: true, force: true });
    }
    ms = Date.now() - t0;
    state = await splitState(store, job);
  }
  return { job, ms, send: state.done.size === job.splits ? await missingWork(store, job) : [] };
}

/**
 * The job's one manifest swap, once every output exists. 'incomplete': some output is missing
 * (another unit is still running); 'published': this call made it live; 'done' / 'stale': nothing
 * to publish (done by another finalizer; or planned from a manifest that has moved on: its outputs
 * are retired). The job object is deleted unless incomplete.
 */
export async function finalizeJob(store: Store, job: UnitJob, now: number, result: JobResult): Promise<'incomplete' | 'published' | JobState> {
  const dir = compactedDtPrefix(job.table, job.dt);
  const existing = new Set(
    job.names.length > 0 ? (await store.list(`${dir}${spanName(job.span)}-${job.tag}`)).map((o) => o.key.slice(dir.length)) : [],
  );
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m, etag } = await readManifest(store, job.table, job.dt);
    const state = jobState(job, m);
    let next: DayManifest | null = null;
    if (state === 'open') {
      if (!job.names.every((n) => existing.has(n))) return 'incomplete';
      const pending = job.rollupSource ? { rollup: 'pending' as const } : {};
      const outputs: LiveFile[] = job.names.map((name, i) => ({ name, hours: [...job.hours], ...pending, rows: job.units[i].rows }));
      await putKeyCounts(store, job);
      if (job.span === 'day') {
        // The inputs' key counts go with them.
        const counts = [...new Set(job.inputs.map((n) => keysKeyOfFile(job.table, job.dt, n)).filter((k): k is string => k !== null))];
        next = { version: 2, live: outputs, merged: m.merged, retired: [...m.retired, ...job.inputs.map((n) => ({ key: dir + n, at: now })), ...counts.map((key) => ({ key, at: now }))] };
      } else {
        // Kept while a last-hour window reaches the hour (manifest.ts RETAIN_INPUTS_MS; hourJobInputs finds them).
        const keep = RETAIN_INPUTS_TABLES.includes(job.table) ? { until: Date.parse(`${job.dt}T00:00:00Z`) + (job.span + 1) * (HOUR_US / 1000) + RETAIN_INPUTS_MS } : {};
        const inputs: Retired[] = job.inputs.map((key) => ({ key, at: now, ...keep }));
        next = { version: 2, live: [...m.live, ...outputs], merged: [...new Set([...m.merged, ...job.inputs])].sort(), retired: [...m.retired, ...inputs] };
      }
    } else if (state === 'stale') {
      // Outputs that exist and are in no manifest: retired, so a later run deletes them; so is the
      // job's key counts object, PUT by a finalizer that then lost its swap to the change that
      // made the job stale (nothing else would ever delete it).
      const live = new Set(m.live.map((f) => f.name));
      const retired = new Set(m.retired.map((r) => r.key));
      const orphans = [...existing].filter((n) => !live.has(n) && !retired.has(dir + n)).map((n) => dir + n);
      const keys = keysKey(job);
      if (!retired.has(keys) && (await store.list(keys)).some((o) => o.key === keys)) orphans.push(keys);
      if (orphans.length > 0) next = { ...m, retired: [...m.retired, ...orphans.map((key) => ({ key, at: now }))] };
    }
    if (next) {
      await writeSymlink(store, job.table, job.dt, next);
      if (!(await writeManifest(store, job.table, job.dt, next, etag))) {
        // Lost to a concurrent writer: Athena must see the winner's files again; then retry from its manifest.
        result.conflicts++;
        await writeSymlink(store, job.table, job.dt, (await readManifest(store, job.table, job.dt)).manifest);
        continue;
      }
    }
    if (state === 'open') {
      result.hours += job.span === 'day' ? 0 : job.names.length;
      result.days += job.span === 'day' ? 1 : 0;
      result.filesMerged += job.inputs.length;
      result.bytesBefore += job.bytesBefore;
      for (const n of job.names) result.bytesAfter += (await store.list(dir + n))[0]?.size ?? 0;
    }
    if (job.splits) await deleteSplits(store, job);
    await store.delete(jobKey(job));
    return state === 'open' ? 'published' : state;
  }
  throw new Error(`${job.table} dt=${job.dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

const MAX_ATTEMPTS = 5;


/** A work message from its JSON text (a queue's body): clear errors naming what is wrong. */
export function parseWorkMessage(text: string): WorkMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`compaction message is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const m = v as Record<string, unknown>;
  if (m && m.kind === 'unit') {
    if (typeof m.job !== 'string' || !parseJobKey(m.job)) throw new Error(`compaction message: job ${JSON.stringify(m.job)} is not a job key (${JOBS_PREFIX}<table>/dt=YYYY-MM-DD/<hHH|day>-<tag>.json)`);
    if (!Number.isInteger(m.unit) || (m.unit as number) < 0) throw new Error(`compaction message: unit ${JSON.stringify(m.unit)} is not a unit index`);
    return { kind: 'unit', job: m.job, unit: m.unit as number };
  }
  if (m && m.kind === 'split') {
    if (typeof m.job !== 'string' || !parseJobKey(m.job)) throw new Error(`compaction message: job ${JSON.stringify(m.job)} is not a job key (${JOBS_PREFIX}<table>/dt=YYYY-MM-DD/<hHH|day>-<tag>.json)`);
    if (!Number.isInteger(m.group) || (m.group as number) < 0) throw new Error(`compaction message: group ${JSON.stringify(m.group)} is not a split group index`);
    return { kind: 'split', job: m.job, group: m.group as number };
  }
  if (m && m.kind === 'rollups') {
    if (typeof m.dt !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(m.dt)) throw new Error(`compaction message: dt ${JSON.stringify(m.dt)} is not YYYY-MM-DD`);
    return { kind: 'rollups', dt: m.dt };
  }
  if (m && m.kind === 'rollup') {
    if (typeof m.dt !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(m.dt)) throw new Error(`compaction message: dt ${JSON.stringify(m.dt)} is not YYYY-MM-DD`);
    if (!Number.isInteger(m.hour) || (m.hour as number) < 0 || (m.hour as number) > 23) throw new Error(`compaction message: hour ${JSON.stringify(m.hour)} is not a UTC hour (0..23)`);
    if (typeof m.table !== 'string' || !(ROLLUP_TABLE_NAMES as readonly string[]).includes(m.table)) throw new Error(`compaction message: table ${JSON.stringify(m.table)} is not a rollup table`);
    return { kind: 'rollup', dt: m.dt, hour: m.hour as number, table: m.table as TableName };
  }
  throw new Error(`compaction message: kind ${JSON.stringify(m?.kind)} is not "unit", "split", "rollup" or "rollups"`);
}

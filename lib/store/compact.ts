import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ROLLUP_TABLE_NAMES, TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { endHour, planDay, planHour, UNIT_ROWS, writeUnits } from './compact-hour';
import { compactedDtPrefix, DAY_US, FRESH_PREFIX, freshDtPrefix, HOUR_US, parseKey } from './layout';
import { coveredHours, readManifest, writeManifest, writeSymlink, type DayManifest, type LiveFile, type Retired } from './manifest';
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
//   2. a closed day whose fresh files are all merged and that has more than one live file -> day
//      file(s) `day-<hash>[-uIofN].parquet` (units of bounded rows, as for an hour; one swap);
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
  /** zstd levels: hour files live until their day closes, day files are stored for months (defaults: HOUR_ZSTD, DAY_ZSTD). */
  hourZstdLevel?: number;
  dayZstdLevel?: number;
  /**
   * A closed day's live files of a table are merged into day files only while they total at
   * most this many bytes (default DAY_MERGE_MAX_BYTES): above it the day keeps its hour files,
   * so a large fleet's day close stays within one run.
   */
  dayMergeMaxBytes?: number;
  /** Rows per hour unit (lib/store/compact-hour.ts; default UNIT_ROWS). */
  unitRows?: number;
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
 * Hour files are rewritten into the day file once their day closes: written fast. Measured with
 * bench/compact.ts (docs/performance.md "Compaction"): level 3 against the earlier 9.
 */
export const HOUR_ZSTD = 3;
/**
 * Day files are what is stored for months. Level 9 with 512K-row groups measured smaller AND
 * faster than level 19 with 122,880-row groups (stacks day file of 20 instances x 2 h: 2.81 vs
 * 3.85 B per CPU sample): a row group's dictionary of profile ids is paid once per group, so fewer
 * groups pay it fewer times. 1M-row groups gave the same bytes (2.81) and pushed the day close's
 * peak RSS over 3 GB; 256K gave 3.14.
 */
export const DAY_ZSTD = 9;
export const DAY_ROW_GROUP_ROWS = 1 << 19;
/** Tables without list columns buffer far less per row: 1M-row groups (functions 0.87 vs 1.03 B per CPU sample). */
const DAY_ROW_GROUP_ROWS_FLAT = 1 << 20;
const dayRowGroupRows = (t: TableName) => (t === 'stacks' || isRollupTable(t) ? DAY_ROW_GROUP_ROWS : DAY_ROW_GROUP_ROWS_FLAT);
/** See CompactOptions.dayMergeMaxBytes. */
export const DAY_MERGE_MAX_BYTES = 256 * 1024 * 1024;
const MAX_ATTEMPTS = 5;
/** Row groups of hour files (DuckDB's default). */
const HOUR_ROW_GROUP_ROWS = 122_880;

export async function compact(store: Store, writer: ParquetWriter, opts: CompactOptions = {}): Promise<CompactResult> {
  const result: CompactResult = { hours: 0, days: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0, deleted: 0, conflicts: 0, rollupFiles: 0, rollupRows: 0, rollupHours: 0, rollupDays: 0, rollupMs: 0 };
  const tables = opts.tables ?? TABLE_NAMES;
  const rollups = opts.rollups ?? NO_ROLLUPS;
  const dts = new Set<string>();
  for (const table of tables) {
    for (const o of [...(await store.list(`${FRESH_PREFIX}${table}/`)), ...(await store.list(`${table}/`))]) {
      const k = parseKey(o.key);
      if (k && k.table === table) dts.add(k.dt);
    }
  }
  for (const dt of [...dts].sort()) {
    // Hours first, their rollups, then the day (a day file never replaces hour files whose
    // rollups are still pending), then its rollups.
    for (const phase of ['hours', 'day'] as const) {
      for (const table of tables) {
        // Rollup tables keep one file per hour (a rebuilt hour replaces its files: rollup-compact.ts);
        // their hours phase only does their deferred deletes.
        if (phase === 'day' && isRollupTable(table)) continue;
        await compactDt(store, writer, table, dt, phase, rollups.sources.includes(table), opts, result);
      }
      if (rollups.sources.length > 0) {
        const t0 = Date.now();
        await rollupDt(store, writer, dt, rollups, opts, result);
        result.rollupMs += Date.now() - t0;
      }
    }
    if (opts.afterDt) await opts.afterDt(dt, result);
  }
  return result;
}

const isRollupTable = (t: TableName) => (ROLLUP_TABLE_NAMES as readonly TableName[]).includes(t);

interface Built {
  readonly file: LiveFile;
  readonly local: string;
  readonly inputs: number;
  readonly before: number;
}

async function compactDt(
  store: Store,
  writer: ParquetWriter,
  table: TableName,
  dt: string,
  phase: 'hours' | 'day',
  rollupSource: boolean,
  opts: CompactOptions,
  result: CompactResult,
): Promise<void> {
  const now = opts.now ?? Date.now();
  const settle = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
  const dayStartMs = Date.parse(`${dt}T00:00:00Z`);
  const closedBefore = opts.closedBefore ?? now - settle;
  const closed = (hour: number) => dayStartMs + ((hour + 1) * HOUR_US) / 1000 <= closedBefore;
  const pendingMark = rollupSource ? { rollup: 'pending' as const } : {};
  const dir = compactedDtPrefix(table, dt);
  // Data files this run PUT for an attempt whose manifest swap it lost: never live (unless the
  // winner wrote the same name: outputs are named for their inputs), so the next attempt retires
  // them like replaced files and a later run deletes them after the grace (a reader never lists
  // them: they are in no manifest and no symlink.txt).
  const orphans = new Set<string>();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { manifest: m0, etag } = await readManifest(store, table, dt);
    // Listed after the manifest is read (like a reader): a merged file deleted by another run is
    // already out of the manifest we hold, or still in its `merged`.
    const fresh = (await store.list(freshDtPrefix(table, dt))).filter((o) => o.key.endsWith('.parquet'));
    let live: LiveFile[] = [...m0.live];
    let merged = new Set(m0.merged);
    const liveKeys = new Set(m0.live.map((f) => dir + f.name));
    // A retired key that is live again (the same inputs merged again under the same name) is not deleted.
    let retired: Retired[] = m0.retired.filter((r) => !liveKeys.has(r.key));
    let changed = retired.length !== m0.retired.length;
    const lost = [...orphans].filter((k) => !liveKeys.has(k) && !retired.some((r) => r.key === k));
    if (lost.length > 0) {
      retired.push(...lost.map((key) => ({ key, at: now })));
      changed = true;
    }
    const built: Built[] = [];
    const days: Built[] = [];
    let due: Retired[] = [];
    const gone = new Set<string>();

    if (phase === 'hours') {
      // Deferred deletes of earlier runs: delete, then drop from the manifest (a crash in between
      // leaves entries whose delete is simply repeated).
      due = retired.filter((r) => r.at + grace <= now);
      for (const r of due) gone.add(r.key);
      for (const r of due) await store.delete(r.key);
      if (due.length > 0) {
        retired = retired.filter((r) => !gone.has(r.key));
        merged = new Set([...merged].filter((k) => !gone.has(k)));
        changed = true;
      }

      // Closed hours with fresh files no live file merged.
      const pending = new Map<number, StoredObject[]>();
      for (const o of fresh) {
        const k = parseKey(o.key);
        if (!k || k.tier !== 'fresh' || merged.has(o.key) || gone.has(o.key) || !closed(k.hour)) continue;
        const list = pending.get(k.hour);
        if (list) list.push(o);
        else pending.set(k.hour, [o]);
      }
      for (const [hour, inputs] of [...pending].sort(([a], [b]) => a - b)) {
        const covering = live.filter((f) => f.hours.includes(hour));
        inputs.sort((a, b) => (a.key < b.key ? -1 : 1));
        const tag = hashOf([...inputs.map((o) => o.key), '|', ...covering.map((f) => f.name)]);
        const freshPaths = await Promise.all(inputs.map((o) => store.localPath(o)));
        const livePaths = await Promise.all(covering.map((f) => livePath(store, dir + f.name)));
        const conn = writer.connection;
        const plan = await planHour(conn, TABLES[table], freshPaths, livePaths, dayStartMs * 1000 + hour * HOUR_US, opts.unitRows ?? UNIT_ROWS);
        try {
          // All units of the hour go live in the one manifest swap below, or none does.
          const hh = String(hour).padStart(2, '0');
          const names = plan.units.map((_, i) => (plan.units.length === 1 ? `h${hh}-${tag}.parquet` : `h${hh}-${tag}-u${i}of${plan.units.length}.parquet`));
          const locals = await Promise.all(names.map((n) => stage(store, n)));
          await writeUnits(conn, TABLES[table], { tier: 'fresh', files: freshPaths }, plan, locals, {
            zstdLevel: opts.hourZstdLevel ?? HOUR_ZSTD,
            rowGroupRows: HOUR_ROW_GROUP_ROWS,
            scratchDir: store.scratchDir,
            onUnit: (i, ms) => opts.onUnit?.({ table, dt, hour, unit: i, units: plan.units.length, rows: i < 0 ? plan.rows : plan.units[i].rows, ms }),
          });
          for (const [i, name] of names.entries()) {
            const file: LiveFile = { name, hours: [hour], ...pendingMark };
            live.push(file);
            built.push({ file, local: locals[i], inputs: i === 0 ? inputs.length : 0, before: i === 0 ? inputs.reduce((s, o) => s + o.size, 0) : 0 });
          }
        } finally {
          await endHour(conn);
        }
        // Units with no rows are not written; an hour whose rows were all live already only retires its inputs.
        for (const o of inputs) {
          merged.add(o.key);
          retired.push({ key: o.key, at: now });
        }
        changed = true;
      }
    } else {
      // A closed day, every fresh file merged, more than one live file (not all day units), none awaiting rollups.
      const dayClosed = dayStartMs + DAY_US / 1000 <= closedBefore;
      const unmerged = fresh.some((o) => !merged.has(o.key) && !gone.has(o.key));
      const liveBytes = async () => {
        const sizes = new Map((await store.list(dir)).map((o) => [o.key, o.size]));
        return live.reduce((s, f) => s + (sizes.get(dir + f.name) ?? 0), 0);
      };
      if (
        dayClosed &&
        !unmerged &&
        live.length > 1 &&
        // Day units already (a merged day is N day files): nothing to merge unless late hour files joined them.
        live.some((f) => !f.name.startsWith('day-')) &&
        !live.some((f) => f.rollup === 'pending') &&
        (await liveBytes()) <= (opts.dayMergeMaxBytes ?? DAY_MERGE_MAX_BYTES)
      ) {
        const tag = hashOf(live.map((f) => f.name).sort());
        const paths = await Promise.all(live.map((f) => livePath(store, dir + f.name)));
        const hours = [...coveredHours({ ...m0, live })].sort((a, b) => a - b);
        const conn = writer.connection;
        // In units like an hour (compact-hour.ts): each day file's sort stays bounded; all go live in one swap.
        const plan = await planDay(conn, paths, opts.unitRows ?? UNIT_ROWS);
        const names = plan.units.map((_, i) => (plan.units.length === 1 ? `day-${tag}.parquet` : `day-${tag}-u${i}of${plan.units.length}.parquet`));
        const locals = await Promise.all(names.map((n) => stage(store, n)));
        try {
          await writeUnits(conn, TABLES[table], { tier: 'live', files: paths }, plan, locals, {
            zstdLevel: opts.dayZstdLevel ?? DAY_ZSTD,
            rowGroupRows: dayRowGroupRows(table),
            scratchDir: store.scratchDir,
          });
        } finally {
          await endHour(conn);
        }
        const files: LiveFile[] = names.map((name) => ({ name, hours, ...pendingMark }));
        for (const [i, file] of files.entries()) days.push({ file, local: locals[i], inputs: i === 0 ? live.length : 0, before: 0 });
        for (const f of live) retired.push({ key: dir + f.name, at: now });
        live = files;
        changed = true;
      }
    }
    if (!changed) return;

    const publish = days.length > 0 ? days : built;
    for (const b of publish) await store.putFile(dir + b.file.name, b.local);
    const next: DayManifest = { version: 2, live, merged: [...merged].sort(), retired };
    await writeSymlink(store, table, dt, next);
    if (await writeManifest(store, table, dt, next, etag)) {
      result.hours += built.length;
      result.days += days.length > 0 ? 1 : 0;
      result.filesMerged += [...built, ...days].reduce((s, b) => s + b.inputs, 0);
      result.bytesBefore += built.reduce((s, b) => s + b.before, 0);
      for (const b of publish) result.bytesAfter += (await store.list(dir + b.file.name))[0]?.size ?? 0;
      result.deleted += due.length;
      return;
    }
    // Lost the swap to a concurrent compactor: Athena must see the winner's files again; then
    // start over from its manifest (our data files, if not live in it, are never read).
    result.conflicts++;
    for (const b of publish) orphans.add(dir + b.file.name);
    const { manifest: winner } = await readManifest(store, table, dt);
    await writeSymlink(store, table, dt, winner);
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
    const live = manifest.live.map((f) => (names.has(f.name) && f.rollup ? { name: f.name, hours: f.hours } : f));
    if (await writeManifest(store, table, dt, { ...manifest, live }, etag)) return;
    result.conflicts++;
  }
  throw new Error(`${table} dt=${dt}: lost the manifest swap ${MAX_ATTEMPTS} times in a row`);
}

async function stage(store: Store, name: string): Promise<string> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  return path.join(store.scratchDir, `${randomUUID()}-${name}`);
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

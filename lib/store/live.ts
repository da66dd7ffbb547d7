import type { TableName } from '../model/schema';
import { compactedDtPrefix, dtMatcher, dtsInRange, FRESH_PREFIX, freshDtPrefix, parseKey, type PartitionFilter } from './layout';
import { hourJobInputs } from './hour-job-names';
import { coveredHours, EMPTY_MANIFEST, MANIFEST_NAME, readManifest, type DayManifest } from './manifest';
import type { Store, StoredObject } from './store';

// Which files of a table a reader uses (layout v2, docs/architecture.md "Storage layout"): the
// query engine's views (lib/query/open.ts) and the rollup builder read through this.

/**
 * A table's files (local paths): compacted files, and fresh batch files no compaction merged yet;
 * `lateHours` are the UTC hours (YYYY-MM-DDTHH:00:00) that have fresh files although a compacted
 * file already covers them (see lib/store/dedupe.ts).
 */
export interface TableFileSet {
  readonly compacted: string[];
  readonly fresh: string[];
  readonly lateHours: string[];
  /**
   * Per compacted file (same order as `compacted`), its dt and the UTC hours its manifest says it
   * holds: the query planner plans from these (which hours and days are rolled up) and reads only
   * the files of the hours a part needs. Absent where a caller built the set by hand.
   */
  readonly coverage?: FileCoverage[];
  /**
   * Lazy sets (liveFileSet's `lazy`, stores with plannedPath): the objects behind the paths, not
   * fetched yet; `fetchFiles` fetches the ones a reader is about to read.
   */
  readonly pending?: ReadonlyMap<string, StoredObject>;
  /** Not listed (PartitionFilter.tables left it out): no file is known, and readers refuse it. */
  readonly unlisted?: boolean;
  /**
   * liveFileSet's `hourInputs` (lib/query/warm-top.ts): per compacted hour whose rows are exactly
   * one hour job's fresh inputs and all of them are still kept (hour-job-names.ts hourJobInputs),
   * those files (local paths, merged: never in `fresh`).
   */
  readonly hourInputs?: HourInputs[];
}

export interface HourInputs {
  readonly dt: string;
  readonly hour: number;
  readonly fresh: readonly string[];
}

/** Fetches the files of `paths` that a lazy set left pending (no-op for local stores). */
export async function fetchFiles(store: Store, set: TableFileSet, paths: readonly string[]): Promise<void> {
  const pending = set.pending;
  if (!pending) return;
  const todo = paths.map((p) => pending.get(p)).filter((o): o is StoredObject => o !== undefined);
  for (let i = 0; i < todo.length; i += MANIFEST_CONCURRENCY) await Promise.all(todo.slice(i, i + MANIFEST_CONCURRENCY).map((o) => store.localPath(o)));
}

export interface FileCoverage {
  readonly dt: string;
  readonly hours: readonly number[];
}

/** Per-dt listings up to this many days; beyond, one listing of the table's prefix is fewer requests. */
const PER_DT_LIST_MAX_DAYS = 3;
/** Manifests fetched at once (S3 round trips overlap). */
const MANIFEST_CONCURRENCY = 16;

/**
 * Order matters (the compactor's order of effects is the mirror of it): LIST the compacted tier,
 * GET the manifests, only then LIST the fresh tier. A fresh file a compaction merged after the
 * manifest was read is still there (its delete waits a grace period); a live file published after
 * the first listing is picked up by listing its dt again.
 */
export async function liveFileSet(store: Store, table: TableName, filter: PartitionFilter, opts: { lazy?: boolean; keysOnly?: boolean; hourInputs?: boolean } = {}): Promise<TableFileSet> {
  const dtMatches = dtMatcher(filter);
  // Lazy: paths where the files will be, fetched by fetchFiles when read (a 30-day query over S3
  // reads ~50 rollup files of the thousands its window lists).
  const pending = opts.lazy && store.plannedPath ? new Map<string, StoredObject>() : undefined;
  const pathOf = async (o: StoredObject): Promise<string> => {
    if (!pending || !store.plannedPath) return store.localPath(o);
    const p = store.plannedPath(o);
    pending.set(p, o);
    return p;
  };
  const dts = dtsInRange(filter, PER_DT_LIST_MAX_DAYS);
  const listEach = async (prefixes: string[]) => (await Promise.all(prefixes.map((p) => store.list(p)))).flat();

  const compacted = new Map<string, { objs: StoredObject[]; hasManifest: boolean }>();
  const addCompacted = (objs: StoredObject[]) => {
    for (const o of objs) {
      const k = parseKey(o.key);
      if (!k || k.tier !== 'compacted' || k.table !== table || !dtMatches(k.dt)) continue;
      let s = compacted.get(k.dt);
      if (!s) compacted.set(k.dt, (s = { objs: [], hasManifest: false }));
      if (k.name === MANIFEST_NAME) s.hasManifest = true;
      else if (k.name.endsWith('.parquet')) s.objs.push(o);
    }
  };
  addCompacted(await listEach(dts ? dts.map((dt) => compactedDtPrefix(table, dt)) : [`${table}/`]));

  const manifests = new Map<string, DayManifest>();
  const withManifest = [...compacted].filter(([, s]) => s.hasManifest).map(([dt]) => dt);
  for (let i = 0; i < withManifest.length; i += MANIFEST_CONCURRENCY) {
    await Promise.all(
      withManifest.slice(i, i + MANIFEST_CONCURRENCY).map(async (dt) => manifests.set(dt, (await readManifest(store, table, dt)).manifest)),
    );
  }
  const set = { compacted: [] as string[], fresh: [] as string[], lateHours: [] as string[], coverage: [] as FileCoverage[], pending, ...(opts.hourInputs ? { hourInputs: [] as HourInputs[] } : {}) };
  const lateHours = new Set<string>();
  for (const dt of [...compacted.keys()].sort()) {
    const m = manifests.get(dt) ?? EMPTY_MANIFEST;
    let objs = compacted.get(dt)!.objs;
    const listed = new Set(objs.map((o) => o.key));
    const live = m.live.map((f) => compactedDtPrefix(table, dt) + f.name);
    if (live.some((k) => !listed.has(k))) objs = await store.list(compactedDtPrefix(table, dt)); // published after our listing
    const byKey = new Map(objs.map((o) => [o.key, o]));
    for (const [i, k] of live.entries()) {
      const o = byKey.get(k);
      if (!o) throw new Error(`${table} dt=${dt}: the manifest names ${k}, which does not exist`);
      set.compacted.push(await pathOf(o));
      set.coverage.push({ dt, hours: m.live[i].hours });
    }
  }

  const mergedOf = new Map([...manifests].map(([dt, m]) => [dt, { merged: new Set(m.merged), covered: coveredHours(m) }]));
  // keysOnly (lib/query/warm-top.ts): the fresh tier's keys without a stat each (Store.list).
  const fresh = (await Promise.all((dts ? dts.map((dt) => freshDtPrefix(table, dt)) : [`${FRESH_PREFIX}${table}/`]).map((p) => store.list(p, { keysOnly: opts.keysOnly })))).flat();
  const mergedListed = new Map<string, StoredObject>();
  for (const o of fresh) {
    const k = parseKey(o.key);
    if (!k || k.tier !== 'fresh' || k.table !== table || !dtMatches(k.dt) || !k.name.endsWith('.parquet')) continue;
    const m = mergedOf.get(k.dt);
    if (m?.merged.has(o.key)) {
      mergedListed.set(o.key, o);
      continue;
    }
    const p = await pathOf(o);
    set.fresh.push(p);
    if (m?.covered.has(k.hour)) lateHours.add(`${k.dt}T${String(k.hour).padStart(2, '0')}:00:00`);
  }
  set.lateHours.push(...[...lateHours].sort());
  if (set.hourInputs && mergedListed.size > 0) {
    // Only hours that still have merged fresh keys listed (the last hour's, ~2 per table).
    const withKeys = new Set([...mergedListed.keys()].map((key) => {
      const k = parseKey(key);
      return k?.tier === 'fresh' ? `${k.dt}/${k.hour}` : '';
    }));
    for (const [dt, { covered }] of [...mergedOf].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const hour of [...covered].sort((a, b) => a - b)) {
        if (!withKeys.has(`${dt}/${hour}`)) continue;
        const keys = hourJobInputs(manifests.get(dt)!, table, dt, hour, (k) => mergedListed.has(k));
        if (keys) set.hourInputs.push({ dt, hour, fresh: await Promise.all(keys.map((k) => pathOf(mergedListed.get(k)!))) });
      }
    }
  }
  return set;
}

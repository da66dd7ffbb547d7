import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RollupTableName, TableName } from '../model/schema';
import { hashOf, publishDerived, removeEmptyDirs, type CompactOptions, type CompactResult } from './compact';
import { compactedDtPrefix, HOUR_US, utcDate } from './layout';
import { readManifest, type LiveFile } from './manifest';
import { buildDayRollups, buildHourRollups, HOUR_ROLLUP_INPUTS, type HourRollupTable, type RawTableFiles, type RollupFile } from './rollup-build';
import type { RollupBuilder, RollupDayInput, RollupHourInput, RollupOutput } from './rollup-hook';
import type { ParquetWriter } from './parquet';
import type { Store } from './store';

// The rollups the scheduled compaction builds (lib/store/compact-due.ts), through the compactor's
// hook (rollup-hook.ts): for every hour file that goes live, the hour's rollups; for every day
// file, the day forms. Built from COMPACTED files only: the compactor already applied the reader's
// dedupe (lib/store/dedupe.ts: one batch per profile_id and hour; late rows only where the hour's
// live files lack them), so a profile redelivered in two batches is rolled up once.
//
// An hour is always rebuilt whole, from every live file of that hour (and the hour before, for
// the predecessors of cumulative snapshots), and its outputs REPLACE the hour's earlier rollup
// files: when late uploads add an hour file, a cumulative snapshot arriving between two others
// changes its successor's increase, so rolling up only the added rows would not be exact.
// The day forms (functions_1d, stacks_1d) are sums of the day's hour rollups: built once a day is
// closed and every raw file of it is rolled up, named after the hour rollups they sum (a later
// change of those, e.g. late uploads, rebuilds them and replaces the old ones), whether or not the
// raw day is merged into one file (a large fleet's day keeps its hour files: compact.ts).
// Known limit: late rows of hour H do not rebuild hour H+1's rollups, whose first cumulative
// snapshots may take a predecessor from H (the same holds for rollupStore).

// The planner takes an hour as rolled up when profiles_1h has it: published last.
const HOUR_OUTPUTS = ['functions_1h', 'stacks_1h', 'function_shares_1h', 'attributed_1h', 'gc_1h', 'profiles_1h'] as const satisfies readonly RollupTableName[];
const DAY_OUTPUTS = ['function_shares_1d', 'attributed_1d', 'gc_1d', 'totals_1d', 'functions_1d', 'stacks_1d'] as const satisfies readonly RollupTableName[];

/** Local paths of the live compacted files of `table` on `dt` holding rows of `hour`. */
async function liveOfHour(store: Store, table: TableName, dt: string, hour: number): Promise<string[]> {
  const { manifest } = await readManifest(store, table, dt);
  const files = manifest.live.filter((f) => f.hours.includes(hour));
  if (files.length === 0) return [];
  const listed = new Map((await store.list(compactedDtPrefix(table, dt))).map((o) => [o.key, o]));
  return Promise.all(
    files.map((f) => {
      const o = listed.get(compactedDtPrefix(table, dt) + f.name);
      if (!o) throw new Error(`${table} dt=${dt}: the manifest names ${f.name}, which does not exist`);
      return store.localPath(o);
    }),
  );
}

/** Live files of a rollup table an output for `hour` (or the whole day: undefined) replaces. */
export async function replacedRollups(store: Store, table: RollupTableName, dt: string, hour: number | undefined): Promise<string[]> {
  const { manifest } = await readManifest(store, table, dt);
  const hh = hour === undefined ? '' : String(hour).padStart(2, '0');
  // rollupStore (lib/store/rollup.ts) names its files rollup-<dt>T<HH> and rollup-day.
  const standalone = hour === undefined ? 'rollup-day' : `rollup-${dt}T${hh}`;
  const ofHour = (f: LiveFile) => (hour === undefined ? true : f.hours.length === 1 && f.hours[0] === hour) || f.name.startsWith(standalone);
  return manifest.live.filter(ofHour).map((f) => f.name);
}

async function outputs(store: Store, dt: string, tables: readonly RollupTableName[], files: RollupFile[], hour: number | undefined): Promise<RollupOutput[]> {
  const out: RollupOutput[] = [];
  for (const table of tables) {
    const replaces = await replacedRollups(store, table, dt, hour);
    const hours = hour === undefined ? Array.from({ length: 24 }, (_, h) => h) : [hour];
    for (const f of files.filter((x) => x.table === table)) out.push({ table, localPath: f.path, hours, replaces, rows: f.rows });
  }
  return out;
}

export const COMPACTOR_ROLLUPS: RollupBuilder = {
  sources: ['profiles', 'functions', 'stacks', 'gc_cycles'],
  // One worker per table of an hour (compact.ts rollupHourTable); profiles_1h after them all.
  hourTables: HOUR_OUTPUTS.filter((t) => t !== 'profiles_1h'),
  hourLast: 'profiles_1h',

  async hour(input: RollupHourInput): Promise<RollupOutput[]> {
    const only = input.table === undefined ? undefined : [input.table as HourRollupTable];
    if (only && !(only[0] in HOUR_ROLLUP_INPUTS)) throw new Error(`${input.table} is not an hour rollup table`);
    const reads = new Set<keyof RawTableFiles>(only ? HOUR_ROLLUP_INPUTS[only[0]] : ['profiles', 'functions', 'stacks', 'gc_cycles']);
    const hourUs = Date.parse(`${input.dt}T00:00:00Z`) * 1000 + input.hour * HOUR_US;
    const prev = hourUs - HOUR_US;
    // Only the raw tables the built tables read are fetched (a stacks file of a 1,000-instance hour is ~17 units).
    const raw: RawTableFiles = { profiles: [], functions: [], stacks: [] };
    for (const t of ['profiles', 'functions', 'stacks'] as const) {
      if (!reads.has(t)) continue;
      raw[t] = [
        ...(await liveOfHour(input.store, t, utcDate(prev), new Date(prev / 1000).getUTCHours())),
        ...(await liveOfHour(input.store, t, input.dt, input.hour)),
      ].filter((p, i, a) => a.indexOf(p) === i);
    }
    // gc_1h: the hour and the two before it (rollup-gc.ts: whether a stream's piece is local).
    const gc: string[] = [];
    if (reads.has('gc_cycles')) for (const h of [hourUs - 2 * HOUR_US, prev, hourUs]) gc.push(...(await liveOfHour(input.store, 'gc_cycles', utcDate(h), new Date(h / 1000).getUTCHours())));
    const outDir = path.join(input.scratchDir, `rollup-${randomUUID()}`);
    const files = await buildHourRollups(
      input.writer.connection,
      { ...raw, gc_cycles: gc.filter((p, i, a) => a.indexOf(p) === i) },
      { fromUs: hourUs, toUs: hourUs + HOUR_US },
      outDir,
      only,
    );
    if (files.length === 0) await fs.rm(outDir, { recursive: true, force: true });
    return outputs(input.store, input.dt, only ?? HOUR_OUTPUTS, files, input.hour);
  },

  // A raw day file holds the same rows as the hour files it replaced: the rollups do not change.
  async day(_input: RollupDayInput): Promise<RollupOutput[]> {
    return [];
  },
};

/**
 * The day forms of `dt` when the day is closed (`closed`), no raw file of it awaits its hour
 * rollups, and the live day forms are not those of the live hour rollups. Returns whether it built.
 */
export async function dayRollupsDue(store: Store, writer: ParquetWriter, dt: string, closed: boolean, opts: CompactOptions, result: CompactResult): Promise<boolean> {
  if (!closed) return false;
  for (const t of COMPACTOR_ROLLUPS.sources) {
    if ((await readManifest(store, t, dt)).manifest.live.some((f) => f.rollup === 'pending')) return false;
  }
  const hourNames = [];
  for (const t of ['functions_1h', 'stacks_1h'] as const) hourNames.push(t, ...(await readManifest(store, t, dt)).manifest.live.map((f) => f.name).sort());
  if (hourNames.length === 2) return false;
  const tag = hashOf(hourNames);
  // functions_1d is published last: its tag marks the day forms complete.
  if ((await readManifest(store, 'functions_1d', dt)).manifest.live.some((f) => f.name.startsWith(`rday-${tag}-`))) return false;
  const live = async (t: 'functions_1h' | 'stacks_1h' | 'function_shares_1h' | 'attributed_1h' | 'gc_1h' | 'profiles_1h') => {
    const { manifest } = await readManifest(store, t, dt);
    const listed = new Map((await store.list(compactedDtPrefix(t, dt))).map((o) => [o.key, o]));
    return Promise.all(manifest.live.map((f) => store.localPath(listed.get(compactedDtPrefix(t, dt) + f.name)!)));
  };
  const dayUs = Date.parse(`${dt}T00:00:00Z`) * 1000;
  const outDir = path.join(store.scratchDir, `rollup-${randomUUID()}`);
  const files = await buildDayRollups(
    writer.connection,
    { functions_1h: await live('functions_1h'), stacks_1h: await live('stacks_1h'), function_shares_1h: await live('function_shares_1h'), attributed_1h: await live('attributed_1h'), gc_1h: await live('gc_1h'), profiles_1h: await live('profiles_1h') },
    dayUs,
    outDir,
  );
  const outs = (await outputs(store, dt, DAY_OUTPUTS, files, undefined)).sort((a, b) => (a.table === 'functions_1d' ? 1 : 0) - (b.table === 'functions_1d' ? 1 : 0));
  for (const [i, out] of outs.entries()) await publishDerived(store, dt, out, `rday-${tag}-${i}.parquet`, opts, result);
  await removeEmptyDirs(store, outs);
  await fs.rm(outDir, { recursive: true, force: true });
  result.rollupDays++;
  return true;
}

import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { TableName } from '../model/schema';
import { isoFromUs } from '../model/time';
import { utcDate } from './layout';
import { liveFileSet } from './live';
import { publishLive } from './compact';
import { replacedRollups } from './rollup-compact';
import { buildDayRollups, buildHourRollups, type RollupFile } from './rollup-build';
import { sqlString } from './parquet';
import type { Store } from './store';

// Rollups over a store: lists the live raw files of the hours (and the hour before them), runs the
// builder hour by hour, publishes one file per rollup table and partition and hour
// (`<table>/dt=D/service=S/rollup-<YYYY-MM-DDTHH>.parquet`; re-building an hour replaces it), and
// the day forms (`rollup-day.parquet`). The compactor calls buildHourRollups/buildDayRollups on
// the files it has just merged; this does the same for a whole store (`fleetprof compact`).

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

/** Layout v2: a table's live local files (compacted, and unmerged fresh ones), from liveFileSet. */
interface TableListing {
  files: string[];
}

async function listTable(store: Store, table: TableName): Promise<TableListing> {
  const s = await liveFileSet(store, table, {});
  return { files: [...s.compacted, ...s.fresh] };
}

const dtOf = (key: string) => /\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];

async function liveIn(_store: Store, l: TableListing, fromDt: string, toDt: string): Promise<string[]> {
  return l.files.filter((f) => {
    const dt = dtOf(f);
    return dt !== undefined && dt >= fromDt && dt <= toDt;
  });
}

/** Whether a rollup file id is live in the dt (the S3 cache adds `.<etag hash>` before .parquet). */
function published(l: TableListing, dt: string, fileId: string): boolean {
  const re = new RegExp(`/dt=${dt}/${fileId.replace(/[^0-9A-Za-z-]/g, '.')}(\\.[0-9a-f]{16})?\\.parquet$`);
  return l.files.some((f) => re.test(f));
}

/**
 * Publishes one hour's (hour of day) or one day's (undefined) rollup files, replacing whatever
 * rollup files of that hour or day are live, the scheduled compaction's included (so either
 * builder may run after the other without counting an hour twice).
 */
async function publish(store: Store, files: RollupFile[], fileId: string, hour: number | undefined): Promise<void> {
  const hours = hour === undefined ? Array.from({ length: 24 }, (_, h) => h) : [hour];
  for (const f of files) {
    const replaces = await replacedRollups(store, f.table, f.partition.dt, hour);
    await publishLive(store, f.table, f.partition.dt, f.path, `${fileId}.parquet`, hours, replaces);
  }
}

export const hourFileId = (hourUs: number) => `rollup-${isoFromUs(hourUs).slice(0, 13)}`;
export const DAY_FILE_ID = 'rollup-day';

export interface RollupRunResult {
  hours: number;
  days: number;
  files: number;
  rows: number;
}

export interface RollupStoreOptions {
  /** Whole UTC hours [fromUs, toUs) to roll up (default: every hour of every dt with raw data before toUs). */
  fromUs?: number;
  toUs: number;
  /** Skip hours and days whose rollups were published already (default false: rebuild, replacing them). */
  skipBuilt?: boolean;
}

/**
 * Builds and publishes the rollups of the whole UTC hours in range that hold raw data, and the
 * day forms of the days the range covers completely.
 */
export async function rollupStore(store: Store, conn: DuckDBConnection, o: RollupStoreOptions): Promise<RollupRunResult> {
  const res: RollupRunResult = { hours: 0, days: 0, files: 0, rows: 0 };
  const raw = {
    profiles: await listTable(store, 'profiles'),
    functions: await listTable(store, 'functions'),
    stacks: await listTable(store, 'stacks'),
    gc_cycles: await listTable(store, 'gc_cycles'),
  };
  const built = { profiles_1h: await listTable(store, 'profiles_1h'), functions_1d: await listTable(store, 'functions_1d') };
  const dts = [...new Set([...raw.profiles.files, ...raw.gc_cycles.files].map((x) => dtOf(x)).filter((d): d is string => d !== undefined))].sort();
  const fromUs = o.fromUs ?? (dts.length > 0 ? Date.parse(`${dts[0]}T00:00:00Z`) * 1000 : o.toUs);
  const scratch = path.join(store.scratchDir, `rollup-${randomUUID()}`);
  const dtSet = new Set(dts);
  // The hours that hold profiles (one small query per dt): empty hours have nothing to roll up.
  const withData = new Set<number>();
  for (const dt of dts) {
    for (const table of [raw.profiles, raw.gc_cycles]) {
      const files = await liveIn(store, table, dt, dt);
      if (files.length === 0) continue;
      const rows = (
        await conn.runAndReadAll(`SELECT DISTINCT epoch_us(date_trunc('hour', time)) AS h FROM read_parquet([${files.map((f) => `'${sqlString(f)}'`).join(', ')}], union_by_name = true)`)
      ).getRowObjectsJS();
      for (const r of rows) withData.add(Number(r.h));
    }
  }
  try {
    for (let h = Math.ceil(fromUs / HOUR_US) * HOUR_US; h + HOUR_US <= o.toUs; h += HOUR_US) {
      const dt = utcDate(h);
      if (!withData.has(h)) continue;
      if (o.skipBuilt && published(built.profiles_1h, dt, hourFileId(h))) continue;
      const prevDt = utcDate(h - HOUR_US);
      const files = await buildHourRollups(
        conn,
        {
          profiles: await liveIn(store, raw.profiles, prevDt, dt),
          functions: await liveIn(store, raw.functions, prevDt, dt),
          stacks: await liveIn(store, raw.stacks, prevDt, dt),
          gc_cycles: await liveIn(store, raw.gc_cycles, utcDate(h - 2 * HOUR_US), dt),
        },
        { fromUs: h, toUs: h + HOUR_US },
        path.join(scratch, String(h)),
      );
      await publish(store, files, hourFileId(h), new Date(h / 1000).getUTCHours());
      res.hours++;
      res.files += files.length;
      res.rows += files.reduce((a, f) => a + f.rows, 0);
    }
    const hours = { functions_1h: await listTable(store, 'functions_1h'), stacks_1h: await listTable(store, 'stacks_1h'), function_shares_1h: await listTable(store, 'function_shares_1h'), attributed_1h: await listTable(store, 'attributed_1h'), gc_1h: await listTable(store, 'gc_1h'), profiles_1h: await listTable(store, 'profiles_1h') };
    for (let d = Math.ceil(fromUs / DAY_US) * DAY_US; d + DAY_US <= o.toUs; d += DAY_US) {
      const dt = utcDate(d);
      if (!dtSet.has(dt)) continue;
      if (o.skipBuilt && published(built.functions_1d, dt, DAY_FILE_ID)) continue;
      const hourFiles = {
        functions_1h: await liveIn(store, hours.functions_1h, dt, dt),
        stacks_1h: await liveIn(store, hours.stacks_1h, dt, dt),
        function_shares_1h: await liveIn(store, hours.function_shares_1h, dt, dt),
        attributed_1h: await liveIn(store, hours.attributed_1h, dt, dt),
        gc_1h: await liveIn(store, hours.gc_1h, dt, dt),
        profiles_1h: await liveIn(store, hours.profiles_1h, dt, dt),
      };
      const files = await buildDayRollups(conn, hourFiles, d, path.join(scratch, `d${d}`));
      await publish(store, files, DAY_FILE_ID, undefined);
      res.days++;
      res.files += files.length;
      res.rows += files.reduce((a, f) => a + f.rows, 0);
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  return res;
}

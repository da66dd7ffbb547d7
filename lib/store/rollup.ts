import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { TableName } from '../model/schema';
import { isoFromUs } from '../model/time';
import { tableKey, utcDate } from './layout';
import { liveFiles, MANIFEST_NAME, partitionOf, readManifest } from './manifest';
import { buildDayRollups, buildHourRollups, type RollupFile } from './rollup-build';
import type { Store } from './store';

// Rollups over a store: lists the live raw files of the hours (and the hour before them), runs the
// builder hour by hour, publishes one file per rollup table and partition and hour
// (`<table>/dt=D/service=S/rollup-<YYYY-MM-DDTHH>.parquet`; re-building an hour replaces it), and
// the day forms (`rollup-day.parquet`). The compactor calls buildHourRollups/buildDayRollups on
// the files it has just merged; this is the same for a directory that has no such compactor run.

const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

/** Live local files of a table in the dts [fromDt, toDt] (manifests applied). */
async function liveTableFiles(store: Store, table: TableName, fromDt: string, toDt: string): Promise<string[]> {
  const objs = (await store.list(`${table}/`)).filter((o) => {
    const m = /\/dt=(\d{4}-\d{2}-\d{2})\//.exec(o.key);
    return m !== null && m[1] >= fromDt && m[1] <= toDt;
  });
  const byPart = new Map<string, typeof objs>();
  for (const o of objs) byPart.set(partitionOf(o.key), [...(byPart.get(partitionOf(o.key)) ?? []), o]);
  const out: string[] = [];
  for (const [part, list] of byPart) {
    const manifest = list.some((o) => o.key === part + MANIFEST_NAME) ? await readManifest(store, part) : null;
    const live = new Set(liveFiles(list.filter((o) => o.key.endsWith('.parquet')).map((o) => o.key), manifest));
    for (const o of list) if (live.has(o.key)) out.push(await store.localPath(o));
  }
  return out;
}

async function publish(store: Store, files: RollupFile[], fileId: string): Promise<void> {
  for (const f of files) {
    await store.putFile(tableKey(f.table, f.partition.dt, f.partition.service, fileId), f.path);
  }
}

export interface RollupRunResult {
  hours: number;
  days: number;
  files: number;
  rows: number;
}

/**
 * Builds and publishes the rollups of the whole UTC hours [fromUs, toUs), and the day forms of the
 * days the range covers completely.
 */
export async function rollupStore(store: Store, conn: DuckDBConnection, range: { fromUs: number; toUs: number }): Promise<RollupRunResult> {
  const res: RollupRunResult = { hours: 0, days: 0, files: 0, rows: 0 };
  const scratch = path.join(store.scratchDir, `rollup-${randomUUID()}`);
  try {
    for (let h = Math.ceil(range.fromUs / HOUR_US) * HOUR_US; h + HOUR_US <= range.toUs; h += HOUR_US) {
      const raw = {
        profiles: await liveTableFiles(store, 'profiles', utcDate(h - HOUR_US), utcDate(h)),
        functions: await liveTableFiles(store, 'functions', utcDate(h - HOUR_US), utcDate(h)),
        stacks: await liveTableFiles(store, 'stacks', utcDate(h - HOUR_US), utcDate(h)),
      };
      const files = await buildHourRollups(conn, raw, { fromUs: h, toUs: h + HOUR_US }, path.join(scratch, String(h)));
      await publish(store, files, `rollup-${isoFromUs(h).slice(0, 13)}`);
      res.hours++;
      res.files += files.length;
      res.rows += files.reduce((a, f) => a + f.rows, 0);
    }
    for (let d = Math.ceil(range.fromUs / DAY_US) * DAY_US; d + DAY_US <= range.toUs; d += DAY_US) {
      const dt = utcDate(d);
      const hourFiles = {
        functions_1h: await liveTableFiles(store, 'functions_1h', dt, dt),
        stacks_1h: await liveTableFiles(store, 'stacks_1h', dt, dt),
      };
      const files = await buildDayRollups(conn, hourFiles, d, path.join(scratch, `d${d}`));
      await publish(store, files, 'rollup-day');
      res.days++;
      res.files += files.length;
      res.rows += files.reduce((a, f) => a + f.rows, 0);
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  return res;
}

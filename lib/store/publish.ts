import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TABLES, type TableName, type TableRows } from '../model/schema';
import { tableKey, utcDate } from './layout';
import type { ParquetWriter } from './parquet';
import type { Store } from './store';

// The one publish path: table rows -> Parquet files in the store, all or nothing. Files are named
// by their source (fileId), so publishing the same source again replaces its files.

export interface PublishTarget {
  readonly store: Store;
  readonly writer: ParquetWriter;
}

/** One file to publish: the rows of one table for one partition, named by its source. */
export interface PublishEntry<N extends TableName = TableName> {
  readonly table: N;
  readonly dt: string;
  readonly service: string;
  readonly fileId: string;
  readonly rows: TableRows[N];
}

/**
 * Writes every entry's file to scratch first and publishes only when all were written, so a
 * failure leaves nothing half-written behind. Ingest only writes: it never lists or reads the
 * store (a LIST per object was most of the S3 request bill, and moto's listing is linear). A source
 * that a compaction already merged may be written again on redelivery; readers ignore it (the
 * partition's manifest lists its file id, see liveFiles) and the next compaction deletes it.
 */
export async function publishEntries(target: PublishTarget, entries: readonly PublishEntry[]): Promise<string[]> {
  await fs.mkdir(target.store.scratchDir, { recursive: true });
  const staged: [string, string][] = [];
  try {
    for (const e of entries) {
      const key = tableKey(e.table, e.dt, e.service, e.fileId);
      const tmp = path.join(target.store.scratchDir, `${randomUUID()}.parquet`);
      staged.push([key, tmp]);
      await target.writer.write(TABLES[e.table], e.rows, tmp);
    }
    for (const [key, tmp] of staged) await target.store.putFile(key, tmp);
    return staged.map(([key]) => key);
  } finally {
    for (const [, tmp] of staged) await fs.rm(tmp, { force: true });
  }
}

/**
 * Rows that may span several UTC days (a gctrace log, runtime/metrics snapshots): one file per day
 * of their `time`, named `<fileId>-<dt>`, all staged first so a failure publishes nothing.
 */
export async function publishByDay<N extends 'gc_cycles' | 'runtime_metrics'>(
  target: PublishTarget,
  table: N,
  service: string,
  fileId: string,
  rows: TableRows[N],
): Promise<{ keys: string[]; dts: string[] }> {
  const byDay = new Map<string, TableRows[N][number][]>();
  for (const r of rows) {
    const dt = utcDate(r.time);
    const list = byDay.get(dt);
    if (list) list.push(r);
    else byDay.set(dt, [r]);
  }
  const dts = [...byDay.keys()].sort();
  const keys = await publishEntries(
    target,
    dts.map((dt) => ({ table, dt, service, fileId: `${fileId}-${dt}`, rows: byDay.get(dt)! as TableRows[N] })),
  );
  return { keys, dts };
}

/** The profile path's tables, all in the partition of the profile's capture day. */
export async function publish(
  target: PublishTarget,
  dt: string,
  service: string,
  fileId: string,
  tables: [TableName, TableRows[TableName]][],
): Promise<string[]> {
  return publishEntries(
    target,
    tables.map(([table, rows]) => ({ table, dt, service, fileId, rows })),
  );
}

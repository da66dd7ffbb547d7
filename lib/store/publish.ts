import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TABLES, type TableName, type TableRows } from '../model/schema';
import { tableKey, utcDate } from './layout';
import type { ParquetWriter, RowFile } from './parquet';
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

/**
 * publishByDay for rows that arrive a chunk at a time (lib/model/gc.ts RowStream: a gctrace log,
 * runtime/metrics): each chunk is split by day and appended to that day's staged file as it comes,
 * so memory holds one chunk, not the input's rows (#13). All staged first: a failure (a chunk
 * that throws included) publishes nothing.
 */
export async function publishChunksByDay<N extends 'gc_cycles' | 'runtime_metrics'>(
  target: PublishTarget,
  table: N,
  service: string,
  fileId: string,
  chunks: Iterable<TableRows[N]>,
): Promise<{ keys: string[]; dts: string[] }> {
  await fs.mkdir(target.store.scratchDir, { recursive: true });
  const files = new Map<string, { tmp: string; file: RowFile }>();
  const finished: [string, string][] = [];
  try {
    for (const chunk of chunks) {
      const byDay = new Map<string, TableRows[N][number][]>();
      for (const r of chunk) {
        const dt = utcDate(r.time);
        const list = byDay.get(dt);
        if (list) list.push(r);
        else byDay.set(dt, [r]);
      }
      for (const [dt, rows] of byDay) {
        let f = files.get(dt);
        if (!f) {
          const tmp = path.join(target.store.scratchDir, `${randomUUID()}.parquet`);
          f = { tmp, file: await target.writer.rowFile(TABLES[table], tmp) };
          files.set(dt, f);
        }
        await f.file.append(rows);
      }
    }
    const dts = [...files.keys()].sort();
    for (const dt of dts) {
      const f = files.get(dt)!;
      files.delete(dt);
      finished.push([tableKey(table, dt, service, `${fileId}-${dt}`), f.tmp]);
      await f.file.finish();
    }
    for (const [key, tmp] of finished) await target.store.putFile(key, tmp);
    return { keys: finished.map(([key]) => key), dts };
  } finally {
    for (const f of files.values()) await f.file.discard();
    for (const [, tmp] of finished) await fs.rm(tmp, { force: true });
    for (const f of files.values()) await fs.rm(f.tmp, { force: true });
  }
}

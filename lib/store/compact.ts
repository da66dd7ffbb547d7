import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TABLE_NAMES, TABLES, type TableName } from '../model/schema';
import { isCompactedName, partitionOf, readManifest, writeManifest } from './manifest';
import { parseKey } from './layout';
import type { ParquetWriter } from './parquet';
import type { Store, StoredObject } from './store';

// Compaction: each closed partition's per-source files become one file per table, re-sorted and
// compressed harder. Small files are what makes ingest idempotent and fast; one file per day is
// what makes a year of storage cheap (docs/performance.md measures both) and queries fast.
//
// Order of effects, each safe to interrupt: (1) write the new compacted file, (2) publish the
// manifest naming it and its sources (readers switch here), (3) delete what it replaced.

export interface CompactOptions {
  /** Compact partitions whose dt is before this date (YYYY-MM-DD); default: today, UTC. */
  before?: string;
  tables?: TableName[];
}

export interface CompactResult {
  partitions: number;
  filesMerged: number;
  bytesBefore: number;
  bytesAfter: number;
}

export async function compact(store: Store, writer: ParquetWriter, opts: CompactOptions = {}): Promise<CompactResult> {
  const before = opts.before ?? new Date().toISOString().slice(0, 10);
  const result: CompactResult = { partitions: 0, filesMerged: 0, bytesBefore: 0, bytesAfter: 0 };
  for (const table of opts.tables ?? TABLE_NAMES) {
    const byPartition = new Map<string, StoredObject[]>();
    for (const o of await store.list(`${table}/`)) {
      const k = parseKey(o.key);
      if (!k || k.dt >= before || !o.key.endsWith('.parquet')) continue;
      const part = partitionOf(o.key);
      const list = byPartition.get(part);
      if (list) list.push(o);
      else byPartition.set(part, [o]);
    }
    for (const [partition, objs] of byPartition) {
      const r = await compactPartition(store, writer, table, partition, objs);
      if (!r) continue;
      result.partitions++;
      result.filesMerged += r.merged;
      result.bytesBefore += r.before;
      result.bytesAfter += r.after;
    }
  }
  return result;
}

async function compactPartition(
  store: Store,
  writer: ParquetWriter,
  table: TableName,
  partition: string,
  objs: StoredObject[],
): Promise<{ merged: number; before: number; after: number } | null> {
  const manifest = await readManifest(store, partition);
  const done = new Set(manifest?.sources ?? []);
  const current = manifest ? objs.find((o) => o.key === partition + manifest.file) : undefined;
  // Sources not yet merged; leftovers of interrupted compactions (unlisted compact-* files,
  // or sources already merged) are only cleaned up.
  const fresh = objs.filter((o) => !isCompactedName(o.key) && !done.has(fileIdOf(o.key)));
  const garbage = objs.filter((o) => o !== current && !fresh.includes(o));
  if (fresh.length === 0 || (fresh.length === 1 && !current)) {
    if (fresh.length === 0) for (const g of garbage) await store.delete(g.key);
    return null;
  }
  const inputs = [...(current ? [current] : []), ...fresh];
  const sources = [...done, ...fresh.map((o) => fileIdOf(o.key))].sort();
  const name = `compact-${createHash('sha256').update(sources.join('\n')).digest('hex').slice(0, 24)}.parquet`;
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.parquet`);
  try {
    const local: string[] = [];
    // The listed object, ETag included: S3Store downloads with If-Match on it (an empty ETag fails).
    for (const o of inputs) local.push(await store.localPath(o));
    await writer.merge(TABLES[table], local, tmp);
    const after = (await fs.stat(tmp)).size;
    await store.putFile(partition + name, tmp);
    await writeManifest(store, partition, { file: name, sources });
    for (const o of [...inputs, ...garbage]) if (o.key !== partition + name) await store.delete(o.key);
    return { merged: inputs.length, before: inputs.reduce((s, o) => s + o.size, 0), after };
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function fileIdOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1).replace(/\.parquet$/, '');
}

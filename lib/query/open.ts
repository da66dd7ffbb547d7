import { TABLE_NAMES, type TableName } from '../model/schema';
import { keyMatches, type PartitionFilter } from '../store/layout';
import type { Store, StoredObject } from '../store/store';
import { liveFiles, MANIFEST_NAME, partitionOf, readManifest } from '../store/manifest';
import type { DuckDbSettings } from '../store/parquet';
import { QueryEngine, type TableFiles } from './engine';

/**
 * Opens a query engine over only the partitions a filter can match: listing prunes by dt and
 * service before a single byte of Parquet is read (or, for S3, downloaded).
 */
export async function openEngine(
  store: Store,
  filter: PartitionFilter,
  allowedDirectories: string[],
  settings?: DuckDbSettings,
): Promise<QueryEngine> {
  return QueryEngine.open(await listTableFiles(store, filter), allowedDirectories, settings);
}

/** The local paths of every live Parquet file of every table a filter can match. */
export async function listTableFiles(store: Store, filter: PartitionFilter): Promise<TableFiles> {
  const files = {} as TableFiles;
  for (const t of TABLE_NAMES) files[t] = await tableFiles(store, t, filter);
  return files;
}

async function tableFiles(store: Store, table: TableName, filter: PartitionFilter): Promise<string[]> {
  const objs = (await store.list(`${table}/`)).filter((o) => keyMatches(o.key, filter));
  // Per partition, the files a compaction manifest says are live (each row exactly once).
  const byPartition = new Map<string, StoredObject[]>();
  for (const o of objs) {
    const part = partitionOf(o.key);
    const list = byPartition.get(part);
    if (list) list.push(o);
    else byPartition.set(part, [o]);
  }
  const out: string[] = [];
  for (const [part, list] of byPartition) {
    const manifest = list.some((o) => o.key === part + MANIFEST_NAME) ? await readManifest(store, part) : null;
    const live = new Set(liveFiles(list.filter((o) => o.key.endsWith('.parquet')).map((o) => o.key), manifest));
    for (const o of list) if (live.has(o.key)) out.push(await store.localPath(o));
  }
  return out;
}

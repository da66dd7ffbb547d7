import { TABLE_NAMES, type TableName } from '../model/schema';
import { keyMatches, type PartitionFilter } from '../store/layout';
import type { Store } from '../store/store';
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
  const files = {} as TableFiles;
  for (const t of TABLE_NAMES) files[t] = await tableFiles(store, t, filter);
  return QueryEngine.open(files, allowedDirectories, settings);
}

async function tableFiles(store: Store, table: TableName, filter: PartitionFilter): Promise<string[]> {
  const objs = (await store.list(`${table}/`)).filter((o) => o.key.endsWith('.parquet') && keyMatches(o.key, filter));
  const out: string[] = [];
  for (const o of objs) out.push(await store.localPath(o));
  return out;
}

import { TABLE_NAMES } from '../model/schema';
import type { PartitionFilter } from '../store/layout';
import { fetchFiles, liveFileSet } from '../store/live';
import type { Store } from '../store/store';
import type { DuckDbSettings } from '../store/parquet';
import { QueryEngine, type TableFiles } from './engine';

/**
 * Opens a query engine over only the partitions a filter can match: listing prunes by dt before a
 * single byte of Parquet is read (or, for S3, downloaded); service is pruned inside the files.
 * Views are made when a query first names their table (lib/query/engine.ts, lazyViews): the
 * product's queries go through QueryEngine.rows.
 */
export async function openEngine(
  store: Store,
  filter: PartitionFilter,
  allowedDirectories: string[],
  settings?: DuckDbSettings,
): Promise<QueryEngine> {
  // The listing's file system (or S3) requests are under way while the native DuckDB binding
  // loads (~0.4 s, synchronous): started first, they overlap it.
  const [files] = await Promise.all([listTableFiles(store, filter, { lazy: true }), import('@duckdb/node-api')]);
  // Over S3 the listing only says where each file will be: a statement downloads the files it reads.
  return QueryEngine.open(files, allowedDirectories, settings, { lazyViews: true, fetch: (t, paths) => fetchFiles(store, files[t], paths) });
}


/**
 * The local paths of every live Parquet file of every table a filter can match (layout v2,
 * docs/architecture.md): per dt, the compacted files its manifest lists, plus the fresh batch
 * files no live file merged. Fresh files of an hour a compacted file already covers are `late`
 * (a redelivery or a late upload): the views keep only their rows the compacted files lack.
 * Tables the filter leaves out (`filter.tables`) are marked unlisted, not listed.
 */
export async function listTableFiles(store: Store, filter: PartitionFilter, opts: { lazy?: boolean; keysOnly?: boolean; hourInputs?: boolean } = {}): Promise<TableFiles> {
  const out = {} as TableFiles;
  await Promise.all(
    TABLE_NAMES.map(async (t) => {
      out[t] = !filter.tables || filter.tables.includes(t) ? await liveFileSet(store, t, filter, opts) : { compacted: [], fresh: [], lateHours: [], unlisted: true };
    }),
  );
  return out;
}


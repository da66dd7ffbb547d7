import * as path from 'node:path';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter } from '../../lib/store/parquet';
import { openEngine } from '../../lib/query/open';
import type { QueryEngine } from '../../lib/query/engine';
import type { PartitionFilter } from '../../lib/store/layout';

// The embedded default: a directory is the store, DuckDB runs in-process.

export async function openLocalWriter(dir: string): Promise<{ store: LocalStore; writer: ParquetWriter; close: () => Promise<void> }> {
  const store = new LocalStore(dir);
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  return {
    store,
    writer,
    close: async () => {
      writer.close();
      instance.closeSync();
    },
  };
}

export async function openLocalEngine(dir: string, filter: PartitionFilter = {}): Promise<QueryEngine> {
  const store = new LocalStore(dir);
  return openEngine(store, filter, [path.resolve(dir)]);
}

import { statSync } from 'node:fs';
import * as path from 'node:path';
import { LocalStore } from '../../lib/store/local';
import { openDuckDb, ParquetWriter, type DuckDbSettings } from '../../lib/store/parquet';
import { openEngine } from '../../lib/query/open';
import type { QueryEngine } from '../../lib/query/engine';
import type { PartitionFilter } from '../../lib/store/layout';
import { NoDataError } from './run';

// The embedded default: a directory is the store, DuckDB runs in-process. Every command opens and
// closes the engine (or the writer) through here.

/** A query reads an existing data directory: a mistyped one is "no data", not an empty answer. */
export function requireDataDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    /* missing */
  }
  if (!isDir) throw new NoDataError(`data directory ${dir} does not exist (ingest into it first: fleetprof ingest --data ${dir} ...)`);
}

export async function openLocalEngine(dir: string, filter: PartitionFilter = {}): Promise<QueryEngine> {
  requireDataDir(dir);
  return openEngine(new LocalStore(dir), filter, [path.resolve(dir)]);
}

/** Runs `f` on an engine over the partitions `filter` can match, and closes it. */
export async function withEngine<T>(dir: string, filter: PartitionFilter, f: (engine: QueryEngine) => Promise<T>): Promise<T> {
  const engine = await openLocalEngine(dir, filter);
  try {
    return await f(engine);
  } finally {
    engine.close();
  }
}

export interface LocalWriter {
  store: LocalStore;
  writer: ParquetWriter;
  close: () => Promise<void>;
}

export async function openLocalWriter(dir: string, settings?: DuckDbSettings): Promise<LocalWriter> {
  const store = new LocalStore(dir);
  const instance = await openDuckDb(settings);
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

/** Runs `f` with a store and Parquet writer on a data directory (created if missing), and closes them. */
export async function withWriter<T>(dir: string, f: (w: LocalWriter) => Promise<T>, settings?: DuckDbSettings): Promise<T> {
  const w = await openLocalWriter(dir, settings);
  try {
    return await f(w);
  } finally {
    await w.close();
  }
}

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { QUARANTINE_PREFIX } from '../model/bucket-prefixes';
import { sqlString, type ParquetWriter } from './parquet';
import type { StoredObject } from './store';

// Table files DuckDB cannot read (a corrupt or truncated Parquet file): finding them after a failed
// statement, the reason in words naming the key, and moving them aside. Both the merger
// (lib/store/merge.ts) and the hour's compaction (lib/store/compact.ts) take a Quarantine: a file
// moved aside is then retired in its manifest, so readers and the compactor skip it and the rest
// of its hour is merged or compacted. Its rows are lost: they were unreadable.
//
// One home for the copies, wherever the tables are: quarantine/tables/<key> with
// <that>.reason.json beside it, as ingest quarantines an upload (lib/aws/quarantine.ts). In the
// bucket that is beside tables/ (tablesQuarantine); in a data directory, which is the bucket's
// tables/ (`aws s3 sync` either way), <data>/quarantine/tables/<key> (localQuarantine), where
// `fleetprof digest --data` looks for quarantined objects.

/** A file DuckDB cannot read: its key, its version, and why, in words naming the key. */
export interface UnreadableFile {
  key: string;
  etag: string;
  reason: string;
}

/** Moves an unreadable file aside (copy and reason); the caller retires it once this resolves. */
export type Quarantine = (f: UnreadableFile) => Promise<void>;

/** Where a table file's copy goes, relative to the bucket (or to the data directory's parent layout): quarantine/tables/<key>. */
export function quarantinedTableKey(key: string): string {
  return `${QUARANTINE_PREFIX}tables/${key}`;
}

/**
 * The quarantine of a data directory (`fleetprof compact --data`): <data>/quarantine/tables/<key>
 * and <that>.reason.json ({ key, etag, code: 'unreadable', reason, at }).
 */
export function localQuarantine(root: string): Quarantine {
  return async (f) => {
    const src = path.join(root, ...f.key.split('/'));
    const copy = path.join(root, ...quarantinedTableKey(f.key).split('/'));
    if (!path.resolve(copy).startsWith(path.resolve(root) + path.sep)) throw new Error(`key escapes the data directory: ${f.key}`);
    await fs.mkdir(path.dirname(copy), { recursive: true });
    await fs.copyFile(src, copy);
    const record = { dir: path.resolve(root), key: f.key, etag: f.etag, code: 'unreadable', reason: f.reason, at: new Date().toISOString() };
    await fs.writeFile(`${copy}.reason.json`, JSON.stringify(record, null, 2));
  };
}

/** After a failed statement over `inputs` (local copies at `paths`): those DuckDB cannot read whole (every column of every row), each on its own. */
export async function unreadableFiles(writer: ParquetWriter, inputs: readonly StoredObject[], paths: readonly string[]): Promise<UnreadableFile[]> {
  const bad: UnreadableFile[] = [];
  for (const [i, p] of paths.entries()) {
    try {
      await writer.connection.run(`SELECT max(hash(f)) FROM read_parquet('${sqlString(p)}', hive_partitioning = false) f`);
    } catch (e) {
      bad.push({ key: inputs[i].key, etag: inputs[i].etag, reason: unreadableReason(inputs[i].key, p, (e as Error).message) });
    }
  }
  return bad;
}

/**
 * Why DuckDB could not read the file at `local` (the store's copy of `key`), in words naming the
 * key: DuckDB's first line, without its error type, with the local path replaced by the key and
 * any other absolute path (a temp or cache file) by <file>. The reason is stored next to the
 * quarantined copy and logged.
 */
export function unreadableReason(key: string, local: string, message: string): string {
  const what = message
    .split('\n')[0]
    .split(local)
    .join(key)
    .replace(/^[A-Z][A-Za-z ]* Error: /, '')
    .replace(/(?<![\w.@-])(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/:]+[\\/])+[^\s'"\\/:]*/g, '<file>')
    .trim();
  return `${key}: not a readable Parquet file (${what.length > 300 ? `${what.slice(0, 300)}…` : what})`;
}

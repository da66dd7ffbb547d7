import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Store } from './store';

// A partition's compaction manifest: which file holds the merged rows and which source files it
// merged. Publishing the manifest (one atomic object write) is the moment a compaction takes
// effect: readers use the manifest's file and ignore the sources it lists, so a compaction
// interrupted at any step shows every row exactly once.

export const MANIFEST_NAME = '_compacted.json';

export interface CompactionManifest {
  /** File name (in the partition) of the compacted rows. */
  readonly file: string;
  /** File ids (names without .parquet) whose rows the compacted file holds. */
  readonly sources: readonly string[];
}

/** `<table>/dt=.../service=.../` of a key in the Hive layout. */
export function partitionOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}

export async function readManifest(store: Store, partition: string): Promise<CompactionManifest | null> {
  const bytes = await store.read(partition + MANIFEST_NAME);
  return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as CompactionManifest) : null;
}

export async function writeManifest(store: Store, partition: string, m: CompactionManifest): Promise<void> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  const tmp = path.join(store.scratchDir, `${randomUUID()}.json`);
  await fs.writeFile(tmp, JSON.stringify(m));
  await store.putFile(partition + MANIFEST_NAME, tmp);
}

/** The files of a partition a reader should use, given its listing (keys of .parquet files). */
export function liveFiles(keys: readonly string[], m: CompactionManifest | null): string[] {
  if (!m) return keys.filter((k) => !isCompactedName(k));
  const sources = new Set(m.sources);
  return keys.filter((k) => {
    const name = k.slice(k.lastIndexOf('/') + 1);
    if (isCompactedName(k)) return name === m.file;
    return !sources.has(name.replace(/\.parquet$/, ''));
  });
}

export function isCompactedName(key: string): boolean {
  return key.slice(key.lastIndexOf('/') + 1).startsWith('compact-');
}

import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3Store } from './s3-store';
import { ENV, PREFIXES } from './resources';

// The one place the Lambdas build the store of the tables: the bucket's tables/ prefix, with a
// download cache in /tmp (FLEETPROF_CACHE_DIR) that warm invocations reuse. One store per bucket
// per execution environment, so the cache index survives between invocations.

const stores = new Map<string, S3Store>();

/** The bucket holding tables/: FLEETPROF_BUCKET, else `fallback` (the ingest event's bucket). */
export function tablesBucket(env: NodeJS.ProcessEnv = process.env, fallback?: string): string {
  const bucket = env[ENV.bucket] || fallback;
  if (!bucket) throw new Error(`${ENV.bucket} is not set`);
  return bucket;
}

export function tablesStore(s3: S3Client, bucket: string, env: NodeJS.ProcessEnv = process.env): S3Store {
  let s = stores.get(bucket);
  if (!s) {
    s = new S3Store({ client: s3, bucket, prefix: PREFIXES.tables, cacheDir: env[ENV.cacheDir] || path.join(os.tmpdir(), 'fleetprof-cache') });
    stores.set(bucket, s);
  }
  return s;
}

/**
 * What a compaction or merge Lambda's download cache may keep between invocations: a quarter of
 * its /tmp (`ephemeralStorageMb`), the rest left to the invocation's own downloads, outputs and
 * DuckDB's spill. Their inputs are rarely read twice (each unit reads other files; the merger
 * forgets its inputs), so the bound costs few downloads.
 */
export function cacheBudgetBytes(ephemeralStorageMb: number): number {
  return Math.floor((ephemeralStorageMb * 1024 * 1024) / 4);
}

/** At the start of an invocation (nothing in flight): the store's cache trimmed to the function's budget (S3Store.trimCache). */
export async function trimTablesCache(store: S3Store, fn: { ephemeralStorageMb: number }): Promise<void> {
  await store.trimCache(cacheBudgetBytes(fn.ephemeralStorageMb));
}

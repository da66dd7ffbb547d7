// serve reuses engines between requests over the same files (lib/query/engine-cache.ts): one
// DuckDB instance per distinct file set, a connection per request, the least recently used idle
// engine closed beyond the maximum, a failed open not cached.
import { TABLE_NAMES } from '../lib/model/schema';
import { QueryEngine, type TableFiles } from '../lib/query/engine';
import { EngineCache } from '../lib/query/engine-cache';

const none = (): TableFiles => Object.fromEntries(TABLE_NAMES.map((t) => [t, { compacted: [], fresh: [], lateHours: [] }])) as unknown as TableFiles;
/** File sets that differ in a name (the test's engines never read them: their views are over no files). */
const other = (i: number): TableFiles => ({ ...none(), profiles: { compacted: [`/tmp/x${i}.parquet`], fresh: [], lateHours: [] } });

test('one engine per file set, a connection per lease; views answer on every connection', async () => {
  const opened: QueryEngine[] = [];
  const cache = new EngineCache(async (files) => {
    const e = await QueryEngine.open(files, ['/tmp']);
    opened.push(e);
    return e;
  }, 2);
  try {
    const [a, b] = await Promise.all([cache.lease(none()), cache.lease(none())]);
    expect(opened).toHaveLength(1); // concurrent leases share the open
    expect(await a.rows('SELECT count(*)::INTEGER AS n FROM profiles')).toEqual([{ n: 0 }]);
    expect(await b.rows('SELECT count(*)::INTEGER AS n FROM gc_cycles')).toEqual([{ n: 0 }]);
    a.close();
    b.close();
    const c = await cache.lease(none());
    expect(opened).toHaveLength(1);
    // The instance stays locked down for every connection.
    await expect(c.rows("SET enable_external_access = true")).rejects.toThrow();
    c.close();
  } finally {
    cache.close();
  }
});

test('beyond the maximum the least recently used idle engine is closed; a failed open is not kept', async () => {
  let n = 0;
  const keys: string[] = [];
  const cache = new EngineCache(async (files) => {
    n++;
    keys.push(files.profiles.compacted.join());
    return QueryEngine.open(none(), ['/tmp']);
  }, 2);
  try {
    const first = await cache.lease(other(1));
    first.close();
    (await cache.lease(other(2))).close();
    (await cache.lease(other(3))).close(); // evicts other(1)
    expect(cache.size).toBe(2);
    (await cache.lease(other(1))).close();
    expect(n).toBe(4);
    (await cache.lease(other(3))).close();
    expect(n).toBe(4);
    expect(keys).toEqual(['/tmp/x1.parquet', '/tmp/x2.parquet', '/tmp/x3.parquet', '/tmp/x1.parquet']);

    const failing = new EngineCache(async () => {
      throw new Error('no files');
    });
    await expect(failing.lease(none())).rejects.toThrow('no files');
    expect(failing.size).toBe(0);
  } finally {
    cache.close();
  }
});

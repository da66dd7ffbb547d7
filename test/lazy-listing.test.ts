// A store that copies files (S3: lib/aws/s3-store.ts) lists a query's window without fetching it
// (lib/store/live.ts `lazy`, Store.plannedPath): openEngine fetches a table's files when a
// statement first reads them, so `top` fetches profiles and functions, never stacks or gc_cycles,
// and answers exactly as over local files. The copying store here is a LocalStore whose localPath
// copies into a cache, as S3Store's downloads do (moto's S3 path: test/e2e-moto.test.ts).
import { promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { top, topPartitionFilter } from '../lib/query/top';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import type { StoredObject } from '../lib/store/store';

const FIXTURES = path.join(__dirname, 'fixtures/go');

class CopyingStore extends LocalStore {
  readonly fetched: string[] = [];
  constructor(
    root: string,
    readonly cache: string,
  ) {
    super(root);
  }
  plannedPath(o: StoredObject): string {
    return path.join(this.cache, o.key);
  }
  override async localPath(o: StoredObject): Promise<string> {
    const dest = this.plannedPath(o);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.copyFile(await super.localPath(o), dest);
    this.fetched.push(o.key);
    return dest;
  }
}

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-lazy-'));
  const store = new LocalStore(path.join(dir, 'data'));
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    for (const run of ['svc-a-v1-i1', 'svc-a-v2-i1']) {
      for (const [f, id] of [['cpu.pb.gz', 'cpu'], ['gctrace.log', 'gc']]) {
        const meta = parseSourceMeta({ service: 'svc-a', instance: run, version: 'v1', source: path.join(FIXTURES, run, f), sourceId: `test:${id}:${run}`, startUs: Date.parse('2026-12-01T10:00:00Z') * 1000 });
        await ingestBytes(readFileSync(path.join(FIXTURES, run, f)), meta, { store, writer });
      }
    }
  } finally {
    writer.close();
    instance.closeSync();
  }
}, 120_000);
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

test('top over a copying store fetches only the tables it reads and equals top over the local files', async () => {
  const local = await openEngine(new LocalStore(path.join(dir, 'data')), {}, [path.join(dir, 'data')]);
  const want = await top(local, { kind: 'cpu' }).finally(() => local.close());
  const store = new CopyingStore(path.join(dir, 'data'), path.join(dir, 'cache'));
  const e = await openEngine(store, {}, [path.join(dir, 'cache')]);
  try {
    expect(store.fetched).toEqual([]); // listed, nothing fetched yet
    const got = await top(e, { kind: 'cpu' });
    expect(got).toEqual(want);
    expect(BigInt(got.total)).toBeGreaterThan(0n);
    const tables = new Set(store.fetched.map((k) => k.split('/').find((p) => !['fresh', 'compacted'].includes(p))));
    expect([...tables].sort()).toEqual(['functions', 'profiles']);
  } finally {
    e.close();
  }
  const all = (await store.list('')).filter((o) => o.key.endsWith('.parquet'));
  expect(all.some((o) => o.key.includes('stacks'))).toBe(true);
  expect(all.some((o) => o.key.includes('gc_cycles'))).toBe(true);
});

test('top lists only the tables it reads (topPartitionFilter); an unlisted table is refused, never read as empty', async () => {
  const data = path.join(dir, 'data');
  const local = await openEngine(new LocalStore(data), {}, [data]);
  const want = await top(local, { kind: 'cpu' }).finally(() => local.close());
  const listed: string[] = [];
  const store = new (class extends LocalStore {
    override async list(prefix: string) {
      listed.push(prefix);
      return super.list(prefix);
    }
  })(data);
  const q = { kind: 'cpu' as const };
  const e = await openEngine(store, topPartitionFilter(q), [data]);
  try {
    expect(await top(e, q)).toEqual(want);
    // Neither stacks nor gc_cycles (both hold files here) was listed.
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((p) => /(^|\/)(stacks|gc_cycles|runtime_metrics)\//.test(p))).toEqual([]);
    await expect(e.rows('SELECT count(*) AS n FROM gc_cycles')).rejects.toThrow(/gc_cycles was not listed/);
    expect(() => e.tableFiles('stacks')).toThrow(/stacks was not listed/);
  } finally {
    e.close();
  }
  // With a label, stacks is listed too (labels may select samples: lib/query/stack-functions.ts).
  expect(topPartitionFilter({ kind: 'cpu', labels: { a: 'b' } }).tables).toContain('stacks');
});

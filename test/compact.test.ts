// Compaction: one file per table and partition, the same answers before and after, and ingest
// stays idempotent across it (a re-ingested source must not come back as a second copy).
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestProfileBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compact } from '../lib/store/compact';
import { MANIFEST_NAME } from '../lib/store/manifest';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import type { DuckDBInstance } from '@duckdb/node-api';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap', 'mutex'] as const;

let dir: string;
let store: LocalStore;
let instance: DuckDBInstance;
let writer: ParquetWriter;

async function ingest(run: string, kind: string): Promise<void> {
  const file = path.join(FIXTURES, run, `${kind}.pb.gz`);
  const meta = parseSourceMeta({ service: 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file, sourceId: file });
  await ingestProfileBytes(readFileSync(file), meta, { store, writer });
}

async function snapshot(): Promise<unknown> {
  const engine = await openEngine(store, {}, [dir]);
  try {
    const tops = [];
    for (const kind of KINDS) tops.push(await top(engine, { kind }));
    const counts = await engine.rows('SELECT (SELECT count(*) FROM profiles) p, (SELECT count(*) FROM functions) f, (SELECT count(*) FROM stacks) s');
    return { tops, counts };
  } finally {
    engine.close();
  }
}

async function parquetFiles(table: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(path.join(dir, table));
  return out;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-compact-'));
  store = new LocalStore(dir);
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
  for (const run of RUNS.slice(0, 2)) for (const kind of KINDS) await ingest(run, kind);
});

afterAll(async () => {
  writer.close();
  instance.closeSync();
  await fs.rm(dir, { recursive: true, force: true });
});

test('compaction leaves one file per table and partition and the same answers', async () => {
  const before = await snapshot();
  const r = await compact(store, writer, { before: '9999-12-31', tables: ['profiles', 'functions', 'stacks'] });
  expect(r.filesMerged).toBe(3 * RUNS.slice(0, 2).length * KINDS.length);
  for (const t of ['profiles', 'functions', 'stacks']) {
    const files = await parquetFiles(t);
    expect(files.filter((f) => f.endsWith('.parquet')).map((f) => path.basename(f))).toEqual([expect.stringMatching(/^compact-[0-9a-f]{24}\.parquet$/)]);
    expect(files.some((f) => f.endsWith(MANIFEST_NAME))).toBe(true);
  }
  expect(await snapshot()).toEqual(before);
});

test('re-ingesting a compacted source changes no answer and the next compaction drops the copy; a new source joins and compacts in', async () => {
  const compacted = await snapshot();
  await ingest(RUNS[0], 'cpu');
  // Ingest never reads the store, so the copy is written, but readers skip it (the manifest lists its id).
  expect((await parquetFiles('functions')).filter((f) => f.endsWith('.parquet'))).toHaveLength(2);
  expect(await snapshot()).toEqual(compacted);
  await compact(store, writer, { before: '9999-12-31' });
  expect(await snapshot()).toEqual(compacted);
  expect((await parquetFiles('functions')).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);

  for (const kind of KINDS) await ingest(RUNS[2], kind);
  const grown = (await snapshot()) as { counts: { p: bigint }[] };
  expect(grown.counts[0].p).toBe(BigInt(3 * KINDS.length));
  await compact(store, writer, { before: '9999-12-31' });
  expect(await snapshot()).toEqual(grown);
  expect((await parquetFiles('stacks')).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
});

test('an interrupted compaction never shows a row twice', async () => {
  const settled = await snapshot();
  // Simulate a crash after step 1: a compacted file written, its manifest never published.
  const [part] = (await store.list('functions/')).filter((o) => o.key.endsWith('.parquet'));
  const stray = path.join(dir, path.dirname(part.key), 'compact-000000000000000000000000.parquet');
  await fs.copyFile(path.join(dir, part.key), stray);
  expect(await snapshot()).toEqual(settled);
});

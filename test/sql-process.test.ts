// The SQL process pool (lib/query/sql-process.ts): a query over a limit kills its process, the next
// query is answered, and the pool gets back to its size: at once when no other child could take
// the next query, a little later when a ready one could (so the replacement's start does not
// compete with that query). A child opens the engine of its next job ahead; a job over other files
// than that engine's (new data) gets an engine of its own, never the stale one.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { listTableFiles } from '../lib/query/open';
import { isolatedSql, SqlProcessPool } from '../lib/query/sql-process';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { makeTarget, type Target } from './security/corpus';

const PROBE = 'SELECT len(range(300000000))';
const NORMAL = 'SELECT count(*) AS n FROM profiles';
let t: Target;
beforeAll(async () => {
  t = await makeTarget();
});
afterAll(() => t.cleanup());

const until = async (f: () => boolean, ms = 60_000) => {
  for (const end = Date.now() + ms; !f() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
  return f();
};

test.each([1, 2])('pool of %i: a killed query, then the next answered, then the pool back to its size', async (size) => {
  const pool = new SqlProcessPool({ size, memoryMb: 384 });
  try {
    pool.warm();
    const run = isolatedSql(pool, new LocalStore(t.data), [t.data], { timeoutMs: 20_000 });
    // Every child has answered once: all are ready.
    await Promise.all(Array.from({ length: size }, () => run(NORMAL)));
    await expect(run(PROBE)).rejects.toThrow(/memory limit|time limit/);
    // No other child: the replacement was started with the kill.
    if (size === 1) expect(pool.children).toBe(1);
    else expect(pool.children).toBe(size - 1);
    expect(await run(NORMAL)).toEqual({ columns: ['n'], rows: [[1n]] });
    expect(await until(() => pool.children === size)).toBe(true);
    // The pool stays at its size (no second replacement).
    await new Promise((r) => setTimeout(r, 2_000));
    expect(pool.children).toBe(size);
    expect(await run(NORMAL)).toEqual({ columns: ['n'], rows: [[1n]] });
  } finally {
    pool.close();
  }
}, 120_000);

test('the engine of the next job is opened ahead (the first, told by expect(); a replacement too); new data gets an engine of its own, never the stale one', async () => {
  const own = await makeTarget();
  const pool = new SqlProcessPool({ size: 1, memoryMb: 384 });
  try {
    pool.warm();
    const store = new LocalStore(own.data);
    const run = isolatedSql(pool, store, [own.data], { timeoutMs: 20_000 });
    const one = { columns: ['n'], rows: [[1n]] };
    // What serve does at start: the tables as they are now, for the first job.
    pool.expect(await listTableFiles(store, {}), [own.data]);
    expect(await run(NORMAL)).toEqual(one);
    expect(pool.answeredAhead).toBe(1);
    expect(await run(NORMAL)).toEqual(one);
    expect(pool.answeredAhead).toBe(2);
    // A second profile lands: the engine opened ahead is over the old files, so it is not taken.
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    const bytes = readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i2/cpu.pb.gz'));
    await ingestBytes(bytes, parseSourceMeta({ service: 'svc-a', instance: 'i2', version: 'v1', source: 'cpu2', sourceId: 'cpu2' }), { store: new LocalStore(own.data), writer });
    writer.close();
    instance.closeSync();
    const two = { columns: ['n'], rows: [[2n]] };
    expect(await run(NORMAL)).toEqual(two);
    expect(pool.answeredAhead).toBe(2);
    expect(await run(NORMAL)).toEqual(two);
    expect(pool.answeredAhead).toBe(3);
    // A killed query: the replacement is told the last job's files and answers the next from an engine opened ahead.
    await expect(run(PROBE)).rejects.toThrow(/memory limit|time limit/);
    expect(await run(NORMAL)).toEqual(two);
    expect(pool.answeredAhead).toBe(4);
  } finally {
    pool.close();
    own.cleanup();
  }
}, 120_000);

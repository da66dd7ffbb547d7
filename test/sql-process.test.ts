// The SQL process pool (lib/query/sql-process.ts): a query over a limit kills its process, the next
// query is answered, and the pool gets back to its size: at once when no other child could take
// the next query, a little later when a ready one could (so the replacement's start does not
// compete with that query).
import { isolatedSql, SqlProcessPool } from '../lib/query/sql-process';
import { LocalStore } from '../lib/store/local';
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

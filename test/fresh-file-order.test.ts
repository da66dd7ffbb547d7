// A fresh batch file is sorted by its table's key only when it holds more than one row group
// (lib/store/parquet.ts ParquetWriter.write): row-group statistics are what the order is for, and a
// single group's are the same in any order. Either way the file holds exactly the rows.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { TABLES, type FunctionsRow } from '../lib/model/schema';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';

let instance: DuckDBInstance;
let writer: ParquetWriter;
let dir: string;

beforeAll(async () => {
  instance = await openDuckDb({ threads: 1 });
  writer = await ParquetWriter.create(instance);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-order-'));
});

afterAll(async () => {
  writer.close();
  instance.closeSync();
  await fs.rm(dir, { recursive: true, force: true });
});

/** `n` functions rows of one profile, in descending function order (the reverse of the key). */
function part(p: string, n: number, timeUs: number): FunctionsRow[] {
  return Array.from({ length: n }, (_, i) => ({
    profile_id: p,
    service: 's',
    instance: 'i',
    version: '',
    kind: 'cpu',
    sample_type: 'cpu',
    unit: 'nanoseconds',
    time: timeUs,
    function: `f${String(n - i).padStart(7, '0')}`,
    flat: i,
    cum: i + 1,
  }));
}

async function read(file: string): Promise<{ groups: number; sorted: boolean; rows: number; sum: bigint }> {
  const conn = await instance.connect();
  try {
    const g = (await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INTEGER AS n FROM parquet_metadata('${file}')`)).getRowObjectsJS()[0];
    const r = (
      await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, sum(flat * 3 + cum)::BIGINT AS s, bool_and(ok) AS sorted FROM (
           SELECT flat, cum, coalesce((kind, sample_type, time, profile_id, function) >= lag((kind, sample_type, time, profile_id, function)) OVER (ORDER BY file_row_number), true) AS ok
           FROM read_parquet('${file}', file_row_number = true))`,
      )
    ).getRowObjectsJS()[0];
    return { groups: Number(g.n), sorted: Boolean(r.sorted), rows: Number(r.n), sum: BigInt(r.s as bigint) };
  } finally {
    conn.closeSync();
  }
}

const want = (parts: FunctionsRow[][]) => ({
  rows: parts.reduce((s, p) => s + p.length, 0),
  sum: parts.flat().reduce((s, r) => s + BigInt(Number(r.flat) * 3 + Number(r.cum)), 0n),
});

test('a file of more than one row group is sorted by the key; one of a single group holds the same rows in any order', async () => {
  const t = Date.parse('2026-11-21T10:00:00Z') * 1000;
  // Later profile first, each in reverse function order: unsorted on every key column.
  const big = [part('p2', 70_000, t + 1000), part('p1', 70_000, t)];
  const small = [part('p2', 50, t + 1000), part('p1', 50, t)];
  const bigFile = path.join(dir, 'big.parquet');
  const smallFile = path.join(dir, 'small.parquet');
  await writer.write(TABLES.functions, big, bigFile, { batchId: 'b1' });
  await writer.write(TABLES.functions, small, smallFile, { batchId: 'b2' });
  const b = await read(bigFile);
  expect(b.groups).toBeGreaterThan(1);
  expect(b.sorted).toBe(true);
  expect({ rows: b.rows, sum: b.sum }).toEqual(want(big));
  const s = await read(smallFile);
  expect(s.groups).toBe(1);
  expect({ rows: s.rows, sum: s.sum }).toEqual(want(small));
});

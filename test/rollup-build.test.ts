// The rollup builder (lib/store/rollup-build.ts): day rows are the sums of their hours, a rebuilt
// hour replaces its files (never adds), and ranges that are not whole hours are refused.
// End-to-end exactness (rollups + raw = the window rule) is test/rollup-plan.test.ts.
import { readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { buildHourRollups } from '../lib/store/rollup-build';
import { buildRollupTestData } from './helpers/rollup-data';

const at = (iso: string) => Date.parse(iso) * 1000;
let dir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  dir = await buildRollupTestData();
  instance = await openDuckDb();
  conn = await instance.connect();
}, 300_000);

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJS();
const glob = (t: string) => `read_parquet('${path.join(dir, t)}/**/*.parquet', hive_partitioning = true)`;

test('hours, then the day: day rows are the sums of the hour rows; rebuilding replaces', async () => {
  const range = { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-12-01T00:00:00Z') };
  const first = await rollupStore(new LocalStore(dir), conn, range);
  expect(first.hours).toBe(24);
  expect(first.days).toBe(1);
  const sums = async () =>
    q(`SELECT (SELECT SUM(flat)::VARCHAR FROM ${glob('functions_1h')}) AS fh, (SELECT SUM(flat)::VARCHAR FROM ${glob('functions_1d')}) AS fd,
              (SELECT SUM(value)::VARCHAR FROM ${glob('stacks_1h')}) AS sh, (SELECT SUM(value)::VARCHAR FROM ${glob('stacks_1d')}) AS sd,
              (SELECT COUNT(*)::VARCHAR FROM ${glob('profiles_1h')}) AS ph`);
  const before = (await sums())[0];
  expect(before.fh).toBe(before.fd);
  expect(before.sh).toBe(before.sd);
  const perKey = await q(`SELECT count(*) AS n FROM (
      SELECT service, version, instance, kind, sample_type, function, SUM(flat) AS f, SUM(cum) AS c FROM ${glob('functions_1h')} GROUP BY ALL) h
    FULL JOIN (SELECT service, version, instance, kind, sample_type, function, flat AS f, cum AS c FROM ${glob('functions_1d')}) d
    USING (service, version, instance, kind, sample_type, function) WHERE h.f IS DISTINCT FROM d.f OR h.c IS DISTINCT FROM d.c`);
  expect(Number(perKey[0].n)).toBe(0);
  // The CPU hours add up to the raw CPU samples of the day.
  const cpu = await q(`SELECT (SELECT SUM(value)::VARCHAR FROM ${glob('stacks')} WHERE kind = 'cpu' AND dt = '2026-11-30') AS raw,
      (SELECT SUM(value)::VARCHAR FROM ${glob('stacks_1h')} WHERE kind = 'cpu') AS rolled`);
  expect(cpu[0].rolled).toBe(cpu[0].raw);
  await rollupStore(new LocalStore(dir), conn, range);
  expect((await sums())[0]).toEqual(before);
});

test('only whole UTC hours', async () => {
  const out = path.join(dir, '.tmp', 'x');
  await expect(buildHourRollups(conn, { profiles: [], functions: [], stacks: [] }, { fromUs: at('2026-11-30T00:30:00Z'), toUs: at('2026-11-30T01:00:00Z') }, out)).rejects.toThrow(/whole UTC hours/);
  const none = await buildHourRollups(conn, { profiles: [], functions: [], stacks: [] }, { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-11-30T01:00:00Z') }, out);
  expect(none).toEqual([]);
  expect(readdirSync(out)).toEqual([]);
});

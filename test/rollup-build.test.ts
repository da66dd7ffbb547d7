// The rollup builder (lib/store/rollup-build.ts): day rows are the sums of their hours, a rebuilt
// hour replaces its files (never adds), and ranges that are not whole hours are refused.
// End-to-end exactness (rollups + raw = the window rule) is test/rollup-plan.test.ts.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '../lib/store/local';
import { openDuckDb } from '../lib/store/parquet';
import { rollupStore } from '../lib/store/rollup';
import { buildHourRollups } from '../lib/store/rollup-build';
import { top } from '../lib/query/top';
import { exactJson } from '../lib/query/json';
import type { ProfileKind } from '../lib/model/profile';
import { openLocalEngine } from '../bin/commands/engine';
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
  expect(first.hours).toBe(3); // 21:00, 22:00 and 23:00 hold data
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
  const cpu = await q(`SELECT (SELECT SUM(value)::VARCHAR FROM ${glob('fresh/stacks')} WHERE kind = 'cpu' AND dt = '2026-11-30') AS raw,
      (SELECT SUM(value)::VARCHAR FROM ${glob('stacks_1h')} WHERE kind = 'cpu') AS rolled`);
  expect(cpu[0].rolled).toBe(cpu[0].raw);
  await rollupStore(new LocalStore(dir), conn, range);
  expect((await sums())[0]).toEqual(before);
}, 600_000);

test('only whole UTC hours', async () => {
  const out = path.join(dir, '.tmp', 'x');
  await expect(buildHourRollups(conn, { profiles: [], functions: [], stacks: [] }, { fromUs: at('2026-11-30T00:30:00Z'), toUs: at('2026-11-30T01:00:00Z') }, out)).rejects.toThrow(/whole UTC hours/);
  const none = await buildHourRollups(conn, { profiles: [], functions: [], stacks: [] }, { fromUs: at('2026-11-30T00:00:00Z'), toUs: at('2026-11-30T01:00:00Z') }, out);
  expect(none).toEqual([]);
  expect(readdirSync(out)).toEqual([]);
});

test('fleetprof compact (the scheduled job) builds the rollups of closed hours and days once; top over them equals the raw rows', async () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', 'dist/bin/fleetprof.js'), ...args], { encoding: 'utf8' });
  // As the hourly schedule would run on Dec 2 at 06:00 (the code the Lambda runs: lib/store/compact-due.ts).
  const c1 = cli(['compact', '--data', dir, '--now', '2026-12-02T06:00:00Z']);
  expect(c1.status).toBe(0);
  // The scheduled job rolls up every hour file it compacts (Nov 30 and Dec 1: both were fresh),
  // replacing the standalone rollups of Nov 30 built above (the answers below would double otherwise).
  expect(c1.stderr).toMatch(/rolled up \d+ hours and 2 days/);
  const c2 = cli(['compact', '--data', dir, '--now', '2026-12-02T06:00:00Z']);
  expect(c2.stderr).toMatch(/rolled up 0 hours and 0 days/);
  const days = await q(`SELECT DISTINCT day::VARCHAR AS d FROM ${glob('functions_1d')} ORDER BY 1`);
  expect(days.map((r) => r.d)).toEqual(['2026-11-30 00:00:00', '2026-12-01 00:00:00']);
  for (const [type, from, to] of [
    ['cpu', '2026-11-30T20:00:00Z', '2026-12-01T06:00:00Z'],
    ['heap', '2026-11-30T21:30:00Z', '2026-12-01T03:00:00Z'],
    ['allocs', '2026-11-30T23:00:00Z', '2026-12-01T05:20:00Z'],
  ]) {
    const r = cli(['top', '--data', dir, '--type', type, '--from', from, '--to', to, '--json']);
    expect(r.status).toBe(0);
    const e = await openLocalEngine(dir, {});
    try {
      expect(JSON.parse(r.stdout)).toEqual(JSON.parse(exactJson(await top(e, { kind: type as ProfileKind, fromUs: at(from), toUs: at(to), rollups: false }))));
    } finally {
      e.close();
    }
  }
}, 600_000);

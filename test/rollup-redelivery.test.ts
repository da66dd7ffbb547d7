// The scheduled compaction's rollups (lib/store/compact-due.ts -> rollup-compact.ts, the v2 hook)
// with redeliveries: a profile delivered in two batches of one hour, and once more after its hour
// was compacted (a late copy), is counted once: top over the rollups = top over the raw rows =
// `go tool pprof -top` over the distinct profile files. Also with the hour sharded into units
// (lib/store/compact-hour.ts; unitRows 1: one unit per (service, instance)), the redelivery and the
// late copy landing in a sharded hour.
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { compactDue } from '../lib/store/compact-due';
import { readManifest } from '../lib/store/manifest';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { planWindow } from '../lib/query/plan';
import { windowPartitionFilter } from '../lib/query/window';
import { decodeProfile } from '../lib/decode';
import { diff } from '../lib/query/diff';
import { loadShareSums } from '../lib/query/diff-shares';
import { gcBucketStatsFromRollups } from '../lib/query/gc-rollup';
import { gcTrends } from '../lib/detect/gc-report';
import { parseGctrace } from '../lib/decode/formats/gctrace';
import { goAvailable, pprofTop, warmUpPprof } from './oracle/pprof';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1']; // CPU profiles of one UTC hour
const H = 3_600_000_000;
const DAY = 24 * H;

let instance: DuckDBInstance;
let writer: ParquetWriter;
let dir: string;

const file = (run: string) => path.join(FIXTURES, run, 'cpu.pb.gz');
const input = (run: string) => ({
  bytes: readFileSync(file(run)),
  meta: parseSourceMeta({ service: 'svc-a', instance: run, version: 'v1', source: file(run), sourceId: `test:${run}` }),
});

const gctrace = (run: string) => path.join(FIXTURES, run, 'gctrace.log');
/** The run's gctrace log as one upload starting at startUs (same source id on every delivery: same profile_id). */
const gcInput = (run: string, startUs: number) => ({
  bytes: readFileSync(gctrace(run)),
  meta: parseSourceMeta({ service: 'svc-a', instance: run, version: 'v1', source: gctrace(run), sourceId: `test:gc:${run}`, startUs }),
});

async function batch(store: LocalStore, runs: string[], gc: { run: string; startUs: number }[] = []): Promise<void> {
  const b = new FreshBatch({ store, writer });
  for (const r of runs) {
    const i = input(r);
    b.add(prepareBytes(i.bytes, i.meta).entries);
  }
  for (const g of gc) {
    const i = gcInput(g.run, g.startUs);
    b.add(prepareBytes(i.bytes, i.meta).entries);
  }
  await b.publish();
}

beforeAll(async () => {
  if (goAvailable()) warmUpPprof();
  instance = await openDuckDb();
  writer = await ParquetWriter.create(instance);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-redeliver-'));
}, 300_000);

afterAll(async () => {
  writer?.close();
  instance?.closeSync();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const d = goAvailable() ? test : test.skip;

d.each([
  ['one hour file', undefined],
  ['units of one (service, instance) each', 1],
])('a redelivered profile is rolled up once (%s): top over rollups = top over raw = go tool pprof -top', async (_name, unitRows) => {
  const store = new LocalStore(path.join(dir, String(unitRows)));
  const times = RUNS.map((r) => Number(BigInt(decodeProfile(readFileSync(file(r))).timeNanos) / 1000n));
  const dayUs = Math.floor(Math.min(...times) / DAY) * DAY;
  const dt = new Date(dayUs / 1000).toISOString().slice(0, 10);
  // Batch 1 holds two profiles and a gctrace log; batch 2 redelivers the first profile and the log
  // (same source id: same profile_id, same hour).
  const gcStart = Math.floor(times[0] / H) * H + 59 * 60_000_000; // the log may run over the hour's end
  const gcHours = new Set(parseGctrace(readFileSync(gctrace(RUNS[0]), 'utf8'), { startUs: gcStart }).cycles.map((c) => Math.floor(c.timeUs / H))).size;
  await batch(store, RUNS.slice(0, 2), [{ run: RUNS[0], startUs: gcStart }]);
  await batch(store, [RUNS[0]], [{ run: RUNS[0], startUs: gcStart }]);
  const r1 = await compactDue(store, writer, { nowUs: dayUs + 2 * DAY, unitRows });
  // Sharded: two instances in the first batches -> two hour units per table, published together
  // (the gctrace log: one instance, one unit per hour it touches).
  expect(r1.hours).toBe((unitRows === 1 ? 6 : 3) + gcHours);
  expect(r1.rollups.hours).toBeGreaterThan(0);
  expect(r1.rollups.days).toBe(1);
  // After the hour was compacted and rolled up: a late batch with the first profile once more and
  // a new profile of the same hour. The next run adds an hour file of the new rows only and
  // rebuilds the hour's rollups (replacing the first ones) and the day form.
  await batch(store, [RUNS[0], RUNS[2]]);
  const r2 = await compactDue(store, writer, { nowUs: dayUs + 2 * DAY + H, unitRows });
  expect(r2.hours).toBe(3); // one hour file each for profiles, functions and stacks (no gctrace in the late batch)
  expect(r2.rollups.hours).toBe(1);
  expect(r2.rollups.days).toBe(1);
  const hours = (await readManifest(store, 'profiles_1h', dt)).manifest.live;
  expect(hours.length).toBeGreaterThan(0);
  // One live hour rollup file per hour: the rebuild replaced the first one.
  expect(new Set(hours.map((f) => f.hours.join())).size).toBe(hours.length);

  const q = { kind: 'cpu' as const, sampleType: 'cpu', fromUs: dayUs, toUs: dayUs + DAY };
  const engine = await openEngine(store, windowPartitionFilter(q), [store.root]);
  try {
    const plan = await planWindow(engine, q, 'cpu', 'functions', { totals: true });
    expect(plan?.days).toEqual([[dayUs, dayUs + DAY]]); // the day form answers the whole window
    expect(plan?.totalsDays).toEqual([[dayUs, dayUs + DAY]]); // and its total comes from totals_1d, rebuilt after the late copy
    const viaRollups = await top(engine, q);
    const raw = await top(engine, { ...q, rollups: false });
    expect(viaRollups).toEqual(raw);
    const oracle = pprofTop(RUNS.map(file), { sampleIndex: 'cpu' });
    expect(BigInt(viaRollups.total)).toBe(oracle.total);
    const asMap = (rows: { name: string; flat: unknown; cum: unknown }[]) => new Map(rows.map((x) => [x.name, [BigInt(x.flat as bigint), BigInt(x.cum as bigint)]]));
    expect(asMap(viaRollups.functions)).toEqual(asMap(oracle.rows));
    expect(viaRollups.functions.length).toBeGreaterThan(5);
    // diff (function_shares_1d) and gc (gc_1d) over the same rollups equal the raw rows; the
    // redelivered log counts once.
    const hourUs = Math.floor(times[0] / H) * H;
    const dq = { kind: 'cpu' as const, base: { fromUs: dayUs, toUs: dayUs + DAY }, target: { fromUs: hourUs, toUs: hourUs + H } };
    expect((await loadShareSums(engine, { kind: 'cpu', ...dq.base }, 'cpu')).planned).toBe(true);
    const d1 = await diff(engine, dq);
    expect(d1).toEqual(await diff(engine, { ...dq, rollups: false }));
    expect(d1.base.profiles).toBe(RUNS.length);
    const gq = { fromUs: dayUs, toUs: dayUs + DAY, bucketUs: DAY };
    expect((await engine.rows(`SELECT COUNT(*) AS n FROM gc_1d`))[0].n).toBe(1n);
    expect(await gcBucketStatsFromRollups(engine, gq)).not.toBeNull();
    const g = await gcTrends(engine, gq);
    expect(g).toEqual(await gcTrends(engine, { ...gq, rollups: false }));
    const cycles = parseGctrace(readFileSync(gctrace(RUNS[0]), 'utf8'), { startUs: gcStart }).cycles.length;
    expect(g.buckets.map((b) => b.cycles)).toEqual([cycles]);
  } finally {
    engine.close();
  }
}, 600_000);

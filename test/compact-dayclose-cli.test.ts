// The day close of `fleetprof compact` (a data directory): a day larger than one unit is closed in
// the stack's key-range units, each unit in its own process with its own DuckDB (lib/aws/compact-
// units.ts), so its memory is a unit's, not the day's. FLEETPROF_COMPACT_UNIT_ROWS=1 (one
// (service, instance) pair per unit) makes a small day several units. Readers see every row once
// after every unit, `top` is the same before and after, and a second run changes nothing.
// Needs the build (the units' processes run dist/lib/aws/compact-units.js): npm run -s build.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unitProcesses } from '../lib/aws/compact-units';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { compact, type UnitReport, type WorkRunner } from '../lib/store/compact';
import { KEYS_PREFIX } from '../lib/store/compact-jobs';
import { LocalStore } from '../lib/store/local';
import { readManifest } from '../lib/store/manifest';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { runCompact } from '../bin/commands/compact';
import { S3Store } from '../lib/aws/s3-store';
import { athenaView } from './helpers/athena-view';
import { ingestFixtureFleet } from './helpers/fixture-fleet';
import { lambdaEnv, motoAvailable, motoBucket, startMoto } from './helpers/moto';
import { gctraceLog } from './helpers/gctrace-gen';
import { rowsSeen } from './helpers/rows-seen';

const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const RAW = ['profiles', 'functions', 'stacks', 'gc_cycles'] as const;
// Two instances' gctrace logs over two UTC hours: a day of several hour files per pair.
const GC_START_US = Date.parse('2026-11-21T19:40:00Z') * 1000;
const GC_LOG = Buffer.from(gctraceLog({ cycles: 100, periodS: 30 }));
const NOW_US = Date.parse('2030-01-01T00:00:00Z') * 1000;

const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** A data directory: three instances' CPU profiles (one batch each) and two gctrace logs (one more batch). */
async function fleetDir(): Promise<LocalStore> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-dayclose-cli-'));
  dirs.push(dir);
  const store = new LocalStore(dir);
  await ingestFleet(store);
  return store;
}

/** `cpu` false: the gctrace logs only (gc_cycles: two instances over two hours). */
async function ingestFleet(store: LocalStore | S3Store, cpu = true): Promise<void> {
  await ingestFixtureFleet(store, { runs: cpu ? RUNS : [], kinds: ['cpu'], gcLog: GC_LOG, gcStartUs: GC_START_US });
}

/** What a user sees: CPU top fleet-wide and of one service, and every raw table's rows (count and an order-free hash). */
async function seen(store: LocalStore): Promise<unknown> {
  const engine = await openEngine(store, {}, [store.root]);
  try {
    const tops = [await top(engine, { kind: 'cpu', aggregate: 'sum' }), await top(engine, { kind: 'cpu', aggregate: 'sum', service: 'svc-a' })];
    return { tops, rows: await rowsSeen(store, [store.root], RAW) };
  } finally {
    engine.close();
  }
}

/** Per raw table and dt, the live files' names without their hashes (`h19`, `day-u0of2`, ...). */
async function liveShapes(store: LocalStore): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of RAW) {
    const dts = [...new Set((await store.list(`${t}/`)).map((o) => /dt=(\d{4}-\d{2}-\d{2})/.exec(o.key)?.[1]).filter((d): d is string => d !== undefined))];
    for (const dt of dts.sort()) out[`${t}/${dt}`] = (await readManifest(store, t, dt)).manifest.live.map((f) => f.name.replace(/^(day|h\d\d)-[0-9a-f]+(-u\d+of\d+)?\.parquet$/, '$1$2')).sort();
  }
  return out;
}

test('fleetprof compact --data closes a day of several units, each in its own process: every row once, the same top, a re-run changes nothing', async () => {
  const store = await fleetDir();
  const truth = await seen(store);
  const saved = process.env.FLEETPROF_COMPACT_UNIT_ROWS;
  process.env.FLEETPROF_COMPACT_UNIT_ROWS = '1';
  try {
    expect(await runCompact({ data: store.root, now: NOW_US, jobs: 2 })).toBe(0);
    const shapes = await liveShapes(store);
    // Every raw table's days are day files, one per pair (the CPU day: 3 instances; the gc day: 2).
    for (const [k, names] of Object.entries(shapes)) {
      expect(names.every((n) => /^day-u\d+of\d+$/.test(n))).toBe(true);
      expect(names.length).toBe(k.startsWith('gc_cycles/') ? 2 : 3);
    }
    expect(await seen(store)).toEqual(truth);
    const athena = await athenaView(store, RAW);
    expect(athena.dupes).toBe(0);
    expect(athena.rows).toEqual(Object.fromEntries(RAW.map((t) => [t, Number((truth as { rows: Record<string, string> }).rows[t].split(':')[0])])));
    expect(await store.list('_compaction/')).toEqual([]);
    // Nothing pending: the day files' rollup marks are cleared.
    for (const t of RAW) for (const dt of Object.keys(shapes).filter((k) => k.startsWith(`${t}/`)).map((k) => k.slice(t.length + 1))) expect((await readManifest(store, t, dt)).manifest.live.some((f) => f.rollup)).toBe(false);

    // A second run (after the grace: the hour files are deleted) plans nothing and changes no answer.
    expect(await runCompact({ data: store.root, now: NOW_US + 3600e6, jobs: 2 })).toBe(0);
    expect(await liveShapes(store)).toEqual(shapes);
    expect(await seen(store)).toEqual(truth);
    expect((await store.list('stacks/')).filter((o) => /\/h\d\d-/.test(o.key))).toEqual([]);
    expect((await store.list(KEYS_PREFIX)).filter((o) => /\/h\d\d-/.test(o.key))).toEqual([]);
  } finally {
    if (saved === undefined) delete process.env.FLEETPROF_COMPACT_UNIT_ROWS;
    else process.env.FLEETPROF_COMPACT_UNIT_ROWS = saved;
  }
}, 300_000);

test('each day unit runs in a process of its own; readers see every row once after each unit and after a redelivered one', async () => {
  const store = await fleetDir();
  const truth = await seen(store);
  const db = await openDuckDb();
  const writer = await ParquetWriter.create(db);
  try {
    // The hours first, in this process (one pair per unit); without a runner the day stays as hour files.
    await compact(store, writer, { closedBefore: Infinity, now: NOW_US / 1000, unitRows: 1 });
    expect(Object.values(await liveShapes(store)).every((names) => names.every((n) => /^h\d\d-u\d+of\d+$/.test(n)))).toBe(true);
    const athena0 = await athenaView(store, RAW);
    expect(athena0.dupes).toBe(0);

    const inner = unitProcesses({ store: { kind: 'local', root: store.root }, jobs: 1, nowUs: NOW_US, unitRows: 1 });
    const ran: UnitReport[] = [];
    let redelivered = false;
    const checking: WorkRunner = {
      jobs: 1,
      run: async (msg) => {
        const o = await inner.run(msg);
        expect(await seen(store)).toEqual(truth);
        expect(await athenaView(store, RAW)).toEqual(athena0);
        if (!redelivered) {
          // The same message again (a redelivery): nothing written, nothing changes.
          redelivered = true;
          const again = await inner.run(msg);
          expect(again.units).toEqual([]);
          expect(again.result.days).toBe(0);
          expect(await seen(store)).toEqual(truth);
        }
        return o;
      },
    };
    // Two tables' days (a child per unit costs ~1 s to start): stacks (3 instances) and gc_cycles (2).
    const r = await compact(store, writer, { closedBefore: Infinity, now: NOW_US / 1000, unitRows: 1, tables: ['stacks', 'gc_cycles'], apart: checking, onUnit: (u) => ran.push(u) });
    expect(r.days).toBe(2);
    expect(redelivered).toBe(true);
    const dayUnits = ran.filter((u) => u.hour === -1);
    expect(dayUnits.length).toBe(3 + 2);
    // Each ran apart: its own process's peak and CPU, reported with it.
    expect(dayUnits.every((u) => (u.peakMb ?? 0) > 0 && (u.cpuMs ?? 0) > 0)).toBe(true);
    const shapes = await liveShapes(store);
    for (const [k, names] of Object.entries(shapes)) expect(names.every((n) => /^day-u\d+of\d+$/.test(n))).toBe(k.startsWith('stacks/') || k.startsWith('gc_cycles/'));
    expect(await seen(store)).toEqual(truth);
    expect(await athenaView(store, RAW)).toEqual(athena0);
  } finally {
    writer.close();
    db.closeSync();
  }
}, 300_000);

test('the hours too: each unit of an hour of several units runs in a process of its own, every row once after each', async () => {
  const store = await fleetDir();
  const truth = await rowsSeen(store, [store.root], ['gc_cycles']);
  const db = await openDuckDb();
  const writer = await ParquetWriter.create(db);
  try {
    const inner = unitProcesses({ store: { kind: 'local', root: store.root }, jobs: 2, nowUs: NOW_US, unitRows: 1 });
    const apart: string[] = [];
    const checking: WorkRunner = {
      jobs: 2,
      run: async (msg) => {
        apart.push(msg.kind === 'unit' ? msg.job.replace(/^.*\/(h\d\d|day)-.*$/, '$1') : msg.kind);
        const o = await inner.run(msg);
        expect(await rowsSeen(store, [store.root], ['gc_cycles'])).toEqual(truth);
        return o;
      },
    };
    const ran: UnitReport[] = [];
    // gc_cycles: two instances over two hours, one pair per unit: two hour jobs of 2 units, a day of 2.
    const r = await compact(store, writer, { closedBefore: Infinity, now: NOW_US / 1000, unitRows: 1, tables: ['gc_cycles'], apart: checking, onUnit: (u) => ran.push(u) });
    expect(r.hours).toBe(4); // hour files written: 2 units x 2 hours
    expect(r.days).toBe(1);
    expect(apart.sort()).toEqual(['day', 'day', 'h19', 'h19', 'h20', 'h20']);
    // Every unit, hour and day, reported from its own process (its peak and CPU).
    expect(ran.length).toBe(6);
    expect(ran.every((u) => (u.peakMb ?? 0) > 0 && (u.cpuMs ?? 0) > 0)).toBe(true);
    expect(await rowsSeen(store, [store.root], ['gc_cycles'])).toEqual(truth);
    expect((await athenaView(store, ['gc_cycles'])).dupes).toBe(0);
  } finally {
    writer.close();
    db.closeSync();
  }
}, 300_000);

const d = motoAvailable() ? describe : describe.skip;
d('the bucket (moto)', () => {
  test('fleetprof compact --bucket closes the day in units, each child process opening the same bucket: every row once', async () => {
    const saved = { ...process.env };
    const moto = await startMoto();
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-dayclose-cli-s3-'));
    dirs.push(tmp);
    const bucket = 'fleetprof-dayclose-cli';
    try {
      Object.assign(process.env, { ...lambdaEnv(moto, { region: 'us-east-1', bucket, cacheDir: path.join(tmp, 'cache') }), FLEETPROF_COMPACT_UNIT_ROWS: '1' });
      const s3 = await motoBucket(moto, 'us-east-1', bucket);
      const store = new S3Store({ client: s3, bucket, prefix: 'tables/', cacheDir: path.join(tmp, 'test-cache'), scratchDir: path.join(tmp, 'scratch') });
      // gc_cycles only: every request of every process goes through moto, a CPU day would take minutes.
      await ingestFleet(store, false);
      const truth = await rowsSeen(store, [store.cacheDir], ['gc_cycles']);
      expect(await runCompact({ bucket, now: NOW_US, jobs: 2 })).toBe(0);
      expect((await readManifest(store, 'gc_cycles', '2026-11-21')).manifest.live.map((f) => f.name.replace(/^day-[0-9a-f]+-(u\d+of\d+)\.parquet$/, 'day-$1')).sort()).toEqual(['day-u0of2', 'day-u1of2']);
      expect(await rowsSeen(store, [store.cacheDir], ['gc_cycles'])).toEqual(truth);
      expect((await athenaView(store, ['gc_cycles'])).dupes).toBe(0);
      s3.destroy();
    } finally {
      await moto.stop();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }, 300_000);
});

// The day close of a day larger than one unit, fanned out over the work queue, against moto (S3,
// SQS), through the real handlers: the planner (lambdas/compact.ts) plans each raw table's closed
// day as units of (service, instance) runs, each naming only the hour files that hold its pairs
// (from the files' key counts); the worker (lambdas/compact-worker.ts) runs them in shuffled
// order, one unit delivered twice and a job's last unit to two workers at once (two concurrent
// finalizers). Every row of every raw table is seen exactly once by DuckDB after every delivery,
// Athena's symlinks never name a row twice, and the day ends as day files holding the same rows.
import type { CompactEvent, PlannerResult } from '../lib/aws/compact-job';
import { S3Store } from '../lib/aws/s3-store';
import { KEYS_PREFIX, parseWorkMessage, readJob, type UnitJob } from '../lib/store/compact-jobs';
import { readManifest } from '../lib/store/manifest';
import { openDuckDb } from '../lib/store/parquet';
import { gctraceLog } from './helpers/gctrace-gen';
import { deliver, drain, receiveAll, sqsRecord, type WorkerHandler, type WorkQueue } from './helpers/compact-queue';
import { athenaView } from './helpers/athena-view';
import { ingestFixtureFleet } from './helpers/fixture-fleet';
import { startCompactStack, type CompactStack } from './helpers/compact-stack';
import { motoAvailable } from './helpers/moto';
import { rowsSeen } from './helpers/rows-seen';
import { shuffled } from './helpers/shuffle';

const BUCKET = 'fleetprof-dayclose';
const REGION = 'us-east-1';
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2'];
const KINDS = ['cpu'] as const;
const RAW = ['profiles', 'functions', 'stacks', 'gc_cycles'] as const;
// Two instances' gctrace logs over two UTC hours of the profiles' day: a day of several hour files per pair.
const GC_START_US = Date.parse('2026-11-21T19:40:00Z') * 1000;
const GC_LOG = Buffer.from(gctraceLog({ cycles: 100, periodS: 30 }));

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('compact-dayclose skipped: moto_server is not on PATH (pip install "moto[server]")');

d('the day close in key-range units over the work queue (moto)', () => {
  let stack: CompactStack;
  let store: S3Store;
  let queue: WorkQueue;
  let planner: (e: CompactEvent) => Promise<PlannerResult>;
  let worker: WorkerHandler;

  /** Athena's view: the files the symlink manifests name; no (profile, hour) of a table in two of them, and its row count. */
  const athena = () => athenaView(store, RAW);

  beforeAll(async () => {
    stack = await startCompactStack({
      bucket: BUCKET,
      region: REGION,
      name: 'dayclose',
      // One (service, instance) pair per unit: every hour and every day of several instances is several units.
      env: { FLEETPROF_COMPACT_UNIT_ROWS: '1' },
    });
    ({ store, queue, planner, worker } = stack);
    // Each run's profiles in a batch of its own; the two gctrace logs in one more.
    await ingestFixtureFleet(store, { runs: RUNS, kinds: KINDS, gcLog: GC_LOG, gcStartUs: GC_START_US });
    // The hours, compacted through the queue (test/compact-fanout.test.ts checks that step).
    await planner({ scheduledTime: '2030-01-01T00:00:00Z', attempt: '1' });
    await drain(queue, worker);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  test('day units in shuffled order, a redelivered unit, two concurrent finalizers: exactly once at every step; each unit names only its pairs\' files', async () => {
    const dirs = [store.cacheDir];
    const truth = await rowsSeen(store, dirs, RAW);
    const seen0 = await athena();
    expect(seen0.dupes).toBe(0);
    // Hour files now: one per pair and hour (gc_cycles: 2 pairs x 2 hours).
    const gcDt = '2026-11-21';
    const gcHours = (await readManifest(store, 'gc_cycles', gcDt)).manifest.live;
    expect(gcHours.map((f) => f.name.slice(0, 3)).sort()).toEqual(['h19', 'h19', 'h20', 'h20']);

    const planned = await planner({ scheduledTime: '2030-01-01T01:00:00Z', attempt: '1' });
    const messages = await receiveAll(queue);
    expect(messages).toHaveLength(planned.sent);
    const work = messages.map((m) => ({ m, w: parseWorkMessage(m.Body!) }));
    expect(work.every(({ w }) => w.kind === 'unit' && /\/day-/.test(w.job))).toBe(true);
    const jobKeys = [...new Set(work.map(({ w }) => (w as { job: string }).job))];
    const jobs = new Map<string, UnitJob>();
    for (const k of jobKeys) jobs.set(k, (await readJob(store, k))!);
    // Every raw table's day: one unit per pair, each reading the files of its pair only.
    for (const t of RAW) expect([...jobs.values()].some((j) => j.table === t && j.units.length > 1)).toBe(true);
    const gcJob = [...jobs.values()].find((j) => j.table === 'gc_cycles' && j.dt === gcDt)!;
    expect(gcJob.units.map((u) => u.pairs)).toEqual([[['svc-a', 'gc1']], [['svc-a', 'gc2']]]);
    expect(gcJob.unitInputs!.map((x) => x.length)).toEqual([2, 2]);
    for (const j of jobs.values()) {
      expect(j.unitInputs).toHaveLength(j.units.length);
      // Inputs of different units are disjoint here (one pair per hour file), and together all of the day's files.
      const all = j.unitInputs!.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.sort((a, b) => a - b)).toEqual(j.inputs.map((_, i) => i));
    }
    // Nothing changes for readers before a job's last unit.
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);

    const held = work.find(({ w }) => w.kind === 'unit' && w.job === jobKeys.find((k) => jobs.get(k)!.units.length > 1))!.m;
    let redelivered = false;
    for (const { m } of shuffled(work.filter((x) => x.m !== held), 7)) {
      expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
      if (!redelivered) {
        redelivered = true;
        expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: 'again' }] })).batchItemFailures).toEqual([]);
      }
      expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
      expect(await athena()).toEqual(seen0);
    }
    const [a, b] = await Promise.all([worker({ Records: [sqsRecord(queue, held)] }), worker({ Records: [{ ...sqsRecord(queue, held), messageId: 'twin' }] })]);
    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    await deliver(queue, worker, held).catch(() => undefined);
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
    expect(await athena()).toEqual(seen0);
    // Whatever the finalizers sent (the day files' rollup marks).
    await drain(queue, worker);
    expect(await store.list('_compaction/')).toEqual([]);
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
    expect(await athena()).toEqual(seen0);

    // Every raw table's days are day files now, one per pair, each holding only its pairs' rows.
    const db = await openDuckDb();
    const conn = await db.connect();
    try {
      for (const j of jobs.values()) {
        const { manifest } = await readManifest(store, j.table, j.dt);
        expect(manifest.live.map((f) => f.name)).toEqual(j.names);
        expect(manifest.live.every((f) => f.rollup === undefined)).toBe(true);
        for (const [i, n] of j.names.entries()) {
          const key = `${j.table}/dt=${j.dt}/${n}`;
          const file = await store.localPath((await store.list(key)).find((o) => o.key === key)!);
          const got = (await conn.runAndReadAll(`SELECT COALESCE(service, ''), COALESCE(instance, ''), count(*)::INTEGER FROM read_parquet('${file}') GROUP BY ALL ORDER BY ALL`)).getRows();
          expect(got).toEqual(j.units[i].pairs.map((p, k) => [p[0], p[1], j.units[i].counts![k]]));
        }
        // The hour files and their key counts are retired together.
        expect(manifest.retired.map((r) => r.key)).toEqual(expect.arrayContaining(j.inputs.map((n) => `${j.table}/dt=${j.dt}/${n}`)));
        expect(manifest.retired.some((r) => r.key.startsWith(`${KEYS_PREFIX}${j.table}/dt=${j.dt}/h`))).toBe(true);
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    // The next run plans nothing for closed days.
    const again = await planner({ scheduledTime: '2030-01-01T02:00:00Z', attempt: '1' });
    expect((await receiveAll(queue)).map((m) => parseWorkMessage(m.Body!)).filter((w) => w.kind === 'unit')).toEqual([]);
    expect(again.sent).toBe(0);
  }, 300_000);
});

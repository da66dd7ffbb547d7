// Compaction in the cloud against moto (S3, SQS): the real planner handler (lambdas/compact.ts)
// invoked with the event EventBridge Scheduler sends (the stack's target input with the context
// attributes filled in), its work queue drained through the real worker handler
// (lambdas/compact-worker.ts) as the event source mapping would, then `fleetprof compact --bucket`
// (the same code in one process from the CLI). Answers are the same before and after, the number
// of Parquet objects goes down, a retried attempt is a no-op, data newer than the scheduled time
// is left alone, and a bad event fails with its field named.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CompactEvent, PlannerResult } from '../lib/aws/compact-job';
import { COMPACT_FUNCTION } from '../lib/aws/resources';
import { S3Store } from '../lib/aws/s3-store';
import { ingestProfileBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { drain, type WorkerHandler, type WorkQueue } from './helpers/compact-queue';
import { startCompactStack, type CompactStack } from './helpers/compact-stack';
import { countParquetObjects, motoAvailable } from './helpers/moto';

const BUCKET = 'fleetprof-compact';
const REGION = 'us-east-1';
const FIXTURES = path.join(__dirname, 'fixtures/go');
const CLI = path.join(__dirname, '..', 'dist/bin/fleetprof.js');
const KINDS = ['cpu', 'heap', 'mutex'] as const;
const runStart = (run: string): number => {
  const m = JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as { runs: { run: string; startTime: string }[] };
  return Date.parse(m.runs.find((r) => r.run === run)!.startTime);
};

/** What EventBridge Scheduler delivers: the schedule's input with its context attributes replaced. */
function schedulerEvent(scheduledTime: string, attempt: number): CompactEvent {
  const text = JSON.stringify(COMPACT_FUNCTION.scheduleInput)
    .replace('<aws.scheduler.scheduled-time>', scheduledTime)
    .replace('<aws.scheduler.attempt-number>', String(attempt));
  return JSON.parse(text) as CompactEvent;
}

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('compact-lambda skipped: moto_server is not on PATH (pip install "moto[server]")');

d('scheduled compaction against moto', () => {
  let stack: CompactStack;
  let tmp: string;
  let s3: S3Client;
  let store: S3Store;
  let planner: (e: CompactEvent | undefined) => Promise<PlannerResult>;
  let worker: WorkerHandler;
  let queue: WorkQueue;
  /** A scheduled run: the planner, then its work queue drained by workers. */
  const handler = async (e: CompactEvent | undefined) => {
    const planned = await planner(e);
    const delivered = await drain(queue, worker);
    return { ...planned, delivered };
  };
  // The fixture runs are on one UTC day; the scheduled time is the next day's first run.
  const day = new Date(runStart('svc-a-v1-i1')).toISOString().slice(0, 10);
  const nextDay = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
  const scheduled = `${nextDay}T00:07:00Z`;

  async function ingest(run: string): Promise<void> {
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    try {
      for (const kind of KINDS) {
        const file = path.join(FIXTURES, run, `${kind}.pb.gz`);
        const meta = parseSourceMeta({ service: 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file, sourceId: `fixtures/${run}/${kind}` });
        await ingestProfileBytes(readFileSync(file), meta, { store, writer });
      }
    } finally {
      writer.close();
      instance.closeSync();
    }
  }

  /** Every kind's exact top and the row counts, through the query path over the bucket. */
  async function answers(): Promise<unknown> {
    const engine = await openEngine(store, {}, [store.cacheDir]);
    try {
      const tops = [];
      for (const kind of KINDS) tops.push(await top(engine, { kind }));
      const counts = await engine.rows('SELECT (SELECT count(*) FROM profiles) p, (SELECT count(*) FROM functions) f, (SELECT count(*) FROM stacks) s');
      return { tops, counts };
    } finally {
      engine.close();
    }
  }

  const parquetObjects = () => countParquetObjects(s3, BUCKET);

  beforeAll(async () => {
    stack = await startCompactStack({ bucket: BUCKET, region: REGION, name: 'compact-lambda' });
    ({ tmp, s3, store, queue, planner, worker } = stack);
    await ingest('svc-a-v1-i1');
    await ingest('svc-a-v1-i2');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  test('a run scheduled before the data was captured compacts nothing', async () => {
    const before = await parquetObjects();
    const r = await handler(schedulerEvent(`${day}T00:07:00Z`, 1));
    expect(r).toMatchObject({ hours: 0, days: 0, filesMerged: 0, sent: 0, delivered: 0, now: `${day}T00:07:00.000Z` });
    expect(await parquetObjects()).toBe(before);
  }, 120_000);

  test('the scheduled run merges the closed data: fewer objects, the same exact answers; a retry is a no-op', async () => {
    const truth = await answers();
    const objects = await parquetObjects();
    const r = await handler(schedulerEvent(scheduled, 1));
    expect(r.now).toBe(`${nextDay}T00:07:00.000Z`);
    // The planner plans and sends; the workers write and publish.
    expect(r).toMatchObject({ hours: 0, filesMerged: 0 });
    expect(r.sent).toBeGreaterThan(0);
    expect(r.delivered).toBeGreaterThan(r.sent); // a dt's rollups are sent by the worker that finalized its last job
    expect(await answers()).toEqual(truth);
    // Replaced files wait out the grace period (a query may still read them)...
    const after = await parquetObjects();

    // The scheduler's second attempt of the same run (or an overlapping hand run): nothing left to do.
    const again = await handler(schedulerEvent(scheduled, 2));
    expect(again).toMatchObject({ hours: 0, days: 0, filesMerged: 0, sent: 0, delivered: 0 });
    expect(await parquetObjects()).toBe(after);
    expect(await answers()).toEqual(truth);
    // ...and a later run deletes them: fewer objects than before compaction. (The workers retire
    // what they replace at their own clock, the real time here: the later run is a grace after it.)
    await handler(schedulerEvent(new Date(Date.now() + 3_600_000).toISOString(), 1));
    expect(await parquetObjects()).toBeLessThan(objects);
    expect(await answers()).toEqual(truth);
  }, 180_000);

  test('fleetprof compact --bucket runs the same job from the CLI', async () => {
    await ingest('svc-a-v2-i1');
    const truth = await answers();
    const objects = await parquetObjects();
    const env = { ...process.env };
    delete env.FLEETPROF_DATA;
    delete env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
    const r = spawnSync(process.execPath, [CLI, 'compact', '--bucket', BUCKET, '--now', scheduled], { env, encoding: 'utf8' });
    expect(r.stderr).toMatch(/^compacted [1-9]\d* hour and \d+ day files: \d+ files merged/m);
    expect(r.status).toBe(0);
    const later = spawnSync(process.execPath, [CLI, 'compact', '--bucket', BUCKET, '--now', `${nextDay}T02:07:00Z`], { env, encoding: 'utf8' });
    expect(later.status).toBe(0);
    expect(await parquetObjects()).toBeLessThan(objects);
    expect(await answers()).toEqual(truth);
    const both = spawnSync(process.execPath, [CLI, 'compact', '--bucket', BUCKET, '--data', tmp], { env, encoding: 'utf8' });
    expect(both.status).toBe(1);
    expect(both.stderr).toMatch(/exactly one of --data DIR and --bucket NAME/);
  }, 180_000);

  test('an event whose scheduledTime is not a time fails, naming the field', async () => {
    await expect(handler({ scheduledTime: 'yesterday-ish' })).rejects.toThrow(/event\.scheduledTime/);
  });
});

// The merge tier in the cloud against moto (S3): the real merger handler (lambdas/merge.ts) invoked
// with the event EventBridge Scheduler sends (the stack's target input with its context attributes
// filled in), over fresh batch files ingest's publish path wrote to the bucket. After a run every
// row of every raw table is seen exactly once (the readers' views over the bucket, and `top`), the
// settled batches are one file per table and the last minute's batch is still raw; the scheduler's
// second attempt of the same minute does nothing; a later run deletes the merged inputs after the
// grace. A corrupt batch file is quarantined (copied to quarantine/ with a reason naming it, then
// skipped by every reader), and its batch's other files and the hour's other batches merge.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CompactEvent, MergeJobResult } from '../lib/aws/compact-job';
import { MERGE_FUNCTION } from '../lib/aws/resources';
import { S3Store } from '../lib/aws/s3-store';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { openEngine } from '../lib/query/open';
import { top } from '../lib/query/top';
import { HOUR_US, parseKey } from '../lib/store/layout';
import { readManifest } from '../lib/store/manifest';
import { isMergeBatch } from '../lib/store/merge';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { countParquetObjects, motoAvailable, motoSandbox, type MotoSandbox } from './helpers/moto';
import { rowsSeen } from './helpers/rows-seen';

const BUCKET = 'fleetprof-merge';
const REGION = 'us-east-1';
const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap'];
const RAW = ['profiles', 'functions', 'stacks'] as const;
const MINUTE_MS = 60_000;

/** What EventBridge Scheduler delivers: the schedule's input with its context attributes replaced. */
function schedulerEvent(scheduledMs: number, attempt: number): CompactEvent {
  const text = JSON.stringify(MERGE_FUNCTION.scheduleInput)
    .replace('<aws.scheduler.scheduled-time>', new Date(scheduledMs).toISOString().replace('.000Z', 'Z'))
    .replace('<aws.scheduler.attempt-number>', String(attempt));
  return JSON.parse(text) as CompactEvent;
}

/** An ingest batch id (lib/store/layout.ts newBatchId) as of `ms`: the fixtures' hour, not the test's wall clock. */
const batchId = (ms: number, n: number) => `b${ms.toString(36).padStart(9, '0')}${n.toString(16).padStart(12, '0')}`;

// Each test runs the merger Lambda's handler several times against moto (~16 s alone at load 14);
// beside the rest of the suite on a loaded 2-core machine one went over the default 60 s (CI at
// abb2fc0). A timeout is a hang guard, not a speed assertion.
jest.setTimeout(240_000);

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('merge-lambda skipped: moto_server is not on PATH (pip install "moto[server]")');

d('the scheduled merger against moto', () => {
  let sandbox: MotoSandbox;
  let tmp: string;
  let s3: S3Client;
  let store: S3Store;
  let handler: (e: CompactEvent | undefined) => Promise<MergeJobResult>;
  let hourMs = 0;

  /** One ingest batch (one file per table) of `runs`' profiles under an explicit batch id; `copy` makes new profiles, none a redelivery. */
  async function batch(id: string, runs: readonly string[], kinds = KINDS, copy = ''): Promise<string[]> {
    const db = await openDuckDb();
    const writer = await ParquetWriter.create(db);
    try {
      const b = new FreshBatch({ store, writer });
      for (const r of runs)
        for (const k of kinds) {
          const f = path.join(FIXTURES, r, `${k}.pb.gz`);
          b.add(prepareBytes(readFileSync(f), parseSourceMeta({ service: r.includes('i2') ? 'svc-b' : 'svc-a', instance: r, version: r.includes('v2') ? 'v2' : 'v1', source: f, sourceId: `test:${r}:${k}${copy}` })).entries);
        }
      return await b.publish(id);
    } finally {
      writer.close();
      db.closeSync();
    }
  }

  const seen = (tables: readonly string[] = RAW) => rowsSeen(store, [store.cacheDir], tables);

  async function cpuTop(): Promise<string> {
    const fromUs = hourMs * 1000;
    const engine = await openEngine(store, { fromUs, toUs: fromUs + HOUR_US }, [store.cacheDir]);
    try {
      return JSON.stringify(await top(engine, { kind: 'cpu', fromUs, toUs: fromUs + HOUR_US }));
    } finally {
      engine.close();
    }
  }

  /** A table's fresh files the readers take (not listed as merged in the manifest), by kind of batch. */
  async function live(table: string): Promise<{ raw: string[]; merged: number }> {
    const out = { raw: [] as string[], merged: 0 };
    for (const o of await store.list(`fresh/${table}/`)) {
      const k = parseKey(o.key);
      if (!k || k.tier !== 'fresh') continue;
      if ((await readManifest(store, table, k.dt)).manifest.merged.includes(o.key)) continue;
      if (isMergeBatch(k.name.split('.')[0])) out.merged++;
      else out.raw.push(k.name.split('.')[0]);
    }
    return out;
  }

  const objects = () => countParquetObjects(s3, BUCKET);

  beforeAll(async () => {
    // DuckDB gets the merger's share of memory and threads (lib/aws/runtime.ts).
    sandbox = await motoSandbox({ bucket: BUCKET, region: REGION, tmpPrefix: 'fleetprof-merge-lambda-', env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MERGE_FUNCTION.memoryMb) } });
    ({ s3, tmp } = sandbox);
    store = new S3Store({ client: s3, bucket: BUCKET, prefix: 'tables/', cacheDir: path.join(tmp, 'test-cache'), scratchDir: path.join(tmp, 'scratch') });
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true); // Powertools JSON logs
    handler = (await import('../lambdas/merge')).handler;
  }, 60_000);

  afterAll(async () => {
    jest.restoreAllMocks();
    await sandbox?.close();
  });

  test("a scheduled run merges the hour's settled batches once: every row seen once, the last minute raw; its retry does nothing; a later run deletes the inputs", async () => {
    // The fixtures' hour, found from a first batch published under a placeholder id, then re-published as the hour's minute 1.
    const keys = await batch(batchId(0, 0), [RUNS[0]]);
    const k = parseKey(keys.find((x) => x.startsWith('fresh/profiles/'))!)!;
    if (k.tier !== 'fresh') throw new Error('expected a fresh key');
    hourMs = Date.parse(`${k.dt}T${String(k.hour).padStart(2, '0')}:00:00Z`);
    for (const x of keys) await store.delete(x);
    await batch(batchId(hourMs + 1 * MINUTE_MS, 1), [RUNS[0]]);
    await batch(batchId(hourMs + 2 * MINUTE_MS, 2), [RUNS[1]]);
    await batch(batchId(hourMs + 3 * MINUTE_MS, 3), [RUNS[2]]);
    await batch(batchId(hourMs + 4 * MINUTE_MS, 4), [RUNS[0]], ['cpu']); // a redelivery of minute 1's CPU profile
    const scheduled = hourMs + 30 * MINUTE_MS;
    const last = batchId(scheduled - 30_000, 5); // published within the minute before the run: not settled
    await batch(last, [RUNS[1]], ['cpu'], ':late');
    const truth = await seen();
    const top0 = await cpuTop();

    const r = await handler(schedulerEvent(scheduled, 1));
    expect(r).toMatchObject({ now: new Date(scheduled).toISOString(), merges: RAW.length, abandoned: 0, refused: [] });
    expect(r.filesMerged).toBe(4 * RAW.length);
    expect(r.rowsOut).toBeLessThan(r.rowsIn); // the redelivered profile's rows once
    expect(await seen()).toEqual(truth);
    expect(await cpuTop()).toEqual(top0);
    for (const t of RAW) expect(await live(t)).toEqual({ raw: [last], merged: 1 });
    // The merger's download cache keeps none of the inputs it merged (its /tmp is 2 GB).
    const cached = readdirSync(path.join(tmp, 'cache'), { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('/fresh/') && f.endsWith('.parquet'));
    expect(cached).toEqual([]);

    // The scheduler's second attempt of the same minute: nothing left to merge, nothing written.
    const before = await objects();
    const again = await handler(schedulerEvent(scheduled, 2));
    expect(again).toMatchObject({ merges: 0, filesMerged: 0, deleted: 0, refused: [] });
    expect(await objects()).toBe(before);
    expect(await seen()).toEqual(truth);

    // 16 minutes later (past the grace): the merged inputs are deleted; the late batch alone is not worth a merge.
    const later = await handler(schedulerEvent(scheduled + 16 * MINUTE_MS, 1));
    expect(later).toMatchObject({ merges: 0, deleted: 4 * RAW.length });
    expect(await objects()).toBe(before - 4 * RAW.length);
    expect(await seen()).toEqual(truth);
    expect(await cpuTop()).toEqual(top0);
  }, 60_000);

  test('a corrupt batch file is quarantined with a reason naming it; readers skip it at once, the rest of its batch and the hour merge; the next run finds nothing to refuse', async () => {
    const scheduled = hourMs + 50 * MINUTE_MS;
    await batch(batchId(hourMs + 40 * MINUTE_MS, 6), [RUNS[0]], ['cpu'], ':b6');
    const bad = batchId(hourMs + 41 * MINUTE_MS, 7);
    const badKeys = await batch(bad, [RUNS[2]], ['cpu'], ':b7');
    await batch(batchId(hourMs + 42 * MINUTE_MS, 8), [RUNS[1]], ['cpu'], ':b8');
    // What counts without the bad batch's stacks file, then that file replaced by a torn upload.
    const stacksKey = badKeys.find((x) => x.startsWith('fresh/stacks/'))!;
    const bytes = readFileSync(await store.localPath((await store.list(stacksKey))[0]));
    await store.delete(stacksKey);
    const truth = await seen();
    const torn = bytes.subarray(0, Math.floor(bytes.length / 2));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `tables/${stacksKey}`, Body: torn }));
    expect(await seen(['profiles', 'functions'])).toEqual({ profiles: truth.profiles, functions: truth.functions });
    await expect(seen()).rejects.toThrow(); // the torn file fails every reader of its table until it is moved aside

    const r = await handler(schedulerEvent(scheduled, 1));
    expect(r.refused).toHaveLength(1);
    expect(r.quarantined).toBe(1);
    const { key, reason } = r.refused[0];
    expect(key).toBe(stacksKey);
    expect(reason.startsWith(`${stacksKey}: not a readable Parquet file (`)).toBe(true);
    expect(reason.slice(stacksKey.length)).toMatch(/parquet|magic|corrupt|invalid/i);
    // No DuckDB error type or SQL, no local path (the merger's cache or scratch).
    expect(reason).not.toMatch(/Error:|SELECT|read_parquet|\/tmp\/|fleetprof-cache/);
    expect(reason).not.toContain(tmp);
    // Moved aside: the bytes as they were, and the reason next to them (ingest's quarantine layout).
    const copy = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/tables/${stacksKey}` }));
    expect(Buffer.from(await copy.Body!.transformToByteArray())).toEqual(torn);
    const record = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/tables/${stacksKey}.reason.json` }))).Body!.transformToString());
    expect(record).toMatchObject({ bucket: BUCKET, key: `tables/${stacksKey}`, code: 'unreadable', reason });
    // Skipped by everyone at once (listed as merged, deleted after the grace); the late batch of the
    // first test, batches 6 and 8, and batch 7's readable files merged: nothing raw is left.
    expect((await readManifest(store, 'stacks', parseKey(stacksKey)!.dt)).manifest.merged).toContain(stacksKey);
    expect(r).toMatchObject({ merges: RAW.length, filesMerged: 4 * RAW.length - 1 });
    for (const t of RAW) expect((await live(t)).raw).toEqual([]);
    expect(await seen()).toEqual(truth);

    // The next minute: nothing to refuse, nothing to merge; past the grace the torn file is deleted.
    expect(await handler(schedulerEvent(scheduled + MINUTE_MS, 1))).toMatchObject({ merges: 0, refused: [], quarantined: 0 });
    await handler(schedulerEvent(scheduled + 16 * MINUTE_MS, 1));
    expect(await store.list(stacksKey)).toEqual([]);
    expect(await seen()).toEqual(truth);
  }, 60_000);
});

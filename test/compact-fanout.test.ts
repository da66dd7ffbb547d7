// Compaction fanned out across invocations, against moto (S3, SQS), through the real handlers: the
// planner (lambdas/compact.ts, the scheduler's event) sends one message per unit; the worker
// (lambdas/compact-worker.ts, the event source mapping's SQS records) runs them here in shuffled
// order, one unit message delivered twice, and a job's last unit delivered to two workers at once
// (two concurrent finalizers). Every row of every raw table is seen exactly once by DuckDB between
// any two deliveries, Athena's symlinks never name a row twice, and the end state holds exactly the
// rows of one in-process compaction of the same fresh files.
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Message } from '@aws-sdk/client-sqs';
import type { CompactEvent, PlannerResult } from '../lib/aws/compact-job';
import { S3Store } from '../lib/aws/s3-store';
import { ingestProfileBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { rowsSeen } from './helpers/rows-seen';
import { shuffled } from './helpers/shuffle';
import { compactDue } from '../lib/store/compact-due';
import { parseWorkMessage, splitPrefix, type UnitJob } from '../lib/store/compact-jobs';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import type { Store } from '../lib/store/store';
import { deliver, drain, receiveAll, sqsRecord, type WorkerHandler, type WorkQueue } from './helpers/compact-queue';
import { athenaView } from './helpers/athena-view';
import { startCompactStack, type CompactStack } from './helpers/compact-stack';
import { motoAvailable } from './helpers/moto';

const BUCKET = 'fleetprof-fanout';
const REGION = 'us-east-1';
const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const KINDS = ['cpu', 'heap', 'mutex'] as const;
const RAW = ['profiles', 'functions', 'stacks'] as const;

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('compact-fanout skipped: moto_server is not on PATH (pip install "moto[server]")');

d('compaction fanned out over the work queue (moto)', () => {
  let stack: CompactStack;
  let tmp: string;
  let s3: S3Client;
  let store: S3Store;
  let queue: WorkQueue;
  let planner: (e: CompactEvent) => Promise<PlannerResult>;
  let worker: WorkerHandler;

  async function ingest(target: Store, run: string, kinds: readonly string[]): Promise<void> {
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    try {
      for (const kind of kinds) {
        const file = path.join(FIXTURES, run, `${kind}.pb.gz`);
        const meta = parseSourceMeta({ service: run.includes('i2') ? 'svc-b' : 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file, sourceId: `fixtures/${run}/${kind}` });
        await ingestProfileBytes(readFileSync(file), meta, { store: target, writer });
      }
    } finally {
      writer.close();
      instance.closeSync();
    }
  }

  /** Athena's view: the files the symlink manifests name; no (profile, hour) of a table in two of them. */
  const athenaDupes = async () => (await athenaView(store, RAW)).dupes;

  beforeAll(async () => {
    stack = await startCompactStack({
      bucket: BUCKET,
      region: REGION,
      name: 'fanout',
      env: {
        // One (service, instance) pair per unit: every table-hour of several instances is several units.
        FLEETPROF_COMPACT_UNIT_ROWS: '1',
        // Every job of several units is split first (the stack's default splits only large hours).
        FLEETPROF_COMPACT_SPLIT_MIN_UNITS: '2',
      },
    });
    ({ tmp, s3, store, queue, planner, worker } = stack);
    // Three instances in separate batches, and a redelivery of one source in a fourth.
    for (const run of RUNS) await ingest(store, run, KINDS);
    await ingest(store, RUNS[0], ['cpu']);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  test('units in shuffled order, a redelivered unit, two concurrent finalizers: exactly once at every step, the rows of one in-process compaction', async () => {
    const dirs = [store.cacheDir];
    const truth = await rowsSeen(store, dirs, RAW);

    // The reference: the same fresh objects in a local directory, compacted in one process.
    const refDir = path.join(tmp, 'ref');
    for (const o of await store.list('fresh/')) {
      const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `tables/${o.key}` }));
      await fs.mkdir(path.dirname(path.join(refDir, o.key)), { recursive: true });
      await fs.writeFile(path.join(refDir, o.key), await r.Body!.transformToByteArray());
    }
    const ref = new LocalStore(refDir);
    const refDb = await openDuckDb();
    const refWriter = await ParquetWriter.create(refDb);
    const farFuture = Date.parse('2030-01-01T00:00:00Z') * 1000;
    try {
      await compactDue(ref, refWriter, { nowUs: farFuture, unitRows: 1 });
    } finally {
      refWriter.close();
      refDb.closeSync();
    }
    expect(await rowsSeen(ref, [refDir], RAW)).toEqual(truth);

    const planned = await planner({ scheduledTime: '2030-01-01T00:00:00Z', attempt: '1' });
    const first = (await receiveAll(queue)).map((m) => ({ m, w: parseWorkMessage(m.Body!) }));
    expect(first).toHaveLength(planned.sent);
    // A job of several units starts with its split (one group: the hour is small); one-unit jobs with their unit.
    const splits = first.filter((x) => x.w.kind === 'split');
    const splitJobs = [...new Set(splits.map((x) => (x.w as { job: string }).job))];
    expect(splitJobs.length).toBeGreaterThanOrEqual(RAW.length);
    expect(first.every((x) => x.w.kind === 'split' || x.w.kind === 'unit')).toBe(true);
    // Splits in shuffled order, one delivered twice: readers see nothing change (split files are named by no manifest).
    let splitAgain = false;
    for (const { m } of shuffled(splits)) {
      expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
      if (!splitAgain) {
        splitAgain = true;
        expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: 'split-again' }] })).batchItemFailures).toEqual([]);
      }
      expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
      expect(await athenaDupes()).toBe(0);
    }
    // Each split file holds rows of the one unit its name says, and a job's split files hold each of its rows once.
    {
      const db = await openDuckDb();
      const conn = await db.connect();
      try {
        for (const key of splitJobs) {
          const job = JSON.parse(Buffer.from((await store.read(key))!).toString('utf8')) as UnitJob;
          const files = (await store.list(splitPrefix(job))).filter((o) => o.key.endsWith('.parquet'));
          const rows = new Map<number, number>();
          for (const o of files) {
            const unit = Number(/-u(\d+)-\d+\.parquet$/.exec(o.key)![1]);
            const pairs = new Set(job.units[unit].pairs.map((p) => `${p[0]}|${p[1]}`));
            const got = (await conn.runAndReadAll(`SELECT COALESCE(service, '') || '|' || COALESCE(instance, ''), count(*) FROM read_parquet('${await store.localPath(o)}') GROUP BY ALL`)).getRows();
            for (const [pair, n] of got) {
              expect(pairs.has(String(pair))).toBe(true);
              rows.set(unit, (rows.get(unit) ?? 0) + Number(n));
            }
          }
          expect(job.units.map((_, i) => rows.get(i) ?? 0)).toEqual(job.units.map((u) => u.rows));
        }
      } finally {
        conn.closeSync();
        db.closeSync();
      }
    }
    // The units: the one-unit jobs' and those the splitters sent (the split delivered twice sent its job's units twice: redeliveries, kept for the end).
    const seenUnits = new Set<string>();
    const messages: Message[] = [];
    const extra: Message[] = [];
    for (const { m, w } of [...first.filter((x) => x.w.kind === 'unit'), ...(await receiveAll(queue)).map((m) => ({ m, w: parseWorkMessage(m.Body!) }))]) {
      expect(w.kind).toBe('unit');
      const id = w.kind === 'unit' ? `${w.job}#${w.unit}` : '';
      (seenUnits.has(id) ? extra : messages).push(m);
      seenUnits.add(id);
    }
    const units = messages.map((m) => ({ m, w: parseWorkMessage(m.Body!) }));
    const jobs = new Map<string, Message[]>();
    for (const { m, w } of units) if (w.kind === 'unit') jobs.set(w.job, [...(jobs.get(w.job) ?? []), m]);
    // Several jobs, and jobs of several units (one per instance).
    expect(jobs.size).toBeGreaterThanOrEqual(RAW.length);
    expect(Math.max(...[...jobs.values()].map((x) => x.length))).toBe(RUNS.length);
    // Nothing is live before a job's last unit: the planner wrote nothing readers see.
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);

    // One multi-unit job's last message is held back for the concurrent finalizers.
    const [racedJob, racedMsgs] = [...jobs].find(([, ms]) => ms.length > 1)!;
    const held = racedMsgs[racedMsgs.length - 1];
    const order = shuffled(messages.filter((m) => m !== held));
    let redelivered = false;
    for (const m of order) {
      expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
      // A redelivery of the first unit (SQS at-least-once) after it was processed: no effect on any row.
      if (!redelivered) {
        redelivered = true;
        expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: 'again' }] })).batchItemFailures).toEqual([]);
      }
      expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
      expect(await athenaDupes()).toBe(0);
    }
    // The held unit to two workers at once: both write it, both try the job's one manifest swap.
    const [a, b] = await Promise.all([worker({ Records: [sqsRecord(queue, held)] }), worker({ Records: [{ ...sqsRecord(queue, held), messageId: 'twin' }] })]);
    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    await deliver(queue, worker, held).catch(() => undefined);
    expect(await store.list(racedJob)).toEqual([]);
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
    expect(await athenaDupes()).toBe(0);

    // The duplicate unit messages, after their jobs are done: no effect.
    for (const m of extra) expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);

    // The rollups the finalizers sent, and whatever they send.
    await drain(queue, worker);
    expect(await store.list('_compaction/')).toEqual([]);
    // Every split file deleted with its job.
    expect(await store.list('_compaction-split/')).toEqual([]);
    expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
    // The day is closed, but its rows do not fit one unit (1 row): it keeps its hour units.
    for (const t of RAW) expect((await liveNames(t)).every((n) => n.startsWith('h'))).toBe(true);

    // The end state: the same live rows, table by table, as the in-process compaction (rollups included).
    const db = await openDuckDb();
    const conn = await db.connect();
    try {
      const tables = [...new Set([...(await store.list('')).map((o) => o.key), ...(await ref.list('')).map((o) => o.key)].map((k) => /^([a-z0-9_]+)\/dt=/.exec(k)?.[1]).filter((t): t is string => !!t))].sort();
      expect(tables).toEqual(expect.arrayContaining([...RAW, 'functions_1h', 'stacks_1h', 'profiles_1h']));
      for (const t of tables) {
        const live = async (s: Store) => {
          const out: string[] = [];
          for (const m of (await s.list(`${t}/`)).filter((o) => o.key.endsWith('_manifest.json'))) {
            const man = JSON.parse(Buffer.from((await s.read(m.key))!).toString('utf8')) as { live: { name: string }[] };
            for (const f of man.live) {
              const key = m.key.replace('_manifest.json', f.name);
              out.push(await s.localPath((await s.list(key)).find((x) => x.key === key)!));
            }
          }
          return out;
        };
        const hashOf = async (files: string[]) =>
          files.length === 0 ? 'none' : String((await conn.runAndReadAll(`SELECT count(*), sum(hash(x)) FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}], union_by_name = true) x`)).getRows()[0]);
        expect(`${t} ${await hashOf(await live(store))}`).toBe(`${t} ${await hashOf(await live(ref))}`);
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  }, 600_000);

  /** Live file names of a raw table, over its dts. */
  async function liveNames(t: string): Promise<string[]> {
    const out: string[] = [];
    for (const m of (await store.list(`${t}/`)).filter((o) => o.key.endsWith('_manifest.json'))) {
      const man = JSON.parse(Buffer.from((await store.read(m.key))!).toString('utf8')) as { live: { name: string }[] };
      out.push(...man.live.map((f) => f.name));
    }
    return out;
  }

  test('the day close (a day that fits one unit) through the queue: shuffled, redelivered, two concurrent finalizers: exactly once at every step', async () => {
    // Continues from the state the test above leaves (hour units live, no open job). With units of
    // more rows than the day holds, the next scheduled run plans each raw table's day close as ONE unit.
    const dirs = [store.cacheDir];
    const truth = await rowsSeen(store, dirs, RAW);
    process.env.FLEETPROF_COMPACT_UNIT_ROWS = String(1e9);
    try {
      const planned = await planner({ scheduledTime: '2030-01-01T01:00:00Z', attempt: '1' });
      const messages = await receiveAll(queue);
      expect(messages).toHaveLength(planned.sent);
      const dayJobs = messages.map((m) => parseWorkMessage(m.Body!)).filter((w) => w.kind === 'unit' && /\/day-/.test(w.job));
      // One job of one unit per raw table with more than one live file (the fixtures' tables).
      expect(dayJobs.length).toBeGreaterThanOrEqual(RAW.length);
      expect(dayJobs.every((w) => w.kind === 'unit' && w.unit === 0)).toBe(true);
      expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
      const held = messages[messages.length - 1];
      let redelivered = false;
      for (const m of shuffled(messages.filter((x) => x !== held), 11)) {
        expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
        if (!redelivered) {
          redelivered = true;
          expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: 'again' }] })).batchItemFailures).toEqual([]);
        }
        expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
        expect(await athenaDupes()).toBe(0);
      }
      const [a, b] = await Promise.all([worker({ Records: [sqsRecord(queue, held)] }), worker({ Records: [{ ...sqsRecord(queue, held), messageId: 'twin' }] })]);
      expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
      await deliver(queue, worker, held).catch(() => undefined);
      await drain(queue, worker);
      expect(await store.list('_compaction/')).toEqual([]);
      expect(await rowsSeen(store, dirs, RAW)).toEqual(truth);
      expect(await athenaDupes()).toBe(0);
      // Each raw table's day is one day file now.
      for (const t of RAW) expect((await liveNames(t)).map((n) => n.replace(/-.*/, ''))).toEqual(['day']);
    } finally {
      process.env.FLEETPROF_COMPACT_UNIT_ROWS = '1';
    }
  }, 600_000);
});

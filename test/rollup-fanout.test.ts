// The rollups fanned out over the work queue, against moto (S3, SQS), through the real handlers:
// after an hour's compaction the finalizer sends one message per (pending hour, rollup table)
// instead of one per dt. Delivered here in shuffled order, one of them twice, the last one to two
// workers at once (two finishers), then stale copies after the hours are done, and again after a
// late batch changed an hour: at every step no hour is in two live files of a rollup table, an
// hour is in profiles_1h (what readers take as "rolled up") only once every other table of it is
// live, and in the end every table holds exactly the rows of ONE build of all tables of the hour
// (the builder called without `table`, as before the fan-out).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Message } from '@aws-sdk/client-sqs';
import type { CompactEvent, PlannerResult } from '../lib/aws/compact-job';
import { S3Store } from '../lib/aws/s3-store';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { parseWorkMessage, type WorkMessage } from '../lib/store/compact-jobs';
import { ROLLUP_MARKS_PREFIX } from '../lib/store/compact';
import { readManifest } from '../lib/store/manifest';
import { openDuckDb, ParquetWriter, sqlString } from '../lib/store/parquet';
import { COMPACTOR_ROLLUPS } from '../lib/store/rollup-compact';
import type { TableName } from '../lib/model/schema';
import { deliver, receiveAll, sqsRecord, type WorkerHandler, type WorkQueue } from './helpers/compact-queue';
import { startCompactStack, type CompactStack } from './helpers/compact-stack';
import { motoAvailable } from './helpers/moto';
import { shuffled } from './helpers/shuffle';

const BUCKET = 'fleetprof-rollup-fanout';
const REGION = 'us-east-1';
const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'];
const HOUR_TABLES = ['functions_1h', 'stacks_1h', 'function_shares_1h', 'attributed_1h', 'gc_1h', 'profiles_1h'] as const;
const H = 3_600_000_000;

const d = motoAvailable() ? describe : describe.skip;
if (!motoAvailable()) console.warn('rollup-fanout skipped: moto_server is not on PATH (pip install "moto[server]")');

d('rollups fanned out per hour and table over the work queue (moto)', () => {
  let stack: CompactStack;
  let tmp: string;
  let store: S3Store;
  let queue: WorkQueue;
  let planner: (e: CompactEvent) => Promise<PlannerResult>;
  let worker: WorkerHandler;
  let dt = '';

  const file = (run: string, kind: string) => path.join(FIXTURES, run, `${kind}.pb.gz`);
  /** One fresh batch: CPU and heap profiles of `runs` (same source ids on every delivery; `copy` makes new ones), and a gctrace log. */
  async function batch(runs: readonly string[], gc?: { run: string; startUs: number }, copy = ''): Promise<void> {
    const db = await openDuckDb();
    const writer = await ParquetWriter.create(db);
    try {
      const b = new FreshBatch({ store, writer });
      for (const run of runs) {
        for (const kind of ['cpu', 'heap']) {
          const meta = parseSourceMeta({ service: 'svc-a', instance: run, version: run.includes('v2') ? 'v2' : 'v1', source: file(run, kind), sourceId: `test:${run}:${kind}${copy}` });
          b.add(prepareBytes(readFileSync(file(run, kind)), meta).entries);
        }
      }
      if (gc) {
        const log = path.join(FIXTURES, gc.run, 'gctrace.log');
        const meta = parseSourceMeta({ service: 'svc-a', instance: gc.run, version: 'v1', source: log, sourceId: `test:gc:${gc.run}`, startUs: gc.startUs });
        b.add(prepareBytes(readFileSync(log), meta).entries);
      }
      await b.publish();
    } finally {
      writer.close();
      db.closeSync();
    }
  }

  /** Planner, then every split, unit and finalize it causes; the rollup messages are returned, not run. */
  async function compactRaw(at: string): Promise<Message[]> {
    await planner({ scheduledTime: at, attempt: '1' });
    const held: Message[] = [];
    for (let got = await receiveAll(queue); got.length > 0; got = await receiveAll(queue)) {
      for (const m of got) {
        if (parseWorkMessage(m.Body!).kind === 'rollup') held.push(m);
        else expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
      }
    }
    return held;
  }

  /** Live files of an hour rollup table: name -> hours. */
  async function live(table: string): Promise<Map<string, number[]>> {
    return new Map((await readManifest(store, table as TableName, dt)).manifest.live.map((f) => [f.name, [...f.hours]]));
  }

  /** Rows (count and an order-free hash) of a table's live files. */
  async function rowsOf(table: string, names?: readonly string[]): Promise<string> {
    const ns = names ?? [...(await live(table)).keys()];
    if (ns.length === 0) return '0:none';
    const paths: string[] = [];
    for (const n of ns) {
      const key = `${table}/dt=${dt}/${n}`;
      paths.push(await store.localPath((await store.list(key)).find((o) => o.key === key)!));
    }
    const db = await openDuckDb();
    const conn = await db.connect();
    try {
      const [r] = (await conn.runAndReadAll(`SELECT count(*)::VARCHAR, COALESCE(sum(hash(x))::VARCHAR, 'none') FROM read_parquet([${paths.map((p) => `'${sqlString(p)}'`).join(', ')}], hive_partitioning = false) x`)).getRows();
      return `${String(r[0])}:${String(r[1])}`;
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  }

  /** What one build of every table of the pending hours gives (the builder without `table`): per table, its rows. */
  async function reference(hours: readonly number[]): Promise<Record<string, string>> {
    const db = await openDuckDb();
    const writer = await ParquetWriter.create(db);
    const out: Record<string, string> = {};
    const dbr = await openDuckDb();
    const conn = await dbr.connect();
    try {
      const byTable = new Map<string, string[]>();
      for (const hour of hours) {
        const outputs = await COMPACTOR_ROLLUPS.hour({
          store,
          writer,
          dt,
          hour,
          scratchDir: path.join(tmp, 'ref'),
          liveFiles: async () => [],
          pendingFiles: async () => [],
        });
        for (const o of outputs) byTable.set(o.table, [...(byTable.get(o.table) ?? []), o.localPath]);
      }
      for (const t of HOUR_TABLES) {
        const ps = byTable.get(t) ?? [];
        // The hours not rebuilt keep their live files.
        const kept = [...(await live(t))].filter(([, hs]) => !hs.some((h) => hours.includes(h))).map(([n]) => n);
        const keptPaths: string[] = [];
        for (const n of kept) {
          const key = `${t}/dt=${dt}/${n}`;
          keptPaths.push(await store.localPath((await store.list(key)).find((o) => o.key === key)!));
        }
        const all = [...ps, ...keptPaths];
        if (all.length === 0) {
          out[t] = '0:none';
          continue;
        }
        const [r] = (await conn.runAndReadAll(`SELECT count(*)::VARCHAR, COALESCE(sum(hash(x))::VARCHAR, 'none') FROM read_parquet([${all.map((p) => `'${sqlString(p)}'`).join(', ')}], hive_partitioning = false) x`)).getRows();
        out[t] = `${String(r[0])}:${String(r[1])}`;
      }
      return out;
    } finally {
      conn.closeSync();
      dbr.closeSync();
      writer.close();
      db.closeSync();
    }
  }

  /**
   * What readers may see between deliveries: no hour in two live files of a table (its rows would
   * count twice), and an hour in profiles_1h only when every other table that has rows of it
   * (`expected`: the tables of the reference with rows) is live for it.
   */
  async function checkReaders(hours: readonly number[], expected: Record<string, string>): Promise<void> {
    const covered = new Map<string, Set<number>>();
    for (const t of HOUR_TABLES) {
      const seen = new Set<number>();
      for (const hs of (await live(t)).values()) {
        for (const h of hs) {
          expect(`${t} h${h} live twice: ${seen.has(h)}`).toBe(`${t} h${h} live twice: false`);
          seen.add(h);
        }
      }
      covered.set(t, seen);
    }
    for (const h of hours) {
      if (!covered.get('profiles_1h')!.has(h)) continue;
      for (const t of HOUR_TABLES) if (expected[t] !== '0:none') expect(`${t} h${h}: ${covered.get(t)!.has(h)}`).toBe(`${t} h${h}: true`);
    }
  }

  async function pendingCount(): Promise<number> {
    let n = 0;
    for (const t of COMPACTOR_ROLLUPS.sources) n += (await readManifest(store, t, dt)).manifest.live.filter((f) => f.rollup === 'pending').length;
    return n;
  }

  beforeAll(async () => {
    stack = await startCompactStack({ bucket: BUCKET, region: REGION, name: 'rollup-fanout' });
    ({ tmp, store, queue, planner, worker } = stack);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  test('shuffled, redelivered, two finishers at once, stale copies, a late batch: each hour rolled up once, profiles_1h last, the rows of one whole build', async () => {
    // Two batches of one hour (heap: cumulative snapshots, whose increase terms every table but gc_1h uses) and a gctrace log running into the next hour.
    const { decodeProfile } = await import('../lib/decode');
    const t0 = Number(BigInt(decodeProfile(readFileSync(file(RUNS[0], 'cpu'))).timeNanos) / 1000n);
    const hourUs = Math.floor(t0 / H) * H;
    dt = new Date(hourUs / 1000).toISOString().slice(0, 10);
    await batch(RUNS.slice(0, 2), { run: RUNS[0], startUs: hourUs + 59 * 60_000_000 });
    await batch(RUNS.slice(2));

    const held = await compactRaw('2030-01-01T00:00:00Z');
    const msgs = held.map((m) => parseWorkMessage(m.Body!) as Extract<WorkMessage, { kind: 'rollup' }>);
    const hours = [...new Set(msgs.map((m) => m.hour))].sort((a, b) => a - b);
    // One message per pending hour and table of the fan-out; profiles_1h is nobody's message (built last).
    expect(hours.length).toBeGreaterThanOrEqual(1);
    expect(msgs.map((m) => `${m.hour}/${m.table}`).sort()).toEqual(hours.flatMap((h) => COMPACTOR_ROLLUPS.hourTables.map((t) => `${h}/${t}`)).sort());
    const expected = await reference(hours);
    for (const t of ['functions_1h', 'stacks_1h', 'function_shares_1h', 'attributed_1h', 'gc_1h', 'profiles_1h']) expect(`${t} ${expected[t]}`).not.toBe(`${t} 0:none`);

    const last = held[held.length - 1];
    let again = false;
    for (const m of shuffled(held.slice(0, -1), 5)) {
      expect((await deliver(queue, worker, m)).batchItemFailures).toEqual([]);
      if (!again) {
        // SQS at-least-once: the same message once more, after it was processed.
        again = true;
        const before = await Promise.all(HOUR_TABLES.map((t) => live(t).then((x) => [...x.keys()].sort().join())));
        expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: 'again' }] })).batchItemFailures).toEqual([]);
        expect(await Promise.all(HOUR_TABLES.map((t) => live(t).then((x) => [...x.keys()].sort().join())))).toEqual(before);
      }
      await checkReaders(hours, expected);
    }
    // Not finished while one table of an hour is missing: the sources stay pending, profiles_1h lacks that hour.
    expect(await pendingCount()).toBeGreaterThan(0);
    const lastMsg = parseWorkMessage(last.Body!) as Extract<WorkMessage, { kind: 'rollup' }>;
    expect([...(await live('profiles_1h')).values()].some((hs) => hs.includes(lastMsg.hour))).toBe(false);
    // The last table to two workers at once: both build it, both find every table done and finish the hour.
    const [a, b] = await Promise.all([worker({ Records: [sqsRecord(queue, last)] }), worker({ Records: [{ ...sqsRecord(queue, last), messageId: 'twin' }] })]);
    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    await deliver(queue, worker, last);
    await checkReaders(hours, expected);
    expect(await pendingCount()).toBe(0);
    expect(await store.list(ROLLUP_MARKS_PREFIX)).toEqual([]);
    for (const t of HOUR_TABLES) expect(`${t} ${await rowsOf(t)}`).toBe(`${t} ${expected[t]}`);
    // The day is closed: its day forms were built by the finisher of its last hour.
    expect((await live('functions_1d')).size).toBe(1);

    // Stale copies of every message after the hours are done: nothing changes.
    const names = async () => Promise.all([...HOUR_TABLES, 'functions_1d'].map((t) => live(t).then((x) => [...x.keys()].sort().join())));
    const done = await names();
    for (const m of held) expect((await worker({ Records: [{ ...sqsRecord(queue, m), messageId: `stale-${m.MessageId}` }] })).batchItemFailures).toEqual([]);
    expect(await names()).toEqual(done);
    expect(await store.list(ROLLUP_MARKS_PREFIX)).toEqual([]);

    // A late batch (redelivered profiles and new ones) for the first hour: its compaction sends that
    // hour's messages again; they are delivered in reverse beside stale copies of the first round.
    await batch([RUNS[0]]);
    await batch([RUNS[1]], undefined, ':late');
    const late = await compactRaw('2030-01-01T01:00:00Z');
    const lateHours = [...new Set(late.map((m) => (parseWorkMessage(m.Body!) as { hour: number }).hour))];
    expect(lateHours).toEqual([new Date(hourUs / 1000).getUTCHours()]);
    const expected2 = await reference(lateHours);
    const mixed = [...late].reverse().flatMap((m, i) => (i < 2 ? [m, held[i]] : [m]));
    for (const [i, m] of mixed.entries()) {
      const r = await worker({ Records: [{ ...sqsRecord(queue, m), messageId: `late-${i}` }] });
      expect(r.batchItemFailures).toEqual([]);
      await checkReaders(hours, expected2);
    }
    for (const m of late) await deliver(queue, worker, m);
    expect(await pendingCount()).toBe(0);
    expect(await store.list(ROLLUP_MARKS_PREFIX)).toEqual([]);
    for (const t of HOUR_TABLES) expect(`${t} ${await rowsOf(t)}`).toBe(`${t} ${expected2[t]}`);
    // The late rows are in: the hour's rollups changed.
    expect(expected2.functions_1h).not.toBe(expected.functions_1h);
  }, 300_000);
});

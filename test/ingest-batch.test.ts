// The ingest Lambda's batch semantics (lib/aws/ingest-object.ts ingestSqsBatch) against moto: an
// SQS batch becomes ONE file per table per hour; a transient failure fetching one object retries
// only its message; a transient failure writing the batch retries every message in it, and the
// retry, even after a partial publish, counts each source once; a poison object never blocks
// the rest.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { SQSRecord } from '../lib/aws/events';
import { ingestSqsBatch, type IngestObjectDeps } from '../lib/aws/ingest-object';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import type { Store } from '../lib/store/store';
import { motoAvailable, motoSandbox, type MotoSandbox } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-batch';
const REGION = 'us-east-1';
const FIXTURES = path.join(__dirname, 'fixtures/go');
const d = motoAvailable() ? describe : describe.skip;

const OBJECTS = ['svc-a-v1-i1', 'svc-a-v1-i2', 'svc-a-v2-i1'].flatMap((run, i) =>
  ['cpu', 'heap'].map((kind, j) => ({ key: `raw/svc-a/${run}/20261121T2054${10 + i * 2 + j}.000Z_${kind}.pb.gz`, file: path.join(FIXTURES, run, `${kind}.pb.gz`) })),
);
const POISON = 'raw/svc-a/bad/20261121T205400.000Z_cpu.pb.gz';

d('ingest Lambda batches (moto)', () => {
  let sandbox: MotoSandbox;
  let s3: S3Client;
  let tmp: string;
  let instance: DuckDBInstance;
  let writer: ParquetWriter;

  beforeAll(async () => {
    sandbox = await motoSandbox({ bucket: BUCKET, region: REGION, tmpPrefix: 'fleetprof-batch-' });
    ({ s3, tmp } = sandbox);
    for (const o of OBJECTS) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: o.key, Body: readFileSync(o.file) }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: POISON, Body: Buffer.from('not a profile') }));
    instance = await openDuckDb();
    writer = await ParquetWriter.create(instance);
  }, 120_000);

  afterAll(async () => {
    writer?.close();
    instance?.closeSync();
    await sandbox?.close();
  });

  const record = (key: string, id: string): SQSRecord => ({
    messageId: id,
    receiptHandle: `r-${id}`,
    body: JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: encodeURIComponent(key) } } }] }),
    attributes: { ApproximateReceiveCount: '1' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: REGION,
  });

  /** deps over a local table store; `failGet` keys fail their GET with a connection reset. */
  const deps = (store: Store, failGet: Set<string> = new Set()): IngestObjectDeps => {
    const client = new Proxy(s3, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
        return async (cmd: unknown) => {
          if (cmd instanceof GetObjectCommand && failGet.has(cmd.input.Key!)) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          return target.send(cmd as GetObjectCommand);
        };
      },
    });
    return { s3: client, context: () => ({ store, writer }), maxObjectBytes: 1 << 24, log: () => undefined };
  };

  const sources = async (store: LocalStore) => {
    const engine = await openEngine(store, {}, [store.root]);
    try {
      return (await engine.rows('SELECT source, count(*)::INTEGER AS n FROM profiles GROUP BY source ORDER BY source')).map((r) => `${String(r.source).split('/').slice(-2).join('/')} x${String(r.n)}`);
    } finally {
      engine.close();
    }
  };
  const counts = async (store: LocalStore) => {
    const engine = await openEngine(store, {}, [store.root]);
    try {
      return await engine.rows('SELECT (SELECT count(*) FROM profiles) p, (SELECT count(*) FROM functions) f, (SELECT count(*) FROM stacks) s');
    } finally {
      engine.close();
    }
  };

  test('a batch is one file per table; a poison object is quarantined and the rest ingested', async () => {
    const store = new LocalStore(path.join(tmp, 'one'));
    const res = await ingestSqsBatch(deps(store), [...OBJECTS.map((o, i) => record(o.key, `m${i}`)), record(POISON, 'bad')]);
    expect(res.batchItemFailures).toEqual([]);
    for (const t of ['profiles', 'functions', 'stacks']) expect((await store.list(`fresh/${t}/`)).filter((o) => o.key.endsWith('.parquet'))).toHaveLength(1);
    expect(await sources(store)).toHaveLength(OBJECTS.length);
    const q = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${POISON}.reason.json` }));
    expect(JSON.parse(await q.Body!.transformToString()).key).toBe(POISON);
  }, 120_000);

  test('the same object notified twice in one batch (S3 may duplicate an event): its rows are written once', async () => {
    const once = new LocalStore(path.join(tmp, 'dup-ref'));
    await ingestSqsBatch(deps(once), OBJECTS.slice(0, 2).map((o, i) => record(o.key, `m${i}`)));
    const store = new LocalStore(path.join(tmp, 'dup'));
    const res = await ingestSqsBatch(deps(store), [record(OBJECTS[0].key, 'm0'), record(OBJECTS[1].key, 'm1'), record(OBJECTS[0].key, 'm0-again')]);
    expect(res.batchItemFailures).toEqual([]);
    expect(await sources(store)).toEqual(await sources(once));
    expect(await counts(store)).toEqual(await counts(once));
    expect((await sources(store)).every((s) => s.endsWith(' x1'))).toBe(true);
  }, 120_000);

  test('a transient failure fetching one object retries only its message; its rows are not published', async () => {
    const store = new LocalStore(path.join(tmp, 'get'));
    const res = await ingestSqsBatch(deps(store, new Set([OBJECTS[2].key])), OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(await sources(store)).toHaveLength(OBJECTS.length - 1);
    // SQS redelivers m2 in a later batch, with another message that was already ingested.
    const again = await ingestSqsBatch(deps(store), [record(OBJECTS[2].key, 'm2'), record(OBJECTS[0].key, 'm0')]);
    expect(again.batchItemFailures).toEqual([]);
    expect((await sources(store)).every((s) => s.endsWith(' x1'))).toBe(true);
    expect(await sources(store)).toHaveLength(OBJECTS.length);
  }, 120_000);

  test('a transient failure writing the batch (after some files were published) retries every message; the retry counts once', async () => {
    const ref = new LocalStore(path.join(tmp, 'ref'));
    await ingestSqsBatch(deps(ref), OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    const truth = await counts(ref);

    const store = new LocalStore(path.join(tmp, 'put'));
    let puts = 0;
    // The second PUT fails: functions is published, stacks and profiles are not.
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'putFile') return typeof v === 'function' ? v.bind(target) : v;
        return async (key: string, local: string) => {
          if (++puts === 2) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
          return store.putFile(key, local);
        };
      },
    });
    const res = await ingestSqsBatch(deps(flaky), OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(OBJECTS.map((_, i) => `m${i}`));
    expect((await store.list('fresh/functions/')).filter((o) => o.key.endsWith('.parquet'))).toHaveLength(1);
    expect(await sources(store)).toEqual([]); // no profile row is visible without its stacks
    const again = await ingestSqsBatch(deps(store), OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    expect(again.batchItemFailures).toEqual([]);
    expect(await counts(store)).toEqual(truth);
  }, 120_000);

  test('objects fetched at once: a slow one and a failing one change nothing for the other messages', async () => {
    const ref = new LocalStore(path.join(tmp, 'ref3'));
    await ingestSqsBatch({ ...deps(ref), fetchConcurrency: 1 }, OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    const store = new LocalStore(path.join(tmp, 'concurrent'));
    let inFlight = 0;
    let most = 0;
    const base = deps(store, new Set([OBJECTS[3].key]));
    const s3slow = new Proxy(base.s3, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
        return async (cmd: GetObjectCommand) => {
          most = Math.max(most, ++inFlight);
          try {
            // The first object answers last: consumption must still follow the messages' order.
            if (cmd instanceof GetObjectCommand && cmd.input.Key === OBJECTS[0].key) await new Promise((r) => setTimeout(r, 300));
            return await target.send(cmd);
          } finally {
            inFlight--;
          }
        };
      },
    });
    const outcomes: string[] = [];
    const res = await ingestSqsBatch(
      { ...base, s3: s3slow, fetchConcurrency: 4, log: (e) => (e.messageId && e.msg !== 'transient failure, will retry' ? outcomes.push(String(e.messageId)) : undefined) },
      OBJECTS.map((o, i) => record(o.key, `m${i}`)),
    );
    expect(most).toBeGreaterThan(1);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm3' }]);
    expect(outcomes).toEqual(OBJECTS.map((_, i) => `m${i}`).filter((m) => m !== 'm3'));
    expect(await sources(store)).toEqual((await sources(ref)).filter((s) => !s.startsWith(OBJECTS[3].key.split('/').slice(-2).join('/'))));
    expect(await sources(store)).toHaveLength(OBJECTS.length - 1);
  }, 120_000);

  test('an object over the size limit is quarantined from its GET (no HEAD), the rest ingested', async () => {
    const store = new LocalStore(path.join(tmp, 'big'));
    const sizes = OBJECTS.map((o) => readFileSync(o.file).length);
    const limit = Math.max(...sizes) - 1;
    const big = OBJECTS[sizes.indexOf(limit + 1)];
    const res = await ingestSqsBatch({ ...deps(store), maxObjectBytes: limit }, OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    expect(res.batchItemFailures).toEqual([]);
    expect(await sources(store)).toHaveLength(OBJECTS.length - 1);
    const q = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${big.key}.reason.json` }));
    expect(JSON.parse(await q.Body!.transformToString())).toEqual(expect.objectContaining({ key: big.key, code: 'too-large' }));
  }, 120_000);

  test('a small row limit flushes early: several files per table, the same rows', async () => {
    const ref = new LocalStore(path.join(tmp, 'ref2'));
    await ingestSqsBatch(deps(ref), OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    const store = new LocalStore(path.join(tmp, 'small'));
    const res = await ingestSqsBatch({ ...deps(store), batchLimits: { maxRows: 1 } }, OBJECTS.map((o, i) => record(o.key, `m${i}`)));
    expect(res.batchItemFailures).toEqual([]);
    expect((await store.list('fresh/profiles/')).filter((o) => o.key.endsWith('.parquet'))).toHaveLength(OBJECTS.length);
    expect(await counts(store)).toEqual(await counts(ref));
  }, 120_000);
});

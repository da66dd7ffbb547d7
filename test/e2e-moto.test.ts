// The serverless pipeline end to end against moto (S3 + SQS in one local process): buckets,
// queue + DLQ and the bucket notification exactly as lib/aws/resources.ts defines them (the CDK
// stack uses the same definition); `fleetprof upload` of the real Go fixtures; the SQS messages moto
// delivers, handed to the real ingest handler in the event shape Lambda sends; the query handler's
// /top compared with `go tool pprof -top` on the same files. Redelivery never duplicates rows; a
// poison object is quarantined with its reason while its neighbours are ingested.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketNotificationConfigurationCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { HttpEventV2, HttpResultV2, SQSBatchResponse, SQSEvent, SQSRecord } from '../lib/aws/events';
import { dlqAttributes, ingestQueueAttributes, INGEST_FUNCTION, INGEST_QUEUE, notificationConfiguration } from '../lib/aws/resources';
import { goAvailable, pprofTop, warmUpPprof } from './oracle/pprof';
import { motoAvailable, startMoto, type Moto, lambdaEnv } from './helpers/moto';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as {
  runs: { run: string; service: string; instance: string; version: string; startTime: string }[];
}).runs;
const KINDS = ['cpu', 'heap', 'mutex'] as const;
const BUCKET = 'fleetprof-e2e';
const REGION = 'us-east-1';
const POISON_KEY = 'raw/svc-a/i9/20261121T205420.000Z_cpu.pb.gz';
const BAD_KEY = 'raw/svc-a/not the contract.pb.gz';

const ready = motoAvailable() && goAvailable();
if (!ready) {
  console.warn(`e2e-moto skipped: ${motoAvailable() ? '' : 'moto_server is not on PATH (pip install "moto[server]"); '}${goAvailable() ? '' : 'go is not on PATH (the pprof oracle)'}`);
}
const d = ready ? describe : describe.skip;

d('serverless pipeline against moto', () => {
  let moto: Moto;
  let tmp: string;
  let s3: S3Client;
  let sqs: SQSClient;
  let queueUrl: string;
  let queueArn: string;
  let ingest: (e: SQSEvent) => Promise<SQSBatchResponse>;
  let query: (e: HttpEventV2) => Promise<HttpResultV2>;
  let records: SQSRecord[] = [];
  const saved = { ...process.env };

  const logLines: string[] = [];
  beforeAll(async () => {
    // The handlers' structured logs (Powertools Logger and EMF metrics, JSON lines on stdout): kept
    // for assertions instead of cluttering the test output.
    for (const stream of [process.stdout, process.stderr]) {
      // Powertools writes INFO to stdout and WARN/ERROR to stderr.
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        for (const line of String(chunk).split('\n')) if (line.startsWith('{')) logLines.push(line);
        return true;
      });
    }
    warmUpPprof();
    moto = await startMoto();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-e2e-'));
    Object.assign(process.env, {
      ...lambdaEnv(moto, { region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'cache') }),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb),
    });
    s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true });
    sqs = new SQSClient({ region: REGION, endpoint: moto.endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: INGEST_QUEUE.dlqName, Attributes: dlqAttributes() }));
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    const q = await sqs.send(new CreateQueueCommand({ QueueName: INGEST_QUEUE.name, Attributes: ingestQueueAttributes(dlqArn) }));
    queueUrl = q.QueueUrl!;
    queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: BUCKET, NotificationConfiguration: notificationConfiguration(queueArn) }));
    // Handlers are loaded after the environment is set: their clients are created at module scope.
    ingest = (await import('../lambdas/ingest')).handler;
    query = (await import('../lambdas/query')).handler;
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    sqs?.destroy();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  async function receiveAll(expected: number): Promise<Message[]> {
    const out: Message[] = [];
    const t0 = Date.now();
    while (out.length < expected && Date.now() - t0 < 20_000) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, AttributeNames: ['All'] }));
      out.push(...(r.Messages ?? []));
    }
    return out;
  }

  const toRecord = (m: Message): SQSRecord => ({
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body!,
    attributes: (m.Attributes ?? {}) as Record<string, string>,
    messageAttributes: {},
    md5OfBody: m.MD5OfBody!,
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: REGION,
  });

  const get = async (p: string, qs: Record<string, string>): Promise<HttpResultV2> =>
    query({ version: '2.0', rawPath: p, rawQueryString: new URLSearchParams(qs).toString(), requestContext: { http: { method: 'GET' } } });
  const sql = async (text: string) => {
    const r = await query({ version: '2.0', rawPath: '/sql', body: JSON.stringify({ sql: text }), requestContext: { http: { method: 'POST' } } });
    expect(r.statusCode).toBe(200);
    return JSON.parse(r.body) as { columns: string[]; rows: unknown[][] };
  };
  const counts = async () => (await sql('SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM functions), (SELECT count(*) FROM stacks), (SELECT count(*) FROM gc_cycles)')).rows[0];

  test('fleetprof upload writes contract keys; moto delivers one ObjectCreated message per object', async () => {
    for (const run of RUNS) {
      const files = KINDS.map((k) => path.join(FIXTURES, run.run, `${k}.pb.gz`));
      const r = spawnSync(process.execPath, [CLI, 'upload', '--bucket', BUCKET, '--service', run.service, '--instance', run.instance, '--version', run.version, '--label', 'env=e2e', ...files], {
        encoding: 'utf8',
        env: process.env,
      });
      expect(r.stderr).toMatch(/uploaded 3 of 3 files \(0 failed/);
      expect(r.status).toBe(0);
      for (const line of r.stdout.trim().split('\n')) expect(line).toMatch(/^s3:\/\/fleetprof-e2e\/raw\/svc-a\/i\d\/\d{8}T\d{6}\.\d{3}Z_(cpu|heap|mutex)_[0-9a-f]{16}\.pb\.gz$/);
    }
    const log = spawnSync(process.execPath, [CLI, 'upload', '--bucket', BUCKET, '--service', RUNS[0].service, '--instance', RUNS[0].instance, '--version', RUNS[0].version, '--start', RUNS[0].startTime, path.join(FIXTURES, RUNS[0].run, 'gctrace.log')], { encoding: 'utf8', env: process.env });
    expect(log.status).toBe(0);
    expect(log.stdout).toMatch(/_gctrace_[0-9a-f]{16}\.log\n$/);
    // A poison object under a valid key, and a key that breaks the contract.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: POISON_KEY, Body: Buffer.from('this is not a profile at all') }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: BAD_KEY, Body: readFileSync(path.join(FIXTURES, RUNS[0].run, 'cpu.pb.gz')) }));

    const expected = RUNS.length * KINDS.length + 1 + 2;
    const msgs = await receiveAll(expected + 1); // + the s3:TestEvent
    records = msgs.map(toRecord);
    const bodies = msgs.map((m) => JSON.parse(m.Body!) as { Event?: string; Records?: { s3: { object: { key: string } } }[] });
    expect(bodies.filter((b) => b.Event === 's3:TestEvent')).toHaveLength(1);
    expect(bodies.filter((b) => b.Records).length).toBe(expected);
  });

  test('the ingest handler ingests the uploads, quarantines poison and acknowledges everything', async () => {
    const res = await ingest({ Records: records });
    expect(res.batchItemFailures).toEqual([]);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'quarantine/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    expect(keys).toEqual([`quarantine/${BAD_KEY}`, `quarantine/${BAD_KEY}.reason.json`, `quarantine/${POISON_KEY}`, `quarantine/${POISON_KEY}.reason.json`].sort());
    const reason = async (k: string) =>
      JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${k}.reason.json` }))).Body!.transformToString()) as { code: string; reason: string; key: string };
    expect(await reason(POISON_KEY)).toMatchObject({ key: POISON_KEY, code: 'unsupported' });
    const bad = await reason(BAD_KEY);
    expect(bad.code).toBe('contract');
    expect(bad.reason).toContain(BAD_KEY);
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const quarantined = entries.filter((l) => l.message === 'quarantined');
    expect(quarantined.map((l) => l.key).sort()).toEqual([BAD_KEY, POISON_KEY].sort());
    expect(quarantined.find((l) => l.key === POISON_KEY)).toMatchObject({ code: 'unsupported', quarantineKey: `quarantine/${POISON_KEY}` });
    expect(quarantined.every((l) => l.level === 'WARN' && typeof l.timestamp === 'string' && l.service === 'fleetprof-ingest')).toBe(true);
    // Ingestion outcomes are CloudWatch metrics too (EMF, namespace fleetprof).
    const emf = entries.filter((l) => (l._aws as { CloudWatchMetrics?: { Namespace: string }[] } | undefined)?.CloudWatchMetrics?.[0]?.Namespace === 'fleetprof');
    expect(emf.some((l) => 'objects_quarantined' in l && 'objects_ingested' in l)).toBe(true);
    const [profiles, , , gc] = await counts();
    expect(profiles).toBe(RUNS.length * KINDS.length);
    expect(gc).toBeGreaterThan(0);
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: records.slice(0, 10).map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }));
  });

  test('every message delivered twice: no duplicate rows', async () => {
    const before = await counts();
    const res = await ingest({ Records: [...records, ...records].reverse() });
    expect(res.batchItemFailures).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  test('GET /top equals go tool pprof -top on the same files (all, and per version)', async () => {
    for (const kind of ['cpu', 'heap'] as const) {
      for (const version of [undefined, 'v1', 'v2']) {
        const files = RUNS.filter((r) => version === undefined || r.version === version).map((r) => path.join(FIXTURES, r.run, `${kind}.pb.gz`));
        // Instance i1 has two heap snapshots (v1, then v2): pprof's merge of files is the `sum`
        // aggregate of a gauge; the default per-instance average is checked in test/window.test.ts.
        const res = await get('/top', { type: kind, service: 'svc-a', aggregate: 'sum', ...(version ? { version } : {}) });
        expect(res.statusCode).toBe(200);
        const ours = JSON.parse(res.body) as { total: number; functions: { name: string; flat: number; cum: number }[] };
        const oracle = pprofTop(files, { sampleIndex: kind === 'cpu' ? 'cpu' : 'inuse_space' });
        expect(BigInt(ours.total)).toBe(oracle.total);
        expect(ours.functions.map((f) => [f.name, BigInt(f.flat), BigInt(f.cum)])).toEqual(oracle.rows.map((r) => [r.name, r.flat, r.cum]));
      }
    }
  });

  test('GET /export returns a merged .pb.gz that pprof reads with the same numbers; /gc answers', async () => {
    const res = await get('/export', { type: 'cpu', service: 'svc-a' });
    expect(res.statusCode).toBe(200);
    expect(res.isBase64Encoded).toBe(true);
    const out = path.join(tmp, 'merged.pb.gz');
    require('node:fs').writeFileSync(out, Buffer.from(res.body, 'base64'));
    expect(gunzipSync(Buffer.from(res.body, 'base64')).length).toBeGreaterThan(0);
    const files = RUNS.map((r) => path.join(FIXTURES, r.run, 'cpu.pb.gz'));
    expect(pprofTop([out], { sampleIndex: 'cpu' }).rows.map((r) => [r.name, r.flat, r.cum])).toEqual(pprofTop(files, { sampleIndex: 'cpu' }).rows.map((r) => [r.name, r.flat, r.cum]));
    const gc = await get('/gc', { service: 'svc-a', bucket: '1d' });
    expect(gc.statusCode).toBe(200);
    expect((JSON.parse(gc.body) as { buckets: unknown[] }).buckets.length).toBeGreaterThan(0);
    const bad = await get('/top', { type: 'nope' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/type/);
  });

  test('a transient failure (S3 unreachable) is reported in batchItemFailures, not quarantined', async () => {
    const { ingestSqsBatch } = await import('../lib/aws/ingest-object');
    const dead = new S3Client({ region: REGION, endpoint: 'http://127.0.0.1:9', forcePathStyle: true, maxAttempts: 1 });
    const logs: Record<string, unknown>[] = [];
    const body = JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: encodeURIComponent('raw/svc-a/i1/20261121T205418.078Z_cpu.pb.gz') } } }] });
    const rec: SQSRecord = { messageId: 'm-1', receiptHandle: 'r', body, attributes: {}, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn', awsRegion: REGION };
    const res = await ingestSqsBatch({ s3: dead, context: () => { throw new Error('unused'); }, maxObjectBytes: 1 << 20, log: (e) => logs.push(e) }, [rec]);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: rec.messageId }]);
    expect(logs.filter((l) => l.msg === 'transient failure, will retry')).toEqual([expect.objectContaining({ knownTransient: true })]);
    dead.destroy();
  });
});

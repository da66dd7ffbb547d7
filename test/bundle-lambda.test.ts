// A bundle through the real ingest Lambda handler against moto: the good members are ingested,
// a poison member alone is quarantined (its bytes under quarantine/<bundle key>/<member>, a reason
// naming the bundle and the member), nothing is retried; a bundle whose archive is unusable is
// quarantined whole, like any poison object.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from '../lib/aws/events';
import { INGEST_FUNCTION } from '../lib/aws/resources';
import { bundle } from './helpers/bundle';
import { motoAvailable, startMoto, type Moto, lambdaEnv } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-bundle';
const REGION = 'us-east-1';
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const START = '2026-11-21T20:54:18.074Z';
const KEY = 'raw/svc-a/i1/20261121T205418.074Z_bundle_p1.tar.gz';
const BROKEN = 'raw/svc-a/i1/20261121T205418.074Z_bundle_p2.tar.gz';
const d = motoAvailable() ? describe : describe.skip;

d('bundles through the ingest handler (moto)', () => {
  let moto: Moto;
  let s3: S3Client;
  let tmp: string;
  let ingest: (e: SQSEvent) => Promise<SQSBatchResponse>;
  const saved = { ...process.env };

  beforeAll(async () => {
    for (const stream of [process.stdout, process.stderr]) jest.spyOn(stream, 'write').mockImplementation(() => true);
    moto = await startMoto();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bundle-lambda-'));
    Object.assign(process.env, {
      ...lambdaEnv(moto, { region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'cache') }),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb),
    });
    s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    ingest = (await import('../lambdas/ingest')).handler;
  }, 120_000);

  afterAll(async () => {
    jest.restoreAllMocks();
    s3?.destroy();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  const record = (key: string, i: number): SQSRecord => ({
    messageId: `m-${i}`,
    receiptHandle: `r-${i}`,
    body: JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: encodeURIComponent(key) } } }] }),
    attributes: { ApproximateReceiveCount: '1' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: REGION,
  });
  const text = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
  const keys = async (prefix: string) => ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);

  test('good members ingest, the poison member alone is quarantined with bundle + member in its reason', async () => {
    const poison = Buffer.from('{"time":"9999-12-31T23:59:59Z","metrics":{"/gc/cycles/total:gc-cycles":3}}\n');
    const body = bundle([
      { name: 'cpu.pb.gz', kind: 'cpu', start: START, data: readFileSync(path.join(RUN, 'cpu.pb.gz')) },
      { name: 'metrics.jsonl', kind: 'metrics', start: START, data: poison },
      { name: 'heap.pb.gz', kind: 'heap', start: START, temporality: 'delta', data: readFileSync(path.join(RUN, 'heap.pb.gz')) },
    ]);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: body, Metadata: { process: 'run-1', version: 'v1' } }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: BROKEN, Body: gzipSync(Buffer.alloc(2048, 1)).subarray(0, 20) }));
    const res = await ingest({ Records: [record(KEY, 0), record(BROKEN, 1)] });
    expect(res.batchItemFailures).toEqual([]);

    const profiles = (await keys('tables/profiles/')).length + (await keys('tables/fresh/profiles/')).length;
    expect(profiles).toBeGreaterThanOrEqual(1);
    expect((await keys('tables/runtime_metrics/')).concat(await keys('tables/fresh/runtime_metrics/'))).toEqual([]);

    const q = `quarantine/${KEY}/metrics.jsonl`;
    expect(await keys(`quarantine/${KEY}`)).toEqual([q, `${q}.reason.json`]);
    expect(await text(q)).toBe(poison.toString());
    const r = JSON.parse(await text(`${q}.reason.json`)) as Record<string, string>;
    expect(r).toMatchObject({ bucket: BUCKET, key: KEY, member: 'metrics.jsonl', code: 'out-of-range' });
    expect(r.reason).toMatch(/^bundle member "metrics.jsonl": runtime\/metrics: .*9999.*outside the accepted range/);

    // An archive that is not even gzip is the bundle's own problem: quarantined whole.
    const whole = JSON.parse(await text(`quarantine/${BROKEN}.reason.json`)) as Record<string, string>;
    expect(whole).toMatchObject({ key: BROKEN, code: 'bad-gzip' });
  }, 120_000);
});

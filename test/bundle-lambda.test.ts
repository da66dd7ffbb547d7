// A bundle through the real ingest Lambda handler against moto: the good members are ingested,
// a poison member alone is quarantined (its bytes under quarantine/<bundle key>/<member>, a reason
// naming the bundle and the member), nothing is retried; a bundle whose archive is unusable is
// quarantined whole, like any poison object.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { bundle } from './helpers/bundle';
import { ingestHandlerOnMoto } from './helpers/ingest-handler';
import { motoAvailable, s3EventRecord } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-bundle';
const REGION = 'us-east-1';
const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const START = '2026-11-21T20:54:18.074Z';
const KEY = 'raw/svc-a/i1/20261121T205418.074Z_bundle_p1.tar.gz';
const BROKEN = 'raw/svc-a/i1/20261121T205418.074Z_bundle_p2.tar.gz';
const d = motoAvailable() ? describe : describe.skip;

d('bundles through the ingest handler (moto)', () => {
  const h = ingestHandlerOnMoto({ bucket: BUCKET, region: REGION });
  const record = (key: string, i: number) => s3EventRecord(BUCKET, key, i, REGION);
  const text = async (key: string) => (await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
  const keys = async (prefix: string) => ((await h.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);

  test('good members ingest, the poison member alone is quarantined with bundle + member in its reason', async () => {
    const poison = Buffer.from('{"time":"9999-12-31T23:59:59Z","metrics":{"/gc/cycles/total:gc-cycles":3}}\n');
    const body = bundle([
      { name: 'cpu.pb.gz', kind: 'cpu', start: START, data: readFileSync(path.join(RUN, 'cpu.pb.gz')) },
      { name: 'metrics.jsonl', kind: 'metrics', start: START, data: poison },
      { name: 'heap.pb.gz', kind: 'heap', start: START, temporality: 'delta', data: readFileSync(path.join(RUN, 'heap.pb.gz')) },
    ]);
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: body, Metadata: { process: 'run-1', version: 'v1' } }));
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: BROKEN, Body: gzipSync(Buffer.alloc(2048, 1)).subarray(0, 20) }));
    const res = await h.ingest({ Records: [record(KEY, 0), record(BROKEN, 1)] });
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

// Hostile inputs through the real ingest Lambda handler against moto: whatever an object's bytes
// make fail (a DecodeError, DuckDB refusing a value, a stack overflow on deep JSON, a time outside
// the accepted range, an over-limit profile) is poison: quarantined with a clear reason that names
// no temp path and no SQL, acknowledged (never in batchItemFailures, so never in the DLQ), while
// a good object in the same batch is ingested.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { POISON_CASES as CASES } from './helpers/poison-cases';
import { ingestHandlerOnMoto } from './helpers/ingest-handler';
import { motoAvailable, s3EventRecord } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-poison';
const REGION = 'us-east-1';
const GOOD_KEY = 'raw/svc-a/i1/20261121T205418.078Z_cpu.pb.gz';
const d = motoAvailable() ? describe : describe.skip;

d('poison inputs through the ingest handler (moto)', () => {
  const h = ingestHandlerOnMoto({ bucket: BUCKET, region: REGION });
  const record = (key: string, i: number) => s3EventRecord(BUCKET, key, i, REGION);

  test('every hostile object is quarantined with a clean reason; the good one is ingested; nothing is retried', async () => {
    const good = readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i1/cpu.pb.gz'));
    for (const c of CASES) await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: c.key, Body: c.body }));
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: GOOD_KEY, Body: good }));
    const res = await h.ingest({ Records: [...CASES.map((c, i) => record(c.key, i)), record(GOOD_KEY, CASES.length)] });
    expect(res.batchItemFailures).toEqual([]);

    const tables = await h.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'tables/' }));
    const written = (tables.Contents ?? []).map((o) => o.Key!);
    // The good object's rows, in one batch file per table (the poison never blocks the rest).
    expect(written.filter((k) => k.startsWith('tables/fresh/profiles/'))).toHaveLength(1);
    // Nothing of the poison was published (no runtime_metrics, no partition like dt=+010000-01).
    expect(written.filter((k) => !/^tables\/fresh\/(profiles|functions|stacks)\/dt=2026-11-21\/hour=\d{2}\//.test(k))).toEqual([]);

    for (const c of CASES) {
      const body = await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${c.key}.reason.json` }));
      const r = JSON.parse(await body.Body!.transformToString()) as { key: string; code: string; reason: string };
      expect({ name: c.name, key: r.key }).toEqual({ name: c.name, key: c.key });
      expect({ name: c.name, reason: r.reason }).toEqual({ name: c.name, reason: expect.stringMatching(c.reason) });
      expect({ name: c.name, code: r.code }).toEqual({ name: c.name, code: expect.stringMatching(c.code) });
      // No DuckDB internals, SQL or temp paths.
      expect({ name: c.name, reason: r.reason }).toEqual({ name: c.name, reason: expect.not.stringMatching(/\/tmp|LINE \d|read_json|ndjson|COPY|\.parquet/) });
    }
  }, 120_000);
});

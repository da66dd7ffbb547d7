// Hostile inputs through the real ingest Lambda handler against moto: whatever an object's bytes
// make fail (a DecodeError, DuckDB refusing a value, a stack overflow on deep JSON, a time outside
// the accepted range, an over-limit profile) is poison: quarantined with a clear reason that names
// no temp path and no SQL, acknowledged (never in batchItemFailures, so never in the DLQ), while
// a good object in the same batch is ingested.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { encodeProfile } from './helpers/pprof-builder';
import { ingestHandlerOnMoto } from './helpers/ingest-handler';
import { motoAvailable, s3EventRecord } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-poison';
const REGION = 'us-east-1';
const GOOD_KEY = 'raw/svc-a/i1/20261121T205418.078Z_cpu.pb.gz';
const d = motoAvailable() ? describe : describe.skip;

const metrics = (time: string, m: Record<string, unknown>) => Buffer.from(JSON.stringify({ time, metrics: m }));
const deepJson = (depth: number) =>
  Buffer.from(`{"time":"2026-11-21T20:54:20Z","metrics":{"/gc/heap/goal:bytes":${'['.repeat(depth)}${']'.repeat(depth)}}}`);

/** A profile with a stack `frames` deep (one function per frame), as the Go runtime encodes it. */
function deepStackProfile(frames: number, timeNanos: bigint = 1_795_000_000_000_000_000n, values: bigint[][] = [[1n, 10_000_000n]]): Uint8Array {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds'];
  const fns = Array.from({ length: frames }, (_, i) => ({ id: i + 1, name: strings.push(`main.f${i}`) - 1 }));
  return gzipSync(
    encodeProfile({
      sampleTypes: [{ type: 1, unit: 2 }, { type: 3, unit: 4 }],
      samples: values.map((v) => ({ locationIds: fns.map((f) => f.id), values: v })),
      locations: fns.map((f) => ({ id: f.id, lines: [{ functionId: f.id, line: 1 }] })),
      functions: fns.map((f) => ({ id: f.id, name: f.name })),
      stringTable: strings,
      timeNanos,
    }),
  );
}

interface Case {
  name: string;
  key: string;
  body: Uint8Array;
  /** What the reason must say (the why, in words). */
  reason: RegExp;
}

const CASES: Case[] = [
  { name: 'deep JSON (200k nested arrays)', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_deep.json', body: deepJson(200_000), reason: /value must be a number|nests too deeply/ },
  {
    name: 'a histogram count of 1e300',
    key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_huge.json',
    body: metrics('2026-11-21T20:54:20Z', { '/gc/heap/allocs-by-size:bytes': { buckets: [0, 8, 16], counts: [1e300, 1] } }),
    reason: /count 0|cannot be stored/,
  },
  { name: 'a metrics time in year 9999', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_y9999.json', body: metrics('9999-12-31T23:59:59Z', { '/gc/cycles/total:gc-cycles': 3 }), reason: /9999.*outside the accepted range/ },
  { name: 'a metrics time in year 0000', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_y0000.json', body: metrics('0000-01-01T00:00:00Z', { '/gc/cycles/total:gc-cycles': 3 }), reason: /0000.*outside the accepted range/ },
  { name: 'a +99:99 offset', key: 'raw/svc-a/i2/20261121T205420.000Z_metrics_tz.json', body: metrics('2026-11-21T20:54:20+99:99', { '/gc/cycles/total:gc-cycles': 3 }), reason: /\+99:99/ },
  { name: 'an int64-extreme time_nanos', key: 'raw/svc-a/i3/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(3, (1n << 63n) - 1n), reason: /time_nanos.*outside the accepted range/ },
  // Not a DecodeError: a RangeError deep in normalize. Poison because it happened while only the bytes were involved.
  { name: 'values whose sum overflows int64', key: 'raw/svc-a/i5/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(2, undefined, [[1n, 1n << 62n], [1n, 1n << 62n]]), reason: /too large to process.*BIGINT/ },
  { name: 'a 100k-frame stack', key: 'raw/svc-a/i4/20261121T205420.000Z_cpu.pb.gz', body: deepStackProfile(100_000), reason: /frames.*limit/ },
];

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
      // No DuckDB internals, SQL or temp paths.
      expect({ name: c.name, reason: r.reason }).toEqual({ name: c.name, reason: expect.not.stringMatching(/\/tmp|LINE \d|read_json|ndjson|COPY|\.parquet/) });
    }
  }, 120_000);
});

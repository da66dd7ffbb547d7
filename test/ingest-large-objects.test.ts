// Large objects through the ingest Lambda's batch (lib/aws/object-body.ts, #13) against moto: an
// object over the whole-read size is streamed to a spool file (a gzipped one counted as it
// arrives), a gzipped one whose output is large is inflated a piece at a time, and a gctrace log
// is decoded from that source without being held whole; the rows are the ones the whole-read path
// writes. A gzip bomb is refused while it streams, with the reason, and quarantined (never
// retried); formats that need their bytes whole (pprof) still get them; the spool directory is
// gone once the batch is written. WHOLE_BYTES is lowered to a few KiB so the inputs stay small.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { SQSRecord } from '../lib/aws/events';
import { ingestSqsBatch, type IngestObjectDeps, type ObjectOutcome } from '../lib/aws/ingest-object';
import { openEngine } from '../lib/query/open';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { gctraceLog } from './helpers/gctrace-gen';
import { motoAvailable, motoSandbox, s3EventRecord, type MotoSandbox } from './helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fleetprof-large';
const REGION = 'us-east-1';
const WHOLE = 4096;
const d = motoAvailable() ? describe : describe.skip;

const LOG = Buffer.from(gctraceLog({ cycles: 3000, periodS: 2 }));
const LOG_GZ = gzipSync(LOG);
const PROFILE = readFileSync(path.join(__dirname, 'fixtures/go/svc-a-v1-i1/heap.pb.gz'));
// Compressed well over WHOLE (so it is spooled), decompressed over the 1 MiB limit given below.
const BOMB = gzipSync(Buffer.alloc(64 << 20), { level: 1 });

const OBJ = {
  plainLog: { key: 'raw/svc-a/i1/20261121T100000.000Z_gctrace.log', body: LOG },
  gzLog: { key: 'raw/svc-a/i2/20261121T100000.000Z_gctrace.log.gz', body: LOG_GZ },
  // Compressed under WHOLE, decompressed far over it: read whole, inflated a piece at a time.
  smallGzLog: { key: 'raw/svc-a/i3/20261121T100000.000Z_gctrace.log.gz', body: gzipSync(Buffer.from(gctraceLog({ cycles: 300, periodS: 2 }, false)), { level: 9 }) },
  profile: { key: 'raw/svc-a/i4/20261121T205418.078Z_heap.pb.gz', body: PROFILE },
  metrics: { key: 'raw/svc-a/i7/20261121T100000.000Z_metrics.json', body: Buffer.from(JSON.stringify({ time: '2026-11-21T10:00:00Z', metrics: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`/bench/m${i}:bytes`, i])) })) },
  bomb: { key: 'raw/svc-a/i5/20261121T100000.000Z_gctrace.log.gz', body: BOMB },
  truncated: { key: 'raw/svc-a/i6/20261121T100000.000Z_gctrace.log.gz', body: LOG_GZ.subarray(0, LOG_GZ.length - 100) },
};

d('large objects through the ingest batch (moto)', () => {
  let sandbox: MotoSandbox;
  let s3: S3Client;
  let tmp: string;
  let instance: DuckDBInstance;
  let writer: ParquetWriter;

  beforeAll(async () => {
    sandbox = await motoSandbox({ bucket: BUCKET, region: REGION, tmpPrefix: 'fleetprof-large-' });
    ({ s3, tmp } = sandbox);
    for (const o of Object.values(OBJ)) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: o.key, Body: o.body }));
    instance = await openDuckDb();
    writer = await ParquetWriter.create(instance);
  }, 120_000);

  afterAll(async () => {
    writer?.close();
    instance?.closeSync();
    await sandbox?.close();
  });

  const record = (key: string, i: number): SQSRecord => s3EventRecord(BUCKET, key, i, REGION);
  const deps = (store: LocalStore, logs: Record<string, unknown>[], o: Partial<IngestObjectDeps> = {}): IngestObjectDeps => ({
    s3,
    context: () => ({ store, writer }),
    maxObjectBytes: 256 << 20,
    maxDecompressedBytes: 1 << 20,
    log: (e) => logs.push(e),
    ...o,
  });
  const cycles = async (store: LocalStore) => {
    const engine = await openEngine(store, {}, [store.root]);
    try {
      // Everything but the source (its instance differs by object): the rows themselves.
      return (await engine.rows('SELECT instance, count(*)::INTEGER AS n, sum(epoch_us(time))::VARCHAR AS t, sum(pause_ns)::VARCHAR AS p, sum(heap_live_bytes)::VARCHAR AS h FROM gc_cycles GROUP BY instance ORDER BY instance')) as { instance: string; n: number; t: string; p: string; h: string }[];
    } finally {
      engine.close();
    }
  };
  const outcomes = (logs: Record<string, unknown>[]) => Object.fromEntries(logs.filter((l) => 'key' in l && 'status' in l).map((l) => [String(l.key), l as unknown as ObjectOutcome & { reason?: string }]));

  test('logs over the whole-read size are decoded from a source: the rows of the whole-read path', async () => {
    const keys = [OBJ.plainLog.key, OBJ.gzLog.key, OBJ.smallGzLog.key, OBJ.profile.key, OBJ.metrics.key];
    const ref = new LocalStore(path.join(tmp, 'ref'));
    const refLogs: Record<string, unknown>[] = [];
    expect((await ingestSqsBatch(deps(ref, refLogs, { maxDecompressedBytes: 256 << 20 }), keys.map(record))).batchItemFailures).toEqual([]);
    // The paths are the ones meant: spooled (over WHOLE as stored), and inflated from memory.
    for (const o of [OBJ.plainLog, OBJ.gzLog, OBJ.profile, OBJ.metrics]) expect(o.body.length).toBeGreaterThan(WHOLE);
    expect(OBJ.smallGzLog.body.length).toBeLessThan(WHOLE);
    const spoolBase = mkdtempSync(path.join(tmp, 'spool-'));
    let spools = 0;
    const store = new LocalStore(path.join(tmp, 'streamed'));
    const logs: Record<string, unknown>[] = [];
    const res = await ingestSqsBatch(deps(store, logs, { wholeBytes: WHOLE, spoolDir: () => (spools++, spoolBase), maxDecompressedBytes: 256 << 20 }), keys.map(record));
    expect(spools).toBe(1); // the batch's spool directory, made when the first large object came
    expect(res.batchItemFailures).toEqual([]);
    for (const k of keys) expect(outcomes(logs)[k]).toEqual(expect.objectContaining({ status: 'ingested' }));
    const got = await cycles(store);
    expect(got).toEqual(await cycles(ref));
    expect(got.map((r) => r.n)).toEqual([3000, 3000, 300]);
    // The profile (a format that needs its bytes whole) is ingested from them.
    const engine = await openEngine(store, {}, [store.root]);
    try {
      expect(await engine.rows("SELECT kind FROM profiles WHERE instance = 'i4'")).toEqual([{ kind: 'heap' }]);
      // runtime/metrics decodes from the spooled object's source.
      expect(await engine.rows("SELECT count(*)::INTEGER AS n, sum(value)::BIGINT AS v FROM runtime_metrics WHERE instance = 'i7'")).toEqual([{ n: 500, v: 124750n }]);
    } finally {
      engine.close();
    }
    // The spool directory went with the batch.
    expect(readdirSync(spoolBase)).toEqual([]);
  }, 120_000);

  test('a gzip bomb is refused while it streams and quarantined; a truncated one too; nothing is retried', async () => {
    const spoolBase = mkdtempSync(path.join(tmp, 'spool-'));
    const store = new LocalStore(path.join(tmp, 'bomb'));
    const logs: Record<string, unknown>[] = [];
    const res = await ingestSqsBatch(deps(store, logs, { wholeBytes: WHOLE, spoolDir: () => spoolBase }), [record(OBJ.bomb.key, 1), record(OBJ.truncated.key, 2), record(OBJ.plainLog.key, 3)]);
    expect(res.batchItemFailures).toEqual([]);
    const out = outcomes(logs);
    expect(out[OBJ.bomb.key]).toEqual(expect.objectContaining({ status: 'quarantined', code: 'too-large', reason: expect.stringMatching(/decompressed size exceeds the limit of 1048576 bytes \(counted while inflating\)/) }));
    expect(out[OBJ.truncated.key]).toEqual(expect.objectContaining({ status: 'quarantined', code: 'bad-gzip', reason: expect.stringMatching(/truncated gzip stream/) }));
    expect(out[OBJ.plainLog.key]).toEqual(expect.objectContaining({ status: 'ingested' }));
    const q = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `quarantine/${OBJ.bomb.key}.reason.json` }));
    expect(JSON.parse(await q.Body!.transformToString())).toEqual(expect.objectContaining({ key: OBJ.bomb.key, code: 'too-large' }));
    expect(readdirSync(spoolBase)).toEqual([]);
  }, 120_000);
});

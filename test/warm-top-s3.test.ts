// The warm `top` path over S3 (moto) as the query Lambda runs it: the listing's files are
// downloaded (by ETag) only when first summarized, repeated requests read only new objects, and
// every answer equals the engine's raw path over the same bucket; the handler answers the same.
import { mkdtempSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { S3Client } from '@aws-sdk/client-s3';
import { FreshBatch, prepareBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { S3Store } from '../lib/aws/s3-store';
import { PREFIXES } from '../lib/aws/resources';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { mergeOpen } from '../lib/store/merge';
import { compact } from '../lib/store/compact';
import { openEngine } from '../lib/query/open';
import { top, type TopQuery } from '../lib/query/top';
import { exactJson } from '../lib/query/json';
import { WarmTop } from '../lib/query/warm-top';
import { encodeProfile, sampleProfile } from './helpers/pprof-builder';
import { lambdaEnv, motoAvailable, motoBucket, startMoto, type Moto } from './helpers/moto';
import type { HttpEventV2, HttpResultV2 } from '../lib/aws/events';

const d = motoAvailable() ? describe : describe.skip;
const REGION = 'us-east-1';
const BUCKET = 'warm-top';
const H = 3_600_000_000;
const MIN = 60_000_000;
const A = Date.UTC(2026, 10, 20, 10) * 1000;

d('warm top over S3 (moto)', () => {
  let moto: Moto;
  let s3: S3Client;
  let instance: DuckDBInstance;
  let writer: ParquetWriter;
  let tmp: string;
  let store: S3Store;
  const saved = { ...process.env };

  beforeAll(async () => {
    moto = await startMoto();
    s3 = await motoBucket(moto, REGION, BUCKET);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-warm-s3-'));
    Object.assign(process.env, lambdaEnv(moto, { region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'lambda-cache') }));
    store = new S3Store({ client: s3, bucket: BUCKET, prefix: PREFIXES.tables, cacheDir: path.join(tmp, 'cache'), scratchDir: path.join(tmp, 'scratch') });
    instance = await openDuckDb();
    writer = await ParquetWriter.create(instance);
  }, 60_000);

  afterAll(async () => {
    writer?.close();
    instance?.closeSync();
    s3?.destroy();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  async function batch(times: number[], tag: string): Promise<void> {
    const b = new FreshBatch({ store, writer });
    for (const t of times)
      for (const [i, inst] of ['i1', 'i2'].entries()) {
        const p = sampleProfile();
        const k = BigInt(((t / MIN) % 5) + i + 1);
        p.timeNanos = BigInt(t) * 1000n;
        p.samples = (p.samples ?? []).map((s) => ({ ...s, values: (s.values ?? []).map((v) => BigInt(v) * k) }));
        b.add(prepareBytes(gzipSync(encodeProfile(p)), parseSourceMeta({ service: i === 0 ? 'svc-a' : 'svc-b', instance: inst, version: 'v1', source: `${inst}-${t}.pb.gz`, sourceId: `test:${inst}:${t}:${tag}` })).entries);
      }
    await b.publish();
  }

  async function rawTop(q: TopQuery): Promise<string> {
    const engine = await openEngine(store, { fromUs: q.fromUs, toUs: q.toUs }, [store.cacheDir]);
    try {
      return exactJson(await top(engine, { ...q, rollups: false }));
    } finally {
      engine.close();
    }
  }

  test('repeated requests while batches and a merge arrive: equal to the raw path; only new objects read; the Lambda handler answers the same', async () => {
    const warm = new WarmTop(store, store.cacheDir);
    const iso = (us: number) => new Date(us / 1000).toISOString();
    const qs: TopQuery[] = [
      { kind: 'cpu', fromUs: A, toUs: A + H },
      { kind: 'cpu', fromUs: A + 3 * MIN, toUs: A + 30 * MIN, service: 'svc-a' },
    ];
    try {
      for (let m = 2; m < 20; m += 4) await batch([A + m * MIN, A + (m + 2) * MIN], `m${m}`);
      for (const q of qs) expect(exactJson(await warm.top(q))).toEqual(await rawTop(q));
      await warm.top(qs[0]);
      expect(warm.last!.read).toBe(0);
      await mergeOpen(store, writer, { now: A / 1000 + 25 * 60_000, minAgeMs: -Infinity });
      await batch([A + 24 * MIN], 'last');
      for (const q of qs) expect(exactJson(await warm.top(q))).toEqual(await rawTop(q));
      await warm.top(qs[0]);
      expect(warm.last!.read).toBe(0);
      const { handler } = await import('../lambdas/query');
      const ask = async (q: TopQuery) =>
        (await handler({
          version: '2.0',
          rawPath: '/top',
          rawQueryString: new URLSearchParams({ type: 'cpu', from: iso(q.fromUs!), to: iso(q.toUs!), ...(q.service ? { service: q.service } : {}) }).toString(),
          requestContext: { http: { method: 'GET' } },
        } as unknown as HttpEventV2)) as HttpResultV2;
      for (const q of qs) {
        const r = await ask(q);
        expect(r.statusCode).toBe(200);
        expect(JSON.parse(String(r.body))).toEqual(JSON.parse(await rawTop(q)));
      }
    } finally {
      warm.close();
    }
  }, 180_000);

  test('the last hour reaching into a compacted hour: read from the inputs the compaction keeps (the same objects: no summary read again), equal to the raw path', async () => {
    const P = A + 5 * H; // hours of their own in the bucket
    const warm = new WarmTop(store, store.cacheDir);
    const q: TopQuery = { kind: 'cpu', fromUs: P + 30 * MIN, toUs: P + H + 30 * MIN };
    try {
      for (let m = 2; m < 58; m += 8) await batch([P + m * MIN, P + (m + 2) * MIN], `p${m}`);
      await mergeOpen(store, writer, { now: P / 1000 + 40 * 60_000, minAgeMs: -Infinity });
      await batch([P + 50 * MIN], 'p50');
      await batch([P + H + 2 * MIN, P + H + 20 * MIN], 'next');
      expect(exactJson(await warm.top(q))).toEqual(await rawTop(q));
      await compact(store, writer, { now: (P + H) / 1000 + 7 * 60_000, closedBefore: (P + H) / 1000 });
      expect((await store.list('profiles/')).some((o) => o.key.endsWith('.parquet'))).toBe(true);
      const got = await warm.top(q);
      expect(warm.last!.read).toBe(0);
      expect(exactJson(got)).toEqual(await rawTop(q));
    } finally {
      warm.close();
    }
  }, 180_000);
});

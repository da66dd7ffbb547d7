// Pipeline numbers for issue #4 (docs/performance.md, "Pipeline (issue #4)"). Prints JSON; asserts
// nothing. Build first (npm run build), then:
//
//   node dist/bench/pipeline.js latency [--n 50] [--window 0] [--compact]
//                                                                 upload -> queryable through `fleetprof local`
//                                                                 (--compact: fleetprof compact --bucket back to back meanwhile,
//                                                                 --compact-nice N at nice N)
//   node dist/bench/pipeline.js handler [--reps 8]              ingest handler time per profile, by size
//   node dist/bench/pipeline.js coldstart [--runs 5]            first invocation in a fresh node vs warm
//   node dist/bench/pipeline.js burst [--n 10000]               n small uploads -> all ingested, DLQ empty,
//                                                                 S3/SQS requests per profile, cost estimate
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { freePort, startMotoServer } from '../lib/aws/local-stack';
import { countingProxy, queueDepth, startLocal, stopLocal } from './local';
import { ENV, INGEST_FUNCTION, INGEST_QUEUE } from '../lib/aws/resources';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from '../lib/aws/events';
import { planUpload } from '../bin/commands/upload';
import { uploadMetadata } from '../lib/model/upload-key';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const SMALL = path.join(ROOT, 'test/fixtures/go/svc-a-v1-i1/cpu.pb.gz');
const CREDS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const REGION = 'us-east-1';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const summary = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs), mean: Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 });

/** An upload of `file` under the contract, made distinct by its start time. */
function plan(file: string, service: string, instance: string, startMs: number) {
  const bytes = readFileSync(file);
  return planUpload(file, bytes, statSync(file).mtimeMs, { bucket: '-', service, instance, version: 'v1', label: {}, start: startMs * 1000 });
}

async function sqlCount(api: string, where: string): Promise<number> {
  const r = await fetch(`${api}/sql`, { method: 'POST', body: JSON.stringify({ sql: `SELECT count(*) FROM profiles WHERE ${where}` }) });
  if (r.status !== 200) return -1;
  return Number(((await r.json()) as { rows: unknown[][] }).rows[0][0]);
}

/**
 * `fleetprof compact --bucket` (the scheduled Lambda's code) run back to back until stopped: the
 * upload hour of `latency` is closed, so every run merges the fresh files that arrived since the
 * last one, while uploads keep landing in that hour.
 */
function compactLoop(endpoint: string, bucket: string): { stop: () => Promise<{ runs: number; failed: number; ms: number[] }> } {
  let stopping = false;
  const ms: number[] = [];
  let failed = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      // --compact-nice N: the compactor at a lower CPU priority (on AWS it has its own Lambda; here
      // it shares the 2 cores with moto, the ingest handler and the query API).
      const nice = arg('compact-nice', 0);
      const cmd = [process.execPath, path.join(ROOT, 'dist/bin/fleetprof.js'), 'compact', '--bucket', bucket];
      const child = spawn(nice > 0 ? 'nice' : cmd[0], nice > 0 ? ['-n', String(nice), ...cmd] : cmd.slice(1), {
        env: { ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
      child.on('exit', (code) => {
        ms.push(Math.round(performance.now() - t0));
        if (code !== 0) {
          failed++;
          process.stderr.write(`compact exited ${code}: ${err}\n`);
        }
        resolve();
      });
    });
  const loop = (async () => {
    while (!stopping) await once();
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { runs: ms.length, failed, ms };
    },
  };
}

async function latency(): Promise<void> {
  const n = arg('n', 50);
  const window = arg('window', 0);
  const withCompaction = process.argv.includes('--compact');
  const moto = await startMotoServer(await freePort());
  const local = await startLocal(['--batch-window', String(window)], moto.endpoint);
  const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: CREDS });
  const bucket = local.env.FLEETPROF_BUCKET;
  const api = local.env.FLEETPROF_API;
  const ms: number[] = [];
  // The handler's own ms per object (its log lines): what of upload -> queryable is ingest's.
  const handlerMs: number[] = [];
  local.onLine((line) => {
    const m = /"message":"ingested".*"key":"raw\/lat\/i1\/.*"ms":(\d+)/.exec(line);
    if (m) handlerMs.push(Number(m[1]));
  });
  const base = Date.UTC(2026, 10, 21, 12);
  let compaction: Awaited<ReturnType<ReturnType<typeof compactLoop>['stop']>> | undefined;
  try {
    // A first upload so the hour has fresh files before compaction starts (not measured).
    const warm = plan(SMALL, 'lat', 'i0', base - 1000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: warm.key, Body: warm.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
    while ((await sqlCount(api, `service = 'lat'`)) < 1) await sleep(50);
    const loop = withCompaction ? compactLoop(moto.endpoint, bucket) : undefined;
    try {
      for (let i = 0; i < n; i++) {
        const p = plan(SMALL, 'lat', 'i1', base + i * 1000);
        const t0 = performance.now();
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: p.key, Body: p.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
        while ((await sqlCount(api, `service = 'lat' AND instance = 'i1'`)) < i + 1) {
          if (performance.now() - t0 > 60_000) throw new Error(`upload ${i} not queryable after 60 s`);
          await sleep(20);
        }
        ms.push(Math.round(performance.now() - t0));
        await sleep(200);
      }
    } finally {
      compaction = await loop?.stop();
    }
    // Exactly once after all of it: every upload counted once (compaction merged, nothing doubled).
    const final = await sqlCount(api, `service = 'lat'`);
    if (final !== n + 1) throw new Error(`expected ${n + 1} profiles after the run, found ${final}`);
  } finally {
    s3.destroy();
    await stopLocal(local);
    moto.child.kill('SIGTERM');
  }
  console.log(
    JSON.stringify({
      mode: 'latency',
      batchWindowSeconds: window,
      uploadToQueryableMs: summary(ms),
      handlerMsPerObject: handlerMs.length > 0 ? summary(handlerMs) : undefined,
      load: os.loadavg()[0],
      ...(compaction ? { compaction: { runs: compaction.runs, failed: compaction.failed, ms: compaction.runs > 0 ? summary(compaction.ms) : undefined } } : {}),
      samples: ms,
    }),
  );
}

/** Env + moto + bucket for calling the ingest handler in this process. */
async function handlerEnv(endpoint?: string): Promise<{ endpoint: string; bucket: string; stop: () => void }> {
  const moto = endpoint ? undefined : await startMotoServer(await freePort());
  const ep = endpoint ?? moto!.endpoint;
  const bucket = 'fleetprof-bench';
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: ep,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: REGION,
    [ENV.bucket]: bucket,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(INGEST_FUNCTION.memoryMb),
  });
  if (!endpoint) {
    const s3 = new S3Client({ region: REGION, endpoint: ep, forcePathStyle: true, credentials: CREDS });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
  }
  return { endpoint: ep, bucket, stop: () => moto?.child.kill('SIGTERM') };
}

async function putAll(endpoint: string, bucket: string, plans: ReturnType<typeof plan>[]): Promise<void> {
  const s3 = new S3Client({ region: REGION, endpoint, forcePathStyle: true, credentials: CREDS });
  for (const p of plans) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: p.key, Body: p.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
  s3.destroy();
}

function record(bucket: string, key: string, i: number): SQSRecord {
  const body = JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key) } } }] });
  return { messageId: `m-${i}`, receiptHandle: `r-${i}`, body, attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:bench', awsRegion: REGION };
}

async function handler(): Promise<void> {
  const reps = arg('reps', 8);
  const h = await handlerEnv();
  console.log = () => undefined; // the handler's JSON logs
  const ingest = (require('../lambdas/ingest') as { handler: (e: SQSEvent) => Promise<SQSBatchResponse> }).handler;
  const files = [
    SMALL,
    path.join(ROOT, 'test/fixtures/go/svc-a-v1-i1/heap.pb.gz'),
    path.join(ROOT, 'bench/fixtures/cpu-large.pb.gz'),
    path.join(ROOT, 'bench/fixtures/heap-large.pb.gz'),
  ];
  const base = Date.UTC(2026, 10, 21, 12);
  let seq = 0;
  // Warm-up (DuckDB init, first S3 connection) is not part of the per-size numbers.
  const warm = [plan(SMALL, 'warm', 'i1', base)];
  await putAll(h.endpoint, h.bucket, warm);
  await ingest({ Records: [record(h.bucket, warm[0].key, seq++)] });
  const out: Record<string, unknown>[] = [];
  for (const f of files) {
    const plans = Array.from({ length: reps }, (_, i) => plan(f, 'hb', path.basename(f).replace(/\W/g, ''), base + i * 1000));
    await putAll(h.endpoint, h.bucket, plans);
    const ms: number[] = [];
    for (const p of plans) {
      const t0 = performance.now();
      const r = await ingest({ Records: [record(h.bucket, p.key, seq++)] });
      if (r.batchItemFailures.length) throw new Error(`failed: ${p.key}`);
      ms.push(Math.round(performance.now() - t0));
    }
    out.push({ file: path.relative(ROOT, f), bytes: statSync(f).size, oneRecordInvocationMs: summary(ms) });
  }
  // A full batch of 10 small profiles in one invocation.
  const batchMs: number[] = [];
  for (let b = 0; b < 3; b++) {
    const plans = Array.from({ length: 10 }, (_, i) => plan(SMALL, 'hb10', `b${b}`, base + i * 1000));
    await putAll(h.endpoint, h.bucket, plans);
    const t0 = performance.now();
    await ingest({ Records: plans.map((p) => record(h.bucket, p.key, seq++)) });
    batchMs.push(Math.round(performance.now() - t0));
  }
  h.stop();
  process.stdout.write(JSON.stringify({ mode: 'handler', memoryMb: INGEST_FUNCTION.memoryMb, sizes: out, batchOf10SmallMs: summary(batchMs), perProfileInBatchMs: summary(batchMs.map((x) => x / 10)) }) + '\n');
  process.exit(0);
}

async function coldstartChild(): Promise<void> {
  const [endpoint, bucket, k1, k2] = process.argv.slice(3);
  const t0 = performance.now();
  await handlerEnv(endpoint);
  process.env[ENV.bucket] = bucket;
  console.log = () => undefined;
  const ingest = (require('../lambdas/ingest') as { handler: (e: SQSEvent) => Promise<SQSBatchResponse> }).handler;
  const t1 = performance.now();
  await ingest({ Records: [record(bucket, k1, 1)] });
  const t2 = performance.now();
  await ingest({ Records: [record(bucket, k2, 2)] });
  const t3 = performance.now();
  process.stdout.write(JSON.stringify({ moduleLoadMs: Math.round(t1 - t0), firstInvocationMs: Math.round(t2 - t1), warmInvocationMs: Math.round(t3 - t2) }) + '\n');
  process.exit(0);
}

async function coldstart(): Promise<void> {
  const runs = arg('runs', 5);
  const h = await handlerEnv();
  const base = Date.UTC(2026, 10, 21, 12);
  const results: { processStartToReadyMs: number; moduleLoadMs: number; firstInvocationMs: number; warmInvocationMs: number }[] = [];
  for (let r = 0; r < runs; r++) {
    const plans = [plan(SMALL, 'cold', `r${r}`, base), plan(SMALL, 'cold', `r${r}`, base + 1000)];
    await putAll(h.endpoint, h.bucket, plans);
    const t0 = performance.now();
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [__filename, 'coldstart-child', h.endpoint, h.bucket, plans[0].key, plans[1].key], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      c.stdout.on('data', (b: Buffer) => (s += b.toString()));
      c.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`child exited ${code}`))));
    });
    const total = performance.now() - t0;
    const j = JSON.parse(out) as { moduleLoadMs: number; firstInvocationMs: number; warmInvocationMs: number };
    results.push({ processStartToReadyMs: Math.round(total - j.firstInvocationMs - j.warmInvocationMs), ...j });
  }
  h.stop();
  console.log(
    JSON.stringify({
      mode: 'coldstart',
      runs: results,
      firstInvocationMs: summary(results.map((r) => r.firstInvocationMs)),
      warmInvocationMs: summary(results.map((r) => r.warmInvocationMs)),
      moduleLoadMs: summary(results.map((r) => r.moduleLoadMs)),
      nodeStartPlusModuleLoadMs: summary(results.map((r) => r.processStartToReadyMs)),
    }),
  );
}

async function burst(): Promise<void> {
  const n = arg('n', 10_000);
  const concurrency = arg('concurrency', 32);
  const moto = await startMotoServer(await freePort());
  const proxy = await countingProxy(moto.endpoint);
  // The stack's own event source settings (batch 10, window 5 s, visibility 720 s, maxReceiveCount 5).
  const local = await startLocal([], proxy.url);
  let ingested = 0;
  let retried = 0;
  let quarantined = 0;
  const objMs: number[] = [];
  let firstIngestAt = 0;
  let lastIngestAt = 0;
  local.onLine((line) => {
    // Powertools Logger writes `message`; the core's own entries say `msg`.
    if (/"(msg|message)":"ingested"/.test(line)) {
      ingested++;
      lastIngestAt = performance.now();
      if (!firstIngestAt) firstIngestAt = lastIngestAt;
      const m = /"ms":(\d+)/.exec(line);
      if (m) objMs.push(Number(m[1]));
    } else if (line.includes('transient failure')) retried++;
    else if (/"(msg|message)":"quarantined"/.test(line)) quarantined++;
  });
  const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: CREDS, maxAttempts: 10 });
  const sqs = new SQSClient({ region: REGION, endpoint: moto.endpoint, credentials: CREDS });
  const bucket = local.env.FLEETPROF_BUCKET;
  const bytes = readFileSync(SMALL);
  const base = Date.UTC(2026, 10, 21, 0);
  const t0 = performance.now();
  let next = 0;
  const meta = uploadMetadata({ version: 'v1', labels: {} });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const p = plan(SMALL, 'burst', `i${i % 100}`, base + i * 1000);
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: p.key, Body: bytes, Metadata: meta }));
      }
    }),
  );
  const uploadS = (performance.now() - t0) / 1000;
  process.stderr.write(`uploaded ${n} in ${uploadS.toFixed(1)} s\n`);
  // Done when the stack's logs say so, or when the queue has been empty (nothing visible or in
  // flight) for three polls in a row: whatever the logs, no message is left to process.
  let lastReport = 0;
  let empty = 0;
  while (ingested + quarantined < n && empty < 3) {
    await sleep(2000);
    empty = (await queueDepth(sqs, INGEST_QUEUE.name)) === 0 ? empty + 1 : 0;
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now();
      process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(0)} s: ${ingested} ingested (logs), ${retried} retried\n`);
    }
  }
  if (!lastIngestAt) lastIngestAt = performance.now();
  if (!firstIngestAt) firstIngestAt = t0;
  const allS = (performance.now() - t0) / 1000;
  // Let the last deletes land, then read the queues.
  await sleep(2000);
  const queued = await queueDepth(sqs, INGEST_QUEUE.name);
  const dlq = await queueDepth(sqs, INGEST_QUEUE.dlqName);
  const counted = Object.fromEntries([...proxy.counts.entries()].sort());
  const rows = await sqlCount(local.env.FLEETPROF_API, `service = 'burst'`);
  s3.destroy();
  sqs.destroy();
  await stopLocal(local);
  proxy.server.close();
  moto.child.kill('SIGTERM');
  const ingestWindowS = (lastIngestAt - firstIngestAt) / 1000;
  console.log(
    JSON.stringify({
      mode: 'burst',
      n,
      uploadSeconds: Math.round(uploadS * 10) / 10,
      uploadToAllIngestedSeconds: Math.round(allS * 10) / 10,
      ingestedPerSecond: Math.round((n / ingestWindowS) * 10) / 10,
      ingested,
      quarantined,
      retried,
      profilesRowsQueryable: rows,
      ingestQueueDepthAfter: queued,
      dlqDepthAfter: dlq,
      perObjectHandlerMs: summary(objMs),
      /** Wall time of the single poller per profile (invocation overhead + deletes included). */
      wallMsPerProfile: Math.round((ingestWindowS * 1000 * 10) / n) / 10,
      requestsByStack: counted,
      requestsByStackPerProfile: Object.fromEntries(Object.entries(counted).map(([k, v]) => [k, Math.round((v / n) * 1000) / 1000])),
    }),
  );
}

const mode = process.argv[2];
const modes: Record<string, () => Promise<void>> = { latency, handler, coldstart, 'coldstart-child': coldstartChild, burst };
if (!modes[mode]) {
  process.stderr.write(`usage: node dist/bench/pipeline.js ${Object.keys(modes).filter((m) => !m.includes('child')).join('|')} [options]\n`);
  process.exit(2);
}
modes[mode]().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);

// Ingest throughput end to end, both production paths side by side with peers in one run
// (issue #11 point 2, target >= 200 profiles/s on the 2-core machine). Prints a table; asserts
// nothing. Build first (npm run build:all), then:
//
//   node dist/bench/ingest.js [--profiles 600] [--batch 10]
//
// - Lambda: the ingest handler (lambdas/ingest.ts) over SQS batches of --batch records, against
//   moto (S3), the objects uploaded beforehand under the upload contract; wall time of the handler
//   calls, peak RSS growth of the process during them (VmHWM after a reset).
// - CLI: `fleetprof ingest` over a directory of the same files, a fresh node process: wall time
//   including node start, peak RSS of the process.
// - peers in the same run: the per-object path (each profile its own batch: what ingest did before
//   layout v2, one set of Parquet files per profile) in-process over a local store, and Go's
//   profile.ParseData over the same files (decode only: a lower bound for any ingest).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startMotoServer } from '../lib/aws/local-stack';
import { ENV } from '../lib/aws/resources';
import type { SQSEvent, SQSRecord } from '../lib/aws/events';
import { planUpload } from '../bin/commands/upload';
import { uploadMetadata } from '../lib/model/upload-key';
import type { ProfileKind } from '../lib/model/profile';
import { ingestBytes } from '../lib/ingest';
import { parseSourceMeta } from '../lib/model/source';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ROOT = path.resolve(__dirname, '..', existsSync(path.resolve(__dirname, '../package.json')) ? '' : '..');
const CLI = path.join(ROOT, 'dist/bin/fleetprof.js');
const HOOK = path.join(ROOT, 'dist/bench/hwm-hook.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/go');
const REGION = 'us-east-1';
const BUCKET = 'bench-ingest';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The fixture profiles (every kind of three runs), repeated to `n` inputs. */
function inputs(n: number): { file: string; kind: string; bytes: Buffer }[] {
  const all = readdirSync(FIXTURES)
    .filter((r) => statSync(path.join(FIXTURES, r)).isDirectory())
    .flatMap((r) => readdirSync(path.join(FIXTURES, r)).filter((f) => f.endsWith('.pb.gz')).map((f) => path.join(FIXTURES, r, f)));
  return Array.from({ length: n }, (_, i) => {
    const file = all[i % all.length];
    return { file, kind: path.basename(file).replace('.pb.gz', ''), bytes: readFileSync(file) };
  });
}

function hwmKb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function resetHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function lambdaPath(n: number, batch: number): Promise<{ perS: number; peakMb: number; failures: number }> {
  const port = await freePort();
  const moto = await startMotoServer(port);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-ingest-'));
  try {
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      [ENV.bucket]: BUCKET,
      [ENV.cacheDir]: path.join(tmp, 'cache'),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048',
    });
    const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const keys: string[] = [];
    const t0Ms = Date.parse('2026-11-21T10:00:00Z');
    for (const [i, input] of inputs(n).entries()) {
      const p = planUpload(input.file, input.bytes, 0, { bucket: BUCKET, service: 'bench', instance: `i${i % 50}`, version: 'v1', label: {}, start: (t0Ms + i * 1000) * 1000 });
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: p.key, Body: p.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
      keys.push(p.key);
    }
    const { handler } = (await import('../lambdas/ingest')) as { handler: (e: SQSEvent) => Promise<{ batchItemFailures: unknown[] }> };
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
    // Warm-up batch (DuckDB instance, modules), not timed: a warm Lambda.
    await handler({ Records: keys.slice(0, Math.min(batch, keys.length)).map((k, i) => record(k, -1 - i)) });
    const log = console.log;
    resetHwm();
    const before = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    let failures = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < keys.length; i += batch) {
      const r = await handler({ Records: keys.slice(i, i + batch).map((k, j) => record(k, i + j)) });
      failures += r.batchItemFailures.length;
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log = log;
    s3.destroy();
    return { perS: keys.length / secs, peakMb: (hwmKb() - before) / 1024, failures };
  } finally {
    moto.child.kill();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function cliPath(n: number): { perS: number; peakMb: number; code: number | null } {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-cli-'));
  try {
    const dir = path.join(tmp, 'in');
    mkdirSync(dir);
    for (const [i, input] of inputs(n).entries()) writeFileSync(path.join(dir, `${String(i).padStart(5, '0')}-${input.kind}.pb.gz`), input.bytes);
    const hwm = path.join(tmp, 'hwm');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--require', HOOK, CLI, 'ingest', '--data', path.join(tmp, 'data'), '--service', 'bench', '--instance', 'i1', dir], {
      env: { ...process.env, FLEETPROF_HWM_FILE: hwm },
      encoding: 'utf8',
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) process.stderr.write(r.stderr);
    return { perS: n / secs, peakMb: Number(readFileSync(hwm, 'utf8')) / 1024, code: r.status };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function perObjectPath(n: number): Promise<number> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-bench-perobj-'));
  const instance = await openDuckDb();
  const writer = await ParquetWriter.create(instance);
  try {
    const store = new LocalStore(tmp);
    const all = inputs(n);
    const t0 = process.hrtime.bigint();
    for (const [i, input] of all.entries()) {
      await ingestBytes(input.bytes, parseSourceMeta({ service: 'bench', instance: `i${i}`, kind: input.kind as ProfileKind, source: input.file, sourceId: `${input.file}#${i}` }), { store, writer });
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    writer.close();
    instance.closeSync();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function goParse(n: number): number | string {
  const dir = path.join(ROOT, 'bench/go/parse');
  const bin = path.join(dir, 'bin/parse');
  try {
    if (!existsSync(bin)) execFileSync('go', ['build', '-o', bin, '.'], { cwd: dir, stdio: 'ignore' });
    const files = [...new Set(inputs(n).map((i) => i.file))];
    const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
    const out = execFileSync(bin, ['-seconds', '2', ...files], { encoding: 'utf8' });
    const all = out.trim().split('\n').map((l) => JSON.parse(l) as { file: string; mb_per_s: number });
    const mbps = all.find((r) => r.file === '*')?.mb_per_s ?? NaN;
    return (mbps * 1e6) / (bytes / files.length);
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

async function main(): Promise<void> {
  const n = arg('profiles', 600);
  const batch = arg('batch', 10);
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`# fleetprof ingest bench — ${new Date().toISOString()} — node ${process.version}, ${os.cpus().length} cpus, load ${load}`);
  console.log(`${n} profiles (the test/fixtures/go kinds, repeated), SQS batches of ${batch}\n`);
  const cli = cliPath(n);
  const lambda = await lambdaPath(n, batch);
  const perObject = await perObjectPath(Math.min(n, 120));
  const go = goParse(n);
  const row = (name: string, perS: number | string, extra = '') =>
    console.log(`${name.padEnd(58)} ${(typeof perS === 'number' ? perS.toFixed(1) : perS).padStart(10)}  ${extra}`);
  console.log(`${'path'.padEnd(58)} ${'profiles/s'.padStart(10)}`);
  row('ingest handler over SQS batches, moto S3 (warm)', lambda.perS, `peak RSS growth ${lambda.peakMb.toFixed(0)} MB over all batches; ${lambda.failures} retried`);
  row('fleetprof ingest <dir> (node start included)', cli.perS, `process peak RSS ${cli.peakMb.toFixed(0)} MB; exit ${cli.code}`);
  row('peer: per-object path (a batch per profile), local store', perObject);
  row('peer: Go profile.ParseData, decode only', go);
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

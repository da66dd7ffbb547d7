// The digest Lambda's handler (lambdas/digest.ts) over S3 in moto: a local store (a bench:fleet
// DIR, e.g. made by bench/digest-window.ts) uploaded to a moto bucket under tables/, then the
// handler run once in a child process with the Lambda's settings (DIGEST_FUNCTION's memory, an
// empty download cache: a cold /tmp), archive only (no mail). Prints the handler's wall time, CPU
// (user + system, DuckDB's threads included) and peak RSS from /usr/bin/time, the bytes and objects
// it downloaded, and its result. Not part of the simulator's contract.
//
//   node dist/bench/digest-lambda.js DIR END_ISO [--window 24h] [--baseline 7d] [--json]
// DIGEST_LAMBDA_REQUIRE=FILE: a module the handler's process preloads (`node --require`), e.g. one
// that counts the S3 commands it sends.
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startMotoServer } from '../lib/aws/local-stack';
import { DIGEST_FUNCTION, PREFIXES } from '../lib/aws/resources';

const REGION = 'us-east-1';
const BUCKET = 'fleetprof-digest-bench';

async function* walk(dir: string, rel = ''): AsyncGenerator<string> {
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    // The simulator's own scratch and markers (.tmp, .fleet-*) are not part of the bucket.
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) yield* walk(dir, r);
    else yield r;
  }
}

async function dirBytes(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const f of walk(dir)) {
    files++;
    bytes += (await fs.stat(path.join(dir, f))).size;
  }
  return { files, bytes };
}

/** /usr/bin/time -v's figures. */
function timeV(stderr: string): { wallSeconds: number; cpuSeconds: number; peakMb: number } {
  const num = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? NaN);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const wallSeconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  return { wallSeconds, cpuSeconds: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/), peakMb: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024 };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const get = (n: string, d: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : d);
  const [dir, end] = argv.filter((a, i) => !a.startsWith('--') && !['--window', '--baseline'].includes(argv[i - 1]));
  if (!dir || !end || !Number.isFinite(Date.parse(end))) throw new Error('usage: digest-lambda.js DIR END_ISO [--window 24h] [--baseline 7d] [--json]');
  const window = get('--window', DIGEST_FUNCTION.window);
  const baseline = get('--baseline', DIGEST_FUNCTION.baseline);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digest-lambda-'));
  const moto = await startMotoServer(await freePort());
  try {
    const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const t0 = Date.now();
    let uploaded = 0;
    let bytes = 0;
    const queue: string[] = [];
    for await (const f of walk(dir)) queue.push(f);
    // 8 uploads in flight: moto is one Python process, more only queue there.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let f = queue.pop(); f !== undefined; f = queue.pop()) {
          const body = await fs.readFile(path.join(dir, f));
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: PREFIXES.tables + f, Body: body }));
          uploaded++;
          bytes += body.length;
        }
      }),
    );
    s3.destroy();
    const uploadSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`uploaded ${uploaded} objects, ${(bytes / 1e6).toFixed(1)} MB to moto in ${uploadSeconds.toFixed(1)} s\n`);
    const cache = path.join(tmp, 'cache');
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: REGION,
      FLEETPROF_BUCKET: BUCKET,
      FLEETPROF_CACHE_DIR: cache,
      FLEETPROF_DIGEST_WINDOW: window,
      FLEETPROF_DIGEST_BASELINE: baseline,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(DIGEST_FUNCTION.memoryMb),
      // DuckDB's spill directory ($TMPDIR/duckdb_tmp on Lambda) under this run's own tmp.
      TMPDIR: tmp,
    };
    const handler = path.join(__dirname, '..', 'lambdas', 'digest.js');
    const script = `require(${JSON.stringify(handler)}).handler({ now: ${JSON.stringify(end)} }).then((r) => { process.stdout.write(JSON.stringify(r) + '\\n'); process.exit(0); }, (e) => { console.error(e); process.exit(1); })`;
    const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...(process.env.DIGEST_LAMBDA_REQUIRE ? ['--require', process.env.DIGEST_LAMBDA_REQUIRE] : []), '-e', script], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`digest handler failed: ${r.stderr.slice(-3000)}`);
    const result = JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]) as Record<string, unknown>;
    const t = timeV(r.stderr);
    const downloaded = await dirBytes(cache).catch(() => ({ files: 0, bytes: 0 }));
    const out = { loadavg: os.loadavg().map((x) => Number(x.toFixed(1))), bucket: { objects: uploaded, bytes }, uploadSeconds, handler: t, downloaded, window, baseline, result };
    if (argv.includes('--json')) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    else {
      process.stdout.write(
        `digest handler over moto: ${t.wallSeconds.toFixed(1)} s wall, ${t.cpuSeconds.toFixed(1)} s CPU, peak ${t.peakMb.toFixed(0)} MB; ` +
          `downloaded ${downloaded.files} of ${uploaded} objects (${(downloaded.bytes / 1e6).toFixed(1)} of ${(bytes / 1e6).toFixed(1)} MB); ` +
          `${String(result.anomalies)} anomalies, health [${String(result.health)}], services ${JSON.stringify(result.services)}; load ${out.loadavg.join(' ')}\n`,
      );
    }
  } finally {
    moto.child.kill('SIGTERM');
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

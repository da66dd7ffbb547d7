// Before/after of the ingest handler on a shared, loaded machine: two builds' handlers called in
// turn, batch by batch, in one process, over the same objects in one moto, so the machine's load
// hits both alike (runs minutes apart differed 2x; docs/performance.md "Ingest, layout v2").
// Prints JSON; asserts nothing. Build both first (npm run build:all here; the other checkout, e.g.
// `git worktree add /tmp/old <commit>`, built the same way, node_modules linked), then:
//
//   node dist/bench/ingest-ab.js --old /tmp/old [--bundles 40] [--batch 10]
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { SQSEvent } from '../lib/aws/events';
import { planUpload } from '../bin/commands/upload';
import { uploadMetadata } from '../lib/model/upload-key';
import { bundle } from '../test/helpers/bundle';
import { s3EventRecord, startMotoS3 } from '../test/helpers/moto';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/go');
const METRICS = path.join(ROOT, 'test/fixtures/scenarios-agent/runs/noise-i1/metrics.jsonl.gz');
const KINDS = ['cpu', 'heap', 'allocs', 'goroutine', 'block', 'mutex'];
const BUCKET = 'bench-ingest-ab';
const REGION = 'us-east-1';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

type Handler = (e: SQSEvent) => Promise<unknown>;

const record = (key: string, i: number) => s3EventRecord(BUCKET, key, i, REGION);

async function main(): Promise<void> {
  const old = arg('old');
  if (!old) throw new Error('--old <checkout with a built dist/> is required');
  const nBundles = Number(arg('bundles') ?? 40);
  const batch = Number(arg('batch') ?? 10);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-ab-'));
  const moto = await startMotoS3({ region: REGION, bucket: BUCKET, cacheDir: path.join(tmp, 'cache') });
  const s3 = moto.s3;
  try {
    const runs = readdirSync(FIXTURES)
      .filter((r) => statSync(path.join(FIXTURES, r)).isDirectory())
      .sort()
      .map((r) => path.join(FIXTURES, r));
    const lines = gunzipSync(readFileSync(METRICS)).toString('utf8').trim().split('\n').slice(0, 6);
    const base = Date.parse('2026-11-21T10:00:00Z');
    const put = async (name: string, bytes: Uint8Array, i: number, startMs: number) => {
      const p = planUpload(name, bytes, 0, { bucket: BUCKET, service: 'ab', instance: `i${i % 50}`, version: 'v1', label: {}, start: startMs * 1000 });
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: p.key, Body: p.bytes, Metadata: uploadMetadata({ version: 'v1', labels: {} }) }));
      return p.key;
    };
    const bundles: string[] = [];
    const singles: string[] = [];
    for (let i = 0; i < nBundles; i++) {
      const run = runs[i % runs.length];
      const start = new Date(base + i * 60_000).toISOString();
      const metrics = lines.map((l, k) => JSON.stringify({ ...(JSON.parse(l) as object), time: new Date(base + i * 60_000 + k * 10_000).toISOString() })).join('\n') + '\n';
      const b = bundle([...KINDS.map((k) => ({ name: `${k}.pb.gz`, kind: k, start, data: readFileSync(path.join(run, `${k}.pb.gz`)) })), { name: 'metrics.jsonl', kind: 'metrics', start, data: metrics }]);
      bundles.push(await put('bundle.tar.gz', b, i, base + i * 60_000));
    }
    for (let i = 0; i < nBundles * KINDS.length; i++) {
      const f = path.join(runs[i % runs.length], `${KINDS[i % KINDS.length]}.pb.gz`);
      singles.push(await put(f, readFileSync(f), i, base + i * 1000));
    }
    // The handlers log a line per object to stdout: not this output's business.
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    const handlers: Record<'before' | 'after', Handler> = {
      before: ((await import(path.resolve(old, 'dist/lambdas/ingest.js'))) as { handler: Handler }).handler,
      after: ((await import('../lambdas/ingest')) as { handler: Handler }).handler,
    };
    const results: Record<string, unknown> = {};
    try {
      for (const h of Object.values(handlers)) await h({ Records: bundles.slice(0, batch).map((k, i) => record(k, -1 - i)) });
      const cases: [string, string[], number, number][] = [
        [`bundles, batches of ${batch}`, bundles, batch, KINDS.length],
        ['bundles, one per invocation', bundles.slice(0, 20), 1, KINDS.length],
        [`single profiles, batches of ${batch}`, singles, batch, 1],
      ];
      for (const [name, keys, size, perUpload] of cases) {
        const acc = { before: { wallMs: 0, cpuMs: 0 }, after: { wallMs: 0, cpuMs: 0 } };
        for (let i = 0, j = 0; i < keys.length; i += size, j++) {
          // Alternate which goes first, so neither always runs on the other's warm caches.
          for (const v of j % 2 === 0 ? (['after', 'before'] as const) : (['before', 'after'] as const)) {
            const c0 = process.cpuUsage();
            const t0 = performance.now();
            await handlers[v]({ Records: keys.slice(i, i + size).map((k, x) => record(k, i + x)) });
            acc[v].wallMs += performance.now() - t0;
            const c = process.cpuUsage(c0);
            acc[v].cpuMs += (c.user + c.system) / 1000;
          }
        }
        const profiles = keys.length * perUpload;
        results[name] = Object.fromEntries(
          Object.entries(acc).map(([v, a]) => [v, { profilesPerS: Math.round((profiles / a.wallMs) * 10_000) / 10, msPerUpload: Math.round(a.wallMs / keys.length), cpuMsPerProfile: Math.round((a.cpuMs / profiles) * 100) / 100 }]),
        );
      }
    } finally {
      process.stdout.write = write;
    }
    console.log(JSON.stringify({ load: os.loadavg()[0], old, results }, null, 1));
  } finally {
    moto.stop();
  }
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
